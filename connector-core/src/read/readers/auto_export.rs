//! Export streams in `export_mode: auto`: each stream picks, when it starts,
//! whichever of Iterable's two export budgets is free at that moment — an
//! async export job (`export/start`, ≤ 4 jobs at once, 1 start and 1 status
//! call a second) or the synchronous `export/data.json` (4 requests a
//! minute for every data type together) — and keeps it for the session.
//!
//! Why per stream and at the start: the two readers commit the same state
//! shape (`cursor`, `next_start`, plus `job` while a job's files are being
//! read), so either can continue a stream the other committed — except a
//! mid-job state, which only the job reader can resume without re-reading
//! the files already handed out. Choosing late (when a budget frees up,
//! not at open) is what lets the jobs and the sync windows run side by
//! side: a stream waits for the first of them instead of queueing behind
//! `data.json`'s minute.

use serde_json::Value;

use crate::error::Result;
use crate::parse::Row;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::async_export::{AsyncExportReader, MAX_JOBS};
use crate::read::readers::export::{ExportReader, ExportSpec};
use crate::state::StreamState;

/// How long (real-API ms) an undecided stream waits before looking again
/// for a free job slot or a free `data.json` request.
const RECHECK_MS: i64 = 1_000;

/// The export path a stream takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Jobs,
    Windows,
}

pub(crate) struct AutoExportReader {
    spec: ExportSpec,
    saved: StreamState,
    chosen: Option<(Route, Box<dyn Reader>)>,
}

impl AutoExportReader {
    pub(crate) fn new(spec: ExportSpec, saved: StreamState) -> Self {
        AutoExportReader {
            spec,
            saved,
            chosen: None,
        }
    }

    /// The path for a stream that starts now, or `None` = both budgets are
    /// taken: wait.
    fn choose(&self, ctx: &Ctx) -> Option<Route> {
        if ctx.incremental && self.saved.job.is_some() {
            // Files of this job were already handed out: only the job
            // reader resumes after them without repeating rows.
            return Some(Route::Jobs);
        }
        if ctx.jobs_running.get() < MAX_JOBS {
            // A job covers up to a year in one go; prefer it when a slot is free.
            return Some(Route::Jobs);
        }
        ctx.sync_export_free.then_some(Route::Windows)
    }

    fn reader(&mut self) -> Option<&mut Box<dyn Reader>> {
        self.chosen.as_mut().map(|(_, r)| r)
    }
}

impl Reader for AutoExportReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        if self.chosen.is_none() {
            let Some(path) = self.choose(ctx) else {
                return Ok(Next::Wait(RECHECK_MS));
            };
            let saved = std::mem::take(&mut self.saved);
            let reader: Box<dyn Reader> = match path {
                Route::Jobs => Box::new(AsyncExportReader::new(self.spec, saved, false)),
                Route::Windows => Box::new(ExportReader::new(self.spec, saved)),
            };
            self.chosen = Some((path, reader));
        }
        self.reader().expect("chosen above").next(ctx)
    }

    fn on_item(&mut self, item: Value, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.reader() {
            Some(r) => r.on_item(item, ctx, sink),
            None => Ok(()),
        }
    }

    fn on_row(&mut self, row: Row<'_>, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.reader() {
            Some(r) => r.on_row(row, ctx, sink),
            None => Ok(()),
        }
    }

    fn on_complete(&mut self, ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.reader() {
            Some(r) => r.on_complete(ctx, sink),
            None => Ok(()),
        }
    }

    fn on_cut(&mut self, ctx: &Ctx, sink: &mut Sink) -> Result<bool> {
        match self.reader() {
            Some(r) => r.on_cut(ctx, sink),
            None => Ok(false),
        }
    }

    fn on_not_found(&mut self, sink: &mut Sink) -> bool {
        self.reader().is_some_and(|r| r.on_not_found(sink))
    }

    fn on_error_status(&mut self, status: u16, sink: &mut Sink) -> bool {
        self.reader()
            .is_some_and(|r| r.on_error_status(status, sink))
    }

    fn unit_open(&self) -> bool {
        self.chosen.as_ref().is_some_and(|(_, r)| r.unit_open())
    }
}

#[cfg(test)]
mod tests {
    //! The session driven with canned answers on a simulated clock (no
    //! server): which path each stream takes, and that both run at once.
    use serde_json::json;

    use crate::config::Config;
    use crate::exchange::{Action, HttpRequest};
    use crate::read::{ReadSession, StreamSelection};
    use crate::state::SessionState;

    const STREAMS: &[&str] = &[
        "email_send",
        "email_open",
        "email_click",
        "email_bounce",
        "push_send",
        "sms_send",
        "purchase",
    ];

    fn config() -> Config {
        Config::from_json(&json!({"base_url": "http://sim", "export_mode": "auto",
            "start_date": "2026-10-01T00:00:00Z", "end_date": "2026-10-20T00:00:00Z",
            "max_concurrency": 16}))
        .unwrap()
    }

    /// One row for any export: `createdAt` inside the history.
    const ROW: &str = "{\"email\":\"a@x.io\",\"createdAt\":\"2026-10-05 10:00:00 +00:00\",\"campaignId\":1,\"templateId\":2,\"messageId\":\"m\"}\n";

    fn answer(req: &HttpRequest) -> String {
        let path = req.url.split('?').next().unwrap_or_default().to_string();
        if path.ends_with("/api/export/start") {
            return json!({"jobId": req.id}).to_string();
        }
        if let Some(rest) = path.strip_suffix("/files") {
            let job = rest.rsplit('/').next().unwrap_or_default();
            return json!({"jobId": job, "jobState": "completed", "exportTruncated": false,
                "files": [{"file": "file-1.json", "url": format!("http://files/{job}/file-1.json")}]})
            .to_string();
        }
        // data.json windows and file downloads: one row.
        ROW.to_string()
    }

    /// (time sent, url, stream) per request; records per stream; the last
    /// commit per stream.
    type Run = (
        Vec<(i64, String, String)>,
        std::collections::BTreeMap<String, usize>,
        SessionState,
    );

    /// Runs the session to the end, answering every request at once; the
    /// clock jumps to each `SleepUntil`. Returns (time sent, url, stream)
    /// per request, records per stream and the last commit per stream.
    fn run(streams: &[&str], state: &SessionState) -> Run {
        let sel: Vec<StreamSelection> = streams
            .iter()
            .map(|s| StreamSelection::incremental(s))
            .collect();
        let mut s = ReadSession::open(config(), &sel, state).unwrap();
        let mut now = 1_800_000_000_000_i64;
        let mut sent = Vec::new();
        let mut records = std::collections::BTreeMap::new();
        let mut commits = SessionState::new();
        let mut in_flight: Vec<HttpRequest> = Vec::new();
        for _ in 0..100_000 {
            match s.poll(now).unwrap() {
                Action::Fetch(req) => {
                    sent.push((now, req.url.clone(), req.stream.clone()));
                    in_flight.push(req);
                }
                Action::Emit(b) => *records.entry(b.stream).or_default() += b.len(),
                Action::Commit(c) => {
                    commits.insert(c.stream, c.state);
                }
                // Answer everything in flight before the clock moves on.
                Action::SleepUntil(_) | Action::AwaitResponse if !in_flight.is_empty() => {
                    for req in in_flight.drain(..) {
                        let body = answer(&req);
                        s.on_response_head(now, req.id, 200, &[]).unwrap();
                        s.on_response_body(now, req.id, body.as_bytes()).unwrap();
                        s.on_response_end(now, req.id).unwrap();
                    }
                }
                Action::SleepUntil(t) => now = now.max(t),
                Action::AwaitResponse => panic!("awaiting with nothing in flight"),
                Action::Log(_) => {}
                Action::Done(_) => return (sent, records, commits),
            }
        }
        panic!("the session did not finish");
    }

    #[test]
    fn four_streams_take_job_slots_and_the_rest_take_data_json_at_the_same_time() {
        let (sent, records, commits) = run(STREAMS, &SessionState::new());
        let t0 = sent[0].0;
        let by = |needle: &str| -> Vec<&(i64, String, String)> {
            sent.iter().filter(|(_, u, _)| u.contains(needle)).collect()
        };
        let starts = by("/api/export/start");
        let windows = by("/api/export/data.json");
        assert_eq!(starts.len(), 4, "one job per slot: {sent:#?}");
        // The other three streams did not wait for a job slot: their first
        // windows went out at once, beside the jobs (4 a minute allow it).
        let window_streams: std::collections::BTreeSet<&str> =
            windows.iter().map(|(_, _, s)| s.as_str()).collect();
        assert_eq!(window_streams.len(), 3, "{sent:#?}");
        assert!(windows.iter().all(|(t, _, _)| *t == t0), "{windows:#?}");
        // No stream went both ways, and every stream read its row once.
        for (_, _, s) in &starts {
            assert!(!window_streams.contains(s.as_str()), "{s} went both ways");
            // The job's window is complete: its last commit names no job
            // (a job expires; resuming it later would find a 404).
            assert_eq!(
                commits[s.as_str()],
                json!({"v": 1, "cursor": "2026-10-05T10:00:00Z", "next_start": "2026-10-20T00:00:00Z"}),
                "{s}"
            );
        }
        for s in STREAMS {
            assert_eq!(records.get(*s), Some(&1), "{s}: {records:?}");
            assert!(commits.contains_key(*s), "{s} committed nothing");
        }
        // Within data.json's budget: at most 4 in any minute.
        for (t, _, _) in &windows {
            let in_minute = windows
                .iter()
                .filter(|(u, _, _)| *u >= *t && *u < t + 60_000)
                .count();
            assert!(in_minute <= 4, "{windows:#?}");
        }
    }

    #[test]
    fn a_stream_stopped_mid_job_resumes_with_its_job_even_when_windows_are_free() {
        let mut state = SessionState::new();
        state.insert(
            "email_send".into(),
            json!({"v": 1, "next_start": "2026-10-01T00:00:00Z",
                "job": {"id": 77, "end": "2026-10-20T00:00:00Z", "after": "file-0.json"}}),
        );
        let (sent, records, _) = run(&["email_send"], &state);
        assert!(
            sent[0]
                .1
                .contains("/api/export/77/files?startAfter=file-0.json"),
            "{sent:#?}"
        );
        assert!(sent.iter().all(|(_, u, _)| !u.contains("data.json")));
        assert_eq!(records.get("email_send"), Some(&1));
    }
}
