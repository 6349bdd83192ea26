//! The shared SQL statements (`tests/fixtures/sql/statements.json`, also
//! run by `python/tests/test_sql.py`, where DuckDB checks the rows): each
//! statement the core runs makes only the requests the table says (the
//! pushdown), and each statement for an engine fails with
//! `sql-needs-engine` while its table scans make only those requests.

use std::fs;
use std::path::Path;

use chrono::{DateTime, Utc};
use connector_core::{
    Config, QuerySession, ReadSession, Record, SQL_NEEDS_ENGINE, SelectPlan, SessionState, SqlPlan,
    StreamSelection, plan_scans, plan_sql,
};
use integration_tests::driver::{self, HttpTransport, RealClock};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Map, Value, json};

const KEY: &str = "test-key-sql-statements";

/// The Python tests' world (`python/tests/conftest.py`).
fn start_sim() -> RunningSim {
    let now: DateTime<Utc> = "2025-03-15T12:00:00Z".parse().unwrap();
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: 7,
            scale: Scale::Tiny,
            now,
            late_index_secs: 0,
        },
        faults: FaultOptions::default(),
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn config(sim: &RunningSim, extra: Option<&Value>) -> Config {
    let mut cfg = json!({"base_url": sim.base_url(), "start_date": "2025-01-01T00:00:00Z",
        "end_date": "2025-03-15T12:00:00Z", "time_scale": 1000});
    if let Some(Value::Object(m)) = extra {
        for (k, v) in m {
            cfg[k] = v.clone();
        }
    }
    Config::from_json(&cfg).unwrap()
}

fn statements() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sql/statements.json");
    let text = fs::read_to_string(&path).expect("tests/fixtures/sql/statements.json");
    let v: Value = serde_json::from_str(&text).expect("statements.json is JSON");
    v["statements"].as_array().expect("statements").clone()
}

fn read_all(config: &Config, stream: &str) -> Vec<Record> {
    let mut s = ReadSession::open(
        config.clone(),
        &[StreamSelection {
            name: stream.into(),
            incremental: false,
        }],
        &SessionState::new(),
    )
    .unwrap();
    let out = driver::run(&mut s, &mut HttpTransport::new(KEY), &mut RealClock, None).unwrap();
    out.records.get(stream).cloned().unwrap_or_default()
}

/// A parameter: a literal, or `{"$value": {stream, field, at}}`.
fn resolve(config: &Config, v: &Value) -> Value {
    let Some(spec) = v.get("$value") else {
        return v.clone();
    };
    let field = spec["field"].as_str().unwrap();
    let mut values: Vec<Value> = read_all(config, spec["stream"].as_str().unwrap())
        .into_iter()
        .filter_map(|r| r.get(field).cloned())
        .filter(|v| !v.is_null())
        .collect();
    values.sort_by(|a, b| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or("")),
    });
    values.dedup();
    let at = spec["at"].as_f64().unwrap();
    let i = (at * (values.len() - 1) as f64).floor() as usize;
    values[i].clone()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn fill(pattern: &str, params: &Map<String, Value>) -> String {
    let mut out = pattern.to_string();
    for (k, v) in params {
        out = out.replace(&format!("{{{k}}}"), &text(v));
    }
    out
}

fn run(sim: &RunningSim, plan: SelectPlan) -> (Vec<Record>, Vec<(String, String)>) {
    let stream = plan.stream.clone();
    let before = sim.request_log().len();
    let mut s = QuerySession::open(plan).unwrap();
    let out = driver::run(&mut s, &mut HttpTransport::new(KEY), &mut RealClock, None).unwrap();
    let log = sim.request_log()[before..]
        .iter()
        .map(|e| (e.path.clone(), e.query.clone()))
        .collect();
    (out.records.get(&stream).cloned().unwrap_or_default(), log)
}

/// `pattern` with `*` matching any text (none: the whole path).
fn glob(pattern: &str, path: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = path.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[test]
fn shared_statements_push_down_as_the_table_says() {
    let sim = start_sim();
    let plain = config(&sim, None);
    for stmt in statements() {
        let name = stmt["name"].as_str().unwrap();
        let sql = stmt["sql"].as_str().unwrap();
        let params: Map<String, Value> = stmt["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), resolve(&plain, v)))
            .collect();
        let cfg = config(&sim, stmt.get("config"));
        let (rows, log) = match stmt["runs_in"].as_str().unwrap() {
            "core" => {
                let plan = match plan_sql(&cfg, sql, &params, None) {
                    Ok(SqlPlan::Select(p)) => p,
                    other => panic!("{name}: {other:?}"),
                };
                run(&sim, plan)
            }
            _ => {
                let e = plan_sql(&cfg, sql, &params, None).expect_err(name);
                assert_eq!(e.code.as_deref(), Some(SQL_NEEDS_ENGINE), "{name}: {e}");
                let mut rows = Vec::new();
                let mut log = Vec::new();
                for scan in plan_scans(&cfg, sql, &params, None).unwrap() {
                    let (r, l) = run(&sim, scan.plan);
                    rows.extend(r);
                    log.extend(l);
                }
                (rows, log)
            }
        };
        assert!(!rows.is_empty(), "{name}: no rows");
        if stmt["compare"] == "subset" {
            let limit: usize = sql.rsplit("LIMIT ").next().unwrap().trim().parse().unwrap();
            assert_eq!(rows.len(), limit, "{name}");
        }
        assert!(!log.is_empty(), "{name}: no requests");
        if let Some(allowed) = stmt["requests_paths"].as_array() {
            let allowed: Vec<String> = allowed
                .iter()
                .map(|a| fill(a.as_str().unwrap(), &params))
                .collect();
            for (path, _) in &log {
                assert!(
                    allowed.iter().any(|a| glob(a, path)),
                    "{name}: {path} is not one of {allowed:?}"
                );
            }
        }
        if let Some(needle) = stmt["requests_query_contains"].as_str() {
            let needle = fill(needle, &params);
            assert!(
                log.iter().all(|(_, q)| q.contains(&needle)),
                "{name}: {log:?}"
            );
        }
        if let Some(max) = stmt["max_requests"].as_u64() {
            assert!(log.len() as u64 <= max, "{name}: {log:?}");
        }
        if let Some(p) = stmt["export_starts_at"].as_str() {
            let day = &text(&params[p])[..10];
            let first = log
                .iter()
                .find(|(path, q)| path.starts_with("/api/export/") && q.contains("startDateTime"))
                .expect("an export request");
            assert!(
                first.1.contains(&format!("startDateTime={day}")),
                "{name}: {first:?}"
            );
        }
        if stmt["fewer_requests_than_full_read"] == true {
            let stream = sql.split_whitespace().skip_while(|w| *w != "FROM").nth(1);
            let before = sim.request_log().len();
            read_all(&cfg, stream.unwrap());
            let full = sim.request_log().len() - before;
            assert!(log.len() < full, "{name}: {} vs {full}", log.len());
        }
    }
}
