//! Every request the core plans, for every stream in every mode, is valid
//! against Iterable's own OpenAPI description (`simulator/spec/iterable-openapi.json`,
//! loaded by the simulator's validator): path, method, required parameters,
//! enums and date formats.

use connector_core::SessionState;
use connector_core::all_streams;
use connector_core::{Config, ReadSession, StreamSelection};
use integration_tests::driver::{self, MockResponse, MockTransport, VirtualClock};
use integration_tests::mock_iterable;
use iterable_sim::Spec;
use serde_json::{Value, json};

const NOW: i64 = 1_709_300_000_000; // 2024-03-01T13:33:20Z

fn check_all(config: Value, cut_exports: bool) -> usize {
    let config = Config::from_json(&config).unwrap();
    let streams: Vec<StreamSelection> = all_streams()
        .map(|d| StreamSelection::incremental(d.name))
        .collect();
    let mut session = ReadSession::open(config, &streams, &SessionState::new()).unwrap();
    let mut cut_once = std::collections::BTreeSet::new();
    let mut transport = MockTransport::new(|req| {
        let resp = mock_iterable::answer(req);
        // Cut the first response of each export stream to exercise halving.
        if cut_exports
            && mock_iterable::path(req) == "/api/export/data.json"
            && cut_once.insert(req.stream.clone())
            && let MockResponse::Ok(_, _, body) = resp
        {
            let n = body.len() / 2;
            return MockResponse::Cut(body, n);
        }
        resp
    });
    transport.chunk = 4096;
    let out = driver::run(&mut session, &mut transport, &mut VirtualClock(NOW), None).unwrap();
    assert!(out.summary.is_some());
    let spec = Spec::load();
    for req in &transport.sent {
        if let Err(v) = spec.validate_target(req.method.as_str(), &req.url, req.body.as_deref()) {
            panic!("{} {} violates the spec: {v}", req.method.as_str(), req.url);
        }
    }
    transport.sent.len()
}

#[test]
fn every_planned_request_is_valid_against_the_spec() {
    let n = check_all(
        json!({"base_url": "http://sim.test", "start_date": "2024-02-01", "email": "a+b@example.com"}),
        false,
    );
    assert!(n > 100, "only {n} requests");
}

#[test]
fn valid_in_user_id_mode_fixed_windows_and_filters() {
    check_all(
        json!({"base_url": "http://sim.test", "start_date": "2024-02-01T06:30:00Z",
               "end_date": "2024-03-01", "window_days": 3, "user_key": "userId",
               "user_id": "u 1/2", "list_ids": [11], "catalog_names": ["shop items"]}),
        false,
    );
}

#[test]
fn valid_when_export_windows_are_halved_after_cuts() {
    check_all(
        json!({"base_url": "http://sim.test", "start_date": "2024-02-01", "email": "x@example.com"}),
        true,
    );
}

/// One plausible row for each writable (object, op), bulk and one by one.
fn write_samples() -> Vec<(&'static str, &'static str, Value, Value)> {
    let user = json!({"email": "a@example.com", "plan": "pro"});
    vec![
        (
            "catalog_items",
            "upsert",
            json!({"catalog": "shoes"}),
            json!({"itemId": "s-1", "price": 3}),
        ),
        (
            "catalog_items",
            "update",
            json!({"catalog": "shoes"}),
            json!({"itemId": "s-1", "value": {"price": 4}}),
        ),
        (
            "catalog_items",
            "delete",
            json!({"catalog": "shoes"}),
            json!({"itemId": "s-1"}),
        ),
        ("catalogs", "insert", json!({}), json!({"name": "shoes"})),
        ("catalogs", "delete", json!({}), json!({"name": "shoes"})),
        (
            "lists",
            "insert",
            json!({}),
            json!({"name": "VIP", "description": "d"}),
        ),
        ("lists", "delete", json!({}), json!({"listId": 5})),
        ("list_users", "insert", json!({"list_id": 5}), user.clone()),
        (
            "list_users",
            "delete",
            json!({"list_id": 5}),
            json!({"userId": "u 1"}),
        ),
        (
            "templates",
            "insert",
            json!({"medium": "Push"}),
            json!({"clientTemplateId": "c-1", "name": "n"}),
        ),
        (
            "templates",
            "update",
            json!({}),
            json!({"templateId": 7, "messageMedium": "SMS", "name": "n"}),
        ),
        (
            "templates",
            "insert",
            json!({}),
            json!({"clientTemplateId": "c-2", "messageMedium": "InApp"}),
        ),
        (
            "templates",
            "update",
            json!({}),
            json!({"templateId": 8, "messageMedium": "Email", "subject": "s"}),
        ),
        (
            "campaigns",
            "insert",
            json!({}),
            json!({"name": "C", "templateId": 7, "listIds": [5],
            "sendAt": "2026-11-02T10:00:00Z", "sendMode": "ProjectTimeZone"}),
        ),
        (
            "events",
            "insert",
            json!({}),
            json!({"eventName": "e", "email": "a@example.com", "createdAt": 1_700_000_000, "k": 1}),
        ),
        (
            "in_app_messages",
            "insert",
            json!({}),
            json!({"campaignId": 3, "email": "a@example.com"}),
        ),
        (
            "users",
            "upsert",
            json!({"merge_nested_objects": true}),
            user.clone(),
        ),
        (
            "users",
            "delete",
            json!({}),
            json!({"email": "a@example.com"}),
        ),
        ("users", "delete", json!({}), json!({"userId": "u/1"})),
        (
            "users",
            "update_email",
            json!({}),
            json!({"email": "a@example.com", "newEmail": "b@example.com"}),
        ),
        (
            "purchases",
            "insert",
            json!({}),
            json!({"userId": "u1", "items": [{"id": "i", "name": "n", "price": 1, "quantity": 1}]}),
        ),
        (
            "subscriptions",
            "update",
            json!({}),
            json!({"email": "a@example.com", "emailListIds": [5]}),
        ),
        ("AbortCampaign", "call", json!({}), json!({"campaignId": 3})),
        (
            "TriggerCampaign",
            "call",
            json!({}),
            json!({"campaignId": 3, "listIds": [5], "dataFields": {"x": 1}}),
        ),
        (
            "CancelScheduledOrRecurringCampaign",
            "call",
            json!({}),
            json!({"campaignId": 3}),
        ),
    ]
}

#[test]
fn every_planned_write_is_valid_against_the_spec() {
    use connector_core::{RowStatus, WriteOptions, WriteSession};
    let spec = Spec::load();
    let mut checked = 0;
    for bulk in [true, false] {
        for (object, op, options, row) in write_samples() {
            let config = Config::from_json(&json!({"base_url": "http://sim.test"})).unwrap();
            let mut options = options.clone();
            options["bulk"] = json!(bulk);
            let options = WriteOptions::from_json(&options).unwrap();
            let mut session = WriteSession::open(config, object, op, &options, None).unwrap();
            let mut transport = MockTransport::new(|_| {
                MockResponse::Ok(
                    200,
                    "application/json",
                    br#"{"msg":"","code":"Success","params":null}"#.to_vec(),
                )
            });
            let out = driver::run_write(
                &mut session,
                vec![row],
                1,
                &mut transport,
                &mut VirtualClock(NOW),
                None,
            )
            .unwrap();
            assert_eq!(
                out.rows_with(RowStatus::Ok),
                [0],
                "{object} {op}: {:?}",
                out.results
            );
            for req in &transport.sent {
                if let Err(v) =
                    spec.validate_target(req.method.as_str(), &req.url, req.body.as_deref())
                {
                    panic!(
                        "{object} {op}: {} {} violates the spec: {v}\nbody: {}",
                        req.method.as_str(),
                        req.url,
                        String::from_utf8_lossy(req.body.as_deref().unwrap_or_default())
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * write_samples().len());
}
