//! The `write` and `call` commands: JSON lines in, one result line per input
//! row out (in input order), a resumable state file, a summary on stderr.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::Error;
use crate::driver::WriteIo;
use crate::kind_str;
use crate::runtime::{
    ConnectorError, HttpRequest, LogLevel, LogMessage, RowResult, RowStatus, WriteCheckpoint,
    WriteSummary,
};

/// Rows from JSON lines: blank lines are not rows; the first `skip` rows are
/// passed over (they were final before a resume).
pub struct JsonLines<R> {
    reader: R,
    skip: u64,
    done: bool,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(reader: R, skip: u64) -> Self {
        JsonLines {
            reader,
            skip,
            done: false,
        }
    }

    /// The next non-blank line, without its line ending.
    fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<bool, Error> {
        loop {
            buf.clear();
            let n = self
                .reader
                .read_until(b'\n', buf)
                .map_err(|e| Error::Usage(format!("reading the input rows: {e}")))?;
            if n == 0 {
                return Ok(false);
            }
            if !buf.iter().all(u8::is_ascii_whitespace) {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                return Ok(true);
            }
        }
    }
}

impl<R: BufRead> JsonLines<R> {
    /// Up to `max` rows as JSON lines; `None` at the end of the input.
    pub fn take(&mut self, max: usize) -> Result<Option<Vec<u8>>, Error> {
        if self.done {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut line = Vec::new();
        let mut rows = 0;
        while rows < max {
            if !self.next_line(&mut line)? {
                self.done = true;
                break;
            }
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            out.extend_from_slice(&line);
            out.push(b'\n');
            rows += 1;
        }
        Ok((rows > 0).then_some(out))
    }
}

/// A row's outcome as one JSON object: `{"row", "status", "id"?, "error"?}`.
pub fn result_json(r: &RowResult) -> Value {
    let mut o = Map::new();
    o.insert("row".into(), json!(r.row));
    o.insert("status".into(), json!(status_str(r.status)));
    if let Some(id) = &r.id {
        o.insert("id".into(), json!(id));
    }
    if let Some(e) = &r.error {
        o.insert("error".into(), error_json(e));
    }
    Value::Object(o)
}

pub fn status_str(s: RowStatus) -> &'static str {
    match s {
        RowStatus::Ok => "ok",
        RowStatus::Failed => "failed",
        RowStatus::Unknown => "unknown",
    }
}

fn error_json(e: &ConnectorError) -> Value {
    let mut o = Map::new();
    o.insert("kind".into(), json!(kind_str(e.kind)));
    o.insert("message".into(), json!(crate::redact::scrub(&e.message)));
    if let Some(f) = &e.field {
        o.insert("field".into(), json!(f));
    }
    if let Some(s) = e.status {
        o.insert("status".into(), json!(s));
    }
    if let Some(c) = &e.code {
        o.insert("code".into(), json!(c));
    }
    o.insert("retryable".into(), json!(e.retryable));
    Value::Object(o)
}

/// One line for the summary on stderr.
pub fn summary_line(s: &WriteSummary, seconds: f64) -> String {
    format!(
        "{} {}: {} rows: {} ok, {} failed, {} unknown; {} requests, {} retries, {:.2} s",
        s.object, s.op, s.rows, s.ok, s.failed, s.unknown, s.requests, s.retries, seconds
    )
}

/// Where the resumable state of a write lives: read at the start, replaced
/// (atomically) at every commit.
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: &Path) -> Self {
        StateFile {
            path: path.to_path_buf(),
        }
    }

    /// The saved state and the rows it covers, if the file exists.
    pub fn load(&self) -> Result<Option<(String, u64)>, Error> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) if !t.trim().is_empty() => t,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Usage(format!(
                    "cannot read state file {}: {e}",
                    self.path.display()
                )));
            }
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "state file {} is not valid JSON ({e}); delete it to start over",
                self.path.display()
            ))
        })?;
        let rows_final = value
            .get("rows_final")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "state file {} is not a write state (no rows_final); was it written by `write --state`?",
                    self.path.display()
                ))
            })?;
        Ok(Some((text.trim().to_string(), rows_final)))
    }

    pub fn save(&self, state_json: &str) -> Result<(), Error> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, state_json)
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| {
                Error::Io(format!(
                    "cannot save state file {}: {e}",
                    self.path.display()
                ))
            })
    }
}

/// The `write` command's I/O: rows from JSON lines, result lines in input
/// order, the state file replaced at each commit (after the result lines it
/// covers are written out).
pub struct LinesWriteIo<R, W: Write> {
    input: JsonLines<R>,
    out: W,
    state: Option<StateFile>,
    /// Results ahead of `next`, held so lines leave in input order.
    held: BTreeMap<u64, RowResult>,
    next: u64,
    verbose: bool,
}

impl<R: BufRead, W: Write> LinesWriteIo<R, W> {
    pub fn new(input: JsonLines<R>, out: W, state: Option<StateFile>, first_row: u64) -> Self {
        LinesWriteIo {
            input,
            out,
            state,
            held: BTreeMap::new(),
            next: first_row,
            verbose: false,
        }
    }

    /// Logs every request on stderr.
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }

    fn write_ready(&mut self) -> Result<(), Error> {
        while let Some(r) = self.held.remove(&self.next) {
            writeln!(self.out, "{}", result_json(&r)).map_err(Error::io)?;
            self.next += 1;
        }
        Ok(())
    }

    /// Writes whatever is still held (in row order) and flushes.
    pub fn finish(&mut self) -> Result<(), Error> {
        self.write_ready()?;
        for (_, r) in std::mem::take(&mut self.held) {
            writeln!(self.out, "{}", result_json(&r)).map_err(Error::io)?;
        }
        self.out.flush().map_err(Error::io)
    }
}

impl<R: BufRead, W: Write> WriteIo for LinesWriteIo<R, W> {
    fn next_rows(&mut self, max: usize) -> Result<Option<Vec<u8>>, Error> {
        self.input.take(max)
    }

    fn results(&mut self, rows: Vec<RowResult>) -> Result<(), Error> {
        for r in rows {
            self.held.insert(r.row, r);
        }
        self.write_ready()
    }

    fn commit(&mut self, cp: WriteCheckpoint) -> Result<(), Error> {
        // Result lines first: a saved state never covers rows whose result
        // was not handed out.
        self.write_ready()?;
        self.out.flush().map_err(Error::io)?;
        if let Some(state) = &self.state {
            state.save(&cp.state_json)?;
        }
        Ok(())
    }

    fn log(&mut self, m: LogMessage) -> Result<(), Error> {
        // The summary line says what the closing INFO says.
        if self.verbose || matches!(m.level, LogLevel::Warn | LogLevel::Error) {
            eprintln!("{}", crate::protocol::log_line(&m));
        }
        Ok(())
    }

    fn request(&mut self, r: &HttpRequest) {
        if self.verbose {
            eprintln!("-> {:?} {}", r.method, r.url);
        }
    }
}

/// `key=value` pairs as a JSON object of strings (`--set`: the component
/// reads text values of options).
pub fn options_json(pairs: &[String]) -> Result<Option<String>, Error> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut o = Map::new();
    for pair in pairs {
        let (k, v) = split_pair(pair, "--set")?;
        o.insert(k.to_string(), json!(v));
    }
    Ok(Some(Value::Object(o).to_string()))
}

/// `name=value` parameters of a procedure as one JSON row. A value that is
/// valid JSON (`123`, `[1,2]`, `true`, `{"a":1}`) is taken as such; anything
/// else is text.
pub fn params_row(pairs: &[String]) -> Result<Vec<u8>, Error> {
    let mut line = params_object(pairs)?.to_string().into_bytes();
    line.push(b'\n');
    Ok(line)
}

/// `--param name=value` pairs as a JSON object's text (`None` when none).
pub fn params_json(pairs: &[String]) -> Result<Option<String>, Error> {
    if pairs.is_empty() {
        return Ok(None);
    }
    Ok(Some(params_object(pairs)?.to_string()))
}

fn params_object(pairs: &[String]) -> Result<Value, Error> {
    let mut o = Map::new();
    for pair in pairs {
        let (k, v) = split_pair(pair, "--param")?;
        let value = serde_json::from_str::<Value>(v).unwrap_or_else(|_| json!(v));
        o.insert(k.to_string(), value);
    }
    Ok(Value::Object(o))
}

fn split_pair<'a>(pair: &'a str, flag: &str) -> Result<(&'a str, &'a str), Error> {
    pair.split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim(), v))
        .ok_or_else(|| Error::Usage(format!("{flag} {pair:?}: expected name=value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_skip_blank_lines_and_resumed_rows() {
        let text = b"{\"a\":1}\n\n{\"a\":2}\r\n  \n{\"a\":3}";
        let mut lines = JsonLines::new(&text[..], 1);
        let chunk = lines.take(10).unwrap().unwrap();
        assert_eq!(chunk, b"{\"a\":2}\r\n{\"a\":3}\n");
        assert_eq!(lines.take(10).unwrap(), None);
    }

    #[test]
    fn json_lines_come_in_chunks_of_at_most_max() {
        let text = b"1\n2\n3\n";
        let mut lines = JsonLines::new(&text[..], 0);
        assert_eq!(lines.take(2).unwrap().unwrap(), b"1\n2\n");
        assert_eq!(lines.take(2).unwrap().unwrap(), b"3\n");
        assert_eq!(lines.take(2).unwrap(), None);
    }

    #[test]
    fn params_are_json_where_they_parse_and_text_otherwise() {
        let row = params_row(&[
            "campaignId=42".into(),
            "listIds=[1,2]".into(),
            "note=hello world".into(),
            "flag=true".into(),
        ])
        .unwrap();
        let v: Value = serde_json::from_slice(&row).unwrap();
        assert_eq!(
            v,
            json!({"campaignId": 42, "listIds": [1, 2], "note": "hello world", "flag": true})
        );
        assert!(params_row(&["=1".into()]).is_err());
        assert!(options_json(&["bulk".into()]).is_err());
        assert_eq!(
            options_json(&["bulk=false".into()]).unwrap().unwrap(),
            r#"{"bulk":"false"}"#
        );
    }
}
