//! The HTTP exchanges the core asks the host to perform.

/// Correlates a planned request with the host's reply. Unique within a session.
pub type RequestId = u64;

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name as sent, e.g. `"GET"`.
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
    /// Identifies the reply: pass it back with every response call.
    pub id: RequestId,
    /// HTTP method to use.
    pub method: Method,
    /// Absolute URL, query string included and percent-encoded.
    pub url: String,
    /// Headers to send (`Accept`, `Content-Type`); never the `Api-Key`.
    pub headers: Vec<(String, String)>,
    /// Request body (JSON), if any.
    pub body: Option<Vec<u8>>,
    /// Whether the host must add the `Api-Key` header.
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

/// Percent-encodes a query value or path segment (RFC 3986 unreserved kept).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `path?k=v&k=v` with every key and value encoded; repeated keys allowed.
pub(crate) fn path_with_query(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect();
    format!("{}?{}", path, pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_emails_and_export_dates() {
        assert_eq!(encode_component("a+b@x.com"), "a%2Bb%40x.com");
        assert_eq!(
            path_with_query(
                "/api/export/data.json",
                &[("startDateTime", "2024-01-01 00:00:00".into())]
            ),
            "/api/export/data.json?startDateTime=2024-01-01%2000%3A00%3A00"
        );
        assert_eq!(path_with_query("/api/lists", &[]), "/api/lists");
    }
}
