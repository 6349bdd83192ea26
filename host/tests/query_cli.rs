//! `iterable-connector query` through the component against the simulator:
//! SELECT rows equal the same filter over a plain `read`, EXPLAIN shows the
//! pushdown, INSERT … RETURNING and CALL write, bad SQL is a typed error.
//!
//! Needs the wasm built first (see `BUILD_HINT`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Value, json};

const KEY: &str = "test-key-host-query";

fn start_sim() -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: 31,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        faults: FaultOptions::default(),
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn config(sim: &RunningSim) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iterable-host-query-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!(
        "{}.json",
        sim.base_url().replace([':', '/', '.'], "_")
    ));
    let cfg = json!({"base_url": sim.base_url(), "api_key": KEY, "time_scale": 1000,
        "start_date": "2026-09-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"});
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}

fn run(cfg: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_iterable-connector"))
        .arg("query")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(KEY), "the key leaked: {all}");
    assert!(!all.contains("panicked"), "{all}");
    out
}

fn jsonl(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every record of `stream` through `read`.
fn read_all(cfg: &Path, stream: &str) -> Vec<Value> {
    let catalog = cfg.with_extension(format!("{stream}.catalog.json"));
    std::fs::write(
        &catalog,
        json!({"streams": [{"stream": {"name": stream}, "sync_mode": "full_refresh"}]}).to_string(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iterable-connector"))
        .args(["read", "--config"])
        .arg(cfg)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert!(out.status.success());
    jsonl(&out)
        .into_iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| m["record"]["data"].clone())
        .collect()
}

#[test]
fn select_rows_equal_the_filter_over_a_plain_read() {
    let sim = start_sim();
    let cfg = config(&sim);
    let out = run(
        &cfg,
        &[
            "--format",
            "jsonl",
            "SELECT id, upper(name) AS loud FROM Lists WHERE listType = :t ORDER BY id",
            "--param",
            "t=Dynamic",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut want: Vec<Value> = read_all(&cfg, "lists")
        .into_iter()
        .filter(|l| l["listType"] == "Dynamic")
        .map(|l| json!({"id": l["id"], "loud": l["name"].as_str().unwrap().to_uppercase()}))
        .collect();
    want.sort_by_key(|v| v["id"].as_i64());
    assert!(!want.is_empty());
    assert_eq!(jsonl(&out), want);

    let out = run(&cfg, &["SELECT id, name FROM lists ORDER BY id LIMIT 2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("id") && lines[0].contains("name"),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"(2 rows)"));
}

#[test]
fn explain_shows_the_pushdown_and_the_first_request() {
    let sim = start_sim();
    let cfg = config(&sim);
    let out = run(
        &cfg,
        &["EXPLAIN SELECT * FROM Events WHERE email = 'a@example.com' AND eventName = 'x'"],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pushed down") && text.contains("→ email"),
        "{text}"
    );
    assert!(
        text.contains("GET http") && text.contains("/api/events/a%40example.com"),
        "{text}"
    );
    assert!(
        text.contains("eventName"),
        "the rest is filtered on records: {text}"
    );
}

#[test]
fn insert_returning_and_call_write() {
    let sim = start_sim();
    let cfg = config(&sim);
    let out = run(
        &cfg,
        &[
            "INSERT INTO Lists (name) VALUES ('q-one'), (:n) RETURNING id",
            "--param",
            "n=q-two",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = jsonl(&out);
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "ok" && r["id"].is_string())
    );
    let names: Vec<Value> = read_all(&cfg, "lists")
        .into_iter()
        .map(|l| l["name"].clone())
        .collect();
    assert!(names.contains(&json!("q-one")) && names.contains(&json!("q-two")));

    let out = run(
        &cfg,
        &["CALL AbortCampaign(:id)", "--param", "id=999999999"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "Iterable refuses an unknown campaign"
    );
    assert_eq!(jsonl(&out)[0]["status"], "failed");
}

#[test]
fn bad_sql_is_a_typed_error() {
    let sim = start_sim();
    let cfg = config(&sim);
    for (sql, needle) in [
        ("SELEC * FROM lists", "syntax error"),
        ("SELECT * FROM events", "WHERE email"),
        ("SELECT nope FROM lists", "unknown column"),
        ("SELECT name, count(*) FROM lists GROUP BY name", "DuckDB"),
        ("DELETE FROM campaigns WHERE id = 1", "DELETE on"),
    ] {
        let out = run(&cfg, &[sql]);
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("invalid-input") && err.contains(needle),
            "{sql}: {err}"
        );
    }
}

/// Reads reuse kept-alive connections: `-v` reports fewer connections than
/// requests (the simulator keeps connections alive, as Iterable does).
#[test]
fn reads_reuse_connections() {
    let sim = start_sim();
    let cfg = config(&sim);
    let catalog = cfg.with_extension("reuse.catalog.json");
    let streams: Vec<_> = [
        "lists",
        "campaigns",
        "templates",
        "email_send",
        "email_open",
    ]
    .iter()
    .map(|s| json!({"stream": {"name": s}, "sync_mode": "full_refresh"}))
    .collect();
    std::fs::write(&catalog, json!({ "streams": streams }).to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iterable-connector"))
        .args(["-v", "read", "--config"])
        .arg(&cfg)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("requests over"))
        .unwrap_or_else(|| panic!("no counts: {err}"));
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (requests, connections) = (nums[0], nums[1]);
    assert!(requests >= 5, "{line}");
    assert!(connections < requests, "no connection was reused: {line}");
}

/// `--format csv` prints the same rows as `jsonl`, through the component's
/// CSV encoder (header from the SELECT list; `*` gives the stream's columns).
#[test]
fn csv_output_holds_the_same_rows() {
    let sim = start_sim();
    let cfg = config(&sim);
    let sql = "SELECT id, name FROM lists ORDER BY id";
    let rows = jsonl(&run(&cfg, &["--format", "jsonl", sql]));
    let out = run(&cfg, &["--format", "csv", sql]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,name"));
    let csv_rows: Vec<String> = lines.map(str::to_string).collect();
    let want: Vec<String> = rows
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap();
            let name = if name.contains([',', '"']) {
                format!("\"{}\"", name.replace('"', "\"\""))
            } else {
                name.to_string()
            };
            format!("{},{name}", r["id"])
        })
        .collect();
    assert_eq!(csv_rows, want);
    let out = run(&cfg, &["--format", "csv", "SELECT * FROM lists LIMIT 1"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("id,name") || header.contains("id"),
        "{header}"
    );
    assert!(header.ends_with("_extra"), "{header}");
}

/// Lines skipped on request (`skip_malformed_lines`) are counted in a WARN
/// LOG message of `read`, never skipped silently.
#[test]
fn skipped_malformed_lines_are_reported() {
    let sim = iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: 31,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        faults: FaultOptions {
            malformed_rate: 0.5,
            ..FaultOptions::default()
        },
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    });
    let dir = std::env::temp_dir().join(format!("iterable-host-skip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("cfg.json");
    std::fs::write(
        &cfg,
        json!({"base_url": sim.base_url(), "api_key": KEY, "time_scale": 1000,
            "start_date": "2026-09-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z",
            "skip_malformed_lines": true})
        .to_string(),
    )
    .unwrap();
    let catalog = dir.join("catalog.json");
    std::fs::write(
        &catalog,
        json!({"streams": [{"stream": {"name": "email_send"}, "sync_mode": "full_refresh"}]})
            .to_string(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iterable-connector"))
        .args(["read", "--config"])
        .arg(&cfg)
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    assert!(out.status.success());
    let warned = jsonl(&out).into_iter().any(|m| {
        m["type"] == "LOG"
            && m["log"]["level"] == "WARN"
            && m["log"]["message"]
                .as_str()
                .is_some_and(|t| t.contains("malformed lines skipped"))
    });
    assert!(warned, "{}", String::from_utf8_lossy(&out.stdout));
}

/// UPDATE and DELETE read the rows their WHERE selects, then write each by
/// key: one result line per row found, and the simulator holds the change.
#[test]
fn update_and_delete_write_the_rows_they_find() {
    let sim = start_sim();
    let cfg = config(&sim);
    let out = run(
        &cfg,
        &["INSERT INTO Lists (name) VALUES ('drop-me-1'), ('drop-me-2'), ('keep-me')"],
    );
    assert!(out.status.success());
    let out = run(&cfg, &["DELETE FROM Lists WHERE name LIKE 'drop-me-%'"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = jsonl(&out);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["status"] == "ok"));
    let names: Vec<Value> = read_all(&cfg, "lists")
        .into_iter()
        .map(|l| l["name"].clone())
        .collect();
    assert!(!names.contains(&json!("drop-me-1")) && !names.contains(&json!("drop-me-2")));
    assert!(names.contains(&json!("keep-me")));

    let out = run(&cfg, &["UPDATE Lists SET name = 'x' WHERE id = 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("UPDATE works on"));
}
