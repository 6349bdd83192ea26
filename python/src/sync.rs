//! `SyncSession`: the core's sans-IO two-way sync of a catalog's items with
//! a local table, for a Python driver, and the sync protocol's own action
//! classes (`NeedLocal`, `ApplyLocal`, `SyncCommit`, `SyncDone`) with
//! `SyncSummary`. `Fetch`, `Sleep`, `Await` and `Log` are the read
//! protocol's classes.
//!
//! A change (to apply locally, or planned) is a dict: `{"op": "upsert",
//! "key": str, "content": dict}` or `{"op": "delete", "key": str}`; a
//! conflict `{"key", "local", "remote"}` (a side is None when it deleted the
//! row); a failure `{"key", "error_kind", "error_message", "field",
//! "error_status"}`.

use std::sync::{Mutex, MutexGuard};

use connector_core::{
    Change, Config, ConnectorError, LocalRow, SyncAction, SyncOptions, SyncSession as CoreSession,
    SyncSummary as CoreSummary,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Map, Value};

use crate::convert::{FromPy, IntoPyResult, json_to_py, parse_json};
use crate::protocol::{await_to_py, fetch_to_py, log_to_py, sleep_to_py};

/// Push every local row (`SyncSession.push_local`), then call
/// `SyncSession.finish_local`.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct NeedLocal;

/// Apply these changes to the local table (one transaction) before polling
/// again. `changes`: a list of change dicts (see the module docs).
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct ApplyLocal {
    changes: Vec<Change>,
}

#[pymethods]
impl ApplyLocal {
    /// The changes, as a new list of dicts on every access.
    #[getter]
    fn changes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        changes_to_py(py, &self.changes)
    }

    fn __repr__(&self) -> String {
        format!("ApplyLocal(changes=<{} changes>)", self.changes.len())
    }
}

/// Persist `state` and pass it to the next sync of this catalog.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct SyncCommit {
    state: Py<PyAny>,
}

/// The sync is over; further polls return `SyncDone` again.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct SyncDone {
    summary: Py<SyncSummary>,
}

/// What a sync did (or, with `dry_run`, would do).
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct SyncSummary {
    inner: CoreSummary,
    /// Failure messages, scrubbed of the key like every message.
    messages: Vec<String>,
}

fn change_to_py<'py>(py: Python<'py>, c: &Change) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match c {
        Change::Upsert { key, content } => {
            d.set_item("op", "upsert")?;
            d.set_item("key", key)?;
            d.set_item("content", json_to_py(py, &Value::Object(content.clone()))?)?;
        }
        Change::Delete { key } => {
            d.set_item("op", "delete")?;
            d.set_item("key", key)?;
        }
    }
    Ok(d)
}

fn changes_to_py<'py>(py: Python<'py>, changes: &[Change]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for c in changes {
        list.append(change_to_py(py, c)?)?;
    }
    Ok(list)
}

fn side_to_py<'py>(
    py: Python<'py>,
    side: &Option<Map<String, Value>>,
) -> PyResult<Bound<'py, PyAny>> {
    match side {
        Some(m) => json_to_py(py, &Value::Object(m.clone())),
        None => Ok(py.None().into_bound(py)),
    }
}

impl SyncSummary {
    fn new(py: Python<'_>, s: CoreSummary) -> PyResult<Self> {
        let redact = py.import("iterable_connector.errors")?.getattr("redact")?;
        let messages = s
            .failures
            .iter()
            .map(|(_, e)| redact.call1((e.message.as_str(),))?.extract::<String>())
            .collect::<PyResult<Vec<_>>>()?;
        Ok(SyncSummary { inner: s, messages })
    }

    fn failure_to_py<'py>(
        py: Python<'py>,
        key: &str,
        e: &ConnectorError,
        message: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("key", key)?;
        d.set_item("error_kind", e.kind.as_str())?;
        d.set_item("error_message", message)?;
        d.set_item("field", e.field.as_deref())?;
        d.set_item("error_status", e.status)?;
        Ok(d)
    }
}

#[pymethods]
impl SyncSummary {
    /// Rows created or replaced in the local table.
    #[getter]
    fn local_upserts(&self) -> u64 {
        self.inner.local_upserts
    }
    /// Rows removed from the local table.
    #[getter]
    fn local_deletes(&self) -> u64 {
        self.inner.local_deletes
    }
    /// Items written to Iterable (and seen there).
    #[getter]
    fn remote_upserts(&self) -> u64 {
        self.inner.remote_upserts
    }
    /// Items deleted in Iterable.
    #[getter]
    fn remote_deletes(&self) -> u64 {
        self.inner.remote_deletes
    }
    /// Keys already equal on both sides.
    #[getter]
    fn unchanged(&self) -> u64 {
        self.inner.unchanged
    }
    /// The changes were planned, not made.
    #[getter]
    fn dry_run(&self) -> bool {
        self.inner.dry_run
    }
    /// Rows changed on both sides that the `report` policy left alone:
    /// dicts `{"key", "local", "remote"}`.
    #[getter]
    fn conflicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for c in &self.inner.conflicts {
            let d = PyDict::new(py);
            d.set_item("key", &c.key)?;
            d.set_item("local", side_to_py(py, &c.local)?)?;
            d.set_item("remote", side_to_py(py, &c.remote)?)?;
            list.append(d)?;
        }
        Ok(list)
    }
    /// Writes to Iterable that did not end ok (left for the next sync):
    /// dicts `{"key", "error_kind", "error_message", "field", "error_status"}`.
    #[getter]
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for ((key, e), m) in self.inner.failures.iter().zip(&self.messages) {
            list.append(Self::failure_to_py(py, key, e, m)?)?;
        }
        Ok(list)
    }
    /// The local changes decided (made, unless a dry run).
    #[getter]
    fn planned_local<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        changes_to_py(py, &self.inner.planned_local)
    }
    /// The changes to Iterable decided (made, unless a dry run).
    #[getter]
    fn planned_remote<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        changes_to_py(py, &self.inner.planned_remote)
    }

    /// Everything as a plain dict.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        // Destructured without `..`: a field the core adds fails this build
        // until Python hands it out too.
        let CoreSummary {
            local_upserts,
            local_deletes,
            remote_upserts,
            remote_deletes,
            unchanged,
            conflicts: _,
            failures: _,
            dry_run,
            planned_local: _,
            planned_remote: _,
        } = &self.inner;
        let d = PyDict::new(py);
        d.set_item("local_upserts", local_upserts)?;
        d.set_item("local_deletes", local_deletes)?;
        d.set_item("remote_upserts", remote_upserts)?;
        d.set_item("remote_deletes", remote_deletes)?;
        d.set_item("unchanged", unchanged)?;
        d.set_item("conflicts", self.conflicts(py)?)?;
        d.set_item("failures", self.failures(py)?)?;
        d.set_item("dry_run", dry_run)?;
        d.set_item("planned_local", self.planned_local(py)?)?;
        d.set_item("planned_remote", self.planned_remote(py)?)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "SyncSummary(local_upserts={}, local_deletes={}, remote_upserts={}, remote_deletes={}, unchanged={}, conflicts={}, failures={}, dry_run={})",
            s.local_upserts,
            s.local_deletes,
            s.remote_upserts,
            s.remote_deletes,
            s.unchanged,
            s.conflicts.len(),
            s.failures.len(),
            if s.dry_run { "True" } else { "False" }
        )
    }
}

fn sync_action_to_py(py: Python<'_>, action: SyncAction) -> PyResult<Py<PyAny>> {
    Ok(match action {
        SyncAction::Fetch(req) => fetch_to_py(py, &req)?,
        SyncAction::NeedLocal => Py::new(py, NeedLocal)?.into_any(),
        SyncAction::ApplyLocal(changes) => Py::new(py, ApplyLocal { changes })?.into_any(),
        SyncAction::SleepUntil(until_ms) => sleep_to_py(py, until_ms)?,
        SyncAction::AwaitResponse => await_to_py(py)?,
        SyncAction::Log(l) => log_to_py(py, l)?,
        SyncAction::Commit(state) => Py::new(
            py,
            SyncCommit {
                state: json_to_py(py, &state)?.unbind(),
            },
        )?
        .into_any(),
        SyncAction::Done(summary) => {
            let summary = Py::new(py, SyncSummary::new(py, summary)?)?;
            Py::new(py, SyncDone { summary })?.into_any()
        }
    })
}

/// A two-way sync session. Drive it like `connector_core::SyncSession`:
/// call `poll(now_ms)` and act on the action object it returns (`Fetch`,
/// `NeedLocal`, `ApplyLocal`, `SyncCommit`, `Sleep`, `Await`, `Log`,
/// `SyncDone`); feed every response back by request id.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct SyncSession {
    inner: Mutex<CoreSession>,
}

impl SyncSession {
    fn lock(&self) -> MutexGuard<'_, CoreSession> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl SyncSession {
    /// `object`: `catalog_items` or `templates`. `options_json`: a JSON
    /// object of sync options (catalog; medium and fields for templates;
    /// initial, policy, dry_run, confirm_timeout_ms).
    /// `state_json`: the state of the last sync's `SyncCommit`.
    #[new]
    #[pyo3(signature = (config_json, object, options_json, state_json=None))]
    fn new(
        py: Python<'_>,
        config_json: &str,
        object: &str,
        options_json: &str,
        state_json: Option<&str>,
    ) -> PyResult<Self> {
        let config = parse_json(config_json, "config")
            .and_then(|v| Config::from_json(&v))
            .py(py)?;
        let options = parse_json(options_json, "options")
            .and_then(|v| SyncOptions::from_json(&v))
            .py(py)?;
        let state: Option<Value> = match state_json {
            Some(s) => Some(parse_json(s, "state").py(py)?),
            None => None,
        };
        let session = CoreSession::open(config, object, options, state.as_ref()).py(py)?;
        Ok(SyncSession {
            inner: Mutex::new(session),
        })
    }

    /// How many requests may be in flight at once.
    fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight()
    }

    /// Adds local rows: `(key, content, changed_ms)` tuples, `key` a str,
    /// `content` a dict (values convert as for writes), `changed_ms` epoch
    /// milliseconds or None. A key given twice raises `InputError`.
    fn push_local(&self, py: Python<'_>, rows: &Bound<'_, PyAny>) -> PyResult<()> {
        let conv = FromPy::new(py)?;
        let mut out = Vec::new();
        for (i, row) in rows.try_iter()?.enumerate() {
            let (key, content, changed_ms): (String, Bound<'_, PyAny>, Option<i64>) =
                row?.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "rows[{i}]: must be a (key: str, content: dict, changed_ms: int | None) tuple"
                    ))
                })?;
            let mut path = vec![format!("rows[{i}]")];
            let content = match conv.value(&content, &mut path)? {
                Value::Object(m) => m,
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "rows[{i}]: the content must be a dict"
                    )));
                }
            };
            out.push(LocalRow {
                key,
                content,
                changed_ms,
            });
        }
        self.lock().push_local(out).py(py)
    }

    /// Every local row was pushed.
    fn finish_local(&self) {
        self.lock().finish_local()
    }

    /// The next action (see the class docs).
    fn poll(&self, py: Python<'_>, now_ms: i64) -> PyResult<Py<PyAny>> {
        let action = self.lock().poll(now_ms).py(py)?;
        sync_action_to_py(py, action)
    }

    fn on_response_head(
        &self,
        py: Python<'_>,
        now_ms: i64,
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
    ) -> PyResult<()> {
        self.lock()
            .on_response_head(now_ms, id, status, &headers)
            .py(py)
    }

    fn on_response_body(&self, py: Python<'_>, now_ms: i64, id: u64, chunk: &[u8]) -> PyResult<()> {
        py.detach(|| self.lock().on_response_body(now_ms, id, chunk))
            .py(py)
    }

    fn on_response_end(&self, py: Python<'_>, now_ms: i64, id: u64) -> PyResult<()> {
        py.detach(|| self.lock().on_response_end(now_ms, id)).py(py)
    }

    /// `kind`: "connect", "timeout", "body_cut" or "other".
    fn on_transport_error(&self, py: Python<'_>, now_ms: i64, id: u64, kind: &str) -> PyResult<()> {
        let kind = crate::convert::transport_kind(kind)?;
        self.lock().on_transport_error(now_ms, id, kind).py(py)
    }
}

/// Registers the sync classes on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SyncSession>()?;
    m.add_class::<NeedLocal>()?;
    m.add_class::<ApplyLocal>()?;
    m.add_class::<SyncCommit>()?;
    m.add_class::<SyncDone>()?;
    m.add_class::<SyncSummary>()?;
    Ok(())
}
