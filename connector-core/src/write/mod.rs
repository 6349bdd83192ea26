//! The write session: the sans-IO state machine for putting rows into
//! Iterable.
//!
//! ```text
//! host                                       core (WriteSession)
//!  |  open(config, object, op, options, state)  -->  resolves the target
//!  |  poll(now)                     <--  NeedRows
//!  |  push_rows(rows) | finish_input()  -->  each row checked; bad rows fail alone
//!  |  poll(now)                     <--  Fetch(HttpRequest)
//!  |  on_response_head / body / end | on_transport_error   (as for reads)
//!  |  poll(now)                     <--  Results | Commit | SleepUntil | Log | Done
//! ```
//!
//! Every input row ends with exactly one [`RowResult`]: `ok`, `failed` or
//! `unknown`. A [`WriteCheckpoint`] says up to which row everything is final;
//! a write stopped anywhere resumes from it without applying anything twice:
//! rows of writes that are not safe to repeat are committed as "in doubt"
//! before their request goes out, and a resumed session reports them
//! `unknown` instead of sending them again.

mod batch;
mod confirm;
mod options;
mod outcome;
mod prepare;
mod target;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::exchange::{
    Ended, Exchange, Failure, HttpRequest, LogLevel, LogMessage, Planned, RequestId, RetryClass,
    TransportErrorKind, Verdict,
};

pub use options::WriteOptions;
pub use outcome::{RowResult, RowStatus};
pub use target::{Target, TargetInfo, targets as write_targets};

use batch::{Batch, Limits};
use prepare::Prepared;
use target::TargetDef;

/// Version of the write checkpoint's `state`.
const WRITE_STATE_VERSION: u64 = 1;

/// Up to which input row a write is final, and what a resumed session needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteCheckpoint {
    /// Every row numbered below this has its result: a resumed write starts
    /// its input here.
    pub rows_final: u64,
    /// Opaque state to hand to [`WriteSession::open`] when resuming.
    pub state: Value,
}

/// Totals of a write.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteSummary {
    /// Canonical object name.
    pub object: String,
    /// Canonical operation name.
    pub op: String,
    /// Rows given.
    pub rows: u64,
    /// Rows that ended `ok`.
    pub ok: u64,
    /// Rows that ended `failed`.
    pub failed: u64,
    /// Rows that ended `unknown`.
    pub unknown: u64,
    /// Requests sent.
    pub requests: u64,
    /// Requests sent again after a failure.
    pub retries: u64,
}

/// What the host should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteAction {
    /// Send this request; feed the reply back with its id.
    Fetch(HttpRequest),
    /// Push more rows ([`WriteSession::push_rows`]) or say there are none
    /// ([`WriteSession::finish_input`]).
    NeedRows,
    /// These rows are final.
    Results(Vec<RowResult>),
    /// Persist this checkpoint (before acting on anything after it).
    Commit(WriteCheckpoint),
    /// Nothing may be sent before this time (epoch ms); answers may still be fed.
    SleepUntil(i64),
    /// Requests are in flight and nothing else can happen until one answers.
    AwaitResponse,
    /// Pass this message to the host's log.
    Log(LogMessage),
    /// Every row has its result; further polls return `Done` again.
    Done(WriteSummary),
}

/// A batch on its way: waiting for budget or a retry delay, or in flight.
struct Outgoing {
    batch: Batch,
    attempts: u32,
    not_before: i64,
    /// An attempt may have reached Iterable and got no answer (a transport
    /// failure other than a refused connection): it may have been applied.
    unanswered: bool,
}

/// An accepted row being read back (the `confirm` option).
struct Check {
    /// The result to report once the row shows.
    result: RowResult,
    probe: confirm::Probe,
    deadline: i64,
    not_before: i64,
    tries: u32,
}

/// The sans-IO write session: see the module docs for the loop a host runs.
pub struct WriteSession {
    config: Config,
    options: WriteOptions,
    def: &'static TargetDef,
    limits: Limits,
    exchange: Exchange,
    /// Number the next pushed row gets.
    next_row: u64,
    input_done: bool,
    /// Valid rows not yet in a batch, in input order.
    queue: VecDeque<Prepared>,
    /// Batches to send (new, retried or split), earliest first.
    ready: VecDeque<Outgoing>,
    /// In flight, by exchange owner id.
    inflight: BTreeMap<usize, Outgoing>,
    next_owner: usize,
    /// Keys of rows in `ready` or in flight: a row whose entity is already
    /// on its way waits, so two writes of one entity never overtake.
    busy: BTreeMap<String, usize>,
    /// Rows from a resumed session whose unsafe request may have gone out.
    resumed_in_doubt: BTreeSet<u64>,
    /// Rows at or past the frontier sent with an unsafe request, final or
    /// not: a resume starts at the frontier, so every such row must be
    /// reported, not resent, by the next session.
    in_doubt: BTreeSet<u64>,
    /// Final rows at or past `frontier`.
    final_ahead: BTreeSet<u64>,
    /// Every row below is final.
    frontier: u64,
    committed: u64,
    /// Accepted rows waiting to be read back, and those being read.
    checks: VecDeque<Check>,
    inflight_checks: BTreeMap<usize, Check>,
    out: VecDeque<WriteAction>,
    summary: WriteSummary,
    failed: Option<ConnectorError>,
    done: bool,
}

impl WriteSession {
    /// Resolves `object` and `op` (Skyvia's names and SQL's words accepted;
    /// procedures take the op `call` or an empty one), checks the options
    /// and, when resuming, the state of the last [`WriteCheckpoint`].
    pub fn open(
        config: Config,
        object: &str,
        op: &str,
        options: &WriteOptions,
        state: Option<&Value>,
    ) -> Result<WriteSession> {
        let def = target::resolve(object, op)?;
        if options.confirm && !confirm::supported(def.target) {
            return Err(ConnectorError::input(
                "confirm",
                format!(
                    "{} {} is applied when Iterable answers; confirm is for catalog_items, users upsert/delete and events insert",
                    def.object, def.op
                ),
            ));
        }
        let limits = Limits::new(def, options.bulk, options.batch_size);
        let (first_row, resumed_in_doubt) = match state {
            Some(s) => read_state(s, def)?,
            None => (options.first_row, BTreeSet::new()),
        };
        Ok(WriteSession {
            exchange: Exchange::new(config.time_scale, false)
                .with_budget_split(config.budget_split),
            config,
            def,
            limits,
            next_row: first_row,
            input_done: false,
            queue: VecDeque::new(),
            ready: VecDeque::new(),
            inflight: BTreeMap::new(),
            next_owner: 0,
            busy: BTreeMap::new(),
            resumed_in_doubt,
            in_doubt: BTreeSet::new(),
            final_ahead: BTreeSet::new(),
            frontier: first_row,
            committed: first_row,
            checks: VecDeque::new(),
            inflight_checks: BTreeMap::new(),
            out: VecDeque::new(),
            summary: WriteSummary {
                object: def.object.to_string(),
                op: def.op.to_string(),
                ..WriteSummary::default()
            },
            failed: None,
            done: false,
            options: options.clone(),
        })
    }

    /// The resolved target.
    pub fn target(&self) -> Target {
        self.def.target
    }

    /// Whether Iterable applies this write after answering (a read right
    /// after may not show it yet).
    pub fn applied_later(&self) -> bool {
        self.def.applied_later
    }

    /// How many requests may be in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.config.max_concurrency as usize
    }

    /// Rows a full request holds: push at least this many at a time.
    pub fn rows_per_request(&self) -> usize {
        self.limits.rows_per_request()
    }

    /// Adds input rows (JSON objects), numbered on from the last. Each is
    /// checked now; a bad one fails alone (its result comes with the next
    /// polls) and the others go on.
    pub fn push_rows(&mut self, rows: Vec<Value>) -> Result<()> {
        self.push_parsed(rows.into_iter().map(Ok))
    }

    /// Adds input rows as JSON lines (one object per line, `\n`-separated;
    /// blank lines are not rows). A line that is not valid JSON fails alone,
    /// like any bad row. Returns how many rows were added.
    pub fn push_ndjson(&mut self, lines: &[u8]) -> Result<u64> {
        let before = self.next_row;
        let parsed = lines
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| {
                serde_json::from_slice::<Value>(line).map_err(|e| {
                    ConnectorError::input(
                        "row",
                        format!("is not valid JSON ({e}); give one JSON object per line"),
                    )
                })
            });
        // Collected first: `push_parsed` borrows `self` mutably.
        let parsed: Vec<Result<Value>> = parsed.collect();
        self.push_parsed(parsed)?;
        Ok(self.next_row - before)
    }

    fn push_parsed(&mut self, rows: impl IntoIterator<Item = Result<Value>>) -> Result<()> {
        if self.input_done {
            return Err(ConnectorError::misuse(
                "push_rows after finish_input: start a new write session",
            ));
        }
        let mut results = Vec::new();
        for parsed in rows {
            let value = match parsed {
                Ok(v) => v,
                Err(e) => {
                    let row = self.next_row;
                    self.next_row += 1;
                    self.summary.rows += 1;
                    if self.resumed_in_doubt.contains(&row) {
                        let e = outcome::in_doubt(
                            self.def.target,
                            &prepare::placeholder(row),
                            "its request was sent before the previous session stopped",
                        );
                        results.push(RowResult::unknown(row, e));
                    } else {
                        results.push(RowResult::failed(row, e));
                    }
                    continue;
                }
            };
            let row = self.next_row;
            self.next_row += 1;
            self.summary.rows += 1;
            // Kept in the set until the frontier passes it: a second stop
            // before then must still not send it.
            if self.resumed_in_doubt.contains(&row) {
                let p = prepare::prepare(self.def.target, row, value, &self.options)
                    .unwrap_or_else(|_| prepare::placeholder(row));
                let e = outcome::in_doubt(
                    self.def.target,
                    &p,
                    "its request was sent before the previous session stopped",
                );
                results.push(RowResult::unknown(row, e));
                continue;
            }
            match prepare::prepare(self.def.target, row, value, &self.options) {
                Ok(p) => self.queue.push_back(p),
                Err(e) => results.push(RowResult::failed(row, e)),
            }
        }
        self.finish_rows(results);
        Ok(())
    }

    /// No more rows: what is queued goes out even if requests are not full.
    pub fn finish_input(&mut self) {
        self.input_done = true;
    }

    /// The next action; see [`WriteAction`].
    pub fn poll(&mut self, now: i64) -> Result<WriteAction> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Some(a) = self.out.pop_front() {
            return Ok(a);
        }
        if self.done {
            return Ok(WriteAction::Done(self.summary.clone()));
        }
        let mut wake: Option<i64> = None;
        if self.exchange.in_flight() < self.max_in_flight() {
            self.fill_ready();
            if let Some(req) = self.try_send(now, &mut wake) {
                return Ok(req);
            }
            if let Some(req) = self.try_check(now, &mut wake) {
                return Ok(WriteAction::Fetch(req));
            }
        }
        if let Some(a) = self.out.pop_front() {
            return Ok(a);
        }
        if !self.input_done && self.queue.len() < self.rows_per_request() {
            return Ok(WriteAction::NeedRows);
        }
        if self.exchange.in_flight() > 0 {
            return Ok(match wake {
                Some(w) => WriteAction::SleepUntil(w),
                None => WriteAction::AwaitResponse,
            });
        }
        if let Some(w) = wake {
            return Ok(WriteAction::SleepUntil(w));
        }
        if self.input_done
            && self.queue.is_empty()
            && self.ready.is_empty()
            && self.checks.is_empty()
        {
            self.done = true;
            self.commit_if_advanced();
            self.out.push_back(WriteAction::Log(LogMessage {
                level: LogLevel::Info,
                message: format!(
                    "{} {}: {} rows, {} ok, {} failed, {} unknown, {} requests",
                    self.summary.object,
                    self.summary.op,
                    self.summary.rows,
                    self.summary.ok,
                    self.summary.failed,
                    self.summary.unknown,
                    self.summary.requests
                ),
                stream: None,
            }));
            return Ok(self
                .out
                .pop_front()
                .unwrap_or(WriteAction::Done(self.summary.clone())));
        }
        if !self.queue.is_empty() {
            // Every queued row waits for an entity already on its way, and
            // nothing is: cannot happen; fail loudly rather than spin.
            return Err(self.fail(ConnectorError::new(
                ErrorKind::Internal,
                "write session stalled with rows queued and nothing in flight",
            )));
        }
        Ok(WriteAction::NeedRows)
    }

    /// Forms new batches from the queue while there is room to send them.
    fn fill_ready(&mut self) {
        let room = self
            .max_in_flight()
            .saturating_sub(self.exchange.in_flight());
        while self.ready.len() < room {
            let busy = &self.busy;
            let Some(batch) =
                batch::next_batch(&mut self.queue, &self.limits, !self.input_done, |k| {
                    busy.contains_key(k)
                })
            else {
                break;
            };
            for p in &batch.rows {
                *self.busy.entry(p.key.clone()).or_default() += 1;
            }
            self.ready.push_back(Outgoing {
                batch,
                attempts: 0,
                not_before: i64::MIN,
                unanswered: false,
            });
        }
    }

    /// Sends the first ready batch whose time and budget allow.
    fn try_send(&mut self, now: i64, wake: &mut Option<i64>) -> Option<WriteAction> {
        for i in 0..self.ready.len() {
            let bucket = batch::endpoint_of(&self.limits, &self.ready[i].batch).bucket;
            let not_before = self.ready[i].not_before;
            let at = if not_before > now {
                Some(not_before)
            } else {
                self.exchange.ready_at(bucket, now)
            };
            if let Some(at) = at {
                *wake = Some(wake.map_or(at, |w: i64| w.min(at)));
                continue;
            }
            let outgoing = self.ready.remove(i)?;
            let planned = batch::plan(self.def, &self.limits, &outgoing.batch, &self.config);
            if planned.retry == RetryClass::NotIdempotent {
                // Persisted before the request leaves: a resumed session
                // must know these rows may have been applied.
                for p in &outgoing.batch.rows {
                    self.in_doubt.insert(p.row);
                }
                self.out.push_back(WriteAction::Commit(self.checkpoint()));
            }
            let owner = self.next_owner;
            self.next_owner += 1;
            self.summary.requests += 1;
            if outgoing.attempts > 0 {
                self.summary.retries += 1;
            }
            let request = self.exchange.send(owner, planned, self.def.object, now);
            self.inflight.insert(owner, outgoing);
            if self.out.is_empty() {
                return Some(WriteAction::Fetch(request));
            }
            self.out.push_back(WriteAction::Fetch(request));
            return self.out.pop_front();
        }
        None
    }

    /// Sends the first read-back whose time and budget allow.
    fn try_check(&mut self, now: i64, wake: &mut Option<i64>) -> Option<HttpRequest> {
        for i in 0..self.checks.len() {
            let bucket = self.checks[i].probe.plan(&self.config).bucket;
            let not_before = self.checks[i].not_before;
            let at = if not_before > now {
                Some(not_before)
            } else {
                self.exchange.ready_at(bucket, now)
            };
            if let Some(at) = at {
                *wake = Some(wake.map_or(at, |w: i64| w.min(at)));
                continue;
            }
            let mut check = self.checks.remove(i)?;
            check.tries += 1;
            let owner = self.next_owner;
            self.next_owner += 1;
            self.summary.requests += 1;
            let planned = check.probe.plan(&self.config);
            let request = self.exchange.send(owner, planned, self.def.object, now);
            self.inflight_checks.insert(owner, check);
            return Some(request);
        }
        None
    }

    /// Rows accepted by Iterable: with `confirm`, those a read can prove
    /// wait for it; the rest are final now.
    fn hold_for_confirmation(
        &mut self,
        now: i64,
        rows: &[Prepared],
        results: Vec<RowResult>,
    ) -> Vec<RowResult> {
        if !self.options.confirm {
            return results;
        }
        let deadline = now.saturating_add(self.options.confirm_timeout_ms as i64);
        let mut final_now = Vec::new();
        for r in results {
            let probe = (r.status == RowStatus::Ok)
                .then(|| rows.iter().find(|p| p.row == r.row))
                .flatten()
                .and_then(|p| confirm::probe(self.def.target, p));
            match probe {
                Some(probe) => self.checks.push_back(Check {
                    result: r,
                    probe,
                    deadline,
                    // Iterable needs a moment: the first read waits too.
                    not_before: now.saturating_add(confirm::backoff(0)),
                    tries: 0,
                }),
                None => final_now.push(r),
            }
        }
        final_now
    }

    /// A read-back answered (`status`, and the body when 2xx).
    fn on_check(&mut self, now: i64, mut check: Check, status: u16, body: Option<&Value>) {
        if check.probe.shows(status, body) {
            self.finish_rows(vec![check.result]);
            return;
        }
        let next = now.saturating_add(confirm::backoff(check.tries));
        if next <= check.deadline {
            check.not_before = next;
            self.checks.push_back(check);
            return;
        }
        let waited = (self.options.confirm_timeout_ms as f64 / 1000.0).round();
        let e = ConnectorError::new(
            ErrorKind::Upstream,
            format!(
                "Iterable accepted row {} but it did not show within {waited} s ({} reads); {}",
                check.result.row,
                check.tries,
                check.probe.what_to_check()
            ),
        );
        let mut r = RowResult::unknown(check.result.row, e);
        r.id = check.result.id;
        self.finish_rows(vec![r]);
    }

    /// The status line and headers of a response.
    pub fn on_response_head(
        &mut self,
        _now: i64,
        id: RequestId,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<()> {
        self.exchange.on_head(id, status, headers)
    }

    /// A chunk of a response body (split anywhere).
    pub fn on_response_body(&mut self, _now: i64, id: RequestId, chunk: &[u8]) -> Result<()> {
        // Write answers are small JSON documents, parsed whole at the end.
        // An unreadable one is not fatal: the request was applied, and
        // `on_response_end` ends its rows from the status alone.
        self.exchange.on_body(id, chunk)?;
        Ok(())
    }

    /// The response is complete.
    pub fn on_response_end(&mut self, now: i64, id: RequestId) -> Result<()> {
        match self.exchange.on_end(id)? {
            Ended::Complete { owner, items, .. } => {
                if let Some(check) = self.inflight_checks.remove(&owner) {
                    let body = items.ok().and_then(|p| p.into_values().pop());
                    self.on_check(now, check, 200, body.as_ref());
                    return Ok(());
                }
                let Some(outgoing) = self.inflight.remove(&owner) else {
                    return Err(self.fail(ConnectorError::new(
                        ErrorKind::Internal,
                        "a response for a batch the session does not know",
                    )));
                };
                let body = items.ok().and_then(|p| p.into_values().pop());
                let results = outcome::on_success(
                    self.def.answer,
                    outgoing.batch.bulk,
                    &outgoing.batch.rows,
                    body.as_ref(),
                );
                self.release(&outgoing.batch);
                let results = self.hold_for_confirmation(now, &outgoing.batch.rows, results);
                self.finish_rows(results);
                Ok(())
            }
            Ended::Failed {
                owner,
                planned,
                failure,
            } => self.on_failure(now, owner, planned, failure),
        }
    }

    /// The request failed before a complete response.
    pub fn on_transport_error(
        &mut self,
        now: i64,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<()> {
        let (owner, planned, failure) = self.exchange.on_transport_error(id, kind)?;
        self.on_failure(now, owner, planned, failure)
    }

    fn on_failure(
        &mut self,
        now: i64,
        owner: usize,
        planned: Planned,
        failure: Failure,
    ) -> Result<()> {
        if let Some(check) = self.inflight_checks.remove(&owner) {
            // A 404 may be the answer (a delete shows); anything else means
            // "not yet", until the deadline.
            let status = match &failure {
                Failure::Status { status, .. } => *status,
                Failure::Transport(_) => 0,
            };
            self.on_check(now, check, status, None);
            return Ok(());
        }
        let Some(mut outgoing) = self.inflight.remove(&owner) else {
            return Err(self.fail(ConnectorError::new(
                ErrorKind::Internal,
                "a failure for a batch the session does not know",
            )));
        };
        let verdict = self
            .exchange
            .verdict(&planned, &failure, outgoing.attempts, now);
        let status = match &failure {
            Failure::Status { status, .. } => Some(*status),
            Failure::Transport(_) => None,
        };
        if matches!(failure, Failure::Transport(k) if k != TransportErrorKind::Connect) {
            outgoing.unanswered = true;
        }
        match verdict {
            Verdict::RetryAfter(delay) if outgoing.attempts < self.config.max_retries => {
                outgoing.attempts += 1;
                outgoing.not_before = now.saturating_add(delay);
                self.out.push_back(WriteAction::Log(LogMessage {
                    level: LogLevel::Warn,
                    message: format!(
                        "{} on {} rows; retry {} in {delay} ms",
                        failure.describe(),
                        outgoing.batch.rows.len(),
                        outgoing.attempts
                    ),
                    stream: None,
                }));
                self.ready.push_front(outgoing);
            }
            Verdict::Unknown => {
                let cause = failure.describe();
                let results = outgoing
                    .batch
                    .rows
                    .iter()
                    .map(|p| {
                        RowResult::unknown(p.row, outcome::in_doubt(self.def.target, p, &cause))
                    })
                    .collect();
                self.release(&outgoing.batch);
                self.finish_rows(results);
            }
            // A bulk request refused as a whole: halves find the bad row
            // while the good ones go through (only safe writes are bulk).
            Verdict::Permanent if status == Some(400) && outgoing.batch.rows.len() > 1 => {
                let mut rows = std::mem::take(&mut outgoing.batch.rows);
                let second = rows.split_off(rows.len() / 2);
                for half in [second, rows].into_iter() {
                    self.ready.push_front(Outgoing {
                        batch: Batch {
                            rows: half,
                            bulk: outgoing.batch.bulk,
                        },
                        attempts: 0,
                        not_before: i64::MIN,
                        unanswered: false,
                    });
                }
            }
            // Only safe writes get here after an unanswered attempt (unsafe
            // ones end `Unknown` at once): perhaps applied, not "failed".
            _ if outgoing.unanswered => {
                let error = outcome::unanswered(&failure.describe());
                let results = outgoing
                    .batch
                    .rows
                    .iter()
                    .map(|p| RowResult::unknown(p.row, error.clone()))
                    .collect();
                self.release(&outgoing.batch);
                self.finish_rows(results);
            }
            _ => {
                let mut error = failure.to_error(&planned);
                // A refused connection is passing: the row can be written again.
                if matches!(failure, Failure::Transport(_)) {
                    error.retryable = true;
                }
                let results = outgoing
                    .batch
                    .rows
                    .iter()
                    .map(|p| RowResult::failed(p.row, error.clone()))
                    .collect();
                self.release(&outgoing.batch);
                self.finish_rows(results);
            }
        }
        Ok(())
    }

    fn release(&mut self, batch: &Batch) {
        for p in &batch.rows {
            if let Some(n) = self.busy.get_mut(&p.key) {
                *n -= 1;
                if *n == 0 {
                    self.busy.remove(&p.key);
                }
            }
        }
    }

    /// Queues final results and advances the checkpoint.
    fn finish_rows(&mut self, results: Vec<RowResult>) {
        if results.is_empty() {
            return;
        }
        for r in &results {
            match r.status {
                RowStatus::Ok => self.summary.ok += 1,
                RowStatus::Failed => self.summary.failed += 1,
                RowStatus::Unknown => self.summary.unknown += 1,
            }
            self.final_ahead.insert(r.row);
        }
        while self.final_ahead.remove(&self.frontier) {
            self.frontier += 1;
        }
        let frontier = self.frontier;
        self.in_doubt.retain(|r| *r >= frontier);
        self.resumed_in_doubt.retain(|r| *r >= frontier);
        self.out.push_back(WriteAction::Results(results));
        self.commit_if_advanced();
    }

    fn commit_if_advanced(&mut self) {
        if self.frontier > self.committed {
            self.committed = self.frontier;
            self.out.push_back(WriteAction::Commit(self.checkpoint()));
        }
    }

    fn checkpoint(&self) -> WriteCheckpoint {
        let mut doubt: Vec<u64> = self
            .in_doubt
            .iter()
            .chain(self.resumed_in_doubt.iter())
            .copied()
            .filter(|r| *r >= self.frontier)
            .collect();
        doubt.sort_unstable();
        doubt.dedup();
        WriteCheckpoint {
            rows_final: self.frontier,
            state: json!({
                "v": WRITE_STATE_VERSION,
                "object": self.def.object,
                "op": self.def.op,
                "rows_final": self.frontier,
                "in_doubt": doubt,
            }),
        }
    }

    fn fail(&mut self, e: ConnectorError) -> ConnectorError {
        self.failed = Some(e.clone());
        e
    }
}

/// `(first row, rows in doubt)` from a checkpoint's state.
fn read_state(state: &Value, def: &TargetDef) -> Result<(u64, BTreeSet<u64>)> {
    let bad = |why: &str| {
        ConnectorError::config(
            "state",
            format!("{why}; pass the `state` of the last write checkpoint, unchanged"),
        )
    };
    if state.get("v").and_then(Value::as_u64) != Some(WRITE_STATE_VERSION) {
        return Err(bad("is not a version-1 write state"));
    }
    let object = state.get("object").and_then(Value::as_str);
    let op = state.get("op").and_then(Value::as_str);
    if object != Some(def.object) || op != Some(def.op) {
        return Err(bad(&format!(
            "belongs to {} {}, not {} {}",
            object.unwrap_or("?"),
            op.unwrap_or("?"),
            def.object,
            def.op
        )));
    }
    let first = state
        .get("rows_final")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("has no rows_final"))?;
    let doubt = state
        .get("in_doubt")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    Ok((first, doubt))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[u8] = br#"{"listId": 9}"#;

    fn open(state: Option<&Value>) -> WriteSession {
        let config =
            Config::from_json(&json!({"base_url": "http://127.0.0.1:9", "max_concurrency": 3}))
                .expect("config");
        WriteSession::open(config, "lists", "insert", &WriteOptions::default(), state)
            .expect("open")
    }

    fn rows(n: u64) -> Vec<Value> {
        (0..n).map(|i| json!({"name": format!("l{i}")})).collect()
    }

    /// Polls until the next request; returns it and the last checkpoint seen.
    fn next_fetch(s: &mut WriteSession, last: &mut Option<WriteCheckpoint>) -> HttpRequest {
        loop {
            match s.poll(0).expect("poll") {
                WriteAction::Fetch(r) => return r,
                WriteAction::Commit(cp) => *last = Some(cp),
                WriteAction::Results(_) | WriteAction::Log(_) => {}
                other => panic!("expected a request, got {other:?}"),
            }
        }
    }

    fn answer(s: &mut WriteSession, id: RequestId, body: &[u8]) {
        s.on_response_head(0, id, 200, &[]).expect("head");
        s.on_response_body(0, id, body).expect("body");
        s.on_response_end(0, id).expect("end");
    }

    #[test]
    fn unsafe_rows_finished_ahead_of_the_frontier_are_never_resent() {
        let mut s = open(None);
        s.push_rows(rows(4)).expect("push");
        s.finish_input();
        let mut last = None;
        let _r0 = next_fetch(&mut s, &mut last);
        let r1 = next_fetch(&mut s, &mut last);
        let _r2 = next_fetch(&mut s, &mut last);
        // Row 1 is created while row 0 is still out; then row 3 goes out.
        answer(&mut s, r1.id, LIST);
        let _r3 = next_fetch(&mut s, &mut last);
        let cp = last.expect("a checkpoint before each unsafe request");
        assert_eq!(cp.rows_final, 0);
        assert_eq!(cp.state["in_doubt"], json!([0, 1, 2, 3]));
        // Killed here; resumed from the checkpoint: nothing is sent again.
        let mut resumed = open(Some(&cp.state));
        resumed.push_rows(rows(4)).expect("push");
        resumed.finish_input();
        let mut results = Vec::new();
        loop {
            match resumed.poll(0).expect("poll") {
                WriteAction::Results(r) => results.extend(r),
                WriteAction::Done(_) => break,
                WriteAction::Fetch(r) => panic!("resent {r:?}"),
                _ => {}
            }
        }
        assert_eq!(results.len(), 4);
        assert!(results.iter().all(|r| r.status == RowStatus::Unknown));
    }

    #[test]
    fn resumed_in_doubt_rows_stay_in_doubt_until_final() {
        let state =
            json!({"v": 1, "object": "lists", "op": "insert", "rows_final": 0, "in_doubt": [1]});
        let mut s = open(Some(&state));
        s.push_rows(rows(2)).expect("push");
        let mut last = None;
        let _r0 = next_fetch(&mut s, &mut last);
        let cp = last.expect("checkpoint before the unsafe request");
        assert_eq!(
            cp.state["in_doubt"],
            json!([0, 1]),
            "row 1 is still in doubt"
        );
    }

    /// Runs a one-row users upsert whose every attempt fails with `kind`.
    fn always_failing(kind: TransportErrorKind) -> (Vec<RowResult>, u32) {
        let config =
            Config::from_json(&json!({"base_url": "http://127.0.0.1:9", "max_retries": 2}))
                .expect("config");
        let mut s = WriteSession::open(config, "users", "upsert", &WriteOptions::default(), None)
            .expect("open");
        s.push_rows(vec![json!({"email": "a@x.io"})]).expect("push");
        s.finish_input();
        let (mut now, mut sent, mut results) = (0, 0, Vec::new());
        loop {
            match s.poll(now).expect("poll") {
                WriteAction::Fetch(r) => {
                    sent += 1;
                    s.on_transport_error(now, r.id, kind).expect("failure fed");
                }
                WriteAction::SleepUntil(t) => now = t,
                WriteAction::Results(r) => results.extend(r),
                WriteAction::Done(_) => return (results, sent),
                WriteAction::AwaitResponse => panic!("nothing in flight"),
                _ => {}
            }
        }
    }

    #[test]
    fn a_safe_write_that_never_got_an_answer_is_unknown_not_failed() {
        // Cut or timed out on every attempt: each may have been applied, so
        // the row is not "failed" (not applied) but unknown, safe to repeat.
        for kind in [TransportErrorKind::Other, TransportErrorKind::Timeout] {
            let (results, sent) = always_failing(kind);
            assert_eq!(sent, 3, "1 + max_retries");
            assert_eq!(results.len(), 1);
            assert_eq!(results[0].status, RowStatus::Unknown, "{kind:?}");
            let e = results[0].error.as_ref().expect("error");
            assert!(e.retryable, "{e:?}");
            assert!(e.message.contains("writing the row again is safe"), "{e}");
        }
        // A refused connection never reached Iterable: failed, retryable.
        let (results, _) = always_failing(TransportErrorKind::Connect);
        assert_eq!(results[0].status, RowStatus::Failed);
        assert!(results[0].error.as_ref().expect("error").retryable);
    }

    #[test]
    fn an_unreadable_answer_ends_its_rows_instead_of_the_session() {
        let config = Config::from_json(&json!({"base_url": "http://127.0.0.1:9"})).expect("config");
        let mut s = WriteSession::open(config, "users", "upsert", &WriteOptions::default(), None)
            .expect("open");
        s.push_rows(vec![json!({"email": "a@x.io"})]).expect("push");
        s.finish_input();
        let mut last = None;
        let r = next_fetch(&mut s, &mut last);
        // Larger than any JSON document the parser keeps.
        let huge = vec![b' '; 64 * 1024 * 1024 + 1];
        s.on_response_head(0, r.id, 200, &[]).expect("head");
        s.on_response_body(0, r.id, &huge)
            .expect("an unreadable body is not fatal");
        s.on_response_end(0, r.id).expect("end");
        let mut results = Vec::new();
        loop {
            match s.poll(0).expect("poll") {
                WriteAction::Results(r) => results.extend(r),
                WriteAction::Done(_) => break,
                _ => {}
            }
        }
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].status, RowStatus::Unknown);
    }

    #[test]
    fn json_lines_are_rows_and_a_bad_line_fails_alone() {
        let mut s = open(None);
        let added = s
            .push_ndjson(b"{\"name\": \"a\"}\n\n  \nnot json\n{\"name\": \"b\"}")
            .expect("push");
        assert_eq!(added, 3, "blank lines are not rows");
        s.finish_input();
        let mut results = Vec::new();
        let mut sent = Vec::new();
        loop {
            match s.poll(0).expect("poll") {
                WriteAction::Results(r) => results.extend(r),
                WriteAction::Fetch(r) => {
                    sent.push(r.body.clone().unwrap_or_default());
                    answer(&mut s, r.id, LIST);
                }
                WriteAction::Done(sum) => {
                    assert_eq!((sum.rows, sum.ok, sum.failed), (3, 2, 1));
                    break;
                }
                _ => {}
            }
        }
        results.sort_by_key(|r| r.row);
        let statuses: Vec<&str> = results.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(statuses, ["ok", "failed", "ok"]);
        let e = results[1].error.as_ref().expect("error");
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        assert_eq!(sent.len(), 2, "the bad line sends nothing");
    }

    #[test]
    fn the_target_listing_resolves_back_to_itself() {
        let all = write_targets();
        assert!(all.len() >= 22);
        for t in &all {
            let def = target::resolve(t.object, t.op).expect("listed pairs resolve");
            assert_eq!((def.object, def.op), (t.object, t.op));
            assert_eq!(t.procedure, t.op == "call");
            assert!(t.max_rows_per_request >= 1);
        }
        assert!(
            all.iter()
                .any(|t| t.object == "events" && t.max_rows_per_request > 1)
        );
    }

    /// Drives a confirmed users upsert whose read-backs answer `reads` in
    /// turn; returns the row's result and every GET sent.
    fn confirmed_upsert(reads: &[&[u8]], timeout_ms: u64) -> (RowResult, Vec<String>) {
        let config = Config::from_json(&json!({"base_url": "http://h"})).expect("config");
        let options =
            WriteOptions::from_json(&json!({"confirm": true, "confirm_timeout_ms": timeout_ms}))
                .expect("options");
        let mut s = WriteSession::open(config, "users", "upsert", &options, None).expect("open");
        s.push_rows(vec![json!({"email": "a@x.io", "plan": "pro"})])
            .expect("push");
        s.finish_input();
        let mut now = 1_000;
        let mut gets = Vec::new();
        let mut reads = reads.iter();
        loop {
            match s.poll(now).expect("poll") {
                WriteAction::Fetch(r) if r.method == crate::Method::Post => {
                    let ok = br#"{"code":"Success","msg":"","params":null}"#;
                    s.on_response_head(now, r.id, 200, &[]).expect("head");
                    s.on_response_body(now, r.id, ok).expect("body");
                    s.on_response_end(now, r.id).expect("end");
                }
                WriteAction::Fetch(r) => {
                    gets.push(r.url.clone());
                    let body = reads.next().copied().unwrap_or(b"{}");
                    s.on_response_head(now, r.id, 200, &[]).expect("head");
                    s.on_response_body(now, r.id, body).expect("body");
                    s.on_response_end(now, r.id).expect("end");
                }
                WriteAction::SleepUntil(t) => now = t,
                WriteAction::Results(mut r) => return (r.remove(0), gets),
                WriteAction::Done(_) => panic!("done without a result"),
                _ => {}
            }
        }
    }

    #[test]
    fn a_confirmed_write_is_ok_only_once_a_read_shows_it() {
        let shown = br#"{"user": {"email": "a@x.io", "dataFields": {"plan": "pro"}}}"#;
        let (r, gets) = confirmed_upsert(&[b"{}", shown], 60_000);
        assert_eq!(r.status, RowStatus::Ok, "{r:?}");
        assert_eq!(gets.len(), 2, "read until it shows: {gets:?}");
        assert!(gets[0].ends_with("/api/users/a%40x.io"), "{gets:?}");
    }

    #[test]
    fn a_confirmed_write_that_never_shows_is_unknown_at_the_deadline() {
        let (r, gets) = confirmed_upsert(&[], 3_000);
        assert_eq!(r.status, RowStatus::Unknown);
        let e = r.error.expect("what to check");
        assert!(
            e.message.contains("did not show within 3 s"),
            "{}",
            e.message
        );
        assert!((2..=4).contains(&gets.len()), "bounded reads: {gets:?}");
        let e = WriteSession::open(
            Config::from_json(&json!({"base_url": "http://h"})).expect("config"),
            "lists",
            "insert",
            &WriteOptions::from_json(&json!({"confirm": "true"})).expect("options"),
            None,
        )
        .err()
        .expect("confirm is refused where nothing can be read back");
        assert_eq!(e.field.as_deref(), Some("confirm"));
    }
}
