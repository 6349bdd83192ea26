//! Timestamp formats on Iterable's wire (iterable-api.md §3) and request-side parsing.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

pub const DAY: i64 = 86_400;

/// Export/profile format: `yyyy-MM-dd HH:mm:ss +00:00`.
pub fn export_ts(secs: i64) -> String {
    match DateTime::from_timestamp(secs, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S +00:00").to_string(),
        None => String::new(),
    }
}

/// ISO-8601 with milliseconds, as in the export-jobs list.
pub fn iso_ms(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(),
        None => String::new(),
    }
}

/// RFC 3339 UTC with a `Z`, whole seconds: the canonical form inside natural keys.
pub fn rfc3339(secs: i64) -> String {
    match DateTime::from_timestamp(secs, 0) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => String::new(),
    }
}

/// Midnight UTC at or before `secs`.
pub fn day_floor(secs: i64) -> i64 {
    secs.div_euclid(DAY) * DAY
}

/// Parses the request-side date formats Iterable accepts: `yyyy-MM-dd HH:mm:ss`
/// with an optional zone (`+00:00`, `+0000`, `Z`, `UTC`), ISO-8601/RFC 3339 with or
/// without fractional seconds, and a bare `yyyy-MM-dd`. Returns epoch seconds.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S %:z",
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp());
        }
    }
    let naive = s
        .trim_end_matches('Z')
        .trim_end_matches(" UTC")
        .trim_end_matches(" +00:00")
        .trim_end_matches(" +0000")
        .trim();
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(naive, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp());
    }
    None
}

/// Any timestamp shape a record may carry (wire or connector-normalised): epoch
/// ms integers, epoch ms/seconds as strings of digits, or the string formats of [`parse`].
pub fn value_secs(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => {
            let x = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?;
            Some(if x.abs() >= 100_000_000_000 {
                x.div_euclid(1000)
            } else {
                x
            })
        }
        serde_json::Value::String(s) => {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                let x: i64 = s.parse().ok()?;
                Some(if x >= 100_000_000_000 { x / 1000 } else { x })
            } else {
                parse(s)
            }
        }
        _ => None,
    }
}

pub fn now_secs(now: DateTime<Utc>) -> i64 {
    now.timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        let t = 1_709_287_200; // 2024-03-01 10:00:00 UTC
        assert_eq!(export_ts(t), "2024-03-01 10:00:00 +00:00");
        assert_eq!(rfc3339(t), "2024-03-01T10:00:00Z");
        for s in [
            "2024-03-01 10:00:00",
            "2024-03-01 10:00:00 +00:00",
            "2024-03-01 10:00:00 +0000",
            "2024-03-01T10:00:00Z",
            "2024-03-01T10:00:00.000Z",
            "2024-03-01T12:00:00+02:00",
        ] {
            assert_eq!(parse(s), Some(t), "{s}");
        }
        assert_eq!(parse("2024-03-01"), Some(t - 10 * 3600));
        assert_eq!(
            value_secs(&serde_json::json!(1_709_287_200_000i64)),
            Some(t)
        );
        assert_eq!(parse("garbage"), None);
    }
}
