//! Date/time query values as Iterable accepts them.
//!
//! The spec documents `yyyy-MM-dd HH:mm:ss [ZZ]` for exports and templates,
//! "YYYY-MM-DD and other ISO 8601 formats" for metrics, and production clients
//! send ISO strings (`2024-01-15T10:30:00.000Z`). One lenient parser covers
//! all of them so that validation and handlers agree on what is a date.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};

/// Naive layouts (interpreted as UTC, which is what Iterable does when the
/// zone is omitted). `%.f` also matches "no fraction".
const NAIVE: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];

/// Layouts with an explicit offset (`+00:00`, `+0000`, with or without a
/// separating space, as Joda's `ZZ`/`Z` print them).
const ZONED: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f %:z",
    "%Y-%m-%d %H:%M:%S%.f %z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
];

/// Parses a request-side date/time: `yyyy-MM-dd`, `yyyy-MM-dd HH:mm:ss`
/// with optional fraction and zone (`Z`, `UTC`, `+00:00`, `+0000`), or ISO
/// 8601 with `T`. Returns `None` for anything else.
pub fn parse_datetime(value: &str) -> Option<DateTime<Utc>> {
    let s = value.trim();
    if s.is_empty() {
        return None;
    }
    // A trailing `Z`/`UTC` designator means UTC: strip it and parse naive.
    let naive_part = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix("UTC"))
        .map(str::trim_end);
    if let Some(naive) = naive_part {
        return parse_naive(naive);
    }
    if let Some(dt) = parse_naive(s) {
        return Some(dt);
    }
    ZONED.iter().find_map(|f| {
        DateTime::<FixedOffset>::parse_from_str(s, f)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    })
}

fn parse_naive(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    NAIVE
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::parse_datetime;

    fn ok(s: &str, expect: &str) {
        let got = parse_datetime(s).unwrap_or_else(|| panic!("should parse: {s:?}"));
        assert_eq!(got.to_rfc3339(), expect, "{s}");
    }

    #[test]
    fn accepts_the_documented_and_observed_layouts() {
        ok("2021-04-14", "2021-04-14T00:00:00+00:00");
        ok("2021-04-14 16:49:04", "2021-04-14T16:49:04+00:00");
        ok("2021-04-14 16:49:04 +00:00", "2021-04-14T16:49:04+00:00");
        ok("2021-04-14 16:49:04 +0200", "2021-04-14T14:49:04+00:00");
        ok("2021-04-14 16:49:04 -08:00", "2021-04-15T00:49:04+00:00");
        ok("2021-04-14 16:49:04Z", "2021-04-14T16:49:04+00:00");
        ok("2021-04-14 16:49:04 UTC", "2021-04-14T16:49:04+00:00");
        ok("2024-01-15T10:30:00.000Z", "2024-01-15T10:30:00+00:00");
        ok("2024-01-15T10:30:00+01:00", "2024-01-15T09:30:00+00:00");
        ok("2024-01-15T10:30:00", "2024-01-15T10:30:00+00:00");
        ok(
            "2023-12-19T10:12:27.732-06:00",
            "2023-12-19T16:12:27.732+00:00",
        );
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2021-13-01",
            "2021-04-14 25:00:00",
            "1618417387119",
            "14/04/2021",
        ] {
            assert!(parse_datetime(s).is_none(), "{s:?} should not parse");
        }
    }
}
