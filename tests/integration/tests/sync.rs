//! Two-way sync of catalog items with a local table, over real HTTP against
//! a simulator that shows writes only after a delay (as Iterable does with
//! catalog item writes): first run, changes and deletes on each side,
//! conflicts per policy, a second run with nothing to do, and a sync killed
//! midway that converges when run again.

use std::collections::BTreeMap;

use connector_core::{
    Config, ErrorKind, ReadSession, SessionState, StreamSelection, SyncOptions, SyncSession,
    WriteOptions, WriteSession,
};
use integration_tests::driver::{self, HttpTransport, RealClock, SyncRun};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Map, Value, json};

const KEY: &str = "test-key-sync";
const CATALOG: &str = "sync-test";

type Table = BTreeMap<String, Map<String, Value>>;

fn start_sim() -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: 41,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        faults: FaultOptions {
            write_visible_after_ms: 200,
            ..FaultOptions::default()
        },
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn config(sim: &RunningSim) -> Config {
    Config::from_json(&json!({"base_url": sim.base_url(), "time_scale": 1000})).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// Writes straight to Iterable (a change made there by someone else).
fn remote_write(sim: &RunningSim, op: &str, rows: Vec<Value>) {
    let options = WriteOptions::from_json(&json!({"catalog": CATALOG, "confirm": true})).unwrap();
    let mut s = WriteSession::open(config(sim), "catalog_items", op, &options, None).unwrap();
    let out = driver::run_write(
        &mut s,
        rows,
        50,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        None,
    )
    .unwrap();
    assert!(
        out.results
            .values()
            .all(|r| r.status == connector_core::RowStatus::Ok)
    );
}

/// Iterable's items of the catalog, by id, once every write shows.
fn remote_table(sim: &RunningSim) -> Table {
    std::thread::sleep(std::time::Duration::from_millis(250));
    let mut cfg = config(sim);
    cfg.catalog_names = Some(vec![CATALOG.into()]);
    let mut s = ReadSession::open(
        cfg,
        &[StreamSelection {
            name: "catalog_items".into(),
            incremental: false,
        }],
        &SessionState::new(),
    )
    .unwrap();
    let out = driver::run(&mut s, &mut HttpTransport::new(KEY), &mut RealClock, None).unwrap();
    out.records
        .get("catalog_items")
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r["itemId"].as_str().unwrap().to_string(),
                r["value"].as_object().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

fn sync(sim: &RunningSim, local: &mut Table, options: Value, state: Option<&Value>) -> SyncRun {
    sync_until(sim, local, options, state, None)
}

fn sync_until(
    sim: &RunningSim,
    local: &mut Table,
    options: Value,
    state: Option<&Value>,
    stop_after_fetches: Option<usize>,
) -> SyncRun {
    let mut options = options;
    options["catalog"] = json!(CATALOG);
    options["confirm_timeout_ms"] = json!(10_000);
    let options = SyncOptions::from_json(&options).unwrap();
    let mut s = SyncSession::open(config(sim), "catalog_items", options, state).unwrap();
    driver::run_sync(
        &mut s,
        local,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        stop_after_fetches,
    )
    .unwrap()
}

fn table(rows: &[(&str, Value)]) -> Table {
    rows.iter()
        .map(|(k, v)| (k.to_string(), obj(v.clone())))
        .collect()
}

fn prepare(sim: &RunningSim) {
    let cfg = config(sim);
    let mut s =
        WriteSession::open(cfg, "catalogs", "insert", &WriteOptions::default(), None).unwrap();
    driver::run_write(
        &mut s,
        vec![json!({"name": CATALOG})],
        1,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        None,
    )
    .unwrap();
}

#[test]
fn both_sides_converge_and_changes_flow_each_way() {
    let sim = start_sim();
    prepare(&sim);
    remote_write(
        &sim,
        "upsert",
        vec![
            json!({"itemId": "b", "value": {"price": 2}}),
            json!({"itemId": "c", "value": {"price": 3}}),
            json!({"itemId": "d", "value": {"price": 4}}),
        ],
    );
    let mut local = table(&[
        ("a", json!({"price": 1})),
        ("b", json!({"price": 2})),
        ("d", json!({"price": 4})),
    ]);

    // First run: merged by key, nothing duplicated.
    let first = sync(&sim, &mut local, json!({}), None);
    let s = first.summary.as_ref().unwrap();
    assert_eq!(
        (s.remote_upserts, s.local_upserts, s.unchanged),
        (1, 1, 2),
        "{s:?}"
    );
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!(local, remote_table(&sim));
    assert_eq!(local.len(), 4);
    let state = first.state.clone().expect("a committed state");

    // Nothing changed: the second run only reads.
    let again = sync(&sim, &mut local, json!({}), Some(&state));
    let s = again.summary.as_ref().unwrap();
    assert!(
        s.planned_local.is_empty() && s.planned_remote.is_empty(),
        "{s:?}"
    );
    let state = again.state.unwrap();

    // A local change and a local delete reach Iterable; a change and a
    // delete made in Iterable reach the table.
    local.insert("a".into(), obj(json!({"price": 10})));
    local.remove("b");
    remote_write(
        &sim,
        "upsert",
        vec![json!({"itemId": "c", "value": {"price": 30}})],
    );
    remote_write(&sim, "delete", vec![json!({"itemId": "d"})]);
    let run = sync(&sim, &mut local, json!({}), Some(&state));
    let s = run.summary.as_ref().unwrap();
    assert_eq!(
        (
            s.remote_upserts,
            s.remote_deletes,
            s.local_upserts,
            s.local_deletes
        ),
        (1, 1, 1, 1),
        "{s:?}"
    );
    assert_eq!(
        local,
        table(&[("a", json!({"price": 10})), ("c", json!({"price": 30}))])
    );
    assert_eq!(local, remote_table(&sim));
    let state = run.state.unwrap();

    // Both sides change one row: `report` leaves it and lists it; then
    // `iterable_wins` takes Iterable's.
    local.insert("a".into(), obj(json!({"price": 11})));
    remote_write(
        &sim,
        "upsert",
        vec![json!({"itemId": "a", "value": {"price": 12}})],
    );
    let run = sync(&sim, &mut local, json!({"policy": "report"}), Some(&state));
    let s = run.summary.as_ref().unwrap();
    assert_eq!(s.conflicts.len(), 1, "{s:?}");
    assert_eq!(s.conflicts[0].key, "a");
    assert_eq!(
        local["a"],
        obj(json!({"price": 11})),
        "report changes nothing"
    );
    let state = run.state.unwrap();
    let run = sync(
        &sim,
        &mut local,
        json!({"policy": "iterable_wins"}),
        Some(&state),
    );
    assert_eq!(run.summary.unwrap().local_upserts, 1);
    assert_eq!(local["a"], obj(json!({"price": 12})));
    assert_eq!(local, remote_table(&sim));
}

#[test]
fn a_sync_killed_midway_converges_when_run_again() {
    for stop in [2, 3, 5] {
        let sim = start_sim();
        prepare(&sim);
        remote_write(
            &sim,
            "upsert",
            (0..5)
                .map(|i| json!({"itemId": format!("r{i}"), "value": {"n": i}}))
                .collect(),
        );
        let mut local: Table = (0..5)
            .map(|i| (format!("l{i}"), obj(json!({"n": i}))))
            .collect();
        let killed = sync_until(&sim, &mut local, json!({}), None, Some(stop));
        assert!(killed.stopped_early, "stop after {stop}");
        // No state was committed: the rerun starts from scratch and must
        // recognise what already got across by content.
        let run = sync(&sim, &mut local, json!({}), killed.state.as_ref());
        assert!(run.summary.unwrap().failures.is_empty());
        let remote = remote_table(&sim);
        assert_eq!(local, remote, "stop after {stop}");
        assert_eq!(local.len(), 10, "nothing duplicated or lost");
    }
}

#[test]
fn bad_input_fails_before_anything_is_written() {
    let sim = start_sim();
    prepare(&sim);
    let e =
        SyncOptions::from_json(&json!({"catalog": CATALOG, "policy": "coin_flip"})).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InvalidInput, Some("policy"))
    );
    let no_catalog = SyncOptions::from_json(&json!({})).unwrap();
    let e = SyncSession::open(config(&sim), "catalog_items", no_catalog.clone(), None)
        .err()
        .unwrap();
    assert_eq!(e.field.as_deref(), Some("catalog"));
    // Templates name the fields the table holds, and not the key or stamps.
    let e = SyncSession::open(config(&sim), "templates", no_catalog, None)
        .err()
        .unwrap();
    assert_eq!(e.field.as_deref(), Some("fields"));
    let stamps = SyncOptions::from_json(&json!({"fields": ["subject", "updatedAt"]})).unwrap();
    let e = SyncSession::open(config(&sim), "templates", stamps, None)
        .err()
        .unwrap();
    assert!(e.message.contains("updatedAt"), "{e}");
    let e = SyncOptions::from_json(&json!({"medium": "fax"})).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("medium"));
    let options = SyncOptions::from_json(&json!({"catalog": CATALOG})).unwrap();
    let e = SyncSession::open(config(&sim), "users", options.clone(), None)
        .err()
        .unwrap();
    assert_eq!(e.field.as_deref(), Some("object"));
    // A catalog's state is not a templates sync's.
    let catalog_state = json!({"v": 1, "object": "catalog_items", "catalog": CATALOG, "keys": {}});
    let templates = SyncOptions::from_json(&json!({"fields": ["subject"]})).unwrap();
    let e = SyncSession::open(config(&sim), "templates", templates, Some(&catalog_state))
        .err()
        .unwrap();
    assert_eq!(e.field.as_deref(), Some("state"));
    let mut s = SyncSession::open(config(&sim), "catalog_items", options, None).unwrap();
    let row = |k: &str| connector_core::LocalRow {
        key: k.into(),
        content: Map::new(),
        changed_ms: None,
    };
    let e = s.push_local(vec![row("x"), row("x")]).unwrap_err();
    assert!(e.message.contains("two local rows"), "{e}");
    assert_eq!(
        sim.applied().values().map(|m| m.len()).sum::<usize>(),
        1,
        "only the catalog"
    );
}
