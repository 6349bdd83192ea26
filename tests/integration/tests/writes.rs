//! The write path end to end: the core's `WriteSession`, driven natively over
//! real HTTP against the simulator, for each family of writes; every row's
//! result is checked, and so is the data the simulator holds afterwards.

use connector_core::{Config, ErrorKind, RowStatus, WriteOptions, WriteSession};
use integration_tests::driver::{self, HttpTransport, RealClock, WriteOutput};
use integration_tests::http_client::{self, Event};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Value, json};

const KEY: &str = "test-key-writes";

fn start_sim() -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: 11,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        faults: FaultOptions::default(),
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn write(
    sim: &RunningSim,
    object: &str,
    op: &str,
    options: Value,
    rows: Vec<Value>,
) -> WriteOutput {
    let config = Config::from_json(&json!({"base_url": sim.base_url(), "time_scale": 1000}))
        .expect("config");
    let options = WriteOptions::from_json(&options).expect("options");
    let mut session = WriteSession::open(config, object, op, &options, None).expect("open");
    let mut transport = HttpTransport::new(KEY);
    let out = driver::run_write(&mut session, rows, 50, &mut transport, &mut RealClock, None)
        .expect("write runs");
    assert!(
        out.duplicates.is_empty(),
        "rows with two results: {:?}",
        out.duplicates
    );
    out
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

fn all_ok(out: &WriteOutput, rows: usize) {
    assert_eq!(out.results.len(), rows, "{:?}", out.results);
    let bad: Vec<_> = out
        .results
        .values()
        .filter(|r| r.status != RowStatus::Ok)
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(
        out.checkpoints.last().map(|c| c.rows_final),
        Some(rows as u64)
    );
}

#[test]
fn catalog_items_upsert_update_and_delete_in_bulk() {
    let sim = start_sim();
    let created = write(
        &sim,
        "Catalogs",
        "insert",
        json!({}),
        vec![json!({"name": "shoes"})],
    );
    all_ok(&created, 1);
    let rows: Vec<Value> = (0..120)
        .map(|i| json!({"itemId": format!("sku-{i}"), "name": format!("Shoe {i}"), "price": i}))
        .collect();
    let up = write(
        &sim,
        "CatalogItems",
        "INSERT",
        json!({"catalog": "shoes", "batch_size": 50}),
        rows,
    );
    all_ok(&up, 120);
    let summary = up.summary.as_ref().unwrap();
    assert_eq!(summary.requests, 3, "120 rows in bulk requests of 50");
    assert_eq!(up.results[&7].id.as_deref(), Some("sku-7"));
    let (status, item) = get(&sim, "/api/catalogs/shoes/items/sku-7");
    assert_eq!(status, 200, "{item}");
    assert_eq!(
        item.pointer("/params/value").or(item.get("value")).unwrap(),
        &json!({"name": "Shoe 7", "price": 7})
    );

    // update merges; a bad id fails alone
    let rows = vec![
        json!({"catalogName": "shoes", "itemId": "sku-7", "value": {"price": 70}}),
        json!({"catalogName": "shoes", "itemId": "bad id!", "value": {"price": 1}}),
    ];
    let upd = write(&sim, "catalog_items", "update", json!({}), rows);
    assert_eq!(upd.results[&0].status, RowStatus::Ok);
    let bad = &upd.results[&1];
    assert_eq!(bad.status, RowStatus::Failed);
    assert_eq!(bad.error.as_ref().unwrap().field.as_deref(), Some("itemId"));
    let (_, item) = get(&sim, "/api/catalogs/shoes/items/sku-7");
    let value = item.pointer("/params/value").or(item.get("value")).unwrap();
    assert_eq!(value, &json!({"name": "Shoe 7", "price": 70}));

    let del = write(
        &sim,
        "catalog_items",
        "delete",
        json!({"catalog": "shoes", "bulk": false}),
        vec![json!({"itemId": "sku-7"})],
    );
    all_ok(&del, 1);
    assert_eq!(get(&sim, "/api/catalogs/shoes/items/sku-7").0, 404);
    assert_eq!(get(&sim, "/api/catalogs/shoes/items/sku-8").0, 200);
}

#[test]
fn lists_members_and_unsafe_creates() {
    let sim = start_sim();
    let created = write(
        &sim,
        "Lists",
        "insert",
        json!({}),
        vec![json!({"name": "VIP", "description": "top buyers"})],
    );
    all_ok(&created, 1);
    let list_id: i64 = created.results[&0].id.as_deref().unwrap().parse().unwrap();
    let (_, lists) = get(&sim, "/api/lists");
    let found = lists["lists"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["id"] == json!(list_id) && l["name"] == "VIP");
    assert!(found, "{lists}");

    let members = vec![
        json!({"email": "vip1@example.com", "firstName": "Ann"}),
        json!({"email": "vip2@example.com"}),
        json!({"email": "not-an-email"}),
        json!({"email": "vip1@example.com"}),
    ];
    let sub = write(
        &sim,
        "list_users",
        "subscribe",
        json!({"list_id": list_id}),
        members,
    );
    assert_eq!(sub.rows_with(RowStatus::Ok), [0, 1, 3]);
    let e = sub.results[&2].error.as_ref().unwrap();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InvalidInput, Some("email"))
    );
    // The same user twice never shares a request.
    assert_eq!(sub.summary.as_ref().unwrap().requests, 2);
    let (_, users) = get(&sim, &format!("/api/lists/getUsers?listId={list_id}"));
    let text = users.as_str().unwrap_or_default().to_string();
    assert!(
        text.contains("vip1@example.com") && text.contains("vip2@example.com"),
        "{text}"
    );

    let unsub = write(
        &sim,
        "ListUsers",
        "delete",
        json!({}),
        vec![json!({"listId": list_id, "email": "vip2@example.com"})],
    );
    all_ok(&unsub, 1);
    let (_, users) = get(&sim, &format!("/api/lists/getUsers?listId={list_id}"));
    assert!(
        !users
            .as_str()
            .unwrap_or_default()
            .contains("vip2@example.com")
    );

    let del = write(
        &sim,
        "lists",
        "delete",
        json!({}),
        vec![json!({"listId": list_id})],
    );
    all_ok(&del, 1);
}

#[test]
fn events_users_and_purchases_land_with_stable_ids() {
    let sim = start_sim();
    let users = write(
        &sim,
        "users",
        "upsert",
        json!({}),
        vec![
            json!({"email": "new1@example.com", "firstName": "Neo", "plan": "pro"}),
            json!({"email": "new2@example.com", "dataFields": {"plan": "free"}}),
        ],
    );
    all_ok(&users, 2);
    let (_, profile) = get(&sim, "/api/users/new1@example.com");
    assert_eq!(
        profile.pointer("/user/dataFields/plan"),
        Some(&json!("pro")),
        "{profile}"
    );
    assert_eq!(
        profile.pointer("/user/dataFields/firstName"),
        Some(&json!("Neo"))
    );

    let event = json!({"eventName": "viewed", "email": "new1@example.com", "sku": "A-1",
                       "createdAt": "2026-10-30T10:00:00Z"});
    let first = write(
        &sim,
        "Events",
        "insert",
        json!({}),
        vec![event.clone(), json!({"email": "new1@example.com"})],
    );
    assert_eq!(first.results[&0].status, RowStatus::Ok);
    assert_eq!(
        first.results[&1].error.as_ref().unwrap().field.as_deref(),
        Some("eventName")
    );
    // Writing the same row again (a retry, a resumed load) replaces, never doubles.
    let again = write(
        &sim,
        "events",
        "insert",
        json!({"bulk": false}),
        vec![event],
    );
    all_ok(&again, 1);
    assert_eq!(first.results[&0].id, again.results[&0].id);
    let (_, events) = get(&sim, "/api/events/new1@example.com");
    let viewed: Vec<_> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["eventName"] == "viewed")
        .collect();
    assert_eq!(viewed.len(), 1, "{events}");

    let purchase = write(
        &sim,
        "purchases",
        "insert",
        json!({}),
        vec![json!({
        "email": "new2@example.com",
        "items": [{"id": "A-1", "name": "Runner", "price": 20, "quantity": 2}]})],
    );
    all_ok(&purchase, 1);
    assert!(
        purchase.results[&0]
            .id
            .as_deref()
            .unwrap()
            .starts_with("ic-pu-")
    );
}

#[test]
fn templates_and_campaign_procedures() {
    let sim = start_sim();
    let t = write(
        &sim,
        "Templates",
        "insert",
        json!({"medium": "Email"}),
        vec![json!({
        "clientTemplateId": "welcome-v1", "name": "Welcome", "subject": "Hi", "html": "<p>Hi</p>"})],
    );
    all_ok(&t, 1);
    let template_id: i64 = t.results[&0]
        .id
        .as_deref()
        .expect("template id")
        .parse()
        .unwrap();
    let u = write(
        &sim,
        "templates",
        "update",
        json!({}),
        vec![json!({
        "templateId": template_id, "messageMedium": "Email", "subject": "Hello"})],
    );
    all_ok(&u, 1);
    let (_, got) = get(
        &sim,
        &format!("/api/templates/email/get?templateId={template_id}"),
    );
    assert_eq!(got["subject"], "Hello", "{got}");

    let (_, lists) = get(&sim, "/api/lists");
    let list_id = lists["lists"][0]["id"].clone();
    let c = write(
        &sim,
        "Campaigns",
        "insert",
        json!({}),
        vec![json!({
        "name": "Launch", "templateId": template_id, "listIds": [list_id]})],
    );
    all_ok(&c, 1);
    let campaign_id = c.results[&0].id.clone().expect("campaign id");
    // Creating a campaign is not safe to repeat: it was committed in doubt
    // before its request went out.
    let first = &c.checkpoints[0];
    assert_eq!(first.rows_final, 0);
    assert_eq!(first.state["in_doubt"], json!([0]));

    // A blast sent at once is starting: it can be aborted, once. The
    // second abort fails with Iterable's reason.
    let abort = write(
        &sim,
        "AbortCampaign",
        "",
        json!({}),
        vec![json!({"campaignId": campaign_id})],
    );
    all_ok(&abort, 1);
    let (_, after) = get(&sim, &format!("/api/campaigns/{campaign_id}"));
    let state = after
        .pointer("/campaignState")
        .or(after.pointer("/campaigns/0/campaignState"));
    assert_eq!(state, Some(&json!("Aborted")), "{after}");
    let again = write(
        &sim,
        "AbortCampaign",
        "call",
        json!({}),
        vec![json!({"campaignId": campaign_id})],
    );
    let e = again.results[&0].error.as_ref().expect("refused");
    assert_eq!(
        (again.results[&0].status, e.status),
        (RowStatus::Failed, Some(400)),
        "{e}"
    );
    assert!(e.message.contains("cannot be aborted"), "{e}");
}

#[test]
fn a_write_killed_after_sending_an_unsafe_request_resumes_without_sending_it_again() {
    let sim = start_sim();
    let config =
        Config::from_json(&json!({"base_url": sim.base_url(), "time_scale": 1000})).unwrap();
    let rows: Vec<Value> = (0..3)
        .map(|i| json!({"name": format!("resume-{i}")}))
        .collect();
    let mut session = WriteSession::open(
        config.clone(),
        "lists",
        "insert",
        &WriteOptions::default(),
        None,
    )
    .unwrap();
    let mut transport = HttpTransport::new(KEY);
    // Killed right after the second create went out, before its answer.
    let out = driver::run_write(
        &mut session,
        rows.clone(),
        10,
        &mut transport,
        &mut RealClock,
        Some(2),
    )
    .unwrap();
    assert!(out.stopped_early);
    let last = out.checkpoints.last().unwrap().clone();
    assert_eq!(last.rows_final, 1);
    assert_eq!(last.state["in_doubt"], json!([1]));

    let mut resumed = WriteSession::open(
        config,
        "lists",
        "insert",
        &WriteOptions::default(),
        Some(&last.state),
    )
    .unwrap();
    let rest = rows[last.rows_final as usize..].to_vec();
    let out =
        driver::run_write(&mut resumed, rest, 10, &mut transport, &mut RealClock, None).unwrap();
    assert_eq!(out.results[&1].status, RowStatus::Unknown);
    assert!(
        out.results[&1]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("resume-1")
    );
    assert_eq!(out.results[&2].status, RowStatus::Ok);
    let (_, lists) = get(&sim, "/api/lists");
    let count = |name: &str| {
        lists["lists"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["name"] == name)
            .count()
    };
    assert_eq!(
        (count("resume-0"), count("resume-1"), count("resume-2")),
        (1, 1, 1)
    );
}

// ---- failures, with a canned server and virtual time -----------------------

mod faults {
    use super::*;
    use connector_core::TransportErrorKind;
    use integration_tests::driver::{MockResponse, MockTransport, VirtualClock};

    fn session(object: &str, op: &str, options: Value) -> WriteSession {
        let config =
            Config::from_json(&json!({"base_url": "http://127.0.0.1:9", "max_retries": 3}))
                .unwrap();
        let options = WriteOptions::from_json(&options).unwrap();
        WriteSession::open(config, object, op, &options, None).unwrap()
    }

    #[test]
    fn an_unsafe_write_that_may_have_been_applied_is_unknown_and_never_resent() {
        for failure in [
            MockResponse::Ok(
                500,
                "application/json",
                br#"{"code":"GenericError"}"#.to_vec(),
            ),
            MockResponse::Transport(TransportErrorKind::Timeout),
            MockResponse::Cut(br#"{"listId": 5}"#.to_vec(), 4),
        ] {
            let mut failure = Some(failure);
            let mut s = session("lists", "insert", json!({}));
            let mut t = MockTransport::new(|_| {
                failure.take().unwrap_or(MockResponse::Ok(
                    200,
                    "application/json",
                    br#"{"listId": 9}"#.to_vec(),
                ))
            });
            let rows = vec![json!({"name": "a"}), json!({"name": "b"})];
            let out =
                driver::run_write(&mut s, rows, 10, &mut t, &mut VirtualClock(0), None).unwrap();
            assert_eq!(t.sent.len(), 2, "row 0 sent once, row 1 once");
            assert_eq!(out.results[&0].status, RowStatus::Unknown);
            let msg = &out.results[&0].error.as_ref().unwrap().message;
            assert!(msg.contains("list named \"a\""), "{msg}");
            assert_eq!(out.results[&1].status, RowStatus::Ok);
            assert_eq!(out.results[&1].id.as_deref(), Some("9"));
        }
    }

    #[test]
    fn safe_writes_retry_through_429s_and_500s() {
        let mut answers = vec![
            MockResponse::Ok(429, "application/json", b"{}".to_vec()),
            MockResponse::Ok(503, "text/plain", b"busy".to_vec()),
            MockResponse::Transport(TransportErrorKind::BodyCut),
        ]
        .into_iter();
        let mut s = session("users", "upsert", json!({}));
        let mut t = MockTransport::new(|_| {
            answers.next().unwrap_or(MockResponse::Ok(
                200,
                "application/json",
                br#"{"successCount":2,"failCount":0,"failedUpdates":{}}"#.to_vec(),
            ))
        });
        let rows = vec![
            json!({"email": "a@x.io"}),
            json!({"userId": "u2", "plan": 1}),
        ];
        let mut clock = VirtualClock(0);
        let out = driver::run_write(&mut s, rows, 10, &mut t, &mut clock, None).unwrap();
        assert_eq!(out.rows_with(RowStatus::Ok), [0, 1]);
        assert_eq!(t.sent.len(), 4);
        assert_eq!(out.summary.as_ref().unwrap().retries, 3);
        assert!(clock.0 > 0, "retries waited");
        // Retries exhausted: the rows fail, retryable, and are not lost.
        let mut s = session("users", "upsert", json!({}));
        let mut t =
            MockTransport::new(|_| MockResponse::Ok(500, "application/json", b"{}".to_vec()));
        let out = driver::run_write(
            &mut s,
            vec![json!({"email": "a@x.io"})],
            10,
            &mut t,
            &mut VirtualClock(0),
            None,
        )
        .unwrap();
        assert_eq!(t.sent.len(), 4, "1 + max_retries");
        let e = out.results[&0].error.as_ref().unwrap();
        assert_eq!(out.results[&0].status, RowStatus::Failed);
        assert!(e.retryable && e.status == Some(500), "{e:?}");
    }

    #[test]
    fn a_bulk_request_refused_whole_is_split_until_the_bad_row_stands_alone() {
        let mut s = session("events", "insert", json!({}));
        let mut t = MockTransport::new(|req| {
            let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
            let poisoned = body["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["dataFields"]["poison"] == json!(true));
            if poisoned {
                MockResponse::Ok(
                    400,
                    "application/json",
                    br#"{"code":"BadParams","msg":"bad event"}"#.to_vec(),
                )
            } else {
                MockResponse::Ok(200, "application/json", br#"{"successCount":1,"failCount":0,"failedUpdates":{},"disallowedEventNames":[]}"#.to_vec())
            }
        });
        let rows: Vec<Value> = (0..8)
            .map(|i| json!({"eventName": "e", "userId": format!("u{i}"), "poison": i == 5}))
            .collect();
        let out = driver::run_write(&mut s, rows, 100, &mut t, &mut VirtualClock(0), None).unwrap();
        assert_eq!(out.rows_with(RowStatus::Failed), [5]);
        assert_eq!(out.rows_with(RowStatus::Ok), [0, 1, 2, 3, 4, 6, 7]);
        let e = out.results[&5].error.as_ref().unwrap();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (Some(400), Some("BadParams"))
        );
        assert_eq!(out.checkpoints.last().unwrap().rows_final, 8);
    }

    #[test]
    fn procedures_and_unknown_names_are_typed() {
        let config = Config::from_json(&json!({})).unwrap();
        let e = WriteSession::open(
            config.clone(),
            "Channels",
            "insert",
            &WriteOptions::default(),
            None,
        )
        .err()
        .unwrap();
        assert_eq!(
            (e.kind, e.field.as_deref()),
            (ErrorKind::InvalidInput, Some("object"))
        );
        let mut s = session("TriggerCampaign", "call", json!({}));
        let mut t = MockTransport::new(|_| MockResponse::Transport(TransportErrorKind::Timeout));
        let out = driver::run_write(
            &mut s,
            vec![json!({"campaignId": 7, "listIds": [1]})],
            1,
            &mut t,
            &mut VirtualClock(0),
            None,
        )
        .unwrap();
        assert_eq!(t.sent.len(), 1, "a trigger is never resent");
        assert_eq!(out.results[&0].status, RowStatus::Unknown);
    }
}

#[test]
fn update_email_subscriptions_deletes_in_app_and_cancel_land() {
    let sim = start_sim();
    let up = write(
        &sim,
        "users",
        "upsert",
        json!({"bulk": false}),
        vec![
            json!({"email": "move-me@example.com", "plan": "gold"}),
            json!({"email": "drop-me@example.com"}),
        ],
    );
    all_ok(&up, 2);

    let moved = write(
        &sim,
        "users",
        "update_email",
        json!({}),
        vec![
            json!({"currentEmail": "move-me@example.com", "newEmail": "moved@example.com"}),
            json!({"currentEmail": "nobody@example.com", "newEmail": "x@example.com"}),
        ],
    );
    assert_eq!(moved.results[&0].status, RowStatus::Ok);
    let e = moved.results[&1].error.as_ref().expect("unknown user");
    assert_eq!(
        (moved.results[&1].status, e.status),
        (RowStatus::Failed, Some(400)),
        "{e}"
    );
    assert_eq!(get(&sim, "/api/users/move-me@example.com").1, json!({}));
    let (_, p) = get(&sim, "/api/users/moved@example.com");
    assert_eq!(
        p.pointer("/user/dataFields/plan"),
        Some(&json!("gold")),
        "{p}"
    );

    let (_, lists) = get(&sim, "/api/lists");
    let list_id = lists["lists"][0]["id"].as_i64().unwrap();
    let subs = write(
        &sim,
        "subscriptions",
        "update",
        json!({}),
        vec![
            json!({"email": "moved@example.com", "emailListIds": [list_id],
                    "unsubscribedChannelIds": []}),
        ],
    );
    all_ok(&subs, 1);
    let (_, p) = get(&sim, "/api/users/moved@example.com");
    assert_eq!(
        p.pointer("/user/dataFields/emailListIds"),
        Some(&json!([list_id]))
    );
    let (_, members) = get(&sim, &format!("/api/lists/getUsers?listId={list_id}"));
    assert!(
        members
            .as_str()
            .unwrap_or_default()
            .contains("moved@example.com")
    );

    let del = write(
        &sim,
        "users",
        "delete",
        json!({}),
        vec![json!({"email": "drop-me@example.com"})],
    );
    all_ok(&del, 1);
    assert_eq!(get(&sim, "/api/users/drop-me@example.com").1, json!({}));

    let (_, camps) = get(&sim, "/api/campaigns");
    let camps = camps["campaigns"].as_array().unwrap().clone();
    let any = camps[0]["id"].as_i64().unwrap();
    let inapp = write(
        &sim,
        "in_app_messages",
        "insert",
        json!({}),
        vec![json!({"campaignId": any, "email": "moved@example.com"})],
    );
    all_ok(&inapp, 1);
    let (_, msgs) = get(
        &sim,
        "/api/inApp/getMessages?email=moved%40example.com&count=10",
    );
    assert_eq!(
        msgs["inAppMessages"].as_array().map(Vec::len),
        Some(1),
        "{msgs}"
    );

    let scheduled = camps
        .iter()
        .find(|c| c["campaignState"] == "Scheduled")
        .expect("a scheduled campaign")["id"]
        .as_i64()
        .unwrap();
    let cancel = write(
        &sim,
        "CancelScheduledOrRecurringCampaign",
        "",
        json!({}),
        vec![json!({"campaignId": scheduled})],
    );
    all_ok(&cancel, 1);
    let (_, after) = get(&sim, &format!("/api/campaigns/{scheduled}"));
    let state = after
        .pointer("/campaignState")
        .or(after.pointer("/campaigns/0/campaignState"));
    assert_eq!(state, Some(&json!("Ready")), "{after}");

    // Every write the simulator applied is counted, once each here.
    let applied = sim.applied();
    for (kind, key) in [
        ("user.updateEmail", "move-me@example.com"),
        ("user.subscriptions", "moved@example.com"),
        ("user.delete", "drop-me@example.com"),
        ("campaign.cancel", scheduled.to_string().as_str()),
    ] {
        assert_eq!(applied[kind][key], 1, "{kind} {key}: {applied:?}");
    }
    assert_eq!(
        applied["inapp.target"][&format!("{any}/moved@example.com")],
        1
    );
    let catalogs = write(
        &sim,
        "catalogs",
        "delete",
        json!({}),
        vec![json!({"name": "nope-not-here"})],
    );
    assert_eq!(catalogs.results[&0].status, RowStatus::Failed);
}

/// With `confirm`, rows Iterable applies later are read back: against a
/// simulator that shows writes only after a delay, every row ends `ok` once
/// it shows (reads were needed), and with a deadline shorter than the delay
/// every row ends `unknown`, naming the read to check.
#[test]
fn confirmed_writes_wait_until_the_simulator_shows_them() {
    let sim = iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: 12,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        faults: FaultOptions {
            write_visible_after_ms: 1_500,
            ..FaultOptions::default()
        },
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    });
    all_ok(
        &write(
            &sim,
            "catalogs",
            "insert",
            json!({}),
            vec![json!({"name": "later"})],
        ),
        1,
    );
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"itemId": format!("i{i}"), "price": i}))
        .collect();
    let out = write(
        &sim,
        "catalog_items",
        "upsert",
        json!({"catalog": "later", "confirm": true, "confirm_timeout_ms": 20_000}),
        items.clone(),
    );
    all_ok(&out, 5);
    let summary = out.summary.as_ref().unwrap();
    assert!(
        summary.requests > 1 + 5,
        "one write and more than one read per row: {summary:?}"
    );
    assert_eq!(get(&sim, "/api/catalogs/later/items/i4").0, 200);

    let users: Vec<Value> = (0..3)
        .map(|i| json!({"email": format!("late{i}@example.com"), "tier": "gold"}))
        .collect();
    let out = write(
        &sim,
        "users",
        "upsert",
        json!({"confirm": true, "confirm_timeout_ms": 400}),
        users,
    );
    assert_eq!(out.results.len(), 3);
    for r in out.results.values() {
        assert_eq!(r.status, RowStatus::Unknown, "{r:?}");
        let e = r.error.as_ref().unwrap();
        assert!(e.message.contains("/api/users/late"), "{e}");
    }
}
