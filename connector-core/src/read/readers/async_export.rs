//! Export streams through Iterable's async export jobs (`export_mode: async`):
//! `POST export/start` → wait for the job → list its files (`startAfter`
//! paging) → download each file WITHOUT the API key (pre-signed URLs).
//!
//! - At most 4 jobs run at once in a session (Iterable's documented limit).
//! - Files are only downloaded once the job completed, so a truncated export
//!   (`exportTruncated`) is re-planned with half the window before any row
//!   was handed out.
//! - A download URL that expired (403) is refreshed by listing again.
//! - State is committed after every file: a stopped sync resumes mid-job,
//!   listing the files after the last one handed out.
//! - Hand-off mode (the coordinator of [`crate::plan`]): files are not
//!   downloaded but handed out as [`WorkUnit::ExportFile`]s, for workers.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::catalog::RowShape;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::exchange::endpoint::{EXPORT_FILES, EXPORT_START};
use crate::exchange::{LogLevel, LogMessage, Planned};
use crate::parse::BodyFormat;
use crate::parse::Row;
use crate::plan::WorkUnit;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::export::{ExportSpec, raise_cursor, track_cursor};
use crate::read::readers::paged::as_record;
use crate::state::{JobState, StreamState};
use crate::time;

/// Iterable processes at most this many export jobs of a project at once.
pub(crate) const MAX_JOBS: u32 = 4;
const MAX_WINDOW: Duration = Duration::days(365);
const MIN_WINDOW: Duration = Duration::hours(1);
/// Files per listing page (Iterable's page size).
const FILES_PER_PAGE: usize = 10;
const FIRST_POLL_MS: i64 = 1_000;
const MAX_POLL_MS: i64 = 60_000;
/// Status polls of one job at most: with waits growing to a minute, about
/// ten hours; a job still not done is given up (the window is retried by
/// the next sync).
const MAX_JOB_POLLS: u32 = 600;
/// How long one job is polled at most, on the server's clock (real time
/// divided by `time_scale`): the same ten hours as a time, so a server
/// whose clock runs fast (a simulator) gives a job up as soon, in its own
/// time, even when pacing spaces the checks wider than the waits.
const MAX_JOB_WAIT_MS: i64 = 10 * 60 * 60 * 1000;
/// Jobs of one window that may vanish (their listing answers 404) before
/// the read gives up with that 404, instead of starting jobs forever.
const MAX_VANISHED_JOBS: u32 = 3;

/// A wait between status checks. Against a simulator whose clock runs
/// `time_scale` times faster (a test setting, 1 for Iterable) the waits
/// shrink alike, so a job that never completes reaches [`MAX_JOB_POLLS`]
/// in seconds instead of hours.
fn poll_wait(ctx: &Ctx, ms: i64) -> i64 {
    ((ms as f64) / ctx.config.time_scale.max(1.0)).ceil() as i64
}

enum Phase {
    /// No job: start one for the next window.
    Idle,
    Starting,
    /// Job started; waiting for it to complete.
    Polling,
    /// Job complete: listing files after `listed_after` / downloading them.
    Files,
}

pub(crate) struct AsyncExportReader {
    stream: &'static str,
    data_type: &'static str,
    rows: RowShape,
    cursor_field: &'static str,
    saved: StreamState,
    begun: bool,
    phase: Phase,
    start: Option<DateTime<Utc>>,
    size: Duration,
    job: Option<JobState>,
    /// Last file name listed (for `startAfter`).
    listed_after: Option<String>,
    /// More files may follow the last listing page.
    more_files: bool,
    queue: VecDeque<(String, String)>,
    downloading: Option<String>,
    poll_ms: i64,
    /// Status polls of the current job.
    polls: u32,
    /// When the current job's first status check was answered (epoch ms).
    polling_since: Option<i64>,
    waited: bool,
    holds_slot: bool,
    /// Jobs of the current window that vanished (404) so far.
    vanished: u32,
    max_cursor_ms: Option<i64>,
    /// Hand files out as work units instead of downloading them.
    hand_off: bool,
}

impl AsyncExportReader {
    pub(crate) fn new(spec: ExportSpec, saved: StreamState, hand_off: bool) -> Self {
        let ExportSpec {
            stream,
            data_type,
            shape: rows,
            cursor_field,
            window_days,
        } = spec;
        AsyncExportReader {
            stream,
            data_type,
            rows,
            cursor_field,
            max_cursor_ms: saved.cursor.map(|c| time::to_epoch_ms(&c)),
            saved,
            begun: false,
            phase: Phase::Idle,
            start: None,
            size: window_days
                .map(|d| Duration::days(d as i64))
                .unwrap_or(MAX_WINDOW),
            job: None,
            listed_after: None,
            more_files: true,
            queue: VecDeque::new(),
            downloading: None,
            poll_ms: FIRST_POLL_MS,
            polls: 0,
            polling_since: None,
            waited: false,
            holds_slot: false,
            hand_off,
            vanished: 0,
        }
    }

    fn state(&self) -> Value {
        StreamState {
            cursor: self.max_cursor_ms.and_then(time::from_epoch_ms),
            next_start: self.start,
            job: self.job.clone(),
        }
        .to_json()
    }

    /// The state once every file of the current job was handed out: the
    /// window is complete, so the state holds no job. Without it, the last
    /// commit of a sync would name a job that expires before the next sync
    /// (whose 404 would start the window again and repeat its rows).
    fn window_done_state(&self) -> Option<Value> {
        let job = self.job.as_ref()?;
        if !self.queue.is_empty() || self.more_files || self.hand_off {
            return None;
        }
        Some(
            StreamState {
                cursor: self.max_cursor_ms.and_then(time::from_epoch_ms),
                next_start: Some(job.end),
                job: None,
            }
            .to_json(),
        )
    }

    /// File `name` of the current job as a work unit for a worker.
    fn unit(&self, name: &str, url: &str, after: Option<String>) -> WorkUnit {
        let (job_id, end) = self
            .job
            .as_ref()
            .map(|j| (j.id, j.end))
            .unwrap_or((0, self.start.unwrap_or_default()));
        let start = self.start.unwrap_or(end);
        WorkUnit::ExportFile {
            stream: self.stream.to_string(),
            job_id,
            file: name.to_string(),
            url: url.to_string(),
            after,
            window_start: time::to_rfc3339(&start),
            window_end: time::to_rfc3339(&end),
        }
    }

    /// How long the current job has been polled, on the server's clock
    /// (the first call starts the count).
    fn server_ms_polling(&mut self, ctx: &Ctx) -> i64 {
        let since = *self.polling_since.get_or_insert(ctx.now);
        ((ctx.now - since).max(0) as f64 * ctx.config.time_scale.max(1.0)) as i64
    }

    fn files_request(&self, ctx: &Ctx, job: i64) -> Planned {
        let q: Vec<(&str, String)> = self
            .listed_after
            .iter()
            .map(|a| ("startAfter", a.clone()))
            .collect();
        EXPORT_FILES.plan(ctx.config, &[&job.to_string()], &q)
    }

    fn release_slot(&mut self, ctx: &Ctx) {
        if self.holds_slot {
            ctx.jobs_running
                .set(ctx.jobs_running.get().saturating_sub(1));
            self.holds_slot = false;
        }
    }

    fn begin(&mut self, ctx: &Ctx) {
        self.begun = true;
        if !ctx.incremental {
            self.saved = StreamState::default();
            self.max_cursor_ms = None;
        } else {
            self.max_cursor_ms = self.saved.cursor.map(|c| time::to_epoch_ms(&c));
        }
        self.start = Some(
            self.saved
                .next_start
                .or(self.saved.cursor)
                .unwrap_or(ctx.start),
        );
        if let Some(job) = self.saved.job.clone() {
            // Resume mid-job: list the files after the last one handed out.
            self.listed_after = job.after.clone();
            self.job = Some(job);
            ctx.jobs_running.set(ctx.jobs_running.get() + 1);
            self.holds_slot = true;
            self.phase = Phase::Files;
            self.more_files = true;
        }
    }
}

impl Reader for AsyncExportReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        if !self.begun {
            self.begin(ctx);
        }
        match self.phase {
            Phase::Idle => {
                // Idle holds no job: a slot still held is a vanished job's
                // (`on_not_found` has no context to give it back).
                self.release_slot(ctx);
                let start = self.start.expect("set by begin");
                if start >= ctx.end {
                    return Ok(Next::Done);
                }
                if ctx.jobs_running.get() >= MAX_JOBS {
                    return Ok(Next::Wait(poll_wait(ctx, FIRST_POLL_MS)));
                }
                ctx.jobs_running.set(ctx.jobs_running.get() + 1);
                self.holds_slot = true;
                let end = (start + self.size).min(ctx.end);
                self.job = Some(JobState {
                    id: 0,
                    end,
                    after: None,
                });
                self.phase = Phase::Starting;
                let body = json!({
                    "dataTypeName": self.data_type,
                    "outputFormat": "application/x-json-stream",
                    "startDateTime": time::to_export_param(&start),
                    "endDateTime": time::to_export_param(&end),
                });
                Ok(Next::Send(
                    EXPORT_START
                        .plan(ctx.config, &[], &[])
                        .with_json_body(&body),
                ))
            }
            Phase::Starting => Err(ConnectorError::new(
                ErrorKind::Internal,
                "export/start answered without a jobId",
            )),
            Phase::Polling => {
                if !self.waited {
                    self.waited = true;
                    return Ok(Next::Wait(poll_wait(ctx, self.poll_ms)));
                }
                let id = self.job.as_ref().map(|j| j.id).unwrap_or_default();
                Ok(Next::Send(self.files_request(ctx, id)))
            }
            Phase::Files => {
                if let Some((name, url)) = self.queue.front().cloned() {
                    self.downloading = Some(name);
                    // Pre-signed URLs are fetched without the key.
                    return Ok(Next::Send(Planned::download(url, BodyFormat::Ndjson)));
                }
                let id = self.job.as_ref().map(|j| j.id).unwrap_or_default();
                if self.more_files {
                    return Ok(Next::Send(self.files_request(ctx, id)));
                }
                // Every file handed out: the window is complete.
                self.vanished = 0;
                let end = self.job.take().map(|j| j.end);
                self.start = end.or(self.start);
                self.release_slot(ctx);
                self.phase = Phase::Idle;
                self.listed_after = None;
                self.more_files = true;
                self.next(ctx)
            }
        }
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            Phase::Starting => {
                let id = item.get("jobId").and_then(Value::as_i64).ok_or_else(|| {
                    ConnectorError::malformed("export/start answered without a jobId")
                })?;
                if let Some(j) = self.job.as_mut() {
                    j.id = id;
                }
            }
            Phase::Polling | Phase::Files if self.downloading.is_none() => {
                let state = item
                    .get("jobState")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                match state.as_str() {
                    "failed" | "cancelled" | "cancelling" => {
                        return Err(ConnectorError::new(
                            ErrorKind::Upstream,
                            format!("export job {state}; the next sync starts this window again"),
                        ));
                    }
                    "completed" => {}
                    // enqueued / running: keep polling, within a bound
                    _ if self.polls >= MAX_JOB_POLLS
                        || self.server_ms_polling(ctx) >= MAX_JOB_WAIT_MS =>
                    {
                        let (polls, minutes) = (self.polls, self.server_ms_polling(ctx) / 60_000);
                        return Err(ConnectorError::new(
                            ErrorKind::Upstream,
                            format!(
                                "export job still {state} after {polls} status checks over {minutes} minutes (server time); the next sync starts this window again"
                            ),
                        ));
                    }
                    _ => {
                        // Still running, also when a listing of a resumed
                        // (or half-listed) job says so: a status check like
                        // any other, waited for and counted, never a listing
                        // again at once.
                        if matches!(self.phase, Phase::Files) {
                            self.phase = Phase::Polling;
                            self.waited = false;
                        }
                        return Ok(());
                    }
                }
                if matches!(self.phase, Phase::Polling)
                    && item.get("exportTruncated").and_then(Value::as_bool) == Some(true)
                {
                    if self.size <= MIN_WINDOW {
                        // Halving cannot help any more: starting the same
                        // job again would loop for as long as the server
                        // says so.
                        return Err(ConnectorError::new(
                            ErrorKind::Upstream,
                            format!(
                                "export job truncated even for a window of {} minutes; the next sync starts this window again (export_mode \"sync\" reads it in smaller pieces)",
                                MIN_WINDOW.num_minutes()
                            ),
                        ));
                    }
                    self.size = (self.size / 2).max(MIN_WINDOW);
                    sink.logs.push(LogMessage {
                        level: LogLevel::Warn,
                        message: format!(
                            "export job truncated; starting again with a window of {} hours",
                            self.size.num_hours()
                        ),
                        stream: Some(self.stream.to_string()),
                    });
                    self.job = None;
                    return Ok(());
                }
                self.phase = Phase::Files;
                let files = item
                    .get("files")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                self.more_files = files.len() >= FILES_PER_PAGE;
                let mut new_files = 0;
                for f in files {
                    let name = f.get("file").and_then(Value::as_str);
                    let url = f.get("url").and_then(Value::as_str);
                    if let (Some(n), Some(u)) = (name, url) {
                        // A listing that ignores `startAfter` repeats files
                        // already read: never read one twice.
                        if self.listed_after.as_deref().is_some_and(|after| n <= after) {
                            continue;
                        }
                        new_files += 1;
                        let before = self.listed_after.replace(n.to_string());
                        if self.hand_off {
                            sink.units.push(self.unit(n, u, before));
                            if let Some(j) = self.job.as_mut() {
                                j.after = Some(n.to_string());
                            }
                        } else {
                            self.queue.push_back((n.to_string(), u.to_string()));
                        }
                    }
                }
                if self.more_files && new_files == 0 {
                    return Err(ConnectorError::malformed(format!(
                        "the export job's file listing repeats files already listed (after {}): the server ignores startAfter",
                        self.listed_after.as_deref().unwrap_or("the start")
                    )));
                }
            }
            _ => {
                let rec = ctx.shaper.shape(self.rows, as_record(item)?);
                track_cursor(&mut self.max_cursor_ms, &rec, self.cursor_field);
                sink.records.push(rec);
            }
        }
        Ok(())
    }

    fn on_row(&mut self, row: Row<'_>, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        // NDJSON bodies are export files; the job's other answers are JSON.
        let job_answer = match self.phase {
            Phase::Starting => true,
            Phase::Polling | Phase::Files => self.downloading.is_none(),
            _ => false,
        };
        if job_answer {
            return self.on_item(row.value(), ctx, sink);
        }
        let ms = sink.shape_row(ctx, self.rows, self.cursor_field, row)?;
        raise_cursor(&mut self.max_cursor_ms, ms);
        Ok(())
    }

    fn on_complete(&mut self, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            Phase::Starting => {
                self.phase = Phase::Polling;
                self.waited = false;
                self.poll_ms = FIRST_POLL_MS;
                self.polls = 0;
                self.polling_since = None;
            }
            Phase::Polling => {
                if self.job.is_none() {
                    // Truncated: give the slot back and plan a smaller window.
                    self.release_slot(ctx);
                    self.phase = Phase::Idle;
                } else {
                    self.waited = false;
                    self.polls += 1;
                    self.poll_ms = (self.poll_ms * 2).min(MAX_POLL_MS);
                }
            }
            Phase::Files => {
                if let Some(name) = self.downloading.take() {
                    self.queue.pop_front();
                    if let Some(j) = self.job.as_mut() {
                        j.after = Some(name);
                    }
                    sink.commit = Some(self.window_done_state().unwrap_or_else(|| self.state()));
                } else if !self.hand_off {
                    // A listing that completes the window (an empty job).
                    sink.commit = self.window_done_state();
                }
            }
            Phase::Idle => {}
        }
        Ok(())
    }

    fn on_error_status(&mut self, status: u16, sink: &mut Sink) -> bool {
        // An expired pre-signed URL: list the files again for fresh URLs.
        if status == 403 && self.downloading.take().is_some() {
            self.queue.clear();
            self.listed_after = self.job.as_ref().and_then(|j| j.after.clone());
            self.more_files = true;
            sink.logs.push(LogMessage {
                level: LogLevel::Info,
                message: "download URL expired; listing the job's files again".into(),
                stream: Some(self.stream.to_string()),
            });
            return true;
        }
        false
    }

    fn planned_state(&self) -> Option<Value> {
        self.hand_off.then(|| self.state())
    }

    fn on_not_found(&mut self, sink: &mut Sink) -> bool {
        // The job of a saved state is gone (jobs expire): start the window again.
        if matches!(self.phase, Phase::Files | Phase::Polling)
            && self.downloading.is_none()
            && self.vanished < MAX_VANISHED_JOBS
        {
            self.vanished += 1;
            self.job = None;
            self.queue.clear();
            self.listed_after = None;
            self.more_files = true;
            self.phase = Phase::Idle;
            sink.logs.push(LogMessage {
                level: LogLevel::Warn,
                message: "export job no longer exists; starting its window again (rows of files already handed out may repeat)".into(),
                stream: Some(self.stream.to_string()),
            });
            return true;
        }
        false
    }
}
