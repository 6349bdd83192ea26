//! The read session: the sans-IO state machine a host drives.
//!
//! ```text
//! host                                   core (ReadSession)
//!  |  open(config, streams, state)  -->  validates; plans
//!  |  poll(now)                     <--  Action::Fetch(HttpRequest)
//!  |  on_response_head(id, status, headers)
//!  |  on_response_body(id, chunk)   -->  incremental parse, bounded memory
//!  |  on_response_end(id) | on_transport_error(id, kind)
//!  |  poll(now)                     <--  Emit | Commit | SleepUntil | Log | Done
//! ```
//!
//! The runner owns what every stream shares: pacing, retries, HTTP status
//! handling, parsing, de-duplication after retries, and the output queue. Each
//! stream's requests come from its reader (`readers`), one at a time.

mod dedupe;
pub mod reader;
pub mod readers;
pub mod types;

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

pub use types::*;

use crate::catalog::{self, StreamDef};
use crate::config::Config;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::http::{HttpRequest, RequestId, TransportErrorKind};
use crate::pacing::{self, Pacer};
use crate::parse::{BodyParser, ParseOptions};
use crate::record::key_fingerprint;
use crate::state::{SessionState, StreamState};
use crate::time;
use dedupe::Dedupe;
use reader::{Ctx, Next, Planned, Reader, Sink};

/// Records per `Emit` at most: big enough to amortise the boundary crossing,
/// small enough to keep memory flat.
pub const MAX_BATCH: usize = 1000;
/// Error bodies kept for the error message, at most.
const MAX_ERROR_BODY: usize = 16 * 1024;
/// History read when neither state nor `start_date` says otherwise.
const DEFAULT_HISTORY: Duration = Duration::days(30);

/// A stream to read and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSelection {
    pub name: String,
    /// `false` = full refresh: saved state is ignored.
    pub incremental: bool,
}

impl StreamSelection {
    pub fn incremental(name: &str) -> Self {
        StreamSelection {
            name: name.to_string(),
            incremental: true,
        }
    }
}

struct Task {
    def: StreamDef,
    reader: Box<dyn Reader>,
    incremental: bool,
    key_fields: Vec<&'static str>,
    /// Planned but not yet sent (waiting for budget or a retry delay).
    pending: Option<Planned>,
    busy: bool,
    finished: bool,
    attempts: u32,
    /// Set by a failure; turned into `retry_at` at the next poll (which knows the time).
    retry_delay: Option<i64>,
    retry_at: i64,
    last_sent_at: i64,
    dedupe: Dedupe,
    summary: StreamSummary,
}

struct InFlight {
    task: usize,
    planned: Planned,
    status: Option<u16>,
    parser: Option<BodyParser>,
    error_body: Vec<u8>,
    retry_after_ms: Option<i64>,
}

enum Failure {
    Status {
        status: u16,
        body: Vec<u8>,
        retry_after_ms: Option<i64>,
    },
    Transport(TransportErrorKind),
}

pub struct ReadSession {
    config: Config,
    tasks: Vec<Task>,
    inflight: BTreeMap<RequestId, InFlight>,
    queue: VecDeque<Action>,
    pacer: Pacer,
    next_id: RequestId,
    bounds: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: i64,
    failed: Option<ConnectorError>,
    done: bool,
    jobs_running: std::cell::Cell<u32>,
}

impl ReadSession {
    /// Validates the selection and state and plans every stream.
    pub fn open(
        config: Config,
        streams: &[StreamSelection],
        state: &SessionState,
    ) -> Result<ReadSession> {
        if streams.is_empty() {
            return Err(ConnectorError::config(
                "streams",
                "select at least one stream (run discover for the list)",
            ));
        }
        let mut tasks = Vec::with_capacity(streams.len());
        for sel in streams {
            if tasks.iter().any(|t: &Task| t.def.name == sel.name) {
                return Err(ConnectorError::config(
                    "streams",
                    format!("stream \"{}\" is selected twice", sel.name),
                ));
            }
            let def = catalog::find(&sel.name)?;
            catalog::check_user_filter(&def, &config)?;
            let saved = match state.get(def.name) {
                Some(v) => StreamState::from_json(def.name, v)?,
                None => StreamState::default(),
            };
            let reader = readers::reader_for(&def, &config, &saved, sel.incremental);
            tasks.push(Task {
                def,
                reader,
                incremental: sel.incremental,
                key_fields: def.key_fields(&config),
                pending: None,
                busy: false,
                finished: false,
                attempts: 0,
                retry_delay: None,
                retry_at: i64::MIN,
                last_sent_at: 0,
                dedupe: Dedupe::default(),
                summary: StreamSummary {
                    stream: def.name.to_string(),
                    ..Default::default()
                },
            });
        }
        Ok(ReadSession {
            pacer: Pacer::new(config.time_scale),
            config,
            tasks,
            inflight: BTreeMap::new(),
            queue: VecDeque::new(),
            next_id: 1,
            bounds: None,
            now: 0,
            failed: None,
            done: false,
            jobs_running: std::cell::Cell::new(0),
        })
    }

    /// How many requests the host may keep in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.config.max_concurrency as usize
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What to do next. `now` is the host's clock in epoch milliseconds.
    pub fn poll(&mut self, now: i64) -> Result<Action> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.now = now;
        if self.bounds.is_none() {
            self.bounds = Some(self.compute_bounds(now)?);
        }
        if let Some(action) = self.queue.pop_front() {
            return Ok(action);
        }
        if self.done {
            return Ok(Action::Done(self.summary()));
        }
        let mut wake: Option<i64> = None;
        for i in 0..self.tasks.len() {
            if self.inflight.len() >= self.max_in_flight() {
                break;
            }
            match self.try_send(i, now) {
                Ok(Some(req)) => return Ok(Action::Fetch(req)),
                Ok(None) => {}
                Err(e) => return Err(self.fail(e.with_stream(self.tasks[i].def.name))),
            }
            let t = &self.tasks[i];
            if !t.finished && !t.busy {
                let at = match &t.pending {
                    Some(p) if t.retry_at <= now => self.pacer.ready_at(p.bucket, now),
                    _ => Some(t.retry_at).filter(|r| *r > now),
                };
                if let Some(at) = at {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                }
            }
        }
        if let Some(action) = self.queue.pop_front() {
            return Ok(action);
        }
        if !self.inflight.is_empty() {
            return Ok(match wake {
                Some(w) => Action::SleepUntil(w),
                None => Action::AwaitResponse,
            });
        }
        if let Some(w) = wake {
            return Ok(Action::SleepUntil(w));
        }
        if self.tasks.iter().all(|t| t.finished) {
            self.done = true;
            return Ok(Action::Done(self.summary()));
        }
        // Unreachable in a correct runner: every unfinished task is busy or waiting.
        Err(self.fail(ConnectorError::new(
            ErrorKind::Internal,
            "session stalled with no request to send",
        )))
    }

    fn compute_bounds(&self, now: i64) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let now_dt = time::from_epoch_ms(now)
            .ok_or_else(|| ConnectorError::misuse("poll: `now` is not a valid epoch-ms time"))?;
        let end = match self.config.end_date {
            Some(e) => e.min(now_dt),
            None => now_dt - Duration::minutes(self.config.lookback_minutes as i64),
        };
        // Whole seconds: the export API's parameters have no sub-second part.
        let end = time::from_epoch_ms(time::to_epoch_ms(&end) / 1000 * 1000).unwrap_or(end);
        let start = self.config.start_date.unwrap_or(end - DEFAULT_HISTORY);
        let start = time::from_epoch_ms(time::to_epoch_ms(&start) / 1000 * 1000).unwrap_or(start);
        Ok((start, end))
    }

    /// Plans and, budget allowing, sends the next request of task `i`.
    fn try_send(&mut self, i: usize, now: i64) -> Result<Option<HttpRequest>> {
        {
            let t = &mut self.tasks[i];
            if t.finished || t.busy {
                return Ok(None);
            }
            if let Some(d) = t.retry_delay.take() {
                t.retry_at = now + d;
            }
            if t.retry_at > now {
                return Ok(None);
            }
        }
        if self.tasks[i].pending.is_none() {
            let next = self.with_reader(i, |r, ctx| r.next(ctx))?;
            match next {
                Next::Send(p) => self.tasks[i].pending = Some(p),
                Next::Wait(ms) => {
                    self.tasks[i].retry_at = now + self.pacer.scale(ms);
                    return Ok(None);
                }
                Next::Done => {
                    let t = &mut self.tasks[i];
                    t.finished = true;
                    self.queue.push_back(Action::Log(LogMessage {
                        level: LogLevel::Info,
                        message: format!(
                            "finished: {} records, {} requests",
                            t.summary.records, t.summary.requests
                        ),
                        stream: Some(t.def.name.to_string()),
                    }));
                    return Ok(None);
                }
            }
        }
        let bucket = self.tasks[i].pending.as_ref().expect("set above").bucket;
        if self.pacer.ready_at(bucket, now).is_some() {
            return Ok(None);
        }
        self.pacer.record(bucket, now);
        let planned = self.tasks[i].pending.take().expect("set above");
        let id = self.next_id;
        self.next_id += 1;
        let t = &mut self.tasks[i];
        t.busy = true;
        t.last_sent_at = now;
        t.summary.requests += 1;
        let mut headers = vec![("Accept".to_string(), accept_for(&planned))];
        if planned.body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let request = HttpRequest {
            id,
            method: planned.method,
            url: planned.url.clone(),
            headers,
            body: planned.body.clone(),
            needs_auth: planned.needs_auth,
            stream: t.def.name.to_string(),
        };
        self.inflight.insert(
            id,
            InFlight {
                task: i,
                planned,
                status: None,
                parser: None,
                error_body: Vec::new(),
                retry_after_ms: None,
            },
        );
        Ok(Some(request))
    }

    /// Runs `f` with task `i`'s reader and a context (disjoint borrows).
    fn with_reader<T>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut dyn Reader, &Ctx) -> Result<T>,
    ) -> Result<T> {
        let (start, end) = self.bounds.expect("bounds are set by the first poll");
        let ctx = Ctx {
            config: &self.config,
            now: self.now,
            start,
            end,
            incremental: self.tasks[i].incremental,
            last_sent_at: self.tasks[i].last_sent_at,
            jobs_running: &self.jobs_running,
        };
        f(self.tasks[i].reader.as_mut(), &ctx)
    }

    /// The status line and headers of a response.
    pub fn on_response_head(
        &mut self,
        id: RequestId,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<()> {
        let skip = self.config.skip_malformed_lines;
        let f = self.inflight_mut(id)?;
        if f.status.is_some() {
            return Err(ConnectorError::misuse(format!(
                "on_response_head called twice for request {id}"
            )));
        }
        f.status = Some(status);
        if (200..300).contains(&status) {
            f.parser = Some(BodyParser::new(
                f.planned.format,
                ParseOptions {
                    skip_malformed: skip,
                    ..ParseOptions::default()
                },
            ));
        }
        f.retry_after_ms = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| v.trim().parse::<i64>().ok())
            .map(|secs| secs.max(0) * 1000);
        Ok(())
    }

    /// A chunk of the body, split anywhere.
    pub fn on_response_body(&mut self, id: RequestId, chunk: &[u8]) -> Result<()> {
        let f = self.inflight_mut(id)?;
        if f.status.is_none() {
            return Err(ConnectorError::misuse(format!(
                "on_response_body before on_response_head for request {id}"
            )));
        }
        let task = f.task;
        let items = match f.parser.as_mut() {
            Some(parser) => match parser.push(chunk) {
                Ok(()) => parser.take(),
                Err(e) => {
                    let stream = self.tasks[task].def.name;
                    return Err(self.fail(ConnectorError::from(e).with_stream(stream)));
                }
            },
            None => {
                let room = MAX_ERROR_BODY.saturating_sub(f.error_body.len());
                f.error_body
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
                return Ok(());
            }
        };
        self.deliver(task, items, false)
    }

    /// The body is complete.
    pub fn on_response_end(&mut self, id: RequestId) -> Result<()> {
        let f = self
            .inflight
            .remove(&id)
            .ok_or_else(|| ConnectorError::misuse(format!("unknown request id {id}")))?;
        let status = f.status.ok_or_else(|| {
            ConnectorError::misuse(format!("on_response_end before on_response_head for {id}"))
        })?;
        let task = f.task;
        self.tasks[task].busy = false;
        match f.parser {
            Some(mut parser) => {
                let finished = parser.finish();
                self.tasks[task].summary.skipped_lines += parser.skipped();
                if let Err(e) = finished {
                    let stream = self.tasks[task].def.name;
                    return Err(self.fail(ConnectorError::from(e).with_stream(stream)));
                }
                let items = parser.take();
                self.deliver(task, items, true)
            }
            None => self.on_failure(
                task,
                f.planned,
                Failure::Status {
                    status,
                    body: f.error_body,
                    retry_after_ms: f.retry_after_ms,
                },
            ),
        }
    }

    /// The request failed before its body was complete.
    pub fn on_transport_error(&mut self, id: RequestId, kind: TransportErrorKind) -> Result<()> {
        let f = self
            .inflight
            .remove(&id)
            .ok_or_else(|| ConnectorError::misuse(format!("unknown request id {id}")))?;
        self.tasks[f.task].busy = false;
        // A 2xx whose body broke off is a cut body whatever the host called it.
        let kind = if f.parser.is_some() && kind == TransportErrorKind::Other {
            TransportErrorKind::BodyCut
        } else {
            kind
        };
        self.on_failure(f.task, f.planned, Failure::Transport(kind))
    }

    fn inflight_mut(&mut self, id: RequestId) -> Result<&mut InFlight> {
        self.inflight
            .get_mut(&id)
            .ok_or_else(|| ConnectorError::misuse(format!("unknown request id {id}")))
    }

    /// Hands parsed items to the reader and queues what comes out.
    fn deliver(&mut self, task: usize, items: Vec<Value>, complete: bool) -> Result<()> {
        let mut sink = Sink::default();
        let result = self.with_reader(task, |r, ctx| {
            for item in items {
                r.on_item(item, ctx, &mut sink)?;
            }
            if complete {
                r.on_complete(ctx, &mut sink)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            let stream = self.tasks[task].def.name;
            return Err(self.fail(e.with_stream(stream)));
        }
        self.flush(task, sink);
        if complete {
            let t = &mut self.tasks[task];
            t.attempts = 0;
            if !t.reader.unit_open() {
                t.dedupe.reset();
            }
        }
        Ok(())
    }

    /// Queues a reader's output: records (de-duplicated, batched), logs, commit.
    fn flush(&mut self, task: usize, sink: Sink) {
        let t = &mut self.tasks[task];
        let stream = t.def.name;
        let mut admitted = Vec::with_capacity(sink.records.len());
        for rec in sink.records {
            if t.dedupe.admit(key_fingerprint(&rec, &t.key_fields)) {
                admitted.push(rec);
            }
        }
        t.summary.records += admitted.len() as u64;
        let mut records = admitted.into_iter().peekable();
        while records.peek().is_some() {
            let room = match self.queue.back() {
                Some(Action::Emit(b)) if b.stream == stream && b.records.len() < MAX_BATCH => {
                    MAX_BATCH - b.records.len()
                }
                _ => {
                    self.queue.push_back(Action::Emit(RecordBatch {
                        stream: stream.to_string(),
                        records: Vec::new(),
                    }));
                    MAX_BATCH
                }
            };
            if let Some(Action::Emit(b)) = self.queue.back_mut() {
                b.records.extend(records.by_ref().take(room));
            }
        }
        for log in sink.logs {
            self.queue.push_back(Action::Log(log));
        }
        if let Some(state) = sink.commit {
            self.queue.push_back(Action::Commit(Checkpoint {
                stream: stream.to_string(),
                state,
            }));
        }
    }

    fn on_failure(&mut self, task: usize, planned: Planned, failure: Failure) -> Result<()> {
        let stream = self.tasks[task].def.name;
        let delay = match &failure {
            Failure::Transport(TransportErrorKind::BodyCut) => {
                let mut sink = Sink::default();
                let handled = self.with_reader(task, |r, ctx| r.on_cut(ctx, &mut sink));
                let handled = match handled {
                    Ok(h) => h,
                    Err(e) => return Err(self.fail(e.with_stream(stream))),
                };
                self.flush(task, sink);
                let t = &mut self.tasks[task];
                t.dedupe.on_retry();
                if handled {
                    t.pending = None;
                    return Ok(());
                }
                pacing::backoff_ms(t.attempts)
            }
            Failure::Transport(_) => pacing::backoff_ms(self.tasks[task].attempts),
            Failure::Status {
                status,
                body,
                retry_after_ms,
            } => match *status {
                429 => {
                    let d = retry_after_ms.unwrap_or_else(|| {
                        self.pacer.scale(planned.bucket.rate_limited_backoff_ms())
                    });
                    self.pacer.freeze(planned.bucket, self.now + d);
                    d
                }
                408 | 500 | 502 | 503 | 504 => {
                    retry_after_ms.unwrap_or_else(|| pacing::backoff_ms(self.tasks[task].attempts))
                }
                404 => {
                    let mut sink = Sink::default();
                    let skipped = self.tasks[task].reader.on_not_found(&mut sink);
                    if skipped {
                        self.flush(task, sink);
                        self.tasks[task].dedupe.reset();
                        return Ok(());
                    }
                    return Err(
                        self.fail(status_error(*status, body, &planned).with_stream(stream))
                    );
                }
                _ => {
                    let mut sink = Sink::default();
                    if self.tasks[task].reader.on_error_status(*status, &mut sink) {
                        self.flush(task, sink);
                        return Ok(());
                    }
                    return Err(
                        self.fail(status_error(*status, body, &planned).with_stream(stream))
                    );
                }
            },
        };
        let delay = match &failure {
            // Backoff for server errors follows the server's clock too.
            Failure::Status { status: 429, .. } => delay,
            _ => self.pacer.scale(delay),
        };
        let max = self.config.max_retries;
        let skip_allowed = self.config.skip_persistent_errors;
        let t = &mut self.tasks[task];
        t.attempts += 1;
        if t.attempts > max && skip_allowed {
            // Opted in: skip the unit that keeps failing, and say so.
            let mut sink = Sink::default();
            if t.reader.on_not_found(&mut sink) {
                t.attempts = 0;
                t.summary.skipped_units += 1;
                t.dedupe.reset();
                sink.logs.push(LogMessage {
                    level: LogLevel::Error,
                    message: format!(
                        "skipped {} after {max} retries (skip_persistent_errors is on)",
                        path_of(&planned.url)
                    ),
                    stream: Some(stream.to_string()),
                });
                self.flush(task, sink);
                return Ok(());
            }
        }
        let t = &mut self.tasks[task];
        if t.attempts > max {
            let err = match &failure {
                Failure::Status { status, body, .. } => {
                    let mut e = status_error(*status, body, &planned);
                    e.message = format!("gave up after {max} retries: {}", e.message);
                    e
                }
                Failure::Transport(kind) => ConnectorError::new(
                    ErrorKind::Upstream,
                    format!(
                        "gave up after {max} retries: transport error ({kind:?}) on {}",
                        path_of(&planned.url)
                    ),
                ),
            };
            return Err(self.fail(err.with_stream(stream)));
        }
        t.summary.retries += 1;
        t.dedupe.on_retry();
        t.pending = Some(planned);
        t.retry_delay = Some(delay);
        let what = match &failure {
            Failure::Status { status, .. } => format!("HTTP {status}"),
            Failure::Transport(kind) => format!("transport error ({kind:?})"),
        };
        self.queue.push_back(Action::Log(LogMessage {
            level: LogLevel::Warn,
            message: format!("{what}; retry {} of {max} in {delay} ms", t.attempts),
            stream: Some(stream.to_string()),
        }));
        Ok(())
    }

    fn fail(&mut self, e: ConnectorError) -> ConnectorError {
        self.failed = Some(e.clone());
        e
    }

    pub fn summary(&self) -> Summary {
        Summary {
            streams: self.tasks.iter().map(|t| t.summary.clone()).collect(),
        }
    }
}

fn accept_for(p: &Planned) -> String {
    use crate::parse::BodyFormat;
    match p.format {
        BodyFormat::Json => "application/json",
        BodyFormat::Ndjson => "application/x-json-stream",
        BodyFormat::Csv { .. } => "text/csv",
        BodyFormat::TextLines => "text/plain",
    }
    .to_string()
}

fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split('?').next().unwrap_or(path)
}

/// A typed error from an HTTP error response (Iterable's envelope when present).
fn status_error(status: u16, body: &[u8], planned: &Planned) -> ConnectorError {
    let (code, msg) = crate::error::envelope(body);
    let msg =
        msg.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    let msg: String = msg.chars().take(300).collect();
    let path = path_of(&planned.url);
    let (kind, hint, retryable) = match status {
        401 => (
            ErrorKind::Unauthorized,
            "Iterable rejected the API key: check it is a server-side key and that region (US/EU) matches the project",
            false,
        ),
        403 => (
            ErrorKind::Forbidden,
            "the key lacks permission for this endpoint, or the feature is off for the project",
            false,
        ),
        429 => (ErrorKind::RateLimited, "rate limit exceeded", true),
        500..=599 => (ErrorKind::Upstream, "Iterable failed", true),
        _ => (ErrorKind::Upstream, "Iterable refused the request", false),
    };
    let mut e = ConnectorError::new(kind, format!("{hint} ({path}): {msg}"))
        .with_status(status)
        .with_code(code);
    e.retryable = retryable;
    e
}
