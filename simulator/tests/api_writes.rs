//! Writes are visible in later reads, with Iterable's envelopes and per-row failures.

mod common;

use common::*;
use iterable_sim::types::Scale;
use serde_json::{Value, json};

fn post(w: &iterable_sim::world::World, path: &str, body: Value) -> (u16, Value) {
    status_json(call(w, "POST", path, Some(body)))
}

#[test]
fn tracked_events_and_purchases_appear_in_exports() {
    let w = world(Scale::Tiny);
    let (s, r) = post(
        &w,
        "/api/events/track",
        json!({"email": "new@acme.example", "eventName": "signup",
        "createdAt": 1_709_280_000, "dataFields": {"plan": "pro"}}),
    );
    assert_eq!((s, r["code"].as_str()), (200, Some("Success")));
    let rows = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=customEvent&range=Today",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["eventName"], "signup");
    assert_eq!(rows[0]["plan"], "pro");
    assert_eq!(rows[0]["createdAt"], "2024-03-01 08:00:00 +00:00");
    let ev = get_json(&w, "/api/events/new@acme.example");
    assert_eq!(ev["events"][0]["eventName"], "signup");

    let (s, r) = post(
        &w,
        "/api/events/trackBulk",
        json!({"events": [
        {"email": "a@acme.example", "eventName": "x", "createdAt": 1_709_280_001_000i64},
        {"email": "not-an-email", "eventName": "x"},
        {"email": "b@acme.example", "eventName": "y"}]}),
    );
    assert_eq!(s, 200);
    assert_eq!(
        (r["successCount"].as_u64(), r["failCount"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["failedUpdates"]["invalidEmails"], json!(["not-an-email"]));
    assert!(r["disallowedEventNames"].is_array());
    assert_eq!(
        ndjson(
            &w,
            "/api/export/data.json?dataTypeName=customEvent&range=Today"
        )
        .len(),
        3
    );

    let (s, r) = post(
        &w,
        "/api/commerce/trackPurchase",
        json!({"user": {"email": "new@acme.example"}, "total": 45.5,
        "items": [{"id": "A-1", "name": "Runner", "price": 20.0, "quantity": 2}]}),
    );
    assert_eq!(s, 200);
    let id = r["params"]["id"].as_str().unwrap().to_string();
    let p = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=purchase&range=Today",
    );
    assert_eq!(p[0]["id"], id.as_str());
    assert_eq!(p[0]["shoppingCartItems"][0]["sku"], Value::Null);
    assert_eq!(
        post(
            &w,
            "/api/events/track",
            json!({"email": "bad", "eventName": "x"})
        )
        .0,
        400
    );
}

#[test]
fn user_updates_bulk_failures_and_deletes() {
    let w = world(Scale::Tiny);
    let (s, r) = post(
        &w,
        "/api/users/update",
        json!({"email": "jane@acme.example", "dataFields": {"firstName": "Jane", "defaultAddress": {"city": "Oslo"}}}),
    );
    assert_eq!(
        (s, r),
        (200, json!({"msg": "", "code": "Success", "params": null}))
    );
    let u = get_json(&w, "/api/users/jane@acme.example");
    assert_eq!(u["user"]["dataFields"]["defaultAddress"]["city"], "Oslo");
    let exp = ndjson(&w, "/api/export/data.json?dataTypeName=user&range=Today");
    assert_eq!(exp.len(), 1);
    assert_eq!(exp[0]["defaultAddress.city"], "Oslo");

    let (s, r) = post(
        &w,
        "/api/users/bulkUpdate",
        json!({"users": [
        {"email": "ok1@acme.example", "dataFields": {"favoriteColor": "red"}},
        {"email": "bad email", "dataFields": {}},
        {"email": "ok2@acme.example", "dataFields": {"newField": 1}}]}),
    );
    assert_eq!(s, 200);
    assert_eq!(
        (r["successCount"].as_u64(), r["failCount"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["failedUpdates"]["invalidEmails"], json!(["bad email"]));
    assert_eq!(r["invalidEmails"], json!(["bad email"]));
    assert_eq!(r["createdFields"], json!(["newField"]));
    for k in [
        "notFoundEmails",
        "forgottenUserIds",
        "conflictEmails",
        "invalidDataUserIds",
    ] {
        assert!(r["failedUpdates"][k].is_array(), "{k}");
    }
    let (s, r) = post(
        &w,
        "/api/users/update",
        json!({"email": "x@acme.example", "dataFields": {"LTV": "lots"}}),
    );
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("RequestFieldsTypesMismatched"))
    );

    // Seeded user: update, then delete.
    let users = ndjson(
        &w,
        "/api/export/data.json?dataTypeName=user&range=BeforeToday",
    );
    let e = users[0]["email"].as_str().unwrap().to_string();
    assert_eq!(
        call(&w, "DELETE", &format!("/api/users/{e}"), None).status,
        200
    );
    assert_eq!(get_json(&w, &format!("/api/users/{e}")), json!({}));
    assert_eq!(
        ndjson(
            &w,
            "/api/export/data.json?dataTypeName=user&range=BeforeToday"
        )
        .len(),
        users.len() - 1
    );
    let (s, _) = post(
        &w,
        "/api/users/forget",
        json!({"email": "ok1@acme.example"}),
    );
    assert_eq!(s, 200);
    assert_eq!(
        post(
            &w,
            "/api/users/update",
            json!({"email": "ok1@acme.example"})
        )
        .0,
        409
    );
}

#[test]
fn lists_create_subscribe_unsubscribe_delete() {
    let w = world(Scale::Tiny);
    let (_, r) = post(&w, "/api/lists", json!({"name": "Test list"}));
    let id = r["listId"].as_i64().unwrap();
    assert!(
        get_json(&w, "/api/lists")["lists"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == id && l["listType"] == "Standard")
    );
    let seeded = ndjson(&w, "/api/export/data.json?dataTypeName=user&range=All")[3]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, r) = post(
        &w,
        "/api/lists/subscribe",
        json!({"listId": id, "subscribers": [
        {"email": "sub@acme.example"}, {"email": seeded}, {"email": "nope"}]}),
    );
    assert_eq!(s, 200);
    assert_eq!(
        (r["successCount"].as_u64(), r["failCount"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["invalidEmails"], json!(["nope"]));
    let members = text(call(
        &w,
        "GET",
        &format!("/api/lists/getUsers?listId={id}"),
        None,
    ));
    let mut m: Vec<&str> = members.lines().collect();
    m.sort();
    let mut want = vec!["sub@acme.example", seeded.as_str()];
    want.sort();
    assert_eq!(m, want);
    assert_eq!(get_json(&w, &format!("/api/lists/{id}/size")), json!(2));
    assert!(
        get_json(&w, &format!("/api/users/{seeded}"))["user"]["dataFields"]["emailListIds"]
            .as_array()
            .unwrap()
            .contains(&json!(id))
    );
    assert_eq!(
        ndjson(
            &w,
            "/api/export/data.json?dataTypeName=emailSubscribe&range=Today"
        )
        .len(),
        2
    );
    post(
        &w,
        "/api/lists/unsubscribe",
        json!({"listId": id, "subscribers": [{"email": seeded}]}),
    );
    assert_eq!(
        text(call(
            &w,
            "GET",
            &format!("/api/lists/getUsers?listId={id}"),
            None
        )),
        "sub@acme.example\n"
    );
    assert_eq!(
        ndjson(
            &w,
            "/api/export/data.json?dataTypeName=emailUnSubscribe&range=Today"
        )
        .len(),
        1
    );
    assert_eq!(
        call(&w, "DELETE", &format!("/api/lists/{id}"), None).status,
        200
    );
    assert_eq!(
        call(&w, "DELETE", &format!("/api/lists/{id}"), None).status,
        404
    );

    // Subscription groups (PUT bulk, PATCH/DELETE single).
    let list = get_json(&w, "/api/lists")["lists"][0]["id"]
        .as_i64()
        .unwrap();
    let r = call(
        &w,
        "PUT",
        &format!("/api/subscriptions/emailList/{list}?action=subscribe"),
        Some(json!({"users": ["g@acme.example"]})),
    );
    assert_eq!(r.status, 202);
    assert!(
        text(call(
            &w,
            "GET",
            &format!("/api/lists/getUsers?listId={list}"),
            None
        ))
        .contains("g@acme.example")
    );
    assert_eq!(
        call(
            &w,
            "DELETE",
            &format!("/api/subscriptions/emailList/{list}/user/g@acme.example"),
            None
        )
        .status,
        202
    );
    assert!(
        !text(call(
            &w,
            "GET",
            &format!("/api/lists/getUsers?listId={list}"),
            None
        ))
        .contains("g@acme.example")
    );
    let mt = get_json(&w, "/api/messageTypes")["messageTypes"][0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        call(
            &w,
            "PATCH",
            &format!("/api/subscriptions/messageType/{mt}/user/g@acme.example"),
            None
        )
        .status,
        202
    );
    assert!(
        get_json(&w, "/api/users/g@acme.example")["user"]["dataFields"]["subscribedMessageTypeIds"]
            .as_array()
            .unwrap()
            .contains(&json!(mt))
    );
}

#[test]
fn catalog_writes() {
    let w = world(Scale::Tiny);
    assert_eq!(call(&w, "POST", "/api/catalogs/shoes", None).status, 201);
    assert_eq!(call(&w, "POST", "/api/catalogs/bad.name", None).status, 400);
    assert_eq!(
        get_json(&w, "/api/catalogs")["params"]["totalCatalogsCount"],
        4
    );
    let r = call(
        &w,
        "PUT",
        "/api/catalogs/shoes/items/s-1",
        Some(json!({"value": {"name": "Runner", "size": 42}})),
    );
    assert_eq!(r.status, 202);
    let r = call(
        &w,
        "PATCH",
        "/api/catalogs/shoes/items/s-1",
        Some(json!({"update": {"color": "red"}})),
    );
    assert_eq!(r.status, 202);
    let it = get_json(&w, "/api/catalogs/shoes/items/s-1");
    assert_eq!(
        it["value"],
        json!({"name": "Runner", "size": 42, "color": "red"})
    );
    assert_eq!(it["lastModified"], now().timestamp_millis());
    call(
        &w,
        "PUT",
        "/api/catalogs/shoes/items/s-1",
        Some(json!({"value": {"name": "Trail"}})),
    );
    assert_eq!(
        get_json(&w, "/api/catalogs/shoes/items/s-1")["value"],
        json!({"name": "Trail"})
    );
    let r = call(
        &w,
        "POST",
        "/api/catalogs/shoes/items",
        Some(
            json!({"documents": {"s-2": {"a": 1}, "s-3": {"b": 2}}, "replaceUploadedFieldsOnly": false}),
        ),
    );
    assert_eq!(r.status, 202);
    assert_eq!(
        get_json(&w, "/api/catalogs/shoes/items")["params"]["totalItemsCount"],
        3
    );
    assert_eq!(
        call(
            &w,
            "DELETE",
            "/api/catalogs/shoes/items",
            Some(json!({"itemIds": ["s-2", "s-3"]}))
        )
        .status,
        202
    );
    assert_eq!(
        call(&w, "DELETE", "/api/catalogs/shoes/items/s-1", None).status,
        202
    );
    assert_eq!(
        get_json(&w, "/api/catalogs/shoes/items")["params"]["totalItemsCount"],
        0
    );
    assert_eq!(call(&w, "DELETE", "/api/catalogs/shoes", None).status, 200);
    assert_eq!(
        call(&w, "GET", "/api/catalogs/shoes/items", None).status,
        404
    );
}

#[test]
fn campaign_and_template_writes() {
    let w = world(Scale::Tiny);
    let t = get_json(&w, "/api/templates?templateType=Base&messageMedium=Email")["templates"][0]["templateId"].as_i64().unwrap();
    let list = get_json(&w, "/api/lists")["lists"][0]["id"]
        .as_i64()
        .unwrap();
    let (s, r) = post(
        &w,
        "/api/campaigns/create",
        json!({"name": "API blast", "templateId": t, "listIds": [list]}),
    );
    assert_eq!(s, 200);
    let blast = r["campaignId"].as_i64().unwrap();
    let c = get_json(&w, &format!("/api/campaigns/{blast}"));
    assert_eq!(
        (c["type"].as_str(), c["campaignState"].as_str()),
        (Some("Blast"), Some("Starting"))
    );
    let (s, r) = post(&w, "/api/campaigns/abort", json!({"campaignId": blast}));
    assert_eq!(
        (s, r["msg"].as_str()),
        (200, Some(format!("Aborted campaign. Id: {blast}").as_str()))
    );
    assert_eq!(
        get_json(&w, &format!("/api/campaigns/{blast}"))["campaignState"],
        "Aborted"
    );
    let (s, r) = post(
        &w,
        "/api/campaigns/trigger",
        json!({"campaignId": blast, "listIds": [list]}),
    );
    assert_eq!(
        (s, r["msg"].as_str()),
        (400, Some("Campaign is not a triggered campaign"))
    );
    let (_, r) = post(
        &w,
        "/api/campaigns/create",
        json!({"name": "API triggered", "templateId": t}),
    );
    let trig = r["campaignId"].as_i64().unwrap();
    assert_eq!(
        post(
            &w,
            "/api/campaigns/trigger",
            json!({"campaignId": trig, "listIds": [list]})
        )
        .0,
        200
    );
    let sched = get_json(
        &w,
        "/api/campaigns?campaignState=Scheduled&page=1&pageSize=5",
    )["campaigns"][0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        post(&w, "/api/campaigns/cancel", json!({"campaignId": sched})).0,
        200
    );
    assert_eq!(
        get_json(&w, &format!("/api/campaigns/{sched}"))["campaignState"],
        "Ready"
    );
    assert_eq!(
        post(&w, "/api/campaigns/abort", json!({"campaignId": 1})).0,
        404
    );

    let (s, r) = post(
        &w,
        "/api/templates/email/upsert",
        json!({"clientTemplateId": "welcome-v1", "name": "Welcome", "subject": "Hi"}),
    );
    assert_eq!(s, 200);
    let tid = r["params"]["templateIds"][0].as_i64().unwrap();
    let g = get_json(&w, &format!("/api/templates/email/get?templateId={tid}"));
    assert_eq!(
        (g["subject"].as_str(), g["clientTemplateId"].as_str()),
        (Some("Hi"), Some("welcome-v1"))
    );
    post(
        &w,
        "/api/templates/email/upsert",
        json!({"clientTemplateId": "welcome-v1", "subject": "Hello"}),
    );
    assert_eq!(
        get_json(&w, &format!("/api/templates/email/get?templateId={tid}"))["subject"],
        "Hello"
    );
    assert_eq!(
        post(
            &w,
            "/api/templates/email/update",
            json!({"templateId": tid, "name": "Renamed"})
        )
        .0,
        200
    );
    assert_eq!(
        get_json(&w, &format!("/api/templates/email/get?templateId={tid}"))["name"],
        "Renamed"
    );
    assert_eq!(
        post(&w, "/api/templates/sms/update", json!({"templateId": tid})).0,
        404
    );

    // In-app target → visible in getMessages and as an inAppSend export row.
    let inapp = get_json(&w, "/api/campaigns?page=1&pageSize=100")["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["messageMedium"] == "InApp")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        post(
            &w,
            "/api/inApp/target",
            json!({"campaignId": inapp, "recipientEmail": "app@acme.example"})
        )
        .0,
        200
    );
    let m = get_json(&w, "/api/inApp/getMessages?email=app@acme.example&count=5");
    assert_eq!(m["inAppMessages"][0]["campaignId"], inapp);
    assert!(is_epoch_ms(&m["inAppMessages"][0]["createdAt"]));
    assert_eq!(
        ndjson(
            &w,
            "/api/export/data.json?dataTypeName=inAppSend&range=Today"
        )
        .len(),
        1
    );
}

/// How often the world applied a write of `kind` to `key`.
fn applied(w: &iterable_sim::world::World, kind: &str, key: &str) -> u64 {
    w.read()
        .applied
        .get(kind)
        .and_then(|m| m.get(key))
        .copied()
        .unwrap_or(0)
}

#[test]
fn update_email_moves_the_profile_and_its_events() {
    let w = world(Scale::Tiny);
    post(
        &w,
        "/api/users/update",
        json!({"email": "old@acme.example", "userId": "u-old", "dataFields": {"plan": "pro"}}),
    );
    post(
        &w,
        "/api/events/track",
        json!({"email": "old@acme.example", "eventName": "seen", "id": "ev-old-1"}),
    );
    post(
        &w,
        "/api/users/update",
        json!({"email": "taken@acme.example"}),
    );
    let (s, r) = post(
        &w,
        "/api/users/updateEmail",
        json!({"currentEmail": "old@acme.example", "newEmail": "new@acme.example"}),
    );
    assert_eq!(
        (s, r),
        (200, json!({"msg": "", "code": "Success", "params": null}))
    );
    assert_eq!(get_json(&w, "/api/users/old@acme.example"), json!({}));
    let u = get_json(&w, "/api/users/new@acme.example");
    assert_eq!(u["user"]["dataFields"]["plan"], "pro");
    assert_eq!(u["user"]["dataFields"]["email"], "new@acme.example");
    let ev = get_json(&w, "/api/events/new@acme.example");
    assert_eq!(ev["events"][0]["eventName"], "seen");
    // By userId too; the new email must be free, valid and not forgotten.
    let (s, _) = post(
        &w,
        "/api/users/updateEmail",
        json!({"currentUserId": "u-old", "newEmail": "newer@acme.example"}),
    );
    assert_eq!(s, 200);
    let cases = [
        (
            json!({"currentEmail": "newer@acme.example", "newEmail": "taken@acme.example"}),
            409,
            "EmailAlreadyExists",
        ),
        (
            json!({"currentEmail": "newer@acme.example", "newEmail": "not-an-email"}),
            400,
            "InvalidEmailAddressError",
        ),
        (
            json!({"currentEmail": "nobody@acme.example", "newEmail": "x@acme.example"}),
            400,
            "UnknownEmailError",
        ),
        (
            json!({"currentUserId": "no-such-id", "newEmail": "x@acme.example"}),
            400,
            "UnknownUserIdError",
        ),
        (json!({"newEmail": "x@acme.example"}), 400, "BadParams"),
        (
            json!({"currentEmail": "newer@acme.example"}),
            400,
            "BadParams",
        ),
    ];
    for (body, status, code) in cases {
        let (s, r) = post(&w, "/api/users/updateEmail", body.clone());
        assert_eq!((s, r["code"].as_str()), (status, Some(code)), "{body}");
    }
    post(
        &w,
        "/api/users/forget",
        json!({"email": "gone@acme.example"}),
    );
    let (s, r) = post(
        &w,
        "/api/users/updateEmail",
        json!({"currentEmail": "newer@acme.example", "newEmail": "gone@acme.example"}),
    );
    assert_eq!((s, r["code"].as_str()), (409, Some("ForgottenUserError")));
    assert_eq!(applied(&w, "user.updateEmail", "old@acme.example"), 1);
    assert_eq!(applied(&w, "user.updateEmail", "new@acme.example"), 1);
    assert_eq!(applied(&w, "user.updateEmail", "newer@acme.example"), 0);
}

#[test]
fn update_subscriptions_overwrites_arrays_and_list_membership() {
    let w = world(Scale::Tiny);
    let lists = get_json(&w, "/api/lists");
    let ids: Vec<i64> = lists["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    let (a, b) = (ids[0], ids[1]);
    let members = |list: i64| {
        text(call(
            &w,
            "GET",
            &format!("/api/lists/getUsers?listId={list}"),
            None,
        ))
    };
    let (s, r) = post(
        &w,
        "/api/users/updateSubscriptions",
        json!({"email": "subs@acme.example", "emailListIds": [a, b],
               "unsubscribedChannelIds": [1, 2]}),
    );
    assert_eq!(
        (s, r),
        (200, json!({"msg": "", "code": "Success", "params": null}))
    );
    assert!(members(a).contains("subs@acme.example"));
    assert!(members(b).contains("subs@acme.example"));
    // Overwrite, not merge: only the arrays given change.
    let (s, _) = post(
        &w,
        "/api/users/updateSubscriptions",
        json!({"email": "subs@acme.example", "emailListIds": [b], "subscribedMessageTypeIds": null}),
    );
    assert_eq!(s, 200);
    let u = get_json(&w, "/api/users/subs@acme.example");
    assert_eq!(u["user"]["dataFields"]["emailListIds"], json!([b]));
    assert_eq!(
        u["user"]["dataFields"]["unsubscribedChannelIds"],
        json!([1, 2])
    );
    assert!(!members(a).contains("subs@acme.example"));
    assert!(members(b).contains("subs@acme.example"));
    for (body, status, code) in [
        (
            json!({"email": "subs@acme.example", "emailListIds": ["x"]}),
            400,
            "BadParams",
        ),
        (
            json!({"email": "subs@acme.example", "unsubscribedChannelIds": 3}),
            400,
            "BadParams",
        ),
        (json!({"emailListIds": [a]}), 400, "BadParams"),
        (
            json!({"email": "bad", "emailListIds": [a]}),
            400,
            "InvalidEmailAddressError",
        ),
        (
            json!({"userId": "no-such-id", "emailListIds": [a]}),
            400,
            "UnknownUserIdError",
        ),
    ] {
        let (s, r) = post(&w, "/api/users/updateSubscriptions", body.clone());
        assert_eq!((s, r["code"].as_str()), (status, Some(code)), "{body}");
    }
    assert_eq!(applied(&w, "user.subscriptions", "subs@acme.example"), 2);
}

#[test]
fn applied_counts_every_write_by_its_entity_and_events_dedup_by_id() {
    let w = world(Scale::Tiny);
    let ev = json!({"email": "c@acme.example", "eventName": "e", "id": "fixed-1"});
    post(&w, "/api/events/track", ev.clone());
    post(
        &w,
        "/api/events/trackBulk",
        json!({"events": [ev, {"email": "bad", "eventName": "e", "id": "never"}]}),
    );
    // Applied twice, stored once: the same id replaces the event, as in Iterable.
    assert_eq!(applied(&w, "event", "fixed-1"), 2);
    assert_eq!(applied(&w, "event", "never"), 0);
    let stored = get_json(&w, "/api/events/c@acme.example");
    assert_eq!(stored["events"].as_array().unwrap().len(), 1, "{stored}");

    let (_, r) = post(&w, "/api/lists", json!({"name": "Counted"}));
    post(&w, "/api/lists", json!({"name": "Counted"}));
    assert_eq!(applied(&w, "list.create", "Counted"), 2, "not idempotent");
    let list_id = r["listId"].as_i64().unwrap();
    post(
        &w,
        "/api/lists/subscribe",
        json!({"listId": list_id, "subscribers": [{"email": "m@acme.example"}, {"email": "bad"}]}),
    );
    assert_eq!(
        applied(&w, "list.subscribe", &format!("{list_id}/m@acme.example")),
        1
    );
    post(&w, "/api/catalogs/Counted", json!({}));
    post(
        &w,
        "/api/catalogs/Counted/items",
        json!({"documents": {"a": {"x": 1}, "b": {"x": 2}}, "replaceUploadedFieldsOnly": false}),
    );
    let put = call(
        &w,
        "PUT",
        "/api/catalogs/counted/items/a",
        Some(json!({"value": {"x": 3}})),
    );
    assert_eq!(put.status, 202);
    assert_eq!(applied(&w, "catalog.create", "counted"), 1);
    assert_eq!(applied(&w, "catalog_item.upsert", "counted/a"), 2);
    assert_eq!(applied(&w, "catalog_item.upsert", "counted/b"), 1);
    // A refused write counts nothing.
    assert_eq!(
        post(
            &w,
            "/api/campaigns/trigger",
            json!({"campaignId": 1, "listIds": [list_id]})
        )
        .0,
        404
    );
    assert!(!w.read().applied.contains_key("campaign.trigger"));
    // A targeted in-app message is applied and shown once.
    let camp = get_json(&w, "/api/campaigns")["campaigns"][0]["id"].clone();
    let (s, _) = post(
        &w,
        "/api/inApp/target",
        json!({"campaignId": camp, "recipientEmail": "c@acme.example"}),
    );
    assert_eq!(s, 200);
    assert_eq!(
        applied(&w, "inapp.target", &format!("{camp}/c@acme.example")),
        1
    );
    let msgs = get_json(&w, "/api/inApp/getMessages?email=c%40acme.example&count=10");
    assert_eq!(msgs["inAppMessages"].as_array().unwrap().len(), 1, "{msgs}");
    // The admin route serves the same counts, with the table of kinds.
    let admin = get_json(&w, "/_sim/applied");
    assert_eq!(admin["applied"]["event"]["fixed-1"], 2);
    assert_eq!(admin["pendingWrites"], 0);
    let kinds = admin["kinds"].as_array().unwrap();
    assert!(kinds.iter().any(|k| k["kind"] == "campaign.trigger"));
}

#[test]
fn asynchronous_writes_become_visible_only_after_the_delay() {
    let w = world(Scale::Tiny);
    w.set_visible_after_ms(5_000);
    let t0 = now();
    let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
    let get_at = |target: &str, ms: i64| status_json(call_at(&w, "GET", target, None, at(ms)));
    // Synchronous writes are visible at once.
    assert_eq!(
        call_at(&w, "POST", "/api/catalogs/later", None, t0).status,
        201
    );
    let r = call_at(
        &w,
        "PUT",
        "/api/catalogs/later/items/i1",
        Some(json!({"value": {"v": 1}})),
        t0,
    );
    assert_eq!(r.status, 202);
    let r = call_at(
        &w,
        "POST",
        "/api/users/update",
        Some(json!({"email": "late@acme.example", "dataFields": {"plan": "pro"}})),
        t0,
    );
    assert_eq!(r.status, 200);
    let r = call_at(
        &w,
        "POST",
        "/api/events/trackBulk",
        Some(json!({"events": [{"email": "late@acme.example", "eventName": "e", "id": "late-1"}]})),
        t0,
    );
    assert_eq!(r.status, 200);
    assert_eq!(w.pending_writes(), 3);
    assert_eq!(get_at("/api/catalogs/later/items/i1", 4_999).0, 404);
    assert_eq!(get_at("/api/users/late@acme.example", 4_999).1, json!({}));
    assert_eq!(
        get_at("/api/events/late@acme.example", 4_999).1,
        json!({"events": []})
    );
    // Applied counts know at once (the write was accepted).
    assert_eq!(applied(&w, "event", "late-1"), 1);
    let (s, item) = get_at("/api/catalogs/later/items/i1", 5_000);
    assert_eq!((s, &item["value"]), (200, &json!({"v": 1})));
    assert_eq!(w.pending_writes(), 0);
    let (_, u) = get_at("/api/users/late@acme.example", 5_001);
    assert_eq!(u["user"]["dataFields"]["plan"], "pro");
    let (_, ev) = get_at("/api/events/late@acme.example", 5_001);
    assert_eq!(ev["events"][0]["eventName"], "e");
    // A later write lands after an earlier one: order is kept.
    for (ms, v) in [(6_000, 2), (6_001, 3)] {
        let r = call_at(
            &w,
            "PATCH",
            "/api/catalogs/later/items/i1",
            Some(json!({"update": {"v": v}})),
            at(ms),
        );
        assert_eq!(r.status, 202);
    }
    assert_eq!(
        get_at("/api/catalogs/later/items/i1", 10_999).1["value"]["v"],
        1
    );
    assert_eq!(
        get_at("/api/catalogs/later/items/i1", 11_001).1["value"]["v"],
        3
    );
    // A delete is seen late too.
    let r = call_at(
        &w,
        "DELETE",
        "/api/catalogs/later/items/i1",
        None,
        at(12_000),
    );
    assert_eq!(r.status, 202);
    assert_eq!(get_at("/api/catalogs/later/items/i1", 12_001).0, 200);
    assert_eq!(get_at("/api/catalogs/later/items/i1", 17_000).0, 404);
}
