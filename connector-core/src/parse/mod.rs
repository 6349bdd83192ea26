//! Incremental response-body parsers with bounded memory.
//!
//! A host hands the core a response body in chunks of whatever size its HTTP
//! stack produced, split at arbitrary bytes: inside a multi-byte UTF-8 character,
//! between `\r` and `\n`, inside a quoted CSV field. [`BodyParser`] turns those
//! chunks into `serde_json::Value` items without ever holding more than the
//! current incomplete line / record (plus the items not yet [`take`]n), except
//! for [`BodyFormat::Json`], which is one document by nature.
//!
//! Results do not depend on how the body was chunked: the same items, the same
//! skip count and the same error (with the same offset and line) come out of
//! one `push` of the whole body and of a thousand one-byte pushes.
//!
//! Driving loop: `push` every chunk, `take` items whenever convenient, `finish`
//! at the end of the body, `take` once more. After an error the parser is
//! poisoned: every later `push` / `finish` returns the same error.
//!
//! [`take`]: BodyParser::take

pub(crate) mod bytes;
mod csv;
mod json;
#[cfg(test)]
pub(crate) mod json_text;
mod lines;
mod ndjson;
mod rows;
pub(crate) mod tape;
mod text;

pub use rows::{FieldReader, FieldValue, Row, RowBuf};

use std::fmt;

use serde_json::Value;

use crate::error::ConnectorError;

/// How a response body is encoded (iterable-api.md §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON document (most endpoints). Yields exactly one item.
    Json,
    /// One JSON object per line (`data.json`, `userEvents`).
    Ndjson,
    /// RFC 4180 CSV with a header row (`data.csv`, metrics). One object per row.
    Csv {
        /// Field separator byte, e.g. `b','`.
        delimiter: u8,
    },
    /// One identifier per line (`lists/getUsers`). One string per non-blank line.
    TextLines,
}

/// Knobs for [`BodyParser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Count and skip malformed lines / rows instead of failing. Structural
    /// failures (a bad JSON document, a bad CSV header) stay fatal.
    pub skip_malformed: bool,
    /// Largest JSON document, NDJSON / text line or CSV record accepted, in bytes
    /// (line terminators not counted). Bounds the parser's memory.
    pub max_document_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            skip_malformed: false,
            max_document_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Where and why a body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset, in the whole body, of the start of the bad line / record / document.
    pub offset: u64,
    /// 1-based line number of that start (physical lines, so CSV records with
    /// quoted newlines count every line). 0 only for data pushed after `finish`.
    pub line: u64,
    /// What was wrong, with at most a short excerpt of the offending text.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(offset: u64, line: u64, message: impl Into<String>) -> Self {
        ParseError {
            offset,
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} (byte offset {}): {}",
            self.line, self.offset, self.message
        )
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for ConnectorError {
    fn from(e: ParseError) -> Self {
        ConnectorError::malformed(e.to_string())
    }
}

/// Longest excerpt of offending input quoted in an error message, in characters.
const EXCERPT_CHARS: usize = 60;

/// A short, printable excerpt of `bytes` for error messages: lossy UTF-8, an
/// echoed API key's value replaced (a 2xx page that repeats the request's
/// headers is quoted here, not by the status errors), control characters
/// escaped, cut to [`EXCERPT_CHARS`] characters (≤ 80 chars in total with
/// quotes and ellipsis), so an error never carries a whole record.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4 * EXCERPT_CHARS)]);
    let text = crate::exchange::redact_key_echo(&text);
    let mut out = String::from("\"");
    let mut chars = text.chars().flat_map(char::escape_debug);
    out.extend(chars.by_ref().take(EXCERPT_CHARS));
    if chars.next().is_some() || bytes.len() > 4 * EXCERPT_CHARS {
        out.push('…');
    }
    out.push('"');
    out
}

/// Parsed items and skip accounting, shared by all decoders.
#[derive(Debug)]
pub(crate) struct Output {
    items: Vec<Value>,
    /// NDJSON rows, kept as text (with their tapes) until a consumer asks.
    rows: RowBuf,
    skipped: u64,
    skip_malformed: bool,
}

impl Output {
    pub(crate) fn emit(&mut self, item: Value) {
        self.items.push(item);
    }

    /// A bad item: skipped and counted when allowed, else the error.
    pub(crate) fn malformed(&mut self, e: ParseError) -> Result<(), ParseError> {
        if self.skip_malformed {
            self.skipped += 1;
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// What a parser hands out.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// JSON documents, CSV rows, text lines.
    Values(Vec<Value>),
    /// NDJSON rows as text.
    Rows(RowBuf),
}

impl Parsed {
    /// The items as JSON values, whatever their form.
    pub(crate) fn into_values(self) -> Vec<Value> {
        match self {
            Parsed::Values(v) => v,
            Parsed::Rows(r) => r.values(),
        }
    }
}

#[derive(Debug)]
enum Decoder {
    Json(json::JsonDocument),
    Ndjson(lines::LineSplitter),
    TextLines(lines::LineSplitter),
    Csv(csv::CsvParser),
}

/// Incremental parser for one response body. See the module docs.
#[derive(Debug)]
pub struct BodyParser {
    decoder: Decoder,
    out: Output,
    bytes_seen: u64,
    finished: bool,
    /// The first error; returned again by every later call.
    failed: Option<ParseError>,
}

impl BodyParser {
    /// A parser for one body in `format`.
    pub fn new(format: BodyFormat, options: ParseOptions) -> Self {
        let max = options.max_document_bytes;
        let decoder = match format {
            BodyFormat::Json => Decoder::Json(json::JsonDocument::new(max)),
            BodyFormat::Ndjson => Decoder::Ndjson(lines::LineSplitter::new(max)),
            BodyFormat::TextLines => Decoder::TextLines(lines::LineSplitter::new(max)),
            BodyFormat::Csv { delimiter } => Decoder::Csv(csv::CsvParser::new(delimiter, max)),
        };
        BodyParser {
            decoder,
            out: Output {
                items: Vec::new(),
                rows: RowBuf::default(),
                skipped: 0,
                skip_malformed: options.skip_malformed,
            },
            bytes_seen: 0,
            finished: false,
            failed: None,
        }
    }

    /// Feeds the next chunk and parses every item it completes. Items before a
    /// malformed one stay available through [`take`](Self::take).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            if chunk.is_empty() {
                return Ok(());
            }
            let e = ParseError::new(self.bytes_seen, 0, "data pushed after the end of the body");
            return self.fail(e);
        }
        self.bytes_seen += chunk.len() as u64;
        let out = &mut self.out;
        let result = match &mut self.decoder {
            Decoder::Json(doc) => doc.push(chunk),
            Decoder::Ndjson(split) => split.push(chunk, |ev| ndjson::on_line(ev, out)),
            Decoder::TextLines(split) => split.push(chunk, |ev| text::on_line(ev, out)),
            Decoder::Csv(csv) => csv.push(chunk, out),
        };
        result.or_else(|e| self.fail(e))
    }

    /// Marks the end of the body: parses a last line without a newline, the last
    /// CSV record, or the whole JSON document. Calling it again is a no-op.
    pub fn finish(&mut self) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let out = &mut self.out;
        let result = match &mut self.decoder {
            Decoder::Json(doc) => doc.finish(out),
            Decoder::Ndjson(split) => split.finish(|ev| ndjson::on_line(ev, out)),
            Decoder::TextLines(split) => split.finish(|ev| text::on_line(ev, out)),
            Decoder::Csv(csv) => csv.finish(out),
        };
        result.or_else(|e| self.fail(e))
    }

    /// Drains the items parsed so far, as JSON values (NDJSON rows are
    /// decoded here; [`take_rows`](Self::take_rows) hands them out as text).
    pub fn take(&mut self) -> Vec<Value> {
        let mut items = std::mem::take(&mut self.out.items);
        items.extend(std::mem::take(&mut self.out.rows).values());
        items
    }

    /// Drains the NDJSON rows parsed so far, as validated text with their
    /// top-level fields indexed: no JSON value is built.
    pub fn take_rows(&mut self) -> RowBuf {
        // The next chunk's rows take about as much room: allocated once, not
        // grown by doubling (which copies and touches fresh pages).
        let next = self.out.rows.empty_like();
        std::mem::replace(&mut self.out.rows, next)
    }

    /// Drains what was parsed in the form the format gives: rows for
    /// NDJSON, values for the rest.
    pub(crate) fn take_parsed(&mut self) -> Parsed {
        if matches!(self.decoder, Decoder::Ndjson(_)) {
            Parsed::Rows(self.take_rows())
        } else {
            Parsed::Values(std::mem::take(&mut self.out.items))
        }
    }

    /// Number of parsed items not yet taken.
    pub fn pending(&self) -> usize {
        self.out.items.len() + self.out.rows.len()
    }

    /// Malformed items skipped so far (only with `skip_malformed`).
    pub fn skipped(&self) -> u64 {
        self.out.skipped
    }

    /// Total bytes pushed.
    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    fn fail(&mut self, e: ParseError) -> Result<(), ParseError> {
        self.failed = Some(e.clone());
        Err(e)
    }
}

#[cfg(test)]
mod tests;
