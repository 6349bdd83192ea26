//! One-shot exchanges outside a read session: `check` (is the key good?) and
//! the custom-field lookup that `discover` uses. Sans-IO like everything else:
//! the core builds the request and judges the response; the host sends it.

use serde_json::Value;

use crate::config::Config;
use crate::error::{ConnectorError, Result};
use crate::exchange::endpoint::{CHANNELS, Endpoint, USER_FIELDS};
use crate::exchange::{HttpRequest, status_error};

/// A one-shot request: id 0, outside any session's pacing.
fn get(config: &Config, endpoint: &Endpoint) -> HttpRequest {
    HttpRequest {
        id: 0,
        method: endpoint.method,
        url: config.url(endpoint.path),
        headers: vec![("Accept".into(), "application/json".into())],
        body: None,
        needs_auth: true,
        stream: String::new(),
    }
}

/// A cheap authenticated call (100/s class) that any server-side key may make.
pub fn check_request(config: &Config) -> HttpRequest {
    get(config, &CHANNELS)
}

/// Judges the answer to [`check_request`].
pub fn check_response(status: u16, body: &[u8]) -> Result<()> {
    if !(200..300).contains(&status) {
        return Err(status_error(status, body, CHANNELS.path));
    }
    match serde_json::from_slice::<Value>(body).ok() {
        Some(v) if v.get("channels").is_some() => Ok(()),
        _ => Err(ConnectorError::malformed(
            "GET /api/channels did not answer with {\"channels\": [...]}: is base_url an Iterable API?",
        )),
    }
}

/// `GET /api/users/getFields`: the project's user fields, for the `users` schema.
pub fn user_fields_request(config: &Config) -> HttpRequest {
    get(config, &USER_FIELDS)
}

/// Parses the answer to [`user_fields_request`] into what `catalog::discover` takes.
pub fn user_fields_response(status: u16, body: &[u8]) -> Result<Value> {
    if !(200..300).contains(&status) {
        return Err(status_error(status, body, USER_FIELDS.path));
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
    use crate::error::ErrorKind;

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
