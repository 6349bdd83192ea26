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
