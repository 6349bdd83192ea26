//! NDJSON rows as the parser hands them out: the text of every row (trimmed,
//! valid UTF-8, a JSON object) in one buffer, with each row's tape when the
//! scanner could build one ([`super::tape`]).

use serde_json::Value;

use super::tape::{self, Node};

/// Rows of an NDJSON body, in order. Cheap to fill: one copy of each line's
/// bytes and its tape, no JSON value built.
#[derive(Debug, Default)]
pub struct RowBuf {
    text: String,
    rows: Vec<RowMeta>,
    tape: Vec<Node>,
}

#[derive(Debug, Clone, Copy)]
struct RowMeta {
    /// End of the row in `text` (its start is the previous row's end).
    end: usize,
    /// End of its nodes in `tape`; as many as the previous row's when untaped.
    tape_end: usize,
}

/// One row of a [`RowBuf`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The row's JSON text.
    pub text: &'a str,
    /// Its tape (the root object first), if the scanner built one.
    pub(crate) tape: Option<&'a [Node]>,
}

impl Row<'_> {
    /// The row as a JSON value (decoded here).
    pub fn value(&self) -> Value {
        // Every row in a `RowBuf` was accepted by serde_json or by the
        // scanner, which accepts a subset of what serde_json accepts.
        serde_json::from_str(self.text).unwrap_or(Value::Null)
    }
}

impl RowBuf {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> + '_ {
        let mut start = 0;
        let mut tape_start = 0;
        self.rows.iter().map(move |m| {
            let text = &self.text[start..m.end];
            let tape = (m.tape_end > tape_start).then(|| &self.tape[tape_start..m.tape_end]);
            start = m.end;
            tape_start = m.tape_end;
            Row { text, tape }
        })
    }

    /// An empty buffer with the room this one has.
    pub(crate) fn empty_like(&self) -> RowBuf {
        RowBuf {
            text: String::with_capacity(self.text.capacity()),
            rows: Vec::with_capacity(self.rows.capacity()),
            tape: Vec::with_capacity(self.tape.capacity()),
        }
    }

    /// Total bytes of the rows' text.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Every row decoded as a JSON value.
    pub fn values(&self) -> Vec<Value> {
        self.iter().map(|r| r.value()).collect()
    }

    /// Scans and appends a row; `false` (nothing appended) when the scanner
    /// leaves it to serde_json.
    pub(crate) fn push_scanned(&mut self, row: &str) -> bool {
        if !tape::scan_row(row.as_bytes(), &mut self.tape) {
            return false;
        }
        self.push_text(row);
        true
    }

    /// Appends a row serde_json accepted but the scanner did not tape.
    pub(crate) fn push_untaped(&mut self, row: &str) {
        self.push_text(row);
    }

    fn push_text(&mut self, row: &str) {
        self.text.push_str(row);
        self.rows.push(RowMeta {
            end: self.text.len(),
            tape_end: self.tape.len(),
        });
    }
}

/// Reads a record line's top-level fields without building JSON values:
/// what a host needs to convert batches (`RecordBatch::lines`) into its own
/// types (Arrow columns, Python objects) at the speed the core writes them.
/// Reuse one reader for many lines; it keeps its buffer.
#[derive(Debug, Default)]
pub struct FieldReader {
    tape: Vec<Node>,
}

/// A top-level field's value as [`FieldReader`] hands it out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer of at most 18 digits.
    Int(i64),
    /// A string without escapes: this is its value.
    Str(&'a str),
    /// Anything else (a string with escapes, a fraction, an object, an
    /// array) as its JSON text, for the caller to decode.
    Json(&'a str),
}

impl FieldReader {
    /// The top-level fields of `line`, a JSON object, in document order; or
    /// `None` when the line needs a full JSON parser (escaped keys, unusual
    /// numbers, deep nesting) or is not an object.
    pub fn fields<'a>(
        &'a mut self,
        line: &'a str,
    ) -> Option<impl Iterator<Item = (&'a str, FieldValue<'a>)> + 'a> {
        self.tape.clear();
        if !tape::scan_row(line.as_bytes(), &mut self.tape) {
            return None;
        }
        let tape = &self.tape;
        let mut at = 1;
        Some(std::iter::from_fn(move || {
            let node = tape.get(at)?;
            at = node.next as usize;
            Some((node.key(line), field_value(node, line)))
        }))
    }
}

fn field_value<'a>(node: &Node, line: &'a str) -> FieldValue<'a> {
    use tape::NodeKind;
    match node.kind {
        NodeKind::Null => FieldValue::Null,
        NodeKind::True => FieldValue::Bool(true),
        NodeKind::False => FieldValue::Bool(false),
        NodeKind::Str => FieldValue::Str(node.str_value(line)),
        NodeKind::Int => node
            .text(line)
            .parse()
            .map_or(FieldValue::Json(node.text(line)), FieldValue::Int),
        NodeKind::EscStr | NodeKind::Num | NodeKind::Object | NodeKind::Array => {
            FieldValue::Json(node.text(line))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_reader_hands_out_top_level_fields() {
        let mut r = FieldReader::default();
        let line =
            r#"{"a":null,"b":true,"c":-12,"d":"x y","e":"q\"","f":1.5,"g":{"h":[1]},"i":false}"#;
        let got: Vec<(&str, FieldValue<'_>)> = r.fields(line).expect("taped").collect();
        assert_eq!(
            got,
            [
                ("a", FieldValue::Null),
                ("b", FieldValue::Bool(true)),
                ("c", FieldValue::Int(-12)),
                ("d", FieldValue::Str("x y")),
                ("e", FieldValue::Json(r#""q\"""#)),
                ("f", FieldValue::Json("1.5")),
                ("g", FieldValue::Json(r#"{"h":[1]}"#)),
                ("i", FieldValue::Bool(false)),
            ]
        );
        assert!(r.fields(r#"{"k\"":1}"#).is_none());
        assert!(r.fields("[1]").is_none());
        assert_eq!(r.fields("{}").expect("taped").count(), 0);
    }
}
