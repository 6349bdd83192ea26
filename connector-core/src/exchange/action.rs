//! Values that cross the session boundary: records, checkpoints, actions.

use serde_json::{Map, Value};

use super::http::HttpRequest;

/// A record as handed out: one JSON object, typed as the stream's schema says.
pub type Record = Map<String, Value>;

/// Records of one stream, handed out together (never one call per record),
/// as NDJSON: each record one line of compact JSON, keys sorted, ending in
/// `\n` (what the WIT interface carries and what most sinks write), so a
/// record is never built as a `Map` unless a consumer asks for one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordBatch {
    /// The stream the records belong to.
    pub stream: String,
    ndjson: String,
    len: usize,
}

impl RecordBatch {
    /// An empty batch of `stream`.
    pub fn new(stream: impl Into<String>) -> Self {
        RecordBatch {
            stream: stream.into(),
            ..RecordBatch::default()
        }
    }

    /// A batch of these records, in order.
    pub fn from_records<'a>(
        stream: impl Into<String>,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Self {
        let mut b = RecordBatch::new(stream);
        for r in records {
            b.push(r);
        }
        b
    }

    /// Appends a record.
    pub fn push(&mut self, record: &Record) {
        // A `Map` of JSON values always serialises (string keys only).
        if let Ok(json) = serde_json::to_string(record) {
            self.push_json(&json);
        }
    }

    /// Room for `bytes` more of NDJSON, reserved at once (a batch grown
    /// by doubling copies itself several times over).
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.ndjson.reserve(bytes);
    }

    /// Appends a record given as its compact JSON (one line, no `\n`).
    pub(crate) fn push_json(&mut self, json: &str) {
        self.ndjson.push_str(json);
        self.ndjson.push('\n');
        self.len += 1;
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records as NDJSON text.
    pub fn ndjson(&self) -> &str {
        &self.ndjson
    }

    /// The NDJSON text, taken.
    pub fn into_ndjson(self) -> String {
        self.ndjson
    }

    /// Each record's JSON text, in order.
    pub fn lines(&self) -> impl Iterator<Item = &str> + '_ {
        self.ndjson.lines()
    }

    /// The records decoded, in order.
    pub fn records(&self) -> Vec<Record> {
        // Every line was written from a record by serde_json (or the read
        // path's fast writer, which writes the same bytes): it decodes.
        self.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The state of one stream covering every record emitted before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The stream this state belongs to.
    pub stream: String,
    /// Versioned per-stream state (`{"v":1,...}`), opaque to hosts.
    pub state: Value,
}

/// Severity of a [`LogMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal progress (e.g. a stream finished).
    Info,
    /// Something went wrong but the sync goes on (e.g. a retry).
    Warn,
    /// A failure (e.g. a unit skipped after persistent errors).
    Error,
}

impl LogLevel {
    /// Upper-case name, e.g. `"WARN"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

/// A log line for the host to show.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMessage {
    /// How severe it is.
    pub level: LogLevel,
    /// The text.
    pub message: String,
    /// The stream it concerns, if any.
    pub stream: Option<String>,
}

/// Per-stream totals at the end of a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamSummary {
    /// The stream's name.
    pub stream: String,
    /// Records emitted.
    pub records: u64,
    /// Requests sent.
    pub requests: u64,
    /// Requests retried after a failure.
    pub retries: u64,
    /// Malformed lines skipped (only when the config allows skipping).
    pub skipped_lines: u64,
    /// Units (a list, a catalog, a key) skipped after persistent failures
    /// (only with `skip_persistent_errors`).
    pub skipped_units: u64,
}

/// Totals of a whole session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// One entry per stream read.
    pub streams: Vec<StreamSummary>,
}

/// What the host should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this request; feed the reply back with its id.
    Fetch(HttpRequest),
    /// Hand these records downstream.
    Emit(RecordBatch),
    /// Persist this stream state: it covers every record emitted so far.
    Commit(Checkpoint),
    /// Nothing may be sent before this time (epoch ms). Responses to requests
    /// already in flight may still be fed in meanwhile; poll again afterwards.
    SleepUntil(i64),
    /// Requests are in flight and nothing else can happen until one answers.
    AwaitResponse,
    /// Pass this message to the host's log.
    Log(LogMessage),
    /// The session is finished; further polls return `Done` again.
    Done(Summary),
}
