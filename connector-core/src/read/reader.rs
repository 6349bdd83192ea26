//! The contract between the session runner and the per-family readers.
//!
//! A reader plans one request at a time for its stream and turns parsed body
//! items into records. The runner owns everything generic: pacing, retries,
//! HTTP status handling, parsing, de-duplication after retries, emission.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::catalog::RowShape;
use crate::config::Config;
use crate::error::Result;
use crate::exchange::{LogMessage, Planned, Record};
use crate::parse::Row;
use crate::plan::WorkUnit;
use crate::read::conform::Conformance;
use crate::read::readers::paged::as_record;
use crate::record::{PendingKeys, RowScratch, RowSpec, Shaper, timestamp_ms};

/// What a reader wants next.
pub(crate) enum Next {
    /// Send this request.
    Send(Planned),
    /// Nothing to send for this long (ms on the server's clock), e.g. while
    /// an export job runs or too many jobs are running.
    Wait(i64),
    /// The stream is read.
    Done,
}

/// What a reader sees of the session.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a Config,
    /// Time of the latest poll (epoch ms).
    pub(crate) now: i64,
    /// Start of history for streams without state.
    pub(crate) start: DateTime<Utc>,
    /// End of history: `end_date`, or the first poll's now − lookback.
    pub(crate) end: DateTime<Utc>,
    /// Full refresh ignores saved state.
    pub(crate) incremental: bool,
    /// When this stream's latest request was actually sent (epoch ms): with
    /// `now` at the next planning step, how long its response took.
    pub(crate) last_sent_at: i64,
    /// Async export jobs running in this session (Iterable allows 4 at once).
    pub(crate) jobs_running: &'a std::cell::Cell<u32>,
    /// At planning time: an `export/data.json` request could go out now (its
    /// budget is free and no other stream's is waiting for it). Read by
    /// `export_mode: auto` to pick a stream's path; `false` elsewhere.
    pub(crate) sync_export_free: bool,
    /// Shapes this stream's rows as its schema says.
    pub(crate) shaper: &'a Shaper,
    /// The stream's schema checks (the fast path checks rows as it writes them).
    pub(crate) conform: &'a Conformance,
    /// The stream's primary key fields.
    pub(crate) key_fields: &'a [&'static str],
}

/// Where readers put their output for the current response.
#[derive(Default)]
pub(crate) struct Sink {
    /// Records of readers that build them (handed out before `shaped`).
    pub(crate) records: Vec<Record>,
    /// Export rows, shaped by [`Sink::shape_row`].
    pub(crate) shaped: ShapedRows,
    pub(crate) commit: Option<Value>,
    pub(crate) logs: Vec<LogMessage>,
    /// Work handed out for other workers (coordinator sessions only).
    pub(crate) units: Vec<WorkUnit>,
}

/// Export rows as shaped: most already written as JSON by the fast path,
/// the rest as records, in the order read.
#[derive(Default)]
pub(crate) struct ShapedRows {
    /// The fast path's rows, back to back.
    pub(crate) text: String,
    pub(crate) items: Vec<Shaped>,
    pub(crate) scratch: RowScratch,
    /// The fast rows' keys and fingerprints, until [`ShapedRows::settle_keys`].
    pub(crate) keys: PendingKeys,
}

/// One shaped export row.
pub(crate) enum Shaped {
    /// Written to [`ShapedRows::text`], ending at `end` (starting where the
    /// previous fast row ended), already checked against the schema. Its
    /// key and fingerprint are known once the keys are settled.
    Fast { end: usize, fingerprint: u128 },
    /// Shaped by the general path (not yet checked).
    Record(Record),
}

impl ShapedRows {
    /// Room for `bytes` more of shaped text.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes);
    }

    /// Computes the fast rows' pending keys and fingerprints (all at once:
    /// see [`PendingKeys`]); the rows are complete after this.
    pub(crate) fn settle_keys(&mut self) {
        let items = &mut self.items;
        self.keys.settle(&mut self.text, |i, fp| {
            if let Some(Shaped::Fast { fingerprint, .. }) = items.get_mut(i) {
                *fingerprint = fp;
            }
        });
    }
}

impl Sink {
    /// Shapes an export row (the fast path first) and returns its cursor
    /// field's value as epoch ms, if it has one.
    pub(crate) fn shape_row(
        &mut self,
        ctx: &Ctx,
        rows: RowShape,
        cursor_field: &str,
        row: Row<'_>,
    ) -> Result<Option<i64>> {
        let spec = RowSpec {
            rows,
            conform: ctx.conform,
            key_fields: ctx.key_fields,
            cursor_field,
        };
        let out = &mut self.shaped;
        let item = out.items.len();
        if let Some(fast) = ctx.shaper.shape_row(
            &spec,
            row,
            &mut out.text,
            &mut out.scratch,
            &mut out.keys,
            item,
        ) {
            out.items.push(Shaped::Fast {
                end: out.text.len(),
                // Set when the keys settle.
                fingerprint: 0,
            });
            return Ok(fast.cursor_ms);
        }
        let rec = ctx.shaper.shape(rows, as_record(row.value())?);
        let ms = timestamp_ms(&rec, cursor_field);
        out.items.push(Shaped::Record(rec));
        Ok(ms)
    }
}

pub(crate) trait Reader: Send {
    /// The next request, called only when none of this reader's is in flight.
    fn next(&mut self, ctx: &Ctx) -> Result<Next>;
    /// One parsed item of the current (successful) response body.
    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()>;
    /// One row of an NDJSON body: by default decoded and handed to `on_item`;
    /// export readers shape it from its text.
    fn on_row(&mut self, row: Row<'_>, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        self.on_item(row.value(), ctx, sink)
    }
    /// The current response completed successfully.
    fn on_complete(&mut self, ctx: &Ctx, sink: &mut Sink) -> Result<()>;
    /// The body was cut off. `true` = the reader re-planned (e.g. halved its
    /// export window) and the failure needs no retry budget.
    fn on_cut(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<bool> {
        Ok(false)
    }
    /// A 404: `true` = skip this request (e.g. a catalog deleted meanwhile).
    fn on_not_found(&mut self, _sink: &mut Sink) -> bool {
        false
    }
    /// Any other error status: `true` = the reader re-planned (e.g. an
    /// expired download URL is listed again); `false` = the runner decides.
    fn on_error_status(&mut self, _status: u16, _sink: &mut Sink) -> bool {
        false
    }
    /// Whether records of the current unit (e.g. an export window split after a
    /// cut) may still be re-read: keep de-duplicating across responses.
    fn unit_open(&self) -> bool {
        false
    }
    /// Coordinator sessions: the stream's state once every unit handed out
    /// so far has been read (`None` = this reader hands nothing out).
    fn planned_state(&self) -> Option<Value> {
        None
    }
}
