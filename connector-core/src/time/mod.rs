//! Timestamps: every wire format Iterable uses becomes one RFC 3339 UTC string.
//!
//! Iterable mixes at least five shapes (iterable-api.md §3): integer epoch
//! milliseconds in its JSON APIs, `yyyy-MM-dd HH:mm:ss +00:00` strings in exports
//! (sometimes `+0000`, sometimes naive), ISO 8601 with offsets in the export-job
//! list, and a mangled `…34.134105.000Z` seen in the wild. Downstream consumers
//! should see exactly one shape, so every timestamp leaves the core through
//! [`to_rfc3339`]: always `Z`, and only as many fraction digits as needed.
//!
//! The string grammar is parsed by hand instead of by trying a list of chrono
//! format strings: one pass over the bytes accepts every variant above, makes the
//! leniencies explicit, and lets [`parse_config_date`] reuse it in a strict mode.
//!
//! Only years 0000–9999 are accepted or produced, because nothing else can be
//! written as an RFC 3339 date.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc};
use serde_json::Value;

pub(crate) mod fast;

/// Epoch strings with more digits than this are milliseconds, shorter ones seconds.
/// Ten digits of seconds reach the year 2286; eleven digits of milliseconds start
/// in 1973, so the two ranges do not collide for any plausible Iterable data.
const MAX_EPOCH_SECONDS_DIGITS: usize = 10;

/// Parses any timestamp string Iterable sends (see the module docs) into UTC.
///
/// Accepted, with surrounding whitespace:
/// - `yyyy-MM-dd HH:mm:ss` followed by nothing (UTC), `Z`, `UTC`, `+00:00`, `+0000`
///   or `+00`, with or without a space before the zone;
/// - the same with `T` instead of the space (ISO 8601 / RFC 3339), seconds optional;
/// - a fraction of any length after the seconds (`.` or `,`); digits past
///   nanoseconds are dropped, and a second fraction (`.134105.000Z`) is ignored;
/// - `yyyy-MM-dd` alone (midnight UTC);
/// - all digits: epoch seconds (≤ 10 digits) or epoch milliseconds (≥ 11 digits).
///
/// Offsets are applied, so the result is the same instant in UTC. Anything else,
/// including impossible dates such as `2024-02-30`, gives `None`.
pub fn parse_timestamp_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return parse_epoch_digits(s);
    }
    parse_grammar(s.as_bytes(), Mode::Lenient)
}

/// Parses a timestamp as it appears in a JSON body: numbers are epoch
/// **milliseconds** (what every Iterable JSON API uses), strings go through
/// [`parse_timestamp_str`]. Fractional milliseconds are kept to the microsecond.
pub fn parse_wire_timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => {
            if let Some(ms) = n.as_i64() {
                from_epoch_ms(ms)
            } else {
                // u64 beyond i64 or a float: both go through f64, which is exact for
                // every millisecond count in years 0000-9999 (< 2^53).
                let ms = n.as_f64()?;
                let micros = (ms * 1000.0).round();
                if !micros.is_finite() || micros.abs() > 9.0e18 {
                    return None;
                }
                in_range(DateTime::from_timestamp_micros(micros as i64)?)
            }
        }
        Value::String(s) => parse_timestamp_str(s),
        _ => None,
    }
}

/// Formats as RFC 3339 in UTC with `Z`, using the shortest of: no fraction,
/// milliseconds, microseconds, nanoseconds that loses nothing.
///
/// `2024-03-01T10:00:00Z`, `2024-03-01T10:00:00.123Z`, `2024-03-01T10:00:00.123456Z`.
pub fn to_rfc3339(dt: &DateTime<Utc>) -> String {
    // chrono stores a leap second as nanos >= 1e9 with second 59; show it as :60.
    let nanos = dt.nanosecond();
    let (second, nanos) = if nanos >= 1_000_000_000 {
        (60, nanos - 1_000_000_000)
    } else {
        (dt.second(), nanos)
    };
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        second,
        fraction
    )
}

/// The normalised form of a JSON timestamp value: `Value::String(to_rfc3339(..))`,
/// or `None` when the value is not a timestamp (callers then keep the original).
pub(crate) fn normalize_timestamp(v: &Value) -> Option<Value> {
    parse_wire_timestamp(v).map(|dt| Value::String(to_rfc3339(&dt)))
}

/// Normalises a timestamp value in place, as `*v = normalize_timestamp(v)`
/// would; `false` (and `v` untouched) when it is not a timestamp. The
/// export shapes take an allocation-free path ([`fast`]).
pub(crate) fn normalize_timestamp_in_place(v: &mut Value) -> bool {
    if let Value::String(s) = v
        && let Some(t) = fast::Utc::parse(s.as_bytes())
    {
        t.write_rfc3339(s);
        return true;
    }
    match normalize_timestamp(v) {
        Some(n) => {
            *v = n;
            true
        }
        None => false,
    }
}

/// A JSON timestamp value as epoch milliseconds: what
/// `parse_wire_timestamp(v).map(|t| to_epoch_ms(&t))` gives, without
/// chrono for the export shapes.
pub(crate) fn wire_timestamp_ms(v: &Value) -> Option<i64> {
    if let Value::String(s) = v
        && let Some(t) = fast::Utc::parse(s.as_bytes())
    {
        return Some(t.epoch_ms());
    }
    parse_wire_timestamp(v).map(|dt| to_epoch_ms(&dt))
}

/// Formats for export request parameters (`startDateTime`, `endDateTime`):
/// `yyyy-MM-dd HH:mm:ss`, naive UTC, which every public client sends.
/// Sub-second precision is dropped (truncated), as the API has none.
pub fn to_export_param(dt: &DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Epoch milliseconds to a UTC instant; `None` outside years 0000–9999.
pub fn from_epoch_ms(ms: i64) -> Option<DateTime<Utc>> {
    in_range(DateTime::from_timestamp_millis(ms)?)
}

/// UTC instant to epoch milliseconds (sub-millisecond part truncated toward the past).
pub fn to_epoch_ms(dt: &DateTime<Utc>) -> i64 {
    dt.timestamp_millis()
}

/// Parses a user-supplied `start_date` / `end_date`: `YYYY-MM-DD` (midnight UTC)
/// or a full RFC 3339 timestamp (`T` or space, seconds, explicit `Z` or `±hh:mm`).
///
/// Stricter than [`parse_timestamp_str`] on purpose: a zone-less timestamp or a
/// bare number in a config is more likely a mistake than a wish for UTC / epoch.
pub fn parse_config_date(s: &str) -> Option<DateTime<Utc>> {
    parse_grammar(s.trim().as_bytes(), Mode::Strict)
}

fn parse_epoch_digits(s: &str) -> Option<DateTime<Utc>> {
    let n: i64 = s.parse().ok()?;
    if s.len() > MAX_EPOCH_SECONDS_DIGITS {
        from_epoch_ms(n)
    } else {
        in_range(DateTime::from_timestamp(n, 0)?)
    }
}

fn in_range(dt: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (0..=9999).contains(&dt.year()).then_some(dt)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Everything Iterable has been seen to send.
    Lenient,
    /// RFC 3339 (or a date alone) only.
    Strict,
}

/// The zone designator after the time, in seconds east of UTC.
enum Zone {
    /// No designator: Iterable means UTC.
    Naive,
    Utc,
    Offset {
        seconds: i32,
        has_colon: bool,
    },
}

/// A byte cursor over the timestamp text.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Exactly `n` ASCII digits as a number.
    fn number(&mut self, n: usize) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + n)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += n;
        Some(
            digits
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }

    /// A run of ASCII digits (possibly empty), returned as a slice.
    fn digit_run(&mut self) -> &[u8] {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    fn skip_spaces(&mut self) -> usize {
        let start = self.pos;
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        self.pos - start
    }
}

fn parse_grammar(bytes: &[u8], mode: Mode) -> Option<DateTime<Utc>> {
    let mut c = Cursor { bytes, pos: 0 };
    let date = parse_date(&mut c)?;
    if c.at_end() {
        return in_range(date.and_time(NaiveTime::MIN).and_utc());
    }
    let separated = match c.skip_spaces() {
        0 => c.eat(b'T') || c.eat(b't'),
        1 => true,
        _ => mode == Mode::Lenient,
    };
    if !separated {
        return None;
    }
    let time = parse_time(&mut c, mode)?;
    let spaces = c.skip_spaces();
    let zone = parse_zone(&mut c)?;
    if !c.at_end() {
        return None;
    }
    if mode == Mode::Strict {
        let rfc_zone = match zone {
            Zone::Utc => true,
            Zone::Offset { has_colon, .. } => has_colon,
            Zone::Naive => false,
        };
        if spaces > 0 || !rfc_zone {
            return None;
        }
    }
    let offset = match zone {
        Zone::Naive | Zone::Utc => 0,
        Zone::Offset { seconds, .. } => seconds,
    };
    let local = NaiveDateTime::new(date, time);
    let utc = local.checked_sub_signed(TimeDelta::seconds(i64::from(offset)))?;
    in_range(utc.and_utc())
}

fn parse_date(c: &mut Cursor<'_>) -> Option<NaiveDate> {
    let year = c.number(4)?;
    c.eat(b'-').then_some(())?;
    let month = c.number(2)?;
    c.eat(b'-').then_some(())?;
    let day = c.number(2)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// `HH:mm[:ss[.fraction]]`; seconds are required in strict mode.
fn parse_time(c: &mut Cursor<'_>, mode: Mode) -> Option<NaiveTime> {
    let hour = c.number(2)?;
    c.eat(b':').then_some(())?;
    let minute = c.number(2)?;
    let mut second = 0;
    let mut nanos = 0;
    if c.eat(b':') {
        second = c.number(2)?;
        if c.eat(b'.') || (mode == Mode::Lenient && c.eat(b',')) {
            nanos = fraction_nanos(c.digit_run())?;
            // The mangled `…34.134105.000Z`: keep the first fraction, drop the rest.
            while mode == Mode::Lenient && c.peek() == Some(b'.') {
                c.pos += 1;
                if c.digit_run().is_empty() {
                    return None;
                }
            }
        }
    } else if mode == Mode::Strict {
        return None;
    }
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
}

/// Fraction digits to nanoseconds, truncating beyond nine digits.
fn fraction_nanos(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    let mut nanos = 0;
    for i in 0..9 {
        let d = digits.get(i).map_or(0, |d| u32::from(d - b'0'));
        nanos = nanos * 10 + d;
    }
    Some(nanos)
}

fn parse_zone(c: &mut Cursor<'_>) -> Option<Zone> {
    if c.at_end() {
        return Some(Zone::Naive);
    }
    if c.eat(b'Z') || c.eat(b'z') {
        return Some(Zone::Utc);
    }
    if c.bytes[c.pos..].eq_ignore_ascii_case(b"UTC")
        || c.bytes[c.pos..].eq_ignore_ascii_case(b"GMT")
    {
        c.pos += 3;
        return Some(Zone::Utc);
    }
    let sign = match c.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    c.pos += 1;
    let hours = c.number(2)?;
    let has_colon = c.eat(b':');
    let minutes = if has_colon || !c.at_end() {
        c.number(2)?
    } else {
        0 // `+00`
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let seconds = sign * i32::try_from(hours * 3600 + minutes * 60).ok()?;
    Some(Zone::Offset { seconds, has_colon })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(s: &str) -> Option<String> {
        parse_timestamp_str(s).map(|dt| to_rfc3339(&dt))
    }

    #[test]
    fn export_string_formats() {
        let cases = [
            ("2021-04-14 16:49:04 +00:00", "2021-04-14T16:49:04Z"),
            ("2021-04-14 16:49:04 +0000", "2021-04-14T16:49:04Z"),
            ("2021-04-14 16:49:04+00:00", "2021-04-14T16:49:04Z"),
            ("2021-04-14 16:49:04", "2021-04-14T16:49:04Z"),
            ("2021-04-14 16:49:04 Z", "2021-04-14T16:49:04Z"),
            ("2021-04-14 16:49:04 UTC", "2021-04-14T16:49:04Z"),
            ("2021-04-14 16:49:04 +02:00", "2021-04-14T14:49:04Z"),
            ("2021-04-14 16:49:04 -0130", "2021-04-14T18:19:04Z"),
            ("  2021-04-14 16:49:04 +00:00\n", "2021-04-14T16:49:04Z"),
            ("2021-04-14  16:49:04  +00:00", "2021-04-14T16:49:04Z"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn iso_formats() {
        let cases = [
            ("2023-12-19T10:12:27.732-06:00", "2023-12-19T16:12:27.732Z"),
            ("2024-01-15T10:30:00.000Z", "2024-01-15T10:30:00Z"),
            ("2007-12-03T10:15:30.00Z", "2007-12-03T10:15:30Z"),
            ("2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z"),
            ("2024-03-01t10:00:00z", "2024-03-01T10:00:00Z"),
            ("2024-03-01T10:00:00+05:30", "2024-03-01T04:30:00Z"),
            ("2024-03-01T10:00:00+0000", "2024-03-01T10:00:00Z"),
            ("2024-03-01T10:00:00+01", "2024-03-01T09:00:00Z"),
            ("2024-03-01T10:00:00", "2024-03-01T10:00:00Z"),
            ("2024-03-01T10:00Z", "2024-03-01T10:00:00Z"),
            ("2024-03-01T10:00:00.1Z", "2024-03-01T10:00:00.100Z"),
            ("2024-03-01T10:00:00.123456Z", "2024-03-01T10:00:00.123456Z"),
            (
                "2024-03-01T10:00:00.1234567Z",
                "2024-03-01T10:00:00.123456700Z",
            ),
            (
                "2024-03-01T10:00:00.123456789123Z",
                "2024-03-01T10:00:00.123456789Z",
            ),
            ("2024-03-01T10:00:00,5Z", "2024-03-01T10:00:00.500Z"),
            (
                "2025-12-19T22:43:34.134105.000Z",
                "2025-12-19T22:43:34.134105Z",
            ),
            ("2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00Z"),
            ("2024-12-31T23:30:00-01:00", "2025-01-01T00:30:00Z"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn dates_and_epoch_strings() {
        assert_eq!(norm("1970-01-01").as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(norm("2024-02-29").as_deref(), Some("2024-02-29T00:00:00Z"));
        assert_eq!(
            norm("1618417387154").as_deref(),
            Some("2021-04-14T16:23:07.154Z")
        );
        assert_eq!(norm("1618417387").as_deref(), Some("2021-04-14T16:23:07Z"));
        assert_eq!(norm("0").as_deref(), Some("1970-01-01T00:00:00Z"));
        // 10 digits are seconds, 11 digits are milliseconds.
        assert_eq!(norm("9999999999").as_deref(), Some("2286-11-20T17:46:39Z"));
        assert_eq!(norm("10000000000").as_deref(), Some("1970-04-26T17:46:40Z"));
    }

    #[test]
    fn garbage_is_rejected() {
        for input in [
            "",
            "   ",
            "not a date",
            "2024-02-30",
            "2023-02-29 00:00:00",
            "2024-13-01",
            "2024-1-1",
            "24-01-01",
            "2024-03-01T25:00:00Z",
            "2024-03-01T10:60:00Z",
            "2024-03-01T10:00:61Z",
            "2024-03-01T10:00:00.Z",
            "2024-03-01T10:00:00.123.Z",
            "2024-03-01T10:00:00+24:00",
            "2024-03-01T10:00:00+05:60",
            "2024-03-01T10:00:00+5",
            "2024-03-01T10:00:00 +00:00 x",
            "2024-03-01X10:00:00",
            "2024-03-0110:00:00",
            "-1618417387154",
            "1e12",
            "99999999999999999999",
            // Epoch ms beyond the year 9999.
            "253402300800000",
            // An offset pushing the instant past the year 9999.
            "9999-12-31T23:00:00-02:00",
        ] {
            assert_eq!(norm(input), None, "{input:?}");
        }
    }

    #[test]
    fn wire_values() {
        let cases = [
            (json!(1618417387154_i64), Some("2021-04-14T16:23:07.154Z")),
            (json!(1674142638148_u64), Some("2023-01-19T15:37:18.148Z")),
            (json!(1704067200000_i64), Some("2024-01-01T00:00:00Z")),
            (json!(1618417387154.0), Some("2021-04-14T16:23:07.154Z")),
            (json!(1618417387154.5), Some("2021-04-14T16:23:07.154500Z")),
            (json!(0), Some("1970-01-01T00:00:00Z")),
            (json!(-1000), Some("1969-12-31T23:59:59Z")),
            (
                json!("2021-04-14 16:49:04 +00:00"),
                Some("2021-04-14T16:49:04Z"),
            ),
            (json!("1618417387154"), Some("2021-04-14T16:23:07.154Z")),
            (json!(u64::MAX), None),
            (json!(1e300), None),
            (json!(true), None),
            (json!(null), None),
            (json!({"t": 1}), None),
            (json!([1618417387154_i64]), None),
            (json!("soon"), None),
        ];
        for (value, want) in cases {
            let got = normalize_timestamp(&value);
            assert_eq!(got, want.map(|s| Value::String(s.to_owned())), "{value}");
        }
    }

    #[test]
    fn rfc3339_precision() {
        let at = |nanos| DateTime::from_timestamp(1_709_287_200, nanos).unwrap();
        assert_eq!(to_rfc3339(&at(0)), "2024-03-01T10:00:00Z");
        assert_eq!(to_rfc3339(&at(123_000_000)), "2024-03-01T10:00:00.123Z");
        assert_eq!(to_rfc3339(&at(5_000_000)), "2024-03-01T10:00:00.005Z");
        assert_eq!(to_rfc3339(&at(123_456_000)), "2024-03-01T10:00:00.123456Z");
        assert_eq!(to_rfc3339(&at(1_000)), "2024-03-01T10:00:00.000001Z");
        assert_eq!(to_rfc3339(&at(1)), "2024-03-01T10:00:00.000000001Z");
        let early = NaiveDate::from_ymd_opt(5, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        assert_eq!(to_rfc3339(&early.and_utc()), "0005-01-02T03:04:05Z");
    }

    #[test]
    fn export_params() {
        let dt = parse_timestamp_str("2024-03-01T10:00:00.999Z").unwrap();
        assert_eq!(to_export_param(&dt), "2024-03-01 10:00:00");
        let dt = parse_timestamp_str("2024-03-01T00:30:00+01:00").unwrap();
        assert_eq!(to_export_param(&dt), "2024-02-29 23:30:00");
    }

    #[test]
    fn epoch_ms_round_trip() {
        for ms in [0, 1, -1, 1_618_417_387_154, 253_402_300_799_999] {
            let dt = from_epoch_ms(ms).unwrap();
            assert_eq!(to_epoch_ms(&dt), ms);
        }
        assert_eq!(from_epoch_ms(253_402_300_800_000), None);
        assert_eq!(from_epoch_ms(i64::MIN), None);
        assert_eq!(from_epoch_ms(i64::MAX), None);
        let dt = parse_timestamp_str("2021-04-14T16:23:07.154999Z").unwrap();
        assert_eq!(to_epoch_ms(&dt), 1_618_417_387_154);
    }

    #[test]
    fn config_dates_are_strict() {
        let ok = [
            ("2024-01-01", "2024-01-01T00:00:00Z"),
            (" 2024-01-01 ", "2024-01-01T00:00:00Z"),
            ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
            ("2024-01-01 00:00:00Z", "2024-01-01T00:00:00Z"),
            ("2024-01-01T10:00:00.250+02:00", "2024-01-01T08:00:00.250Z"),
            ("2024-01-01T10:00:00-06:00", "2024-01-01T16:00:00Z"),
        ];
        for (input, want) in ok {
            let got = parse_config_date(input).map(|dt| to_rfc3339(&dt));
            assert_eq!(got.as_deref(), Some(want), "{input}");
        }
        for input in [
            "",
            "1704067200",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00",
            "2024-01-01T00:00Z",
            "2024-01-01  00:00:00Z",
            "2024-01-01T00:00:00 Z",
            "2024-01-01T00:00:00+0000",
            "2024-01-01T00:00:00,5Z",
            "2025-12-19T22:43:34.134105.000Z",
            "2024-02-30",
            "January 1st",
        ] {
            assert_eq!(parse_config_date(input), None, "{input:?}");
        }
    }
}
