//! A hostile Iterable: the simulated world behind a wrapper that answers
//! some or all requests the way broken gateways, proxies and servers do
//! (issue #14's fault matrix). Everything the mode does not touch is
//! answered by the world, so a hostile answer sits among answers shaped
//! like Iterable's.
//!
//! Each [`Hostile`] mode is one row of the fault matrix; `iterable-sim
//! --hostile MODE` serves it on loopback, [`spawn_hostile`] in-process.
//! Hostile answers bypass nothing in the server layer: requests are still
//! authenticated and checked against the spec first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ratelimit::too_many_requests;
use crate::run::{RunningSim, SimOptions};
use crate::server::Handler;
use crate::types::{ApiBody, ApiRequest, ApiResponse};

/// One way of misbehaving. The names are the CLI's `--hostile` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// 200 with an HTML page (a captive portal or a gateway's error page).
    Html200,
    /// 200 with JSON of the wrong shape (an array where an object belongs).
    WrongShape,
    /// 200 with JSON whose string bytes are not UTF-8.
    InvalidUtf8,
    /// 400 whose plain-text body repeats the request's headers, key included
    /// (whole, as a bare token and cut inside).
    Echo4xx,
    /// The same echo as a plain-text 500.
    Echo500,
    /// The world's answer, one byte every `trickle` interval.
    Trickle,
    /// Reads the request and never answers (the connection stays open).
    NeverAnswer,
    /// 429 with a `Retry-After` of about 31,700 years.
    RetryAfterHuge,
    /// 429 with a negative `Retry-After`.
    RetryAfterNegative,
    /// Paged endpoints ignore `page`: every page is the first one, always
    /// with a `nextPageUrl` to the next.
    EndlessPages,
    /// Async export file listings ignore `startAfter` (always the first
    /// ten files).
    IgnoreStartAfter,
    /// Async export jobs never leave `running` (and list no files).
    NeverComplete,
}

impl Hostile {
    /// Every mode, in the order of the matrix.
    pub const ALL: [Hostile; 12] = [
        Hostile::Html200,
        Hostile::WrongShape,
        Hostile::InvalidUtf8,
        Hostile::Echo4xx,
        Hostile::Echo500,
        Hostile::Trickle,
        Hostile::NeverAnswer,
        Hostile::RetryAfterHuge,
        Hostile::RetryAfterNegative,
        Hostile::EndlessPages,
        Hostile::IgnoreStartAfter,
        Hostile::NeverComplete,
    ];

    /// The CLI name (`--hostile NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Hostile::Html200 => "html-200",
            Hostile::WrongShape => "wrong-shape",
            Hostile::InvalidUtf8 => "invalid-utf8",
            Hostile::Echo4xx => "echo-4xx",
            Hostile::Echo500 => "echo-500",
            Hostile::Trickle => "trickle",
            Hostile::NeverAnswer => "never-answer",
            Hostile::RetryAfterHuge => "retry-after-huge",
            Hostile::RetryAfterNegative => "retry-after-negative",
            Hostile::EndlessPages => "endless-pages",
            Hostile::IgnoreStartAfter => "ignore-start-after",
            Hostile::NeverComplete => "never-complete",
        }
    }

    /// The mode called `name`, if any.
    pub fn parse(name: &str) -> Option<Hostile> {
        Hostile::ALL.into_iter().find(|h| h.name() == name)
    }
}

/// How a hostile server behaves beyond its mode.
#[derive(Debug, Clone, Copy)]
pub struct HostileOptions {
    /// Time between two bytes of a [`Hostile::Trickle`] body.
    pub trickle: Duration,
    /// How long a [`Hostile::NeverAnswer`] request is held before the
    /// handler gives up its thread (the client sees no answer either way:
    /// the connection is then dropped). Far beyond any client timeout.
    pub hold: Duration,
}

impl Default for HostileOptions {
    fn default() -> Self {
        HostileOptions {
            trickle: Duration::from_secs(2),
            hold: Duration::from_secs(3600),
        }
    }
}

/// The world behind `mode`.
pub fn hostile_handler(
    world: Arc<dyn Handler>,
    mode: Hostile,
    opts: HostileOptions,
) -> Arc<dyn Handler> {
    Arc::new(HostileHandler { world, mode, opts })
}

/// A simulator (the world of `sim`) answering as `mode` says, on its own
/// runtime in a background thread. Panics if the port cannot be bound.
pub fn spawn_hostile(sim: SimOptions, mode: Hostile, opts: HostileOptions) -> RunningSim {
    let world = crate::backend::world_handler(&sim);
    crate::run::spawn_with_handler(sim, hostile_handler(world, mode, opts))
}

/// [`spawn_hostile`] on the current tokio runtime (the CLI's `--hostile`).
pub async fn start_hostile(
    sim: SimOptions,
    mode: Hostile,
    opts: HostileOptions,
) -> std::io::Result<RunningSim> {
    let world = crate::backend::world_handler(&sim);
    crate::run::start_with_handler(sim, hostile_handler(world, mode, opts)).await
}

struct HostileHandler {
    world: Arc<dyn Handler>,
    mode: Hostile,
    opts: HostileOptions,
}

/// Iterable's API proper (not downloads or the simulator's test API).
fn is_api(req: &ApiRequest) -> bool {
    req.path.starts_with("/api/")
}

/// `/api/export/{id}/files`.
fn is_file_listing(req: &ApiRequest) -> bool {
    let seg: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    matches!(seg.as_slice(), ["api", "export", id, "files"] if id.parse::<i64>().is_ok())
}

impl Handler for HostileHandler {
    fn handle(&self, req: &ApiRequest) -> ApiResponse {
        if !is_api(req) {
            return self.world.handle(req);
        }
        match self.mode {
            Hostile::Html200 => ApiResponse::text(
                200,
                "text/html",
                "<!DOCTYPE html><html><head><title>Sign in to continue</title></head>\
                 <body><form action=\"/login\">Wi-Fi portal</form></body></html>"
                    .to_string(),
            ),
            Hostile::WrongShape => ApiResponse::json(200, json!([1, 2, {"unexpected": true}])),
            Hostile::InvalidUtf8 => raw_body(
                200,
                "application/json",
                b"{\"lists\": [{\"id\": 1, \"name\": \"caf\xe9 \xff\xfe\"}]}\n".to_vec(),
            ),
            Hostile::Echo4xx => echo_headers(req, 400),
            Hostile::Echo500 => echo_headers(req, 500),
            Hostile::Trickle => trickle(self.world.handle(req), self.opts.trickle),
            Hostile::NeverAnswer => {
                // The handler runs on a blocking thread: holding it is how
                // the server layer is kept from answering.
                let until = Instant::now() + self.opts.hold;
                while Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(200));
                }
                crate::faults::generic_error()
            }
            Hostile::RetryAfterHuge => {
                let mut r = too_many_requests(&req.path, None);
                r.headers
                    .push(("Retry-After".into(), "999999999999".into()));
                r
            }
            Hostile::RetryAfterNegative => {
                let mut r = too_many_requests(&req.path, None);
                r.headers.push(("Retry-After".into(), "-30".into()));
                r
            }
            Hostile::EndlessPages => endless_page(&*self.world, req),
            Hostile::IgnoreStartAfter if is_file_listing(req) => {
                let mut first = req.clone();
                first.query.retain(|(k, _)| k != "startAfter");
                self.world.handle(&first)
            }
            Hostile::NeverComplete if is_file_listing(req) => {
                let id = req.path.split('/').nth(3).unwrap_or("0");
                ApiResponse::json(
                    200,
                    json!({"jobId": id.parse::<i64>().unwrap_or(0), "jobState": "running",
                        "exportTruncated": false, "files": []}),
                )
            }
            Hostile::IgnoreStartAfter | Hostile::NeverComplete => self.world.handle(req),
        }
    }
}

fn raw_body(status: u16, content_type: &'static str, bytes: Vec<u8>) -> ApiResponse {
    ApiResponse {
        status,
        content_type,
        headers: Vec::new(),
        body: ApiBody::Stream(Box::new(std::iter::once(bytes))),
    }
}

/// A plain-text error repeating the key the request carried: in a header
/// echo (as some gateways print the request), as a bare token, and cut
/// after 9 characters (an excerpt that ends inside the key).
pub fn echo_headers(req: &ApiRequest, status: u16) -> ApiResponse {
    let key = req.header("api-key").unwrap_or_default().to_string();
    let cut: String = key.chars().take(9).collect();
    let mut echoed = String::new();
    for (k, v) in &req.headers {
        echoed.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = format!(
        "upstream said no. {} {} HTTP/1.1\r\n{echoed}Api-Key: {key}\r\ntoken={key} session {cut}",
        req.method, req.path
    );
    ApiResponse::text(status, "text/plain", body)
}

/// `resp` with its body sent one byte at a time, `every` apart.
fn trickle(resp: ApiResponse, every: Duration) -> ApiResponse {
    let bytes = match resp.body {
        ApiBody::Json(v) => serde_json::to_vec(&v).unwrap_or_default(),
        ApiBody::Text(t) => t.into_bytes(),
        ApiBody::Stream(s) => s.flatten().collect(),
        ApiBody::Empty => Vec::new(),
    };
    let mut first = true;
    let pieces = bytes.into_iter().map(move |b| {
        // The first byte at once (the head goes out with it), then the wait.
        if !std::mem::take(&mut first) {
            std::thread::sleep(every);
        }
        vec![b]
    });
    ApiResponse {
        status: resp.status,
        content_type: resp.content_type,
        headers: resp.headers,
        body: ApiBody::Stream(Box::new(pieces)),
    }
}

/// A server that ignores `page`: the first page, whichever was asked for,
/// always linking the next. Endpoints without paging are left alone.
fn endless_page(world: &dyn Handler, req: &ApiRequest) -> ApiResponse {
    let Some(page) = req.param("page").and_then(|p| p.parse::<u64>().ok()) else {
        return world.handle(req);
    };
    let mut first = req.clone();
    first.query.retain(|(k, _)| k != "page");
    first.query.push(("page".into(), "1".into()));
    let mut resp = world.handle(&first);
    if let ApiBody::Json(v) = &mut resp.body {
        let mut next = req.clone();
        next.query.retain(|(k, _)| k != "page");
        next.query.push(("page".into(), (page + 1).to_string()));
        let link = format!(
            "{}{}?{}",
            req.base_url,
            req.path,
            crate::api::query_string(&next.query)
        );
        // Paged answers come bare or in Iterable's {msg, code, params}
        // envelope; the link goes where the world put its own.
        let target = if v.get("params").is_some_and(Value::is_object) {
            &mut v["params"]
        } else {
            v
        };
        if target.is_object() {
            target["nextPageUrl"] = json!(link);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_its_name() {
        for h in Hostile::ALL {
            assert_eq!(Hostile::parse(h.name()), Some(h));
        }
        assert_eq!(Hostile::parse("polite"), None);
    }

    #[test]
    fn file_listings_are_recognised() {
        let mut req = ApiRequest {
            method: "GET".into(),
            path: "/api/export/17/files".into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            now: chrono::Utc::now(),
            base_url: "http://127.0.0.1:1".into(),
        };
        assert!(is_file_listing(&req));
        req.path = "/api/export/jobs".into();
        assert!(!is_file_listing(&req));
    }

    #[test]
    fn an_echo_repeats_the_key_whole_and_cut() {
        let req = ApiRequest {
            method: "GET".into(),
            path: "/api/lists".into(),
            query: Vec::new(),
            headers: vec![("api-key".into(), "abcdefghijklmnop".into())],
            body: Vec::new(),
            now: chrono::Utc::now(),
            base_url: "http://127.0.0.1:1".into(),
        };
        let ApiBody::Text(t) = echo_headers(&req, 500).body else {
            panic!("text body")
        };
        assert!(t.contains("Api-Key: abcdefghijklmnop"));
        assert!(t.contains("session abcdefghi"));
    }
}
