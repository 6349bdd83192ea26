//! `export_mode: auto` against the simulator with Iterable's rate limits on:
//! every export stream plus the rest in one session, async export jobs and
//! `export/data.json` windows at the same time, each within its own budget.
//! Checked against the ground truth (no record lost or duplicated), the
//! simulator's request log (no 429) and the client's send times (no budget
//! exceeded), and after a stop mid-sync (resume).

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use connector_core::{
    Config, HttpRequest, ReadSession, SessionState, StreamSelection, all_streams,
};
use integration_tests::driver::{self, HttpTransport, RealClock, SyncOutput, Transport};
use integration_tests::http_client::Event;
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions, truth};
use serde_json::{Value, json};

const KEY: &str = "test-key-auto";
/// The simulator's rate-limit clock and the core's pacing run this many
/// times faster than real time (a minute lasts half a second).
const TIME_SCALE: f64 = 120.0;

fn sim_now() -> DateTime<Utc> {
    "2026-11-01T00:00:00Z".parse().unwrap()
}

fn world() -> WorldOptions {
    WorldOptions {
        seed: 11,
        scale: Scale::Tiny,
        now: sim_now(),
        late_index_secs: 0,
    }
}

fn start_sim() -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: world(),
        faults: FaultOptions {
            rate_limits: true,
            time_scale: TIME_SCALE,
            ..FaultOptions::default()
        },
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn history() -> (DateTime<Utc>, DateTime<Utc>) {
    (sim_now() - Duration::days(60), sim_now())
}

/// Every stream readable without a user filter: 53 exports and the rest.
fn streams() -> Vec<StreamSelection> {
    all_streams()
        .filter(|d| !d.is_by_key())
        .map(|d| StreamSelection::incremental(d.name))
        .collect()
}

fn is_export(stream: &str) -> bool {
    matches!(
        connector_core::find_stream(stream).map(|d| d.family),
        Ok(connector_core::Family::Export { .. })
    )
}

/// Records the real time each request left, then sends it over HTTP.
struct Timed {
    inner: HttpTransport,
    t0: Instant,
    /// (ms since start, url, stream) per request, in order.
    sent: Vec<(f64, String, String)>,
}

impl Transport for Timed {
    fn send(&mut self, req: &HttpRequest, on: &mut dyn FnMut(Event)) {
        let t = self.t0.elapsed().as_secs_f64() * 1e3;
        self.sent.push((t, req.url.clone(), req.stream.clone()));
        self.inner.send(req, on);
    }
}

fn run(
    sim: &RunningSim,
    streams: &[StreamSelection],
    state: &SessionState,
    stop_after: Option<usize>,
) -> (SyncOutput, Timed) {
    let (start, end) = history();
    let config = Config::from_json(&json!({"base_url": sim.base_url(),
        "start_date": start.to_rfc3339(), "end_date": end.to_rfc3339(),
        "time_scale": TIME_SCALE, "export_mode": "auto", "schema_policy": "fail"}))
    .unwrap();
    let mut session = ReadSession::open(config, streams, state).unwrap();
    let mut transport = Timed {
        inner: HttpTransport::new(KEY),
        t0: Instant::now(),
        sent: Vec::new(),
    };
    let out = driver::run(&mut session, &mut transport, &mut RealClock, stop_after)
        .unwrap_or_else(|e| panic!("auto sync failed: {e}"));
    (out, transport)
}

/// Mismatches with the ground truth, per stream.
fn score(
    streams: &[StreamSelection],
    records: &std::collections::BTreeMap<String, Vec<connector_core::Record>>,
) -> Vec<String> {
    let (start, end) = history();
    streams
        .iter()
        .filter_map(|sel| {
            let (s, e) = if is_export(&sel.name) {
                (Some(start), Some(end))
            } else {
                (None, None)
            };
            let recs: Vec<Value> = records
                .get(&sel.name)
                .map(|rs| rs.iter().cloned().map(Value::Object).collect())
                .unwrap_or_default();
            truth::score(&world(), &sel.name, s, e, &recs).err()
        })
        .collect()
}

/// Most requests whose path contains `needle` sent within any `window_ms`.
fn most_in_window(sent: &[(f64, String, String)], needle: &str, window_ms: f64) -> usize {
    let times: Vec<f64> = sent
        .iter()
        .filter(|(_, u, _)| u.contains(needle))
        .map(|(t, _, _)| *t)
        .collect();
    times
        .iter()
        .map(|t| {
            times
                .iter()
                .filter(|u| **u >= *t && **u < t + window_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn auto_runs_jobs_and_data_json_side_by_side_exactly_and_within_every_budget() {
    let sim = start_sim();
    let (out, timed) = run(&sim, &streams(), &SessionState::new(), None);
    let problems = score(&streams(), &out.records);
    assert!(problems.is_empty(), "{problems:#?}");

    let log = sim.request_log();
    assert_eq!(log.iter().filter(|e| e.status == 429).count(), 0, "429s");
    assert_eq!(log.len(), timed.sent.len());

    // Both paths were taken, and at the same time: windows went out while
    // jobs were still being started.
    let when = |needle: &str| -> Vec<f64> {
        timed
            .sent
            .iter()
            .filter(|(_, u, _)| u.contains(needle))
            .map(|(t, _, _)| *t)
            .collect()
    };
    let starts = when("/api/export/start");
    let windows = when("/api/export/data.json");
    assert!(starts.len() >= 4, "jobs started: {}", starts.len());
    assert!(windows.len() >= 4, "data.json windows: {}", windows.len());
    let last_start = starts.iter().cloned().fold(0.0, f64::max);
    assert!(
        windows.iter().filter(|t| **t < last_start).count() >= 4,
        "no data.json window ran beside the jobs"
    );
    // Each export stream took one path only, and every one took one.
    let took = |stream: &str, needle: &str| {
        timed
            .sent
            .iter()
            .any(|(_, u, s)| s == stream && u.contains(needle))
    };
    for sel in streams().iter().filter(|s| is_export(&s.name)) {
        let jobs = took(&sel.name, "/api/export/start");
        let windows = took(&sel.name, "/api/export/data.json");
        assert!(
            jobs != windows,
            "{}: jobs {jobs}, windows {windows}",
            sel.name
        );
    }

    // Within each budget as the client sent them: data.json 4 a minute,
    // export/start and files 1 a second (server minutes and seconds, scaled).
    let minute = 60_000.0 / TIME_SCALE;
    let second = 1_000.0 / TIME_SCALE;
    assert!(most_in_window(&timed.sent, "/api/export/data.json", minute) <= 4);
    assert!(most_in_window(&timed.sent, "/api/export/start", second) <= 1);
    assert!(most_in_window(&timed.sent, "/files", second) <= 1);
    for s in ["email_send", "users", "custom_event"] {
        assert_eq!(out.state[s]["v"], 1, "{s}");
        assert!(out.state[s].get("job").is_none(), "{s}: job left in state");
    }
}

/// Lets a server minute pass: each run is a new session that knows nothing
/// of the requests its predecessor made a moment ago (a real re-run comes
/// minutes later), so it must not find their budget still spent.
fn settle() {
    std::thread::sleep(std::time::Duration::from_secs_f64(61.0 / TIME_SCALE));
}

#[test]
fn auto_stopped_mid_sync_resumes_without_losing_or_repeating_a_record() {
    let sim = start_sim();
    // The export streams (the ones auto changes; their cursors make the
    // merge of two runs exact).
    let exports: Vec<StreamSelection> = streams()
        .into_iter()
        .filter(|s| is_export(&s.name))
        .collect();
    let (full, _) = run(&sim, &exports, &SessionState::new(), None);
    let total_commits = full.commits;
    // Stop at several points: early (jobs and windows in flight), midway
    // and late.
    for stop in [5, total_commits / 2, total_commits - 3] {
        settle();
        let (first, timed) = run(&sim, &exports, &SessionState::new(), Some(stop));
        assert!(first.stopped_early, "stop after {stop}");
        let state: SessionState = first.state.clone().into_iter().collect();
        settle();
        let (second, _) = run(&sim, &exports, &state, None);
        // What a destination that commits on state keeps of the first run,
        // then everything of the second.
        let mut merged = std::collections::BTreeMap::<String, Vec<_>>::new();
        for (stream, recs) in &first.records {
            let n = first.committed.get(stream).copied().unwrap_or(0);
            merged
                .entry(stream.clone())
                .or_default()
                .extend(recs[..n].iter().cloned());
        }
        for (stream, recs) in &second.records {
            merged
                .entry(stream.clone())
                .or_default()
                .extend(recs.iter().cloned());
        }
        let problems = score(&exports, &merged);
        assert!(problems.is_empty(), "stop after {stop}: {problems:#?}");
        if stop == 5 {
            // The early stop caught both paths under way.
            let first_paths = |needle: &str| timed.sent.iter().any(|(_, u, _)| u.contains(needle));
            assert!(first_paths("/api/export/start") && first_paths("/api/export/data.json"));
        }
        let limited = sim.request_log().iter().filter(|e| e.status == 429).count();
        assert_eq!(limited, 0, "429s by stop {stop}");
    }
}
