//! Writes and SQL: rows and statements as users type them.

use connector_core::{
    Action, Config, ConnectorError, ErrorKind, ModifySession, QuerySession, SqlPlan,
    TransportErrorKind, WriteAction, WriteOptions, WriteSession, plan_sql, write_targets,
};
use serde_json::{Map, Value, json};

use crate::rng::{Rng, fnv1a};
use crate::targets::{API_KEY, NOW_MS, assert_no_key_echo};

fn config() -> Config {
    Config::from_json(&json!({"base_url": "https://api.iterable.com", "api_key": API_KEY}))
        .expect("a fixed valid config")
}

/// Answers Iterable gives writes: successes of each shape, refusals,
/// failures, a rate limit, junk.
const ANSWERS: &[(u16, &[u8])] = &[
    (200, br#"{"msg": "", "code": "Success", "params": null}"#),
    (
        200,
        br#"{"successCount": 1, "failCount": 1, "invalidEmails": ["x@y"], "invalidUserIds": [], "failedUpdates": {"invalidEmails": ["x@y"], "notFoundEmails": [], "notFoundUserIds": [], "invalidUserIds": [], "forgottenEmails": [], "forgottenUserIds": [], "conflictEmails": [], "conflictUserIds": [], "invalidDataEmails": [], "invalidDataUserIds": []}}"#,
    ),
    (200, br#"{"listId": 1068682}"#),
    (200, br#"{"campaignId": 14810308}"#),
    (200, br#"{"msg": "", "code": "Success", "params": {"id": "abc"}}"#),
    (200, b"<html>ok</html>"),
    (200, b""),
    (
        400,
        br#"{"msg": "Invalid email", "code": "InvalidEmailAddressError", "params": null}"#,
    ),
    (409, br#"{"msg": "conflict", "code": "Conflict"}"#),
    (429, b"slow down"),
    (500, b"Api-Key: fuzz-SECRET-key-0123456789abcdef"),
    (503, b""),
];

/// `WriteSession::push_rows` (a JSON array or value) or `push_ndjson` (the
/// rest) into a target chosen by the input's hash, answered by canned
/// answers: every row ends with exactly one result, within bounded polls.
pub fn write_rows(data: &[u8]) {
    let mut rng = Rng::new(fnv1a(data));
    let targets = write_targets();
    let t = rng.pick(&targets);
    let options = WriteOptions {
        bulk: !rng.one_in(4),
        batch_size: if rng.one_in(3) {
            Some(1 + rng.below(5))
        } else {
            None
        },
        list_id: if rng.one_in(2) { Some(949814) } else { None },
        catalog: if rng.one_in(2) {
            Some("restaurants".into())
        } else {
            None
        },
        medium: if rng.one_in(2) {
            Some("Email".into())
        } else {
            None
        },
        ..WriteOptions::default()
    };
    let mut session = match WriteSession::open(config(), t.object, t.op, &options, None) {
        Ok(s) => s,
        Err(e) => return check_error(&e),
    };
    let pushed = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Array(rows)) => {
            let n = rows.len() as u64;
            session.push_rows(rows).map(|()| n)
        }
        Ok(v) => session.push_rows(vec![v]).map(|()| 1),
        Err(_) => session.push_ndjson(data),
    };
    let rows = match pushed {
        Ok(n) => n,
        Err(e) => return check_error(&e),
    };
    session.finish_input();
    let mut now = NOW_MS;
    let mut seen = vec![false; rows as usize];
    for _ in 0..20_000 {
        let action = match session.poll(now) {
            Ok(a) => a,
            Err(e) => return check_error(&e),
        };
        match action {
            WriteAction::Fetch(req) => {
                assert!(!req.url.contains(API_KEY), "the key in a URL");
                let fed = if rng.one_in(8) {
                    session.on_transport_error(
                        now,
                        req.id,
                        *rng.pick(&[TransportErrorKind::Connect, TransportErrorKind::Timeout]),
                    )
                } else {
                    let (status, body) = rng.pick(ANSWERS);
                    let headers = if *status == 429 {
                        vec![("Retry-After".to_string(), "2".to_string())]
                    } else {
                        Vec::new()
                    };
                    session
                        .on_response_head(now, req.id, *status, &headers)
                        .and_then(|()| session.on_response_body(now, req.id, body))
                        .and_then(|()| session.on_response_end(now, req.id))
                };
                if let Err(e) = fed {
                    return check_error(&e);
                }
            }
            WriteAction::NeedRows => {
                panic!("NeedRows after finish_input");
            }
            WriteAction::Results(results) => {
                for r in results {
                    let slot = seen
                        .get_mut(r.row as usize)
                        .unwrap_or_else(|| panic!("a result for row {} of {rows}", r.row));
                    assert!(!*slot, "row {} has two results", r.row);
                    *slot = true;
                    if let Some(e) = &r.error {
                        assert_no_key_echo(&e.to_string(), API_KEY);
                    }
                }
            }
            WriteAction::Commit(_) | WriteAction::AwaitResponse => {}
            WriteAction::SleepUntil(t) => now = now.max(t),
            WriteAction::Log(l) => assert_no_key_echo(&l.message, API_KEY),
            WriteAction::Done(summary) => {
                assert_eq!(summary.rows, rows, "rows counted");
                assert_eq!(
                    summary.ok + summary.failed + summary.unknown,
                    rows,
                    "every row ends once"
                );
                assert!(seen.iter().all(|s| *s), "a row without a result");
                return;
            }
        }
    }
    panic!("a write of {rows} rows not done after 20000 polls");
}

/// `plan_sql` on the input as text; a SELECT opens a query session and
/// plans its first request, EXPLAIN explains, a write opens its session.
pub fn sql(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut params = Map::new();
    params.insert("email".into(), json!("a+b@example.com"));
    params.insert("n".into(), json!(5));
    params.insert("since".into(), json!("2024-01-01T00:00:00Z"));
    let plan = match plan_sql(&config(), &text, &params, None) {
        Ok(p) => p,
        Err(e) => return check_error(&e),
    };
    match plan {
        SqlPlan::Select(p) => {
            let _ = p.columns();
            let _ = p.explain();
            match QuerySession::open(p) {
                Ok(mut q) => {
                    for _ in 0..64 {
                        match q.poll(NOW_MS) {
                            Ok(Action::Fetch(_)) | Ok(Action::Done(_)) => break,
                            Err(e) => {
                                check_error(&e);
                                break;
                            }
                            Ok(_) => {}
                        }
                    }
                }
                Err(e) => check_error(&e),
            }
        }
        SqlPlan::Explain(p) => {
            let _ = p.explain();
        }
        SqlPlan::Write(w) => {
            if let Ok(mut s) = WriteSession::open(config(), &w.object, &w.op, &w.options, None)
                && let Err(e) = s.push_rows(w.rows)
            {
                check_error(&e);
            }
        }
        SqlPlan::Modify(m) => match ModifySession::open(m) {
            Ok(mut s) => {
                for _ in 0..64 {
                    match s.poll(NOW_MS) {
                        Ok(WriteAction::Fetch(_)) | Ok(WriteAction::Done(_)) => break,
                        Err(e) => {
                            check_error(&e);
                            break;
                        }
                        Ok(_) => {}
                    }
                }
            }
            Err(e) => check_error(&e),
        },
    }
}

fn check_error(e: &ConnectorError) {
    assert_no_key_echo(&e.to_string(), API_KEY);
    assert!(
        !matches!(e.kind, ErrorKind::Internal | ErrorKind::ProtocolMisuse),
        "{:?} error from a correct driver: {e}",
        e.kind
    );
}
