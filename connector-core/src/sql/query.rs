//! The query session: a read session whose batches pass through the
//! query's filter, projection, order and limit before the host sees them.
//! Driven exactly like a [`ReadSession`] (same actions); queries keep no
//! state, so the read's commits are not passed on.

use std::collections::{BTreeSet, VecDeque};

use serde_json::{Map, Value};

use crate::error::Result;
use crate::exchange::{Action, HttpRequest, Record, RecordBatch, TransportErrorKind};
use crate::parse::bytes::same_bytes;
use crate::parse::tape::{Node, scan_row};
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
    /// Decodes only the fields a row is judged and projected by.
    picker: Picker,
}

/// The fields of a batch line that a query reads, decoded from the line's
/// tape without decoding the rest: most rows of a residual filter fail it,
/// and a projection keeps a few columns.
#[derive(Debug)]
struct Picker {
    /// What the residual filter reads.
    filter: Vec<String>,
    /// What the projection and the sort read; `None` with `*`.
    row: Option<Vec<String>>,
    tape: Vec<Node>,
}

impl Picker {
    fn new(plan: &SelectPlan) -> Picker {
        let mut filter = BTreeSet::new();
        if let Some(f) = &plan.residual {
            f.columns(&mut filter);
        }
        let mut row = BTreeSet::new();
        let star = plan.items.iter().any(|i| matches!(i, Item::Star));
        for item in &plan.items {
            if let Item::Named(_, e) = item {
                e.columns(&mut row);
            }
        }
        for (e, _) in &plan.order {
            e.columns(&mut row);
        }
        Picker {
            filter: filter.into_iter().collect(),
            row: (!star).then(|| row.into_iter().collect()),
            tape: Vec::new(),
        }
    }

    /// Tapes `line`; `false`: it must be decoded whole.
    fn scan(&mut self, line: &str) -> bool {
        self.tape.clear();
        scan_row(line.as_bytes(), &mut self.tape)
    }

    /// The members of the taped `line` named in `fields`, as serde_json
    /// decodes them (a repeated key: the last); `None` if one does not
    /// decode (then the whole line is decoded, for the same verdict).
    fn pick(&self, line: &str, fields: &[String]) -> Option<Record> {
        let mut out = Map::new();
        let mut c = 1;
        while c < self.tape[0].next as usize {
            let node = self.tape[c];
            let key = node.key(line);
            // A few names: a scan beats a search that calls `memcmp`.
            if fields
                .iter()
                .any(|f| same_bytes(f.as_bytes(), key.as_bytes()))
            {
                out.insert(key.to_string(), serde_json::from_str(node.text(line)).ok()?);
            }
            c = node.next as usize;
        }
        Some(out)
    }
}

/// A batch line decoded whole (every line was written from a record).
fn decode(line: &str) -> Option<Record> {
    serde_json::from_str(line).ok()
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
            picker: Picker::new(&plan),
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
        // `SELECT *` without a residual filter needs every field: no tape.
        let picks = self.plan.residual.is_some() || self.picker.row.is_some();
        for line in batch.lines() {
            let taped = picks && self.picker.scan(line);
            let mut whole = None;
            if let Some(f) = &self.plan.residual {
                let view = taped
                    .then(|| self.picker.pick(line, &self.picker.filter))
                    .flatten();
                let passes = match view {
                    Some(view) => f.matches(&view),
                    None => {
                        let Some(record) = decode(line) else { continue };
                        let passes = f.matches(&record);
                        whole = Some(record);
                        passes
                    }
                };
                if !passes {
                    continue;
                }
            }
            let record = match (whole, &self.picker.row) {
                (Some(record), _) => Some(record),
                (None, Some(fields)) if taped => {
                    self.picker.pick(line, fields).or_else(|| decode(line))
                }
                (None, _) => decode(line),
            };
            let Some(record) = record else { continue };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::sql::{SqlPlan, plan_sql};

    fn plan(sql: &str) -> SelectPlan {
        let config = Config::from_json(&serde_json::json!({"base_url": "http://sim",
            "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"}))
        .expect("config");
        match plan_sql(&config, sql, &Map::new(), None) {
            Ok(SqlPlan::Select(p)) => p,
            other => panic!("{sql}: {other:?}"),
        }
    }

    /// What a query hands out for a batch when every line is decoded
    /// whole, as before the picker.
    fn decoding_everything(plan: &SelectPlan, batch: &RecordBatch) -> Vec<Record> {
        batch
            .records()
            .into_iter()
            .filter(|r| plan.residual.as_ref().is_none_or(|f| f.matches(r)))
            .map(|r| project(&plan.items, r))
            .collect()
    }

    #[test]
    fn picked_fields_give_the_rows_whole_records_give() {
        use proptest::prelude::*;
        let queries = [
            "SELECT email, templateId FROM email_send WHERE email LIKE 'a%' AND templateId = 3",
            "SELECT * FROM email_send WHERE templateId > 2 OR email IS NULL",
            "SELECT COALESCE(email, 'none') AS e, createdAt FROM email_send",
            "SELECT messageId FROM email_send WHERE campaignId IN (1, 2) OR LENGTH(email) < 3",
            "SELECT * FROM email_send",
        ];
        let plans: Vec<SelectPlan> = queries.iter().map(|q| plan(q)).collect();
        let key = prop_oneof![
            Just("email"),
            Just("templateId"),
            Just("createdAt"),
            Just("campaignId"),
            Just("messageId"),
            Just("other"),
            Just("é"),
        ];
        let line = proptest::collection::vec((key, crate::parse::json_text::json_text()), 0..6)
            .prop_map(|members| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            });
        proptest!(ProptestConfig::with_cases(1000), |(lines in proptest::collection::vec(line, 1..8), which in 0..5usize)| {
            let plan = &plans[which];
            let mut batch = RecordBatch::new("email_send");
            for l in &lines {
                batch.push_json(l);
            }
            let expected = decoding_everything(plan, &batch);
            let mut session = QuerySession::open(plan.clone()).expect("open");
            let got = match session.take(batch) {
                Some(Action::Emit(b)) => b.records(),
                None => Vec::new(),
                Some(other) => panic!("{other:?}"),
            };
            prop_assert_eq!(got, expected);
        });
    }
}
