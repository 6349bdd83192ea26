//! The HTTP exchanges the core asks the host to perform.

/// Correlates a planned request with the host's reply. Unique within a session.
pub type RequestId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One request for the host to send.
///
/// `needs_auth` asks the host to add the `Api-Key` header itself, so the secret
/// need not live in the core (or the wasm component). Download URLs of async
/// export files must be fetched *without* the key: they have `needs_auth = false`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub id: RequestId,
    pub method: Method,
    /// Absolute URL, query string included and percent-encoded.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub needs_auth: bool,
    /// The stream this request serves (for logs and progress displays).
    pub stream: String,
}

/// How a request failed before a complete response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// Could not connect / DNS / TLS.
    Connect,
    /// No answer within the host's timeout.
    Timeout,
    /// The connection closed before the body was complete (a cut-off export).
    BodyCut,
    /// Anything else.
    Other,
}
