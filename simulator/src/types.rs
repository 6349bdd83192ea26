//! The contract between the HTTP server layer (server, spec validation, auth,
//! rate limits, faults, logging) and the Iterable API handlers (world + api).
//!
//! The server turns a hyper request into an [`ApiRequest`], validates it against
//! the OpenAPI spec, then calls [`crate::api::handle`]. Handlers never see
//! sockets; the server never knows Iterable's data model.

use chrono::{DateTime, Utc};

/// A validated request, as handlers see it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    /// Path without query, e.g. `/api/export/data.json`.
    pub path: String,
    /// Decoded query pairs in order; repeated keys appear repeatedly.
    pub query: Vec<(String, String)>,
    /// Lower-cased header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The simulator's clock at the time of the request.
    pub now: DateTime<Utc>,
    /// Base URL of this server (`http://127.0.0.1:PORT`), for absolute links
    /// such as async-export download URLs.
    pub base_url: String,
}

impl ApiRequest {
    /// First value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query parameter.
    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`None` when empty or not JSON).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A response body. Large bodies (exports) are produced lazily, chunk by
/// chunk, so the simulator never holds millions of rows in memory.
pub enum ApiBody {
    Json(serde_json::Value),
    Text(String),
    /// Lazily produced chunks (each typically one NDJSON line or CSV row).
    Stream(Box<dyn Iterator<Item = Vec<u8>> + Send>),
    Empty,
}

pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: ApiBody,
}

impl ApiResponse {
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        ApiResponse {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: ApiBody::Json(value),
        }
    }

    pub fn text(status: u16, content_type: &'static str, text: String) -> Self {
        ApiResponse {
            status,
            content_type,
            headers: Vec::new(),
            body: ApiBody::Text(text),
        }
    }

    pub fn stream(
        content_type: &'static str,
        chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    ) -> Self {
        ApiResponse {
            status: 200,
            content_type,
            headers: Vec::new(),
            body: ApiBody::Stream(chunks),
        }
    }

    /// Iterable's error envelope: `{"msg", "code", "params"}`.
    pub fn error(status: u16, code: &str, msg: impl Into<String>) -> Self {
        ApiResponse::json(
            status,
            serde_json::json!({"msg": msg.into(), "code": code, "params": null}),
        )
    }

    /// Iterable's success envelope.
    pub fn success(msg: impl Into<String>, params: serde_json::Value) -> Self {
        ApiResponse::json(
            200,
            serde_json::json!({"msg": msg.into(), "code": "Success", "params": params}),
        )
    }
}

/// Data volume presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Tiny,
    Small,
    Medium,
    Large,
    /// Large over 150 days: about 2 M email sends, a 1 GB export (the
    /// memory benchmark of a big read).
    XLarge,
}

impl Scale {
    pub fn parse(s: &str) -> Option<Scale> {
        match s {
            "tiny" => Some(Scale::Tiny),
            "small" => Some(Scale::Small),
            "medium" => Some(Scale::Medium),
            "large" => Some(Scale::Large),
            "xlarge" => Some(Scale::XLarge),
            _ => None,
        }
    }
}

/// Everything that determines the simulated data. Same options, same data.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    pub seed: u64,
    pub scale: Scale,
    /// The simulator's "now" at start-up; generated history ends before it.
    pub now: DateTime<Utc>,
    /// Late indexing: a row becomes visible in exports only this long after
    /// its createdAt (simulated time). Zero = immediately.
    pub late_index_secs: i64,
}

/// Path prefix of async-export download URLs (the stand-in for S3 pre-signed
/// URLs). The server serves these without `Api-Key`, outside the OpenAPI spec
/// and outside rate limits; the world module produces them and answers them
/// through the ordinary handler.
pub const DOWNLOAD_PREFIX: &str = "/_files/";

/// Path prefix of the simulator's own test API (`GET /_sim/applied`): served
/// without `Api-Key`, outside the spec, rate limits, faults and the request
/// log, so a test can look without disturbing what it measures.
pub const ADMIN_PREFIX: &str = "/_sim/";
