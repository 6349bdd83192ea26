//! CSV cells straight from an NDJSON line's tape, without building a
//! `serde_json::Value` per row: a `String` per key and value and a B-tree
//! per object cost about four times the rest of the encoding.
//!
//! The bytes are exactly those of the general path (parse the line with
//! serde_json, then write each cell). The tape gives each member's text;
//! a cell reuses that text only where it is what serde_json would write
//! again: plain strings, integers the scanner calls canonical, plain
//! decimals, booleans, and containers already written compactly with their
//! keys in order (as the core writes every record). Anything else
//! (escapes, other numbers, loosely written containers) is decoded by
//! serde_json, value by value, and a line the scanner will not tape goes
//! the general way whole.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::parse::bytes::{compare_bytes, same_bytes};
use crate::parse::tape::{Node, NodeKind, decode_string, is_plain_decimal};

/// Scratch reused from line to line.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    pub(super) tape: Vec<Node>,
    /// Per column, the tape index of its member (0, the row itself: none).
    cells: Vec<usize>,
    /// Tape indices of members that go to `_extra`, in line order.
    extras: Vec<usize>,
    /// The previous line's keys and their columns: lines of one stream
    /// carry the same keys in the same order, so one comparison per member
    /// usually replaces a lookup.
    layout: Vec<(String, Option<usize>)>,
    /// A cell's text when it is not a slice of the line.
    text: String,
}

/// Where a line's members go.
pub(super) struct Columns<'a> {
    pub(super) index: &'a BTreeMap<String, usize>,
    pub(super) extra: Option<usize>,
    pub(super) count: usize,
}

/// What one cell holds, borrowed from the line where it can be.
pub(super) enum Cell<'a> {
    Null,
    Text(&'a str),
    /// In [`Scratch::text`].
    Owned,
}

impl Scratch {
    /// Sorts the members of the taped row in `line` into columns and extras.
    pub(super) fn place(&mut self, line: &str, columns: &Columns<'_>) {
        self.cells.clear();
        self.cells.resize(columns.count, 0);
        self.extras.clear();
        let tape = &self.tape;
        let (mut c, mut j) = (1, 0);
        while c < tape[0].next as usize {
            let key = tape[c].key(line);
            let column = match self.layout.get_mut(j) {
                Some((k, col)) if same_bytes(k.as_bytes(), key.as_bytes()) => *col,
                slot => {
                    // A member to a column (`_extra` itself is not one: a
                    // record's own `_extra` field is an extra, as in
                    // `CsvEncoder::encode_map`).
                    let col = columns
                        .index
                        .get(key)
                        .copied()
                        .filter(|&i| Some(i) != columns.extra);
                    match slot {
                        Some(entry) => {
                            entry.0.clear();
                            entry.0.push_str(key);
                            entry.1 = col;
                        }
                        None => self.layout.push((key.to_string(), col)),
                    }
                    col
                }
            };
            match column {
                // A repeated key: the last one wins, as in serde_json.
                Some(i) => self.cells[i] = c,
                None if columns.extra.is_some() => self.extras.push(c),
                None => {}
            }
            c = tape[c].next as usize;
            j += 1;
        }
    }

    /// The cell of column `i` (not `_extra`). `None`: serde_json did not
    /// accept a value the scanner did (it never happens; the caller then
    /// encodes the line the general way).
    pub(super) fn cell<'l>(&mut self, line: &'l str, i: usize) -> Option<Cell<'l>> {
        let at = self.cells[i];
        if at == 0 {
            return Some(Cell::Null);
        }
        let node = self.tape[at];
        Some(match node.kind {
            NodeKind::Null => Cell::Null,
            NodeKind::Str => Cell::Text(node.str_value(line)),
            NodeKind::Int | NodeKind::True | NodeKind::False => Cell::Text(node.text(line)),
            NodeKind::Num if is_plain_decimal(node.text(line)) => Cell::Text(node.text(line)),
            NodeKind::Array | NodeKind::Object if is_canonical(&self.tape, at, line) => {
                Cell::Text(node.text(line))
            }
            NodeKind::EscStr => {
                if !decode_string(node.text(line), &mut self.text) {
                    return None;
                }
                Cell::Owned
            }
            NodeKind::Num | NodeKind::Array | NodeKind::Object => {
                let value = serde_json::from_str::<Value>(node.text(line)).ok()?;
                self.text.clear();
                self.text.push_str(&value.to_string());
                Cell::Owned
            }
        })
    }

    /// The `_extra` cell: the extras as one compact JSON object, as
    /// serde_json writes a map of them; null when there are none.
    pub(super) fn extra<'l>(&mut self, line: &'l str) -> Option<Cell<'l>> {
        if self.extras.is_empty() {
            return Some(Cell::Null);
        }
        let tape = &self.tape;
        let key = |c: usize| tape[c].key(line).as_bytes();
        let in_order = self
            .extras
            .windows(2)
            .all(|w| compare_bytes(key(w[0]), key(w[1])) == Ordering::Less);
        self.text.clear();
        if in_order && self.extras.iter().all(|&c| is_canonical(tape, c, line)) {
            self.text.push('{');
            for (n, &c) in self.extras.iter().enumerate() {
                if n > 0 {
                    self.text.push(',');
                }
                self.text.push('"');
                self.text.push_str(tape[c].key(line));
                self.text.push_str("\":");
                self.text.push_str(tape[c].text(line));
            }
            self.text.push('}');
        } else {
            let mut map = Map::new();
            for &c in &self.extras {
                let value = serde_json::from_str::<Value>(tape[c].text(line)).ok()?;
                map.insert(tape[c].key(line).to_string(), value);
            }
            self.text.push_str(&Value::Object(map).to_string());
        }
        Some(Cell::Owned)
    }

    /// A cell's text after [`Scratch::cell`] or [`Scratch::extra`] said
    /// [`Cell::Owned`].
    pub(super) fn owned(&self) -> &str {
        &self.text
    }
}

/// Whether the value at `at` is written exactly as serde_json writes it:
/// compact (each part right after the one before), object keys in strictly
/// ascending byte order (so a map, sorted or in insertion order, writes
/// them alike), and nothing inside but plain strings, canonical integers,
/// plain decimals, booleans and nulls.
fn is_canonical(tape: &[Node], at: usize, line: &str) -> bool {
    let node = tape[at];
    match node.kind {
        NodeKind::Str | NodeKind::Int | NodeKind::True | NodeKind::False | NodeKind::Null => true,
        NodeKind::Num => is_plain_decimal(node.text(line)),
        NodeKind::EscStr => false,
        NodeKind::Array => {
            // `[a,b]`: each element one byte after the one before.
            let mut expect = node.start + 1;
            let mut c = at + 1;
            while c < node.next as usize {
                let child = tape[c];
                if child.start != expect || !is_canonical(tape, c, line) {
                    return false;
                }
                expect = child.end + 1;
                c = child.next as usize;
            }
            node.end == if c == at + 1 { node.start + 2 } else { expect }
        }
        NodeKind::Object => {
            // `{"k":v,"l":w}`: a key two bytes after the value before, its
            // value two bytes after the key's closing quote.
            let mut expect = node.start + 2;
            let mut previous: Option<&[u8]> = None;
            let mut c = at + 1;
            while c < node.next as usize {
                let child = tape[c];
                let key = child.key(line).as_bytes();
                if child.key_start != expect
                    || child.start != child.key_end + 2
                    || previous.is_some_and(|p| compare_bytes(p, key) != Ordering::Less)
                    || !is_canonical(tape, c, line)
                {
                    return false;
                }
                previous = Some(key);
                expect = child.end + 2;
                c = child.next as usize;
            }
            node.end
                == if c == at + 1 {
                    node.start + 2
                } else {
                    expect - 1
                }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::tape::scan_row;

    fn canonical(json: &str) -> bool {
        let mut tape = Vec::new();
        let row = format!("{{\"v\":{json}}}");
        assert!(scan_row(row.as_bytes(), &mut tape), "{row}");
        is_canonical(&tape, 1, &row)
    }

    #[test]
    fn canonical_text_is_what_serde_json_writes_again() {
        for json in [
            "[]",
            "{}",
            "[1,\"a\",true,null,{}]",
            r#"{"a":1,"b":[2,3],"c":{"d":"é"}}"#,
            r#"{"price":15.25}"#,
        ] {
            assert!(canonical(json), "{json}");
            let v: Value = serde_json::from_str(json).unwrap();
            assert_eq!(v.to_string(), json);
        }
        for json in [
            "[ ]",
            "{ }",
            "[1, 2]",
            "[1 ,2]",
            r#"{"a" :1}"#,
            r#"{"a": 1}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":1.50}"#,
            r#"{"a":-0.0}"#,
            r#"["\n"]"#,
            "[-0]",
            r#"{"a":[1,{"c":2,"b":1}]}"#,
        ] {
            assert!(!canonical(json), "{json}");
        }
    }
}
