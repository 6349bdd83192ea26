//! One error type for everything the core reports.
//!
//! Like h11, we keep "the caller misused the API" ([`ErrorKind::ProtocolMisuse`])
//! apart from "Iterable sent something we cannot use" ([`ErrorKind::MalformedResponse`]).

use std::fmt;

/// What went wrong, coarse enough for a host to decide what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The configuration (or catalog / state) handed in is invalid. `field` names it.
    InvalidConfig,
    /// A row or parameter handed in for a write is invalid. `field` names it;
    /// the row fails alone, before any request.
    InvalidInput,
    /// Iterable rejected the API key (401).
    Unauthorized,
    /// The key lacks permission or the feature is off for the project (403).
    Forbidden,
    /// Rate limited and retries were exhausted.
    RateLimited,
    /// Iterable (or the network) failed and retries were exhausted (5xx, cut bodies).
    Upstream,
    /// Iterable answered with a body we could not parse.
    MalformedResponse,
    /// The host called the session out of order (unknown request id, body after end...).
    ProtocolMisuse,
    /// A bug in the connector.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order: boundary tests (WIT, Python) walk it.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidConfig,
        ErrorKind::InvalidInput,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::RateLimited,
        ErrorKind::Upstream,
        ErrorKind::MalformedResponse,
        ErrorKind::ProtocolMisuse,
        ErrorKind::Internal,
    ];

    /// Position in [`ErrorKind::ALL`]; exhaustive, so a new kind cannot be
    /// added without being listed there.
    pub const fn index(self) -> usize {
        match self {
            ErrorKind::InvalidConfig => 0,
            ErrorKind::InvalidInput => 1,
            ErrorKind::Unauthorized => 2,
            ErrorKind::Forbidden => 3,
            ErrorKind::RateLimited => 4,
            ErrorKind::Upstream => 5,
            ErrorKind::MalformedResponse => 6,
            ErrorKind::ProtocolMisuse => 7,
            ErrorKind::Internal => 8,
        }
    }

    /// Stable kebab-case name, e.g. `"rate-limited"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid-config",
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Upstream => "upstream",
            ErrorKind::MalformedResponse => "malformed-response",
            ErrorKind::ProtocolMisuse => "protocol-misuse",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A typed error. Never carries the API key: messages are built from field
/// names, stream names, paths and Iterable's own error codes only.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Human-readable explanation, saying how to fix it where possible.
    pub message: String,
    /// The config field (or stream) at fault, for `InvalidConfig`.
    pub field: Option<String>,
    /// The stream being read when the error happened.
    pub stream: Option<String>,
    /// HTTP status of the response that caused it, if any.
    pub status: Option<u16>,
    /// Iterable's `code` from the error envelope, if any (e.g. `BadParams`),
    /// or one of ours: [`SQL_NEEDS_ENGINE`].
    pub code: Option<String>,
    /// Whether trying again later could succeed.
    pub retryable: bool,
    /// For rate limits: milliseconds to wait before retrying.
    pub retry_after_ms: Option<u64>,
}

impl ConnectorError {
    /// An error of `kind` with `message` and no other details.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ConnectorError {
            kind,
            message: message.into(),
            field: None,
            stream: None,
            status: None,
            code: None,
            retryable: false,
            retry_after_ms: None,
        }
    }

    /// A bad config value: names the field and says how to fix it.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let mut e = ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("{}: {}", field, message.into()),
        );
        e.field = Some(field);
        e
    }

    /// A bad row or write parameter: names the field and says how to fix it.
    pub fn input(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let mut e = ConnectorError::new(
            ErrorKind::InvalidInput,
            format!("{}: {}", field, message.into()),
        );
        e.field = Some(field);
        e
    }

    /// The host called the session out of order ([`ErrorKind::ProtocolMisuse`]).
    pub fn misuse(message: impl Into<String>) -> Self {
        ConnectorError::new(ErrorKind::ProtocolMisuse, message)
    }

    /// Iterable sent a body we could not parse ([`ErrorKind::MalformedResponse`]).
    pub fn malformed(message: impl Into<String>) -> Self {
        ConnectorError::new(ErrorKind::MalformedResponse, message)
    }

    /// Sets the stream being read.
    pub fn with_stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = Some(stream.into());
        self
    }

    /// Sets the HTTP status of the response that caused it.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets Iterable's error `code` (from the error envelope).
    pub fn with_code(mut self, code: Option<String>) -> Self {
        self.code = code;
        self
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.as_str())?;
        if let Some(stream) = &self.stream {
            write!(f, " [stream {stream}]")?;
        }
        if let Some(status) = self.status {
            write!(f, " (HTTP {status}")?;
            if let Some(code) = &self.code {
                write!(f, " {code}")?;
            }
            write!(f, ")")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConnectorError {}

/// Result of the core's fallible operations.
pub type Result<T> = std::result::Result<T, ConnectorError>;

/// Iterable's error envelope `{"msg", "code", "params"}` in a response body,
/// when there is one: `(code, msg)`. Bodies are not always JSON (gateways send
/// HTML or plain text), hence the options.
pub(crate) fn envelope(body: &[u8]) -> (Option<String>, Option<String>) {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    (field("code"), field("msg"))
}

/// The `code` of the error a record that contradicts its stream's schema
/// raises under `schema_policy: fail`.
pub const SCHEMA_VIOLATION: &str = "schema-violation";

/// The `code` of an error for SQL the core does not run itself (a JOIN,
/// GROUP BY, an aggregate, a subquery): a host with a SQL engine can run it
/// over the tables' scans (`plan_scans`) instead.
pub const SQL_NEEDS_ENGINE: &str = "sql-needs-engine";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_kind_once_in_order() {
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind:?}");
        }
    }
}
