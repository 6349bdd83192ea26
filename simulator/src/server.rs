//! The HTTP/1.1 server: hyper in, [`ApiRequest`] to the handler,
//! [`ApiResponse`] out.
//!
//! Order of checks for each request, chosen to match what a client of the
//! real service observes:
//! 0. the simulator's own test API (`/_sim/…`, e.g. `GET /_sim/applied`)
//!    goes straight to the handler: no key, no spec, no limits, no faults,
//!    not logged;
//! 1. download URLs (`/_files/…`) skip 2–5: they stand in for pre-signed S3
//!    URLs, which take no key and are not part of the API;
//! 2. `Api-Key` (401 — does not use rate budget);
//! 3. route lookup in the spec (404);
//! 4. rate limit of the endpoint (429 — counted before parameter checks);
//! 5. on writes ([`is_write`]): the injected 429 storm and random 429s;
//! 6. parameter and body validation (400);
//! 7. injected 500 `GenericError` (any request, then writes only);
//! 8. the handler, on a blocking thread (exports can be CPU-heavy);
//! 9. on writes: the injected cut, the write applied but the connection
//!    dropped before a byte of the answer (logged with status 0).
//!
//! Body faults (malformed lines, slow bodies, cuts) apply to every response.

mod body;
mod url;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::auth::Auth;
use crate::faults::{FaultOptions, FaultRng, Purpose, generic_error, is_write};
use crate::ratelimit::{RateLimiter, too_many_requests};
use crate::reqlog::{LogEntry, RequestLog, redact_query};
use crate::spec::Spec;
use crate::types::{ADMIN_PREFIX, ApiBody, ApiRequest, ApiResponse, DOWNLOAD_PREFIX};
use body::{BodyFaults, SimBody, spawn_pipeline};

pub(crate) use url::{parse_query, percent_decode_path};

/// Answers validated requests. The simulator's world implements it; tests
/// of the server layer plug in fakes.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: &ApiRequest) -> ApiResponse;
}

impl<F> Handler for F
where
    F: Fn(&ApiRequest) -> ApiResponse + Send + Sync + 'static,
{
    fn handle(&self, req: &ApiRequest) -> ApiResponse {
        self(req)
    }
}

/// Everything a connection task needs; one per running simulator.
pub(crate) struct Shared {
    pub handler: Arc<dyn Handler>,
    pub auth: Auth,
    pub limiter: Option<RateLimiter>,
    pub faults: FaultOptions,
    pub seed: u64,
    pub log: Arc<RequestLog>,
    pub base_url: String,
    /// Simulated "now" at start-up; requests see it advance in real time.
    pub now0: DateTime<Utc>,
    pub started: Instant,
    pub seq: AtomicU64,
    /// Write requests received, numbering the write faults.
    pub write_seq: AtomicU64,
    /// Downloads of export files received, for `fail_downloads`.
    pub download_seq: AtomicU64,
}

impl Shared {
    /// The simulated clock now.
    pub fn now(&self) -> DateTime<Utc> {
        self.now0 + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }
}

/// The injected cut after a write was applied: hyper drops the connection
/// without writing a response when the service fails.
#[derive(Debug)]
pub(crate) struct ConnectionCut;

impl std::fmt::Display for ConnectionCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection cut after the write was applied")
    }
}

impl std::error::Error for ConnectionCut {}

/// Accepts connections until `shutdown` fires; then drops every connection.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle_http(shared.clone(), req));
                    // Errors here are client disconnects and injected cuts.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow forever.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

async fn handle_http(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<SimBody>, ConnectionCut> {
    let t0 = Instant::now();
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let method = req.method().as_str().to_string();
    let raw_path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // A body that cannot be read means the client went away; the request is
    // still answered (and logged) as if it had sent none.
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let key = Auth::presented_key(&headers).map(String::from);
    let api_req = ApiRequest {
        method: method.clone(),
        path: percent_decode_path(&raw_path),
        query: parse_query(&raw_query),
        headers,
        body,
        now: shared.now(),
        base_url: shared.base_url.clone(),
    };
    if api_req.path.starts_with(ADMIN_PREFIX) {
        let resp = run_handler(&shared, api_req).await;
        return Ok(render_plain(resp));
    }
    let outcome = respond(&shared, seq, api_req).await;
    let mut entry = LogEntry {
        method,
        path: raw_path,
        query: redact_query(&raw_query, key.as_deref()),
        status: 0,
        bytes: 0,
        ms: 0,
    };
    match outcome {
        Ok(resp) => {
            entry.status = resp.status;
            Ok(render(&shared, seq, resp, entry, t0))
        }
        Err(cut) => {
            entry.ms = t0.elapsed().as_millis() as u64;
            shared.log.record(entry);
            Err(cut)
        }
    }
}

/// The handler, on a blocking thread; a panic looks like Iterable's 500.
async fn run_handler(shared: &Arc<Shared>, req: ApiRequest) -> ApiResponse {
    let handler = shared.handler.clone();
    tokio::task::spawn_blocking(move || handler.handle(&req))
        .await
        .unwrap_or_else(|_| generic_error())
}

/// Everything before and after the handler (see the module docs for the
/// order); `Err` = cut the connection without answering.
async fn respond(
    shared: &Arc<Shared>,
    seq: u64,
    mut req: ApiRequest,
) -> Result<ApiResponse, ConnectionCut> {
    let faults = &shared.faults;
    let mut write_seq = None;
    if !req.path.starts_with(DOWNLOAD_PREFIX) {
        if let Err(unauthorized) = shared.auth.check(&req.headers, &req.path) {
            return Ok(unauthorized);
        }
        let spec = Spec::load();
        let matched = match spec.match_route(&req.method, &req.path) {
            Ok(m) => m,
            Err(v) => return Ok(v.to_response()),
        };
        if is_write(&req.method, &req.path) {
            write_seq = Some(shared.write_seq.fetch_add(1, Ordering::Relaxed));
        }
        if let Some(limiter) = &shared.limiter
            && !limiter.allow(&matched.method, &matched.template)
        {
            return Ok(too_many_requests(&req.path, faults.retry_after_secs));
        }
        if let Some(w) = write_seq
            && (faults.in_throttle_storm(w)
                || FaultRng::for_request(shared.seed, w, Purpose::WriteThrottle)
                    .chance(faults.write_throttle_rate))
        {
            return Ok(too_many_requests(&req.path, faults.retry_after_secs));
        }
        match spec.check_params(matched, &req.query, Some(&req.body)) {
            // Handlers see enum values in the spec's spelling.
            Ok(m) => req.query = m.query,
            Err(v) => return Ok(v.to_response()),
        }
    }
    if FaultRng::for_request(shared.seed, seq, Purpose::Error).chance(faults.error_rate) {
        return Ok(generic_error());
    }
    if let Some(ttl) = faults.url_ttl_secs
        && req.path.starts_with(DOWNLOAD_PREFIX)
        && let Some(expires) = req.param("expires").and_then(|e| e.parse::<i64>().ok())
        && req.now.timestamp() > expires - 1800 + ttl as i64
    {
        return Ok(url_expired());
    }
    if faults.fail_downloads > 0
        && req.path.starts_with(DOWNLOAD_PREFIX)
        && shared.download_seq.fetch_add(1, Ordering::Relaxed) < faults.fail_downloads
    {
        return Ok(generic_error());
    }
    if let Some(w) = write_seq
        && FaultRng::for_request(shared.seed, w, Purpose::WriteError)
            .chance(faults.write_error_rate)
    {
        return Ok(generic_error());
    }
    let resp = run_handler(shared, req).await;
    if let Some(w) = write_seq
        && FaultRng::for_request(shared.seed, w, Purpose::WriteCut).chance(faults.write_cut_rate)
    {
        return Err(ConnectionCut);
    }
    Ok(resp)
}

/// S3's answer to a pre-signed URL past its expiry.
fn url_expired() -> ApiResponse {
    ApiResponse::text(
        403,
        "application/xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
        <Message>Request has expired</Message></Error>"
            .to_string(),
    )
}

/// A response without body faults or logging (the `/_sim/` test API).
fn render_plain(resp: ApiResponse) -> Response<SimBody> {
    let bytes = match resp.body {
        ApiBody::Json(v) => serde_json::to_vec(&v).expect("JSON serialises"),
        ApiBody::Text(t) => t.into_bytes(),
        ApiBody::Stream(s) => s.flatten().collect(),
        ApiBody::Empty => Vec::new(),
    };
    let mut builder = Response::builder()
        .status(resp.status)
        .header("Content-Type", resp.content_type)
        .header("Server", "iterable-ingress sim");
    for (k, v) in &resp.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(SimBody::Full(Some(Bytes::from(bytes))))
        .unwrap_or_else(internal)
}

/// Builds the hyper response and arranges for the log entry to be written
/// when the body is complete.
fn render(
    shared: &Arc<Shared>,
    seq: u64,
    resp: ApiResponse,
    mut entry: LogEntry,
    t0: Instant,
) -> Response<SimBody> {
    let mut builder = Response::builder()
        .status(resp.status)
        .header("Content-Type", resp.content_type)
        .header("Server", "iterable-ingress sim")
        .header("Vary", "Origin")
        .header("Request-Time", t0.elapsed().as_millis().to_string());
    for (k, v) in &resp.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let faults = &shared.faults;
    let ndjson = resp.content_type.starts_with("application/x-json-stream");
    let malformed = (ndjson && faults.malformed_rate > 0.0).then(|| {
        (
            FaultRng::for_request(shared.seed, seq, Purpose::Malformed),
            faults.malformed_rate,
        )
    });
    let (chunks, len): (Box<dyn Iterator<Item = Vec<u8>> + Send>, Option<u64>) = match resp.body {
        ApiBody::Stream(it) => (it, None),
        other => {
            let bytes = match other {
                ApiBody::Json(v) => serde_json::to_vec(&v).expect("JSON serialises"),
                ApiBody::Text(t) => t.into_bytes(),
                ApiBody::Empty | ApiBody::Stream(_) => Vec::new(),
            };
            let n = bytes.len() as u64;
            let cut = faults.cut_after_bytes.is_some_and(|c| n > c);
            if malformed.is_none() && !cut && faults.slow_body_bps.is_none() {
                entry.bytes = n;
                entry.ms = t0.elapsed().as_millis() as u64;
                shared.log.record(entry);
                return builder
                    .body(SimBody::Full(Some(Bytes::from(bytes))))
                    .unwrap_or_else(internal);
            }
            // Inserting lines changes the length: stream those chunked.
            let len = if malformed.is_some() { None } else { Some(n) };
            (Box::new(std::iter::once(bytes)), len)
        }
    };
    let log = shared.log.clone();
    let on_done = Box::new(move |bytes: u64| {
        entry.bytes = bytes;
        entry.ms = t0.elapsed().as_millis() as u64;
        log.record(entry);
    });
    let body_faults = BodyFaults {
        malformed,
        cut_after: faults.cut_after_bytes,
        bytes_per_sec: faults.slow_body_bps,
    };
    builder
        .body(spawn_pipeline(chunks, body_faults, len, on_done))
        .unwrap_or_else(internal)
}

/// A handler produced a header hyper refuses; that is a simulator bug, so
/// say so plainly instead of panicking the connection task.
fn internal(e: hyper::http::Error) -> Response<SimBody> {
    let mut r = Response::new(SimBody::Full(Some(Bytes::from(format!(
        "simulator error: {e}"
    )))));
    *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// Binds 127.0.0.1:`port` (0 = ephemeral) without a runtime.
pub(crate) fn bind(port: u16) -> io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(("127.0.0.1", port))?;
    l.set_nonblocking(true)?;
    Ok(l)
}
