//! Write throughput through the core against the simulator with Iterable's
//! rate limits on (real time: the simulator's limiter and the core's pacing
//! both at time scale 1), next to the ceiling those limits allow.
//! `cargo bench -p integration-tests --bench write_throughput`.
//! Prints the median of several runs; figures go to BENCHMARKS.md.
//!
//! Each run starts a fresh simulator in this process (same 2 cores as the
//! client) and drives one `WriteSession` with the sequential native driver
//! (one request at a time, one new loopback connection per request).

use std::time::Instant;

use connector_core::{Config, RowStatus, WriteOptions, WriteSession};
use integration_tests::driver::{self, HttpTransport, RealClock};
use integration_tests::http_client::{self, Event};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Value, json};

const RUNS: usize = 3;
/// The core paces a 1 s window as 1.05 s + 250 ms (connector-core
/// `exchange/pacing.rs`: slack between sending and Iterable counting), so
/// its own ceiling is this fraction of the documented one.
const PACED_WINDOW_S: f64 = 1.3;
const KEY: &str = "bench-key";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn sim() -> RunningSim {
    iterable_sim::spawn(SimOptions {
        faults: FaultOptions {
            rate_limits: true,
            time_scale: 1.0,
            ..FaultOptions::default()
        },
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn first_catalog(sim: &RunningSim) -> String {
    let url = format!("{}/api/catalogs", sim.base_url());
    let mut body = Vec::new();
    http_client::send(
        "GET",
        &url,
        &[("Api-Key".into(), KEY.into())],
        None,
        &mut |ev| {
            if let Event::Body(c) = ev {
                body.extend_from_slice(c)
            }
        },
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["params"]["catalogNames"][0]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

struct Case {
    name: &'static str,
    object: &'static str,
    op: &'static str,
    rows: usize,
    make: fn(usize) -> Value,
    /// The documented limit of the bulk endpoint: requests per second.
    per_sec: f64,
    endpoint: &'static str,
}

struct Measured {
    secs: f64,
    requests: u64,
    r429: usize,
    /// Milliseconds the simulator spent on all requests (arrival to the
    /// end of the answer), from its request log.
    server_ms: u64,
}

fn run(c: &Case) -> Measured {
    let sim = sim();
    let mut options = json!({});
    if c.object == "catalog_items" {
        options["catalog"] = json!(first_catalog(&sim));
    }
    let options = WriteOptions::from_json(&options).unwrap();
    let config = Config::from_json(&json!({"base_url": sim.base_url()})).unwrap();
    let rows: Vec<Value> = (0..c.rows).map(c.make).collect();
    let mut session = WriteSession::open(config, c.object, c.op, &options, None).unwrap();
    let mut transport = HttpTransport::new(KEY);
    let t = Instant::now();
    let out = driver::run_write(
        &mut session,
        rows,
        5_000,
        &mut transport,
        &mut RealClock,
        None,
    )
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(out.rows_with(RowStatus::Ok).len(), c.rows, "{}", c.name);
    let log = sim.request_log();
    let r429 = log.iter().filter(|e| e.status == 429).count();
    Measured {
        secs,
        requests: out.summary.unwrap().requests,
        r429,
        server_ms: log.iter().map(|e| e.ms).sum(),
    }
}

fn main() {
    let cases = [
        Case {
            name: "users upsert",
            object: "users",
            op: "upsert",
            rows: 50_000,
            make: |i| {
                json!({"email": format!("bench{i}@example.com"), "plan": "pro", "n": i,
                             "city": "Oslo", "score": i as f64 / 7.0})
            },
            per_sec: 5.0,
            endpoint: "POST /api/users/bulkUpdate",
        },
        Case {
            name: "events insert",
            object: "events",
            op: "insert",
            rows: 100_000,
            make: |i| {
                json!({"eventName": "viewed", "email": format!("bench{}@example.com", i % 20_000),
                             "sku": format!("sku-{}", i % 977), "n": i, "createdAt": 1_790_000_000 + i as i64})
            },
            per_sec: 10.0,
            endpoint: "POST /api/events/trackBulk",
        },
        Case {
            name: "catalog item upsert",
            object: "catalog_items",
            op: "upsert",
            rows: 200_000,
            make: |i| {
                json!({"itemId": format!("item-{i}"), "name": format!("Item {i}"), "price": i % 500,
                             "tags": ["a", "b"]})
            },
            per_sec: 100.0,
            endpoint: "POST /api/catalogs/{name}/items",
        },
    ];
    println!(
        "write_throughput: rate limits on (time scale 1), median of {RUNS} runs, 1000 rows per bulk request"
    );
    println!(
        "  {:<20} {:>7} {:>7} {:>8} {:>8} {:>5} {:>9} {:>8} {:>8} {:>8} {:>9}  limit",
        "object",
        "rows",
        "wall s",
        "rows/s",
        "requests",
        "429s",
        "sim ms/rq",
        "ceiling",
        "min wall",
        "paced",
        "paced min"
    );
    for c in &cases {
        let runs: Vec<Measured> = (0..RUNS).map(|_| run(c)).collect();
        let secs = median(runs.iter().map(|m| m.secs).collect());
        let m = runs
            .iter()
            .find(|m| m.secs == secs)
            .expect("the median run");
        // Steady state: `per_sec` requests of 1000 rows a second ("ceiling").
        // A run of N requests under a sliding one-second window needs at
        // least (N - per_sec) / per_sec seconds, the first second's burst
        // being free ("min wall"); with the core's 1.3 s window, 1.3 times
        // that ("paced min"), and its steady rate is ceiling / 1.3 ("paced").
        let ceiling = c.per_sec * 1000.0;
        let windows = (m.requests as f64 - c.per_sec).max(0.0) / c.per_sec;
        println!(
            "  {:<20} {:>7} {:>7.2} {:>8.0} {:>8} {:>5} {:>9.1} {:>8.0} {:>8.2} {:>8.0} {:>9.2}  {} {}/s",
            c.name,
            c.rows,
            secs,
            c.rows as f64 / secs,
            m.requests,
            m.r429,
            m.server_ms as f64 / m.requests.max(1) as f64,
            ceiling,
            windows,
            ceiling / PACED_WINDOW_S,
            windows * PACED_WINDOW_S,
            c.endpoint,
            c.per_sec
        );
    }
}
