//! Faults on writes over real HTTP: 500s and 429s that apply nothing, the
//! connection cut after the write was applied, applied counts on
//! `GET /_sim/applied`, and writes that become visible only later.

mod server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use iterable_sim::types::Scale;
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Value, json};
use server_support::{Resp, request};

const KEY: &str = "test-key";

fn sim(faults: FaultOptions) -> RunningSim {
    let mut opts = SimOptions {
        faults,
        ..SimOptions::default()
    };
    opts.world.scale = Scale::Tiny;
    iterable_sim::spawn(opts)
}

fn send(sim: &RunningSim, method: &str, target: &str, body: Option<Value>) -> Resp {
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
    request(
        &sim.base_url(),
        method,
        target,
        &[("Api-Key", KEY)],
        bytes.as_deref(),
    )
}

fn track(sim: &RunningSim, id: &str) -> u16 {
    send(
        sim,
        "POST",
        "/api/events/track",
        Some(json!({"email": "w@acme.example", "eventName": "e", "id": id})),
    )
    .status
}

/// Sends a request and returns every byte the server sent back before it
/// closed the connection.
fn raw(sim: &RunningSim, method: &str, target: &str, body: &Value) -> Vec<u8> {
    let host = sim.base_url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = serde_json::to_vec(body).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nApi-Key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    got
}

fn list_names(sim: &RunningSim) -> Vec<String> {
    let r = send(sim, "GET", "/api/lists", None);
    assert_eq!(r.status, 200);
    r.json()["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn write_500s_hit_writes_only_and_apply_nothing() {
    let sim = sim(FaultOptions {
        write_error_rate: 1.0,
        ..FaultOptions::default()
    });
    let r = send(&sim, "POST", "/api/lists", Some(json!({"name": "never"})));
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["code"], "GenericError");
    assert_eq!(track(&sim, "e-1"), 500);
    // Reads (and exports, which are POSTs too) are untouched.
    assert!(!list_names(&sim).contains(&"never".to_string()));
    assert_eq!(send(&sim, "GET", "/api/campaigns", None).status, 200);
    let r = send(
        &sim,
        "POST",
        "/api/export/start",
        Some(json!({"dataTypeName": "user", "outputFormat": "application/x-json-stream"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(sim.applied().is_empty(), "{:?}", sim.applied());
}

#[test]
fn a_429_storm_refuses_exactly_its_window_of_writes() {
    let sim = sim(FaultOptions {
        write_throttle_storm: Some((2, 3)),
        ..FaultOptions::default()
    });
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(track(&sim, &format!("s-{i}")));
        // Reads in between neither count nor suffer.
        assert_eq!(send(&sim, "GET", "/api/channels", None).status, 200);
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429, 200, 200, 200]);
    let r = send(
        &sim,
        "POST",
        "/api/events/track",
        Some(json!({"email": "w@acme.example", "eventName": "e", "id": "after"})),
    );
    assert_eq!(r.status, 200);
    let applied = sim.applied();
    let events = &applied["event"];
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(!events.contains_key("s-2") && !events.contains_key("s-4"));
    assert!(events.values().all(|n| *n == 1));
}

#[test]
fn random_write_429s_and_500s_are_deterministic_per_seed() {
    let pattern = |seed: u64| {
        let mut opts = SimOptions {
            faults: FaultOptions {
                write_throttle_rate: 0.3,
                write_error_rate: 0.3,
                ..FaultOptions::default()
            },
            ..SimOptions::default()
        };
        opts.world.seed = seed;
        let sim = iterable_sim::spawn(opts);
        let statuses: Vec<u16> = (0..40).map(|i| track(&sim, &format!("r-{i}"))).collect();
        let ok = statuses.iter().filter(|s| **s == 200).count() as u64;
        assert_eq!(sim.applied()["event"].len() as u64, ok);
        statuses
    };
    let a = pattern(5);
    assert_eq!(a, pattern(5));
    assert!(
        a.contains(&429) && a.contains(&500) && a.contains(&200),
        "{a:?}"
    );
    assert_ne!(a, pattern(6));
    // A 429 from the storm looks like Iterable's.
    let sim = sim(FaultOptions {
        write_throttle_rate: 1.0,
        retry_after_secs: Some(2),
        ..FaultOptions::default()
    });
    let r = send(&sim, "POST", "/api/lists", Some(json!({"name": "x"})));
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["code"], "RateLimitExceeded");
    assert_eq!(r.header("retry-after"), Some("2"));
}

#[test]
fn a_cut_write_is_applied_and_answered_with_nothing() {
    let sim = sim(FaultOptions {
        write_cut_rate: 1.0,
        ..FaultOptions::default()
    });
    let got = raw(&sim, "POST", "/api/lists", &json!({"name": "cut-1"}));
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // Applied once, visible, counted; reads are never cut.
    let names = list_names(&sim);
    assert_eq!(names.iter().filter(|n| *n == "cut-1").count(), 1);
    assert_eq!(sim.applied_count("list.create", "cut-1"), 1);
    let log = sim.request_log();
    let cut = log
        .iter()
        .find(|e| e.path == "/api/lists" && e.method == "POST");
    assert_eq!(cut.map(|e| (e.status, e.bytes)), Some((0, 0)), "{log:?}");
    // A write refused by its handler is cut too (the network does not care),
    // and counts nothing.
    let got = raw(
        &sim,
        "POST",
        "/api/campaigns/trigger",
        &json!({"campaignId": 1, "listIds": [1]}),
    );
    assert!(got.is_empty());
    assert!(!sim.applied().contains_key("campaign.trigger"));
}

#[test]
fn write_cuts_are_deterministic_per_seed_and_calibrated() {
    let run = |seed: u64| {
        let mut opts = SimOptions {
            faults: FaultOptions {
                write_cut_rate: 0.25,
                ..FaultOptions::default()
            },
            ..SimOptions::default()
        };
        opts.world.seed = seed;
        let sim = iterable_sim::spawn(opts);
        let cut: Vec<bool> =
            (0..60)
                .map(|i| {
                    raw(&sim, "POST", "/api/events/track",
                    &json!({"email": "w@acme.example", "eventName": "e", "id": format!("c-{i}")}))
                .is_empty()
                })
                .collect();
        // Cut or not, every write was applied exactly once.
        let applied = sim.applied();
        assert_eq!(applied["event"].len(), 60);
        assert!(applied["event"].values().all(|n| *n == 1));
        cut
    };
    let a = run(3);
    assert_eq!(a, run(3));
    let n = a.iter().filter(|c| **c).count();
    assert!((5..=25).contains(&n), "about a quarter cut: {n}");
}

#[test]
fn the_admin_route_needs_no_key_and_escapes_faults_and_the_log() {
    let sim = sim(FaultOptions {
        error_rate: 1.0,
        cut_after_bytes: Some(5),
        rate_limits: true,
        ..FaultOptions::default()
    });
    for _ in 0..3 {
        let r = request(&sim.base_url(), "GET", "/_sim/applied", &[], None);
        assert!(r.complete);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["applied"], json!({}));
        assert_eq!(v["pendingWrites"], 0);
        assert!(v["kinds"].as_array().unwrap().len() >= 20);
    }
    let r = request(&sim.base_url(), "GET", "/_sim/nothing", &[], None);
    assert_eq!(r.status, 404);
    assert!(sim.request_log().is_empty(), "{:?}", sim.request_log());
}

#[test]
fn asynchronous_writes_are_answered_at_once_and_visible_later() {
    let sim = sim(FaultOptions {
        write_visible_after_ms: 400,
        ..FaultOptions::default()
    });
    assert_eq!(send(&sim, "POST", "/api/catalogs/late", None).status, 201);
    let r = send(
        &sim,
        "PUT",
        "/api/catalogs/late/items/i1",
        Some(json!({"value": {"v": 1}})),
    );
    assert_eq!(r.status, 202);
    assert_eq!(track(&sim, "late-ev"), 200);
    let r = send(
        &sim,
        "POST",
        "/api/users/bulkUpdate",
        Some(json!({"users": [{"email": "w@acme.example", "dataFields": {"plan": "pro"}}]})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["successCount"], 1);
    // Not yet.
    assert_eq!(
        send(&sim, "GET", "/api/catalogs/late/items/i1", None).status,
        404
    );
    assert_eq!(
        send(&sim, "GET", "/api/users/w@acme.example", None).json(),
        json!({})
    );
    let admin = request(&sim.base_url(), "GET", "/_sim/applied", &[], None).json();
    assert_eq!(admin["pendingWrites"], 3);
    std::thread::sleep(Duration::from_millis(500));
    let r = send(&sim, "GET", "/api/catalogs/late/items/i1", None);
    assert_eq!((r.status, &r.json()["value"]), (200, &json!({"v": 1})));
    let u = send(&sim, "GET", "/api/users/w@acme.example", None).json();
    assert_eq!(u["user"]["dataFields"]["plan"], "pro");
    let ev = send(&sim, "GET", "/api/events/w@acme.example", None).json();
    assert_eq!(ev["events"].as_array().unwrap().len(), 1, "{ev}");
}
