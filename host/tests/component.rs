//! The built component, loaded by wasmtime and driven by this host against
//! the in-process simulator: ground truth, parity with the native core, no
//! hidden WASI use, the self-driving runner, the Airbyte CLI under faults,
//! and a golden copy of the component's WIT.
//!
//! Needs the wasm built first (see `BUILD_HINT`); `CONNECTOR_WASM` may point
//! at it. The component is compiled once per test binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Duration, Utc};
use iterable_connector_host::driver::{self, Output, ReadJob};
use iterable_connector_host::protocol::lines;
use iterable_connector_host::runtime::{
    self, Checkpoint, LogMessage, RecordBatch, RunnerSink, StreamSelection,
};
use iterable_connector_host::{Connector, Error};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions, truth};
use serde_json::{Value, json};

const KEY: &str = "test-key-host";
const TIME_SCALE: f64 = 120.0;

fn connector() -> &'static Connector {
    static C: OnceLock<Connector> = OnceLock::new();
    C.get_or_init(|| {
        let path = runtime::locate_component(None).unwrap_or_else(|e| panic!("{e}"));
        Connector::load(&path).unwrap_or_else(|e| panic!("{e}")).0
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sim_now() -> DateTime<Utc> {
    "2026-11-01T00:00:00Z".parse().unwrap()
}

fn world(late_index_secs: i64) -> WorldOptions {
    WorldOptions {
        seed: 7,
        scale: Scale::Tiny,
        now: sim_now(),
        late_index_secs,
    }
}

fn start_sim(faults: FaultOptions, late_index_secs: i64) -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: world(late_index_secs),
        faults,
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn history() -> (DateTime<Utc>, DateTime<Utc>) {
    (sim_now() - Duration::days(60), sim_now())
}

fn config(sim: &RunningSim, extra: Value) -> Value {
    let (start, end) = history();
    let mut cfg = json!({"base_url": sim.base_url(), "start_date": start.to_rfc3339(),
        "end_date": end.to_rfc3339(), "time_scale": TIME_SCALE, "max_concurrency": 4});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    cfg
}

/// Every stream that needs no user filter, from the component's catalog.
fn plain_streams() -> Vec<String> {
    rt().block_on(async {
        let mut inst = connector().instantiate().await.unwrap();
        let cfg = json!({"base_url": "http://127.0.0.1:1"}).to_string();
        inst.discover(&cfg, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| !d.requires_user_filter)
            .map(|d| d.name)
            .collect()
    })
}

fn selections(names: &[String]) -> Vec<StreamSelection> {
    names
        .iter()
        .map(|n| StreamSelection {
            name: n.clone(),
            incremental: true,
        })
        .collect()
}

#[derive(Default)]
struct Collect {
    records: BTreeMap<String, Vec<Value>>,
    states: BTreeMap<String, Value>,
    commits: usize,
    logs: Vec<String>,
}

impl Collect {
    fn add_batch(&mut self, b: &RecordBatch) {
        let v = self.records.entry(b.stream.clone()).or_default();
        let before = v.len();
        for l in lines(&b.payload) {
            v.push(serde_json::from_slice(l).expect("NDJSON line"));
        }
        assert_eq!(v.len() - before, b.rows as usize, "rows vs payload lines");
    }
}

impl Output for Collect {
    fn emit(&mut self, b: RecordBatch) -> Result<(), Error> {
        self.add_batch(&b);
        Ok(())
    }
    fn commit(&mut self, cp: Checkpoint) -> Result<(), Error> {
        self.commits += 1;
        self.states
            .insert(cp.stream, serde_json::from_str(&cp.state_json).unwrap());
        Ok(())
    }
    fn log(&mut self, m: LogMessage) -> Result<(), Error> {
        self.logs.push(m.message);
        Ok(())
    }
}

fn sync_with(
    inst_linker: Option<&wasmtime::component::Linker<runtime::HostState>>,
    cfg: &Value,
    streams: &[String],
) -> Collect {
    rt().block_on(async {
        let mut inst = match inst_linker {
            Some(l) => connector().instantiate_with(l).await.unwrap(),
            None => connector().instantiate().await.unwrap(),
        };
        let mut out = Collect::default();
        let cfg = cfg.to_string();
        let sel = selections(streams);
        let job = ReadJob {
            config: &cfg,
            streams: &sel,
            state: None,
            api_key: Some(Arc::from(KEY)),
        };
        driver::read(&mut inst, &job, &mut out)
            .await
            .unwrap_or_else(|e| panic!("sync failed: {e}"));
        out
    })
}

/// Mismatches between what was read and ground truth, one line per stream.
/// Export streams are windowed on their cursor; the others (templates
/// included: the core reads every template) are whole.
fn score(records: &BTreeMap<String, Vec<Value>>, streams: &[String]) -> Vec<String> {
    let (start, end) = history();
    streams
        .iter()
        .filter_map(|stream| {
            let export = matches!(
                connector_core::find_stream(stream).map(|d| d.family),
                Ok(connector_core::Family::Export { .. })
            );
            let (s, e) = if export {
                (Some(start), Some(end))
            } else {
                (None, None)
            };
            let got = records.get(stream).cloned().unwrap_or_default();
            truth::score(&world(0), stream, s, e, &got).err()
        })
        .collect()
}

#[test]
fn every_stream_matches_ground_truth_through_the_component() {
    let sim = start_sim(
        FaultOptions {
            rate_limits: true,
            time_scale: TIME_SCALE,
            ..FaultOptions::default()
        },
        0,
    );
    let streams = plain_streams();
    assert!(streams.len() > 60, "{} streams", streams.len());
    let out = sync_with(None, &config(&sim, json!({})), &streams);
    let problems = score(&out.records, &streams);
    assert!(problems.is_empty(), "{problems:#?}");
    let empty = streams
        .iter()
        .filter(|s| out.records.get(*s).is_none_or(Vec::is_empty))
        .count();
    assert!(empty <= 3, "{empty} empty streams");
    assert_eq!(
        sim.request_log().iter().filter(|e| e.status == 429).count(),
        0,
        "429s under normal pacing"
    );
    for s in ["email_send", "users", "campaigns"] {
        assert_eq!(out.states[s]["v"], 1, "{s}");
    }

    // By-key streams, for a user the simulator knows.
    let email = out.records["list_users"][0]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let by_key = ["user_profile", "user_events", "events"].map(String::from);
    let out = sync_with(None, &config(&sim, json!({"email": email})), &by_key);
    assert_eq!(out.records["user_profile"].len(), 1);
    assert_eq!(out.records["user_profile"][0]["email"], email.as_str());
    assert!(!out.records["user_events"].is_empty());
    for r in &out.records["user_events"] {
        assert_eq!(r["email"], email.as_str());
    }
}

#[test]
fn component_and_native_core_produce_identical_records_and_states() {
    use connector_core::SessionState;
    use integration_tests::driver::{HttpTransport, RealClock, run};

    let sim = start_sim(FaultOptions::default(), 0);
    let streams = plain_streams();
    let cfg = config(&sim, json!({}));
    let wasm = sync_with(None, &cfg, &streams);

    let config = connector_core::Config::from_json(&cfg).unwrap();
    let sel: Vec<_> = streams
        .iter()
        .map(|s| connector_core::StreamSelection::incremental(s))
        .collect();
    let mut session =
        connector_core::ReadSession::open(config, &sel, &SessionState::new()).unwrap();
    let native = run(
        &mut session,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        None,
    )
    .unwrap();

    for s in &streams {
        let a = wasm.records.get(s).cloned().unwrap_or_default();
        let b: Vec<Value> = native
            .records
            .get(s)
            .map(|v| v.iter().cloned().map(Value::Object).collect())
            .unwrap_or_default();
        assert_eq!(a, b, "records of {s} differ between wasm and native");
        assert_eq!(wasm.states.get(s), native.state.get(s), "state of {s}");
    }
    assert_eq!(wasm.commits, native.commits);
}

#[test]
fn sans_io_path_runs_with_every_import_trapping() {
    // No WASI, no wasi:http, no sink/clock: every import of the component
    // traps. A full sync still completes, so the sans-IO `source` interface
    // uses no hidden I/O, clock or randomness.
    let mut linker = wasmtime::component::Linker::new(connector().engine());
    linker
        .define_unknown_imports_as_traps(connector().component())
        .unwrap();
    let sim = start_sim(FaultOptions::default(), 0);
    let streams = plain_streams();
    let out = sync_with(Some(&linker), &config(&sim, json!({})), &streams);
    let problems = score(&out.records, &streams);
    assert!(problems.is_empty(), "{problems:#?}");
    // Errors cross the boundary as values, not traps, with traps linked too.
    rt().block_on(async {
        let mut inst = connector().instantiate_with(&linker).await.unwrap();
        for bad in ["{", "[]", r#"{"region": "MARS"}"#, r#"{"start_date": 5}"#] {
            match inst.validate_config(bad).await {
                Err(Error::Connector(e)) => {
                    assert_eq!(e.kind, runtime::ErrorKind::InvalidConfig, "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let sel = selections(&["no_such_stream".into()]);
        assert!(matches!(
            inst.open("{}", &sel, None).await,
            Err(Error::Connector(_))
        ));
        assert!(matches!(
            inst.open("{}", &selections(&["lists".into()]), Some("not json"))
                .await,
            Err(Error::Connector(_))
        ));
    });
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Collect>>);

impl RunnerSink for Shared {
    fn emit(&mut self, b: RecordBatch) {
        self.0.lock().unwrap().add_batch(&b);
    }
    fn commit(&mut self, cp: Checkpoint) {
        let mut c = self.0.lock().unwrap();
        c.commits += 1;
        c.states
            .insert(cp.stream, serde_json::from_str(&cp.state_json).unwrap());
    }
    fn log(&mut self, m: LogMessage) {
        self.0.lock().unwrap().logs.push(m.message);
    }
}

#[test]
fn runner_syncs_inside_the_component_over_wasi_http() {
    let sim = start_sim(FaultOptions::default(), 0);
    let streams: Vec<String> = [
        "lists",
        "list_users",
        "campaigns",
        "templates",
        "email_send",
        "users",
    ]
    .map(String::from)
    .to_vec();
    let cfg = config(&sim, json!({})).to_string();
    let sink = Shared::default();
    let summary = rt().block_on(async {
        let mut inst = connector().instantiate().await.unwrap();
        inst.run_self_driving(
            &cfg,
            &selections(&streams),
            None,
            Some(KEY),
            Box::new(sink.clone()),
        )
        .await
        .unwrap_or_else(|e| panic!("runner: {e}"))
    });
    let out = sink.0.lock().unwrap();
    let problems = score(&out.records, &streams);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(summary.streams.len(), streams.len());
    assert!(out.commits > 0);
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_iterable-connector"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iterable-host-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &std::path::Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

#[test]
fn airbyte_read_under_rate_limits_cut_bodies_and_late_events_is_exact() {
    let sim = start_sim(
        FaultOptions {
            rate_limits: true,
            time_scale: TIME_SCALE,
            cut_after_bytes: Some(6_000),
            ..FaultOptions::default()
        },
        60,
    );
    // Export streams: resumable after a cut. (Single-JSON bodies over the cut
    // size never get through whole, by the simulator's design.)
    let streams: Vec<String> = connector_core::all_streams()
        .filter(|d| matches!(d.family, connector_core::Family::Export { .. }))
        .map(|d| d.name.to_string())
        .collect();
    assert!(streams.len() > 40);
    let dir = temp_dir("read");
    let mut cfg = config(&sim, json!({"max_retries": 12}));
    cfg["api_key"] = json!(KEY);
    let config = write(&dir, "config.json", &cfg);
    let catalog = json!({"streams": streams.iter().map(|s| json!({
        "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "incremental", "destination_sync_mode": "append"})).collect::<Vec<_>>()});
    let catalog = write(&dir, "catalog.json", &catalog);
    let out = Command::new(bin())
        .args(["read", "--config"])
        .arg(&config)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "read failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains(KEY), "the API key leaked into the output");
    let mut records: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut states = BTreeMap::new();
    let mut cut = false;
    for line in stdout.lines() {
        let m: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        match m["type"].as_str().unwrap() {
            "RECORD" => records
                .entry(m["record"]["stream"].as_str().unwrap().to_string())
                .or_default()
                .push(m["record"]["data"].clone()),
            "STATE" => {
                let s = &m["state"]["stream"];
                assert_eq!(m["state"]["type"], "STREAM");
                states.insert(
                    s["stream_descriptor"]["name"].as_str().unwrap().to_string(),
                    s["stream_state"].clone(),
                );
            }
            "LOG" => cut |= m["log"]["message"].as_str().unwrap().contains("cut off"),
            other => panic!("unexpected message {other}: {line}"),
        }
    }
    let problems = score(&records, &streams);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(cut, "no export body was cut off");
    assert_eq!(states["email_send"]["v"], 1);

    // Resuming from the emitted states re-reads nothing new for a windowed stream.
    let state_list: Vec<Value> = states
        .iter()
        .map(|(k, v)| json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": k}, "stream_state": v}}))
        .collect();
    let state = write(&dir, "state.json", &Value::Array(state_list));
    let catalog = write(
        &dir,
        "catalog1.json",
        &json!({"streams": [{"stream": {"name": "email_send"}, "sync_mode": "incremental"}]}),
    );
    let out = Command::new(bin())
        .args(["read", "--config"])
        .arg(&config)
        .arg("--catalog")
        .arg(&catalog)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"RECORD\""))
        .count();
    assert_eq!(again, 0, "records re-read after resuming at the end");
}

#[test]
fn bad_inputs_fail_with_a_message_and_no_panic() {
    let dir = temp_dir("bad");
    let good_cfg = write(
        &dir,
        "cfg.json",
        &json!({"base_url": "http://127.0.0.1:9", "max_retries": 0}),
    );
    let bad_json = dir.join("bad.json");
    std::fs::write(&bad_json, "{not json").unwrap();
    let bad_region = write(&dir, "region.json", &json!({"region": "MARS"}));
    let bad_catalog = write(
        &dir,
        "catalog.json",
        &json!({"streams": [{"sync_mode": "incremental"}]}),
    );
    let unknown = write(
        &dir,
        "unknown.json",
        &json!({"streams": [{"stream": {"name": "nope"}}]}),
    );
    let good_catalog = write(
        &dir,
        "good.json",
        &json!({"streams": [{"stream": {"name": "lists"}}]}),
    );
    let bad_state = write(&dir, "state.json", &json!({"lists": {"v": 99}}));
    let missing = dir.join("missing.json");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (
            vec!["check".as_ref(), "--config".as_ref(), bad_json.as_os_str()],
            "config_error",
        ),
        (
            vec![
                "discover".as_ref(),
                "--config".as_ref(),
                bad_region.as_os_str(),
            ],
            "config_error",
        ),
        (
            vec![
                "discover".as_ref(),
                "--config".as_ref(),
                missing.as_os_str(),
            ],
            "config_error",
        ),
        (
            vec![
                "read".as_ref(),
                "--config".as_ref(),
                good_cfg.as_os_str(),
                "--catalog".as_ref(),
                bad_catalog.as_os_str(),
            ],
            "config_error",
        ),
        (
            vec![
                "read".as_ref(),
                "--config".as_ref(),
                good_cfg.as_os_str(),
                "--catalog".as_ref(),
                unknown.as_os_str(),
            ],
            "config_error",
        ),
        (
            vec![
                "read".as_ref(),
                "--config".as_ref(),
                good_cfg.as_os_str(),
                "--catalog".as_ref(),
                good_catalog.as_os_str(),
                "--state".as_ref(),
                bad_state.as_os_str(),
            ],
            "config_error",
        ),
        (
            vec![
                "read".as_ref(),
                "--config".as_ref(),
                good_cfg.as_os_str(),
                "--catalog".as_ref(),
                good_catalog.as_os_str(),
            ],
            "system_error",
        ),
    ];
    for (args, failure) in cases {
        let out = Command::new(bin()).args(&args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {stdout}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        let trace: Value = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|m| m["type"] == "TRACE")
            .unwrap_or_else(|| panic!("{args:?}: no TRACE in {stdout}"));
        assert_eq!(
            trace["trace"]["error"]["failure_type"], failure,
            "{args:?}: {trace}"
        );
    }
    // A check against an unreachable server reports FAILED, exit 0 (Airbyte).
    let out = Command::new(bin())
        .args(["check", "--config"])
        .arg(&good_cfg)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"FAILED\""));
    // A missing component says how to build it.
    let out = Command::new(bin())
        .args(["--component", "/nonexistent.wasm", "spec"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("build the wasm first"));
}

#[test]
fn singer_discover_and_sync_write_schema_record_state() {
    let sim = start_sim(FaultOptions::default(), 0);
    let dir = temp_dir("singer");
    let mut cfg = config(&sim, json!({}));
    cfg["api_key"] = json!(KEY);
    let config = write(&dir, "config.json", &cfg);
    let out = Command::new(bin())
        .args(["singer", "--discover", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut catalog: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = catalog["streams"].as_array_mut().unwrap();
    assert!(streams.len() > 60);
    for s in streams.iter_mut() {
        let on = matches!(s["tap_stream_id"].as_str(), Some("lists" | "email_send"));
        s["metadata"][0]["metadata"]["selected"] = json!(on);
    }
    let catalog = write(&dir, "catalog.json", &catalog);
    let out = Command::new(bin())
        .args(["singer", "--config"])
        .arg(&config)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let schemas: BTreeSet<_> = msgs
        .iter()
        .filter(|m| m["type"] == "SCHEMA")
        .map(|m| m["stream"].as_str().unwrap())
        .collect();
    assert_eq!(schemas, BTreeSet::from(["email_send", "lists"]));
    let mut records = BTreeMap::new();
    for m in msgs.iter().filter(|m| m["type"] == "RECORD") {
        records
            .entry(m["stream"].as_str().unwrap().to_string())
            .or_insert_with(Vec::new)
            .push(m["record"].clone());
    }
    let problems = score(&records, &["lists".into(), "email_send".into()]);
    assert!(problems.is_empty(), "{problems:#?}");
    let last = msgs.iter().rev().find(|m| m["type"] == "STATE").unwrap();
    assert_eq!(last["value"]["bookmarks"]["email_send"]["v"], 1);
}

/// Plans as data through the component: a coordinator session hands every
/// async export file out as a unit (no download, no 429 under enforced rate
/// limits); each unit read by its own worker session, without the key for
/// files, adds up to exactly the ground truth.
#[test]
fn planned_units_read_by_worker_sessions_match_ground_truth() {
    let sim = start_sim(
        FaultOptions {
            rate_limits: true,
            time_scale: TIME_SCALE,
            ..FaultOptions::default()
        },
        0,
    );
    let streams = vec!["email_send".to_string(), "channels".to_string()];
    let cfg = config(&sim, json!({})).to_string();
    let key: Arc<str> = Arc::from(KEY);
    let (records, units, planned) = rt().block_on(async {
        let mut inst = connector().instantiate().await.unwrap();
        let sel = selections(&streams);
        let job = ReadJob {
            config: &cfg,
            streams: &sel,
            state: None,
            api_key: Some(key.clone()),
        };
        let mut plan_out = Collect::default();
        let (units, planned) = driver::plan(&mut inst, &job, &mut plan_out).await.unwrap();
        assert!(plan_out.records.is_empty(), "a coordinator reads no rows");
        let mut out = Collect::default();
        for unit in &units {
            let is_file = unit.contains("\"export_file\"");
            let key = (!is_file).then(|| key.clone());
            driver::read_unit(&mut inst, &cfg, unit, key, &mut out)
                .await
                .unwrap_or_else(|e| panic!("{unit}: {e}"));
        }
        assert_eq!(out.commits, 0, "workers commit nothing");
        (out.records, units, planned)
    });
    let files = units
        .iter()
        .filter(|u| u.contains("\"export_file\""))
        .count();
    assert!(files > 1, "{units:?}");
    let planned: Value = serde_json::from_str(&planned).unwrap();
    assert_eq!(
        planned["email_send"]["next_start"],
        json!(
            history()
                .1
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );
    let problems = score(&records, &streams);
    assert!(problems.is_empty(), "{problems:#?}");
    let log = sim.request_log();
    assert!(log.iter().all(|e| e.status != 429));
    assert_eq!(
        log.iter()
            .filter(|e| e.path.starts_with("/_files/"))
            .count(),
        files,
        "every file downloaded once, by a worker"
    );
}

#[test]
fn exported_wit_matches_the_golden_copy() {
    let path = runtime::locate_component(None).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let decoded = wit_component::decode(&bytes).unwrap();
    let resolve = decoded.resolve();
    let pkg = decoded.package();
    // Our own package printed in full (its interfaces are the contract);
    // wasi:* packages by name only, through the world's imports.
    let ours: Vec<_> = resolve
        .packages
        .iter()
        .filter(|(_, p)| p.name.namespace == "iterable-connector")
        .map(|(id, _)| id)
        .collect();
    let mut printer = wit_component::WitPrinter::default();
    printer.print(resolve, pkg, &ours).unwrap();
    let wit = printer.output.to_string();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/component.wit");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &wit).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        wit,
        expected,
        "the component's WIT changed; if intended, rerun with UPDATE_GOLDEN=1 and commit {}",
        golden.display()
    );
    for export in [
        "export iterable-connector:source/source@0.1.0;",
        "export iterable-connector:source/runner@0.1.0;",
    ] {
        assert!(wit.contains(export), "{export}");
    }
}
