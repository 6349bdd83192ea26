//! A cursor over compact JSON text whose strings have no escapes: the
//! reading both `canonical` (checking that a text is what serde_json
//! writes) and `convert::TextToPy` (Python objects from such a text) need.
//! Anything outside that subset makes a step fail; callers then decode.

pub(crate) struct Cursor<'a> {
    /// The text, and its bytes (read byte by byte).
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Cursor {
            s: text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    /// Whether the whole text was read.
    pub(crate) fn at_end(&self) -> bool {
        self.i == self.b.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Steps over `c` if it comes next.
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        let ate = self.peek() == Some(c);
        self.i += usize::from(ate);
        ate
    }

    /// Steps over `word` (`true`, `false`, `null`) if it comes next.
    pub(crate) fn word(&mut self, word: &str) -> bool {
        let end = self.i + word.len();
        let found = self.b.get(self.i..end) == Some(word.as_bytes());
        if found {
            self.i = end;
        }
        found
    }

    /// A string without escapes from its opening quote: its text between
    /// the quotes. `None` for anything else (no quote, an escape, a control
    /// character, no closing quote).
    pub(crate) fn plain_string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        let len = self.b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        self.i = start + len;
        if !self.eat(b'"') {
            return None;
        }
        // Cut at ASCII quotes of a `str`: always whole characters, so the
        // slice needs no UTF-8 validation (only its two ends are checked).
        self.s.get(start..start + len)
    }

    /// The text of the number starting here (every following byte of
    /// `-+.eE0-9`), for serde_json to judge.
    pub(crate) fn number_text(&mut self) -> Option<&'a str> {
        let start = self.i;
        let len = self.b[start..]
            .iter()
            .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
            .unwrap_or(self.b.len() - start);
        self.i = start + len;
        self.s.get(start..self.i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_over_the_subset_and_refuses_the_rest() {
        let mut c = Cursor::new(r#""ab",-1.5e+3]true"#);
        assert_eq!(c.plain_string(), Some("ab"));
        assert!(c.eat(b','));
        assert_eq!(c.number_text(), Some("-1.5e+3"));
        assert!(!c.eat(b','));
        assert!(c.eat(b']'));
        assert!(!c.word("false"));
        assert!(c.word("true"));
        assert!(c.at_end());
        assert_eq!(c.peek(), None);
        for refused in [r#""a\"b""#, "\"a\u{1}\"", r#""open"#, "x"] {
            assert_eq!(Cursor::new(refused).plain_string(), None, "{refused}");
        }
        assert_eq!(Cursor::new(r#""é☃""#).plain_string(), Some("é☃"));
    }
}
