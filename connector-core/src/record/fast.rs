//! Export rows shaped straight from their text and tape (see
//! [`crate::parse::RowBuf`]) into the NDJSON a batch carries: the same bytes
//! `serde_json` would write for the record [`Shaper::event`] or
//! [`Shaper::object`] builds, and the same key, without building a
//! `serde_json::Map`. Keys are written sorted (a `Map` iterates sorted),
//! strings without escapes and short integers are copied as they are, and the
//! shaping rules take the allocation-free timestamp path.
//!
//! Whatever this path does not handle exactly (duplicate keys, a value a
//! rule must rewrite in an unusual shape is fine: it goes through a `Value`;
//! but a record that contradicts its schema) makes [`Shaper::shape_row`]
//! return `None`, and the caller takes the general path, which also reports
//! the violation. `tests/integration/tests/golden_output.rs` and the tests
//! below compare both paths byte for byte.

use std::cmp::Ordering;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::sha4;
use super::{Shaper, TRANSACTIONAL_DATA, hex16, identity_index, is_export_timestamp};
use crate::catalog::{EVENT_KEY_FIELD, RowShape};
use crate::parse::Row;
use crate::parse::bytes::{compare_bytes, same_bytes};
use crate::parse::tape::{Node, NodeKind, decode_string, is_plain_decimal, scan_row};
use crate::read::conform::{Conformance, LayoutChecks, Shape};
use crate::time::{self, fast::Utc};

/// What the fast path needs beyond the shaper: how the stream's rows are
/// checked, keyed and tracked.
pub(crate) struct RowSpec<'a> {
    pub(crate) rows: RowShape,
    pub(crate) conform: &'a Conformance,
    pub(crate) key_fields: &'a [&'static str],
    pub(crate) cursor_field: &'a str,
}

/// A row written by the fast path. Its synthetic key and key fingerprint
/// wait in [`PendingKeys`] until [`PendingKeys::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastRow {
    /// The cursor field's value as epoch ms, if it is a timestamp.
    pub(crate) cursor_ms: Option<i64>,
}

/// The SHA-256 hashes of rows written by the fast path (synthetic keys,
/// key fingerprints), put off until a run of rows is written so that they
/// are hashed together: four at a time where there are no SHA instructions
/// (`sha4`). Until then a row's key is a placeholder in the text.
///
/// The hash inputs are exactly what the recipes feed SHA-256 one row at a
/// time, so keys and fingerprints do not change.
#[derive(Debug, Default)]
pub(crate) struct PendingKeys {
    /// The hash inputs back to back, each padded for `sha4` when it hashes
    /// them; input `i` ends at `ends[i]` (padding included) and is
    /// `lens[i]` bytes long (without).
    input: Vec<u8>,
    ends: Vec<usize>,
    lens: Vec<usize>,
    /// What each input's digest is for, in the same order.
    uses: Vec<KeyUse>,
    /// Room for the digests.
    digests: Vec<[u8; 32]>,
}

/// What a pending digest is for.
#[derive(Debug, Clone, Copy)]
struct KeyUse {
    /// Where the row's key placeholder starts in the text: the digest's
    /// first 16 bytes in hex replace it.
    key_at: Option<usize>,
    /// The row (the caller's number for it) whose key fingerprint the
    /// digest's first 16 bytes are.
    row: Option<usize>,
}

impl PendingKeys {
    /// Ends the input being assembled and records what its digest is for.
    fn push(&mut self, key_at: Option<usize>, row: Option<usize>) {
        let len = self.input.len() - self.ends.last().copied().unwrap_or(0);
        if sha4::MULTI_BUFFER {
            sha4::pad(&mut self.input, len);
        }
        self.ends.push(self.input.len());
        self.lens.push(len);
        self.uses.push(KeyUse { key_at, row });
    }

    /// The digest of the input being assembled, now (which then is gone).
    fn digest_now(&mut self) -> [u8; 32] {
        let start = self.ends.last().copied().unwrap_or(0);
        let digest = Sha256::digest(&self.input[start..]).into();
        self.input.truncate(start);
        digest
    }

    /// Whether no hash is pending.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.uses.is_empty()
    }

    /// Hashes every pending input, writes the keys into `text` (the text
    /// the rows were written to, grown only at its end since) and hands
    /// each row's fingerprint to `fingerprint` (row, fingerprint).
    pub(crate) fn settle(&mut self, text: &mut String, mut fingerprint: impl FnMut(usize, u128)) {
        sha4::digest_all(&self.input, &self.ends, &self.lens, &mut self.digests);
        for (u, digest) in self.uses.iter().zip(&self.digests) {
            if let Some(at) = u.key_at {
                text.replace_range(at..at + KEY_PLACEHOLDER.len(), &hex16(digest));
            }
            if let Some(row) = u.row {
                fingerprint(row, u128::from_be_bytes(first16(digest)));
            }
        }
        self.input.clear();
        self.ends.clear();
        self.lens.clear();
        self.uses.clear();
    }
}

/// Buffers reused from row to row.
#[derive(Debug, Default)]
pub(crate) struct RowScratch {
    /// Tape indices being ordered: a stack on which each object sorts its
    /// members' slice.
    order: Vec<u32>,
    /// The top-level fields as written, in order.
    written: Vec<Written>,
    /// The previous row's top-level keys in document order, each ended by a
    /// NUL (which no taped key contains), and the order that sorts them:
    /// rows of one export share their layout, so most rows skip the sort.
    layout_keys: String,
    layout_order: Vec<u32>,
    /// Room to apply `layout_order`.
    reorder: Vec<u32>,
    /// What the shaping rules and the schema say about each field of the
    /// layout, in sorted order: worked out once per layout, not per row.
    layout_rules: Vec<Rules>,
    layout_checks: LayoutChecks,
    /// Per field of the layout, in sorted order, what precedes its value
    /// (`,"key":`, without the comma for the first): `layout_heads` holds
    /// them back to back, `layout_head_ends` where each ends.
    layout_heads: String,
    layout_head_ends: Vec<usize>,
    /// The tape of a decoded `transactionalData` object.
    decoded_tape: Vec<Node>,
    /// `transactionalData`'s text unescaped.
    unescaped: String,
}

/// What applies to one top-level field, by its name.
#[derive(Debug, Clone, Copy, Default)]
struct Rules {
    /// A declared timestamp.
    declared: bool,
    /// An object whose declared timestamp members are normalised: the
    /// index of its entry in the shaper's nested timestamp paths.
    nested: Option<usize>,
    /// `transactionalData` of an event, decoded from its JSON text.
    decoded: bool,
    /// Text in the export's timestamp format is a custom date.
    custom_dates: bool,
    /// The stream's cursor.
    cursor: bool,
    /// Its place among the synthetic key's identity fields.
    identity: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
struct Written {
    /// Its tape index, or [`SYNTHETIC_KEY`].
    node: u32,
    shape: Shape,
    /// Its value's span in the output.
    start: usize,
    end: usize,
}

/// The synthetic key's place among a row's members (it is not on the tape).
const SYNTHETIC_KEY: u32 = u32::MAX;

/// Written where the synthetic key goes, and replaced once it is known.
const KEY_PLACEHOLDER: &str = "00000000000000000000000000000000";

/// Nothing fast to do here: the general path takes the row.
struct Slow;

type Fast<T> = Result<T, Slow>;

impl Shaper {
    /// Appends the shaped record of `row` to `out` as JSON, or returns
    /// `None` (and `out`, `keys` unchanged) when the general path must take
    /// it. The record's key and fingerprint are pending in `keys`, for row
    /// number `row_no`, until `keys` settles.
    pub(crate) fn shape_row(
        &self,
        spec: &RowSpec<'_>,
        row: Row<'_>,
        out: &mut String,
        scratch: &mut RowScratch,
        keys: &mut PendingKeys,
        row_no: usize,
    ) -> Option<FastRow> {
        let tape = row.tape?;
        let start = out.len();
        let mut w = Writer {
            shaper: self,
            spec,
            text: row.text,
            tape,
            out,
            scratch,
            row_tape: true,
            keys,
            row_no,
        };
        match w.row() {
            Ok(done) => Some(done),
            Err(Slow) => {
                w.scratch.order.clear();
                out.truncate(start);
                None
            }
        }
    }
}

struct Writer<'a, 'o> {
    shaper: &'a Shaper,
    spec: &'a RowSpec<'a>,
    text: &'a str,
    tape: &'a [Node],
    out: &'o mut String,
    scratch: &'o mut RowScratch,
    /// The tape is the row's (not a decoded `transactionalData`'s): its
    /// node 0 is the row, whose layout is cached.
    row_tape: bool,
    keys: &'o mut PendingKeys,
    row_no: usize,
}

/// A member's key as bytes ([`member_key`] without the `str` slicing).
fn key_bytes<'a>(tape: &[Node], text: &'a str, i: u32) -> &'a [u8] {
    if i == SYNTHETIC_KEY {
        EVENT_KEY_FIELD.as_bytes()
    } else {
        let n = &tape[i as usize];
        text.as_bytes()
            .get(n.key_start as usize..n.key_end as usize)
            .unwrap_or_default()
    }
}

fn member_key<'a>(tape: &[Node], text: &'a str, i: u32) -> &'a str {
    if i == SYNTHETIC_KEY {
        EVENT_KEY_FIELD
    } else {
        tape[i as usize].key(text)
    }
}

impl Writer<'_, '_> {
    fn row(&mut self) -> Fast<FastRow> {
        let event = self.spec.rows == RowShape::Event;
        let base = self.sorted_members(0, event)?;
        let end = self.scratch.order.len();
        self.scratch.written.clear();
        self.out.push('{');
        let mut key_at = None;
        let mut cursor_ms = None;
        let mut head_start = 0;
        for j in base..end {
            let node = self.scratch.order[j];
            let rules = self.scratch.layout_rules[j - base];
            let head_end = self.scratch.layout_head_ends[j - base];
            self.out
                .push_str(&self.scratch.layout_heads[head_start..head_end]);
            head_start = head_end;
            let start = self.out.len();
            let shape = if node == SYNTHETIC_KEY {
                key_at = Some(start + 1);
                self.out.push('"');
                self.out.push_str(KEY_PLACEHOLDER);
                self.out.push('"');
                Shape::Str
            } else {
                let (shape, ms) = self.field(rules, node as usize)?;
                if rules.cursor {
                    cursor_ms = ms.or_else(|| written_ms(&self.out[start..]));
                }
                shape
            };
            self.scratch.written.push(Written {
                node,
                shape,
                start,
                end: self.out.len(),
            });
        }
        self.out.push('}');
        self.scratch.order.truncate(base);
        let scratch = &*self.scratch;
        let fits = scratch
            .layout_checks
            .fits(scratch.written.iter().map(|w| w.shape));
        if !fits {
            return Err(Slow);
        }
        // Nothing fails from here on: the row's hashes can be queued.
        let done = FastRow { cursor_ms };
        let key_fields = self.spec.key_fields;
        if let Some(at) = key_at {
            self.event_key_input();
            if let [EVENT_KEY_FIELD] = key_fields {
                // The synthetic key already is a 128-bit hash: the
                // fingerprint too.
                self.keys.push(Some(at), Some(self.row_no));
                return Ok(done);
            }
            if key_fields.contains(&EVENT_KEY_FIELD) {
                // The fingerprint hashes the key's text: the key first.
                let digest = self.keys.digest_now();
                self.out.replace_range(at..at + 32, &hex16(&digest));
            } else {
                self.keys.push(Some(at), None);
            }
        }
        self.fields_fingerprint_input();
        self.keys.push(None, Some(self.row_no));
        Ok(done)
    }

    /// Pushes the members of the object at tape index `at` onto the order
    /// stack, sorted by key (plus the synthetic key's slot, replacing any
    /// `_key` the row has, when `synthetic`); returns where they start.
    fn sorted_members(&mut self, at: usize, synthetic: bool) -> Fast<usize> {
        let (tape, text) = (self.tape, self.text);
        let order = &mut self.scratch.order;
        let base = order.len();
        let mut c = at + 1;
        while c < tape[at].next as usize {
            if !(synthetic
                && same_bytes(key_bytes(tape, text, c as u32), EVENT_KEY_FIELD.as_bytes()))
            {
                order.push(c as u32);
            }
            c = tape[c].next as usize;
        }
        if synthetic {
            order.push(SYNTHETIC_KEY);
        }
        let row = at == 0 && self.row_tape;
        if row && self.reuse_layout(base) {
            return Ok(base);
        }
        let members = &mut self.scratch.order[base..];
        // Fields of one object usually come sorted already, or nearly,
        // which insertion sort handles in about one pass.
        for i in 1..members.len() {
            let mut j = i;
            while j > 0
                && compare_bytes(
                    key_bytes(tape, text, members[j - 1]),
                    key_bytes(tape, text, members[j]),
                ) == Ordering::Greater
            {
                members.swap(j - 1, j);
                j -= 1;
            }
        }
        // Duplicate keys: serde_json keeps the last; the general path does that.
        if members
            .windows(2)
            .any(|w| same_bytes(key_bytes(tape, text, w[0]), key_bytes(tape, text, w[1])))
        {
            return Err(Slow);
        }
        if row {
            self.remember_layout(base);
        }
        Ok(base)
    }

    /// Sorts the top-level members at `base..` (document order) the way
    /// the previous row's were sorted, if they have the same keys in the
    /// same order.
    fn reuse_layout(&mut self, base: usize) -> bool {
        let (tape, text) = (self.tape, self.text);
        let scratch = &mut *self.scratch;
        let members = &scratch.order[base..];
        if members.len() != scratch.layout_order.len() {
            return false;
        }
        // Compared as bytes: slicing `str`s would check char boundaries.
        let mut rest = scratch.layout_keys.as_bytes();
        for &m in members {
            let key = key_bytes(tape, text, m);
            match rest.split_at_checked(key.len()) {
                Some((head, [0, r @ ..])) if same_bytes(head, key) => rest = r,
                _ => return false,
            }
        }
        scratch.reorder.clear();
        scratch.reorder.extend_from_slice(members);
        for (slot, &from) in scratch.layout_order.iter().enumerate() {
            scratch.order[base + slot] = scratch.reorder[from as usize];
        }
        true
    }

    /// Records the layout of the sorted top-level members at `base..`.
    fn remember_layout(&mut self, base: usize) {
        let (tape, text) = (self.tape, self.text);
        let (shaper, spec) = (self.shaper, self.spec);
        let scratch = &mut *self.scratch;
        let sorted = &scratch.order[base..];
        // Document order is tape order (the synthetic key's slot, last).
        scratch.reorder.clear();
        scratch.reorder.extend_from_slice(sorted);
        scratch.reorder.sort_unstable();
        scratch.layout_keys.clear();
        for &m in &scratch.reorder {
            scratch.layout_keys.push_str(member_key(tape, text, m));
            scratch.layout_keys.push('\0');
        }
        scratch.layout_order.clear();
        for m in sorted {
            let from = scratch.reorder.binary_search(m).unwrap_or_default();
            scratch.layout_order.push(from as u32);
        }
        scratch.layout_rules.clear();
        for &m in sorted {
            let rules = if m == SYNTHETIC_KEY {
                Rules::default()
            } else {
                rules_for(shaper, spec, member_key(tape, text, m))
            };
            scratch.layout_rules.push(rules);
        }
        let keys = sorted.iter().map(|&m| member_key(tape, text, m));
        spec.conform.layout_checks(keys, &mut scratch.layout_checks);
        scratch.layout_heads.clear();
        scratch.layout_head_ends.clear();
        for (j, &m) in sorted.iter().enumerate() {
            if j > 0 {
                scratch.layout_heads.push(',');
            }
            // Keys on the tape have no escapes (the scanner leaves those to
            // serde_json) and no control characters: written as they are.
            scratch.layout_heads.push('"');
            scratch.layout_heads.push_str(member_key(tape, text, m));
            scratch.layout_heads.push_str("\":");
            scratch.layout_head_ends.push(scratch.layout_heads.len());
        }
    }

    fn push_key(&mut self, key: &str) {
        // Keys on the tape have no escapes (the scanner leaves those to
        // serde_json) and no control characters: they are written as they are.
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    /// Writes a top-level member's value as the shaping rules say.
    fn field(&mut self, rules: Rules, at: usize) -> Fast<(Shape, Option<i64>)> {
        let node = self.tape[at];
        let shaper = self.shaper;
        let Rules {
            declared,
            nested,
            decoded,
            custom_dates,
            ..
        } = rules;
        match node.kind {
            NodeKind::Str if declared || custom_dates => {
                let s = node.str_value(self.text);
                if !declared && !is_export_timestamp(s) {
                    self.out.push_str(node.text(self.text));
                    return Ok((Shape::Str, None));
                }
                if let Some(t) = Utc::parse(s.as_bytes()) {
                    return Ok((Shape::Str, Some(self.push_timestamp(t))));
                }
            }
            NodeKind::Object if !declared && let Some(n) = nested => {
                let fields = shaper.timestamps.nested[n].1.as_slice();
                return Ok((self.canonical(at, fields)?, None));
            }
            NodeKind::EscStr if custom_dates => {}
            NodeKind::Str | NodeKind::EscStr if decoded && !declared => {
                if let Some(shape) = self.decoded_object(at)? {
                    return Ok((shape, None));
                }
            }
            _ if !declared && nested.is_none() && !decoded => {
                return Ok((self.canonical(at, &[])?, None));
            }
            _ => {}
        }
        // The rules in their general form, through a value.
        let key = node.key(self.text);
        let mut v: Value = serde_json::from_str(node.text(self.text)).map_err(|_| Slow)?;
        shaper.shape_value(self.spec.rows, key, &mut v);
        self.push_value(&v)?;
        Ok((Shape::of(&v), None))
    }

    /// `transactionalData`'s JSON-encoded object, written decoded (as
    /// `Shaper::shape_value` decodes it) straight from a tape of its text.
    /// `None` when the scanner does not take the text (not an object,
    /// surrounding spaces, anything it leaves to serde_json): the general
    /// form decides then.
    fn decoded_object(&mut self, at: usize) -> Fast<Option<Shape>> {
        let node = self.tape[at];
        let mut unescaped = std::mem::take(&mut self.scratch.unescaped);
        let raw = if node.kind == NodeKind::Str {
            node.str_value(self.text)
        } else if decode_string(node.text(self.text), &mut unescaped) {
            unescaped.as_str()
        } else {
            self.scratch.unescaped = unescaped;
            return Err(Slow);
        };
        let mut tape = std::mem::take(&mut self.scratch.decoded_tape);
        tape.clear();
        let shape = if scan_row(raw.as_bytes(), &mut tape) {
            let mut inner = Writer {
                shaper: self.shaper,
                spec: self.spec,
                text: raw,
                tape: &tape,
                out: &mut *self.out,
                scratch: &mut *self.scratch,
                row_tape: false,
                keys: &mut *self.keys,
                row_no: self.row_no,
            };
            Some(inner.canonical(0, &[]))
        } else {
            None
        };
        self.scratch.decoded_tape = tape;
        self.scratch.unescaped = unescaped;
        shape.transpose()
    }

    fn push_timestamp(&mut self, t: Utc) -> i64 {
        self.out.push('"');
        t.append_rfc3339(self.out);
        self.out.push('"');
        t.epoch_ms()
    }

    fn push_value(&mut self, v: &Value) -> Fast<()> {
        let text = serde_json::to_string(v).map_err(|_| Slow)?;
        self.out.push_str(&text);
        Ok(())
    }

    /// Writes the value at tape index `at` as serde_json writes its `Value`
    /// (members sorted, compact); members named in `timestamps` are
    /// normalised as timestamps.
    fn canonical(&mut self, at: usize, timestamps: &[&str]) -> Fast<Shape> {
        let node = self.tape[at];
        let text = self.text;
        Ok(match node.kind {
            NodeKind::Str => {
                self.out.push_str(node.text(text));
                Shape::Str
            }
            NodeKind::Int => {
                self.out.push_str(node.text(text));
                Shape::Number { integral: true }
            }
            NodeKind::True | NodeKind::False => {
                self.out.push_str(node.text(text));
                Shape::Bool
            }
            NodeKind::Null => {
                self.out.push_str("null");
                Shape::Null
            }
            NodeKind::Num if is_plain_decimal(node.text(text)) => {
                self.out.push_str(node.text(text));
                Shape::Number { integral: false }
            }
            NodeKind::EscStr | NodeKind::Num => {
                let v: Value = serde_json::from_str(node.text(text)).map_err(|_| Slow)?;
                self.push_value(&v)?;
                Shape::of(&v)
            }
            NodeKind::Array => {
                self.out.push('[');
                let (mut ints, mut strs, mut objects) = (true, true, true);
                let mut c = at + 1;
                while c < node.next as usize {
                    if c > at + 1 {
                        self.out.push(',');
                    }
                    let shape = self.canonical(c, &[])?;
                    ints &= matches!(shape, Shape::Null | Shape::Number { integral: true });
                    strs &= matches!(shape, Shape::Null | Shape::Str);
                    objects &= matches!(shape, Shape::Null | Shape::Object);
                    c = self.tape[c].next as usize;
                }
                self.out.push(']');
                Shape::Array {
                    ints,
                    strs,
                    objects,
                }
            }
            NodeKind::Object => {
                let base = self.sorted_members(at, false)?;
                let end = self.scratch.order.len();
                self.out.push('{');
                for j in base..end {
                    let c = self.scratch.order[j] as usize;
                    let key = self.tape[c].key(text);
                    if j > base {
                        self.out.push(',');
                    }
                    self.push_key(key);
                    if timestamps
                        .iter()
                        .any(|t| same_bytes(t.as_bytes(), key.as_bytes()))
                    {
                        self.timestamp(c)?;
                    } else {
                        self.canonical(c, &[])?;
                    }
                }
                self.out.push('}');
                self.scratch.order.truncate(base);
                Shape::Object
            }
        })
    }

    /// A nested timestamp member, as `normalize_timestamp_in_place` leaves it.
    fn timestamp(&mut self, at: usize) -> Fast<()> {
        let node = self.tape[at];
        if node.kind == NodeKind::Str
            && let Some(t) = Utc::parse(node.str_value(self.text).as_bytes())
        {
            self.push_timestamp(t);
            return Ok(());
        }
        let mut v: Value = serde_json::from_str(node.text(self.text)).map_err(|_| Slow)?;
        time::normalize_timestamp_in_place(&mut v);
        self.push_value(&v)
    }

    /// Appends the synthetic key's hash input to the pending keys, from
    /// the identity fields as written (the recipe of `event_key`).
    fn event_key_input(&mut self) {
        let mut found: [Option<(usize, usize)>; super::EVENT_IDENTITY_FIELDS.len()] =
            [None; super::EVENT_IDENTITY_FIELDS.len()];
        let scratch = &*self.scratch;
        for (w, rules) in scratch.written.iter().zip(&scratch.layout_rules) {
            if let Some(i) = rules.identity {
                found[i] = Some((w.start, w.end));
            }
        }
        let h = &mut self.keys.input;
        h.extend_from_slice(self.shaper.stream.as_bytes());
        for span in found {
            h.push(0x1f);
            if let Some((start, end)) = span {
                hash_written(h, &self.out[start..end]);
            }
        }
    }

    /// Appends the hash input of the record's `key_fingerprint` to the
    /// pending keys, from its fields as written.
    fn fields_fingerprint_input(&mut self) {
        let h = &mut self.keys.input;
        for field in self.spec.key_fields {
            h.push(0x1f);
            let written = self
                .scratch
                .written
                .iter()
                .find(|w| member_key(self.tape, self.text, w.node) == *field);
            if let Some(w) = written {
                hash_written(h, &self.out[w.start..w.end]);
            }
        }
    }
}

/// What applies to the top-level field `key`.
fn rules_for(shaper: &Shaper, spec: &RowSpec<'_>, key: &str) -> Rules {
    let nested = shaper
        .timestamps
        .nested
        .iter()
        .position(|(name, _)| *name == key);
    let event = spec.rows == RowShape::Event;
    let decoded = event && key == TRANSACTIONAL_DATA;
    Rules {
        declared: shaper.timestamps.top.contains(&key),
        nested,
        decoded,
        custom_dates: shaper.user_fields && nested.is_none() && !decoded,
        cursor: key == spec.cursor_field,
        identity: identity_index(key).filter(|_| event),
    }
}

fn first16(digest: &[u8]) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes
}

/// Appends a written value's canonical text (as `hash_canonical` defines
/// it) to a hash input: a string's text, nothing for null, else the JSON.
fn hash_written(h: &mut Vec<u8>, json: &str) {
    // Not `==` (wasm's `memcmp` goes byte by byte) nor `str::contains`
    // (`memchr` has a WebAssembly SIMD search).
    if same_bytes(json.as_bytes(), b"null") {
        return;
    }
    match json.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) if memchr::memchr(b'\\', inner.as_bytes()).is_none() => {
            h.extend_from_slice(inner.as_bytes())
        }
        Some(_) => {
            if let Ok(s) = serde_json::from_str::<String>(json) {
                h.extend_from_slice(s.as_bytes());
            }
        }
        None => h.extend_from_slice(json.as_bytes()),
    }
}

/// A written value's epoch ms, if it is a timestamp.
fn written_ms(json: &str) -> Option<i64> {
    let v: Value = serde_json::from_str(json).ok()?;
    time::wire_timestamp_ms(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use crate::config::Config;
    use crate::parse::{BodyFormat, BodyParser, ParseOptions};
    use crate::record::{key_fingerprint, timestamp_ms};

    /// Both paths over every row of `body`: the fast path must write what
    /// serde_json writes for the general path's record, with the same key
    /// fingerprint and cursor. Returns how many rows the fast path took.
    fn compare(stream: &str, body: &str) -> usize {
        let def = catalog::find(stream).expect("a stream");
        let config = Config::from_json(&serde_json::json!({})).expect("config");
        let shaper = Shaper::new(&def);
        let conform = Conformance::new(&def, &config);
        let key_fields = def.key_fields(&config);
        let rows_of = match def.family {
            catalog::Family::Export { rows, .. } => rows,
            _ => RowShape::Object,
        };
        let spec = RowSpec {
            rows: rows_of,
            conform: &conform,
            key_fields: &key_fields,
            cursor_field: "createdAt",
        };
        let mut parser = BodyParser::new(BodyFormat::Ndjson, ParseOptions::default());
        parser.push(body.as_bytes()).expect("valid rows");
        parser.finish().expect("valid rows");
        let rows = parser.take_rows();
        let mut scratch = RowScratch::default();
        let mut keys = PendingKeys::default();
        // All rows into one text, their keys settled together (as a read
        // does), then each compared with the general path's record.
        let mut out = String::from("prefix");
        let mut written = Vec::new();
        for (n, row) in rows.iter().enumerate() {
            let general = shaper.shape(rows_of, row.value().as_object().cloned().expect("obj"));
            let start = out.len();
            let Some(done) = shaper.shape_row(&spec, row, &mut out, &mut scratch, &mut keys, n)
            else {
                assert_eq!(
                    out.len(),
                    start,
                    "a row left to the general path writes nothing"
                );
                continue;
            };
            assert_eq!(done.cursor_ms, timestamp_ms(&general, "createdAt"));
            written.push((n, start..out.len(), general, row.text.to_string()));
        }
        let mut fingerprints = vec![None; rows.len()];
        keys.settle(&mut out, |n, fp| {
            assert!(
                fingerprints[n].replace(fp).is_none(),
                "one fingerprint a row"
            );
        });
        assert!(keys.is_empty());
        assert!(out.starts_with("prefix"));
        let fast = written.len();
        for (n, span, general, text) in written {
            let want = serde_json::to_string(&general).expect("serialises");
            assert_eq!(out[span], want, "row {text}");
            assert_eq!(
                fingerprints[n],
                Some(key_fingerprint(&general, &key_fields)),
                "row {text}"
            );
        }
        fast
    }

    #[test]
    fn export_rows_are_written_as_the_general_path_writes_them() {
        let rows = [
            // The usual shape, fields in the export's order.
            r#"{"email":"a@x.io","messageTypeId":47258,"templateId":3043605,"messageId":"m1","createdAt":"2024-02-01 10:11:12 +00:00","campaignId":2220229,"itblInternal":{"documentCreatedAt":"2024-02-01 10:11:12 +00:00","documentUpdatedAt":"2024-02-01 10:11:13.250 +00:00"}}"#,
            // The same layout again (the sort is reused), then reordered.
            r#"{"email":"b@x.io","messageTypeId":1,"templateId":2,"messageId":"m2","createdAt":"2024-02-01 10:11:13 +00:00","campaignId":3,"itblInternal":{"documentUpdatedAt":"2024-02-01 10:11:13 +00:00"}}"#,
            r#"{"messageTypeId":1,"email":"b@x.io","templateId":2,"messageId":"m2","createdAt":"2024-02-01 10:11:13 +00:00","campaignId":3,"itblInternal":{}}"#,
            r#"{"messageTypeId":1,"email":"b@x.io","templateId":2,"messageId":"m2","createdAt":"2024-02-01 10:11:13 +00:00","campaignId":3,"itblInternal":{}}"#,
            // Sorted already, RFC 3339 input, fractions, nulls, a `_key` of its own.
            r#"{"_key":"theirs","campaignId":null,"createdAt":"2024-02-01T10:11:12.5Z","email":"b@x.io","templateId":7}"#,
            // Escapes, unicode, floats, -0, nested arrays and objects unsorted.
            r#"{"email":"c\u0040x.io","createdAt":"2024-02-01 10:11:12 +00:00","name":"Zoë \"Z\"\n","price":12.50,"zero":-0,"tags":["b","a",null],"nested":{"z":1,"a":{"y":[1.0,2],"b":"x\/y"}},"ok":true,"no":false}"#,
            // Other timestamp shapes (chrono's path), a numeric createdAt.
            r#"{"email":"d@x.io","createdAt":"2024-02-01 10:11:12 +02:00","campaignId":1}"#,
            r#"{"email":"e@x.io","createdAt":1706782272000,"campaignId":1}"#,
            r#"{"email":"f@x.io","createdAt":"not a time","campaignId":1}"#,
            // itblInternal that is not an object; transactionalData as text.
            r#"{"email":"g@x.io","createdAt":"2024-02-01 10:11:12 +00:00","itblInternal":null,"transactionalData":"{\"sku\":\"A-1\",\"price\":20,\"at\":\"x\"}"}"#,
            r#"{"email":"h@x.io","createdAt":"2024-02-01 10:11:12 +00:00","transactionalData":"[1,2]"}"#,
            r#"{"email":"i@x.io","createdAt":"2024-02-01 10:11:12 +00:00","transactionalData":{"already":"an object"}}"#,
            // Keys that sort around `_key` and each other by bytes.
            r#"{"Z":1,"_":2,"_key2":3,"a":4,"é":5,"email":"j@x.io","createdAt":"2024-02-01 10:11:12 +00:00"}"#,
            r#"{}"#,
        ];
        let body = rows.join("\n");
        let fast = compare("email_send", &body);
        assert!(
            fast >= rows.len() - 1,
            "only {fast} rows took the fast path"
        );
        compare("custom_event", &body);
        compare("purchase", &body);
    }

    #[test]
    fn custom_dates_of_users_and_unusual_rows() {
        let rows = [
            r#"{"email":"a@x.io","userId":"u1","signupDate":"2024-08-23 22:10:54 +00:00","note":"2024-08-23 22:10:54 maybe","profileUpdatedAt":"2024-08-23 22:10:54.250 +00:00","dataFields":{"x":"2024-08-23 22:10:54 +00:00"}}"#,
            r#"{"email":"b@x.io","odd":"2024-08-23 22:10:54 +05:30","esc":"2024-08-23 22:10:54 \u002b00:00"}"#,
            // A duplicate key (serde_json keeps the last): the general path's.
            r#"{"email":"c@x.io","email":"d@x.io"}"#,
            // A schema violation (text where an integer is declared).
            r#"{"email":"e@x.io","emailListIds":["x"]}"#,
        ];
        let body = rows.join("\n");
        assert!(compare("users", &body) >= 2);
        let violation =
            r#"{"email":"a@x.io","createdAt":"2024-02-01 10:11:12 +00:00","templateId":"seven"}"#;
        assert_eq!(
            compare("email_send", violation),
            0,
            "violations go the general way"
        );
    }

    /// Random rows: the keys export rows have (and a few others), values of
    /// every JSON type with the shapes the rules look at (export and RFC 3339
    /// timestamps, JSON text in `transactionalData`, escapes, fractions,
    /// nested objects), written in random order with random spacing.
    fn row_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1_000_000i64..1_000_000).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            Just(Value::from(-0.0)),
            Just(Value::from("2024-02-01 10:11:12 +00:00")),
            Just(Value::from("2024-02-01 10:11:12.250 +00:00")),
            Just(Value::from("2024-02-01T10:11:12Z")),
            Just(Value::from("2024-02-01 10:11:12 +05:30")),
            Just(Value::from(
                "{\"a\":1,\"b\":\"2024-02-01 10:11:12 +00:00\"}"
            )),
            "[a-z@. \"\\\\\n\té😀\u{1}]{0,12}".prop_map(Value::from),
        ];
        let value = scalar.prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Z_]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        // Mostly the type the schema declares for the key, so that most rows
        // fit and take the fast path; sometimes anything.
        let ts = prop_oneof![
            Just(Value::from("2024-02-01 10:11:12 +00:00")),
            Just(Value::from("2024-02-01 10:11:12.250 +00:00")),
            Just(Value::from("2024-02-01T10:11:12Z")),
            Just(Value::from("2024-02-01 10:11:12 +05:30")),
            Just(Value::from("someday")),
        ];
        let text = "[a-z@. \"\\\\\n\té😀\u{1}]{0,12}".prop_map(Value::from);
        let int = (-1_000_000i64..1_000_000).prop_map(Value::from);
        let field = prop_oneof![
            (
                Just("email"),
                prop_oneof![3 => text.clone(), 1 => value.clone()]
            ),
            (
                Just("createdAt"),
                prop_oneof![3 => ts.clone(), 1 => value.clone()]
            ),
            (
                Just("campaignId"),
                prop_oneof![3 => int.clone(), 1 => value.clone()]
            ),
            (
                Just("templateId"),
                prop_oneof![3 => int, 1 => value.clone()]
            ),
            (Just("messageId"), text.clone()),
            (
                Just("itblInternal"),
                prop_oneof![
                3 => Just(serde_json::json!({"documentCreatedAt": "2024-02-01 10:11:12 +00:00", "x": [1, 2.5]})),
                1 => value.clone()]
            ),
            (
                Just("transactionalData"),
                prop_oneof![
                    1 => value.clone(),
                    // JSON text, as Iterable sends it: decoded when it is an object.
                    1 => value.clone().prop_map(|v| Value::from(v.to_string())),
                    1 => prop_oneof![
                        Just(r#"{"z":1,"a":{"y":2.50,"b":"x"},"m":[3,{"k":true}]}"#),
                        Just(r#" {"a":1} "#),
                        Just(r#"{"a":1,"a":2}"#),
                        Just(r#"{"a":"\u00e9\n\"q\"","b":[1,2,{"c":null}]}"#),
                        Just(r#"{"a":1"#),
                        Just("{}"),
                        Just("[1,{}]"),
                        Just(r#"{"x":-0,"y":1e5,"z":12345678901234567890,"w":0.1}"#),
                    ]
                    .prop_map(Value::from),
                ]
            ),
            (Just("_key"), value.clone()),
            (Just("userId"), text.clone()),
            (Just("eventName"), text),
            (Just("signupDate"), ts),
            (Just("Zed"), value.clone()),
            (Just("é"), value),
        ];
        (proptest::collection::vec(field, 0..10), any::<u64>()).prop_map(|(fields, seed)| {
            // Written by hand: serde_json would sort the keys and drop
            // repeats, which is what the fast path must cope with.
            let mut row = String::from("{");
            let mut keys = std::collections::BTreeSet::new();
            // A repeated key only now and then (the general path's case).
            let fields: Vec<_> = fields
                .into_iter()
                .filter(|(k, _)| keys.insert(*k) || seed % 7 == 0)
                .collect();
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    row.push_str(if (seed >> (i % 64)) & 1 == 1 {
                        " , "
                    } else {
                        ","
                    });
                }
                row.push_str(&format!("\"{k}\":{v}"));
            }
            row.push('}');
            row
        })
    }

    #[test]
    fn random_rows_are_written_as_the_general_path_writes_them() {
        use proptest::prelude::*;
        let (rows_seen, fast) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        proptest!(ProptestConfig::with_cases(500), |(rows in proptest::collection::vec(row_strategy(), 1..8))| {
            let body = rows.join("\n");
            for stream in ["email_send", "custom_event", "users"] {
                fast.set(fast.get() + compare(stream, &body));
                rows_seen.set(rows_seen.get() + rows.len());
            }
        });
        // The comparison means something only if the fast path takes rows.
        let (fast, rows_seen) = (fast.get(), rows_seen.get());
        assert!(
            fast * 4 > rows_seen,
            "{fast} of {rows_seen} rows took the fast path"
        );
    }
}
