//! Sans-IO core of the Iterable connector.
//!
//! The core never touches a socket, file, clock, thread or random source. A host
//! opens a [`session::ReadSession`], calls [`session::ReadSession::poll`] with the
//! current time, performs the [`http::HttpRequest`]s it is handed, and feeds the
//! responses back. The core hands out record batches, checkpoints and "sleep until"
//! decisions. See `../shared/design.md` §2.

pub mod catalog;
pub mod config;
pub mod error;
pub mod http;
pub mod pacing;
pub mod parse;
pub mod probe;
pub mod record;
pub mod session;
pub mod state;
pub mod time;

pub use config::Config;
pub use error::{ConnectorError, ErrorKind};
pub use http::{HttpRequest, Method, RequestId, TransportErrorKind};
pub use session::{Action, Checkpoint, ReadSession, RecordBatch, StreamSelection, Summary};

/// Version of the connector, as reported in `spec()` and by the component.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
