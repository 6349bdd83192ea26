//! Per-stream state: versioned JSON the host stores and hands back.
//!
//! `{"v": 1, "cursor": "<RFC 3339>", "next_start": "<RFC 3339>"}`
//! - `cursor`: the greatest cursor value among records handed out (from records,
//!   never from the clock); what Airbyte/Singer show as the bookmark.
//! - `next_start`: windowed streams only — the exclusive end of the last export
//!   window that was completely handed out. Resumption starts there, so the
//!   inclusive window start never re-emits a record already emitted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::{ConnectorError, Result};
use crate::time;

/// Version (`"v"`) of the stream state format; other versions are rejected.
pub const STATE_VERSION: u64 = 1;

/// Progress of one stream, as stored between sessions (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamState {
    /// Greatest cursor value among records handed out.
    pub cursor: Option<DateTime<Utc>>,
    /// Windowed streams: exclusive end of the last window completely handed out.
    pub next_start: Option<DateTime<Utc>>,
    /// Async export only: the job whose files are being downloaded.
    pub job: Option<JobState>,
}

/// An async export job part-way through its files: resume lists files after
/// `after` (the last file completely handed out).
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    /// Iterable's id of the export job.
    pub id: i64,
    /// Exclusive end of the job's window (its start is `next_start`).
    pub end: DateTime<Utc>,
    /// The last file completely handed out; `None` = none yet.
    pub after: Option<String>,
}

impl StreamState {
    /// Parses one stream's state; errors name `state.<stream>`.
    pub fn from_json(stream: &str, value: &Value) -> Result<StreamState> {
        let field = format!("state.{stream}");
        if value.is_null() {
            return Ok(StreamState::default());
        }
        let obj = value.as_object().ok_or_else(|| {
            ConnectorError::config(&field, "must be an object written by this connector")
        })?;
        match obj.get("v").and_then(Value::as_u64) {
            Some(STATE_VERSION) => {}
            _ => {
                return Err(ConnectorError::config(
                    &field,
                    "has no supported version (\"v\": 1); drop it to re-sync this stream from start_date",
                ));
            }
        }
        let ts = |key: &str| -> Result<Option<DateTime<Utc>>> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => time::parse_config_date(s).map(Some).ok_or_else(|| {
                    ConnectorError::config(
                        format!("{field}.{key}"),
                        "is not an RFC 3339 timestamp; drop it to re-sync this stream",
                    )
                }),
                Some(_) => Err(ConnectorError::config(
                    format!("{field}.{key}"),
                    "must be an RFC 3339 string",
                )),
            }
        };
        let job = match obj.get("job") {
            None | Some(Value::Null) => None,
            Some(j) => {
                let bad = || {
                    ConnectorError::config(
                        format!("{field}.job"),
                        "is not an export job written by this connector; drop it to restart the window",
                    )
                };
                let end = j
                    .get("end")
                    .and_then(Value::as_str)
                    .and_then(time::parse_config_date)
                    .ok_or_else(bad)?;
                Some(JobState {
                    id: j.get("id").and_then(Value::as_i64).ok_or_else(bad)?,
                    end,
                    after: j.get("after").and_then(Value::as_str).map(str::to_string),
                })
            }
        };
        Ok(StreamState {
            cursor: ts("cursor")?,
            next_start: ts("next_start")?,
            job,
        })
    }

    /// The versioned JSON form the host stores.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"v": STATE_VERSION});
        if let Some(c) = &self.cursor {
            v["cursor"] = Value::String(time::to_rfc3339(c));
        }
        if let Some(n) = &self.next_start {
            v["next_start"] = Value::String(time::to_rfc3339(n));
        }
        if let Some(j) = &self.job {
            v["job"] = json!({"id": j.id, "end": time::to_rfc3339(&j.end), "after": j.after});
        }
        v
    }
}

/// State of a whole session: stream name → stream state.
pub type SessionState = BTreeMap<String, Value>;

/// Accepts `{"stream": {...}}` or `{"streams": {"stream": {...}}}` (our own
/// `state.json`), so hosts can hand back what they stored.
pub fn session_state_from_json(value: &Value) -> Result<SessionState> {
    if value.is_null() {
        return Ok(SessionState::new());
    }
    let obj = value.as_object().ok_or_else(|| {
        ConnectorError::config(
            "state",
            "must be a JSON object of stream name to stream state",
        )
    })?;
    let inner = match obj.get("streams") {
        Some(Value::Object(streams)) => streams,
        _ => obj,
    };
    Ok(inner.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let s = StreamState::from_json(
            "email_send",
            &json!({"v": 1, "cursor": "2024-01-01T00:00:00Z", "next_start": "2024-01-02T00:00:00Z"}),
        )
        .unwrap();
        assert_eq!(
            s.to_json(),
            json!({"v": 1, "cursor": "2024-01-01T00:00:00Z", "next_start": "2024-01-02T00:00:00Z"})
        );
        let err = StreamState::from_json("email_send", &json!({"v": 9})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("state.email_send"));
        let err = StreamState::from_json("x", &json!({"v": 1, "cursor": "soon"})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("state.x.cursor"));
        let with_job = json!({"v": 1, "next_start": "2024-01-01T00:00:00Z",
            "job": {"id": 7, "end": "2024-02-01T00:00:00Z", "after": "file-2.json"}});
        let s = StreamState::from_json("users", &with_job).unwrap();
        assert_eq!(
            s.job.as_ref().unwrap().after.as_deref(),
            Some("file-2.json")
        );
        assert_eq!(s.to_json(), with_job);
        let err = StreamState::from_json("users", &json!({"v": 1, "job": {"id": 1}})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("state.users.job"));
        let st = session_state_from_json(&json!({"streams": {"a": {"v": 1}}})).unwrap();
        assert!(st.contains_key("a"));
    }

    #[test]
    fn state_times_must_be_rfc3339() {
        let bad = serde_json::json!({"v": 1, "next_start": "1"});
        let e = StreamState::from_json("email_send", &bad).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("state.email_send.next_start"));
        let good = serde_json::json!({"v": 1, "next_start": "2026-10-01T00:00:00Z"});
        assert!(StreamState::from_json("email_send", &good).is_ok());
    }
}
