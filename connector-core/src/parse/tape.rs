//! A validating scan of one NDJSON row into a *tape*: one [`Node`] per JSON
//! value, in document order, each with its byte span in the row (and its
//! key's, for object members). The read path shapes export rows from the
//! tape and the row's text instead of building a `serde_json::Value` tree,
//! which costs a `String` per key and value and a B-tree per object.
//!
//! The scanner accepts a strict subset of what serde_json accepts, so every
//! row it tapes would also parse with serde_json, to the same value. What it
//! leaves to serde_json (the row is then "untaped" and takes the general
//! path, or gets serde_json's own error message): escapes in keys, `\u`
//! escapes of surrogates, exponents, integers of more than 18 digits,
//! nesting deeper than [`MAX_DEPTH`], and anything malformed.

/// What a tape node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Object,
    Array,
    /// A string without escapes: its text between the quotes is its value.
    Str,
    /// A string with escapes (decode it with serde_json).
    EscStr,
    /// An integer of at most 18 digits, not `-0`: its text is canonical.
    Int,
    /// Any other number the scanner accepts (a fraction, `-0`): re-encode it.
    Num,
    True,
    False,
    Null,
}

/// One JSON value of a row. Spans are byte offsets within the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    /// The member's key, between its quotes (object members only; else 0..0).
    pub(crate) key_start: u32,
    pub(crate) key_end: u32,
    /// The value's text (a string's includes its quotes).
    pub(crate) start: u32,
    pub(crate) end: u32,
    /// Index, in the row's tape, of the first node after this value's
    /// subtree: a container's children are the nodes in between.
    pub(crate) next: u32,
}

impl Node {
    /// The member's key (object members only).
    pub(crate) fn key<'a>(&self, row: &'a str) -> &'a str {
        &row[self.key_start as usize..self.key_end as usize]
    }

    /// The value's JSON text.
    pub(crate) fn text<'a>(&self, row: &'a str) -> &'a str {
        &row[self.start as usize..self.end as usize]
    }

    /// A [`NodeKind::Str`]'s value: its text without the quotes.
    pub(crate) fn str_value<'a>(&self, row: &'a str) -> &'a str {
        &row[self.start as usize + 1..self.end as usize - 1]
    }
}

/// Deepest nesting the scanner follows (serde_json allows 128).
pub(crate) const MAX_DEPTH: u32 = 64;

/// The scanner gave up: serde_json decides about this row.
#[derive(Debug)]
struct Bail;

type Scan<T> = Result<T, Bail>;

/// Scans `row` (trimmed, valid UTF-8) onto `tape`. `false`: the row is not
/// taped (the tape is left as it was) and serde_json must judge it.
pub(crate) fn scan_row(row: &[u8], tape: &mut Vec<Node>) -> bool {
    if row.len() >= u32::MAX as usize {
        return false;
    }
    let base = tape.len();
    let mut s = Scanner {
        b: row,
        i: 0,
        tape,
        base,
    };
    let ok = s.b.first() == Some(&b'{') && s.value(0, 0, 0).is_ok() && s.i == s.b.len();
    if !ok {
        s.tape.truncate(base);
    }
    ok
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    tape: &'a mut Vec<Node>,
    /// Where this row's nodes start in `tape` (indices are row-relative).
    base: usize,
}

/// Bytes that end a run of plain string content.
const fn string_stops() -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}
static STRING_STOPS: [bool; 256] = string_stops();

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `v` that is zero (exact for the lowest).
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// Flags the bytes of a little-endian word that [`STRING_STOPS`] lists:
/// `"`, `\\` and control characters.
fn string_stops_in(w: u64) -> u64 {
    let controls = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    zero_bytes(w ^ (ONES * u64::from(b'"'))) | zero_bytes(w ^ (ONES * u64::from(b'\\'))) | controls
}

impl Scanner<'_> {
    fn peek(&self) -> Scan<u8> {
        self.b.get(self.i).copied().ok_or(Bail)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Scan<()> {
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    fn push(&mut self, kind: NodeKind, key: (u32, u32), start: usize) -> usize {
        self.tape.push(Node {
            kind,
            key_start: key.0,
            key_end: key.1,
            start: start as u32,
            end: start as u32,
            next: 0,
        });
        self.tape.len() - 1
    }

    fn value(&mut self, key_start: u32, key_end: u32, depth: u32) -> Scan<()> {
        let start = self.i;
        let key = (key_start, key_end);
        let at = match self.peek()? {
            b'{' => {
                if depth >= MAX_DEPTH {
                    return Err(Bail);
                }
                let at = self.push(NodeKind::Object, key, start);
                self.object(depth)?;
                at
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return Err(Bail);
                }
                let at = self.push(NodeKind::Array, key, start);
                self.array(depth)?;
                at
            }
            b'"' => {
                let escaped = self.string()?;
                let kind = if escaped {
                    NodeKind::EscStr
                } else {
                    NodeKind::Str
                };
                self.push(kind, key, start)
            }
            b'-' | b'0'..=b'9' => {
                let kind = self.number()?;
                self.push(kind, key, start)
            }
            b't' => {
                self.literal(b"true")?;
                self.push(NodeKind::True, key, start)
            }
            b'f' => {
                self.literal(b"false")?;
                self.push(NodeKind::False, key, start)
            }
            b'n' => {
                self.literal(b"null")?;
                self.push(NodeKind::Null, key, start)
            }
            _ => return Err(Bail),
        };
        let next = (self.tape.len() - self.base) as u32;
        let node = &mut self.tape[at];
        node.end = self.i as u32;
        node.next = next;
        Ok(())
    }

    fn object(&mut self, depth: u32) -> Scan<()> {
        self.i += 1;
        self.skip_ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek()? != b'"' {
                return Err(Bail);
            }
            let key_start = self.i + 1;
            if self.string()? {
                return Err(Bail); // escaped keys: serde_json decodes them
            }
            let key_end = self.i - 1;
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            self.value(key_start as u32, key_end as u32, depth + 1)?;
            if self.closed_after_member(b'}')? {
                return Ok(());
            }
        }
    }

    fn array(&mut self, depth: u32) -> Scan<()> {
        self.i += 1;
        self.skip_ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value(0, 0, depth + 1)?;
            if self.closed_after_member(b']')? {
                return Ok(());
            }
        }
    }

    /// After a member or element: `true` at the container's `close`, `false`
    /// past a comma (another one follows).
    fn closed_after_member(&mut self, close: u8) -> Scan<bool> {
        self.skip_ws();
        let c = self.peek()?;
        self.i += 1;
        if c == close {
            return Ok(true);
        }
        if c != b',' {
            return Err(Bail);
        }
        self.skip_ws();
        Ok(false)
    }

    /// A string from its opening quote; `true` if it has escapes.
    fn string(&mut self) -> Scan<bool> {
        self.i += 1;
        let mut escaped = false;
        loop {
            self.skip_plain();
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.b.get(self.i + 1..self.i + 5).ok_or(Bail)?;
                            let mut code = 0u32;
                            for &h in hex {
                                code = code * 16 + char::from(h).to_digit(16).ok_or(Bail)?;
                            }
                            // Surrogate pairs (and lone halves, which
                            // serde_json rejects) are left to serde_json.
                            if (0xD800..=0xDFFF).contains(&code) {
                                return Err(Bail);
                            }
                            self.i += 5;
                        }
                        _ => return Err(Bail),
                    }
                }
                _ => return Err(Bail), // a raw control character
            }
        }
    }

    /// Skips plain string content: eight bytes at a time while none of
    /// them ends the run, then byte by byte.
    fn skip_plain(&mut self) {
        while let Some(word) = self.b.get(self.i..self.i + 8) {
            let Ok(bytes) = <[u8; 8]>::try_from(word) else {
                break;
            };
            let stops = string_stops_in(u64::from_le_bytes(bytes));
            if stops != 0 {
                // The lowest flag is exact (borrows only flag bytes above it).
                self.i += (stops.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while self.i < self.b.len() && !STRING_STOPS[usize::from(self.b[self.i])] {
            self.i += 1;
        }
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - from
    }

    fn number(&mut self) -> Scan<NodeKind> {
        let start = self.i;
        let negative = self.b[self.i] == b'-';
        if negative {
            self.i += 1;
        }
        let int_digits = match self.peek()? {
            b'0' => {
                self.i += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return Err(Bail),
        };
        if int_digits > 18 {
            return Err(Bail);
        }
        let mut kind = NodeKind::Int;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(Bail);
            }
            kind = NodeKind::Num;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            return Err(Bail); // exponents may overflow: serde_json's call
        }
        if negative && &self.b[start..self.i] == b"-0" {
            kind = NodeKind::Num; // serde_json reads it as the float -0.0
        }
        Ok(kind)
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }
}

/// Whether a [`NodeKind::Num`]'s text is what serde_json writes for its
/// value, so it can be copied: a plain decimal from 0.1 to below 10⁹
/// (`-`, 1–9 integer digits without a leading zero or a lone `0` before a
/// non-zero tenth, `.`, 1–6 decimals, the last not `0`). Such a decimal
/// has at most 15 significant digits, so its double's shortest
/// round-trip form is those same digits, printed without an exponent.
pub(crate) fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let Some((int, frac)) = digits.split_once('.') else {
        return false;
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let int_ok = match int.as_bytes() {
        [b'0'] => frac.as_bytes().first().is_some_and(|&b| b != b'0'),
        [b'1'..=b'9', ..] => int.len() <= 9 && all_digits(int),
        _ => false,
    };
    int_ok && (1..=6).contains(&frac.len()) && all_digits(frac) && !frac.ends_with('0')
}

/// The value of a string the scanner taped (`text` with its quotes) into
/// `out`, replacing what it held: unescaped by hand, or by serde_json for
/// what [`unescape_into`] leaves to it. `false` if neither accepts it.
pub(crate) fn decode_string(text: &str, out: &mut String) -> bool {
    out.clear();
    if unescape_into(text, out) {
        return true;
    }
    match serde_json::from_str::<String>(text) {
        Ok(s) => {
            *out = s;
            true
        }
        Err(_) => false,
    }
}

/// Appends the value of a string the scanner taped as
/// [`NodeKind::EscStr`] (`text` with its quotes) to `out`, as serde_json
/// decodes it. `false` (and `out` partly written) for anything the scanner
/// would not have taped; the caller then asks serde_json.
pub(crate) fn unescape_into(text: &str, out: &mut String) -> bool {
    let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return false;
    };
    let mut rest = inner;
    // memchr: `str::find` with a char pattern costs more per call, and
    // escaped JSON text has an escape every few bytes.
    while let Some(at) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        let b = rest.as_bytes();
        let decoded = match b.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let code = rest
                    .get(at + 2..at + 6)
                    .filter(|hex| hex.bytes().all(|h| h.is_ascii_hexdigit()))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                // Surrogates never reach here: the scanner leaves them
                // (pairs and lone halves) to serde_json.
                match code.and_then(char::from_u32) {
                    Some(c) => {
                        out.push(c);
                        rest = &rest[at + 6..];
                        continue;
                    }
                    None => return false,
                }
            }
            _ => return false,
        };
        out.push(decoded);
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn plain_decimals_are_what_serde_json_writes_back() {
        use proptest::prelude::*;
        for (text, plain) in [
            ("15.25", true),
            ("-0.5", true),
            ("0.1", true),
            ("999999999.999999", true),
            ("1.50", false),
            ("0.05", false),
            ("01.5", false),
            ("1e5", false),
            ("1.", false),
            ("1000000000.5", false),
            ("1.1234567", false),
            ("-0", false),
            ("12", false),
        ] {
            assert_eq!(is_plain_decimal(text), plain, "{text}");
        }
        let decimal = (
            any::<bool>(),
            prop_oneof![Just("0".to_string()), "[1-9][0-9]{0,9}"],
            "[0-9]{0,7}",
        )
            .prop_map(|(neg, int, frac)| format!("{}{int}.{frac}", if neg { "-" } else { "" }));
        proptest!(ProptestConfig::with_cases(5000), |(text in decimal)| {
            if is_plain_decimal(&text) {
                let v: Value = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(v.to_string(), text);
            }
        });
    }

    #[test]
    fn escaped_strings_decode_as_serde_json_decodes_them() {
        use proptest::prelude::*;
        let escaped = prop_oneof![
            // serde_json's own escaping of any text.
            "[a-z\"\\\\/\u{0}-\u{1f}é😀 ]{0,16}".prop_map(|s| Value::from(s).to_string()),
            // Escapes serde_json never writes but reads.
            proptest::collection::vec(
                prop_oneof![
                    Just(r"\/".to_string()),
                    Just(r"\u00e9".to_string()),
                    Just(r"\u00E9".to_string()),
                    Just(r"\uFFFF".to_string()),
                    Just(r"\u0000".to_string()),
                    Just(r"\b\f\n\r\t".to_string()),
                    "[a-z é]{0,4}",
                ],
                0..6
            )
            .prop_map(|parts| format!("\"{}\"", parts.concat())),
        ];
        proptest!(|(text in escaped)| {
            let row = format!("{{\"v\":{text}}}");
            let t = tape(&row).expect("the scanner tapes it");
            prop_assume!(t[1].kind == NodeKind::EscStr);
            let mut out = String::from("kept:");
            prop_assert!(unescape_into(&text, &mut out));
            let expected: String = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(out, format!("kept:{expected}"));
        });
    }

    fn tape(row: &str) -> Option<Vec<Node>> {
        let mut t = Vec::new();
        scan_row(row.as_bytes(), &mut t).then_some(t)
    }

    /// Rebuilds a `Value` from a tape, to compare with serde_json's.
    fn rebuild(row: &str, tape: &[Node], at: usize) -> Value {
        let n = tape[at];
        match n.kind {
            NodeKind::Object => {
                let mut m = serde_json::Map::new();
                let mut c = at + 1;
                while c < n.next as usize {
                    m.insert(tape[c].key(row).to_string(), rebuild(row, tape, c));
                    c = tape[c].next as usize;
                }
                Value::Object(m)
            }
            NodeKind::Array => {
                let mut v = Vec::new();
                let mut c = at + 1;
                while c < n.next as usize {
                    v.push(rebuild(row, tape, c));
                    c = tape[c].next as usize;
                }
                Value::Array(v)
            }
            NodeKind::Str => Value::String(n.str_value(row).to_string()),
            _ => serde_json::from_str(n.text(row)).expect("a scalar"),
        }
    }

    #[test]
    fn taped_rows_read_as_serde_json_reads_them() {
        for row in [
            r#"{}"#,
            r#"{"a":1,"b":"x","c":null,"d":true,"e":false}"#,
            r#"{ "a" : [ 1 , -2 , 3.25 , -0 , "y\n\u00e9" ] , "n" : { "x" : { } , "y" : [ ] } }"#,
            r#"{"big":999999999999999999,"neg":-999999999999999999,"f":0.5}"#,
            r#"{"dup":1,"dup":2}"#,
            "{\"tab\":\"a\tb\"}".replace('\t', "\\t").as_str(),
            r#"{"é":"ünï","\/":1}"#.replace(r"\/", "s").as_str(),
        ] {
            let t = tape(row).unwrap_or_else(|| panic!("taped: {row}"));
            let want: Value = serde_json::from_str(row).expect("valid");
            assert_eq!(rebuild(row, &t, 0), want, "{row}");
            assert_eq!(t[0].next as usize, t.len());
        }
    }

    #[test]
    fn what_is_left_to_serde_json() {
        for row in [
            r#"{"k\"ey":1}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":1e5}"#,
            r#"{"a":1234567890123456789}"#,
            &format!("{}1{}", r#"{"a":"#.repeat(65), "}".repeat(65)),
            // Malformed: serde_json gives the error message.
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1."}"#,
            r#"{"a":tru}"#,
            r#"{"a":"x"#,
            r#"{"a" 1}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":1}x"#,
            r#"[1]"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12G4"}"#,
        ] {
            let mut t = vec![];
            assert!(!scan_row(row.as_bytes(), &mut t), "{row}");
            assert!(t.is_empty());
        }
    }

    #[test]
    fn word_at_a_time_scanning_finds_the_first_stop() {
        for stop in [b'"', b'\\', 0x00, 0x1f, 0x0a] {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = stop;
                // A later stop must not hide the first.
                if at < 7 {
                    word[7] = b'"';
                }
                let flags = string_stops_in(u64::from_le_bytes(word));
                assert_eq!(flags.trailing_zeros() / 8, at as u32, "{stop:#x} at {at}");
            }
        }
        for plain in [*b"abcdefgh", *b" !#[]~\x7f\xc3", [0xff; 8], [0x20; 8]] {
            assert_eq!(string_stops_in(u64::from_le_bytes(plain)), 0, "{plain:?}");
        }
        // Long strings, stops at every distance from the start.
        for n in 0..40 {
            let row = format!(r#"{{"k":"{}","t":"{}\n"}}"#, "x".repeat(n), "é".repeat(n));
            let t = tape(&row).expect("taped");
            assert_eq!(t[1].str_value(&row).len(), n);
            assert_eq!(t[2].kind, NodeKind::EscStr);
        }
    }

    #[test]
    fn kinds_and_spans() {
        let row = r#"{"s":"ab","e":"a\"b","i":-12,"n":1.5,"z":-0,"o":{"x":[true]}}"#;
        let t = tape(row).expect("taped");
        let kinds: Vec<NodeKind> = t.iter().map(|n| n.kind).collect();
        use NodeKind::*;
        assert_eq!(
            kinds,
            [Object, Str, EscStr, Int, Num, Num, Object, Array, True]
        );
        assert_eq!(t[1].key(row), "s");
        assert_eq!(t[1].str_value(row), "ab");
        assert_eq!(t[2].text(row), r#""a\"b""#);
        assert_eq!(t[6].text(row), r#"{"x":[true]}"#);
        assert_eq!(t[6].next, 9);
    }
}
