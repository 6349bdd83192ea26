//! Plans as data: work units a distributed host (Spark, Ray) hands to its
//! workers.
//!
//! Iterable's budgets are per project: `export/data.json` allows 4 requests
//! a minute for every data type together, so splitting time windows across
//! workers only makes them fight over one budget. Async export jobs write
//! their rows to files behind pre-signed URLs that need neither the key nor
//! any budget, so the unit that scales is one export file:
//!
//! 1. The coordinator (the Spark driver) opens [`ReadSession::plan`] and
//!    drives it like any read session. For export streams it starts the
//!    jobs, polls them and lists their files — the only requests that cost
//!    budget, all paced in one place — and instead of downloading a file it
//!    hands it out as a [`WorkUnit::ExportFile`] ([`ReadSession::take_units`]).
//!    Other streams become one [`WorkUnit::Stream`] each.
//! 2. A worker opens [`ReadSession::open_unit`] for one unit and drives it:
//!    for a file that is one download (no key) parsed and shaped exactly as
//!    the single-process read does it, retries and de-duplication included.
//! 3. Once every unit finished, the coordinator commits
//!    [`ReadSession::planned_state`]: it covers all planned windows, so a
//!    state is only ever committed for units that all completed.
//!
//! Units are plain JSON ([`WorkUnit::to_json`] / [`WorkUnit::from_json`]) so
//! any host can ship them to a worker.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ConnectorError, Result};

/// One piece of a read that a worker can do on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkUnit {
    /// One file of a completed async export job: a download from a
    /// pre-signed URL (no API key, no rate budget) that expires after 30
    /// minutes. A worker whose URL expired lists the job's files once, after
    /// `after`, for a fresh URL (that one request needs the key).
    ExportFile {
        /// The export stream the rows belong to.
        stream: String,
        /// Iterable's id of the export job.
        job_id: i64,
        /// The file's name within the job (files sort by name).
        file: String,
        /// The pre-signed download URL.
        url: String,
        /// The file listed just before this one (`None`: the first): a
        /// worker whose URL expired lists the job's files after it for a
        /// fresh URL (one `export/{jobId}/files` request, with the key).
        #[serde(default)]
        after: Option<String>,
        /// Inclusive start of the job's window (RFC 3339).
        window_start: String,
        /// Exclusive end of the job's window (RFC 3339).
        window_end: String,
    },
    /// A whole (non-export) stream, read by one ordinary session with the key.
    Stream {
        /// The stream's name.
        stream: String,
        /// Its saved state (`null` = from the start), as the session takes it.
        state: Value,
    },
}

impl WorkUnit {
    /// The stream the unit reads.
    pub fn stream(&self) -> &str {
        match self {
            WorkUnit::ExportFile { stream, .. } | WorkUnit::Stream { stream, .. } => stream,
        }
    }

    /// The unit as JSON, e.g. `{"kind": "export_file", "stream": …}`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Parses a unit written by [`WorkUnit::to_json`]; errors name `unit`.
    pub fn from_json(value: &Value) -> Result<WorkUnit> {
        serde_json::from_value(value.clone()).map_err(|e| {
            ConnectorError::config(
                "unit",
                format!("is not a work unit planned by this connector ({e})"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn units_round_trip_as_json() {
        let u = WorkUnit::ExportFile {
            stream: "email_send".into(),
            job_id: 7,
            file: "file-1.json".into(),
            url: "https://bucket/x?sig=1".into(),
            after: None,
            window_start: "2025-01-01T00:00:00Z".into(),
            window_end: "2025-02-01T00:00:00Z".into(),
        };
        let j = u.to_json();
        assert_eq!(j["kind"], "export_file");
        assert_eq!(j["job_id"], 7);
        assert_eq!(WorkUnit::from_json(&j).expect("parses"), u);
        let s = WorkUnit::Stream {
            stream: "channels".into(),
            state: Value::Null,
        };
        assert_eq!(WorkUnit::from_json(&s.to_json()).expect("parses"), s);
    }

    #[test]
    fn a_foreign_unit_is_a_config_error_naming_unit() {
        let e = WorkUnit::from_json(&json!({"kind": "time_window"})).expect_err("refused");
        assert_eq!(e.field.as_deref(), Some("unit"), "{e}");
    }
}
