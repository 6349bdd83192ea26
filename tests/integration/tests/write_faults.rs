//! The write path under faults, end to end: the core's `WriteSession` over
//! real HTTP against a simulator that answers writes with 500s, storms of
//! 429s, and connections cut after the write was applied; then writes
//! killed at a random request and resumed from their last commit.
//!
//! What is proved, for users upsert, events insert, catalog item upsert,
//! lists insert and `TriggerCampaign`:
//! - every row ends `ok`, `failed` or `unknown` exactly once, none is lost,
//!   and the last commit covers every row;
//! - the simulator's applied counts (`GET /_sim/applied`) show that no write
//!   that is unsafe to repeat (list create, campaign trigger) was applied
//!   twice; an `ok` row of those was applied once, a `failed` one never;
//! - events carry deterministic ids, so a retried event replaces itself:
//!   each event is stored once however often it was applied;
//! - an `ok` row's data is in the simulator.

use std::collections::BTreeMap;
use std::time::Duration;

use connector_core::{Config, RowResult, RowStatus, WriteOptions, WriteSession};
use integration_tests::driver::{self, HttpTransport, RealClock, WriteOutput};
use integration_tests::http_client::{self, Event};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Value, json};

const KEY: &str = "test-key-write-faults";

fn start_sim(seed: u64, faults: FaultOptions) -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        faults,
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn config(sim: &RunningSim) -> Config {
    Config::from_json(&json!({"base_url": sim.base_url(), "time_scale": 1000, "max_retries": 4}))
        .expect("config")
}

/// A GET against the simulator, as JSON (reads are never faulted by the
/// write faults).
fn get(sim: &RunningSim, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", sim.base_url());
    let headers = [("Api-Key".to_string(), KEY.to_string())];
    let (mut status, mut body) = (0, Vec::new());
    http_client::send("GET", &url, &headers, None, &mut |ev| match ev {
        Event::Head(s, _) => status = s,
        Event::Body(chunk) => body.extend_from_slice(chunk),
        _ => {}
    });
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, value)
}

// ---- what is written --------------------------------------------------------

/// The applied-count key of a row, given the write's options.
type RowKey = fn(&Value, &Value) -> String;

/// One family of writes: its rows and how to check the simulator after.
struct Case {
    object: &'static str,
    op: &'static str,
    options: Value,
    rows: Vec<Value>,
    /// Applied-count kind and the key of a row given the options (`None`:
    /// events, checked by what is stored instead).
    applied: Option<(&'static str, RowKey)>,
    /// Not safe to repeat: must never be applied twice.
    unsafe_write: bool,
}

const CASES: [&str; 5] = ["users", "events", "catalog_items", "lists", "trigger"];

fn case(sim: &RunningSim, which: &str, tag: &str) -> Case {
    match which {
        "users" => Case {
            object: "users",
            op: "upsert",
            options: json!({"batch_size": 20}),
            rows: (0..160)
                .map(|i| json!({"email": format!("u{i}-{tag}@faults.example"), "n": i, "plan": "pro"}))
                .collect(),
            applied: Some(("user.update", |r, _| r["email"].as_str().unwrap().to_string())),
            unsafe_write: false,
        },
        "events" => Case {
            object: "events",
            op: "insert",
            options: json!({"batch_size": 20}),
            rows: (0..160)
                .map(|i| {
                    json!({"eventName": "faulted", "email": format!("e{}-{tag}@faults.example", i % 8),
                           "n": i, "createdAt": "2026-10-31T10:00:00Z"})
                })
                .collect(),
            applied: None,
            unsafe_write: false,
        },
        "catalog_items" => {
            let (_, cats) = get(sim, "/api/catalogs");
            let catalog = cats["params"]["catalogNames"][0]["name"]
                .as_str()
                .expect("a seeded catalog")
                .to_string();
            Case {
                object: "catalog_items",
                op: "upsert",
                options: json!({"catalog": catalog, "batch_size": 20}),
                rows: (0..160)
                    .map(|i| json!({"itemId": format!("it-{tag}-{i}"), "n": i}))
                    .collect(),
                applied: Some(("catalog_item.upsert", |r, options| {
                    format!(
                        "{}/{}",
                        options["catalog"].as_str().unwrap().to_ascii_lowercase(),
                        r["itemId"].as_str().unwrap()
                    )
                })),
                unsafe_write: false,
            }
        }
        "lists" => Case {
            object: "lists",
            op: "insert",
            options: json!({}),
            rows: (0..40)
                .map(|i| json!({"name": format!("list-{tag}-{i}")}))
                .collect(),
            applied: Some(("list.create", |r, _| r["name"].as_str().unwrap().to_string())),
            unsafe_write: true,
        },
        "trigger" => {
            let (_, camps) = get(sim, "/api/campaigns");
            let triggered: Vec<i64> = camps["campaigns"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["type"] == "Triggered")
                .map(|c| c["id"].as_i64().unwrap())
                .collect();
            assert!(triggered.len() >= 10, "{} triggered campaigns", triggered.len());
            let (_, lists) = get(sim, "/api/lists");
            let list = lists["lists"][0]["id"].as_i64().unwrap();
            Case {
                object: "TriggerCampaign",
                op: "call",
                options: json!({}),
                rows: triggered
                    .iter()
                    .map(|id| json!({"campaignId": id, "listIds": [list]}))
                    .collect(),
                applied: Some(("campaign.trigger", |r, _| r["campaignId"].to_string())),
                unsafe_write: true,
            }
        }
        other => panic!("no case {other}"),
    }
}

fn run(
    sim: &RunningSim,
    c: &Case,
    rows: Vec<Value>,
    state: Option<&Value>,
    kill_after: Option<usize>,
) -> WriteOutput {
    let options = WriteOptions::from_json(&c.options).expect("options");
    let mut session =
        WriteSession::open(config(sim), c.object, c.op, &options, state).expect("open");
    let mut transport = HttpTransport::new(KEY);
    let out = driver::run_write(
        &mut session,
        rows,
        30,
        &mut transport,
        &mut RealClock,
        kill_after,
    )
    .expect("the write runs to its end or its kill");
    assert!(
        out.duplicates.is_empty(),
        "rows with two results: {:?}",
        out.duplicates
    );
    out
}

// ---- the invariants ---------------------------------------------------------

fn counts(results: &BTreeMap<u64, RowResult>) -> (usize, usize, usize) {
    let n = |s| results.values().filter(|r| r.status == s).count();
    (
        n(RowStatus::Ok),
        n(RowStatus::Failed),
        n(RowStatus::Unknown),
    )
}

/// Every row has one final result; nothing unsafe applied twice; `ok` rows
/// are in the simulator.
fn check(sim: &RunningSim, c: &Case, results: &BTreeMap<u64, RowResult>, label: &str) {
    let n = c.rows.len() as u64;
    let rows: Vec<u64> = results.keys().copied().collect();
    assert_eq!(
        rows,
        (0..n).collect::<Vec<_>>(),
        "{label}: every row once, none lost"
    );
    // Asynchronous writes may still be on their way.
    wait_for_pending(sim);
    let applied = sim.applied();
    let mut stored_twice = Vec::new();
    if let Some((kind, key)) = c.applied {
        let empty = BTreeMap::new();
        let by_key = applied.get(kind).unwrap_or(&empty);
        for (row, r) in results {
            let k = key(&c.rows[*row as usize], &c.options);
            let times = by_key.get(&k).copied().unwrap_or(0);
            if c.unsafe_write {
                assert!(times <= 1, "{label}: {kind} {k} applied {times} times");
                match r.status {
                    RowStatus::Ok => assert_eq!(times, 1, "{label}: ok row {row} ({k})"),
                    RowStatus::Failed => {
                        assert_eq!(
                            times, 0,
                            "{label}: failed row {row} ({k}) was applied: {r:?}"
                        )
                    }
                    RowStatus::Unknown => {
                        let e = r.error.as_ref().expect("an unknown row says what to check");
                        assert!(!e.message.is_empty(), "{label}: {r:?}");
                    }
                }
            } else {
                match r.status {
                    RowStatus::Ok => {
                        assert!(times >= 1, "{label}: ok row {row} ({k}) never applied")
                    }
                    // `failed` means not applied, for safe writes too.
                    RowStatus::Failed => {
                        assert_eq!(
                            times, 0,
                            "{label}: failed row {row} ({k}) was applied: {r:?}"
                        )
                    }
                    RowStatus::Unknown => {}
                }
            }
        }
        // Nothing else of this kind was applied.
        let keys: Vec<String> = c.rows.iter().map(|r| key(r, &c.options)).collect();
        let stray: Vec<&String> = by_key.keys().filter(|k| !keys.contains(k)).collect();
        assert!(
            stray.is_empty(),
            "{label}: applied but not asked for: {stray:?}"
        );
    }
    match c.object {
        "events" => {
            // Each event is stored once, however often it was applied.
            let mut stored: BTreeMap<i64, usize> = BTreeMap::new();
            for email in 0..8 {
                let tag_email = c.rows[email]["email"].as_str().unwrap().to_string();
                let (_, ev) = get(sim, &format!("/api/events/{tag_email}?limit=200"));
                for e in ev["events"].as_array().unwrap() {
                    *stored.entry(e["n"].as_i64().unwrap()).or_default() += 1;
                }
            }
            stored_twice.extend(stored.iter().filter(|(_, k)| **k > 1).map(|(n, _)| *n));
            for (row, r) in results {
                let times = stored.get(&(*row as i64)).copied().unwrap_or(0);
                match r.status {
                    RowStatus::Ok => {
                        assert_eq!(times, 1, "{label}: ok event {row} stored {times} times")
                    }
                    RowStatus::Failed => {
                        assert_eq!(times, 0, "{label}: failed event {row} was stored: {r:?}")
                    }
                    RowStatus::Unknown => {}
                }
            }
            let ids: Vec<usize> = applied
                .get("event")
                .map(|m| m.values().map(|v| *v as usize).collect())
                .unwrap_or_default();
            let retried = ids.iter().filter(|t| **t > 1).count();
            eprintln!("{label}: {retried} events applied more than once, each stored once");
        }
        "users" => {
            for (row, r) in results.iter().filter(|(_, r)| r.status == RowStatus::Ok) {
                let email = c.rows[*row as usize]["email"].as_str().unwrap();
                let (_, p) = get(sim, &format!("/api/users/{email}"));
                assert_eq!(p["user"]["dataFields"]["n"], json!(row), "{label}: {r:?}");
            }
        }
        "catalog_items" => {
            let catalog = c.options["catalog"].as_str().unwrap();
            for (row, _) in results.iter().filter(|(_, r)| r.status == RowStatus::Ok) {
                let id = c.rows[*row as usize]["itemId"].as_str().unwrap();
                let (s, item) = get(sim, &format!("/api/catalogs/{catalog}/items/{id}"));
                assert_eq!(s, 200, "{label}: item {id}");
                assert_eq!(item["value"]["n"], json!(row), "{label}: {item}");
            }
        }
        _ => {}
    }
    assert!(
        stored_twice.is_empty(),
        "{label}: events stored twice: {stored_twice:?}"
    );
}

fn wait_for_pending(sim: &RunningSim) {
    for _ in 0..100 {
        let (_, v) = admin(sim);
        if v["pendingWrites"] == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("asynchronous writes never landed");
}

/// `GET /_sim/applied` over HTTP, as an out-of-process test would ask.
fn admin(sim: &RunningSim) -> (u16, Value) {
    let url = format!("{}/_sim/applied", sim.base_url());
    let (mut status, mut body) = (0, Vec::new());
    http_client::send("GET", &url, &[], None, &mut |ev| match ev {
        Event::Head(s, _) => status = s,
        Event::Body(chunk) => body.extend_from_slice(chunk),
        _ => {}
    });
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

// ---- (a) the fault matrix ---------------------------------------------------

fn scenarios() -> Vec<(&'static str, FaultOptions)> {
    vec![
        (
            "5% 500s",
            FaultOptions {
                write_error_rate: 0.05,
                ..FaultOptions::default()
            },
        ),
        (
            "429 storm",
            FaultOptions {
                // Writes 2..10 all refused: longer than one batch's retries.
                write_throttle_storm: Some((2, 8)),
                write_throttle_rate: 0.05,
                ..FaultOptions::default()
            },
        ),
        (
            "cut after apply",
            FaultOptions {
                write_cut_rate: 0.15,
                ..FaultOptions::default()
            },
        ),
        (
            "all at once, visible 150 ms later",
            FaultOptions {
                write_error_rate: 0.05,
                write_throttle_storm: Some((5, 3)),
                write_cut_rate: 0.1,
                write_visible_after_ms: 150,
                ..FaultOptions::default()
            },
        ),
    ]
}

#[test]
fn every_row_ends_once_and_nothing_unsafe_is_applied_twice_under_write_faults() {
    let mut table = Vec::new();
    for (si, (name, faults)) in scenarios().into_iter().enumerate() {
        let mut fired = 0;
        for (ci, which) in CASES.iter().enumerate() {
            let seed = 100 + (si * 10 + ci) as u64;
            let sim = start_sim(seed, faults.clone());
            let c = case(&sim, which, &format!("m{si}"));
            let out = run(&sim, &c, c.rows.clone(), None, None);
            let label = format!("{name} / {which}");
            assert_eq!(
                out.checkpoints.last().map(|cp| cp.rows_final),
                Some(c.rows.len() as u64),
                "{label}: the last commit covers every row"
            );
            let summary = out.summary.as_ref().expect("done");
            let (ok, failed, unknown) = counts(&out.results);
            assert_eq!(
                (summary.ok, summary.failed, summary.unknown),
                (ok as u64, failed as u64, unknown as u64),
                "{label}"
            );
            check(&sim, &c, &out.results, &label);
            let cut = sim.request_log().iter().filter(|e| e.status == 0).count();
            let (r500, r429) = sim.request_log().iter().fold((0, 0), |(a, b), e| {
                (
                    a + (e.status == 500) as usize,
                    b + (e.status == 429) as usize,
                )
            });
            table.push(format!(
                "{label}: {} rows, ok {ok}, failed {failed}, unknown {unknown}; {} requests \
                 ({} retries; sim answered {r500}×500, {r429}×429, cut {cut})",
                c.rows.len(),
                summary.requests,
                summary.retries
            ));
            fired += r500 + r429 + cut;
            if c.unsafe_write && cut > 0 {
                assert!(unknown > 0, "{label}: a cut unsafe write must be unknown");
            }
        }
        // The faults fired: a matrix that never hurt proves nothing.
        assert!(fired > 5, "{name}: only {fired} faults fired");
    }
    eprintln!("{}", table.join("\n"));
}

// ---- (b) killed at a random point, resumed from the last commit -------------

/// xorshift64*: a seeded choice of kill points without a dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

#[test]
fn a_write_killed_at_a_random_request_and_resumed_applies_nothing_twice() {
    let faults = FaultOptions {
        write_error_rate: 0.05,
        write_cut_rate: 0.1,
        ..FaultOptions::default()
    };
    let mut lines = Vec::new();
    for seed in 1..=15u64 {
        let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let which = CASES[(seed as usize) % CASES.len()];
        let sim = start_sim(seed, faults.clone());
        let mut c = case(&sim, which, &format!("k{seed}"));
        // Smaller loads: the kill lands anywhere in them.
        c.rows.truncate(if c.unsafe_write { 12 } else { 60 });
        if c.object != "lists" && c.object != "TriggerCampaign" {
            c.options["batch_size"] = json!(6);
        }
        let requests = if c.unsafe_write { 12 } else { 10 };
        let kill_after = 1 + rng.below(requests) as usize;
        let first = run(&sim, &c, c.rows.clone(), None, Some(kill_after));
        let label = format!("seed {seed} / {which} killed after request {kill_after}");
        let (state, from) = match first.checkpoints.last() {
            Some(cp) => (Some(cp.state.clone()), cp.rows_final),
            None => (None, 0),
        };
        // Every row below the commit has its result from the first run.
        for row in 0..from {
            assert!(first.results.contains_key(&row), "{label}: row {row}");
        }
        let second = if first.stopped_early {
            let rest = c.rows[from as usize..].to_vec();
            run(&sim, &c, rest, state.as_ref(), None)
        } else {
            WriteOutput::default()
        };
        assert!(
            second.results.keys().all(|r| *r >= from),
            "{label}: the resumed run starts at the commit ({from})"
        );
        let mut results: BTreeMap<u64, RowResult> = first
            .results
            .iter()
            .filter(|(r, _)| **r < from || !first.stopped_early)
            .map(|(r, x)| (*r, x.clone()))
            .collect();
        results.extend(second.results.clone());
        check(&sim, &c, &results, &label);
        let (ok, failed, unknown) = counts(&results);
        lines.push(format!(
            "{label}: commit at {from}; ok {ok}, failed {failed}, unknown {unknown}"
        ));
    }
    eprintln!("{}", lines.join("\n"));
}

/// A safe write whose every attempt is applied and then cut: the row ends
/// `unknown` (perhaps applied), retryable since writing it again is safe,
/// never `failed` (which says "not applied"). It was applied on every
/// attempt, harmlessly: the same profile each time.
#[test]
fn a_safe_write_cut_on_every_attempt_ends_unknown_and_safe_to_repeat() {
    let sim = start_sim(
        9,
        FaultOptions {
            write_cut_rate: 1.0,
            ..FaultOptions::default()
        },
    );
    let c = Case {
        object: "users",
        op: "upsert",
        options: json!({}),
        rows: vec![json!({"email": "cut@faults.example", "plan": "pro"})],
        applied: None,
        unsafe_write: false,
    };
    let out = run(&sim, &c, c.rows.clone(), None, None);
    let r = &out.results[&0];
    assert_eq!(r.status, RowStatus::Unknown, "{r:?}");
    let e = r.error.as_ref().expect("what to check");
    assert!(e.retryable, "{e:?}");
    assert!(e.message.contains("writing the row again is safe"), "{e}");
    let requests = out.summary.as_ref().unwrap().requests;
    assert_eq!(requests, 5, "1 + max_retries");
    assert_eq!(
        sim.applied_count("user.update", "cut@faults.example"),
        requests
    );
    wait_for_pending(&sim);
    let (_, p) = get(&sim, "/api/users/cut@faults.example");
    assert_eq!(p["user"]["dataFields"]["plan"], "pro");
}
