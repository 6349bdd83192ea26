//! The one table from an HTTP error status to a typed error: every session
//! and one-shot exchange (`check`, `discover`) reports statuses the same way.

use crate::error::{ConnectorError, ErrorKind, envelope};

/// Characters of Iterable's own message kept in an error: enough for the
/// reason, never a whole echoed body.
const MAX_REASON_CHARS: usize = 300;
/// Bytes of a body without Iterable's envelope looked at for a reason.
const MAX_RAW_EXCERPT: usize = 2048;
/// Characters of that reason kept: a status line or a page title.
const MAX_RAW_REASON_CHARS: usize = 120;

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
    let msg = msg.unwrap_or_else(|| raw_reason(&body[..body.len().min(MAX_RAW_EXCERPT)]));
    let msg: String = msg.chars().take(MAX_REASON_CHARS).collect();
    let msg = redact_key_echo(&msg);
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

/// The reason in a body that is not Iterable's JSON envelope (a gateway's
/// HTML page, a proxy's plain text): its first line with any text once HTML
/// tags are dropped, whitespace collapsed, cut to [`MAX_RAW_REASON_CHARS`].
/// A gateway that echoes the request puts the headers after that line, so
/// they (and an echoed key) stay out of the error.
fn raw_reason(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut in_tag = false;
    for line in text.lines() {
        let mut visible = String::new();
        for c in line.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                _ if !in_tag => visible.push(c),
                _ => {}
            }
        }
        let words: Vec<&str> = visible.split_whitespace().collect();
        if !words.is_empty() {
            return words.join(" ").chars().take(MAX_RAW_REASON_CHARS).collect();
        }
    }
    String::new()
}

/// `text` with the value after any `Api-Key` (also `api_key`, `apikey`,
/// `x-api-key`; any case) replaced by `***`: gateways and proxies that echo
/// the request's headers in an error body must not carry the key into an
/// error message. The core never holds the key, so it looks for the name.
pub(crate) fn redact_key_echo(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find("api") {
        let at = from + found;
        let mut i = at + 3;
        if matches!(bytes.get(i), Some(b'-' | b'_' | b' ')) {
            i += 1;
        }
        if !lower[i..].starts_with("key") {
            from = at + 3;
            continue;
        }
        i += 3;
        // Separators between the name and the value: quotes, `:`, `=`, spaces.
        while matches!(
            bytes.get(i),
            Some(b'"' | b'\'' | b':' | b'=' | b' ' | b'\t')
        ) {
            i += 1;
        }
        let start = i;
        while bytes.get(i).is_some_and(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'/')
        }) {
            i += 1;
        }
        if i > start {
            out.push_str(&text[copied..start]);
            out.push_str("***");
            copied = i;
        }
        from = i.max(at + 3);
    }
    out.push_str(&text[copied..]);
    out
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
    fn echoed_key_headers_are_scrubbed() {
        let body =
            b"400 Bad Request\nHost: api.iterable.com\nApi-Key: 0123456789abcdef0123\nAccept: */*";
        let e = status_error(400, body, "/api/lists");
        assert!(!e.message.contains("0123456789"), "{}", e.message);
        // Only the status line: the echoed headers are not the reason.
        assert!(e.message.ends_with(": 400 Bad Request"), "{}", e.message);
        // A key on the first line itself is still scrubbed.
        let e = status_error(400, b"denied Api-Key: 0123456789abcdef", "/api/lists");
        assert!(e.message.ends_with("denied Api-Key: ***"), "{}", e.message);
        assert_eq!(
            redact_key_echo(
                r#"{"headers": {"api_key": "s3cr3t-value", "x-api-key":"abc.def"}} apiary"#
            ),
            r#"{"headers": {"api_key": "***", "x-api-key":"***"}} apiary"#
        );
        // A body cut inside the key: what is left of it goes too.
        assert_eq!(redact_key_echo("...API-KEY: 01234"), "...API-KEY: ***");
        assert_eq!(redact_key_echo("no secrets here"), "no secrets here");
    }

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
        assert!(e.message.len() < 200, "{}", e.message.len());
        let page = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body></html>";
        let e = status_error(502, page, "/api/export/data.json");
        assert_eq!(
            e.message,
            "Iterable failed (/api/export/data.json): 502 Bad Gateway"
        );
        assert_eq!(path_of("https://h:1/api/a/b?email=x"), "/api/a/b");
        assert_eq!(path_of("https://h"), "/");
    }
}
