//! Export streams (`users` and every event data type) over time windows of
//! `GET /api/export/data.json`.
//!
//! Windows are `[start, end)` in UTC; the last one ends at the session's end
//! bound (now − lookback). Adaptive sizing: a window grows while responses are
//! small and fast, and halves when a response is cut off (down to one hour).
//! Rows of a cut response were already handed out; the runner de-duplicates
//! them while the reader re-reads the same span in smaller windows, and no
//! state is committed until that span is complete.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::catalog::RowShape;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::exchange::endpoint::EXPORT_DATA;
use crate::exchange::{LogLevel, LogMessage, Record};
use crate::parse::Row;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::paged::as_record;
use crate::record::timestamp_ms;
use crate::state::StreamState;
use crate::time;

/// First window when no size is configured (what Singer uses throughout).
const INITIAL_WINDOW: Duration = Duration::days(30);
const MAX_WINDOW: Duration = Duration::days(180);
const MIN_WINDOW: Duration = Duration::hours(1);
/// A response under these is "small": the window may double.
const SMALL_ROWS: u64 = 200_000;
const FAST_MS: i64 = 60_000;

/// What both export readers (windows and jobs) take from the stream's row
/// and the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportSpec {
    pub(crate) stream: &'static str,
    pub(crate) data_type: &'static str,
    pub(crate) shape: RowShape,
    pub(crate) cursor_field: &'static str,
    /// Fixed window length; `None` = adaptive (windows) or the largest (jobs).
    pub(crate) window_days: Option<u32>,
}

/// Raises `max_ms` to the record's cursor value (cursors come from records).
pub(crate) fn track_cursor(max_ms: &mut Option<i64>, rec: &Record, cursor_field: &str) {
    raise_cursor(max_ms, timestamp_ms(rec, cursor_field));
}

/// Raises `max_ms` to a record's cursor value, if it has one.
pub(crate) fn raise_cursor(max_ms: &mut Option<i64>, value_ms: Option<i64>) {
    if let Some(t) = value_ms {
        *max_ms = Some(max_ms.map_or(t, |m| m.max(t)));
    }
}

pub(crate) struct ExportReader {
    stream: &'static str,
    data_type: &'static str,
    shape: RowShape,
    cursor_field: &'static str,
    /// Start of the next window (inclusive).
    start: Option<DateTime<Utc>>,
    size: Duration,
    fixed: bool,
    /// End of the window in flight.
    window_end: Option<DateTime<Utc>>,
    /// A cut response handed out rows up to here: de-duplicate and hold
    /// commits until `start` passes it.
    dedupe_until: Option<DateTime<Utc>>,
    saved: StreamState,
    max_cursor_ms: Option<i64>,
    rows: u64,
    /// Rows of the last complete response, if the window may grow: judged at
    /// the next planning step, when the response's duration is known.
    grow_candidate: Option<u64>,
    begun: bool,
}

impl ExportReader {
    pub(crate) fn new(spec: ExportSpec, saved: StreamState) -> Self {
        let ExportSpec {
            stream,
            data_type,
            shape,
            cursor_field,
            window_days,
        } = spec;
        let size = window_days
            .map(|d| Duration::days(d as i64))
            .unwrap_or(INITIAL_WINDOW);
        ExportReader {
            stream,
            data_type,
            shape,
            cursor_field,
            start: None,
            size,
            fixed: window_days.is_some(),
            window_end: None,
            dedupe_until: None,
            max_cursor_ms: saved.cursor.map(|c| time::to_epoch_ms(&c)),
            saved,
            rows: 0,
            grow_candidate: None,
            begun: false,
        }
    }

    fn commit_state(&self) -> Value {
        StreamState {
            cursor: self.max_cursor_ms.and_then(time::from_epoch_ms),
            next_start: self.start,
            job: None,
        }
        .to_json()
    }
}

impl Reader for ExportReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        if !self.begun {
            self.begun = true;
            let resume = if ctx.incremental {
                self.saved.next_start.or(self.saved.cursor)
            } else {
                None
            };
            self.start = Some(resume.unwrap_or(ctx.start));
            if !ctx.incremental {
                self.max_cursor_ms = None;
            }
        }
        if let Some(rows) = self.grow_candidate.take() {
            let elapsed = ctx.now - ctx.last_sent_at;
            let fast_ms = (FAST_MS as f64 / ctx.config.time_scale.max(1.0)) as i64;
            if rows < SMALL_ROWS && elapsed <= fast_ms {
                self.size = (self.size * 2).min(MAX_WINDOW);
            }
        }
        let start = self.start.expect("set above");
        if start >= ctx.end {
            return Ok(Next::Done);
        }
        let end = (start + self.size).min(ctx.end);
        self.window_end = Some(end);
        self.rows = 0;
        let mut q = vec![
            ("dataTypeName", self.data_type.to_string()),
            ("startDateTime", time::to_export_param(&start)),
            ("endDateTime", time::to_export_param(&end)),
        ];
        q.extend(ctx.config.pushed_query.iter().cloned());
        Ok(Next::Send(EXPORT_DATA.plan(ctx.config, &[], &q)))
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        let rec = ctx.shaper.shape(self.shape, as_record(item)?);
        track_cursor(&mut self.max_cursor_ms, &rec, self.cursor_field);
        self.rows += 1;
        sink.records.push(rec);
        Ok(())
    }

    fn on_row(&mut self, row: Row<'_>, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        let ms = sink.shape_row(ctx, self.shape, self.cursor_field, row)?;
        raise_cursor(&mut self.max_cursor_ms, ms);
        self.rows += 1;
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        let end = self.window_end.take().ok_or_else(|| {
            ConnectorError::new(ErrorKind::Internal, "export response without a window")
        })?;
        self.start = Some(end);
        if !self.fixed && self.dedupe_until.is_none() {
            self.grow_candidate = Some(self.rows);
        }
        if self.dedupe_until.is_some_and(|u| end >= u) {
            self.dedupe_until = None;
        }
        if self.dedupe_until.is_none() {
            sink.commit = Some(self.commit_state());
        }
        Ok(())
    }

    fn on_cut(&mut self, _ctx: &Ctx, sink: &mut Sink) -> Result<bool> {
        let end = match self.window_end {
            Some(e) => e,
            None => return Ok(false),
        };
        if self.fixed || self.size <= MIN_WINDOW {
            return Ok(false);
        }
        self.size = (self.size / 2).max(MIN_WINDOW);
        self.dedupe_until = Some(self.dedupe_until.map_or(end, |u| u.max(end)));
        self.window_end = None;
        sink.logs.push(LogMessage {
            level: LogLevel::Warn,
            message: format!(
                "export response cut off; retrying with a window of {} minutes",
                self.size.num_minutes()
            ),
            stream: Some(self.stream.to_string()),
        });
        Ok(true)
    }

    fn unit_open(&self) -> bool {
        self.dedupe_until.is_some()
    }
}
