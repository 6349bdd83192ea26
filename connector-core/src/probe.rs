//! One-shot exchanges outside a read session: `check` (is the key good?) and
//! the custom-field lookup that `discover` uses. Sans-IO like everything else:
//! the core builds the request and judges the response; the host sends it.

use serde_json::Value;

use crate::config::Config;
use crate::error::{ConnectorError, ErrorKind, Result, envelope};
use crate::http::{HttpRequest, Method};

fn get(config: &Config, path: &str, id: u64) -> HttpRequest {
    HttpRequest {
        id,
        method: Method::Get,
        url: config.url(path),
        headers: vec![("Accept".into(), "application/json".into())],
        body: None,
        needs_auth: true,
        stream: String::new(),
    }
}

/// A cheap authenticated call (100/s class) that any server-side key may make.
pub fn check_request(config: &Config) -> HttpRequest {
    get(config, "/api/channels", 0)
}

/// Judges the answer to [`check_request`].
pub fn check_response(status: u16, body: &[u8]) -> Result<()> {
    let (code, _) = envelope(body);
    let (kind, message) = match status {
        200..=299 => {
            return match serde_json::from_slice::<Value>(body).ok() {
                Some(v) if v.get("channels").is_some() => Ok(()),
                _ => Err(ConnectorError::malformed(
                    "GET /api/channels did not answer with {\"channels\": [...]}: is base_url an Iterable API?",
                )),
            };
        }
        401 => (
            ErrorKind::Unauthorized,
            "Iterable rejected the API key: use a server-side key, and set region to the project's data centre (US or EU)",
        ),
        403 => (
            ErrorKind::Forbidden,
            "the API key may not read this project: give it read permissions",
        ),
        429 => (
            ErrorKind::RateLimited,
            "rate limited while checking the key; try again in a minute",
        ),
        _ => (
            ErrorKind::Upstream,
            "Iterable failed while checking the key",
        ),
    };
    let mut e = ConnectorError::new(kind, message)
        .with_status(status)
        .with_code(code);
    e.retryable = matches!(kind, ErrorKind::RateLimited | ErrorKind::Upstream);
    Err(e)
}

/// `GET /api/users/getFields`: the project's user fields, for the `users` schema.
pub fn user_fields_request(config: &Config) -> HttpRequest {
    get(config, "/api/users/getFields", 0)
}

/// Parses the answer to [`user_fields_request`] into what `catalog::discover` takes.
pub fn user_fields_response(status: u16, body: &[u8]) -> Result<Value> {
    if !(200..300).contains(&status) {
        return check_response(status, body).map(|_| Value::Null);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ConnectorError::malformed(format!("users/getFields: {e}")))?;
    if v.get("fields").is_some_and(Value::is_object) {
        Ok(v)
    } else {
        Err(ConnectorError::malformed(
            "users/getFields did not answer with {\"fields\": {...}}",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_maps_statuses() {
        assert!(check_response(200, br#"{"channels": []}"#).is_ok());
        let e =
            check_response(401, br#"{"code":"BadApiKey","msg":"Invalid API key"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert_eq!(e.code.as_deref(), Some("BadApiKey"));
        assert!(e.message.contains("region"));
        assert_eq!(
            check_response(200, b"<html>").unwrap_err().kind,
            ErrorKind::MalformedResponse
        );
        let f = user_fields_response(200, br#"{"fields": {"LTV": "double"}}"#).unwrap();
        assert_eq!(f["fields"]["LTV"], "double");
    }
}
