//! SQL end to end: statements planned by the core and run by its query and
//! write sessions over real HTTP against the simulator. Each SELECT's rows
//! equal the same filter applied to a plain read of the stream, and the
//! simulator's request log shows what was pushed down.

use chrono::{DateTime, Duration, Utc};
use connector_core::{
    Config, QuerySession, ReadSession, Record, RowStatus, SessionState, SqlPlan, StreamSelection,
    WriteSession, plan_sql,
};
use integration_tests::driver::{self, HttpTransport, RealClock};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Map, Value, json};

const KEY: &str = "test-key-sql";

fn sim_now() -> DateTime<Utc> {
    "2026-11-01T00:00:00Z".parse().unwrap()
}

fn start_sim() -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: 5,
            scale: Scale::Tiny,
            now: sim_now(),
            late_index_secs: 0,
        },
        faults: FaultOptions::default(),
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn config(sim: &RunningSim) -> Config {
    Config::from_json(&json!({"base_url": sim.base_url(),
        "start_date": (sim_now() - Duration::days(60)).to_rfc3339(),
        "end_date": sim_now().to_rfc3339(), "time_scale": 1000}))
    .unwrap()
}

/// Every record of `stream`, read plainly with `config`.
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

/// Runs a SELECT; returns its rows and the request log it caused.
fn query(sim: &RunningSim, sql: &str, params: Value) -> (Vec<Record>, Vec<String>) {
    query_with(sim, &config(sim), sql, params)
}

fn query_with(
    sim: &RunningSim,
    config: &Config,
    sql: &str,
    params: Value,
) -> (Vec<Record>, Vec<String>) {
    let params = params.as_object().cloned().unwrap_or_default();
    let plan = match plan_sql(config, sql, &params, None).unwrap() {
        SqlPlan::Select(p) => p,
        other => panic!("{sql}: {other:?}"),
    };
    let stream = plan.stream.clone();
    let before = sim.request_log().len();
    let mut s = QuerySession::open(plan).unwrap();
    let out = driver::run(&mut s, &mut HttpTransport::new(KEY), &mut RealClock, None).unwrap();
    let log: Vec<String> = sim.request_log()[before..]
        .iter()
        .map(|e| format!("{} {}?{}", e.method, e.path, e.query))
        .collect();
    // The summary counts the read's requests and the query's rows.
    let summary = out.summary.as_ref().expect("a summary");
    assert_eq!(
        summary.streams[0].requests as usize,
        log.len(),
        "{summary:?}"
    );
    let rows = out.records.get(&stream).map_or(0, Vec::len);
    assert_eq!(summary.streams[0].records as usize, rows);
    (out.records.get(&stream).cloned().unwrap_or_default(), log)
}

fn text(r: &Record, k: &str) -> String {
    r.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

#[test]
fn a_residual_filter_order_and_projection_equal_the_same_over_a_plain_read() {
    let sim = start_sim();
    let all = read_all(&config(&sim), "lists");
    let (rows, _) = query(
        &sim,
        "SELECT id, name AS title FROM Lists WHERE lower(name) LIKE '%a%' ORDER BY id DESC",
        json!({}),
    );
    let mut expect: Vec<Record> = all
        .iter()
        .filter(|r| text(r, "name").to_lowercase().contains('a'))
        .map(|r| {
            let mut m = Map::new();
            m.insert("id".into(), r["id"].clone());
            m.insert("title".into(), r["name"].clone());
            m
        })
        .collect();
    expect.sort_by_key(|r| std::cmp::Reverse(r["id"].as_i64()));
    assert!(
        !expect.is_empty() && expect.len() < all.len(),
        "a real filter"
    );
    assert_eq!(rows, expect);
}

#[test]
fn a_created_at_range_becomes_the_export_window() {
    let sim = start_sim();
    let all = read_all(&config(&sim), "email_send");
    // A range over the middle half of the data.
    let mut times: Vec<DateTime<Utc>> = all
        .iter()
        .map(|r| connector_core::parse_wire_timestamp(&r["createdAt"]).unwrap())
        .collect();
    times.sort();
    let (from_t, to_t) = (times[times.len() / 4], times[times.len() * 3 / 4]);
    let (from, to) = (from_t.to_rfc3339(), to_t.to_rfc3339());
    let (from, to) = (from.as_str(), to.as_str());
    let (rows, log) = query(
        &sim,
        "SELECT * FROM email_send WHERE createdAt >= :from AND createdAt < :to",
        json!({"from": from, "to": to}),
    );
    let in_range = |r: &Record| {
        let t = connector_core::parse_wire_timestamp(&r["createdAt"]).unwrap();
        t >= from.parse::<DateTime<Utc>>().unwrap() && t < to.parse::<DateTime<Utc>>().unwrap()
    };
    let expect: Vec<&Record> = all.iter().filter(|r| in_range(r)).collect();
    assert!(!expect.is_empty() && expect.len() < all.len());
    let key = |r: &Record| r["_key"].as_str().unwrap_or("").to_string();
    let mut got: Vec<String> = rows.iter().map(key).collect();
    let mut want: Vec<String> = expect.iter().map(|r| key(r)).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let exports: Vec<&String> = log.iter().filter(|l| l.contains("/api/export/")).collect();
    assert!(!exports.is_empty());
    let first_day = from_t.format("%Y-%m-%d").to_string();
    assert!(
        exports[0].contains(&format!("startDateTime={first_day}")),
        "the first window starts at the range: {}",
        exports[0]
    );
}

#[test]
fn the_user_filter_reads_one_user_and_limit_stops_early() {
    let sim = start_sim();
    let members = read_all(&config(&sim), "list_users");
    let email = text(&members[0], "email");
    let (rows, log) = query(
        &sim,
        "SELECT eventName, createdAt FROM Events WHERE email = :e",
        json!({"e": email}),
    );
    assert_eq!(log.len(), 1, "one by-user request: {log:?}");
    assert!(log[0].starts_with("GET /api/events/"), "{log:?}");
    let mut cfg = config(&sim);
    cfg.email = Some(email.clone());
    let plain = read_all(&cfg, "events");
    assert_eq!(rows.len(), plain.len());
    assert!(
        rows.iter()
            .all(|r| r.len() == 2 && r.contains_key("eventName"))
    );

    // Day-long windows: a full read takes many requests, LIMIT 3 one.
    let mut daily = config(&sim);
    daily.window_days = Some(1);
    let full = {
        let before = sim.request_log().len();
        read_all(&daily, "email_send");
        sim.request_log().len() - before
    };
    let (rows, log) = query_with(&sim, &daily, "SELECT * FROM email_send LIMIT 3", json!({}));
    assert_eq!(rows.len(), 3);
    assert!(
        log.len() < full,
        "LIMIT stops reading: {} vs {full}",
        log.len()
    );

    let list_id = members[0]["listId"].as_i64().unwrap();
    let (rows, log) = query(
        &sim,
        "SELECT email FROM list_users WHERE listId = :l",
        json!({"l": list_id}),
    );
    let expect = members
        .iter()
        .filter(|m| m["listId"].as_i64() == Some(list_id))
        .count();
    assert_eq!(rows.len(), expect);
    assert!(
        log.iter()
            .all(|l| !l.contains("getUsers") || l.contains(&format!("listId={list_id}"))),
        "only that list is read: {log:?}"
    );
}

#[test]
fn insert_and_call_run_through_the_write_session() {
    let sim = start_sim();
    let cfg = config(&sim);
    let plan = plan_sql(
        &cfg,
        "INSERT INTO Lists (name, description) VALUES ('sql-a', 'from SQL'), ('sql-b', NULL) RETURNING id",
        &Map::new(),
        None,
    )
    .unwrap();
    let SqlPlan::Write(w) = plan else { panic!() };
    assert!(w.returning);
    let mut session = WriteSession::open(cfg.clone(), &w.object, &w.op, &w.options, None).unwrap();
    let out = driver::run_write(
        &mut session,
        w.rows,
        10,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        None,
    )
    .unwrap();
    assert!(out.results.values().all(|r| r.status == RowStatus::Ok));
    assert!(
        out.results.values().all(|r| r.id.is_some()),
        "RETURNING gives the new ids"
    );
    let names: Vec<String> = read_all(&cfg, "lists")
        .iter()
        .map(|r| text(r, "name"))
        .collect();
    assert!(names.contains(&"sql-a".to_string()) && names.contains(&"sql-b".to_string()));

    let triggered = read_all(&cfg, "campaigns")
        .into_iter()
        .find(|c| c["type"] == "Triggered")
        .expect("a triggered campaign");
    let id = triggered["id"].as_i64().unwrap();
    let list_id = read_all(&cfg, "lists")[0]["id"].clone();
    let params = json!({"id": id, "lists": format!("[{list_id}]")});
    let plan = plan_sql(
        &cfg,
        "CALL TriggerCampaign(:id, :lists)",
        params.as_object().unwrap(),
        None,
    )
    .unwrap();
    let SqlPlan::Write(w) = plan else { panic!() };
    let mut session = WriteSession::open(cfg, &w.object, &w.op, &w.options, None).unwrap();
    let out = driver::run_write(
        &mut session,
        w.rows,
        1,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        None,
    )
    .unwrap();
    assert_eq!(out.results[&0].status, RowStatus::Ok, "{:?}", out.results);
    assert_eq!(sim.applied_count("campaign.trigger", &id.to_string()), 1);
}

#[test]
fn one_campaign_of_an_export_is_an_export_parameter() {
    let sim = start_sim();
    let all = read_all(&config(&sim), "email_send");
    let campaign = all[all.len() / 2]["campaignId"].as_i64().unwrap();
    let (rows, log) = query(
        &sim,
        "SELECT messageId, campaignId FROM email_send WHERE campaignId = :c",
        json!({"c": campaign}),
    );
    let want = all
        .iter()
        .filter(|r| r["campaignId"].as_i64() == Some(campaign))
        .count();
    assert!(want > 0 && want < all.len());
    assert_eq!(rows.len(), want);
    assert!(
        rows.iter()
            .all(|r| r["campaignId"].as_i64() == Some(campaign))
    );
    let exports: Vec<&String> = log.iter().filter(|l| l.contains("/api/export/")).collect();
    assert!(!exports.is_empty());
    assert!(
        exports
            .iter()
            .all(|l| l.contains(&format!("campaignId={campaign}"))),
        "{exports:?}"
    );
}
