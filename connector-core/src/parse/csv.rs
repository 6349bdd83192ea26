//! RFC 4180 CSV with a header row (`data.csv`, campaign and experiment metrics).
//!
//! A byte-at-a-time state machine, so a chunk may end anywhere: inside a quoted
//! field, between the two quotes of `""`, between `\r` and `\n`. Only the
//! current record is buffered.
//!
//! Each data row becomes an object keyed by the header. A quoted cell is always a
//! string (`""` is the empty string); an empty unquoted cell is `null`, which is
//! how Iterable's metrics leave inapplicable columns blank (iterable-api.md §9).
//!
//! Leniencies, as in common CSV readers: `\n` alone ends a record, a `"` inside
//! an unquoted field is a literal quote, a lone `\r` is a literal character, and
//! blank (empty or whitespace-only) lines are skipped. Text after a closing quote
//! (`"a"b`) makes the record malformed. Problems in the header are always fatal:
//! skipping it would turn the first data row into the header.

use serde_json::{Map, Value};

use super::{Output, ParseError, excerpt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field (nothing consumed yet).
    FieldStart,
    /// Inside a field that did not start with a quote.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Saw a `"` inside a quoted field: either an escaped `""` or the closing quote.
    QuoteInQuoted,
}

const AFTER_CLOSING_QUOTE: &str = "unexpected text after a closing quote";

#[derive(Debug)]
pub(crate) struct CsvParser {
    delimiter: u8,
    max_record_bytes: usize,
    state: State,
    /// Saw a `\r` outside quotes: a record end if `\n` follows, else a literal.
    pending_cr: bool,
    /// Contents of the current record's fields, back to back, unescaped.
    buf: Vec<u8>,
    /// End (in `buf`) and quotedness of each completed field of the current record.
    fields: Vec<(usize, bool)>,
    field_quoted: bool,
    /// First structural problem of the current record, reported when it ends.
    problem: Option<&'static str>,
    /// The current record was reported oversized: run the state machine to find
    /// its end, but keep nothing.
    discarding: bool,
    record_offset: u64,
    record_line: u64,
    /// Body offset of the next byte.
    offset: u64,
    /// `\n` bytes seen so far, quoted or not: physical lines for error reports.
    newlines: u64,
    header: Option<Vec<String>>,
}

impl CsvParser {
    /// `delimiter` must not be `"`, `\r` or `\n`.
    pub(crate) fn new(delimiter: u8, max_record_bytes: usize) -> Self {
        CsvParser {
            delimiter,
            max_record_bytes,
            state: State::FieldStart,
            pending_cr: false,
            buf: Vec::new(),
            fields: Vec::new(),
            field_quoted: false,
            problem: None,
            discarding: false,
            record_offset: 0,
            record_line: 1,
            offset: 0,
            newlines: 0,
            header: None,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Output) -> Result<(), ParseError> {
        for &b in chunk {
            self.offset += 1;
            if b == b'\n' {
                self.newlines += 1;
            }
            self.byte(b, out)?;
            if !self.discarding && self.record_len() > self.max_record_bytes as u64 {
                self.buf.clear();
                self.fields.clear();
                self.discarding = true;
                let e = self.error("record too long".to_owned());
                self.reject(e, out)?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut Output) -> Result<(), ParseError> {
        if self.pending_cr {
            self.pending_cr = false;
            return self.end_record(out);
        }
        match self.state {
            State::Quoted => {
                let result = if self.discarding {
                    Ok(())
                } else {
                    let e = self.error(format!(
                        "unterminated quoted field in {}",
                        excerpt(&self.buf)
                    ));
                    self.reject(e, out)
                };
                self.reset();
                result
            }
            // Nothing after the last record terminator.
            State::FieldStart if self.offset == self.record_offset => Ok(()),
            _ => self.end_record(out),
        }
    }

    fn byte(&mut self, b: u8, out: &mut Output) -> Result<(), ParseError> {
        if self.pending_cr {
            self.pending_cr = false;
            if b == b'\n' {
                return self.end_record(out);
            }
            if self.state == State::QuoteInQuoted {
                self.problem.get_or_insert(AFTER_CLOSING_QUOTE);
            }
            self.append(b'\r');
            self.state = State::Unquoted;
        }
        match (self.state, b) {
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::Quoted, _) => self.append(b),
            (State::QuoteInQuoted, b'"') => {
                self.append(b'"');
                self.state = State::Quoted;
            }
            (State::FieldStart, b'"') => {
                self.field_quoted = true;
                self.state = State::Quoted;
            }
            (_, b'\r') => self.pending_cr = true,
            (_, b'\n') => return self.end_record(out),
            (_, d) if d == self.delimiter => self.end_field(),
            (State::QuoteInQuoted, _) => {
                self.problem.get_or_insert(AFTER_CLOSING_QUOTE);
                self.append(b);
                self.state = State::Unquoted;
            }
            (State::FieldStart | State::Unquoted, _) => {
                self.append(b);
                self.state = State::Unquoted;
            }
        }
        Ok(())
    }

    /// Raw bytes of the current record so far, without a pending `\r`.
    fn record_len(&self) -> u64 {
        self.offset - self.record_offset - u64::from(self.pending_cr)
    }

    fn append(&mut self, b: u8) {
        if !self.discarding {
            self.buf.push(b);
        }
    }

    fn end_field(&mut self) {
        if !self.discarding {
            self.fields.push((self.buf.len(), self.field_quoted));
        }
        self.field_quoted = false;
        self.state = State::FieldStart;
    }

    fn end_record(&mut self, out: &mut Output) -> Result<(), ParseError> {
        self.end_field();
        let result = if self.discarding {
            Ok(())
        } else {
            self.emit_record(out)
        };
        self.reset();
        result
    }

    /// Forgets the current record; the next one starts at the next byte.
    fn reset(&mut self) {
        self.buf.clear();
        self.fields.clear();
        self.field_quoted = false;
        self.problem = None;
        self.discarding = false;
        self.state = State::FieldStart;
        self.record_offset = self.offset;
        self.record_line = self.newlines + 1;
    }

    fn is_blank(&self) -> bool {
        matches!(self.fields.as_slice(), [(_, false)])
            && self.buf.iter().all(|&b| b == b' ' || b == b'\t')
    }

    fn emit_record(&mut self, out: &mut Output) -> Result<(), ParseError> {
        if self.is_blank() {
            return Ok(());
        }
        if let Some(problem) = self.problem {
            let e = self.error(format!("{problem} in {}", excerpt(&self.buf)));
            return self.reject(e, out);
        }
        let cells = match split_cells(&self.buf, &self.fields) {
            Ok(cells) => cells,
            Err(index) => {
                let message = format!("invalid UTF-8 in field {}", index + 1);
                let e = self.error(message);
                return self.reject(e, out);
            }
        };
        let Some(header) = &self.header else {
            let names: Vec<String> = cells.iter().map(|(s, _)| (*s).to_owned()).collect();
            if let Some(dup) = first_duplicate(&names) {
                let message = format!("duplicate column {} in the header", excerpt(dup.as_bytes()));
                return Err(self.error(message));
            }
            self.header = Some(names);
            return Ok(());
        };
        if cells.len() != header.len() {
            let message = format!(
                "expected {} fields, found {} in {}",
                header.len(),
                cells.len(),
                excerpt(&self.buf)
            );
            let e = self.error(message);
            return self.reject(e, out);
        }
        let row: Map<String, Value> = header
            .iter()
            .zip(cells)
            .map(|(name, (text, quoted))| {
                let value = if text.is_empty() && !quoted {
                    Value::Null
                } else {
                    Value::String(text.to_owned())
                };
                (name.clone(), value)
            })
            .collect();
        out.emit(Value::Object(row));
        Ok(())
    }

    fn error(&self, message: String) -> ParseError {
        ParseError::new(self.record_offset, self.record_line, message)
    }

    /// Skippable for data rows, fatal for the header.
    fn reject(&self, e: ParseError, out: &mut Output) -> Result<(), ParseError> {
        if self.header.is_none() {
            Err(e)
        } else {
            out.malformed(e)
        }
    }
}

/// The fields of a record as text, or the index of the first non-UTF-8 field.
fn split_cells<'a>(buf: &'a [u8], fields: &[(usize, bool)]) -> Result<Vec<(&'a str, bool)>, usize> {
    let mut start = 0;
    let mut cells = Vec::with_capacity(fields.len());
    for (index, &(end, quoted)) in fields.iter().enumerate() {
        let text = std::str::from_utf8(&buf[start..end]).map_err(|_| index)?;
        cells.push((text, quoted));
        start = end;
    }
    Ok(cells)
}

fn first_duplicate(names: &[String]) -> Option<&String> {
    let mut seen = std::collections::BTreeSet::new();
    names.iter().find(|name| !seen.insert(name.as_str()))
}
