//! CSV export: records as RFC 4180 rows, the same on every surface (the
//! component's `csv` interface, the host's `export`, Python's `to_csv`).
//!
//! Pure: an encoder turns records (or the NDJSON of a record batch) into
//! bytes; where the bytes go is the host's business.
//!
//! # What a file looks like
//!
//! - Columns: the stream's fields **in definition order** ([`csv_columns`]),
//!   then the custom user fields it declares (in name order), then a final
//!   [`EXTRA_COLUMN`] (`_extra`): a JSON object (compact text) of any fields
//!   a record carries beyond the declared ones, so nothing is dropped
//!   silently; empty (null) when there are none.
//! - Cells: strings as they are (timestamps already RFC 3339 UTC), numbers
//!   as their JSON text, booleans `true`/`false`, objects and arrays as
//!   compact JSON text.
//! - **Null is distinct from the empty string**: null (or an absent field)
//!   is [`CsvOptions::null_value`] unquoted (default: nothing), while a
//!   string equal to `null_value` — the empty string by default — is always
//!   quoted (`""`).
//! - RFC 4180 quoting: a field holding the delimiter, the quote, CR or LF
//!   is quoted, embedded quotes doubled. With `quote: none` such a value is
//!   an error naming its row and column, never a broken file.
//! - Lines end with LF (default) or CRLF, after the header too; an optional
//!   UTF-8 BOM (for Excel) opens the header.

mod taped;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::catalog;
use crate::error::{ConnectorError, Result};
use crate::parse::tape::scan_row;
use taped::{Cell, Columns, Scratch};

/// The last column of [`csv_columns`]: fields a record carries beyond the
/// declared ones, as a compact JSON object (null when there are none).
pub const EXTRA_COLUMN: &str = "_extra";

/// The UTF-8 byte order mark (`bom: true`).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The CSV columns of `stream`: its fields in definition order, the custom
/// user fields it declares (from `user_fields`, the body of
/// `GET /api/users/getFields`; only `users` and `user_profile` declare
/// them), then [`EXTRA_COLUMN`]. An unknown stream is an `invalid-config`
/// error naming it.
pub fn csv_columns(stream: &str, user_fields: Option<&Value>) -> Result<Vec<String>> {
    let def = catalog::find(stream)?;
    let mut columns = def.field_names(user_fields);
    if !columns.iter().any(|c| c == EXTRA_COLUMN) {
        columns.push(EXTRA_COLUMN.to_string());
    }
    Ok(columns)
}

/// How lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// `\n` (the default).
    #[default]
    Lf,
    /// `\r\n` (Excel, RFC 4180).
    CrLf,
}

impl LineEnding {
    fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::CrLf => b"\r\n",
        }
    }
}

/// How a CSV file is written. `CsvOptions::default()` equals the options of
/// an empty JSON object: `,`, `"`, LF, no BOM, a header, null as nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field separator (`,` `;` `\t` `|` …).
    pub delimiter: char,
    /// Text qualifier; `None`: no quoting, and a value that would need it
    /// is an error.
    pub quote: Option<char>,
    /// Line terminator.
    pub line_ending: LineEnding,
    /// Starts the header with a UTF-8 byte order mark (Excel).
    pub bom: bool,
    /// Writes a header line of column names.
    pub header: bool,
    /// What null (and an absent field) is written as, unquoted; a string
    /// equal to it is quoted, so the two stay distinct.
    pub null_value: String,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ',',
            quote: Some('"'),
            line_ending: LineEnding::Lf,
            bom: false,
            header: true,
            null_value: String::new(),
        }
    }
}

/// The known option names, with what each takes.
const KNOWN: &[(&str, &str)] = &[
    (
        "delimiter",
        "one character such as \",\", \";\", \"|\" or \"\\t\" (or \"tab\")",
    ),
    ("quote", "one character such as '\"' or \"'\", or \"none\""),
    ("line_ending", "\"lf\" or \"crlf\""),
    ("bom", "true or false"),
    ("header", "true or false"),
    (
        "null_value",
        "a text without the delimiter, the quote, CR or LF (e.g. \"\" or \"NULL\")",
    ),
];

impl CsvOptions {
    /// Options from a JSON object (keys may use `-` for `_`; values may be
    /// JSON or text, as from a command line). An unknown key or a bad
    /// value is an `invalid-input` error naming it and what it takes.
    pub fn from_json(value: &Value) -> Result<CsvOptions> {
        let empty = Map::new();
        let obj = match value {
            Value::Null => &empty,
            Value::Object(o) => o,
            _ => {
                return Err(ConnectorError::input(
                    "options",
                    "must be a JSON object of CSV option names to values",
                ));
            }
        };
        let mut o = CsvOptions::default();
        for (key, v) in obj {
            let name = key.replace('-', "_");
            let expects = KNOWN
                .iter()
                .find(|(k, _)| *k == name)
                .map_or("", |(_, e)| *e);
            let bad = || ConnectorError::input(key.as_str(), format!("must be {expects}, not {v}"));
            match name.as_str() {
                "delimiter" => o.delimiter = delimiter(v).ok_or_else(bad)?,
                "quote" => o.quote = quote(v).ok_or_else(bad)?,
                "line_ending" => {
                    o.line_ending = match v.as_str().map(|s| s.trim().to_ascii_lowercase()) {
                        Some(s) if s == "lf" || s == "\n" => LineEnding::Lf,
                        Some(s) if s == "crlf" || s == "\r\n" => LineEnding::CrLf,
                        _ => return Err(bad()),
                    }
                }
                "bom" => o.bom = boolean(v).ok_or_else(bad)?,
                "header" => o.header = boolean(v).ok_or_else(bad)?,
                "null_value" => {
                    o.null_value = match v {
                        Value::String(s) => s.clone(),
                        _ => return Err(bad()),
                    }
                }
                _ => {
                    let names: Vec<&str> = KNOWN.iter().map(|(k, _)| *k).collect();
                    return Err(ConnectorError::input(
                        key.as_str(),
                        format!("unknown CSV option; known: {}", names.join(", ")),
                    ));
                }
            }
        }
        o.check()?;
        Ok(o)
    }

    /// The options must make a readable file: a delimiter and a quote that
    /// differ and are not line breaks, a `null_value` that needs no quotes.
    fn check(&self) -> Result<()> {
        if matches!(self.delimiter, '\r' | '\n') {
            return Err(ConnectorError::input(
                "delimiter",
                "must not be a line break",
            ));
        }
        if let Some(q) = self.quote {
            if matches!(q, '\r' | '\n') {
                return Err(ConnectorError::input("quote", "must not be a line break"));
            }
            if q == self.delimiter {
                return Err(ConnectorError::input(
                    "quote",
                    format!("must differ from the delimiter {:?}", self.delimiter),
                ));
            }
        }
        if self
            .null_value
            .chars()
            .any(|c| c == self.delimiter || Some(c) == self.quote || c == '\r' || c == '\n')
        {
            return Err(ConnectorError::input(
                "null_value",
                format!(
                    "{:?} holds the delimiter, the quote or a line break; it is written unquoted",
                    self.null_value
                ),
            ));
        }
        Ok(())
    }
}

fn delimiter(v: &Value) -> Option<char> {
    let s = v.as_str()?;
    match s {
        "tab" | "TAB" | "\\t" => return Some('\t'),
        _ => {}
    }
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// `Some(None)` is "no quoting".
fn quote(v: &Value) -> Option<Option<char>> {
    let s = match v {
        Value::Null => return Some(None),
        Value::Bool(false) => return Some(None),
        Value::String(s) => s,
        _ => return None,
    };
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Some(None);
    }
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(Some(c)),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Encodes records of one stream as CSV rows over a fixed column list.
///
/// ```
/// use connector_core::{CsvEncoder, CsvOptions};
///
/// let columns = vec!["id".to_string(), "name".to_string(), "_extra".to_string()];
/// let mut enc = CsvEncoder::new(columns, CsvOptions::default())?;
/// let mut out = enc.header();
/// enc.encode_ndjson(b"{\"id\": 1, \"name\": \"a, b\", \"x\": [1]}\n{\"id\": 2, \"name\": \"\"}\n", &mut out)?;
/// enc.encode_ndjson(b"{\"id\": 3, \"name\": null}\n", &mut out)?;
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "id,name,_extra\n1,\"a, b\",\"{\"\"x\"\":[1]}\"\n2,\"\",\n3,,\n"
/// );
/// # Ok::<(), connector_core::ConnectorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CsvEncoder {
    columns: Vec<String>,
    /// Column name → position (the last of a repeated name).
    index: BTreeMap<String, usize>,
    /// Position of [`EXTRA_COLUMN`], when it is a column.
    extra: Option<usize>,
    options: CsvOptions,
    rows: u64,
}

impl CsvEncoder {
    /// An encoder writing `columns` in that order. When one of them is
    /// [`EXTRA_COLUMN`], record fields outside the list go there as a JSON
    /// object; otherwise they are left out (the caller chose the columns).
    pub fn new(columns: Vec<String>, options: CsvOptions) -> Result<CsvEncoder> {
        if columns.is_empty() {
            return Err(ConnectorError::input(
                "columns",
                "must name at least one column",
            ));
        }
        let index: BTreeMap<String, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let extra = index.get(EXTRA_COLUMN).copied();
        Ok(CsvEncoder {
            columns,
            index,
            extra,
            options,
            rows: 0,
        })
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The options.
    pub fn options(&self) -> &CsvOptions {
        &self.options
    }

    /// Rows encoded so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// What a new file starts with: the BOM when asked for, then the header
    /// line when asked for (both may be empty). A column name needing
    /// quotes is quoted; with `quote: none` it is left as it is.
    pub fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.options.bom {
            out.extend_from_slice(BOM);
        }
        if self.options.header {
            for (i, c) in self.columns.iter().enumerate() {
                if i > 0 {
                    push_char(&mut out, self.options.delimiter);
                }
                match self.options.quote {
                    Some(q) if self.needs_quotes(c) => quoted(&mut out, c, q),
                    _ => out.extend_from_slice(c.as_bytes()),
                }
            }
            out.extend_from_slice(self.options.line_ending.bytes());
        }
        out
    }

    /// Appends one row per record to `out`; returns how many. A record that
    /// is not an object, or a value that needs quotes under `quote: none`,
    /// is an `invalid-input` error naming the row (counted from 1 over the
    /// encoder's life) and column; `out` and the row count are then as they
    /// were before the call.
    pub fn encode_records(&mut self, records: &[Value], out: &mut Vec<u8>) -> Result<usize> {
        self.atomic(out, |enc, out| {
            for r in records {
                enc.encode_one(r, out)?;
            }
            Ok(records.len())
        })
    }

    /// Runs `f`; on an error, `out` and the row count are as they were
    /// before (a call encodes all its rows or none).
    fn atomic(
        &mut self,
        out: &mut Vec<u8>,
        f: impl FnOnce(&mut Self, &mut Vec<u8>) -> Result<usize>,
    ) -> Result<usize> {
        let (len, rows) = (out.len(), self.rows);
        let result = f(self, out);
        if result.is_err() {
            out.truncate(len);
            self.rows = rows;
        }
        result
    }

    /// Appends one row per NDJSON line (a record batch's payload; blank
    /// lines are skipped) to `out`; returns how many. A line that is not a
    /// JSON object is an `invalid-input` error naming it.
    pub fn encode_ndjson(&mut self, ndjson: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        self.atomic(out, |enc, out| {
            let mut scratch = Scratch::default();
            let mut n = 0;
            let mut start = 0;
            // Lines found with memchr (a split on a closure goes byte by byte).
            let ends = memchr::memchr_iter(b'\n', ndjson).chain([ndjson.len()]);
            for end in ends {
                let line = &ndjson[start..end];
                start = end + 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if !enc.encode_taped(line, &mut scratch, out)? {
                    enc.encode_decoded(line, out)?;
                }
                n += 1;
            }
            Ok(n)
        })
    }

    /// One row from `line` decoded whole by serde_json (the general way).
    fn encode_decoded(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let value: Value = serde_json::from_slice(line).map_err(|e| {
            ConnectorError::input("ndjson", format!("row {} is not JSON: {e}", self.rows + 1))
        })?;
        self.encode_one(&value, out)
    }

    /// One row from `line`'s tape ([`taped`]); `false` when the line is
    /// not taped, and nothing was written.
    fn encode_taped(
        &mut self,
        line: &[u8],
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        // JSON's whitespace only: serde_json rejects other bytes, and
        // must then be the one to say so.
        let json_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
        let start = line.iter().position(|b| !json_ws(b)).unwrap_or(line.len());
        let end = line
            .iter()
            .rposition(|b| !json_ws(b))
            .map_or(start, |i| i + 1);
        let Ok(line) = std::str::from_utf8(&line[start..end]) else {
            return Ok(false);
        };
        scratch.tape.clear();
        if !scan_row(line.as_bytes(), &mut scratch.tape) {
            return Ok(false);
        }
        let columns = Columns {
            index: &self.index,
            extra: self.extra,
            count: self.columns.len(),
        };
        scratch.place(line, &columns);
        let row_start = out.len();
        for i in 0..self.columns.len() {
            if i > 0 {
                push_char(out, self.options.delimiter);
            }
            let cell = if Some(i) == self.extra {
                scratch.extra(line)
            } else {
                scratch.cell(line, i)
            };
            let text = match cell {
                Some(Cell::Null) => None,
                Some(Cell::Text(t)) => Some(t),
                Some(Cell::Owned) => Some(scratch.owned()),
                None => {
                    out.truncate(row_start);
                    return Ok(false);
                }
            };
            if let Err(e) = self.write_cell(text, out) {
                out.truncate(row_start);
                return Err(self.cell_error(i, e));
            }
        }
        out.extend_from_slice(self.options.line_ending.bytes());
        self.rows += 1;
        Ok(true)
    }

    fn encode_one(&mut self, record: &Value, out: &mut Vec<u8>) -> Result<()> {
        let obj = record.as_object().ok_or_else(|| {
            ConnectorError::input(
                "records",
                format!(
                    "row {} is not a JSON object: {}",
                    self.rows + 1,
                    kind_of(record)
                ),
            )
        })?;
        self.encode_map(obj, out)
    }

    fn encode_map(&mut self, obj: &Map<String, Value>, out: &mut Vec<u8>) -> Result<()> {
        let mut cells: Vec<Option<&Value>> = vec![None; self.columns.len()];
        let mut extra = Map::new();
        for (k, v) in obj {
            match self.index.get(k.as_str()) {
                Some(&i) if Some(i) != self.extra => cells[i] = Some(v),
                _ if self.extra.is_some() => {
                    extra.insert(k.clone(), v.clone());
                }
                _ => {}
            }
        }
        let extra = (!extra.is_empty()).then_some(Value::Object(extra));
        if let Some(i) = self.extra {
            cells[i] = extra.as_ref();
        }
        let start = out.len();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                push_char(out, self.options.delimiter);
            }
            let text = match cell {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(std::borrow::Cow::Borrowed(s.as_str())),
                Some(Value::Bool(b)) => Some(std::borrow::Cow::Borrowed(if *b {
                    "true"
                } else {
                    "false"
                })),
                Some(Value::Number(n)) => Some(std::borrow::Cow::Owned(n.to_string())),
                Some(v @ (Value::Array(_) | Value::Object(_))) => {
                    Some(std::borrow::Cow::Owned(v.to_string()))
                }
            };
            if let Err(e) = self.write_cell(text.as_deref(), out) {
                out.truncate(start);
                return Err(self.cell_error(i, e));
            }
        }
        out.extend_from_slice(self.options.line_ending.bytes());
        self.rows += 1;
        Ok(())
    }

    /// The error for a cell of column `i` in the row being written.
    fn cell_error(&self, i: usize, why: String) -> ConnectorError {
        let row = self.rows + 1;
        let column = &self.columns[i];
        ConnectorError::input(
            column.as_str(),
            format!(
                "row {row}, column {column}: {why}; choose a quote character, another \
                 delimiter or null_value"
            ),
        )
    }

    /// Writes one cell's text (`None`: null); `Err` says why it cannot be
    /// written unquoted.
    fn write_cell(&self, text: Option<&str>, out: &mut Vec<u8>) -> std::result::Result<(), String> {
        let Some(text) = text else {
            out.extend_from_slice(self.options.null_value.as_bytes());
            return Ok(());
        };
        if !self.needs_quotes(text) {
            out.extend_from_slice(text.as_bytes());
            return Ok(());
        }
        match self.options.quote {
            Some(q) => {
                quoted(out, text, q);
                Ok(())
            }
            None if text == self.options.null_value => Err(format!(
                "the text {text:?} would read as null (null_value) without quotes"
            )),
            None => Err(format!(
                "the value {} holds the delimiter or a line break and quote is none",
                preview(text)
            )),
        }
    }

    /// RFC 4180: the delimiter, the quote, CR or LF; and the text that
    /// null is written as, so a string never reads back as null.
    fn needs_quotes(&self, text: &str) -> bool {
        if text == self.options.null_value {
            return true;
        }
        let (delimiter, quote) = (self.options.delimiter, self.options.quote);
        let ascii = |c: char| u8::try_from(c).ok().filter(u8::is_ascii);
        // An ASCII delimiter and quote (the usual case): a byte search, as
        // no byte of a multi-byte character is ASCII. `\n` stands in for
        // no quote character.
        match (ascii(delimiter), quote.map_or(Some(b'\n'), ascii)) {
            (Some(d), Some(q)) => text
                .bytes()
                .any(|b| b == d || b == q || b == b'\r' || b == b'\n'),
            _ => text
                .chars()
                .any(|c| c == delimiter || Some(c) == quote || c == '\r' || c == '\n'),
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// `text` between quotes, embedded quotes doubled.
fn quoted(out: &mut Vec<u8>, text: &str, q: char) {
    push_char(out, q);
    for (n, part) in text.split(q).enumerate() {
        if n > 0 {
            push_char(out, q);
            push_char(out, q);
        }
        out.extend_from_slice(part.as_bytes());
    }
    push_char(out, q);
}

fn preview(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn encode(columns: &[&str], options: Value, records: &[Value]) -> Result<String> {
        let mut enc = CsvEncoder::new(cols(columns), CsvOptions::from_json(&options)?)?;
        let mut out = enc.header();
        enc.encode_records(records, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn quoting_follows_rfc_4180() {
        let text = encode(
            &["a", "b", "c", "d"],
            json!({}),
            &[json!({"a": "x,y", "b": "say \"hi\"", "c": "two\nlines", "d": "cr\rhere"})],
        )
        .unwrap();
        assert_eq!(
            text,
            "a,b,c,d\n\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\"\n"
        );
        // Plain text stays bare; a semicolon only needs quotes with `;`.
        let text = encode(
            &["a", "b"],
            json!({"delimiter": ";"}),
            &[json!({"a": "x,y", "b": "p;q"})],
        )
        .unwrap();
        assert_eq!(text, "a;b\nx,y;\"p;q\"\n");
        let text = encode(&["a"], json!({"quote": "'"}), &[json!({"a": "it's, ok"})]).unwrap();
        assert_eq!(text, "a\n'it''s, ok'\n");
    }

    #[test]
    fn null_and_empty_string_differ() {
        let records = [json!({"a": null, "b": ""}), json!({"b": "NULL"})];
        let text = encode(&["a", "b"], json!({}), &records).unwrap();
        assert_eq!(text, "a,b\n,\"\"\n,NULL\n");
        let text = encode(&["a", "b"], json!({"null_value": "NULL"}), &records).unwrap();
        assert_eq!(text, "a,b\nNULL,\nNULL,\"NULL\"\n");
    }

    #[test]
    fn values_render_as_json_text() {
        let text = encode(
            &["n", "f", "t", "o", "l", "s"],
            json!({}),
            &[
                json!({"n": 12, "f": 1.5, "t": true, "o": {"k": [1, "x"]}, "l": [1, 2],
                     "s": "2026-01-02T03:04:05Z"}),
            ],
        )
        .unwrap();
        assert_eq!(
            text,
            "n,f,t,o,l,s\n12,1.5,true,\"{\"\"k\"\":[1,\"\"x\"\"]}\",\"[1,2]\",2026-01-02T03:04:05Z\n"
        );
    }

    #[test]
    fn fields_beyond_the_columns_go_to_extra() {
        let records = [
            json!({"id": 1, "zz": "late", "aa": {"x": 1}}),
            json!({"id": 2}),
        ];
        let text = encode(&["id", EXTRA_COLUMN], json!({}), &records).unwrap();
        assert_eq!(
            text,
            "id,_extra\n1,\"{\"\"aa\"\":{\"\"x\"\":1},\"\"zz\"\":\"\"late\"\"}\"\n2,\n"
        );
        // Without an `_extra` column the caller chose the projection.
        let text = encode(&["id"], json!({}), &records).unwrap();
        assert_eq!(text, "id\n1\n2\n");
    }

    #[test]
    fn excel_style_crlf_and_bom() {
        let text = encode(
            &["a", "b"],
            json!({"delimiter": ";", "line_ending": "crlf", "bom": true}),
            &[json!({"a": 1, "b": "x;y"}), json!({"a": 2, "b": "z"})],
        )
        .unwrap();
        assert_eq!(text, "\u{feff}a;b\r\n1;\"x;y\"\r\n2;z\r\n");
        let text = encode(
            &["a"],
            json!({"header": false, "delimiter": "tab"}),
            &[json!({"a": "x\ty"})],
        )
        .unwrap();
        assert_eq!(text, "\"x\ty\"\n");
        let enc = CsvEncoder::new(
            cols(&["a"]),
            CsvOptions::from_json(&json!({"header": false, "bom": true})).unwrap(),
        )
        .unwrap();
        assert_eq!(enc.header(), BOM);
    }

    #[test]
    fn ndjson_batches_append_and_count() {
        let mut enc = CsvEncoder::new(cols(&["a"]), CsvOptions::default()).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            enc.encode_ndjson(b"{\"a\":1}\n\n{\"a\":2}\n", &mut out)
                .unwrap(),
            2
        );
        assert_eq!(enc.encode_ndjson(b"{\"a\":3}", &mut out).unwrap(), 1);
        assert_eq!(enc.rows(), 3);
        assert_eq!(out, b"1\n2\n3\n");
        let e = enc
            .encode_ndjson(b"{\"a\":4}\nnot json\n", &mut out)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.contains("row 5"), "{}", e.message);
        // All or nothing: row 4 went with the failed call.
        assert_eq!(enc.rows(), 3);
        assert_eq!(out, b"1\n2\n3\n");
        assert_eq!(enc.encode_records(&[json!({"a": 5})], &mut out).unwrap(), 1);
        assert_eq!(out, b"1\n2\n3\n5\n");
        let e = enc.encode_records(&[json!([1])], &mut out).unwrap_err();
        assert!(e.message.contains("not a JSON object"), "{}", e.message);
    }

    #[test]
    fn without_quotes_a_value_needing_them_is_an_error() {
        let mut enc = CsvEncoder::new(
            cols(&["a", "b"]),
            CsvOptions::from_json(&json!({"quote": "none"})).unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        enc.encode_records(&[json!({"a": "ok", "b": 1})], &mut out)
            .unwrap();
        let e = enc
            .encode_records(&[json!({"a": "x", "b": "p,q"})], &mut out)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert_eq!(e.field.as_deref(), Some("b"));
        assert!(e.message.contains("row 2, column b"), "{}", e.message);
        assert_eq!(out, b"ok,1\n", "the failed row left nothing behind");
        // The empty string would read as null.
        let e = enc
            .encode_records(&[json!({"a": ""})], &mut out)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("a"));
        // ...unless null has its own text.
        let mut enc = CsvEncoder::new(
            cols(&["a", "b"]),
            CsvOptions::from_json(&json!({"quote": null, "null_value": "\\N"})).unwrap(),
        )
        .unwrap();
        enc.encode_records(&[json!({"a": ""})], &mut out).unwrap();
        assert_eq!(out, b"ok,1\n,\\N\n");
    }

    #[test]
    fn bad_options_name_the_field() {
        let cases = [
            (json!({"delimiter": ",,"}), "delimiter"),
            (json!({"delimiter": "\n"}), "delimiter"),
            (json!({"quote": "ab"}), "quote"),
            (json!({"quote": ";", "delimiter": ";"}), "quote"),
            (json!({"line_ending": "cr"}), "line_ending"),
            (json!({"bom": "maybe"}), "bom"),
            (json!({"header": 2}), "header"),
            (json!({"null_value": 0}), "null_value"),
            (json!({"null_value": "a,b"}), "null_value"),
            (json!({"delimeter": ";"}), "delimeter"),
        ];
        for (options, field) in cases {
            let e = CsvOptions::from_json(&options).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidInput, "{options}");
            assert_eq!(e.field.as_deref(), Some(field), "{options}");
        }
        let e = CsvOptions::from_json(&json!({"delimeter": ";"})).unwrap_err();
        assert!(e.message.contains("delimiter"), "{}", e.message);
        let e = CsvOptions::from_json(&json!({"line_ending": "cr"})).unwrap_err();
        assert!(e.message.contains("crlf"), "{}", e.message);
        assert!(CsvOptions::from_json(&json!([1])).is_err());
        let o = CsvOptions::from_json(
            &json!({"line-ending": "CRLF", "bom": "true", "header": "false", "quote": "none"}),
        )
        .unwrap();
        assert_eq!(o.line_ending, LineEnding::CrLf);
        assert!(o.bom && !o.header && o.quote.is_none());
        assert_eq!(
            CsvOptions::from_json(&Value::Null).unwrap(),
            CsvOptions::default()
        );
    }

    #[test]
    fn columns_keep_definition_order() {
        let columns = csv_columns("campaigns", None).unwrap();
        assert_eq!(&columns[..4], &["id", "name", "type", "campaignState"]);
        assert_eq!(columns.last().map(String::as_str), Some(EXTRA_COLUMN));
        let events = csv_columns("email_send", None).unwrap();
        assert_eq!(&events[..2], &["_key", "createdAt"]);
        let fields = json!({"fields": {"zeta": "string", "LTV": "double", "email": "string"}});
        let users = csv_columns("users", Some(&fields)).unwrap();
        let n = users.len();
        assert_eq!(&users[n - 3..], &["LTV", "zeta", EXTRA_COLUMN]);
        assert_eq!(users.iter().filter(|c| *c == "email").count(), 1);
        let e = csv_columns("nope", None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig);
    }

    /// The general path [`CsvEncoder::encode_ndjson`] had before it read
    /// tapes: every line through serde_json.
    fn encode_ndjson_general(
        enc: &mut CsvEncoder,
        ndjson: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize> {
        enc.atomic(out, |enc, out| {
            let mut n = 0;
            for line in ndjson.split(|b| *b == b'\n') {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                enc.encode_decoded(line, out)?;
                n += 1;
            }
            Ok(n)
        })
    }

    #[test]
    fn taped_lines_encode_as_the_general_path_does() {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("id"),
            Just("name"),
            Just("amount"),
            Just("_extra"),
            Just("zeta"),
            Just("alpha"),
            Just("é"),
        ];
        let line = (
            proptest::collection::vec((key, crate::parse::json_text::json_text()), 0..7),
            prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\t"), 1 => Just("\u{c}")],
            prop_oneof![8 => Just(false), 1 => Just(true)],
        )
            .prop_map(|(members, pad, cut)| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                let mut line = format!("{pad}{{{}}}{pad}", members.join(","));
                if cut {
                    let mut at = line.len() / 2;
                    while !line.is_char_boundary(at) {
                        at -= 1;
                    }
                    line.truncate(at);
                }
                line
            });
        let options = (
            prop_oneof![Just(","), Just(";"), Just("\t"), Just("é")],
            prop_oneof![Just(json!("\"")), Just(json!("'")), Just(json!("none"))],
            prop_oneof![Just(""), Just("NULL"), Just("1"), Just("true")],
            prop_oneof![
                Just(&["id", "name", "amount", "_extra"][..]),
                Just(&["amount", "id"][..])
            ],
        );
        proptest!(ProptestConfig::with_cases(2000), |(lines in proptest::collection::vec(line, 1..6), (delimiter, quote, null_value, columns) in options)| {
            let options = json!({"delimiter": delimiter, "quote": quote, "null_value": null_value});
            let new = || CsvEncoder::new(cols(columns), CsvOptions::from_json(&options).unwrap()).unwrap();
            let ndjson = lines.join("\n");
            let (mut fast, mut general) = (new(), new());
            let (mut a, mut b) = (b"kept".to_vec(), b"kept".to_vec());
            let ra = fast.encode_ndjson(ndjson.as_bytes(), &mut a).map_err(|e| e.to_string());
            let rb = encode_ndjson_general(&mut general, ndjson.as_bytes(), &mut b).map_err(|e| e.to_string());
            prop_assert_eq!(ra, rb);
            prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
            prop_assert_eq!(fast.rows(), general.rows());
        });
    }
}
