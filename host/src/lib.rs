//! Reference wasmtime host of the Iterable connector component.
//!
//! The host owns every side effect: it loads the component
//! (`wasm_component.wasm`, see [`runtime`]), sends the HTTP requests the
//! component plans (adding `Api-Key` itself), streams bodies back in chunks,
//! keeps the clock, and writes the component's batches and checkpoints out
//! as Airbyte or Singer messages ([`protocol`]). It never links the
//! connector core: what users run is the component we test.

pub mod demo;
pub mod destination;
pub mod driver;
pub mod export;
pub mod http;
pub mod protocol;
pub mod redact;
pub mod runtime;
pub mod sql;
pub mod writes;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the loaded config (or `ITERABLE_API_KEY`) gave an API key: a 401
/// without one is reported as a missing key, not a rejected one.
pub static KEY_GIVEN: AtomicBool = AtomicBool::new(true);

pub use runtime::{Connector, Instance};

/// Everything that can stop a command.
#[derive(Debug)]
pub enum Error {
    /// The component reported a typed error.
    Connector(runtime::ConnectorError),
    /// Bad user input (files, flags, catalog, state): a config error.
    Usage(String),
    /// The component is missing or could not be loaded.
    Setup(String),
    /// A trap or other wasmtime failure: a bug in the component or host.
    Runtime(String),
    /// Writing output failed (e.g. a closed pipe).
    Io(String),
}

impl Error {
    /// A failed write of output (a closed pipe, a full disk).
    pub fn io(e: std::io::Error) -> Error {
        Error::Io(e.to_string())
    }

    pub fn runtime(e: impl fmt::Display) -> Error {
        Error::Runtime(format!("{e:#}"))
    }

    /// Airbyte's failure type: the user can fix it, or it's on us / upstream.
    pub fn is_config_error(&self) -> bool {
        use runtime::ErrorKind as K;
        match self {
            Error::Connector(e) => {
                matches!(
                    e.kind,
                    K::InvalidConfig | K::InvalidInput | K::Unauthorized | K::Forbidden
                )
            }
            Error::Usage(_) | Error::Setup(_) => true,
            Error::Runtime(_) | Error::Io(_) => false,
        }
    }
}

pub fn kind_str(kind: runtime::ErrorKind) -> &'static str {
    use runtime::ErrorKind as K;
    match kind {
        K::InvalidConfig => "invalid-config",
        K::InvalidInput => "invalid-input",
        K::Unauthorized => "unauthorized",
        K::Forbidden => "forbidden",
        K::RateLimited => "rate-limited",
        K::Upstream => "upstream",
        K::MalformedResponse => "malformed-response",
        K::ProtocolMisuse => "protocol-misuse",
        K::Internal => "internal",
    }
}

impl fmt::Display for Error {
    /// Scrubbed of the API key (see [`redact`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.unscrubbed();
        f.write_str(&redact::scrub(&text))
    }
}

impl Error {
    fn unscrubbed(&self) -> String {
        let mut f = String::new();
        let _ = self.write_unscrubbed(&mut f);
        f
    }

    fn write_unscrubbed(&self, f: &mut String) -> fmt::Result {
        use fmt::Write;
        match self {
            Error::Connector(e) => {
                write!(f, "{}", kind_str(e.kind))?;
                if let Some(s) = &e.stream {
                    write!(f, " [stream {s}]")?;
                }
                if let Some(status) = e.status {
                    write!(f, " (HTTP {status}")?;
                    if let Some(code) = &e.code {
                        write!(f, " {code}")?;
                    }
                    write!(f, ")")?;
                }
                if e.kind == runtime::ErrorKind::Unauthorized && !KEY_GIVEN.load(Ordering::Relaxed)
                {
                    return write!(
                        f,
                        ": no API key was given: set api_key in the config or ITERABLE_API_KEY"
                    );
                }
                write!(f, ": {}", e.message)
            }
            Error::Usage(m) | Error::Setup(m) => write!(f, "{m}"),
            Error::Runtime(m) => write!(f, "component failure: {m}"),
            Error::Io(m) => write!(f, "output failed: {m}"),
        }
    }
}

impl std::error::Error for Error {}
