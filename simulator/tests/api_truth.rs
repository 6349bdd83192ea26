//! Ground truth equals what the endpoints serve (count and keys), keys are
//! unique, and natural keys survive connector normalisation.

mod common;

use std::collections::BTreeSet;

use chrono::DateTime;
use common::*;
use iterable_sim::truth::{ground_truth, natural_key, run_cli, streams};
use iterable_sim::types::Scale;
use serde_json::{Value, json};

fn keys_of(stream: &str, rows: &[Value]) -> BTreeSet<String> {
    let keys: BTreeSet<String> = rows
        .iter()
        .map(|r| natural_key(stream, r).unwrap())
        .collect();
    assert_eq!(keys.len(), rows.len(), "keys unique in {stream}");
    keys
}

#[test]
fn every_event_stream_matches_its_export_over_all_history_and_a_window() {
    let o = opts(7, Scale::Tiny);
    let w = world(Scale::Tiny);
    let start = DateTime::from_timestamp(1_708_819_200, 0).unwrap(); // 2024-02-25
    let end = DateTime::from_timestamp(1_708_992_000, 0).unwrap(); // 2024-02-27
    for t in iterable_sim::world::events::TYPES.iter() {
        let stream = iterable_sim::world::events::snake(t.name);
        let all = ndjson(
            &w,
            &format!("/api/export/data.json?dataTypeName={}&range=All", t.name),
        );
        let truth = ground_truth(&o, &stream, None, None).unwrap();
        assert!(truth.count > 0, "{stream} non-empty");
        assert_eq!(truth.count as usize, all.len(), "{stream}");
        assert_eq!(truth.keys, keys_of(&stream, &all), "{stream}");
        let win = ndjson(
            &w,
            &format!(
                "/api/export/data.json?dataTypeName={}&startDateTime=2024-02-25%2000%3A00%3A00&endDateTime=2024-02-27%2000%3A00%3A00",
                t.name
            ),
        );
        let wt = ground_truth(&o, &stream, Some(start), Some(end)).unwrap();
        assert_eq!(wt.count as usize, win.len(), "{stream} window");
        assert_eq!(wt.keys, keys_of(&stream, &win));
    }
}

#[test]
fn small_scale_windows_match() {
    let o = opts(9, Scale::Small);
    let w = iterable_sim::world::World::new(o.clone());
    for (stream, dt) in [
        ("email_send", "emailSend"),
        ("email_open", "emailOpen"),
        ("purchase", "purchase"),
        ("users", "user"),
    ] {
        for (s, e, qs, qe) in [
            (
                1_707_000_000,
                1_707_500_000,
                "2024-02-03%2022%3A40%3A00",
                "2024-02-09%2017%3A33%3A20",
            ),
            (
                1_708_000_000,
                1_709_000_000,
                "2024-02-15%2012%3A26%3A40",
                "2024-02-27%2002%3A13%3A20",
            ),
        ] {
            let rows = ndjson(
                &w,
                &format!(
                    "/api/export/data.json?dataTypeName={dt}&startDateTime={qs}&endDateTime={qe}"
                ),
            );
            let t = ground_truth(
                &o,
                stream,
                DateTime::from_timestamp(s, 0),
                DateTime::from_timestamp(e, 0),
            )
            .unwrap();
            assert!(t.count > 0);
            assert_eq!(t.count as usize, rows.len(), "{stream}");
            assert_eq!(t.keys, keys_of(stream, &rows), "{stream}");
        }
    }
}

#[test]
fn entity_streams_match_their_endpoints() {
    let o = opts(7, Scale::Tiny);
    let w = world(Scale::Tiny);
    let simple = |path: &str, field: &str| -> Vec<Value> {
        get_json(&w, path)[field].as_array().unwrap().clone()
    };
    for (stream, rows) in [
        ("campaigns", simple("/api/campaigns", "campaigns")),
        ("channels", simple("/api/channels", "channels")),
        ("message_types", simple("/api/messageTypes", "messageTypes")),
        ("lists", simple("/api/lists", "lists")),
        ("snippets", simple("/api/snippets", "snippets")),
        ("webhooks", simple("/api/webhooks", "webhooks")),
    ] {
        let t = ground_truth(&o, stream, None, None).unwrap();
        assert_eq!(t.count as usize, rows.len(), "{stream}");
        assert_eq!(t.keys, keys_of(stream, &rows), "{stream}");
    }

    // journeys: page through the default listing (non-archived) and the
    // archived one; ground truth is both, each record saying which it is.
    let mut js = Vec::new();
    for p in 1..=2 {
        js.extend(simple(
            &format!("/api/journeys?page={p}&pageSize=10"),
            "journeys",
        ));
    }
    let live = js.len();
    js.extend(simple(
        "/api/journeys?state=Archived&pageSize=50",
        "journeys",
    ));
    assert!(js.len() > live, "some journeys are archived");
    assert!(js[..live].iter().all(|j| j["isArchived"] == false));
    assert!(js[live..].iter().all(|j| j["isArchived"] == true));
    let t = ground_truth(&o, "journeys", None, None).unwrap();
    assert_eq!(t.count as usize, js.len());
    assert_eq!(t.keys, keys_of("journeys", &js));

    // templates: the 4×4 loop, records carrying templateType and messageMedium.
    let mut ts = Vec::new();
    for tt in ["Base", "Blast", "Triggered", "Workflow"] {
        for mm in ["Email", "Push", "InApp", "SMS"] {
            for mut t in simple(
                &format!("/api/templates?templateType={tt}&messageMedium={mm}"),
                "templates",
            ) {
                t["templateType"] = json!(tt);
                t["messageMedium"] = json!(mm);
                ts.push(t);
            }
        }
    }
    assert_eq!(
        ground_truth(&o, "templates", None, None).unwrap().keys,
        keys_of("templates", &ts)
    );
    let ws = DateTime::from_timestamp(1_708_819_200, 0);
    let we = DateTime::from_timestamp(1_708_992_000, 0);
    let win = simple(
        "/api/templates?startDateTime=2024-02-25%2000%3A00%3A00&endDateTime=2024-02-27%2000%3A00%3A00",
        "templates",
    );
    assert_eq!(
        ground_truth(&o, "templates", ws, we).unwrap().keys,
        keys_of("templates", &win)
    );

    // list_users: getUsers per list.
    let mut lu = Vec::new();
    for l in simple("/api/lists", "lists") {
        let id = l["id"].as_i64().unwrap();
        for e in text(call(
            &w,
            "GET",
            &format!("/api/lists/getUsers?listId={id}"),
            None,
        ))
        .lines()
        {
            lu.push(json!({"listId": id, "email": e}));
        }
    }
    let t = ground_truth(&o, "list_users", None, None).unwrap();
    assert_eq!(
        (t.count as usize, t.keys.clone()),
        (lu.len(), keys_of("list_users", &lu))
    );

    // metadata: tables -> keys -> values.
    let mut md = Vec::new();
    for tb in simple("/api/metadata", "results") {
        let name = tb["name"].as_str().unwrap();
        let mut marker = String::new();
        loop {
            let p = get_json(&w, &format!("/api/metadata/{name}?nextMarker={marker}"));
            for k in p["results"].as_array().unwrap() {
                md.push(get_json(
                    &w,
                    &format!("/api/metadata/{name}/{}", k["key"].as_str().unwrap()),
                ));
            }
            match p.get("nextMarker") {
                Some(m) => marker = m.as_str().unwrap().to_string(),
                None => break,
            }
        }
    }
    assert_eq!(
        ground_truth(&o, "metadata", None, None).unwrap().keys,
        keys_of("metadata", &md)
    );

    // catalogs and items.
    let cats = get_json(&w, "/api/catalogs?pageSize=100")["params"]["catalogNames"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        ground_truth(&o, "catalogs", None, None).unwrap().keys,
        keys_of("catalogs", &cats)
    );
    let mut items = Vec::new();
    for c in &cats {
        let n = c["name"].as_str().unwrap();
        items.extend(get_json(&w, &format!("/api/catalogs/{n}/items?pageSize=1000"))["params"]["catalogItemsWithProperties"]
            .as_array().unwrap().clone());
    }
    assert_eq!(
        ground_truth(&o, "catalog_items", None, None).unwrap().keys,
        keys_of("catalog_items", &items)
    );

    // campaign metrics: one CSV row per campaign.
    let ids: Vec<String> = simple("/api/campaigns", "campaigns")
        .iter()
        .map(|c| c["id"].to_string())
        .collect();
    let q: String = ids
        .iter()
        .map(|i| format!("campaignId={i}"))
        .collect::<Vec<_>>()
        .join("&");
    let csv = text(call(
        &w,
        "GET",
        &format!("/api/campaigns/metrics?{q}"),
        None,
    ));
    let rows: Vec<Value> = csv
        .lines()
        .skip(1)
        .map(|l| json!({"id": l.split(',').next().unwrap()}))
        .collect();
    assert_eq!(
        ground_truth(&o, "campaigns_metrics", None, None)
            .unwrap()
            .keys,
        keys_of("campaigns_metrics", &rows)
    );

    // experiment metrics CSV rows.
    let csv = text(call(&w, "GET", "/api/experiments/metrics", None));
    let rows: Vec<Value> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            json!({"Experiment Id": c[1], "Template Id": c[2]})
        })
        .collect();
    assert_eq!(
        ground_truth(&o, "experiments_metrics", None, None)
            .unwrap()
            .keys,
        keys_of("experiments_metrics", &rows)
    );
}

#[test]
fn natural_keys_survive_normalisation() {
    let w = world(Scale::Tiny);
    let row = ndjson(&w, "/api/export/data.json?dataTypeName=emailSend&range=All")[0].clone();
    let wire = natural_key("email_send", &row).unwrap();
    assert!(wire.contains('T') && wire.contains("Z|"), "{wire}");
    let secs = iterable_sim::world::time::parse(row["createdAt"].as_str().unwrap()).unwrap();
    let mut a = row.clone();
    a["createdAt"] = json!(iterable_sim::world::time::rfc3339(secs));
    a["_sdc_extracted"] = json!("x");
    let mut b = row.clone();
    b["createdAt"] = json!(secs * 1000);
    assert_eq!(natural_key("email_send", &a).unwrap(), wire);
    assert_eq!(natural_key("email_send", &b).unwrap(), wire);
    assert_eq!(
        natural_key("campaigns", &json!({"id": "42"})),
        natural_key("campaigns", &json!({"id": 42}))
    );
    assert_eq!(
        natural_key("list_users", &json!({"listId": 5, "email": "a@b.co"})).unwrap(),
        "5|a@b.co"
    );
}

#[test]
fn every_stream_is_known_and_cli_prints_json() {
    let o = opts(7, Scale::Tiny);
    let all = streams();
    assert_eq!(all.len(), 15 + 52);
    for s in &all {
        let t = ground_truth(&o, s, None, None).unwrap();
        assert!(t.count > 0, "{s} must be non-empty at tiny");
        assert_eq!(t.count as usize, t.keys.len(), "{s}: keys unique");
    }
    assert!(ground_truth(&o, "nope", None, None).is_err());
    let args: Vec<String> = [
        "truth",
        "--seed",
        "7",
        "--scale",
        "tiny",
        "--now",
        "2024-03-01T10:00:00Z",
        "--stream",
        "email_send",
        "--start",
        "2024-02-25 00:00:00",
        "--end",
        "2024-02-27T00:00:00Z",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out: Value = serde_json::from_str(&run_cli(&args).unwrap()).unwrap();
    assert_eq!(out["stream"], "email_send");
    assert_eq!(
        out["count"].as_u64().unwrap() as usize,
        out["keys"].as_array().unwrap().len()
    );
    let sorted: Vec<String> = out["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let mut s2 = sorted.clone();
    s2.sort();
    assert_eq!(sorted, s2);
    assert!(run_cli(&["--seed".to_string()]).is_err());
}
