//! Timestamp formats on Iterable's wire (iterable-api.md §3) and request-side parsing.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

pub const DAY: i64 = 86_400;

/// Export/profile format: `yyyy-MM-dd HH:mm:ss +00:00`.
pub fn export_ts(secs: i64) -> String {
    let mut out = String::with_capacity(26);
    if push_date_time(&mut out, secs, ' ') {
        out.push_str(" +00:00");
    }
    out
}

/// ISO-8601 with milliseconds, as in the export-jobs list.
pub fn iso_ms(ms: i64) -> String {
    let mut out = String::with_capacity(29);
    if push_date_time(&mut out, ms.div_euclid(1000), 'T') {
        out.push('.');
        push_digits(&mut out, ms.rem_euclid(1000) as u32, 3);
        out.push_str("+00:00");
    }
    out
}

/// RFC 3339 UTC with a `Z`, whole seconds: the canonical form inside natural keys.
pub fn rfc3339(secs: i64) -> String {
    let mut out = String::with_capacity(20);
    if push_date_time(&mut out, secs, 'T') {
        out.push('Z');
    }
    out
}

/// Appends `yyyy-MM-dd{sep}HH:mm:ss` for `secs`; false (nothing appended)
/// outside chrono's range. Written by hand: every export row carries two or
/// three timestamps, and chrono's `format` parses its pattern on each call,
/// which made timestamps a tenth of the simulator's time per row.
fn push_date_time(out: &mut String, secs: i64, sep: char) -> bool {
    let Some(t) = DateTime::from_timestamp(secs, 0) else {
        return false;
    };
    let (date, time) = (t.date_naive(), t.time());
    if !(0..=9999).contains(&date.year()) {
        // Years chrono writes with a sign or more digits: let it.
        out.push_str(&t.format(&format!("%Y-%m-%d{sep}%H:%M:%S")).to_string());
        return true;
    }
    push_digits(out, date.year() as u32, 4);
    out.push('-');
    push_digits(out, date.month(), 2);
    out.push('-');
    push_digits(out, date.day(), 2);
    out.push(sep);
    push_digits(out, time.hour(), 2);
    out.push(':');
    push_digits(out, time.minute(), 2);
    out.push(':');
    push_digits(out, time.second(), 2);
    true
}

/// Appends `n`'s last `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
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

    #[test]
    fn hand_written_formats_match_chrono() {
        let chrono_fmt = |secs: i64, f: &str| {
            DateTime::from_timestamp(secs, 0)
                .map(|t| t.format(f).to_string())
                .unwrap_or_default()
        };
        // From before the epoch to past 9999, in uneven steps.
        let mut secs = -70_000_000_000i64;
        while secs < 260_000_000_000 {
            assert_eq!(
                export_ts(secs),
                chrono_fmt(secs, "%Y-%m-%d %H:%M:%S +00:00")
            );
            assert_eq!(rfc3339(secs), chrono_fmt(secs, "%Y-%m-%dT%H:%M:%SZ"));
            let ms = secs * 1000 + secs.rem_euclid(997);
            let iso = DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string())
                .unwrap_or_default();
            assert_eq!(iso_ms(ms), iso);
            secs += 7_919_993;
        }
        assert_eq!(export_ts(i64::MAX), "");
    }
}
