//! Two-way sync of one medium's templates with a local table, over real
//! HTTP against the simulator: keyed by clientTemplateId, content = the
//! table's fields of the full template; first run, a change on each side, a
//! local insert (a new template) and delete (bulkDelete; a template of a
//! campaign is refused and reported), and a run with nothing to do.

use std::collections::BTreeMap;

use connector_core::{
    Config, ReadSession, RowStatus, SessionState, StreamSelection, SyncOptions, SyncSession,
    WriteOptions, WriteSession,
};
use integration_tests::driver::{self, HttpTransport, RealClock, SyncRun};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{RunningSim, SimOptions};
use serde_json::{Map, Value, json};

const KEY: &str = "test-key-sync-templates";

type Table = BTreeMap<String, Map<String, Value>>;

fn start_sim() -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: 43,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn config(sim: &RunningSim) -> Config {
    Config::from_json(&json!({"base_url": sim.base_url(), "time_scale": 1000})).unwrap()
}

fn sync(sim: &RunningSim, local: &mut Table, state: Option<&Value>) -> SyncRun {
    sync_until(sim, local, state, None)
}

/// A sync stopped after `stop` requests (the last one's answer never read).
fn sync_until(
    sim: &RunningSim,
    local: &mut Table,
    state: Option<&Value>,
    stop: Option<usize>,
) -> SyncRun {
    let options = SyncOptions::from_json(
        &json!({"medium": "Email", "fields": ["name", "subject"], "policy": "newest_wins"}),
    )
    .unwrap();
    let mut s = SyncSession::open(config(sim), "templates", options, state).unwrap();
    driver::run_sync(
        &mut s,
        local,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        stop,
    )
    .unwrap()
}

/// Iterable's Email templates (full models), by templateId.
fn remote(sim: &RunningSim) -> Vec<Map<String, Value>> {
    let mut cfg = config(sim);
    cfg.pushed_query = vec![("messageMedium", "Email".into())];
    let mut s = ReadSession::open(
        cfg,
        &[StreamSelection {
            name: "template_contents".into(),
            incremental: false,
        }],
        &SessionState::new(),
    )
    .unwrap();
    let out = driver::run(&mut s, &mut HttpTransport::new(KEY), &mut RealClock, None).unwrap();
    out.records
        .get("template_contents")
        .cloned()
        .unwrap_or_default()
}

/// The remote templates as the table sees them: clientTemplateId → {name, subject}.
fn remote_table(sim: &RunningSim) -> Table {
    remote(sim)
        .into_iter()
        .filter_map(|r| {
            let key = r.get("clientTemplateId")?.as_str()?.to_string();
            let content = ["name", "subject"]
                .iter()
                .filter_map(|f| r.get(*f).map(|v| (f.to_string(), v.clone())))
                .collect();
            Some((key, content))
        })
        .collect()
}

fn write_templates(sim: &RunningSim, op: &str, rows: Vec<Value>) -> Vec<RowStatus> {
    let options = WriteOptions::from_json(&json!({"medium": "Email"})).unwrap();
    let mut s = WriteSession::open(config(sim), "templates", op, &options, None).unwrap();
    let out = driver::run_write(
        &mut s,
        rows,
        50,
        &mut HttpTransport::new(KEY),
        &mut RealClock,
        None,
    )
    .unwrap();
    out.results.values().map(|r| r.status).collect()
}

#[test]
fn templates_sync_both_ways_by_client_template_id() {
    let sim = start_sim();
    let before = remote(&sim);
    let keyed = remote_table(&sim);
    assert!(keyed.len() >= 2, "the world has keyed Email templates");
    let unkeyed = before.len() - keyed.len();

    // First run into an empty table: every keyed template arrives, the
    // unkeyed ones are left alone, nothing is written to Iterable.
    let mut local = Table::new();
    let first = sync(&sim, &mut local, None);
    let s = first.summary.as_ref().unwrap();
    assert_eq!(s.local_upserts as usize, keyed.len(), "{s:?}");
    assert_eq!((s.remote_upserts, s.remote_deletes), (0, 0));
    assert_eq!(local, keyed);
    assert!(unkeyed > 0, "some templates have no clientTemplateId");
    let state = first.state.clone().unwrap();

    // Nothing changed: no writes either way.
    let applied = sim.applied();
    let again = sync(&sim, &mut local, Some(&state));
    let s = again.summary.as_ref().unwrap();
    assert!(
        s.planned_local.is_empty() && s.planned_remote.is_empty(),
        "{s:?}"
    );
    assert_eq!(sim.applied(), applied);
    let state = again.state.unwrap();

    // A local edit, a local new row, a remote edit.
    let keys: Vec<String> = local.keys().cloned().collect();
    let (edited, remote_edited) = (keys[0].clone(), keys[1].clone());
    local
        .get_mut(&edited)
        .unwrap()
        .insert("subject".into(), json!("Edited here"));
    local.insert(
        "sync-new".into(),
        serde_json::from_value(json!({"name": "New one", "subject": "Hello"})).unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    let status = write_templates(
        &sim,
        "insert",
        vec![json!({"clientTemplateId": remote_edited, "subject": "Edited in Iterable"})],
    );
    assert_eq!(status, [RowStatus::Ok]);
    let run = sync(&sim, &mut local, Some(&state));
    let s = run.summary.as_ref().unwrap();
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!((s.remote_upserts, s.local_upserts), (2, 1), "{s:?}");
    assert_eq!(local[&remote_edited]["subject"], "Edited in Iterable");
    let now = remote_table(&sim);
    assert_eq!(now[&edited]["subject"], "Edited here");
    assert_eq!(now["sync-new"]["name"], "New one");
    assert_eq!(local, now);
    let state = run.state.unwrap();

    // Local deletes: a free template goes; one used by a campaign stays and
    // is reported (Iterable refuses it), the sync carries on.
    let in_campaign = remote(&sim)
        .iter()
        .filter(|r| r.get("campaignId").is_some())
        .find_map(|r| r.get("clientTemplateId")?.as_str().map(String::from))
        .expect("a keyed template used by a campaign");
    local.remove("sync-new");
    local.remove(&in_campaign);
    let run = sync(&sim, &mut local, Some(&state));
    let s = run.summary.as_ref().unwrap();
    assert_eq!(s.remote_deletes, 1, "{s:?}");
    assert!(!remote_table(&sim).contains_key("sync-new"));
    assert_eq!(s.failures.len(), 1, "{:?}", s.failures);
    assert_eq!(s.failures[0].0, in_campaign);
    assert!(
        s.failures[0].1.message.contains("campaign"),
        "{:?}",
        s.failures
    );
    assert!(remote_table(&sim).contains_key(&in_campaign));
}

#[test]
fn remote_edits_arrive_and_a_killed_sync_converges() {
    let sim = start_sim();
    let mut local = Table::new();
    let state = sync(&sim, &mut local, None).state.unwrap();

    // Someone edits two templates in Iterable (the simulator's admin call).
    let changed = sim.change("templates", "Email", 2);
    assert_eq!(changed.len(), 2);
    let run = sync(&sim, &mut local, Some(&state));
    let s = run.summary.as_ref().unwrap();
    assert_eq!((s.local_upserts, s.remote_upserts), (2, 0), "{s:?}");
    for k in &changed {
        assert!(
            local[k]["name"].as_str().unwrap().ends_with("(edited)"),
            "{:?}",
            local[k]
        );
    }
    let state = run.state.unwrap();

    // Local inserts and edits, then syncs killed after 1, 3 and 6
    // requests, each followed by a full run: the same end state, nothing
    // written twice, no template created twice.
    for (i, stop) in [1usize, 3, 6].into_iter().enumerate() {
        let mut table = local.clone();
        let new_key = format!("killed-{i}");
        table.insert(
            new_key.clone(),
            serde_json::from_value(json!({"name": format!("New {i}"), "subject": "s"})).unwrap(),
        );
        let first = table.keys().next().unwrap().clone();
        table
            .get_mut(&first)
            .unwrap()
            .insert("subject".into(), json!(format!("kill {i}")));
        let killed = sync_until(&sim, &mut table, Some(&state), Some(stop));
        assert!(killed.stopped_early, "stop after {stop}");
        let rerun = sync(&sim, &mut table, Some(&state));
        let s = rerun.summary.as_ref().unwrap();
        assert!(s.failures.is_empty(), "{:?}", s.failures);
        assert_eq!(table, remote_table(&sim), "stop after {stop}");
        let copies = remote(&sim)
            .iter()
            .filter(|r| r.get("clientTemplateId") == Some(&json!(new_key)))
            .count();
        assert_eq!(copies, 1, "{new_key} created once");
        let quiet = sync(&sim, &mut table, rerun.state.as_ref());
        let q = quiet.summary.as_ref().unwrap();
        assert!(
            q.planned_local.is_empty() && q.planned_remote.is_empty(),
            "{q:?}"
        );
        local = table;
    }
}
