//! The hot path of timestamp handling in reads: the two exact shapes that
//! nearly every export row carries — `YYYY-MM-DD HH:MM:SS[.f] +00:00` (the
//! export format) and `YYYY-MM-DDTHH:MM:SS[.f]Z` (RFC 3339 UTC, as this core
//! writes it) — parsed, checked and written without chrono, with no
//! allocation. Anything else (another offset, no zone, padding, ten or more
//! fraction digits, an impossible date) gives `None` and goes through the
//! general parser in the parent module; the equivalence test below checks
//! that both agree wherever this one answers.

/// A valid UTC instant split into fields (never a leap second: the accepted
/// shapes have seconds 00–59).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
}

/// Longest text [`Utc::write_rfc3339`] writes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_RFC3339: usize = 30;

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let run = b.get(at..at + n)?;
    let mut v = 0;
    for &d in run {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(d - b'0');
    }
    Some(v)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Utc {
    /// Parses one of the two shapes in the module docs, or `None`.
    pub(crate) fn parse(b: &[u8]) -> Option<Utc> {
        if b.len() < 20 {
            return None;
        }
        let sep = b[10];
        let fixed = b[4] == b'-' && b[7] == b'-' && b[13] == b':' && b[16] == b':';
        if !fixed || (sep != b' ' && sep != b'T') {
            return None;
        }
        let year = digits(b, 0, 4)?;
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        let hour = digits(b, 11, 2)?;
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        let mut i = 19;
        let mut nanos = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let n = i - start;
            if n == 0 || n > 9 {
                return None;
            }
            nanos = digits(b, start, n)? * 10u32.pow((9 - n) as u32);
        }
        let zone_ok = match sep {
            b' ' => &b[i..] == b" +00:00",
            _ => &b[i..] == b"Z",
        };
        let valid = zone_ok
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60;
        valid.then_some(Utc {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
        })
    }

    /// Writes the instant as [`super::to_rfc3339`] does (`Z`, the shortest
    /// of no fraction, milliseconds, microseconds, nanoseconds) into `out`,
    /// replacing its contents and reusing its allocation.
    pub(crate) fn write_rfc3339(&self, out: &mut String) {
        out.clear();
        self.append_rfc3339(out);
    }

    /// Appends what [`Self::write_rfc3339`] writes to `out`.
    pub(crate) fn append_rfc3339(&self, out: &mut String) {
        let mut w = Writer {
            buf: [0u8; MAX_RFC3339],
            n: 0,
        };
        w.num(self.year, 4);
        w.byte(b'-');
        w.num(self.month, 2);
        w.byte(b'-');
        w.num(self.day, 2);
        w.byte(b'T');
        w.num(self.hour, 2);
        w.byte(b':');
        w.num(self.minute, 2);
        w.byte(b':');
        w.num(self.second, 2);
        if self.nanos != 0 {
            w.byte(b'.');
            if self.nanos.is_multiple_of(1_000_000) {
                w.num(self.nanos / 1_000_000, 3);
            } else if self.nanos.is_multiple_of(1_000) {
                w.num(self.nanos / 1_000, 6);
            } else {
                w.num(self.nanos, 9);
            }
        }
        w.byte(b'Z');
        // Only ASCII digits and separators were written: always valid.
        out.push_str(std::str::from_utf8(&w.buf[..w.n]).unwrap_or_default());
    }

    /// Epoch milliseconds, the sub-millisecond part truncated toward the
    /// past, as [`super::to_epoch_ms`].
    pub(crate) fn epoch_ms(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400 + i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        secs * 1000 + i64::from(self.nanos / 1_000_000)
    }
}

/// ASCII written into a stack buffer.
struct Writer {
    buf: [u8; MAX_RFC3339],
    n: usize,
}

impl Writer {
    fn byte(&mut self, b: u8) {
        self.buf[self.n] = b;
        self.n += 1;
    }

    /// `v` zero-padded to `width` digits.
    fn num(&mut self, v: u32, width: u32) {
        for k in (0..width).rev() {
            self.byte(b'0' + (v / 10u32.pow(k) % 10) as u8);
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`), valid for every year 0000–9999.
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::time::{parse_timestamp_str, to_epoch_ms, to_rfc3339};

    fn fast(s: &str) -> Option<(String, i64)> {
        Utc::parse(s.as_bytes()).map(|u| {
            let mut out = String::from("previous contents");
            u.write_rfc3339(&mut out);
            (out, u.epoch_ms())
        })
    }

    fn general(s: &str) -> Option<(String, i64)> {
        parse_timestamp_str(s).map(|dt| (to_rfc3339(&dt), to_epoch_ms(&dt)))
    }

    #[test]
    fn export_and_rfc3339_shapes() {
        for (input, want, ms) in [
            (
                "2021-04-14 16:49:04 +00:00",
                "2021-04-14T16:49:04Z",
                1_618_418_944_000,
            ),
            (
                "2021-04-14T16:49:04Z",
                "2021-04-14T16:49:04Z",
                1_618_418_944_000,
            ),
            (
                "2021-04-14 16:49:04.5 +00:00",
                "2021-04-14T16:49:04.500Z",
                1_618_418_944_500,
            ),
            (
                "2024-02-29T23:59:59.000001Z",
                "2024-02-29T23:59:59.000001Z",
                1_709_251_199_000,
            ),
            (
                "0000-01-01T00:00:00.123456789Z",
                "0000-01-01T00:00:00.123456789Z",
                -62_167_219_199_877,
            ),
            (
                "9999-12-31 23:59:59 +00:00",
                "9999-12-31T23:59:59Z",
                253_402_300_799_000,
            ),
        ] {
            assert_eq!(fast(input), Some((want.to_string(), ms)), "{input}");
            assert_eq!(fast(input), general(input), "{input}");
        }
    }

    #[test]
    fn everything_else_is_left_to_the_general_parser() {
        for input in [
            "2021-04-14 16:49:04 +02:00",
            "2021-04-14 16:49:04",
            "2021-04-14 16:49:04 +0000",
            " 2021-04-14 16:49:04 +00:00",
            "2021-04-14T16:49:04.1234567890Z",
            "2021-04-14T16:49:04.Z",
            "2023-02-29T00:00:00Z",
            "2021-13-01T00:00:00Z",
            "2021-04-14T24:00:00Z",
            "2021-04-14T23:59:60Z",
            "2021-04-14T16:49:04z",
            "2021-04-14 16:49:04 +00:00 ",
        ] {
            assert_eq!(fast(input), None, "{input}");
        }
    }

    proptest! {
        /// Wherever the fast path answers, it answers what the general
        /// parser and formatter do, to the byte and to the millisecond.
        #[test]
        fn agrees_with_the_general_parser(
            s in "[0-9]{4}-[01][0-9]-[0-3][0-9][ T][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,10})?( \\+00:00|Z| \\+01:00|\\+00:00| Z)?"
        ) {
            if let Some(got) = fast(&s) {
                prop_assert_eq!(Some(got), general(&s), "{}", s);
            }
        }

        #[test]
        fn valid_export_timestamps_take_the_fast_path(
            y in 0u32..=9999, mo in 1u32..=12, d in 1u32..=28, h in 0u32..24,
            mi in 0u32..60, se in 0u32..60, frac in proptest::option::of("[0-9]{1,9}"),
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let s = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{se:02}{frac} +00:00");
            prop_assert!(fast(&s).is_some(), "{}", s);
            prop_assert_eq!(fast(&s), general(&s), "{}", s);
        }
    }
}
