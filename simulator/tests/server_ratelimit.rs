//! The documented per-endpoint limits, over HTTP. The limiter clock runs 10×
//! faster, so "4 per minute" means 4 per 6 real seconds.

mod server_support;

use std::time::{Duration, Instant};

use iterable_sim::{FaultOptions, SimOptions};
use serde_json::json;
use server_support::{fake_sim, get, request};

fn limited(time_scale: f64, retry_after: Option<u64>) -> SimOptions {
    SimOptions {
        faults: FaultOptions {
            rate_limits: true,
            time_scale,
            retry_after_secs: retry_after,
            ..FaultOptions::default()
        },
        ..SimOptions::default()
    }
}

#[test]
fn export_allows_four_per_minute_then_429_then_recovers() {
    let (sim, api) = fake_sim(limited(10.0, None));
    let base = sim.base_url();
    let t0 = Instant::now();
    let target = "/api/export/data.csv?dataTypeName=emailSend&range=All";
    for i in 0..4 {
        assert_eq!(get(&base, target).status, 200, "request {i}");
    }
    let r = get(&base, target);
    let window = Duration::from_secs(6);
    assert!(t0.elapsed() < window, "machine too slow for this window");
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"msg":"Exceeded rate limit for endpoint: /api/export/data.csv, project: 8575 ",
               "code":"RateLimitExceeded","params":{}})
    );
    assert_eq!(
        r.header("retry-after"),
        None,
        "Iterable sends no Retry-After"
    );
    assert_eq!(
        api.calls(),
        4,
        "a rate-limited request does not reach the handler"
    );
    // Other endpoints have their own budgets.
    assert_eq!(get(&base, "/api/campaigns").status, 200);
    std::thread::sleep(
        (t0 + window + Duration::from_millis(400)).saturating_duration_since(Instant::now()),
    );
    assert_eq!(
        get(&base, target).status,
        200,
        "budget back after the window"
    );
}

#[test]
fn export_budget_is_shared_by_json_csv_and_all_data_types() {
    let (sim, _) = fake_sim(limited(10.0, None));
    let base = sim.base_url();
    for dt in ["emailSend", "emailOpen", "user"] {
        let r = get(
            &base,
            &format!("/api/export/data.csv?dataTypeName={dt}&range=All"),
        );
        assert_eq!(r.status, 200, "{dt}");
    }
    let r = get(
        &base,
        "/api/export/data.json?dataTypeName=purchase&range=All",
    );
    assert_eq!(r.status, 200);
    assert!(r.complete);
    let r = get(
        &base,
        "/api/export/data.json?dataTypeName=customEvent&range=All",
    );
    assert_eq!(r.status, 429);
    assert!(
        r.json()["msg"]
            .as_str()
            .unwrap()
            .contains("/api/export/data.json")
    );
    let r = get(
        &base,
        "/api/export/data.csv?dataTypeName=emailClick&range=All",
    );
    assert_eq!(r.status, 429);
}

#[test]
fn per_second_limits_and_optional_retry_after() {
    // getFields allows 3 per second; a slowed clock (one simulated second
    // = 10 real ones) keeps the test immune to a busy machine.
    let (sim, _) = fake_sim(limited(0.1, Some(7)));
    let base = sim.base_url();
    let statuses: Vec<u16> = (0..5)
        .map(|_| get(&base, "/api/users/getFields").status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let r = get(&base, "/api/users/getFields");
    assert_eq!(r.header("retry-after"), Some("7"));
}

#[test]
fn unauthorised_requests_do_not_use_the_budget() {
    let (sim, _) = fake_sim(limited(10.0, None));
    let base = sim.base_url();
    let target = "/api/export/data.csv?dataTypeName=user&range=All";
    for _ in 0..10 {
        assert_eq!(request(&base, "GET", target, &[], None).status, 401);
    }
    for i in 0..4 {
        assert_eq!(get(&base, target).status, 200, "request {i}");
    }
}

#[test]
fn without_the_flag_there_is_no_limit() {
    let (sim, _) = fake_sim(SimOptions::default());
    let base = sim.base_url();
    for _ in 0..8 {
        let r = get(&base, "/api/export/data.csv?dataTypeName=user&range=All");
        assert_eq!(r.status, 200);
    }
}
