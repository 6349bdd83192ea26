//! The one table from an HTTP error status to a typed error: every session
//! and one-shot exchange (`check`, `discover`) reports statuses the same way.

use crate::error::{ConnectorError, ErrorKind, envelope};

/// Characters of Iterable's own message kept in an error: enough for the
/// reason, never a whole echoed body.
const MAX_REASON_CHARS: usize = 300;
/// Bytes of a body without Iterable's envelope quoted in an error.
const MAX_RAW_EXCERPT: usize = 200;

/// What a status means: the error kind, a hint naming the fix, and whether
/// trying again later can help.
fn classify(status: u16) -> (ErrorKind, &'static str, bool) {
    match status {
        401 => (
            ErrorKind::Unauthorized,
            "Iterable rejected the API key: use a server-side key, and set region to the project's data centre (US or EU)",
            false,
        ),
        403 => (
            ErrorKind::Forbidden,
            "the API key lacks permission for this endpoint (give it read permissions), or the feature is off for the project",
            false,
        ),
        429 => (
            ErrorKind::RateLimited,
            "rate limit exceeded; try again in a minute",
            true,
        ),
        // Passing failures of the server or a gateway. 501 and the rarer 5xx
        // say the request itself cannot be served: retrying will not help.
        408 | 500 | 502 | 503 | 504 => (ErrorKind::Upstream, "Iterable failed", true),
        500..=599 => (ErrorKind::Upstream, "Iterable failed", false),
        _ => (ErrorKind::Upstream, "Iterable refused the request", false),
    }
}

/// Whether a status is worth retrying at all (before any retry budget).
pub(crate) fn is_transient(status: u16) -> bool {
    classify(status).2
}

/// A typed error for an HTTP error response to `path` (no query string):
/// the hint, and Iterable's own reason when its envelope carries one.
pub(crate) fn status_error(status: u16, body: &[u8], path: &str) -> ConnectorError {
    let (code, msg) = envelope(body);
    let msg = msg.unwrap_or_else(|| {
        String::from_utf8_lossy(&body[..body.len().min(MAX_RAW_EXCERPT)]).into_owned()
    });
    let msg: String = msg.chars().take(MAX_REASON_CHARS).collect();
    let (kind, hint, retryable) = classify(status);
    let message = if msg.trim().is_empty() {
        format!("{hint} ({path})")
    } else {
        format!("{hint} ({path}): {msg}")
    };
    let mut e = ConnectorError::new(kind, message)
        .with_status(status)
        .with_code(code);
    e.retryable = retryable;
    e
}

/// The path of an absolute URL, without its query string (for messages:
/// never the query, which may hold an email address).
pub(crate) fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds_with_hints() {
        let e = status_error(
            401,
            br#"{"code":"BadApiKey","msg":"Invalid API key"}"#,
            "/api/x",
        );
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert_eq!(e.code.as_deref(), Some("BadApiKey"));
        assert!(e.message.contains("region") && e.message.contains("Invalid API key"));
        assert!(!e.retryable);
        assert_eq!(status_error(403, b"", "/a").kind, ErrorKind::Forbidden);
        let r = status_error(429, b"", "/a");
        assert!(r.kind == ErrorKind::RateLimited && r.retryable);
        assert!(status_error(503, b"<html>", "/a").retryable);
        assert!(!status_error(400, b"", "/a").retryable);
        assert!(is_transient(502) && is_transient(408) && !is_transient(404));
        assert!(!is_transient(501));
    }

    #[test]
    fn long_bodies_are_cut_to_the_reason() {
        let body = "x".repeat(10_000);
        let e = status_error(500, body.as_bytes(), "/a");
        assert!(e.message.len() < 400, "{}", e.message.len());
        assert_eq!(path_of("https://h:1/api/a/b?email=x"), "/api/a/b");
        assert_eq!(path_of("https://h"), "/");
    }
}
