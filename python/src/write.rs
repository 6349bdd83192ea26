//! `WriteSession`: the core's sans-IO write session for a Python driver, and
//! the write protocol's own action classes (`NeedRows`, `Results`,
//! `WriteCommit`, `WriteDone`) with `RowResult` and `WriteSummary`. `Fetch`,
//! `Sleep`, `Await` and `Log` are the read protocol's classes.

use std::sync::{Mutex, MutexGuard};

use connector_core::{
    Config, RowResult as CoreRow, WriteAction, WriteOptions, WriteSession as CoreSession,
    WriteSummary as CoreSummary,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

use crate::convert::{FromPy, IntoPyResult, json_to_py, parse_json};
use crate::protocol::{await_to_py, fetch_to_py, log_to_py, sleep_to_py};

/// Push rows (`WriteSession.push_rows`) or say there are no more
/// (`WriteSession.finish_input`).
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct NeedRows;

/// These rows are final: each input row gets exactly one `RowResult`.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct Results {
    rows: Py<PyList>,
}

/// Every row numbered below `rows_final` has its result; persist `state`
/// (before acting on anything after) and hand it to a new `WriteSession`
/// to resume from row `rows_final`.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct WriteCommit {
    rows_final: u64,
    state: Py<PyAny>,
}

/// Every row has its result; further polls return `WriteDone` again.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct WriteDone {
    summary: Py<WriteSummary>,
}

/// The one result of one input row. `status` is `"ok"`, `"failed"` or
/// `"unknown"`; `id` the id Iterable gave or the row was written under;
/// for a failed or unknown row `error_kind` (`invalid-input`, `upstream`,
/// ...), `error_message` (why, and how to fix it or what to check),
/// `field` (the culprit, when one is) and `error_status` (Iterable's HTTP
/// status, when it answered).
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct RowResult {
    row: u64,
    status: &'static str,
    id: Option<String>,
    error_kind: Option<&'static str>,
    error_message: Option<String>,
    field: Option<String>,
    error_status: Option<u16>,
}

impl RowResult {
    fn new(r: CoreRow) -> Self {
        let CoreRow {
            row,
            status,
            id,
            error,
        } = r;
        let (error_kind, error_message, field, error_status) = match error {
            Some(e) => (Some(e.kind.as_str()), Some(e.message), e.field, e.status),
            None => (None, None, None, None),
        };
        RowResult {
            row,
            status: status.as_str(),
            id,
            error_kind,
            error_message,
            field,
            error_status,
        }
    }
}

#[pymethods]
impl RowResult {
    /// The result as a plain dict.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("row", self.row)?;
        d.set_item("status", self.status)?;
        d.set_item("id", self.id.as_deref())?;
        d.set_item("error_kind", self.error_kind)?;
        d.set_item("error_message", self.error_message.as_deref())?;
        d.set_item("field", self.field.as_deref())?;
        d.set_item("error_status", self.error_status)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let mut s = format!("RowResult(row={}, status={:?}", self.row, self.status);
        if let Some(id) = &self.id {
            s.push_str(&format!(", id={id:?}"));
        }
        if let Some(f) = &self.field {
            s.push_str(&format!(", field={f:?}"));
        }
        if let Some(m) = &self.error_message {
            s.push_str(&format!(", error_message={m:?}"));
        }
        s.push(')');
        s
    }
}

/// Totals of a write.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct WriteSummary {
    object: String,
    op: String,
    rows: u64,
    ok: u64,
    failed: u64,
    unknown: u64,
    requests: u64,
    retries: u64,
}

impl WriteSummary {
    fn new(s: CoreSummary) -> Self {
        // Destructured without `..`: a field the core adds fails this build
        // until Python hands it out too.
        let CoreSummary {
            object,
            op,
            rows,
            ok,
            failed,
            unknown,
            requests,
            retries,
        } = s;
        WriteSummary {
            object,
            op,
            rows,
            ok,
            failed,
            unknown,
            requests,
            retries,
        }
    }
}

#[pymethods]
impl WriteSummary {
    /// The totals as a plain dict (what `WriteResult.summary` holds).
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("object", &self.object)?;
        d.set_item("op", &self.op)?;
        d.set_item("rows", self.rows)?;
        d.set_item("ok", self.ok)?;
        d.set_item("failed", self.failed)?;
        d.set_item("unknown", self.unknown)?;
        d.set_item("requests", self.requests)?;
        d.set_item("retries", self.retries)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "WriteSummary(object={:?}, op={:?}, rows={}, ok={}, failed={}, unknown={}, requests={}, retries={})",
            self.object,
            self.op,
            self.rows,
            self.ok,
            self.failed,
            self.unknown,
            self.requests,
            self.retries
        )
    }
}

pub(crate) fn write_action_to_py(py: Python<'_>, action: WriteAction) -> PyResult<Py<PyAny>> {
    Ok(match action {
        WriteAction::Fetch(req) => fetch_to_py(py, &req)?,
        WriteAction::NeedRows => Py::new(py, NeedRows)?.into_any(),
        WriteAction::Results(rows) => {
            let list = PyList::empty(py);
            // Iterable's reasons may echo request headers: scrub the key
            // the way every message of the package is scrubbed.
            let redact = py.import("iterable_connector.errors")?.getattr("redact")?;
            for mut r in rows {
                if let Some(e) = r.error.as_mut() {
                    e.message = redact.call1((e.message.as_str(),))?.extract()?;
                }
                list.append(Py::new(py, RowResult::new(r))?)?;
            }
            Py::new(
                py,
                Results {
                    rows: list.unbind(),
                },
            )?
            .into_any()
        }
        WriteAction::Commit(cp) => Py::new(
            py,
            WriteCommit {
                rows_final: cp.rows_final,
                state: json_to_py(py, &cp.state)?.unbind(),
            },
        )?
        .into_any(),
        WriteAction::SleepUntil(until_ms) => sleep_to_py(py, until_ms)?,
        WriteAction::AwaitResponse => await_to_py(py)?,
        WriteAction::Log(l) => log_to_py(py, l)?,
        WriteAction::Done(summary) => {
            let summary = Py::new(py, WriteSummary::new(summary))?;
            Py::new(py, WriteDone { summary })?.into_any()
        }
    })
}

/// A write session. Drive it like `connector_core::WriteSession`: call
/// `poll(now_ms)` and act on the action object it returns (`NeedRows`,
/// `Fetch`, `Results`, `WriteCommit`, `Sleep`, `Await`, `Log`, `WriteDone`);
/// feed every response back by request id.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct WriteSession {
    inner: Mutex<CoreSession>,
}

impl WriteSession {
    fn lock(&self) -> MutexGuard<'_, CoreSession> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl WriteSession {
    /// `object` / `op`: what to write (Skyvia's names accepted; procedures
    /// take `op="call"` or `""`). `options_json`: a JSON object of write
    /// options (catalog, list_id, medium, bulk, batch_size,
    /// merge_nested_objects, first_row). `state_json`: the `state` of the
    /// last `WriteCommit`, to resume.
    #[new]
    #[pyo3(signature = (config_json, object, op, options_json=None, state_json=None))]
    fn new(
        py: Python<'_>,
        config_json: &str,
        object: &str,
        op: &str,
        options_json: Option<&str>,
        state_json: Option<&str>,
    ) -> PyResult<Self> {
        let config = parse_json(config_json, "config")
            .and_then(|v| Config::from_json(&v))
            .py(py)?;
        let options = match options_json {
            Some(s) => parse_json(s, "options")
                .and_then(|v| WriteOptions::from_json(&v))
                .py(py)?,
            None => WriteOptions::default(),
        };
        let state: Option<Value> = match state_json {
            Some(s) => Some(parse_json(s, "state").py(py)?),
            None => None,
        };
        let session = CoreSession::open(config, object, op, &options, state.as_ref()).py(py)?;
        Ok(WriteSession {
            inner: Mutex::new(session),
        })
    }

    /// How many requests may be in flight at once.
    fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight()
    }

    /// Rows a full request holds: push at least this many at a time.
    fn rows_per_request(&self) -> usize {
        self.lock().rows_per_request()
    }

    /// Whether Iterable applies this write after answering (a read right
    /// after may not show it yet).
    fn applied_later(&self) -> bool {
        self.lock().applied_later()
    }

    /// Adds input rows (dicts), numbered on from the last. Values convert
    /// without JSON text: see `convert::FromPy::value` (datetimes become
    /// ISO 8601 text in UTC, NaN becomes null). A value that has no JSON
    /// form raises `TypeError` naming it (`rows[i].field`, `i` counting in
    /// this call) and no row of the call is added. A bad row
    /// does not raise: it fails alone in the results.
    fn push_rows(&self, py: Python<'_>, rows: &Bound<'_, PyAny>) -> PyResult<()> {
        let conv = FromPy::new(py)?;
        let mut values = Vec::new();
        for (i, row) in rows.try_iter()?.enumerate() {
            let mut path = vec![format!("rows[{i}]")];
            values.push(conv.value(&row?, &mut path)?);
        }
        py.detach(|| self.lock().push_rows(values)).py(py)
    }

    /// No more rows: what is queued goes out even if requests are not full.
    fn finish_input(&self) {
        self.lock().finish_input()
    }

    /// The next action (see the class docs).
    fn poll(&self, py: Python<'_>, now_ms: i64) -> PyResult<Py<PyAny>> {
        let action = self.lock().poll(now_ms).py(py)?;
        write_action_to_py(py, action)
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

/// Registers the write classes on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<WriteSession>()?;
    m.add_class::<NeedRows>()?;
    m.add_class::<Results>()?;
    m.add_class::<WriteCommit>()?;
    m.add_class::<WriteDone>()?;
    m.add_class::<RowResult>()?;
    m.add_class::<WriteSummary>()?;
    Ok(())
}
