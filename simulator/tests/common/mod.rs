//! Helpers for calling `api::handle` directly (no HTTP).
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use iterable_sim::api;
use iterable_sim::types::{ApiBody, ApiRequest, ApiResponse, Scale, WorldOptions};
use iterable_sim::world::World;
use serde_json::Value;

pub const BASE: &str = "http://127.0.0.1:4010";

/// 2024-03-01T10:00:00Z: tiny history is 2024-02-23 .. 2024-02-29.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_709_287_200, 0).unwrap()
}

pub fn opts(seed: u64, scale: Scale) -> WorldOptions {
    WorldOptions {
        seed,
        scale,
        now: now(),
        late_index_secs: 0,
    }
}

pub fn world(scale: Scale) -> World {
    World::new(opts(7, scale))
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Builds a request from `path?query` (values may be percent-encoded).
pub fn req_at(method: &str, target: &str, body: Option<Value>, at: DateTime<Utc>) -> ApiRequest {
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    ApiRequest {
        method: method.into(),
        path: path.into(),
        query,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default(),
        now: at,
        base_url: BASE.into(),
    }
}

pub fn call_at(
    w: &World,
    method: &str,
    target: &str,
    body: Option<Value>,
    at: DateTime<Utc>,
) -> ApiResponse {
    api::handle(w, &req_at(method, target, body, at))
}

pub fn call(w: &World, method: &str, target: &str, body: Option<Value>) -> ApiResponse {
    call_at(w, method, target, body, now())
}

pub fn bytes(r: ApiResponse) -> Vec<u8> {
    match r.body {
        ApiBody::Json(v) => serde_json::to_vec(&v).unwrap(),
        ApiBody::Text(t) => t.into_bytes(),
        ApiBody::Stream(s) => s.flatten().collect(),
        ApiBody::Empty => Vec::new(),
    }
}

pub fn text(r: ApiResponse) -> String {
    String::from_utf8(bytes(r)).unwrap()
}

/// GET returning JSON with status 200.
pub fn get_json(w: &World, target: &str) -> Value {
    let r = call(w, "GET", target, None);
    assert_eq!(r.status, 200, "GET {target}");
    assert_eq!(r.content_type, "application/json", "GET {target}");
    serde_json::from_slice(&bytes(r)).unwrap()
}

pub fn status_json(r: ApiResponse) -> (u16, Value) {
    let s = r.status;
    let b = bytes(r);
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// NDJSON lines of an export.
pub fn ndjson(w: &World, target: &str) -> Vec<Value> {
    let r = call(w, "GET", target, None);
    assert_eq!(r.status, 200, "GET {target}");
    assert_eq!(r.content_type, "application/x-json-stream");
    text(r)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// True when `s` is `yyyy-MM-dd HH:mm:ss +00:00`.
pub fn is_export_ts(s: &str) -> bool {
    s.len() == 26
        && s.ends_with(" +00:00")
        && chrono::NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%d %H:%M:%S").is_ok()
}

/// True when `v` looks like epoch milliseconds (2001..2286).
pub fn is_epoch_ms(v: &Value) -> bool {
    v.as_i64()
        .is_some_and(|x| x > 1_000_000_000_000 && x < 10_000_000_000_000)
}
