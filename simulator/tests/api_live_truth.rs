//! `GET /_sim/truth`: ground truth of the running world, writes included,
//! equals what the endpoints serve after records are created, changed and
//! deleted through the API.

mod common;

use std::collections::BTreeSet;

use common::*;
use iterable_sim::truth::{ground_truth, natural_key};
use iterable_sim::types::Scale;
use serde_json::{Value, json};

fn truth(w: &iterable_sim::world::World, query: &str) -> (u64, BTreeSet<String>) {
    let v = get_json(w, &format!("/_sim/truth?{query}"));
    let keys = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    (v["count"].as_u64().unwrap(), keys)
}

fn keys(stream: &str, rows: &[Value]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| natural_key(stream, r).unwrap())
        .collect()
}

#[test]
fn a_fresh_world_matches_the_seeded_truth() {
    let w = world(Scale::Tiny);
    let o = opts(7, Scale::Tiny);
    for stream in [
        "users",
        "email_send",
        "campaigns",
        "catalog_items",
        "list_users",
    ] {
        let seeded = ground_truth(&o, stream, None, None).unwrap();
        assert_eq!(
            truth(&w, &format!("stream={stream}")),
            (seeded.count, seeded.keys),
            "{stream}"
        );
    }
    let start = chrono::DateTime::from_timestamp(1_708_819_200, 0).unwrap(); // 2024-02-25
    let end = chrono::DateTime::from_timestamp(1_708_992_000, 0).unwrap(); // 2024-02-27
    for stream in ["users", "email_open"] {
        let seeded = ground_truth(&o, stream, Some(start), Some(end)).unwrap();
        let live = truth(
            &w,
            &format!("stream={stream}&start=2024-02-25T00:00:00Z&end=2024-02-27%2000:00:00"),
        );
        assert_eq!(live, (seeded.count, seeded.keys), "{stream} window");
    }
}

#[test]
fn writes_show_in_the_live_truth_exactly_as_the_endpoints_serve_them() {
    let w = world(Scale::Tiny);
    let (users0, _) = truth(&w, "stream=users");
    let seeded = ndjson(&w, "/api/export/data.json?dataTypeName=user&range=All")[2]["email"]
        .as_str()
        .unwrap()
        .to_string();
    // A new user and a changed one; a tracked event; a catalog item created
    // and another deleted; a new list member.
    for body in [
        json!({"email": "new@acme.example", "dataFields": {"favoriteColor": "teal"}}),
        json!({"email": seeded, "dataFields": {"loyaltyPoints": 77}}),
    ] {
        assert_eq!(
            call(&w, "POST", "/api/users/update", Some(body)).status,
            200
        );
    }
    let ev =
        json!({"email": "new@acme.example", "eventName": "signup", "createdAt": 1_709_280_000});
    assert_eq!(call(&w, "POST", "/api/events/track", Some(ev)).status, 200);
    assert_eq!(call(&w, "POST", "/api/catalogs/live", None).status, 201);
    for id in ["a", "b"] {
        let item = Some(json!({"value": {"name": id}}));
        let path = format!("/api/catalogs/live/items/{id}");
        assert_eq!(call(&w, "PUT", &path, item).status, 202);
    }
    assert_eq!(
        call(&w, "DELETE", "/api/catalogs/live/items/b", None).status,
        202
    );
    let list = get_json(&w, "/api/lists")["lists"][0]["id"]
        .as_i64()
        .unwrap();
    let sub = json!({"listId": list, "subscribers": [{"email": "new@acme.example"}]});
    assert_eq!(
        call(&w, "POST", "/api/lists/subscribe", Some(sub)).status,
        200
    );

    let (n, k) = truth(&w, "stream=users");
    assert_eq!(
        n,
        users0 + 1,
        "one new user; the changed one is not counted twice"
    );
    assert!(k.contains("new@acme.example") && k.contains(&seeded));
    let users = ndjson(&w, "/api/export/data.json?dataTypeName=user&range=All");
    assert_eq!(
        (n as usize, k.clone()),
        (users.len(), keys("users", &users))
    );

    let (_, k) = truth(&w, "stream=custom_event");
    assert!(
        k.contains("2024-03-01T08:00:00Z|new@acme.example|signup|"),
        "{k:?}"
    );
    let events = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=customEvent&range=All",
    );
    assert_eq!(k, keys("custom_event", &events));

    let (_, k) = truth(&w, "stream=catalog_items");
    assert!(k.contains("live|a") && !k.contains("live|b"), "{k:?}");
    let (_, k) = truth(&w, "stream=list_users");
    assert!(k.contains(&format!("{list}|new@acme.example")));

    // A window on profileUpdatedAt: the users changed now fall after 2024-03-01T09:00.
    let (_, k) = truth(&w, "stream=users&start=2024-03-01T09:00:00Z");
    assert_eq!(
        k,
        BTreeSet::from(["new@acme.example".to_string(), seeded.clone()])
    );
}

#[test]
fn bad_truth_requests_are_400() {
    let w = world(Scale::Tiny);
    for q in ["", "stream=", "stream=nope", "stream=users&start=yesterday"] {
        let r = call(&w, "GET", &format!("/_sim/truth?{q}"), None);
        assert_eq!(r.status, 400, "{q}");
    }
}
