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
