//! The read session: the sans-IO state machine a host drives.
//!
//! ```text
//! host                                   core (ReadSession)
//!  |  open(config, streams, state)  -->  validates; plans
//!  |  poll(now)                     <--  Action::Fetch(HttpRequest)
//!  |  on_response_head(now, id, status, headers)
//!  |  on_response_body(now, id, chunk) -->  incremental parse, bounded memory
//!  |  on_response_end(now, id) | on_transport_error(now, id, kind)
//!  |  poll(now)                     <--  Emit | Commit | SleepUntil | Log | Done
//! ```
//!
//! The session owns what is particular to reading: one task per stream with
//! its reader (`readers`, one request at a time each), de-duplication of rows
//! re-read after a retry, record batching and checkpoints. Ids, pacing,
//! parsing of bodies as they arrive and the retry decision are the shared
//! exchange engine's (`crate::exchange`).

pub(crate) mod conform;
mod dedupe;
mod reader;
mod readers;

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::catalog::{self, EVENT_KEY_FIELD, StreamDef};
use crate::config::{Config, SchemaPolicy};
use crate::error::{ConnectorError, ErrorKind, Result, SCHEMA_VIOLATION};
use crate::exchange::Record;
use crate::exchange::{
    Action, Bucket, Checkpoint, Ended, Exchange, Failure, HttpRequest, LogLevel, LogMessage,
    Planned, RecordBatch, RequestId, StreamSummary, Summary, TransportErrorKind, Verdict, path_of,
};
use crate::parse::Parsed;
use crate::plan::WorkUnit;
use crate::record::{RowScratch, Shaper, key_fingerprint, repeat_key};
use crate::state::{SessionState, StreamState};
use crate::time;
use conform::{Conformance, REPORTED_PER_STREAM};
use dedupe::Dedupe;
use reader::{Ctx, Next, Reader, Shaped, Sink};

/// Records per `Emit` at most: big enough to amortise the boundary crossing,
/// small enough to keep memory flat.
pub const MAX_BATCH: usize = 1000;
/// History read when neither state nor `start_date` says otherwise.
const DEFAULT_HISTORY: Duration = Duration::days(30);

/// A stream to read and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSelection {
    /// The stream's name, as in the catalog.
    pub name: String,
    /// `false` = full refresh: saved state is ignored.
    pub incremental: bool,
}

impl StreamSelection {
    /// Selects stream `name` for an incremental read.
    pub fn incremental(name: &str) -> Self {
        StreamSelection {
            name: name.to_string(),
            incremental: true,
        }
    }
}

impl Task {
    fn new(def: StreamDef, reader: Box<dyn Reader>, incremental: bool, config: &Config) -> Task {
        Task {
            key_fields: def.key_fields(config),
            shaper: Shaper::new(&def),
            def,
            reader,
            incremental,
            pending: None,
            busy: false,
            finished: false,
            attempts: 0,
            retry_at: i64::MIN,
            last_sent_at: 0,
            dedupe: Dedupe::default(),
            row_scratch: RowScratch::default(),
            conform: Conformance::new(&def, config),
            summary: StreamSummary {
                stream: def.name.to_string(),
                ..Default::default()
            },
        }
    }
}

struct Task {
    def: StreamDef,
    reader: Box<dyn Reader>,
    incremental: bool,
    key_fields: Vec<&'static str>,
    shaper: Shaper,
    /// Planned but not yet sent (waiting for budget or a retry delay).
    pending: Option<Planned>,
    busy: bool,
    finished: bool,
    attempts: u32,
    retry_at: i64,
    last_sent_at: i64,
    dedupe: Dedupe,
    conform: Conformance,
    summary: StreamSummary,
    /// The fast path's buffers and row layout, kept from response to response.
    row_scratch: RowScratch,
}

/// The sans-IO read session: see the module docs for the loop a host runs.
pub struct ReadSession {
    config: Config,
    tasks: Vec<Task>,
    exchange: Exchange,
    queue: VecDeque<Action>,
    bounds: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: i64,
    failed: Option<ConnectorError>,
    done: bool,
    jobs_running: std::cell::Cell<u32>,
    /// Set only while a reader plans its next request (see `Ctx`).
    sync_export_free: bool,
    /// Work handed out by a coordinator session, not yet taken.
    units: Vec<WorkUnit>,
}

impl ReadSession {
    /// Validates the selection and state and plans every stream.
    pub fn open(
        config: Config,
        streams: &[StreamSelection],
        state: &SessionState,
    ) -> Result<ReadSession> {
        Self::open_with(config, streams, state, false, Vec::new())
    }

    /// A coordinator session (see [`crate::plan`]): export streams start,
    /// poll and list async export jobs — paced like any read — and hand each
    /// file out as a [`WorkUnit::ExportFile`] instead of downloading it;
    /// every other stream becomes one [`WorkUnit::Stream`] at once. Drive it
    /// like [`ReadSession::open`]'s session (it emits no records), collect
    /// [`ReadSession::take_units`], and once every unit was read commit
    /// [`ReadSession::planned_state`].
    pub fn plan(
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
        let mut exports = Vec::new();
        let mut units = Vec::new();
        for (i, sel) in streams.iter().enumerate() {
            if streams[..i].iter().any(|s| s.name == sel.name) {
                return Err(ConnectorError::config(
                    "streams",
                    format!("stream \"{}\" is selected twice", sel.name),
                ));
            }
            let def = catalog::find(&sel.name)?;
            if matches!(def.family, catalog::Family::Export { .. }) {
                exports.push(sel.clone());
            } else {
                catalog::check_user_filter(&def, &config)?;
                let saved = match state.get(def.name) {
                    Some(v) if sel.incremental => {
                        StreamState::from_json(def.name, v)?;
                        v.clone()
                    }
                    _ => Value::Null,
                };
                units.push(WorkUnit::Stream {
                    stream: def.name.to_string(),
                    state: saved,
                });
            }
        }
        Self::open_with(config, &exports, state, true, units)
    }

    /// A worker session reading one unit planned by [`ReadSession::plan`]:
    /// an export file is one download without the key, parsed and shaped as
    /// the single-process read does it (retried within `max_retries`); a
    /// stream unit is an ordinary read of that stream from the unit's state.
    /// It emits records and no commits (the coordinator commits).
    pub fn open_unit(config: Config, unit: &WorkUnit) -> Result<ReadSession> {
        match unit {
            WorkUnit::Stream { stream, state } => {
                let mut saved = SessionState::new();
                if !state.is_null() {
                    saved.insert(stream.clone(), state.clone());
                }
                Self::open(config, &[StreamSelection::incremental(stream)], &saved)
            }
            WorkUnit::ExportFile {
                stream,
                url,
                job_id,
                file,
                after,
                ..
            } => {
                let def = catalog::find(stream)?;
                let source = readers::FileSource {
                    url: url.clone(),
                    job_id: *job_id,
                    file: file.clone(),
                    after: after.clone(),
                };
                let reader = readers::export_file_reader(&def, source).ok_or_else(|| {
                    ConnectorError::config(
                        "unit",
                        format!("stream \"{stream}\" has no export files; plan the read again"),
                    )
                })?;
                let task = Task::new(def, reader, false, &config);
                Self::with_tasks(config, vec![task], &SessionState::new(), Vec::new())
            }
        }
    }

    fn open_with(
        config: Config,
        streams: &[StreamSelection],
        state: &SessionState,
        hand_off: bool,
        units: Vec<WorkUnit>,
    ) -> Result<ReadSession> {
        if streams.is_empty() && units.is_empty() {
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
            let reader = readers::reader_for(&def, &config, &saved, sel.incremental, hand_off);
            tasks.push(Task::new(def, reader, sel.incremental, &config));
        }
        Self::with_tasks(config, tasks, state, units)
    }

    fn with_tasks(
        config: Config,
        tasks: Vec<Task>,
        state: &SessionState,
        units: Vec<WorkUnit>,
    ) -> Result<ReadSession> {
        let mut queue = VecDeque::new();
        let warn = |message: String| {
            Action::Log(LogMessage {
                level: LogLevel::Warn,
                message,
                stream: None,
            })
        };
        if crate::config::sends_key_in_clear(&config.base_url) {
            queue.push_back(warn(format!(
                "base_url {} is plain http to another machine: the API key travels unencrypted; use https",
                config.base_url
            )));
        }
        let unknown: Vec<&str> = state
            .keys()
            .map(String::as_str)
            .filter(|name| catalog::find(name).is_err())
            .collect();
        if !unknown.is_empty() {
            queue.push_back(warn(format!(
                "the state has entries for streams that do not exist ({}); they are ignored — was a stream renamed?",
                unknown.join(", ")
            )));
        }
        Ok(ReadSession {
            exchange: Exchange::new(config.time_scale, config.skip_malformed_lines)
                .with_budget_split(config.budget_split),
            config,
            tasks,
            queue,
            bounds: None,
            now: 0,
            failed: None,
            done: false,
            jobs_running: std::cell::Cell::new(0),
            sync_export_free: false,
            units,
        })
    }

    /// Coordinator sessions ([`ReadSession::plan`]): the work units planned
    /// since the last call, in order. Units of a job are handed out only
    /// once the job completed, so they never change afterwards.
    pub fn take_units(&mut self) -> Vec<WorkUnit> {
        std::mem::take(&mut self.units)
    }

    /// Coordinator sessions: the state to commit once every unit planned so
    /// far was read, for the export streams (the stream units' sessions
    /// commit nothing; their state stays as it was). Complete after `Done`.
    pub fn planned_state(&self) -> SessionState {
        self.tasks
            .iter()
            .filter_map(|t| {
                t.reader
                    .planned_state()
                    .map(|s| (t.def.name.to_string(), s))
            })
            .collect()
    }

    /// How many requests the host may keep in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.config.max_concurrency as usize
    }

    /// The validated config the session runs with.
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
            let (start, end) = self.compute_bounds(now)?;
            self.bounds = Some((start, end));
            let windowed = self
                .tasks
                .iter()
                .any(|t| matches!(t.def.family, catalog::Family::Export { .. }));
            if windowed && start >= end {
                // Not an error (a sync scheduled early is fine), but never
                // silent: every run would read nothing until now passes it.
                self.queue.push_back(Action::Log(LogMessage {
                    level: LogLevel::Warn,
                    message: format!(
                        "start_date {} is not before the end of history {} (now minus lookback_minutes, or end_date): export streams read nothing",
                        time::to_rfc3339(&start),
                        time::to_rfc3339(&end)
                    ),
                    stream: None,
                }));
            }
        }
        if let Some(action) = self.queue.pop_front() {
            return Ok(action);
        }
        if self.done {
            return Ok(Action::Done(self.summary()));
        }
        let mut wake: Option<i64> = None;
        for i in 0..self.tasks.len() {
            if self.exchange.in_flight() >= self.max_in_flight() {
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
                    Some(p) if t.retry_at <= now => self.exchange.ready_at(p.bucket, now),
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
        if self.exchange.in_flight() > 0 {
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
        // Events Iterable indexes late are only safe behind the lookback,
        // also when the configured end lies in the future.
        let settled = now_dt - Duration::minutes(self.config.lookback_minutes as i64);
        let end = match self.config.end_date {
            Some(e) => e.min(settled),
            None => settled,
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
            if t.retry_at > now {
                return Ok(None);
            }
        }
        if self.tasks[i].pending.is_none() {
            self.sync_export_free = self.sync_export_free(now);
            let next = self.with_reader(i, |r, ctx| r.next(ctx));
            self.sync_export_free = false;
            let next = next?;
            match next {
                Next::Send(p) => self.tasks[i].pending = Some(p),
                Next::Wait(ms) => {
                    self.tasks[i].retry_at = now.saturating_add(self.exchange.scale(ms));
                    return Ok(None);
                }
                Next::Done => {
                    let t = &mut self.tasks[i];
                    t.finished = true;
                    if t.conform.count > 0 {
                        self.queue.push_back(Action::Log(LogMessage {
                            level: LogLevel::Warn,
                            message: format!(
                                "{} records contradicted the schema (kept; the first {} are logged above)",
                                t.conform.count,
                                t.conform.count.min(REPORTED_PER_STREAM)
                            ),
                            stream: Some(t.def.name.to_string()),
                        }));
                    }
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
        if self.exchange.ready_at(bucket, now).is_some() {
            return Ok(None);
        }
        let planned = self.tasks[i].pending.take().expect("set above");
        let t = &mut self.tasks[i];
        t.busy = true;
        t.last_sent_at = now;
        t.summary.requests += 1;
        Ok(Some(self.exchange.send(i, planned, t.def.name, now)))
    }

    /// Whether an `export/data.json` request could be sent now without
    /// taking the turn of a stream already waiting for that budget.
    fn sync_export_free(&mut self, now: i64) -> bool {
        if self.config.export_mode != crate::config::ExportMode::Auto {
            return false;
        }
        let waiting = self.tasks.iter().any(|t| {
            t.pending
                .as_ref()
                .is_some_and(|p| p.bucket == Bucket::Export)
        });
        !waiting && self.exchange.ready_at(Bucket::Export, now).is_none()
    }

    /// Runs `f` with task `i`'s reader and a context (disjoint borrows).
    fn with_reader<T>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut dyn Reader, &Ctx) -> Result<T>,
    ) -> Result<T> {
        let (start, end) = self.bounds.expect("bounds are set by the first poll");
        let task = &mut self.tasks[i];
        let ctx = Ctx {
            config: &self.config,
            now: self.now,
            start,
            end,
            incremental: task.incremental,
            last_sent_at: task.last_sent_at,
            jobs_running: &self.jobs_running,
            sync_export_free: self.sync_export_free,
            shaper: &task.shaper,
            conform: &task.conform,
            key_fields: &task.key_fields,
        };
        f(task.reader.as_mut(), &ctx)
    }

    /// The status line and headers of a response.
    pub fn on_response_head(
        &mut self,
        now: i64,
        id: RequestId,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<()> {
        self.advance_clock(now);
        self.exchange.on_head(id, status, headers)
    }

    /// A chunk of the body, split anywhere.
    pub fn on_response_body(&mut self, now: i64, id: RequestId, chunk: &[u8]) -> Result<()> {
        self.advance_clock(now);
        match self.exchange.on_body(id, chunk)? {
            Some((task, Ok(items))) => self.deliver(task, items, false),
            Some((task, Err(e))) => {
                let stream = self.tasks[task].def.name;
                Err(self.fail(e.with_stream(stream)))
            }
            None => Ok(()),
        }
    }

    /// The body is complete.
    pub fn on_response_end(&mut self, now: i64, id: RequestId) -> Result<()> {
        self.advance_clock(now);
        match self.exchange.on_end(id)? {
            Ended::Complete {
                owner: task,
                items,
                skipped_lines,
            } => {
                self.tasks[task].busy = false;
                self.tasks[task].summary.skipped_lines += skipped_lines;
                match items {
                    Ok(items) => self.deliver(task, items, true),
                    Err(e) => {
                        let stream = self.tasks[task].def.name;
                        Err(self.fail(e.with_stream(stream)))
                    }
                }
            }
            Ended::Failed {
                owner: task,
                planned,
                failure,
            } => {
                self.tasks[task].busy = false;
                self.on_failure(task, planned, failure)
            }
        }
    }

    /// The request failed before its body was complete.
    pub fn on_transport_error(
        &mut self,
        now: i64,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<()> {
        self.advance_clock(now);
        let (task, planned, failure) = self.exchange.on_transport_error(id, kind)?;
        self.tasks[task].busy = false;
        self.on_failure(task, planned, failure)
    }

    /// Time-dependent inputs carry the host's clock: retry delays, window
    /// growth and 429 freezes then use the true time, not the last poll's.
    /// The clock never runs backwards here, whatever the host hands in.
    fn advance_clock(&mut self, now: i64) {
        self.now = self.now.max(now);
    }

    /// Hands parsed items to the reader and queues what comes out.
    fn deliver(&mut self, task: usize, items: Parsed, complete: bool) -> Result<()> {
        let mut sink = Sink::default();
        sink.shaped.scratch = std::mem::take(&mut self.tasks[task].row_scratch);
        let result = self.with_reader(task, |r, ctx| {
            match items {
                Parsed::Values(values) => {
                    for item in values {
                        r.on_item(item, ctx, &mut sink)?;
                    }
                }
                Parsed::Rows(rows) => {
                    // Shaped rows are the input plus a synthetic key (about
                    // 45 bytes) and a line end: room reserved once.
                    sink.shaped.reserve(rows.text_len() + rows.len() * 48);
                    for row in rows.iter() {
                        r.on_row(row, ctx, &mut sink)?;
                    }
                }
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
        self.flush(task, sink)?;
        if complete {
            let t = &mut self.tasks[task];
            t.attempts = 0;
            t.dedupe.request_done();
            if !t.reader.unit_open() {
                t.dedupe.reset();
            }
        }
        Ok(())
    }

    /// Queues a reader's output: records (checked against the schema,
    /// de-duplicated, batched), logs, commit.
    fn flush(&mut self, task: usize, sink: Sink) -> Result<()> {
        let Sink {
            records,
            mut shaped,
            commit,
            logs,
            units,
        } = sink;
        shaped.settle_keys();
        self.tasks[task].row_scratch = std::mem::take(&mut shaped.scratch);
        let mut fast_start = 0;
        let mut warnings = Vec::new();
        let items = records.into_iter().map(Shaped::Record).chain(shaped.items);
        for item in items {
            let admitted = match item {
                Shaped::Record(rec) => self.admit_record(task, rec, &mut warnings),
                Shaped::Fast { end, fingerprint } => {
                    let json = &shaped.text[fast_start..end];
                    fast_start = end;
                    self.admit_fast(task, json, fingerprint)
                }
            };
            // Whatever stops a record stops the session (`fail` is idempotent).
            if let Err(e) = admitted {
                return Err(self.fail(e));
            }
        }
        let stream = self.tasks[task].def.name;
        for log in warnings.into_iter().chain(logs) {
            self.queue.push_back(Action::Log(log));
        }
        self.units.extend(units);
        if let Some(state) = commit {
            self.queue.push_back(Action::Commit(Checkpoint {
                stream: stream.to_string(),
                state,
            }));
        }
        Ok(())
    }

    /// A record of the general path: checked against the schema, keyed
    /// (twins get their own key), de-duplicated, queued.
    fn admit_record(
        &mut self,
        task: usize,
        mut rec: Record,
        warnings: &mut Vec<LogMessage>,
    ) -> Result<()> {
        let policy = self.config.schema_policy;
        let t = &mut self.tasks[task];
        let stream = t.def.name;
        if let Some(v) = t.conform.check(&rec) {
            if policy == SchemaPolicy::Fail {
                let mut e = ConnectorError::malformed(format!(
                    "a record contradicts the schema: {}; set schema_policy to \"report\" to keep such records",
                    v.describe(stream)
                ));
                e.code = Some(SCHEMA_VIOLATION.into());
                e.field = Some(v.field.to_string());
                return Err(self.fail(e.with_stream(stream)));
            }
            if t.conform.count <= REPORTED_PER_STREAM {
                warnings.push(LogMessage {
                    level: LogLevel::Warn,
                    message: format!(
                        "a record contradicts the schema (kept): {}",
                        v.describe(stream)
                    ),
                    stream: Some(stream.to_string()),
                });
            }
        }
        let mut fingerprint = key_fingerprint(&rec, &t.key_fields);
        if t.key_fields == [EVENT_KEY_FIELD] {
            // Events alike in every identifying field (twins): the first
            // keeps its key, each repeat gets its own.
            let n = t.dedupe.occurrence(fingerprint);
            if n > 0 {
                repeat_key(&mut rec, n);
                fingerprint = key_fingerprint(&rec, &t.key_fields);
            }
        }
        self.queue_record(task, &rec, fingerprint)
    }

    /// De-duplicates a record of the general path and queues its JSON.
    fn queue_record(&mut self, task: usize, rec: &Record, fingerprint: u128) -> Result<()> {
        let t = &mut self.tasks[task];
        if !t.dedupe.admit(fingerprint) {
            return Ok(());
        }
        t.summary.records += 1;
        let stream = t.def.name;
        let json = serde_json::to_string(rec).map_err(|e| {
            ConnectorError::new(ErrorKind::Internal, format!("encoding a record: {e}"))
                .with_stream(stream)
        })?;
        self.queue_row(stream, &json);
        Ok(())
    }

    /// A row the fast path wrote (already checked against the schema).
    fn admit_fast(&mut self, task: usize, json: &str, fingerprint: u128) -> Result<()> {
        let t = &mut self.tasks[task];
        let stream = t.def.name;
        if t.key_fields == [EVENT_KEY_FIELD] {
            let n = t.dedupe.occurrence(fingerprint);
            if n > 0 {
                // A twin (rare): re-keyed through the record it stands for.
                // The fast path wrote the line from a valid row: it decodes,
                // and a failure is this core's bug, never a dropped record.
                let mut rec = serde_json::from_str::<Record>(json).map_err(|e| {
                    ConnectorError::new(ErrorKind::Internal, format!("re-reading a record: {e}"))
                        .with_stream(stream)
                })?;
                repeat_key(&mut rec, n);
                let fingerprint = key_fingerprint(&rec, &t.key_fields);
                return self.queue_record(task, &rec, fingerprint);
            }
        }
        if t.dedupe.admit(fingerprint) {
            t.summary.records += 1;
            self.queue_row(stream, json);
        }
        Ok(())
    }

    /// Appends a record's JSON to the stream's open batch at the back of the
    /// queue, or to a new one.
    fn queue_row(&mut self, stream: &'static str, json: &str) {
        if let Some(Action::Emit(b)) = self.queue.back_mut()
            && b.stream == stream
            && b.len() < MAX_BATCH
        {
            b.push_json(json);
            return;
        }
        let mut b = RecordBatch::new(stream);
        // Sized for a full batch of rows like this one.
        b.reserve(MAX_BATCH * (json.len() + 1));
        b.push_json(json);
        self.queue.push_back(Action::Emit(b));
    }

    /// A failed request: the reader may re-plan (a cut export window, a
    /// vanished list); otherwise the engine's verdict decides between a
    /// retry and a typed error, within `max_retries`.
    fn on_failure(&mut self, task: usize, planned: Planned, failure: Failure) -> Result<()> {
        let stream = self.tasks[task].def.name;
        if let Failure::Transport(TransportErrorKind::BodyCut) = failure {
            let mut sink = Sink::default();
            let handled = self.with_reader(task, |r, ctx| r.on_cut(ctx, &mut sink));
            let handled = match handled {
                Ok(h) => h,
                Err(e) => return Err(self.fail(e.with_stream(stream))),
            };
            self.flush(task, sink)?;
            let t = &mut self.tasks[task];
            t.dedupe.on_retry();
            if handled {
                t.pending = None;
                return Ok(());
            }
        }
        let attempts = self.tasks[task].attempts;
        let delay = match self
            .exchange
            .verdict(&planned, &failure, attempts, self.now)
        {
            Verdict::RetryAfter(delay) => delay,
            Verdict::Permanent | Verdict::Unknown => {
                let status = match &failure {
                    Failure::Status { status, .. } => *status,
                    Failure::Transport(_) => 0,
                };
                let mut sink = Sink::default();
                let replanned = match status {
                    404 => self.tasks[task].reader.on_not_found(&mut sink),
                    0 => false,
                    _ => self.tasks[task].reader.on_error_status(status, &mut sink),
                };
                if replanned {
                    self.flush(task, sink)?;
                    if status == 404 {
                        self.tasks[task].dedupe.reset();
                    }
                    return Ok(());
                }
                return Err(self.fail(failure.to_error(&planned).with_stream(stream)));
            }
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
                self.flush(task, sink)?;
                return Ok(());
            }
        }
        let t = &mut self.tasks[task];
        if t.attempts > max {
            let mut e = failure.to_error(&planned);
            e.message = format!("gave up after {max} retries: {}", e.message);
            return Err(self.fail(e.with_stream(stream)));
        }
        t.summary.retries += 1;
        t.dedupe.on_retry();
        t.pending = Some(planned);
        t.retry_at = self.now.saturating_add(delay);
        self.queue.push_back(Action::Log(LogMessage {
            level: LogLevel::Warn,
            message: format!(
                "{}; retry {} of {max} in {delay} ms",
                failure.describe(),
                t.attempts
            ),
            stream: Some(stream.to_string()),
        }));
        Ok(())
    }

    fn fail(&mut self, e: ConnectorError) -> ConnectorError {
        self.failed = Some(e.clone());
        e
    }

    /// Per-stream totals so far (also handed out with `Done`).
    pub fn summary(&self) -> Summary {
        Summary {
            streams: self.tasks.iter().map(|t| t.summary.clone()).collect(),
        }
    }
}

#[cfg(test)]
mod bounds_tests {
    use super::*;
    use serde_json::json;

    /// A start in the future is said, not silently read as nothing.
    #[test]
    fn a_future_start_date_is_warned_about() {
        let config = Config::from_json(&json!({"base_url": "https://h",
            "start_date": "2027-01-01T00:00:00Z"}))
        .expect("config");
        let mut s = ReadSession::open(
            config,
            &[StreamSelection {
                name: "email_send".into(),
                incremental: true,
            }],
            &SessionState::new(),
        )
        .expect("open");
        let now = time::to_epoch_ms(&"2026-11-30T12:00:00Z".parse().expect("now"));
        match s.poll(now).expect("poll") {
            Action::Log(l) => assert!(l.message.contains("start_date"), "{}", l.message),
            other => panic!("expected the warning first, got {other:?}"),
        }
    }

    /// A configured end in the future still stops `lookback_minutes` before
    /// now: events Iterable indexes late are not skipped for good.
    #[test]
    fn a_future_end_date_keeps_the_lookback() {
        let config = Config::from_json(&json!({"base_url": "http://h",
            "start_date": "2026-11-29T12:00:00Z", "end_date": "2027-01-01T00:00:00Z"}))
        .expect("config");
        let mut s = ReadSession::open(
            config,
            &[StreamSelection {
                name: "email_send".into(),
                incremental: true,
            }],
            &SessionState::new(),
        )
        .expect("open");
        let now = time::to_epoch_ms(&"2026-11-30T12:00:00Z".parse().expect("now"));
        let url = loop {
            match s.poll(now).expect("poll") {
                Action::Fetch(r) => break r.url,
                Action::Log(_) => {}
                other => panic!("{other:?}"),
            }
        };
        assert!(
            url.contains("endDateTime=2026-11-30%2011%3A55%3A00"),
            "the window ends at now - 5 minutes: {url}"
        );
    }
}
