//! Whether a JSON object or array is written exactly as serde_json writes
//! the value it decodes to, so that its text can be used as it is.
//!
//! Arrow keeps objects and arrays as JSON text, which it used to get by
//! decoding the value and writing it again (a third of building Arrow from
//! a batch). The core writes nested values compactly, and usually with their
//! keys in order; for those the text already is the answer. Such a text is
//! also simple to turn into Python objects directly (`convert::TextToPy`):
//! its keys come in the order a decoded map iterates them.

use crate::text_cursor::Cursor;

/// Deeper than this is left to serde_json (which refuses 128 levels).
pub(crate) const MAX_DEPTH: usize = 64;

/// Checks texts, keeping a buffer for writing numbers.
#[derive(Debug, Default)]
pub(crate) struct Canonical {
    number: String,
}

impl Canonical {
    /// `true` when `text` is an object or array that serde_json decodes
    /// and writes back (`Value::to_string`, keys in byte order) as exactly
    /// `text`. `false` says nothing: the caller decodes.
    pub(crate) fn check(&mut self, text: &str) -> bool {
        let mut scan = Scan {
            c: Cursor::new(text),
            number: &mut self.number,
        };
        matches!(scan.c.peek(), Some(b'{' | b'[')) && scan.value(0).is_some() && scan.c.at_end()
    }
}

struct Scan<'a, 'n> {
    c: Cursor<'a>,
    number: &'n mut String,
}

impl Scan<'_, '_> {
    fn eat(&mut self, c: u8) -> Option<()> {
        self.c.eat(c).then_some(())
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.c.peek()? {
            b'{' if depth < MAX_DEPTH => self.object(depth + 1),
            b'[' if depth < MAX_DEPTH => self.array(depth + 1),
            // Without escapes, what a string holds is what serde_json writes
            // back (it escapes only quotes, backslashes and control characters).
            b'"' => self.c.plain_string().map(|_| ()),
            b't' => self.c.word("true").then_some(()),
            b'f' => self.c.word("false").then_some(()),
            b'n' => self.c.word("null").then_some(()),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Keys strictly increasing: a decoded map iterates in key order and
    /// keeps one of a repeated key.
    fn object(&mut self, depth: usize) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut previous: Option<&str> = None;
        loop {
            let key = self.c.plain_string()?;
            if previous.is_some_and(|p| p >= key) {
                return None;
            }
            previous = Some(key);
            self.eat(b':')?;
            self.value(depth)?;
            if self.c.eat(b'}') {
                return Some(());
            }
            self.eat(b',')?;
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            if self.c.eat(b']') {
                return Some(());
            }
            self.eat(b',')?;
        }
    }

    /// A number as serde_json writes what it reads from it: an integer that
    /// fits 64 bits as it is (not `-0`, a float to serde_json), any other
    /// number as its float's shortest text.
    fn number(&mut self) -> Option<()> {
        let text = self.c.number_text()?;
        if text.bytes().all(|c| c == b'-' || c.is_ascii_digit()) {
            return integer(text);
        }
        // serde_json's own reading of the number, and its writing.
        let n: serde_json::Number = serde_json::from_str(text).ok()?;
        self.number.clear();
        std::fmt::Write::write_fmt(self.number, format_args!("{n}")).ok()?;
        (*self.number == *text).then_some(())
    }
}

/// An integer serde_json reads as one (it fits `i64` or `u64`) and writes
/// back as this text: no leading zeros, no plus, not `-0`.
fn integer(text: &str) -> Option<()> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && !digits.starts_with('-')
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    (canonical && (text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok())).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What serde_json writes for what it reads from `text`.
    fn rewritten(text: &str) -> Option<String> {
        serde_json::from_str::<Value>(text)
            .ok()
            .map(|v| v.to_string())
    }

    #[test]
    fn canonical_texts_are_what_serde_json_writes() {
        let mut c = Canonical::default();
        let canonical = [
            r#"{}"#,
            r#"[]"#,
            r#"{"a":1,"b":[true,false,null],"c":{"d":"é ☃","e":-5}}"#,
            r#"{"eventName":"addToCart","price":15.25,"sku":"D-9"}"#,
            r#"[1.5,-0.25,1e+20,18446744073709551615,-9223372036854775808,0,"x"]"#,
            r#"{"A":1,"B":2,"a":3}"#,
        ];
        for text in canonical {
            assert!(c.check(text), "{text}");
            assert_eq!(rewritten(text).as_deref(), Some(text));
        }
        let not = [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{ "a":1}"#,
            r#"{"a":"q\"x"}"#,
            r#"{"a\"":1}"#,
            r#"["\u0041"]"#,
            r#"[1.50]"#,
            r#"[1e2]"#,
            r#"[1E+20]"#,
            r#"[-0]"#,
            r#"[01]"#,
            r#"[+1]"#,
            r#"[18446744073709551616]"#,
            r#"[-9223372036854775809]"#,
            r#"[1.0e400]"#,
            r#"[1,]"#,
            r#"[1] "#,
            r#"[tru]"#,
            r#""text""#,
            r#"12"#,
        ];
        for text in not {
            assert!(!c.check(text), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(!c.check(&deep));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(c.check(&deep));
    }
}
