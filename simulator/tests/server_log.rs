//! The request log: file lines, the in-memory copy, and no API key in it.

mod server_support;

use iterable_sim::{LogEntry, SimOptions};
use server_support::{EXPORT_JSON, EXPORT_LINES, fake_sim, request};

const KEY: &str = "sk-very-secret-4711";

#[test]
fn log_file_has_one_json_line_per_request_and_no_key() {
    let dir = std::env::temp_dir().join(format!("iterable-sim-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("requests.jsonl");
    let (mut sim, _) = fake_sim(SimOptions {
        log: Some(path.clone()),
        ..SimOptions::default()
    });
    let base = sim.base_url();
    let key = [("Api-Key", KEY)];
    let r = request(&base, "GET", EXPORT_JSON, &key, None);
    assert_eq!(r.status, 200);
    request(
        &base,
        "GET",
        "/api/campaigns?api_key=sk-very-secret-4711&page=2",
        &key,
        None,
    );
    request(
        &base,
        "GET",
        "/api/campaigns",
        &[("Api_Key", "other")],
        None,
    );
    request(&base, "GET", "/api/campaigns", &[], None);
    request(&base, "GET", "/api/nope", &key, None);
    let memory = sim.request_log();
    sim.stop();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(KEY), "API key leaked into the log:\n{text}");
    let entries: Vec<LogEntry> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["bytes", "method", "ms", "path", "query", "status"]);
    }
    assert_eq!(entries, memory);
    let statuses: Vec<u16> = entries.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [200, 200, 200, 401, 404]);
    let export = &entries[0];
    assert_eq!(export.method, "GET");
    assert_eq!(export.path, "/api/export/data.json");
    assert_eq!(export.query, "dataTypeName=emailSend&range=All");
    assert_eq!(export.bytes as usize, r.body.len());
    assert!(r.body.len() > EXPORT_LINES * 10);
    assert_eq!(entries[1].query, "api_key=REDACTED&page=2");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn request_log_is_complete_when_the_client_has_the_body() {
    let (sim, _) = fake_sim(SimOptions::default());
    for i in 0..5 {
        let r = request(
            &sim.base_url(),
            "GET",
            EXPORT_JSON,
            &[("Api-Key", "k")],
            None,
        );
        assert!(r.complete);
        // Written before the last byte leaves, so no waiting is needed.
        assert_eq!(sim.request_log().len(), i + 1);
    }
}
