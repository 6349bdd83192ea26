//! Custom events alike in every identifying field (same user, name and
//! second; "twins") each keep their own `_key`, and a response cut between
//! two twins, read again, hands each out exactly once.

use connector_core::{Config, ReadSession, SessionState, StreamSelection};
use integration_tests::driver::{self, MockResponse, MockTransport, VirtualClock};
use integration_tests::mock_iterable::{path, query};
use serde_json::{Value, json};

const NOW: i64 = 1_706_832_000_000; // 2024-02-02T00:00:00Z

fn row(sku: &str, second: u32) -> String {
    json!({"email": "twin@example.com", "eventName": "addToCart",
        "createdAt": format!("2024-02-01 10:00:{second:02} +00:00"), "sku": sku})
    .to_string()
}

#[test]
fn twins_keep_their_own_keys_across_a_cut() {
    let lines = [row("A", 1), row("B", 1), row("C", 1), row("D", 2)];
    let body = format!("{}\n", lines.join("\n")).into_bytes();
    // Cut inside the third line: the first two were handed out already.
    let cut_at = lines[0].len() + lines[1].len() + 2 + 10;
    let mut sent_once = false;
    let mut transport = MockTransport::new(|req| {
        if path(req) != "/api/export/data.json" {
            return MockResponse::Ok(200, "application/json", b"{}".to_vec());
        }
        // Every window holding 10:00 gets the four rows (the reader may
        // halve its window after the cut; rows are filtered to it).
        let start = query(req, "startDateTime").pop().unwrap_or_default();
        let end = query(req, "endDateTime").pop().unwrap_or_default();
        let inside =
            start.as_str() <= "2024-02-01 10:00:01" && end.as_str() > "2024-02-01 10:00:02";
        if !inside {
            return MockResponse::Ok(200, "application/x-json-stream", Vec::new());
        }
        if !sent_once {
            sent_once = true;
            return MockResponse::Cut(body.clone(), cut_at);
        }
        MockResponse::Ok(200, "application/x-json-stream", body.clone())
    });
    let config = Config::from_json(&json!({"base_url": "http://sim.test",
        "start_date": "2024-02-01T00:00:00Z", "end_date": "2024-02-02T00:00:00Z", "window_days": 1}))
    .unwrap();
    let mut session = ReadSession::open(
        config,
        &[StreamSelection::incremental("custom_event")],
        &SessionState::new(),
    )
    .unwrap();
    let out = driver::run(&mut session, &mut transport, &mut VirtualClock(NOW), None).unwrap();
    let records = out.records.get("custom_event").cloned().unwrap_or_default();
    let skus: Vec<&str> = records
        .iter()
        .filter_map(|r| r.get("sku").and_then(Value::as_str))
        .collect();
    let mut sorted = skus.clone();
    sorted.sort();
    assert_eq!(sorted, ["A", "B", "C", "D"], "each row once: {skus:?}");
    let keys: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r.get("_key").and_then(Value::as_str))
        .collect();
    assert_eq!(keys.len(), 4, "{records:?}");
    assert!(transport.sent.len() >= 2, "the cut response was read again");
}
