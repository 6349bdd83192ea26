//! `Api-Key` authentication.
//!
//! Iterable documents the `Api-Key` header; long-lived clients also send
//! `Api_Key` and `api_key`, which work, so all three spellings count (header
//! names are case-insensitive anyway).

use serde_json::json;

use crate::types::ApiResponse;

/// Lower-cased header names that carry the key.
const KEY_HEADERS: &[&str] = &["api-key", "api_key"];

/// Which keys the simulator accepts.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// `None`: any non-empty key; `Some(k)`: exactly `k`.
    pub expected: Option<String>,
}

impl Auth {
    /// The key sent with a request, from lower-cased `(name, value)` headers.
    pub fn presented_key(headers: &[(String, String)]) -> Option<&str> {
        headers
            .iter()
            .find(|(k, _)| KEY_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(_, v)| v.trim())
    }

    /// `Ok` when the headers carry an acceptable key, else the 401 response.
    pub fn check(&self, headers: &[(String, String)], path: &str) -> Result<(), ApiResponse> {
        let ok = match (Self::presented_key(headers), &self.expected) {
            (Some(""), _) => false,
            (Some(k), Some(expected)) => k == expected,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if ok { Ok(()) } else { Err(unauthorized(path)) }
    }
}

/// Iterable's 401 body (recorded by the api-client's error tests).
pub fn unauthorized(path: &str) -> ApiResponse {
    ApiResponse::json(
        401,
        json!({
            "msg": "Invalid API key",
            "code": "BadApiKey",
            "params": {"ip": "127.0.0.1", "endpoint": path},
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.to_string(), value.to_string())]
    }

    #[test]
    fn spellings_and_expected_key() {
        let any = Auth::default();
        for name in ["api-key", "api_key", "API-KEY", "Api_Key"] {
            assert!(any.check(&h(name, "k"), "/p").is_ok(), "{name}");
        }
        assert!(any.check(&h("api-key", ""), "/p").is_err());
        assert!(any.check(&[], "/p").is_err());
        let only = Auth {
            expected: Some("secret".into()),
        };
        assert!(only.check(&h("api-key", "secret"), "/p").is_ok());
        let err = only.check(&h("api-key", "wrong"), "/api/x").unwrap_err();
        assert_eq!(err.status, 401);
    }
}
