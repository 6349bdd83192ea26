//! What users and hosts hand the core as JSON or text: the config, the
//! state, timestamps. Each parse must end in a value or a typed error, and
//! what parses must also be usable: a session opened with it plans its
//! first requests without a panic.

use connector_core::{
    Action, Config, ReadSession, SessionState, StreamSelection, StreamState, all_streams,
    parse_config_date, parse_timestamp_str, parse_wire_timestamp, session_state_from_json,
    to_epoch_ms, to_export_param, to_rfc3339,
};
use serde_json::{Value, json};

use crate::rng::{Rng, fnv1a};
use crate::targets::{NOW_MS, assert_no_key, key_piece_in};

/// Polls `session` until its first request (or the end, or an error), at
/// most 64 actions: planning with odd settings must not panic or spin.
fn plan_first_request(session: &mut ReadSession, now: i64) {
    for _ in 0..64 {
        match session.poll(now) {
            Ok(Action::Fetch(req)) => {
                assert!(
                    req.url.starts_with(&session.config().base_url),
                    "request {} outside base_url {}",
                    req.url,
                    session.config().base_url
                );
                return;
            }
            Ok(Action::Done(_)) | Err(_) => return,
            Ok(_) => {}
        }
    }
    panic!("64 actions without a request, an end or an error");
}

fn stream_names() -> Vec<&'static str> {
    all_streams().map(|d| d.name).collect()
}

/// `Config::from_json` on the input as JSON; a config that parses opens a
/// read of a stream (chosen by the input's hash) and plans its first request.
pub fn config(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let config = match Config::from_json(&value) {
        Ok(c) => c,
        Err(e) => {
            // The key must not be echoed; the rest of the input may be (a
            // misspelt setting is named), so only a key found nowhere else
            // in the input is checked.
            if let Some(key) = value.get("api_key").and_then(Value::as_str) {
                let mut rest = value.clone();
                if let Some(obj) = rest.as_object_mut() {
                    obj.remove("api_key");
                }
                // Nor a key that happens to read like the error's own
                // words (the same error without the key says them too).
                let without = Config::from_json(&rest)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                if key_piece_in(&rest.to_string(), key).is_none()
                    && key_piece_in(&without, key).is_none()
                {
                    assert_no_key(&e.to_string(), key);
                }
            }
            return;
        }
    };
    assert!(
        !config.base_url.ends_with('/'),
        "base_url keeps a trailing slash"
    );
    let mut rng = Rng::new(fnv1a(data));
    let names = stream_names();
    let selection = [StreamSelection::incremental(rng.pick::<&str>(&names))];
    let now = NOW_MS + (rng.next_u64() % (400 * 365 * 86_400_000)) as i64 - 200 * 365 * 86_400_000;
    if let Ok(mut session) = ReadSession::open(config, &selection, &SessionState::new()) {
        plan_first_request(&mut session, now);
    }
}

/// `session_state_from_json` and `StreamState::from_json` on the input;
/// a stream state that parses survives `to_json` unchanged, and a session
/// resumed from the state plans its first requests.
pub fn state(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(state) = session_state_from_json(&value) else {
        return;
    };
    let names = stream_names();
    let mut selection = Vec::new();
    for (name, v) in &state {
        if let Ok(s) = StreamState::from_json(name, v) {
            let again = StreamState::from_json(name, &s.to_json()).expect("to_json parses back");
            assert_eq!(s, again, "to_json does not round-trip");
        }
        if names.contains(&name.as_str()) && selection.len() < 4 {
            selection.push(StreamSelection::incremental(name));
        }
    }
    if selection.is_empty() {
        return;
    }
    let mut rng = Rng::new(fnv1a(data));
    let mode = if rng.one_in(2) { "sync" } else { "async" };
    let config = Config::from_json(&json!({
        "base_url": "https://api.iterable.com",
        "email": "a+b@example.com",
        "export_mode": mode,
    }))
    .expect("a fixed valid config");
    if let Ok(mut session) = ReadSession::open(config, &selection, &state) {
        plan_first_request(&mut session, NOW_MS);
    }
}

/// The timestamp parsers on the input as text (and as a JSON value): what
/// parses is in years 0000–9999 and formats back to the same instant.
pub fn timestamps(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = [
        parse_timestamp_str(&text),
        parse_config_date(&text),
        serde_json::from_slice::<Value>(data)
            .ok()
            .and_then(|v| parse_wire_timestamp(&v)),
    ];
    for dt in parsed.into_iter().flatten() {
        let rfc = to_rfc3339(&dt);
        let _ = to_export_param(&dt);
        let year: i32 = rfc[..4].parse().expect("a four-digit year");
        assert!((0..=9999).contains(&year), "year out of range: {rfc}");
        let back = parse_config_date(&rfc).unwrap_or_else(|| panic!("{rfc} does not parse back"));
        assert_eq!(
            to_epoch_ms(&back),
            to_epoch_ms(&dt),
            "{rfc} parses back as another instant"
        );
    }
}
