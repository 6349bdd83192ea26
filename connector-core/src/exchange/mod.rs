//! The exchange layer every session is built on: what a session asks the
//! host to do ([`Action`]), the requests it plans ([`HttpRequest`], each with
//! a [`RetryClass`]), and the engine that paces, tracks and retries them.
//!
//! Sessions (read, and later write) own the decisions that are theirs —
//! what to request next, what a response means for their records or rows —
//! and leave the rest here: ids and the in-flight table, the project's rate
//! budgets (`pacing`), the one status → error table (`status`), and when a
//! failed request may be sent again (`retry`).

mod action;
pub(crate) mod endpoint;
mod engine;
mod http;
mod pacing;
mod retry;
mod status;

pub use action::{
    Action, Checkpoint, LogLevel, LogMessage, Record, RecordBatch, StreamSummary, Summary,
};
pub use http::{HttpRequest, Method, RequestId, TransportErrorKind};
pub use pacing::Bucket;
pub use retry::RetryClass;

pub(crate) use endpoint::Planned;
pub(crate) use engine::{Ended, Exchange, Failure, Verdict};
pub(crate) use status::{path_of, redact_key_echo, status_error};
