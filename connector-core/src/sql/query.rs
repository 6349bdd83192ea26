//! The query session: a read session whose batches pass through the
//! query's filter, projection, order and limit before the host sees them.
//! Driven exactly like a [`ReadSession`] (same actions); queries keep no
//! state, so the read's commits are not passed on.

use std::collections::VecDeque;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::exchange::{Action, HttpRequest, Record, RecordBatch, TransportErrorKind};
use crate::read::{MAX_BATCH, ReadSession, StreamSelection};
use crate::state::SessionState;

use super::expr::sort_order;
use super::{Item, SelectPlan};

/// A running SELECT: see the module docs.
pub struct QuerySession {
    read: ReadSession,
    plan: SelectPlan,
    /// Rows still to skip (`OFFSET`).
    to_skip: u64,
    /// Rows handed out.
    emitted: u64,
    /// Every matching row, when the query sorts.
    sorted: Option<Vec<(Vec<Value>, Record)>>,
    out: VecDeque<Action>,
    finished: bool,
    /// The read's own summary, once it is done (requests, retries…).
    read_summary: Option<crate::exchange::Summary>,
}

impl QuerySession {
    /// Starts reading for `plan` (a full read of its stream: queries do not
    /// resume).
    pub fn open(plan: SelectPlan) -> Result<QuerySession> {
        let selection = [StreamSelection {
            name: plan.stream.clone(),
            incremental: false,
        }];
        let read = ReadSession::open(plan.config.clone(), &selection, &SessionState::new())?;
        Ok(QuerySession {
            read,
            to_skip: plan.offset,
            sorted: plan.sorts().then(Vec::new),
            plan,
            emitted: 0,
            out: VecDeque::new(),
            finished: false,
            read_summary: None,
        })
    }

    /// How many requests the host may keep in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.read.max_in_flight()
    }

    /// The plan this session runs.
    pub fn plan(&self) -> &SelectPlan {
        &self.plan
    }

    /// The next action, as for [`ReadSession::poll`]. `Emit` carries the
    /// query's rows; `Done` comes as soon as `LIMIT` rows were handed out.
    pub fn poll(&mut self, now: i64) -> Result<Action> {
        loop {
            if let Some(a) = self.out.pop_front() {
                return Ok(a);
            }
            if self.finished {
                return Ok(Action::Done(self.summary()));
            }
            match self.read.poll(now)? {
                Action::Emit(batch) => {
                    if let Some(a) = self.take(batch) {
                        return Ok(a);
                    }
                }
                Action::Commit(_) => {}
                Action::Done(summary) => {
                    self.read_summary = Some(summary);
                    self.flush_sorted();
                    self.finished = true;
                }
                other => return Ok(other),
            }
        }
    }

    /// The read's summary (requests, retries; so far, when `LIMIT` ended
    /// the query early), with `records` = the rows the query handed out.
    fn summary(&self) -> crate::exchange::Summary {
        let mut s = self
            .read_summary
            .clone()
            .unwrap_or_else(|| self.read.summary());
        if s.streams.is_empty() {
            s.streams.push(crate::exchange::StreamSummary {
                stream: self.plan.stream.clone(),
                ..Default::default()
            });
        }
        for one in &mut s.streams {
            one.records = self.emitted;
        }
        s
    }

    /// Filters a batch; returns the rows to hand out now, if any.
    fn take(&mut self, batch: RecordBatch) -> Option<Action> {
        let mut rows = Vec::new();
        for record in batch.records() {
            if let Some(f) = &self.plan.residual
                && !f.matches(&record)
            {
                continue;
            }
            if let Some(sorted) = &mut self.sorted {
                let keys = self
                    .plan
                    .order
                    .iter()
                    .map(|(e, _)| e.eval(&record))
                    .collect();
                sorted.push((keys, record));
                continue;
            }
            if self.to_skip > 0 {
                self.to_skip -= 1;
                continue;
            }
            rows.push(project(&self.plan.items, record));
            self.emitted += 1;
            if self.plan.limit.is_some_and(|l| self.emitted >= l) {
                self.finished = true;
                break;
            }
        }
        (!rows.is_empty())
            .then(|| Action::Emit(RecordBatch::from_records(&self.plan.stream, &rows)))
    }

    /// Sorts what a sorting query kept and queues it in batches.
    fn flush_sorted(&mut self) {
        let Some(mut rows) = self.sorted.take() else {
            return;
        };
        let order: Vec<bool> = self.plan.order.iter().map(|(_, desc)| *desc).collect();
        // A stable sort keeps the read order among equal keys.
        rows.sort_by(|(a, _), (b, _)| {
            for ((x, y), desc) in a.iter().zip(b).zip(&order) {
                let o = sort_order(x, y);
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        let skip = usize::try_from(self.plan.offset).unwrap_or(usize::MAX);
        let take = self
            .plan
            .limit
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(usize::MAX);
        let mut batch = Vec::new();
        for (_, record) in rows.into_iter().skip(skip).take(take) {
            batch.push(project(&self.plan.items, record));
            self.emitted += 1;
            if batch.len() == MAX_BATCH {
                self.out.push_back(self.emit(std::mem::take(&mut batch)));
            }
        }
        if !batch.is_empty() {
            self.out.push_back(self.emit(batch));
        }
    }

    fn emit(&self, records: Vec<Record>) -> Action {
        Action::Emit(RecordBatch::from_records(&self.plan.stream, &records))
    }

    /// The status line and headers of a response (as for reads).
    pub fn on_response_head(
        &mut self,
        now: i64,
        id: u64,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<()> {
        self.read.on_response_head(now, id, status, headers)
    }

    /// A chunk of a response body.
    pub fn on_response_body(&mut self, now: i64, id: u64, chunk: &[u8]) -> Result<()> {
        self.read.on_response_body(now, id, chunk)
    }

    /// The response is complete.
    pub fn on_response_end(&mut self, now: i64, id: u64) -> Result<()> {
        self.read.on_response_end(now, id)
    }

    /// The request failed before a complete response.
    pub fn on_transport_error(
        &mut self,
        now: i64,
        id: u64,
        kind: TransportErrorKind,
    ) -> Result<()> {
        self.read.on_transport_error(now, id, kind)
    }
}

/// The output row for `record`.
fn project(items: &[Item], record: Record) -> Record {
    if let [Item::Star] = items {
        return record;
    }
    let mut out = Map::new();
    for item in items {
        match item {
            Item::Star => {
                for (k, v) in &record {
                    out.insert(k.clone(), v.clone());
                }
            }
            Item::Named(name, e) => {
                out.insert(name.clone(), e.eval(&record));
            }
        }
    }
    out
}

impl SelectPlan {
    /// The first requests the read would send (at most `n`), for EXPLAIN.
    /// Nothing is sent: the read session only plans them.
    pub fn first_requests(&self, now: i64, n: usize) -> Result<Vec<HttpRequest>> {
        let selection = [StreamSelection {
            name: self.stream.clone(),
            incremental: false,
        }];
        let mut read = ReadSession::open(self.config.clone(), &selection, &SessionState::new())?;
        let mut out = Vec::new();
        for _ in 0..n.saturating_mul(4) {
            match read.poll(now)? {
                Action::Fetch(r) => {
                    out.push(r);
                    if out.len() >= n {
                        break;
                    }
                }
                Action::Log(_) | Action::Commit(_) | Action::Emit(_) => {}
                _ => break,
            }
        }
        Ok(out)
    }
}
