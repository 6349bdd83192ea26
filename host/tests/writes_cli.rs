//! The write path through the component: the `iterable-connector` binary's
//! `write`, `call`, `destination` and `target` commands against the
//! simulator. Every test checks the result lines and the data the simulator
//! holds afterwards.
//!
//! Needs the wasm built first (see `BUILD_HINT`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use integration_tests::http_client::{self, Event};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Value, json};

const KEY: &str = "test-key-host-writes";

fn start_sim(seed: u64) -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        faults: FaultOptions::default(),
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_iterable-connector"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "iterable-host-writes-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A config file for `sim` with the key inside (the host takes it out).
fn config(dir: &Path, sim: &RunningSim, extra: Value) -> PathBuf {
    let mut cfg = json!({"base_url": sim.base_url(), "api_key": KEY, "time_scale": 1000,
        "start_date": "2026-09-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    file(dir, "config.json", &cfg.to_string())
}

fn jsonl(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// Runs the binary with `stdin` piped in.
fn run(args: &[&str], paths: &[(&str, &Path)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for (flag, p) in paths {
        cmd.arg(flag).arg(p);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(KEY), "the API key leaked: {all}");
    assert!(!all.contains("panicked"), "{all}");
    out
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A GET against the simulator, as JSON.
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

fn list_names(sim: &RunningSim) -> Vec<String> {
    let (_, lists) = get(sim, "/api/lists");
    lists["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn write_lists_every_object_and_operation() {
    let out = run(&["write", "--list"], &[], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for (object, op) in [
        ("catalog_items", "upsert"),
        ("users", "update_email"),
        ("list_users", "delete"),
        ("TriggerCampaign", "call"),
    ] {
        assert!(
            text.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.first() == Some(&object) && cols.get(1) == Some(&op)
            }),
            "{object} {op} missing:\n{text}"
        );
    }
}

#[test]
fn write_catalog_items_in_bulk_with_a_bad_row_failing_alone() {
    let sim = start_sim(21);
    let dir = temp_dir("catalog");
    let cfg = config(&dir, &sim, json!({}));
    let out = run(
        &["write", "--object", "Catalogs", "--op", "INSERT"],
        &[("--config", &cfg)],
        jsonl(&[json!({"name": "shoes"})]).as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        lines(&out),
        [json!({"row": 0, "status": "ok", "id": "shoes"})]
    );

    let mut rows: Vec<Value> = (0..150)
        .map(|i| json!({"itemId": format!("sku-{i}"), "name": format!("Shoe {i}"), "price": i}))
        .collect();
    rows.insert(40, json!({"itemId": "bad id!", "name": "x"}));
    let input = file(&dir, "items.jsonl", &jsonl(&rows));
    let out = run(
        &[
            "write",
            "--object",
            "catalog_items",
            "--op",
            "upsert",
            "--set",
            "catalog=shoes",
            "--set",
            "batch_size=100",
        ],
        &[("--config", &cfg), ("--input", &input)],
        b"",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let results = lines(&out);
    assert_eq!(results.len(), 151, "one line per row");
    let numbers: Vec<u64> = results.iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..151).collect::<Vec<_>>(), "in input order");
    let bad = &results[40];
    assert_eq!(bad["status"], "failed");
    assert_eq!(bad["error"]["kind"], "invalid-input");
    assert_eq!(bad["error"]["field"], "itemId");
    assert_eq!(
        results.iter().filter(|r| r["status"] == "ok").count(),
        150,
        "the other rows go on"
    );
    assert_eq!(results[41]["id"], "sku-40");
    let summary = stderr(&out);
    assert!(
        summary.contains("151 rows: 150 ok, 1 failed, 0 unknown; 2 requests"),
        "{summary}"
    );
    let (status, item) = get(&sim, "/api/catalogs/shoes/items/sku-149");
    assert_eq!(status, 200, "{item}");
    let value = item.pointer("/params/value").or(item.get("value")).unwrap();
    assert_eq!(value, &json!({"name": "Shoe 149", "price": 149}));
}

#[test]
fn users_and_events_from_stdin_land_and_repeat_without_doubling() {
    let sim = start_sim(22);
    let dir = temp_dir("events");
    let cfg = config(&dir, &sim, json!({}));
    let users = jsonl(&[
        json!({"email": "cli1@example.com", "firstName": "Ada", "plan": "pro"}),
        json!({"email": "not-an-email", "plan": "free"}),
    ]);
    let out = run(
        &["write", "--object", "users", "--op", "upsert"],
        &[("--config", &cfg)],
        users.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let results = lines(&out);
    assert_eq!(results[0]["status"], "ok");
    assert_eq!(results[1]["status"], "failed");
    assert_eq!(results[1]["error"]["field"], "email");
    let (_, profile) = get(&sim, "/api/users/cli1@example.com");
    assert_eq!(
        profile.pointer("/user/dataFields/plan"),
        Some(&json!("pro"))
    );

    let events = jsonl(&[
        json!({"eventName": "cli_viewed", "email": "cli1@example.com", "createdAt": "2026-10-30T10:00:00Z"}),
        json!({"eventName": "cli_viewed", "email": "cli1@example.com", "createdAt": "2026-10-30T11:00:00Z"}),
    ]);
    for _ in 0..2 {
        let out = run(
            &["write", "--object", "Events"],
            &[("--config", &cfg)],
            events.as_bytes(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let results = lines(&out);
        assert!(
            results
                .iter()
                .all(|r| r["id"].as_str().unwrap().starts_with("ic-ev-"))
        );
    }
    let (_, got) = get(&sim, "/api/events/cli1@example.com");
    let n = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["eventName"] == "cli_viewed")
        .count();
    assert_eq!(n, 2, "the second run replaced, never doubled: {got}");
}

#[test]
fn a_write_resumes_from_its_state_file_without_applying_rows_twice() {
    let sim = start_sim(23);
    let dir = temp_dir("resume");
    let cfg = config(&dir, &sim, json!({}));
    let state = dir.join("write-state.json");
    let names: Vec<Value> = (0..5)
        .map(|i| json!({"name": format!("cli-list-{i}")}))
        .collect();
    // The first run sees three rows (as if stopped there)...
    let first = file(&dir, "first.jsonl", &jsonl(&names[..3]));
    let out = run(
        &["write", "--object", "lists", "--op", "insert"],
        &[("--config", &cfg), ("--input", &first), ("--state", &state)],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["rows_final"], 3);
    // ...the second gets the whole input and writes only what is new.
    let all = file(&dir, "all.jsonl", &jsonl(&names));
    let out = run(
        &["write", "--object", "lists", "--op", "insert"],
        &[("--config", &cfg), ("--input", &all), ("--state", &state)],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("first 3 rows are final"));
    let results = lines(&out);
    let rows: Vec<u64> = results.iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [3, 4]);
    let made: Vec<String> = list_names(&sim)
        .into_iter()
        .filter(|n| n.starts_with("cli-list-"))
        .collect();
    let unique: BTreeSet<&String> = made.iter().collect();
    assert_eq!(made.len(), 5, "{made:?}");
    assert_eq!(unique.len(), 5, "a list was created twice: {made:?}");
}

#[test]
fn procedures_run_with_typed_parameters() {
    let sim = start_sim(24);
    let dir = temp_dir("call");
    let cfg = config(&dir, &sim, json!({}));
    let (_, lists) = get(&sim, "/api/lists");
    let list_id = lists["lists"][0]["id"].as_i64().unwrap();
    let out = run(
        &["write", "--object", "Templates", "--set", "medium=Email"],
        &[("--config", &cfg)],
        jsonl(
            &[json!({"clientTemplateId": "cli-welcome", "name": "Welcome",
                       "subject": "Hi", "html": "<p>Hi</p>"})],
        )
        .as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let template_id: i64 = lines(&out)[0]["id"].as_str().unwrap().parse().unwrap();
    let out = run(
        &["write", "--object", "campaigns"],
        &[("--config", &cfg)],
        jsonl(&[json!({"name": "CLI launch", "templateId": template_id,
                       "listIds": [list_id]})])
        .as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let campaign_id = lines(&out)[0]["id"].as_str().unwrap().to_string();

    let out = run(
        &[
            "call",
            "AbortCampaign",
            "--param",
            &format!("campaignId={campaign_id}"),
        ],
        &[("--config", &cfg)],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lines(&out)[0]["status"], "ok");
    let (_, after) = get(&sim, &format!("/api/campaigns/{campaign_id}"));
    let state = after
        .pointer("/campaignState")
        .or(after.pointer("/campaigns/0/campaignState"));
    assert_eq!(state, Some(&json!("Aborted")), "{after}");

    // A second abort fails with Iterable's reason; a missing parameter
    // fails naming it; an unknown procedure is an error naming the object.
    let out = run(
        &[
            "call",
            "AbortCampaign",
            "--param",
            &format!("campaignId={campaign_id}"),
        ],
        &[("--config", &cfg)],
        b"",
    );
    assert_eq!(out.status.code(), Some(3));
    let r = &lines(&out)[0];
    assert_eq!(
        (r["status"].as_str(), r["error"]["status"].as_u64()),
        (Some("failed"), Some(400))
    );
    let out = run(
        &["call", "TriggerCampaign", "--param", "listIds=[1]"],
        &[("--config", &cfg)],
        b"",
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(lines(&out)[0]["error"]["field"], "campaignId");
    let out = run(&["call", "LaunchRocket"], &[("--config", &cfg)], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown object"), "{}", stderr(&out));
}

/// Our own Airbyte `read` of one simulated project, piped into `destination
/// write` of another: the users land, and every STATE comes back out.
#[test]
fn an_airbyte_source_piped_into_the_destination_lands() {
    let source = start_sim(25);
    let target = start_sim(26);
    let dir = temp_dir("destination");
    let source_cfg = config(&dir, &source, json!({}));
    let catalog = file(
        &dir,
        "catalog.json",
        &json!({"streams": [{"stream": {"name": "users", "json_schema": {}},
            "sync_mode": "full_refresh", "destination_sync_mode": "append"}]})
        .to_string(),
    );
    let read = run(
        &["read"],
        &[("--config", &source_cfg), ("--catalog", &catalog)],
        b"",
    );
    assert!(read.status.success(), "{}", stderr(&read));
    let messages = lines(&read);
    let emails: Vec<String> = messages
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .filter_map(|m| m["record"]["data"]["email"].as_str().map(str::to_string))
        .collect();
    assert!(emails.len() >= 5, "the source read too few users");
    let states_in: Vec<&Value> = messages.iter().filter(|m| m["type"] == "STATE").collect();
    assert!(!states_in.is_empty());

    let target_dir = temp_dir("destination-target");
    let target_cfg = config(
        &target_dir,
        &target,
        json!({"streams": {"users": {"op": "upsert", "options": {"merge_nested_objects": true}}}}),
    );
    let out = run(&["destination", "check"], &[("--config", &target_cfg)], b"");
    assert_eq!(lines(&out)[0]["connectionStatus"]["status"], "SUCCEEDED");
    let out = run(
        &["destination", "write"],
        &[("--config", &target_cfg), ("--catalog", &catalog)],
        &read.stdout,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let echoed: Vec<Value> = lines(&out)
        .into_iter()
        .filter(|m| m["type"] == "STATE")
        .collect();
    assert_eq!(echoed.len(), states_in.len(), "every STATE passed on");
    assert_eq!(&echoed[0], states_in[0]);
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(
        logs.contains(&format!(
            "[users] {} rows: {} ok",
            emails.len(),
            emails.len()
        )),
        "{logs}"
    );
    for email in emails.iter().take(5) {
        let (status, got) = get(&target, &format!("/api/users/{email}"));
        assert_eq!(status, 200, "{email} not written: {got}");
        assert_eq!(got.pointer("/user/email"), Some(&json!(email)));
    }
}

#[test]
fn the_destination_spec_and_a_bad_route_are_explained() {
    let out = run(&["destination", "spec"], &[], b"");
    assert!(out.status.success());
    let spec = &lines(&out)[0];
    assert!(
        spec.pointer("/spec/connectionSpecification/properties/streams")
            .is_some()
    );

    let sim = start_sim(27);
    let dir = temp_dir("bad-route");
    let cfg = config(
        &dir,
        &sim,
        json!({"streams": {"people": {"object": "users", "op": "insert_or_explode"}}}),
    );
    let out = run(&["destination", "check"], &[("--config", &cfg)], b"");
    let status = &lines(&out)[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("is not an operation of users"),
        "{status}"
    );
}

#[test]
fn the_singer_target_writes_records_and_prints_states_after_them() {
    let sim = start_sim(28);
    let dir = temp_dir("singer");
    let cfg = config(
        &dir,
        &sim,
        json!({"streams": {"clicks": {"object": "events"}}}),
    );
    let mut input = String::new();
    input.push_str(&format!(
        "{}\n",
        json!({"type": "SCHEMA", "stream": "clicks", "schema": {}, "key_properties": []})
    ));
    for i in 0..3 {
        input.push_str(&format!(
            "{}\n",
            json!({"type": "RECORD", "stream": "clicks",
            "record": {"eventName": "singer_click", "email": "singer@example.com", "n": i,
                       "createdAt": "2026-10-30T10:00:00Z"}})
        ));
    }
    input.push_str(&format!(
        "{}\n",
        json!({"type": "STATE", "value": {"bookmarks": {"clicks": 3}}})
    ));
    input.push_str(&format!(
        "{}\n",
        json!({"type": "RECORD", "stream": "clicks",
        "record": {"email": "singer@example.com"}})
    ));
    let out = run(&["target"], &[("--config", &cfg)], input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lines(&out), [json!({"bookmarks": {"clicks": 3}})]);
    let log = stderr(&out);
    assert!(log.contains("[clicks] 4 rows: 3 ok, 1 failed"), "{log}");
    assert!(
        log.contains("eventName"),
        "the bad row names its field: {log}"
    );
    let (_, got) = get(&sim, "/api/events/singer@example.com");
    let n = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["eventName"] == "singer_click")
        .count();
    assert_eq!(n, 3, "{got}");
}

/// The demo (what `scripts/demo.sh` runs) ends with a write phase: every
/// row of every write ends `ok`.
#[test]
fn the_demo_syncs_then_writes() {
    let dir = temp_dir("demo");
    let out = run(
        &["demo", "--scale", "tiny", "--time-scale", "600"],
        &[("--out", &dir)],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let writes: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("write "))
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("by-key"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names: Vec<String> = writes
        .iter()
        .map(|c| format!("{} {}", c[0], c[1]))
        .collect();
    assert_eq!(
        names,
        [
            "catalogs insert",
            "catalog_items upsert",
            "users upsert",
            "events insert",
            "lists insert",
            "list_users insert"
        ],
        "{text}"
    );
    for cols in &writes {
        assert_eq!(cols[2], cols[3], "rows == ok: {text}");
        assert_eq!((cols[4], cols[5]), ("0", "0"), "{text}");
    }
}

/// Writes `rows` to `object`/`op` through the binary; every row must end ok.
fn write_ok(cfg: &Path, object: &str, op: &str, sets: &[&str], rows: &[Value]) -> Vec<Value> {
    let mut args = vec!["write", "--object", object, "--op", op];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = run(&args, &[("--config", cfg)], jsonl(rows).as_bytes());
    assert!(
        out.status.success(),
        "{object} {op}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    lines(&out)
}

/// Every object and operation the `write` tests above do not cover, and
/// the procedures, each checked in the simulator's data or its count of
/// applied writes.
#[test]
fn every_other_operation_lands_through_the_cli() {
    let sim = start_sim(29);
    let dir = temp_dir("every-op");
    let cfg = config(&dir, &sim, json!({}));
    let applied = |kind: &str, key: &str| sim.applied_count(kind, key);

    // catalogs delete; catalog items update (merge) and delete
    write_ok(
        &cfg,
        "catalogs",
        "insert",
        &[],
        &[json!({"name": "tmp"}), json!({"name": "gear"})],
    );
    write_ok(&cfg, "catalogs", "delete", &[], &[json!({"name": "tmp"})]);
    assert_eq!(applied("catalog.delete", "tmp"), 1);
    let (_, cats) = get(&sim, "/api/catalogs");
    assert!(!cats.to_string().contains("\"tmp\""), "{cats}");
    write_ok(
        &cfg,
        "catalog_items",
        "upsert",
        &["catalog=gear"],
        &[json!({"itemId": "g1", "name": "Tent", "price": 100})],
    );
    write_ok(
        &cfg,
        "catalog_items",
        "update",
        &["catalog=gear"],
        &[json!({"itemId": "g1", "value": {"price": 90}})],
    );
    let (_, item) = get(&sim, "/api/catalogs/gear/items/g1");
    let value = item.pointer("/params/value").or(item.get("value")).unwrap();
    assert_eq!(
        value,
        &json!({"name": "Tent", "price": 90}),
        "update merges"
    );
    write_ok(
        &cfg,
        "catalog_items",
        "delete",
        &["catalog=gear", "bulk=false"],
        &[json!({"itemId": "g1"})],
    );
    assert_eq!(get(&sim, "/api/catalogs/gear/items/g1").0, 404);

    // lists: members in and out, then the list deleted
    let made = write_ok(
        &cfg,
        "lists",
        "insert",
        &[],
        &[json!({"name": "cli-members"})],
    );
    let list_id = made[0]["id"].as_str().unwrap().to_string();
    let set_list = format!("list_id={list_id}");
    write_ok(
        &cfg,
        "list_users",
        "insert",
        &[&set_list],
        &[
            json!({"email": "m1@example.com"}),
            json!({"email": "m2@example.com"}),
        ],
    );
    write_ok(
        &cfg,
        "list_users",
        "delete",
        &[&set_list],
        &[json!({"email": "m2@example.com"})],
    );
    let (_, members) = get(&sim, &format!("/api/lists/getUsers?listId={list_id}"));
    let members = members.to_string();
    assert!(
        members.contains("m1@example.com") && !members.contains("m2@example.com"),
        "{members}"
    );
    write_ok(
        &cfg,
        "lists",
        "delete",
        &[],
        &[json!({"listId": list_id.parse::<i64>().unwrap()})],
    );
    let (_, lists) = get(&sim, "/api/lists");
    assert!(!lists.to_string().contains("cli-members"));

    // templates update
    let t = write_ok(
        &cfg,
        "templates",
        "insert",
        &["medium=Email"],
        &[
            json!({"clientTemplateId": "cli-upd", "name": "U", "subject": "Hi", "html": "<p>Hi</p>"}),
        ],
    );
    let template_id: i64 = t[0]["id"].as_str().unwrap().parse().unwrap();
    write_ok(
        &cfg,
        "templates",
        "update",
        &[],
        &[json!({"templateId": template_id, "messageMedium": "Email", "subject": "Hello"})],
    );
    let (_, got) = get(
        &sim,
        &format!("/api/templates/email/get?templateId={template_id}"),
    );
    assert_eq!(got["subject"], "Hello");

    // users: purchases, an in-app message, new email, subscriptions, delete
    write_ok(
        &cfg,
        "users",
        "upsert",
        &[],
        &[json!({"email": "buyer@example.com", "plan": "pro"})],
    );
    let bought = write_ok(
        &cfg,
        "purchases",
        "insert",
        &[],
        &[json!({"email": "buyer@example.com",
        "items": [{"id": "A-1", "name": "Runner", "price": 20, "quantity": 2}]})],
    );
    assert_eq!(applied("purchase", bought[0]["id"].as_str().unwrap()), 1);
    let (_, campaigns) = get(&sim, "/api/campaigns");
    let campaigns = campaigns["campaigns"].as_array().unwrap().clone();
    let campaign_id = campaigns[0]["id"].as_i64().unwrap();
    write_ok(
        &cfg,
        "InAppMessages",
        "insert",
        &[],
        &[json!({"campaignId": campaign_id, "recipientEmail": "buyer@example.com"})],
    );
    let (_, inbox) = get(
        &sim,
        "/api/inApp/getMessages?email=buyer@example.com&count=10",
    );
    assert!(
        !inbox["inAppMessages"].as_array().unwrap().is_empty(),
        "{inbox}"
    );
    write_ok(
        &cfg,
        "users",
        "update_email",
        &[],
        &[json!({"currentEmail": "buyer@example.com", "newEmail": "moved@example.com"})],
    );
    let (_, profile) = get(&sim, "/api/users/moved@example.com");
    assert_eq!(
        profile.pointer("/user/dataFields/plan"),
        Some(&json!("pro")),
        "{profile}"
    );
    let (_, lists) = get(&sim, "/api/lists");
    let any_list = lists["lists"][0]["id"].as_i64().unwrap();
    write_ok(
        &cfg,
        "subscriptions",
        "update",
        &[],
        &[json!({"email": "moved@example.com", "emailListIds": [any_list]})],
    );
    assert_eq!(applied("user.subscriptions", "moved@example.com"), 1);
    write_ok(
        &cfg,
        "users",
        "delete",
        &[],
        &[json!({"email": "moved@example.com"})],
    );
    let (status, profile) = get(&sim, "/api/users/moved@example.com");
    assert!(status == 404 || profile.get("user").is_none(), "{profile}");

    // procedures
    let of = |ty: &str, state: &str| {
        campaigns
            .iter()
            .find(|c| c["type"] == ty && c["campaignState"] == state)
            .and_then(|c| c["id"].as_i64())
            .unwrap_or_else(|| panic!("a {ty} campaign in state {state}"))
    };
    let (triggered, scheduled) = (of("Triggered", "Ready"), of("Blast", "Scheduled"));
    let call = |proc_: &str, params: &[String]| {
        let mut args = vec!["call", proc_];
        for p in params {
            args.extend(["--param", p.as_str()]);
        }
        run(&args, &[("--config", &cfg)], b"")
    };
    let out = call(
        "TriggerCampaign",
        &[
            format!("campaignId={triggered}"),
            format!("listIds=[{any_list}]"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(applied("campaign.trigger", &triggered.to_string()), 1);
    let out = call(
        "CancelScheduledOrRecurringCampaign",
        &[format!("campaignId={scheduled}")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(applied("campaign.cancel", &scheduled.to_string()), 1);
    let (_, after) = get(&sim, &format!("/api/campaigns/{scheduled}"));
    let state = after
        .pointer("/campaignState")
        .or(after.pointer("/campaigns/0/campaignState"));
    assert_eq!(state, Some(&json!("Ready")), "{after}");
}
