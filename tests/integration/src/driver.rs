//! A sequential native host for the core: one request at a time, real or
//! virtual time. It is what the integration tests (and the benchmarks) use to
//! run a `ReadSession` end to end.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connector_core::{Action, ConnectorError, HttpRequest, ReadSession, Summary};
use connector_core::{LogMessage, Record};
use serde_json::Value;

use crate::http_client::{self, Event};

/// Where requests go.
pub trait Transport {
    fn send(&mut self, req: &HttpRequest, on: &mut dyn FnMut(Event));
}

/// Real HTTP over loopback, adding the `Api-Key` header when asked.
pub struct HttpTransport {
    pub api_key: String,
    /// Every request sent: (method, url, needs_auth).
    pub sent: Vec<HttpRequest>,
}

impl HttpTransport {
    pub fn new(api_key: &str) -> Self {
        HttpTransport {
            api_key: api_key.to_string(),
            sent: Vec::new(),
        }
    }
}

impl Transport for HttpTransport {
    fn send(&mut self, req: &HttpRequest, on: &mut dyn FnMut(Event)) {
        let mut headers = req.headers.clone();
        if req.needs_auth {
            headers.push(("Api-Key".into(), self.api_key.clone()));
        }
        self.sent.push(req.clone());
        http_client::send(
            req.method.as_str(),
            &req.url,
            &headers,
            req.body.as_deref(),
            on,
        );
    }
}

pub trait Clock {
    fn now_ms(&mut self) -> i64;
    fn sleep_until(&mut self, t: i64);
}

pub struct RealClock;

impl Clock for RealClock {
    fn now_ms(&mut self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
    fn sleep_until(&mut self, t: i64) {
        let now = self.now_ms();
        if t > now {
            std::thread::sleep(Duration::from_millis((t - now) as u64));
        }
    }
}

/// Time that moves only when the session sleeps (for mock transports).
pub struct VirtualClock(pub i64);

impl Clock for VirtualClock {
    fn now_ms(&mut self) -> i64 {
        self.0
    }
    fn sleep_until(&mut self, t: i64) {
        self.0 = self.0.max(t);
    }
}

#[derive(Debug, Default)]
pub struct SyncOutput {
    pub records: BTreeMap<String, Vec<Record>>,
    /// Latest state per stream.
    pub state: BTreeMap<String, Value>,
    /// Per stream: how many of its records its latest commit covers (what a
    /// destination that commits on STATE messages would keep after a stop).
    pub committed: BTreeMap<String, usize>,
    pub commits: usize,
    pub logs: Vec<LogMessage>,
    pub summary: Option<Summary>,
    /// Emit actions seen (batches).
    pub batches: usize,
    /// True when the run stopped early because of `stop_after_commits`.
    pub stopped_early: bool,
}

impl SyncOutput {
    pub fn count(&self, stream: &str) -> usize {
        self.records.get(stream).map_or(0, Vec::len)
    }
}

/// What takes a response: the read and the write session alike.
pub trait Responder {
    fn head(
        &mut self,
        now: i64,
        id: u64,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<(), ConnectorError>;
    fn body(&mut self, now: i64, id: u64, chunk: &[u8]) -> Result<(), ConnectorError>;
    fn end(&mut self, now: i64, id: u64) -> Result<(), ConnectorError>;
    fn error(
        &mut self,
        now: i64,
        id: u64,
        kind: connector_core::TransportErrorKind,
    ) -> Result<(), ConnectorError>;
}

macro_rules! responder {
    ($session:ty) => {
        impl Responder for $session {
            fn head(
                &mut self,
                now: i64,
                id: u64,
                status: u16,
                headers: &[(String, String)],
            ) -> Result<(), ConnectorError> {
                self.on_response_head(now, id, status, headers)
            }
            fn body(&mut self, now: i64, id: u64, chunk: &[u8]) -> Result<(), ConnectorError> {
                self.on_response_body(now, id, chunk)
            }
            fn end(&mut self, now: i64, id: u64) -> Result<(), ConnectorError> {
                self.on_response_end(now, id)
            }
            fn error(
                &mut self,
                now: i64,
                id: u64,
                kind: connector_core::TransportErrorKind,
            ) -> Result<(), ConnectorError> {
                self.on_transport_error(now, id, kind)
            }
        }
    };
}
responder!(ReadSession);
responder!(connector_core::WriteSession);
responder!(connector_core::QuerySession);

/// A session that answers `poll` with read actions: a read, or a query.
pub trait Reading: Responder {
    fn next_action(&mut self, now: i64) -> Result<Action, ConnectorError>;
}

impl Reading for ReadSession {
    fn next_action(&mut self, now: i64) -> Result<Action, ConnectorError> {
        self.poll(now)
    }
}

impl Reading for connector_core::QuerySession {
    fn next_action(&mut self, now: i64) -> Result<Action, ConnectorError> {
        self.poll(now)
    }
}

/// Sends `req` and feeds the reply into `session` (`deliver = false`: the
/// request goes out but its answer is never read, as when a host is killed).
fn exchange(
    session: &mut dyn Responder,
    req: &HttpRequest,
    transport: &mut dyn Transport,
    clock: &mut dyn Clock,
    deliver: bool,
) -> Result<(), ConnectorError> {
    let id = req.id;
    let mut result: Result<(), ConnectorError> = Ok(());
    transport.send(req, &mut |ev| {
        if result.is_err() || !deliver {
            return;
        }
        let now = clock.now_ms();
        result = match ev {
            Event::Head(status, headers) => session.head(now, id, status, &headers),
            Event::Body(chunk) => session.body(now, id, chunk),
            Event::End => session.end(now, id),
            Event::Error(kind) => session.error(now, id, kind),
        };
    });
    result
}

/// Runs the session to completion (or until `stop_after_commits` commits).
pub fn run(
    session: &mut impl Reading,
    transport: &mut dyn Transport,
    clock: &mut dyn Clock,
    stop_after_commits: Option<usize>,
) -> Result<SyncOutput, ConnectorError> {
    let mut out = SyncOutput::default();
    loop {
        let now = clock.now_ms();
        match session.next_action(now)? {
            Action::Fetch(req) => exchange(session, &req, transport, clock, true)?,
            Action::Emit(batch) => {
                out.batches += 1;
                out.records
                    .entry(batch.stream.clone())
                    .or_default()
                    .extend(batch.records());
            }
            Action::Commit(cp) => {
                let covered = out.records.get(&cp.stream).map_or(0, Vec::len);
                out.committed.insert(cp.stream.clone(), covered);
                out.state.insert(cp.stream, cp.state);
                out.commits += 1;
                if stop_after_commits.is_some_and(|n| out.commits >= n) {
                    out.stopped_early = true;
                    return Ok(out);
                }
            }
            Action::SleepUntil(t) => clock.sleep_until(t),
            Action::AwaitResponse => {
                return Err(ConnectorError::misuse(
                    "sequential driver: AwaitResponse with nothing in flight",
                ));
            }
            Action::Log(l) => out.logs.push(l),
            Action::Done(summary) => {
                out.summary = Some(summary);
                return Ok(out);
            }
        }
    }
}

/// A transport answering from a function of the request (recorded bodies).
pub struct MockTransport<F: FnMut(&HttpRequest) -> MockResponse> {
    pub answer: F,
    pub sent: Vec<HttpRequest>,
    /// Bodies are fed in chunks of this many bytes (to exercise split parsing).
    pub chunk: usize,
}

pub enum MockResponse {
    Ok(u16, &'static str, Vec<u8>),
    /// Status 200, then the first `n` bytes of the body, then a cut.
    Cut(Vec<u8>, usize),
    Transport(connector_core::TransportErrorKind),
}

impl<F: FnMut(&HttpRequest) -> MockResponse> MockTransport<F> {
    pub fn new(answer: F) -> Self {
        MockTransport {
            answer,
            sent: Vec::new(),
            chunk: 7,
        }
    }
}

impl<F: FnMut(&HttpRequest) -> MockResponse> Transport for MockTransport<F> {
    fn send(&mut self, req: &HttpRequest, on: &mut dyn FnMut(Event)) {
        self.sent.push(req.clone());
        match (self.answer)(req) {
            MockResponse::Ok(status, ctype, body) => {
                on(Event::Head(
                    status,
                    vec![("content-type".into(), ctype.into())],
                ));
                for c in body.chunks(self.chunk.max(1)) {
                    on(Event::Body(c));
                }
                on(Event::End);
            }
            MockResponse::Cut(body, n) => {
                on(Event::Head(200, vec![]));
                for c in body[..n.min(body.len())].chunks(self.chunk.max(1)) {
                    on(Event::Body(c));
                }
                on(Event::Error(connector_core::TransportErrorKind::BodyCut));
            }
            MockResponse::Transport(kind) => on(Event::Error(kind)),
        }
    }
}

/// What a write run produced.
#[derive(Debug, Default)]
pub struct WriteOutput {
    /// Every row's result, by row number.
    pub results: BTreeMap<u64, connector_core::RowResult>,
    /// Rows that got more than one result (must stay empty).
    pub duplicates: Vec<u64>,
    pub checkpoints: Vec<connector_core::WriteCheckpoint>,
    pub logs: Vec<LogMessage>,
    pub summary: Option<connector_core::WriteSummary>,
    /// True when the run stopped early because of `stop_after_fetches`.
    pub stopped_early: bool,
}

impl WriteOutput {
    /// Rows that ended with `status`.
    pub fn rows_with(&self, status: connector_core::RowStatus) -> Vec<u64> {
        self.results
            .values()
            .filter(|r| r.status == status)
            .map(|r| r.row)
            .collect()
    }
}

/// Runs a write session over `rows` (pushed `chunk` at a time), to the end
/// or until `stop_after_fetches` requests went out (a simulated kill: the
/// last request was sent, its answer never read).
pub fn run_write(
    session: &mut connector_core::WriteSession,
    rows: Vec<Value>,
    chunk: usize,
    transport: &mut dyn Transport,
    clock: &mut dyn Clock,
    stop_after_fetches: Option<usize>,
) -> Result<WriteOutput, ConnectorError> {
    use connector_core::WriteAction;
    let mut out = WriteOutput::default();
    let mut input = rows.into_iter().peekable();
    let mut fetches = 0;
    loop {
        let now = clock.now_ms();
        match session.poll(now)? {
            WriteAction::Fetch(req) => {
                fetches += 1;
                let killed = stop_after_fetches.is_some_and(|n| fetches >= n);
                exchange(session, &req, transport, clock, !killed)?;
                if killed {
                    out.stopped_early = true;
                    return Ok(out);
                }
            }
            WriteAction::NeedRows => {
                let batch: Vec<Value> = input.by_ref().take(chunk).collect();
                if batch.is_empty() {
                    session.finish_input();
                } else {
                    session.push_rows(batch)?;
                }
            }
            WriteAction::Results(results) => {
                for r in results {
                    let row = r.row;
                    if out.results.insert(row, r).is_some() {
                        out.duplicates.push(row);
                    }
                }
            }
            WriteAction::Commit(cp) => out.checkpoints.push(cp),
            WriteAction::SleepUntil(t) => clock.sleep_until(t),
            WriteAction::AwaitResponse => {
                return Err(ConnectorError::misuse(
                    "sequential driver: AwaitResponse with nothing in flight",
                ));
            }
            WriteAction::Log(l) => out.logs.push(l),
            WriteAction::Done(summary) => {
                out.summary = Some(summary);
                return Ok(out);
            }
        }
    }
}

responder!(connector_core::SyncSession);

/// What a sync run produced.
#[derive(Debug, Default)]
pub struct SyncRun {
    pub summary: Option<connector_core::SyncSummary>,
    /// The last committed state.
    pub state: Option<Value>,
    /// Requests sent.
    pub fetches: usize,
    pub stopped_early: bool,
}

/// Runs a sync against `local` (the "local table": key → row), applying
/// its local changes in place. `stop_after_fetches` kills it after that many
/// requests were sent (the last one's answer never read).
pub fn run_sync(
    session: &mut connector_core::SyncSession,
    local: &mut BTreeMap<String, serde_json::Map<String, Value>>,
    transport: &mut dyn Transport,
    clock: &mut dyn Clock,
    stop_after_fetches: Option<usize>,
) -> Result<SyncRun, ConnectorError> {
    use connector_core::{Change, LocalRow, SyncAction};
    let mut out = SyncRun::default();
    loop {
        match session.poll(clock.now_ms())? {
            SyncAction::Fetch(req) => {
                out.fetches += 1;
                let killed = stop_after_fetches.is_some_and(|n| out.fetches >= n);
                exchange(session, &req, transport, clock, !killed)?;
                if killed {
                    out.stopped_early = true;
                    return Ok(out);
                }
            }
            SyncAction::NeedLocal => {
                let rows = local
                    .iter()
                    .map(|(k, v)| LocalRow {
                        key: k.clone(),
                        content: v.clone(),
                        changed_ms: None,
                    })
                    .collect();
                session.push_local(rows)?;
                session.finish_local();
            }
            SyncAction::ApplyLocal(changes) => {
                for c in changes {
                    match c {
                        Change::Upsert { key, content } => {
                            local.insert(key, content);
                        }
                        Change::Delete { key } => {
                            local.remove(&key);
                        }
                    }
                }
            }
            SyncAction::SleepUntil(t) => clock.sleep_until(t),
            SyncAction::AwaitResponse => {
                return Err(ConnectorError::misuse(
                    "sequential driver: AwaitResponse with nothing in flight",
                ));
            }
            SyncAction::Log(_) => {}
            SyncAction::Commit(state) => out.state = Some(state),
            SyncAction::Done(summary) => {
                out.summary = Some(summary);
                return Ok(out);
            }
        }
    }
}
