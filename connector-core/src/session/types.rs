//! Values that cross the session boundary: records, checkpoints, actions.

use serde_json::{Map, Value};

use crate::http::HttpRequest;

/// A record as handed out: one JSON object, typed as the stream's schema says.
pub type Record = Map<String, Value>;

/// Records of one stream, handed out together (never one call per record).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBatch {
    pub stream: String,
    pub records: Vec<Record>,
}

/// The state of one stream covering every record emitted before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub stream: String,
    /// Versioned per-stream state (`{"v":1,...}`), opaque to hosts.
    pub state: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogMessage {
    pub level: LogLevel,
    pub message: String,
    pub stream: Option<String>,
}

/// Per-stream totals at the end of a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamSummary {
    pub stream: String,
    pub records: u64,
    pub requests: u64,
    pub retries: u64,
    /// Malformed lines skipped (only when the config allows skipping).
    pub skipped_lines: u64,
    /// Units (a list, a catalog, a key) skipped after persistent failures
    /// (only with `skip_persistent_errors`).
    pub skipped_units: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
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
    Log(LogMessage),
    /// The session is finished; further polls return `Done` again.
    Done(Summary),
}
