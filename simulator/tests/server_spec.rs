//! Validation against iterable-openapi.json as seen over HTTP, and the
//! response headers every answer carries.

mod server_support;

use iterable_sim::SimOptions;
use serde_json::json;
use server_support::{Conn, fake_sim, get, request};

#[test]
fn unknown_path_or_method_is_404_not_found() {
    let (sim, api) = fake_sim(SimOptions::default());
    let r = get(&sim.base_url(), "/api/nothing/here");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "NotFound");
    let r = request(
        &sim.base_url(),
        "PATCH",
        "/api/campaigns",
        &[("Api-Key", "k")],
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(api.calls(), 0);
}

#[test]
fn missing_required_param_is_400_naming_it() {
    let (sim, api) = fake_sim(SimOptions::default());
    let r = get(&sim.base_url(), "/api/export/data.json?range=All");
    assert_eq!(r.status, 400);
    let body = r.json();
    assert_eq!(body["code"], "BadParams");
    assert!(
        body["msg"].as_str().unwrap().contains("dataTypeName"),
        "{body}"
    );
    let r = get(&sim.base_url(), "/api/lists/getUsers");
    assert!(r.json()["msg"].as_str().unwrap().contains("listId"));
    assert_eq!(api.calls(), 0);
}

#[test]
fn enum_violation_names_param_and_allowed_values() {
    let (sim, _) = fake_sim(SimOptions::default());
    let r = get(
        &sim.base_url(),
        "/api/export/data.json?dataTypeName=emailSent&range=All",
    );
    assert_eq!(r.status, 400);
    let msg = r.json()["msg"].as_str().unwrap().to_string();
    assert!(
        msg.contains("dataTypeName") && msg.contains("emailSent"),
        "{msg}"
    );
    assert!(
        msg.contains("emailSend") && msg.contains("whatsAppUsageInfo"),
        "{msg}"
    );
    let r = get(
        &sim.base_url(),
        "/api/export/data.json?dataTypeName=user&range=Tomorrow",
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["msg"].as_str().unwrap().contains("range"));
}

#[test]
fn enums_match_case_insensitively_and_handlers_see_the_spec_spelling() {
    let (sim, _) = fake_sim(SimOptions::default());
    let base = sim.base_url();
    let r = get(
        &base,
        "/api/campaigns/metrics?campaignId=1&campaignId=2&startDateTime=2024-01-01",
    );
    assert_eq!(r.status, 200, "repeated params: {}", r.text());
    let r = get(
        &base,
        "/api/templates?messageMedium=email&templateType=BLAST&stream=True",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["params"]["query"],
        json!([
            ["messageMedium", "Email"],
            ["templateType", "Blast"],
            ["stream", "True"]
        ])
    );
    // The fake CSV export echoes the dataTypeName it was given.
    for (sent, seen) in [
        ("emailUnsubscribe", "emailUnSubscribe"),
        ("EMAILUNSUBSCRIBE", "emailUnSubscribe"),
        ("anonSession", "unknownSession"),
        ("user", "user"),
    ] {
        let r = get(
            &base,
            &format!("/api/export/data.csv?dataTypeName={sent}&range=All"),
        );
        assert_eq!(r.status, 200, "{sent}: {}", r.text());
        assert_eq!(r.text(), format!("dataTypeName\n{seen}\n"));
    }
}

#[test]
fn bad_dates_and_integers_are_400_naming_the_param() {
    let (sim, _) = fake_sim(SimOptions::default());
    let base = sim.base_url();
    for (target, param) in [
        (
            "/api/export/data.json?dataTypeName=user&startDateTime=yesterday&endDateTime=2024-01-02",
            "startDateTime",
        ),
        (
            "/api/export/data.json?dataTypeName=user&startDateTime=2024-01-01&endDateTime=2024-13-01",
            "endDateTime",
        ),
        (
            "/api/campaigns/metrics?campaignId=1&endDateTime=01/02/2024",
            "endDateTime",
        ),
        (
            "/api/export/data.json?dataTypeName=user&campaignId=abc",
            "campaignId",
        ),
        ("/api/campaigns/notanumber", "id"),
    ] {
        let r = get(&base, target);
        assert_eq!(r.status, 400, "{target}");
        let msg = r.json()["msg"].as_str().unwrap().to_string();
        assert!(msg.contains(param), "{target}: {msg}");
    }
    for ok in [
        "/api/export/data.json?dataTypeName=user&startDateTime=2024-01-01+00%3A00%3A00&endDateTime=2024-01-02+00%3A00%3A00+%2B00%3A00",
        "/api/export/data.json?dataTypeName=user&startDateTime=2024-01-01T00%3A00%3A00.000Z&endDateTime=2024-01-02",
    ] {
        let r = get(&base, ok);
        assert_eq!(r.status, 200, "{ok}: {}", r.text());
    }
}

#[test]
fn json_bodies_are_checked() {
    let (sim, api) = fake_sim(SimOptions::default());
    let base = sim.base_url();
    let key = [("Api-Key", "k")];
    let r = request(
        &base,
        "POST",
        "/api/export/start",
        &key,
        Some(br#"{"dataTypeName":"user"}"#),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "BadParams");
    assert!(r.json()["msg"].as_str().unwrap().contains("outputFormat"));
    let r = request(
        &base,
        "POST",
        "/api/users/bulkUpdate",
        &key,
        Some(b"{\"users\": [1,"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "BadJsonBody");
    let r = request(&base, "POST", "/api/users/bulkUpdate", &key, None);
    assert_eq!(r.json()["code"], "BadJsonBody");
    assert_eq!(api.calls(), 0);
    let r = request(
        &base,
        "POST",
        "/api/export/start",
        &key,
        Some(br#"{"dataTypeName":"user","outputFormat":"text/csv"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn headers_and_keep_alive() {
    let (sim, api) = fake_sim(SimOptions::default());
    let mut conn = Conn::open(&sim.base_url());
    for _ in 0..3 {
        let r = conn.get("/api/users/jane%40example.com");
        assert_eq!(r.status, 200);
        assert!(r.complete);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("server"), Some("iterable-ingress sim"));
        assert!(r.header("request-time").unwrap().parse::<u64>().is_ok());
        // Handlers get the decoded path.
        assert_eq!(r.json()["params"]["path"], "/api/users/jane@example.com");
    }
    assert_eq!(api.calls(), 3, "three requests on one connection");
    let r = conn.get(server_support::EXPORT_JSON);
    assert_eq!(r.header("content-type"), Some("application/x-json-stream"));
    assert!(r.complete);
    assert_eq!(r.text().lines().count(), server_support::EXPORT_LINES);
    assert_eq!(
        conn.get("/api/channels").status,
        200,
        "still alive after a stream"
    );
}
