//! A batch's NDJSON lines as top-level fields, for the conversions into
//! Python objects and Arrow columns.
//!
//! Decoding every line into a `serde_json::Map` and converting that map was
//! most of the conversions' cost. `FieldReader` hands out a line's strings
//! and short integers as they are, without building values; this module
//! uses it wherever its answer is exactly what decoding the line with
//! serde_json gives, and decodes the line otherwise, so a conversion's
//! output does not depend on which way a line went.

use connector_core::{FieldReader, FieldValue, Record};
use serde_json::Value;

use crate::canonical::Canonical;

/// A top-level field's value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FieldRef<'a> {
    Null,
    Bool(bool),
    /// An integer (serde_json decodes it as a `Number` holding this `i64`).
    Int(i64),
    /// A string's value.
    Str(&'a str),
    /// Any other value (a number with a fraction, an object, an array, a
    /// string that had escapes), decoded by serde_json.
    Value(&'a Value),
    /// An object or array not decoded (see [`LineReader::keeping_json`]):
    /// its text is what serde_json writes for the value it decodes to.
    Json(&'a str),
}

impl FieldRef<'_> {
    pub(crate) fn is_null(self) -> bool {
        matches!(self, FieldRef::Null | FieldRef::Value(Value::Null))
    }

    /// The value as serde_json would have decoded it.
    pub(crate) fn to_value(self) -> Value {
        match self {
            FieldRef::Null => Value::Null,
            FieldRef::Bool(b) => Value::Bool(b),
            FieldRef::Int(n) => Value::from(n),
            FieldRef::Str(s) => Value::String(s.to_string()),
            FieldRef::Value(v) => v.clone(),
            FieldRef::Json(text) => decode(text),
        }
    }
}

/// An object's or array's text from `FieldReader`, decoded.
pub(crate) fn decode(text: &str) -> Value {
    // It decodes: FieldReader's scanner validated it (and `Canonical::check`
    // read every part of it as serde_json reads it, when it ran).
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A field as read, before the consumer borrows it as a [`FieldRef`].
#[derive(Debug)]
enum Slot<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'a str),
    Value(Value),
    Json(&'a str),
}

impl Slot<'_> {
    fn field(&self) -> FieldRef<'_> {
        match self {
            Slot::Null => FieldRef::Null,
            Slot::Bool(b) => FieldRef::Bool(*b),
            Slot::Int(n) => FieldRef::Int(*n),
            Slot::Str(s) => FieldRef::Str(s),
            Slot::Value(v) => FieldRef::Value(v),
            Slot::Json(text) => FieldRef::Json(text),
        }
    }
}

/// One line's fields in key order, each key once: what iterating the
/// line's decoded `Map` gives (read by `FieldReader`, or that `Map`).
pub(crate) struct Line<'a> {
    read: Vec<(&'a str, Slot<'a>)>,
    decoded: Option<Record>,
}

impl Line<'_> {
    /// The fields, in order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, FieldRef<'_>)> + '_ {
        // One of the two is empty: a chain needs no per-line boxing.
        let read = self.read.iter().map(|(k, s)| (*k, s.field()));
        let decoded = self
            .decoded
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), FieldRef::Value(v)));
        read.chain(decoded)
    }
}

/// Reads lines one after the other, keeping its buffers: reuse one for a
/// batch (or many).
#[derive(Default)]
pub(crate) struct LineReader {
    reader: FieldReader,
    /// The last line's field list, emptied, for its allocation.
    spare: Vec<(&'static str, Slot<'static>)>,
    /// Set: objects and arrays already written as serde_json writes them
    /// are handed out as text (`FieldRef::Json`), not decoded.
    json: Option<Canonical>,
    /// Set: every object and array is handed out as its text, unchecked
    /// (`convert::TextToPy` checks what it needs as it builds, and decodes
    /// the rest).
    json_unchecked: bool,
    /// Tests: decode every line, as the conversions did before.
    #[cfg(test)]
    decode_all: bool,
}

impl LineReader {
    /// A reader handing out objects and arrays as their JSON text when that
    /// text is what writing their decoded value gives: Arrow's JSON columns
    /// take that text as it is, and dicts are built straight from it.
    pub(crate) fn keeping_json() -> LineReader {
        LineReader {
            json: Some(Canonical::default()),
            ..LineReader::default()
        }
    }

    /// A reader handing out every object and array as its JSON text: for
    /// dicts, which `convert::TextToPy` builds from the text when it is in
    /// its subset and decodes otherwise, so checking first would read every
    /// text twice.
    pub(crate) fn keeping_json_unchecked() -> LineReader {
        LineReader {
            json_unchecked: true,
            ..LineReader::default()
        }
    }

    /// A reader that decodes every line with serde_json (the reference the
    /// fast way is compared against).
    #[cfg(test)]
    pub(crate) fn decoding() -> LineReader {
        LineReader {
            decode_all: true,
            ..LineReader::default()
        }
    }

    #[cfg(test)]
    fn fast(&self) -> bool {
        !self.decode_all
    }

    #[cfg(not(test))]
    fn fast(&self) -> bool {
        true
    }

    /// Calls `f` with `line`'s fields; with `None` for a line that is not a
    /// JSON object (`RecordBatch::records` leaves such a line out; the core
    /// writes none).
    pub(crate) fn read<R>(&mut self, line: &str, f: impl FnOnce(Option<&Line<'_>>) -> R) -> R {
        let mut read = recycle(std::mem::take(&mut self.spare));
        let fast = self.fast()
            && self.reader.fields(line).is_some_and(|fields| {
                collect(fields, self.json.as_mut(), self.json_unchecked, &mut read)
            });
        let line = if fast {
            Line {
                read,
                decoded: None,
            }
        } else {
            read.clear();
            Line {
                read,
                decoded: serde_json::from_str(line).ok(),
            }
        };
        let result = f((fast || line.decoded.is_some()).then_some(&line));
        self.spare = recycle(line.read);
        result
    }
}

/// Fills `out` with the fields; `false` when they are not what the line's
/// decoded `Map` holds in its order: keys not strictly increasing (a `Map`
/// iterates in key order and keeps the last of a repeated key), or a value
/// serde_json does not decode.
fn collect<'a>(
    fields: impl Iterator<Item = (&'a str, FieldValue<'a>)>,
    mut json: Option<&mut Canonical>,
    json_unchecked: bool,
    out: &mut Vec<(&'a str, Slot<'a>)>,
) -> bool {
    let mut previous: Option<&str> = None;
    for (k, v) in fields {
        if previous.is_some_and(|p| p >= k) {
            return false;
        }
        previous = Some(k);
        let slot = match v {
            FieldValue::Null => Slot::Null,
            FieldValue::Bool(b) => Slot::Bool(b),
            FieldValue::Int(n) => Slot::Int(n),
            FieldValue::Str(s) => Slot::Str(s),
            // FieldReader hands out only texts its scanner validated.
            FieldValue::Json(text) if json_unchecked => Slot::Json(text),
            FieldValue::Json(text) if json.as_mut().is_some_and(|c| c.check(text)) => {
                Slot::Json(text)
            }
            FieldValue::Json(text) => match serde_json::from_str(text) {
                Ok(v) => Slot::Value(v),
                Err(_) => return false,
            },
        };
        out.push((k, slot));
    }
    true
}

/// `v` emptied, borrowing nothing any more, its allocation kept (collecting
/// an emptied vector into one of the same layout reuses it in place).
// `filter` would keep the borrowed type; the map to another type is the point.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'b>(v: Vec<(&str, Slot<'_>)>) -> Vec<(&'b str, Slot<'b>)> {
    v.into_iter().filter_map(|_| None).collect()
}

/// Lines that exercise every way a line can go: each kind of field value,
/// escapes, fractions, nesting, long integers, keys out of order or
/// repeated, and lines `FieldReader` leaves to serde_json (an escaped key,
/// nesting deeper than it reads) or that are no object.
#[cfg(test)]
pub(crate) fn tricky_lines() -> Vec<String> {
    let deep = format!(
        r#"{{"deep":{}1{},"id":1}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let lines = [
        // Each kind of value FieldReader hands out; objects and arrays
        // written as serde_json writes them and not (key order, escapes,
        // number forms).
        r#"{"a":null,"b":true,"c":-12,"d":"x y","e":"q\"\\\n\u00e9","f":1.5,"g":{"z":[1,{"y":null}],"a":"\u0041"},"h":[],"i":false,"k":-0,"m":"é ☃","n":123456789012345678,"x":{"p":15.25,"q":[1.5,-2,"s"]},"y":[{"b":1.50}]}"#,
        // Numbers FieldReader leaves to serde_json (the whole line is decoded).
        r#"{"a":null,"j":12345678901234567890,"l":1e3,"x":{"k":1}}"#,
        r#"{"c":" 4 ","createdAt":"2025-01-02T03:04:05.678Z","id":7,"n":" 17 ","x":"2025-01-02 03:04:05 +00:00","y":" 2.5 ","z":"true"}"#,
        r#"{"createdAt":"not a date","id":"seven","n":2.5,"x":{"k":1},"y":[1,"2"],"z":1}"#,
        r#"{"createdAt":1735787045678,"id":7.0,"n":-7,"x":true,"y":"1e2","z":null,"zz":null}"#,
        r#"{"b":1,"a":2}"#,
        r#"{"a":1,"a":2}"#,
        // Nested: a repeated key, keys out of order deep down, 60 levels.
        r#"{"n":{"a":1,"b":{"c":[{"y":1,"x":2}]},"a":3},"o":{"k":{"k":{"k":[[[{"b":0,"a":0}]]]}}}}"#,
        r#"{"id":3,"k\"ey":1}"#,
        r#"[1,2]"#,
        r#"{}"#,
        r#"{"_rejected":"mine","createdAt":"2025-01-02T03:04:05Z","id":1,"new":5,"other":"x"}"#,
        r#"{"new":"text now","other":null,"x":"ok","y":"1.25"}"#,
        r#"{"a":5,"b":"true","c":true,"d":3,"f":true,"i":"x","m":false,"y":7}"#,
        r#"{"a":"t\tab","d":"tab\t","g":"plain","new":2.5,"x":[1]}"#,
        r#"{"b":{"k":1},"c":[2],"createdAt":{"t":1},"f":{},"new":{"n":[]},"other":[{"a":1,"b":{}}],"x":{"b":1,"a":2},"zz":{"a":[true,false,null,-3,-123456789012345678,2.5,"é"],"b":{}}}"#,
    ];
    let sixty = format!(r#"{{"d":{}1{}}}"#, "[".repeat(60), "]".repeat(60));
    lines
        .iter()
        .map(|l| l.to_string())
        .chain([deep, sixty])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `Line::fields` gives, as a decoded map would give it.
    fn entries(reader: &mut LineReader, line: &str) -> Option<Vec<(String, Value)>> {
        reader.read(line, |l| {
            l.map(|l| {
                l.fields()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect()
            })
        })
    }

    #[test]
    fn fields_equal_the_decoded_map() {
        let mut fast = LineReader::default();
        let mut keeping_json = LineReader::keeping_json();
        let mut unchecked = LineReader::keeping_json_unchecked();
        let mut slow = LineReader::decoding();
        for line in &tricky_lines() {
            let want: Option<Vec<(String, Value)>> = serde_json::from_str::<Record>(line)
                .ok()
                .map(|m| m.into_iter().collect());
            assert_eq!(entries(&mut fast, line), want, "{line}");
            assert_eq!(entries(&mut keeping_json, line), want, "{line}");
            assert_eq!(entries(&mut unchecked, line), want, "{line}");
            assert_eq!(entries(&mut slow, line), want, "{line}");
        }
        // Most of them are read, not decoded (else the above shows little).
        let lines = tricky_lines();
        let read: Vec<bool> = lines
            .iter()
            .map(|l| keeping_json.read(l, |l| l.is_some_and(|l| l.decoded.is_none())))
            .collect();
        assert_eq!(read.iter().filter(|r| **r).count(), 12, "{read:?}");
        // The first, the last of the list, and sixty levels deep; not a
        // hundred (the whole line is decoded).
        let n = lines.len();
        assert!(
            read[0] && read[n - 3] && !read[n - 2] && read[n - 1],
            "{read:?}"
        );
    }

    #[test]
    fn scalars_are_read_without_decoding() {
        let mut reader = LineReader::default();
        let line = r#"{"a":null,"b":true,"c":-12,"d":"x y","f":1.5}"#;
        reader.read(line, |l| {
            let l = l.expect("an object");
            assert!(l.decoded.is_none());
            let kinds: Vec<String> = l.fields().map(|(_, v)| format!("{v:?}")).collect();
            assert_eq!(
                kinds,
                [
                    "Null",
                    "Bool(true)",
                    "Int(-12)",
                    "Str(\"x y\")",
                    "Value(Number(1.5))"
                ]
            );
        });
    }
}
