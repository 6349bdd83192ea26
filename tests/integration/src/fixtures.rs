//! Recorded exchanges shared with the Python tests: `tests/fixtures/<endpoint>/<case>/`
//! holds `request.json` (the request the core is expected to make), `status`,
//! `body` (raw bytes) and optionally `headers.json`. See `tests/fixtures/README.md`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use connector_core::HttpRequest;
use serde_json::Value;

use crate::driver::Transport;
use crate::http_client::Event;
use crate::mock_iterable::{decode, path as request_path};

/// One recorded exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    pub endpoint: String,
    pub case: String,
    /// `GET`, `POST`, …
    pub method: String,
    /// Decoded path, no host (`/api/users/jane@example.com`).
    pub path: String,
    /// Every query parameter, decoded, in order (repeated keys repeat).
    pub query: Vec<(String, String)>,
    /// The JSON body the request carries, if any.
    pub request_body: Option<Value>,
    pub status: u16,
    /// Response headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Response body, bytes exactly as recorded.
    pub body: Vec<u8>,
}

/// `tests/fixtures/` of the repository.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
}

/// Loads `tests/fixtures/<endpoint>/<case>/`; panics (naming the file) on a bad fixture.
pub fn load(endpoint: &str, case: &str) -> Fixture {
    let d = dir().join(endpoint).join(case);
    let read = |name: &str| {
        fs::read(d.join(name)).unwrap_or_else(|e| panic!("{}: {e}", d.join(name).display()))
    };
    let json = |name: &str| -> Value {
        serde_json::from_slice(&read(name))
            .unwrap_or_else(|e| panic!("{}: {e}", d.join(name).display()))
    };
    let req = json("request.json");
    let mut query = Vec::new();
    if let Some(q) = req.get("query").and_then(Value::as_object) {
        for (k, v) in q {
            match v {
                Value::Array(vs) => {
                    for v in vs {
                        query.push((k.clone(), scalar(v)));
                    }
                }
                v => query.push((k.clone(), scalar(v))),
            }
        }
    }
    let status_text = String::from_utf8(read("status")).expect("status is text");
    let status = status_text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}: bad status {status_text:?}", d.display()));
    let headers = if d.join("headers.json").exists() {
        json("headers.json")
            .as_object()
            .expect("headers.json is an object")
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), scalar(v)))
            .collect()
    } else {
        Vec::new()
    };
    Fixture {
        endpoint: endpoint.to_string(),
        case: case.to_string(),
        method: req["method"].as_str().expect("request.json: method").into(),
        path: req["path"].as_str().expect("request.json: path").into(),
        query,
        request_body: req.get("body").cloned(),
        status,
        headers,
        body: read("body"),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every fixture, sorted by endpoint then case.
pub fn all() -> Vec<(String, String, Fixture)> {
    let mut out = Vec::new();
    let mut endpoints: Vec<_> = fs::read_dir(dir())
        .expect("tests/fixtures")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    endpoints.sort();
    for ep in endpoints {
        let mut cases: Vec<_> = fs::read_dir(dir().join(&ep))
            .expect("an endpoint dir")
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        cases.sort();
        for case in cases {
            let f = load(&ep, &case);
            out.push((ep.clone(), case, f));
        }
    }
    out
}

/// Every query parameter of a planned request, decoded, in order.
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    let q = req.url.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn sorted(mut q: Vec<(String, String)>) -> Vec<(String, String)> {
    q.sort();
    q
}

impl Fixture {
    /// `endpoint/case`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.endpoint, self.case)
    }

    /// Why `req` is not the recorded request (method, path, query as a
    /// multiset, JSON body when recorded); `None` when it is.
    pub fn mismatch(&self, req: &HttpRequest) -> Option<String> {
        if req.method.as_str() != self.method {
            return Some(format!("method {} != {}", req.method.as_str(), self.method));
        }
        let p = request_path(req);
        if p != self.path {
            return Some(format!("path {p} != {}", self.path));
        }
        let (got, want) = (sorted(query_pairs(req)), sorted(self.query.clone()));
        if got != want {
            return Some(format!("query {got:?} != {want:?}"));
        }
        if let Some(want) = &self.request_body {
            let got: Option<Value> = req
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok());
            if got.as_ref() != Some(want) {
                return Some(format!("body {got:?} != {want}"));
            }
        }
        None
    }

    pub fn matches(&self, req: &HttpRequest) -> bool {
        self.mismatch(req).is_none()
    }

    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON: {e}", self.name()))
    }

    /// Non-blank lines of a text, NDJSON or CSV body.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// An answer a [`Replay`] gives to a request no fixture matches.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Answer {
            status,
            content_type: content_type.into(),
            body: body.into(),
        }
    }

    pub fn json(v: Value) -> Self {
        Answer::new(200, "application/json", v.to_string())
    }
}

/// A transport answering from fixtures (first match wins), and from
/// `fallback` for anything else (empty pages, terminal answers).
pub struct Replay<F: FnMut(&HttpRequest) -> Answer> {
    pub fixtures: Vec<Fixture>,
    pub fallback: F,
    /// Every request sent, with the fixture that answered it (if any).
    pub sent: Vec<(HttpRequest, Option<String>)>,
    /// Bodies are fed in chunks of this many bytes.
    pub chunk: usize,
    /// A fixture answers at most once (later matches go to `fallback`).
    pub once: bool,
}

impl<F: FnMut(&HttpRequest) -> Answer> Replay<F> {
    pub fn new(fixtures: Vec<Fixture>, fallback: F) -> Self {
        Replay {
            fixtures,
            fallback,
            sent: Vec::new(),
            chunk: 5,
            once: false,
        }
    }

    /// How many requests each fixture answered.
    pub fn served(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for (_, by) in &self.sent {
            if let Some(name) = by {
                *m.entry(name.clone()).or_default() += 1;
            }
        }
        m
    }
}

impl<F: FnMut(&HttpRequest) -> Answer> Transport for Replay<F> {
    fn send(&mut self, req: &HttpRequest, on: &mut dyn FnMut(Event)) {
        let served = self.served();
        let once = self.once;
        let hit = self
            .fixtures
            .iter()
            .find(|f| f.matches(req) && !(once && served.contains_key(&f.name())));
        let (status, headers, body, by) = match hit {
            Some(f) => (f.status, f.headers.clone(), f.body.clone(), Some(f.name())),
            None => {
                let a = (self.fallback)(req);
                (
                    a.status,
                    vec![("content-type".to_string(), a.content_type)],
                    a.body,
                    None,
                )
            }
        };
        self.sent.push((req.clone(), by));
        on(Event::Head(status, headers));
        for c in body.chunks(self.chunk.max(1)) {
            on(Event::Body(c));
        }
        on(Event::End);
    }
}
