//! Sans-IO core of the Iterable connector.
//!
//! Everything a connector knows about Iterable lives here — the catalog of
//! streams (one row each: endpoints, keys, cursor, schema, pushdown), the
//! config, request planning, pacing against the project's rate limits,
//! retries, incremental parsing and state — and nothing that does I/O. The
//! core never touches a socket, file, clock, thread or random source, so the
//! same code runs natively, in the WASI component and inside Python.
//!
//! # The run loop
//!
//! A host opens a [`ReadSession`] and calls [`ReadSession::poll`] with its
//! clock (epoch ms) until [`Action::Done`]. After each action:
//!
//! | action | the host… |
//! |---|---|
//! | [`Action::Fetch`] | sends the [`HttpRequest`] (adding `Api-Key` when `needs_auth`), then feeds the reply: [`ReadSession::on_response_head`], [`ReadSession::on_response_body`] per chunk (split anywhere), [`ReadSession::on_response_end`] — or [`ReadSession::on_transport_error`]. Each call carries the host's clock. Up to [`ReadSession::max_in_flight`] requests may be outstanding. |
//! | [`Action::Emit`] | hands the batch of records downstream. |
//! | [`Action::Commit`] | persists the stream's state: it covers every batch emitted before it, never more. |
//! | [`Action::SleepUntil`] | sends nothing before that time (answers to requests in flight may still be fed). |
//! | [`Action::AwaitResponse`] | feeds an answer to a request in flight. |
//! | [`Action::Log`] | logs the message. |
//! | [`Action::Done`] | stops: the summary has per-stream totals. |
//!
//! A complete driver against a canned server:
//!
//! ```
//! use connector_core::{Action, Config, ReadSession, SessionState, StreamSelection};
//!
//! let config = Config::from_json(&serde_json::json!({"base_url": "http://127.0.0.1:1"}))?;
//! let streams = [StreamSelection::incremental("channels")];
//! let mut session = ReadSession::open(config, &streams, &SessionState::new())?;
//! let mut now = 1_700_000_000_000_i64; // the host's clock, epoch ms
//! let mut records = Vec::new();
//! loop {
//!     match session.poll(now)? {
//!         Action::Fetch(request) => {
//!             // A real host sends `request` over HTTP; this one answers in place.
//!             assert!(request.url.ends_with("/api/channels"));
//!             let body = br#"{"channels": [{"id": 1, "name": "Email"}]}"#;
//!             session.on_response_head(now, request.id, 200, &[])?;
//!             session.on_response_body(now, request.id, body)?;
//!             session.on_response_end(now, request.id)?;
//!         }
//!         Action::Emit(batch) => records.extend(batch.records()),
//!         Action::Commit(checkpoint) => { /* persist checkpoint.state */ }
//!         Action::SleepUntil(t) => now = now.max(t),
//!         Action::AwaitResponse | Action::Log(_) => {}
//!         Action::Done(summary) => {
//!             assert_eq!(summary.streams[0].records, 1);
//!             break;
//!         }
//!     }
//! }
//! assert_eq!(records[0]["name"], "Email");
//! # Ok::<(), connector_core::ConnectorError>(())
//! ```
//!
//! # Layout
//!
//! `catalog` (the stream table and schemas as data), `config` (settings, one
//! table), `csv` (CSV export: options, columns, the encoder), `exchange` (actions, planned requests, the engine: in-flight
//! table, pacing, retries, status → error), `read` (the read session and one
//! reader per family; `ReadSession::plan` / `open_unit` split a read into
//! work units for distributed hosts, see `plan`), `parse` (incremental body parsers), `record` (shaping
//! rows as their schema says), `state`, `time`, `probe` (check and
//! discover's one-shot requests). The design, and why it is so, is in the
//! repository's `docs/architecture.md`.

#![warn(missing_docs, unreachable_pub)]

mod catalog;
mod config;
mod csv;
mod error;
mod exchange;
mod parse;
mod plan;
mod probe;
mod read;
mod record;
mod settings;
mod sql;
mod state;
mod sync;
mod time;
mod write;

pub use catalog::{
    ApiParam, ByKeyBody, ByKeyRead, EVENT_KEY_FIELD, Family, Field, FieldType, FilterOp,
    Incremental, KeyIn, Literal, Pass, Pushdown, Reread, RowShape, StreamDef, StreamDescriptor,
    all_streams, discover, find as find_stream,
};
pub use config::{Config, ExportMode, Region, SchemaPolicy, Secret, UserKey, spec};
pub use csv::{CsvEncoder, CsvOptions, EXTRA_COLUMN, LineEnding, csv_columns};
pub use error::{ConnectorError, ErrorKind, Result, SCHEMA_VIOLATION, SQL_NEEDS_ENGINE};
pub use exchange::endpoint::Endpoint;
pub use exchange::{
    Action, Bucket, Checkpoint, HttpRequest, LogLevel, LogMessage, Method, Record, RecordBatch,
    RequestId, RetryClass, StreamSummary, Summary, TransportErrorKind,
};
pub use parse::{
    BodyFormat, BodyParser, FieldReader, FieldValue, ParseError, ParseOptions, Row, RowBuf,
};
pub use plan::WorkUnit;
pub use probe::{check_request, check_response, user_fields_request, user_fields_response};
pub use read::{MAX_BATCH, ReadSession, StreamSelection};
pub use sql::{
    ModifyPlan, ModifySession, QuerySession, SelectPlan, SqlPlan, SqlWrite, TableScan, plan_scans,
    plan_sql,
};
pub use state::{JobState, STATE_VERSION, SessionState, StreamState, session_state_from_json};
pub use sync::{
    Change, Conflict, Initial, LocalRow, Policy, SyncAction, SyncOptions, SyncSession, SyncSummary,
};
pub use time::{
    from_epoch_ms, parse_config_date, parse_timestamp_str, parse_wire_timestamp, to_epoch_ms,
    to_export_param, to_rfc3339,
};
pub use write::{
    RowResult, RowStatus, Target, TargetInfo, WriteAction, WriteCheckpoint, WriteOptions,
    WriteSession, WriteSummary, write_targets,
};

/// Version of the connector, as reported in `spec()` and by the component.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
