//! End to end: the core, driven natively over real HTTP, syncs every stream
//! from the simulator and matches its ground truth: no record missing, none
//! duplicated — also with rate limits, cut-off bodies, late events, random
//! 500 GenericErrors and malformed lines switched on.

use chrono::{DateTime, Duration, Utc};
use connector_core::SessionState;
use connector_core::all_streams;
use connector_core::{Config, ReadSession, StreamSelection};
use integration_tests::driver::{self, HttpTransport, RealClock, SyncOutput};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions, truth};
use serde_json::{Value, json};

const KEY: &str = "test-key-e2e";
/// The simulator's rate-limit clock runs this many times faster than real time.
const TIME_SCALE: f64 = 120.0;

fn sim_now() -> DateTime<Utc> {
    // A fixed "now" keeps the data deterministic; windows end there.
    "2026-11-01T00:00:00Z".parse().unwrap()
}

fn world() -> WorldOptions {
    WorldOptions {
        seed: 7,
        scale: Scale::Tiny,
        now: sim_now(),
        late_index_secs: 0,
    }
}

fn start_sim(faults: FaultOptions, late_index_secs: i64) -> RunningSim {
    let mut w = world();
    w.late_index_secs = late_index_secs;
    iterable_sim::spawn(SimOptions {
        world: w,
        faults,
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn history() -> (DateTime<Utc>, DateTime<Utc>) {
    (sim_now() - Duration::days(60), sim_now())
}

/// Streams readable without a user filter (by-key streams are tested apart).
fn streams() -> Vec<StreamSelection> {
    all_streams()
        .filter(|d| !d.is_by_key())
        .map(|d| StreamSelection::incremental(d.name))
        .collect()
}

fn sync(sim: &RunningSim, extra: Value) -> (SyncOutput, HttpTransport) {
    let (start, end) = history();
    let mut cfg = json!({"base_url": sim.base_url(), "start_date": start.to_rfc3339(),
        "end_date": end.to_rfc3339(), "time_scale": TIME_SCALE, "max_concurrency": 4});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let config = Config::from_json(&cfg).unwrap();
    let mut session = ReadSession::open(config, &streams(), &SessionState::new()).unwrap();
    let mut transport = HttpTransport::new(KEY);
    let out = driver::run(&mut session, &mut transport, &mut RealClock, None)
        .unwrap_or_else(|e| panic!("sync failed: {e}"));
    (out, transport)
}

fn is_export(stream: &str) -> bool {
    matches!(
        connector_core::find_stream(stream).map(|d| d.family),
        Ok(connector_core::Family::Export { .. })
    )
}

/// Compares every stream with ground truth; returns a report of mismatches.
fn score(out: &SyncOutput) -> Vec<String> {
    let names: Vec<String> = streams().into_iter().map(|s| s.name).collect();
    score_streams(out, &names)
}

fn score_streams(out: &SyncOutput, names: &[String]) -> Vec<String> {
    let (start, end) = history();
    names
        .iter()
        .filter_map(|stream| {
            // Export streams are windowed on their cursor; the others
            // (templates included: we read every template, not only those
            // created in the window) are whole.
            let (s, e) = if is_export(stream) {
                (Some(start), Some(end))
            } else {
                (None, None)
            };
            let records: Vec<Value> = out
                .records
                .get(stream)
                .map(|rs| rs.iter().cloned().map(Value::Object).collect())
                .unwrap_or_default();
            truth::score(&world(), stream, s, e, &records).err()
        })
        .collect()
}

/// Custom events sharing user, event name and second with another.
fn custom_event_twins(out: &SyncOutput) -> usize {
    let mut seen = std::collections::BTreeMap::new();
    for r in out.records.get("custom_event").into_iter().flatten() {
        let identity = format!("{}|{}|{}", r["email"], r["eventName"], r["createdAt"]);
        *seen.entry(identity).or_insert(0usize) += 1;
    }
    seen.values().filter(|n| **n > 1).count()
}

#[test]
fn every_stream_matches_ground_truth_under_normal_pacing() {
    let sim = start_sim(
        FaultOptions {
            rate_limits: true,
            time_scale: TIME_SCALE,
            ..FaultOptions::default()
        },
        0,
    );
    // Every record of every stream conforms to its schema, or this fails.
    let (out, transport) = sync(&sim, json!({"schema_policy": "fail"}));
    let problems = score(&out);
    assert!(problems.is_empty(), "{problems:#?}");
    // Every stream returned data at tiny scale, so the comparison means something.
    let empty: Vec<_> = streams()
        .iter()
        .filter(|s| out.count(&s.name) == 0)
        .map(|s| s.name.clone())
        .collect();
    assert!(empty.len() <= 3, "empty streams: {empty:?}");
    // Proactive pacing: not a single 429.
    let log = sim.request_log();
    let limited = log.iter().filter(|e| e.status == 429).count();
    assert_eq!(limited, 0, "429s under normal pacing");
    assert_eq!(log.len(), transport.sent.len());
    if std::env::var("E2E_SIZES").is_ok() {
        let mut by_path: std::collections::BTreeMap<String, u64> = Default::default();
        for e in &log {
            let m = by_path.entry(e.path.clone()).or_default();
            *m = (*m).max(e.bytes);
        }
        eprintln!("{by_path:#?}");
    }
    // Every event has its own synthetic key, custom-event twins (same
    // user, name and second) included.
    let twins = custom_event_twins(&out);
    assert!(twins > 0, "the world has custom-event twins");
    for (stream, records) in &out.records {
        let keys: std::collections::BTreeSet<&str> = records
            .iter()
            .filter_map(|r| r.get("_key").and_then(Value::as_str))
            .collect();
        if !keys.is_empty() {
            assert_eq!(keys.len(), records.len(), "{stream}: _key collides");
        }
    }
    // Incremental streams committed a state.
    for s in [
        "email_send",
        "users",
        "campaigns",
        "templates",
        "catalog_items",
    ] {
        assert_eq!(out.state[s]["v"], 1, "{s}");
    }
}

#[test]
fn exact_with_cut_bodies_late_events_generic_errors_and_malformed_lines() {
    let sim = start_sim(
        FaultOptions {
            rate_limits: true,
            time_scale: TIME_SCALE,
            cut_after_bytes: Some(22_000),
            error_rate: 0.05,
            malformed_rate: 0.01,
            ..FaultOptions::default()
        },
        60,
    );
    let (out, _) = sync(
        &sim,
        json!({"skip_malformed_lines": true, "max_retries": 12}),
    );
    let problems = score(&out);
    assert!(problems.is_empty(), "{problems:#?}");
    let summary = out.summary.unwrap();
    let retries: u64 = summary.streams.iter().map(|s| s.retries).sum();
    let skipped: u64 = summary.streams.iter().map(|s| s.skipped_lines).sum();
    assert!(retries > 0, "the error rate produced no retry");
    assert!(skipped > 0, "the malformed rate produced no skipped line");
    assert!(
        out.logs.iter().any(|l| l.message.contains("cut off")),
        "no export was cut"
    );
}

#[test]
fn by_key_streams_read_one_users_data() {
    let sim = start_sim(FaultOptions::default(), 0);
    let (lists, _) = sync(&sim, json!({}));
    let email = lists.records["list_users"][0]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let (start, end) = history();
    let config = Config::from_json(
        &json!({"base_url": sim.base_url(), "start_date": start.to_rfc3339(),
        "end_date": end.to_rfc3339(), "email": email}),
    )
    .unwrap();
    let sel: Vec<StreamSelection> = all_streams()
        .filter(|d| d.is_by_key())
        .map(|d| StreamSelection::incremental(d.name))
        .collect();
    let mut session = ReadSession::open(config, &sel, &SessionState::new()).unwrap();
    let out = driver::run(
        &mut session,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        None,
    )
    .unwrap();
    assert_eq!(out.count("user_profile"), 1);
    assert_eq!(out.records["user_profile"][0]["email"], email.as_str());
    assert!(out.count("user_events") > 0);
    for r in &out.records["user_events"] {
        assert_eq!(r["email"], email.as_str());
        assert!(r["_key"].is_string());
    }
}

const ASYNC_STREAMS: &[&str] = &[
    "users",
    "email_send",
    "email_open",
    "purchase",
    "custom_event",
];

fn async_sync(sim: &RunningSim, state: &SessionState, stop_after: Option<usize>) -> SyncOutput {
    let (start, end) = history();
    let config = Config::from_json(
        &json!({"base_url": sim.base_url(), "start_date": start.to_rfc3339(),
        "end_date": end.to_rfc3339(), "time_scale": TIME_SCALE, "export_mode": "async"}),
    )
    .unwrap();
    let sel: Vec<StreamSelection> = ASYNC_STREAMS
        .iter()
        .map(|s| StreamSelection::incremental(s))
        .collect();
    let mut session = ReadSession::open(config, &sel, state).unwrap();
    driver::run(
        &mut session,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        stop_after,
    )
    .unwrap_or_else(|e| panic!("async sync failed: {e}"))
}

#[test]
fn async_export_jobs_match_ground_truth_and_resume_mid_job() {
    let sim = start_sim(
        FaultOptions {
            rate_limits: true,
            time_scale: TIME_SCALE,
            ..FaultOptions::default()
        },
        0,
    );
    let names: Vec<String> = ASYNC_STREAMS.iter().map(|s| s.to_string()).collect();
    let full = async_sync(&sim, &SessionState::new(), None);
    let problems = score_streams(&full, &names);
    assert!(problems.is_empty(), "{problems:#?}");
    // Downloads went to pre-signed URLs without the key; jobs were started.
    let log = sim.request_log();
    assert!(
        log.iter()
            .any(|e| e.path == "/api/export/start" && e.method == "POST")
    );
    assert!(log.iter().any(|e| e.path.starts_with("/_files/")));
    assert!(log.iter().all(|e| e.path != "/api/export/data.json"));

    // Stop right after the 3rd commit (mid-job: tiny files hold 2 rows), resume.
    let first = async_sync(&sim, &SessionState::new(), Some(3));
    assert!(first.stopped_early);
    assert!(
        first.state.values().any(|s| s.get("job").is_some()),
        "no mid-job state: {:?}",
        first.state
    );
    let state: SessionState = first.state.clone().into_iter().collect();
    let second = async_sync(&sim, &state, None);
    let mut merged = SyncOutput::default();
    for (stream, recs) in &first.records {
        let n = first.committed.get(stream).copied().unwrap_or(0);
        merged
            .records
            .entry(stream.clone())
            .or_default()
            .extend(recs[..n].iter().cloned());
    }
    for (stream, recs) in &second.records {
        merged
            .records
            .entry(stream.clone())
            .or_default()
            .extend(recs.iter().cloned());
    }
    let problems = score_streams(&merged, &names);
    assert!(problems.is_empty(), "after resume: {problems:#?}");
}

/// Plans as data (`connector_core::plan`): a coordinator session starts and
/// lists the async export jobs and hands every file out as a work unit
/// without downloading it; each unit, read by its own worker session (as a
/// Spark executor does), adds up to exactly the ground truth.
#[test]
fn planned_export_files_read_by_workers_match_ground_truth() {
    use connector_core::WorkUnit;
    let sim = start_sim(
        FaultOptions {
            rate_limits: true,
            time_scale: TIME_SCALE,
            ..FaultOptions::default()
        },
        0,
    );
    let (start, end) = history();
    let config = Config::from_json(
        &json!({"base_url": sim.base_url(), "start_date": start.to_rfc3339(),
        "end_date": end.to_rfc3339(), "time_scale": TIME_SCALE}),
    )
    .unwrap();
    let sel = [
        StreamSelection::incremental("email_send"),
        StreamSelection::incremental("channels"),
    ];
    let mut planner = ReadSession::plan(config.clone(), &sel, &SessionState::new()).unwrap();
    let out = driver::run(
        &mut planner,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        None,
    )
    .unwrap();
    assert!(out.records.is_empty(), "a coordinator reads no rows");
    let log = sim.request_log();
    assert!(log.iter().all(|e| !e.path.starts_with("/_files/")));
    assert!(log.iter().all(|e| e.status != 429), "rate limits respected");
    let units = planner.take_units();
    let files = units
        .iter()
        .filter(|u| matches!(u, WorkUnit::ExportFile { .. }))
        .count();
    assert!(files > 1, "{units:?}");
    assert!(
        units
            .iter()
            .any(|u| matches!(u, WorkUnit::Stream { stream, .. } if stream == "channels"))
    );
    let planned = planner.planned_state();
    assert_eq!(
        planned["email_send"]["next_start"],
        json!(connector_core::to_rfc3339(&end))
    );
    let mut merged = SyncOutput::default();
    for unit in &units {
        let unit = WorkUnit::from_json(&unit.to_json()).unwrap();
        // A worker without the key can read a file.
        let mut worker = ReadSession::open_unit(config.clone(), &unit).unwrap();
        let key = if matches!(unit, WorkUnit::Stream { .. }) {
            KEY
        } else {
            ""
        };
        let got = driver::run(
            &mut worker,
            &mut HttpTransport::new(key),
            &mut RealClock,
            None,
        )
        .unwrap_or_else(|e| panic!("unit {unit:?}: {e}"));
        for (stream, recs) in got.records {
            merged.records.entry(stream).or_default().extend(recs);
        }
    }
    let names = vec!["email_send".to_string(), "channels".to_string()];
    let problems = score_streams(&merged, &names);
    assert!(problems.is_empty(), "{problems:#?}");
}
