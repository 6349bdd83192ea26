//! Records that contradict their stream's schema (#14.5): with the default
//! `schema_policy: report` they are kept and logged (the first few, then the
//! count); with `fail` the read stops with a typed `schema-violation` error
//! naming the stream and field. Before, they passed without a word.

use connector_core::{
    Config, ConnectorError, LogLevel, ReadSession, SCHEMA_VIOLATION, SessionState, StreamSelection,
};
use integration_tests::driver::{self, MockResponse, MockTransport, SyncOutput, VirtualClock};
use serde_json::json;

const NOW: i64 = 1_706_832_000_000;

fn read(policy: Option<&str>) -> Result<SyncOutput, ConnectorError> {
    let mut config = json!({"base_url": "http://sim.test"});
    if let Some(p) = policy {
        config["schema_policy"] = json!(p);
    }
    let config = Config::from_json(&config).unwrap();
    let mut session = ReadSession::open(
        config,
        &[StreamSelection::incremental("lists")],
        &SessionState::new(),
    )
    .unwrap();
    // Seven lists: two with an id that is text, one without an id.
    let lists: Vec<_> = (1..=4)
        .map(|i| json!({"id": i, "name": format!("L{i}")}))
        .chain([
            json!({"id": "5", "name": "text id"}),
            json!({"id": "six", "name": "text id"}),
            json!({"name": "no id"}),
        ])
        .collect();
    let body = json!({ "lists": lists }).to_string().into_bytes();
    let mut transport =
        MockTransport::new(|_| MockResponse::Ok(200, "application/json", body.clone()));
    driver::run(&mut session, &mut transport, &mut VirtualClock(NOW), None)
}

#[test]
fn violations_are_reported_and_kept_by_default() {
    let out = read(None).unwrap();
    assert_eq!(out.records["lists"].len(), 7, "every record kept");
    let warnings: Vec<&str> = out
        .logs
        .iter()
        .filter(|l| l.level == LogLevel::Warn)
        .map(|l| l.message.as_str())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|m| m.contains("lists.id: expected an integer, got \"six\"")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|m| m.contains("primary key")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|m| m.starts_with("3 records contradicted the schema")),
        "{warnings:?}"
    );
}

#[test]
fn the_fail_policy_stops_with_a_typed_error() {
    let e = read(Some("fail")).unwrap_err();
    assert_eq!(e.code.as_deref(), Some(SCHEMA_VIOLATION));
    assert_eq!(e.field.as_deref(), Some("id"));
    assert_eq!(e.stream.as_deref(), Some("lists"));
    assert!(e.message.contains("schema_policy"), "{e}");
    // An unknown policy is a config error naming the setting.
    let e = Config::from_json(&json!({"schema_policy": "lenient"})).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("schema_policy"));
}
