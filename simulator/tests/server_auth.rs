//! `Api-Key` handling: spellings, missing and wrong keys, key-less downloads.

mod server_support;

use iterable_sim::SimOptions;
use serde_json::json;
use server_support::{fake_sim, request};

#[test]
fn all_three_header_spellings_are_accepted() {
    let (sim, _) = fake_sim(SimOptions::default());
    for name in ["Api-Key", "Api_Key", "api_key", "API-KEY"] {
        let r = request(
            &sim.base_url(),
            "GET",
            "/api/campaigns",
            &[(name, "k1")],
            None,
        );
        assert_eq!(r.status, 200, "{name}: {}", r.text());
    }
}

#[test]
fn missing_or_empty_key_is_401_bad_api_key() {
    let (sim, api) = fake_sim(SimOptions::default());
    let r = request(&sim.base_url(), "GET", "/api/campaigns?page=1", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"msg":"Invalid API key","code":"BadApiKey",
               "params":{"ip":"127.0.0.1","endpoint":"/api/campaigns"}})
    );
    let r = request(
        &sim.base_url(),
        "GET",
        "/api/campaigns",
        &[("Api-Key", "")],
        None,
    );
    assert_eq!(r.status, 401);
    assert_eq!(api.calls(), 0, "a 401 never reaches the handler");
}

#[test]
fn only_the_configured_key_when_one_is_given() {
    let (sim, _) = fake_sim(SimOptions {
        api_key: Some("right".into()),
        ..SimOptions::default()
    });
    let base = sim.base_url();
    let r = request(
        &base,
        "GET",
        "/api/campaigns",
        &[("Api-Key", "wrong")],
        None,
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "BadApiKey");
    let r = request(
        &base,
        "GET",
        "/api/campaigns",
        &[("api_key", "right")],
        None,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn download_urls_need_no_key_and_no_spec_entry() {
    let (sim, _) = fake_sim(SimOptions {
        api_key: Some("right".into()),
        ..SimOptions::default()
    });
    let r = request(
        &sim.base_url(),
        "GET",
        "/_files/job-1/file-1.json?sig=x",
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text().lines().count(), 10);
}
