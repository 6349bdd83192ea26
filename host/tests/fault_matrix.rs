//! Issue #14's fault matrix through the host binary: `iterable-connector
//! read` against every hostile server mode (`iterable_sim::hostile`) and
//! every fault of the simulator itself. One row per fault; each asserts
//! that the process ends (a generous deadline is the hang detector, not a
//! performance check), how it ends (a TRACE error naming what happened, or
//! a success with exactly the ground truth), that no record is handed out
//! twice, and that the API key — or any 4+-character prefix of it — is
//! nowhere in stdout or stderr.
//!
//! Tiny world, `time_scale` 10000 and `ITERABLE_CONNECTOR_STALL_SECS=2`
//! keep the whole matrix to seconds per row; rows run a few at a time.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iterable_sim::{FaultOptions, Hostile, HostileOptions, RunningSim, SimOptions};
use serde_json::{Value, json};

const KEY: &str = "sk_live_FAULTMATRIX_0123456789abcdef";
const NOW: &str = "2025-03-15T12:00:00Z";
const START: &str = "2025-01-01T00:00:00Z";
const END: &str = "2025-03-15T00:00:00Z";
/// Far beyond any row's expected time: reaching it means a hang.
const DEADLINE: Duration = Duration::from_secs(180);

enum Server {
    Hostile(Hostile),
    Faults(FaultOptions),
}

enum Expect {
    /// A TRACE error whose message contains one of these.
    Fails(&'static [&'static str]),
    /// Success with exactly the ground truth's records, and (if given) a
    /// LOG line containing this.
    Exact(Option<&'static str>),
}

struct Row {
    fault: &'static str,
    server: Server,
    stream: &'static str,
    config: Value,
    expect: Expect,
}

fn row(fault: &'static str, server: Server, stream: &'static str, expect: Expect) -> Row {
    Row {
        fault,
        server,
        stream,
        config: json!({}),
        expect,
    }
}

fn faults(f: impl FnOnce(&mut FaultOptions)) -> Server {
    let mut o = FaultOptions::default();
    f(&mut o);
    Server::Faults(o)
}

fn matrix() -> Vec<Row> {
    use Expect::{Exact, Fails};
    use Hostile as H;
    let async_mode = json!({"export_mode": "async"});
    let mut rows = vec![
        row(
            "html-200",
            Server::Hostile(H::Html200),
            "lists",
            Fails(&["malformed-response"]),
        ),
        row(
            "wrong-shape",
            Server::Hostile(H::WrongShape),
            "lists",
            Fails(&["expected a JSON object"]),
        ),
        row(
            "invalid-utf8",
            Server::Hostile(H::InvalidUtf8),
            "lists",
            Fails(&["malformed-response"]),
        ),
        row(
            "echo-4xx",
            Server::Hostile(H::Echo4xx),
            "lists",
            Fails(&["HTTP 400"]),
        ),
        row(
            "echo-500",
            Server::Hostile(H::Echo500),
            "lists",
            Fails(&["HTTP 500"]),
        ),
        row(
            "trickle",
            Server::Hostile(H::Trickle),
            "lists",
            Fails(&["Timeout"]),
        ),
        row(
            "never-answer",
            Server::Hostile(H::NeverAnswer),
            "lists",
            Fails(&["Timeout"]),
        ),
        row(
            "retry-after-huge",
            Server::Hostile(H::RetryAfterHuge),
            "lists",
            Fails(&["Retry-After"]),
        ),
        row(
            "retry-after-negative",
            Server::Hostile(H::RetryAfterNegative),
            "lists",
            Fails(&["HTTP 429"]),
        ),
        row(
            "endless-pages",
            Server::Hostile(H::EndlessPages),
            "journeys",
            Fails(&["repeats page"]),
        ),
        row(
            "ignore-start-after",
            Server::Hostile(H::IgnoreStartAfter),
            "users",
            Fails(&["ignores startAfter"]),
        ),
        row(
            "never-complete",
            Server::Hostile(H::NeverComplete),
            "email_send",
            Fails(&["status checks"]),
        ),
        row(
            "error-rate 1",
            faults(|f| f.error_rate = 1.0),
            "lists",
            Fails(&["HTTP 500"]),
        ),
        row(
            "error-rate 0.3",
            faults(|f| f.error_rate = 0.3),
            "email_send",
            Exact(None),
        ),
        row(
            "cut-after-bytes",
            faults(|f| f.cut_after_bytes = Some(1500)),
            "email_send",
            Exact(Some("cut off")),
        ),
        row(
            "malformed-rate, skipped",
            faults(|f| f.malformed_rate = 0.2),
            "email_send",
            Exact(Some("malformed lines skipped")),
        ),
        row(
            "malformed-rate",
            faults(|f| f.malformed_rate = 0.2),
            "email_send",
            Fails(&["malformed-response"]),
        ),
        row(
            "slow-body",
            faults(|f| f.slow_body_bps = Some(20_000)),
            "email_send",
            Exact(None),
        ),
        row(
            "fail-downloads",
            faults(|f| f.fail_downloads = 2),
            "email_send",
            Exact(None),
        ),
        row(
            "url-ttl",
            faults(|f| f.url_ttl_secs = Some(0)),
            "email_send",
            Exact(None),
        ),
    ];
    for r in &mut rows {
        match r.fault {
            "ignore-start-after" | "never-complete" | "url-ttl" => r.config = async_mode.clone(),
            "error-rate 0.3" => r.config = json!({"max_retries": 10}),
            "malformed-rate, skipped" => r.config = json!({"skip_malformed_lines": true}),
            "fail-downloads" => r.config = json!({"export_mode": "async", "max_retries": 4}),
            _ => {}
        }
    }
    rows
}

fn sim_options(faults: FaultOptions) -> SimOptions {
    let mut opts = SimOptions::default();
    opts.world.now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&chrono::Utc);
    opts.api_key = Some(KEY.into());
    opts.faults = faults;
    opts
}

fn start(server: &Server) -> RunningSim {
    match server {
        Server::Hostile(mode) => iterable_sim::spawn_hostile(
            sim_options(FaultOptions::default()),
            *mode,
            HostileOptions {
                trickle: Duration::from_millis(300),
                ..HostileOptions::default()
            },
        ),
        Server::Faults(f) => iterable_sim::spawn(sim_options(f.clone())),
    }
}

/// The ground truth's record count of `stream` over [START, END).
fn truth_count(stream: &str) -> usize {
    let args: Vec<String> = [
        "--seed", "1", "--scale", "tiny", "--now", NOW, "--stream", stream, "--start", START,
        "--end", END,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let json = iterable_sim::run_truth_cli(&args).unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    v["count"].as_u64().unwrap() as usize
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("iterable-fault-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What one row's run printed, and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

fn run_host(r: &Row, sim: &RunningSim, i: usize) -> Run {
    let mut cfg = json!({"api_key": KEY, "base_url": sim.base_url(), "start_date": START,
        "end_date": END, "max_retries": 1, "time_scale": 10_000});
    for (k, v) in r.config.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let d = dir();
    let cfg_path = d.join(format!("config-{i}.json"));
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let cat_path = d.join(format!("catalog-{i}.json"));
    let catalog = json!({"streams": [{"stream": {"name": r.stream}, "sync_mode": "full_refresh"}]});
    std::fs::write(&cat_path, catalog.to_string()).unwrap();
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_iterable-connector"))
        .args(["read", "--config"])
        .arg(&cfg_path)
        .arg("--catalog")
        .arg(&cat_path)
        .env("ITERABLE_CONNECTOR_STALL_SECS", "2")
        .env_remove("ITERABLE_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes on threads so a chatty child never blocks on them.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if t0.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}: the read hung (killed after {DEADLINE:?})", r.fault);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
        elapsed: t0.elapsed(),
    }
}

/// Checks one row; `Err` says what is wrong.
fn check(r: &Row, run: &Run) -> Result<String, String> {
    let all = format!("{}{}", run.stdout, run.stderr);
    // Any prefix of 4+ characters contains the first four.
    if all.contains(&KEY[..4]) || all.contains("0123456789abcdef") {
        return Err(format!("the key (or a prefix) leaked: {all}"));
    }
    let mut records = Vec::new();
    let mut trace = None;
    let mut logs = Vec::new();
    for line in run.stdout.lines() {
        let m: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
        match m["type"].as_str() {
            Some("RECORD") => records.push(m["record"]["data"].to_string()),
            Some("TRACE") => trace = m["trace"]["error"]["message"].as_str().map(String::from),
            Some("LOG") => logs.push(m["log"]["message"].as_str().unwrap_or("").to_string()),
            _ => {}
        }
    }
    let distinct: BTreeSet<&String> = records.iter().collect();
    if distinct.len() != records.len() {
        return Err(format!(
            "{} records handed out twice",
            records.len() - distinct.len()
        ));
    }
    match &r.expect {
        Expect::Fails(any) => {
            if run.code == Some(0) {
                return Err(format!("succeeded: {all}"));
            }
            let msg = trace.ok_or_else(|| format!("no TRACE error: {all}"))?;
            if !any.iter().any(|s| msg.contains(s)) {
                return Err(format!("TRACE does not say {any:?}: {msg}"));
            }
            Ok(msg)
        }
        Expect::Exact(log) => {
            if run.code != Some(0) {
                return Err(format!("failed: {all}"));
            }
            let want = truth_count(r.stream);
            if records.len() != want {
                return Err(format!("{} records, ground truth {want}", records.len()));
            }
            if let Some(l) = log
                && !logs.iter().any(|m| m.contains(l))
            {
                return Err(format!("no LOG saying {l:?}: {logs:?}"));
            }
            Ok(format!("{want} records = ground truth"))
        }
    }
}

#[test]
fn every_fault_ends_typed_bounded_and_keyless() {
    let rows = matrix();
    // The first row alone: it compiles (and caches) the component once.
    let mut results: Vec<(usize, Result<String, String>, Duration)> = Vec::new();
    let one = |i: usize| {
        let r = &rows[i];
        let sim = start(&r.server);
        let run = run_host(r, &sim, i);
        (i, check(r, &run), run.elapsed)
    };
    results.push(one(0));
    let rest: Vec<usize> = (1..rows.len()).collect();
    for chunk in rest.chunks(4) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|&i| s.spawn(move || one(i))).collect();
            for h in handles {
                results.push(h.join().unwrap());
            }
        });
    }
    let mut failures = Vec::new();
    eprintln!("fault matrix, host (`iterable-connector read`):");
    for (i, res, took) in &results {
        let r = &rows[*i];
        match res {
            Ok(what) => eprintln!(
                "  {:<24} {:<11} ok   {:>5.1}s  {}",
                r.fault,
                r.stream,
                took.as_secs_f64(),
                what.chars().take(140).collect::<String>()
            ),
            Err(e) => {
                eprintln!("  {:<24} {:<11} FAIL  {e}", r.fault, r.stream);
                failures.push(format!("{}: {e}", r.fault));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---- killed and resumed ------------------------------------------------------

const RESUME_STREAMS: [&str; 3] = ["email_send", "email_open", "users"];

/// A record's identity: its stream and data (the same record read twice is
/// the same JSON).
type Seen = (String, String);

/// One `read`, SIGKILLed after `kill_after` RECORD lines: the records, the
/// latest STATE per stream, how many records the last STATE covers, and
/// whether it was killed.
/// One killed or finished read: every record printed, the last STATE of
/// each stream, the records no STATE of their stream covered, and whether
/// it was killed.
type ReadRun = (Vec<Seen>, Vec<(String, Value)>, Vec<Seen>, bool);

fn read_until(
    cfg: &PathBuf,
    catalog: &PathBuf,
    state: Option<&PathBuf>,
    kill_after: Option<usize>,
) -> ReadRun {
    use std::io::BufRead;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iterable-connector"));
    cmd.args(["read", "--config"])
        .arg(cfg)
        .arg("--catalog")
        .arg(catalog)
        .env_remove("ITERABLE_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(s) = state {
        cmd.arg("--state").arg(s);
    }
    let mut child = cmd.spawn().unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut seen, mut states, mut killed) = (Vec::new(), Vec::new(), false);
    // Per stream, how many records had been printed at its last STATE: a
    // STATE covers its own stream's records only (streams interleave when
    // export jobs run side by side).
    let mut covered: std::collections::BTreeMap<String, usize> = Default::default();
    for line in out.lines() {
        let line = line.unwrap();
        let m: Value = serde_json::from_str(&line).unwrap();
        match m["type"].as_str() {
            Some("RECORD") => {
                let r = &m["record"];
                seen.push((
                    r["stream"].as_str().unwrap().to_string(),
                    r["data"].to_string(),
                ));
                if kill_after.is_some_and(|k| seen.len() >= k) {
                    child.kill().unwrap();
                    killed = true;
                    break;
                }
            }
            Some("STATE") => {
                let name = m["state"]["stream"]["stream_descriptor"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string();
                states.retain(|(n, _): &(String, Value)| *n != name);
                states.push((name.clone(), m["state"].clone()));
                covered.insert(name, seen.len());
            }
            _ => {}
        }
    }
    let status = child.wait().unwrap();
    assert!(killed || status.success(), "the read failed");
    let uncovered = seen
        .iter()
        .enumerate()
        .filter(|(i, (stream, _))| covered.get(stream).is_none_or(|c| i >= c))
        .map(|(_, r)| r.clone())
        .collect();
    (seen, states, uncovered, killed)
}

/// Killed (SIGKILL) after N RECORD lines, again and again, each run resumed
/// from the last STATE it printed, sync and async exports: every stream's
/// records add up to the ground truth's count with 0 missing, and a record
/// repeats only if an earlier run printed it after its stream's last STATE.
#[test]
fn a_read_killed_anywhere_resumes_with_nothing_lost() {
    for mode in ["sync", "async"] {
        let sim = iterable_sim::spawn(sim_options(FaultOptions::default()));
        let d = dir().join(format!("resume-{mode}"));
        std::fs::create_dir_all(&d).unwrap();
        let cfg = d.join("config.json");
        let c = json!({"api_key": KEY, "base_url": sim.base_url(), "start_date": START,
            "end_date": END, "time_scale": 10_000, "export_mode": mode});
        std::fs::write(&cfg, c.to_string()).unwrap();
        let catalog = d.join("catalog.json");
        let streams: Vec<Value> = RESUME_STREAMS
            .iter()
            .map(|s| json!({"stream": {"name": s}, "sync_mode": "incremental"}))
            .collect();
        std::fs::write(&catalog, json!({ "streams": streams }).to_string()).unwrap();
        for kills in [vec![1], vec![3, 7], vec![5, 5, 5, 5], vec![20, 1]] {
            let label = format!("{mode}, kills {kills:?}");
            let mut points = kills.clone().into_iter();
            let (mut got, mut uncovered) = (Vec::new(), Vec::new());
            let mut states: Vec<(String, Value)> = Vec::new();
            let mut finished = false;
            for _ in 0..30 {
                let state_path = d.join("state.json");
                let state = (!states.is_empty()).then(|| {
                    let list: Vec<&Value> = states.iter().map(|(_, v)| v).collect();
                    std::fs::write(&state_path, json!(list).to_string()).unwrap();
                    &state_path
                });
                let (seen, new, not_covered, killed) =
                    read_until(&cfg, &catalog, state, points.next());
                for (n, v) in new {
                    states.retain(|(m, _)| *m != n);
                    states.push((n, v));
                }
                uncovered.extend(not_covered);
                got.extend(seen);
                if !killed {
                    finished = true;
                    break;
                }
            }
            assert!(finished, "{label}: never finished");
            for s in RESUME_STREAMS {
                let distinct: BTreeSet<&String> = got
                    .iter()
                    .filter(|(st, _)| st == s)
                    .map(|(_, r)| r)
                    .collect();
                assert_eq!(distinct.len(), truth_count(s), "{label}: {s} lost records");
            }
            let mut counts = std::collections::BTreeMap::new();
            for r in &got {
                *counts.entry(r).or_insert(0usize) += 1;
            }
            for (r, n) in counts {
                let allowed = uncovered.iter().filter(|u| *u == r).count();
                assert!(n - 1 <= allowed, "{label}: {r:?} printed {n} times");
            }
        }
    }
}
