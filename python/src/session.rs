//! `Session`: the core's `ReadSession` for a Python driver, and `Batch`.

use std::sync::{Mutex, MutexGuard};

use connector_core::Record;
use connector_core::{Action, Config, ReadSession, StreamSelection, TransportErrorKind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::convert::{IntoPyResult, KeyCache, json_to_py, object_to_py, parse_json, request_to_py};

/// Records of one stream handed out together by the core (at most 1000).
/// The records stay in Rust until asked for as dicts or as Arrow.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct Batch {
    pub(crate) stream: String,
    pub(crate) records: Vec<Record>,
}

#[pymethods]
impl Batch {
    #[getter]
    fn stream(&self) -> &str {
        &self.stream
    }

    fn __len__(&self) -> usize {
        self.records.len()
    }

    /// The records as a list of dicts.
    fn to_pylist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut keys = KeyCache::default();
        let list = PyList::empty(py);
        for r in &self.records {
            list.append(object_to_py(py, r, &mut keys)?)?;
        }
        Ok(list)
    }

    fn __repr__(&self) -> String {
        format!(
            "Batch(stream={:?}, records={})",
            self.stream,
            self.records.len()
        )
    }
}

/// A read session. Drive it like `connector_core::ReadSession`: call `poll(now_ms)`
/// and act on the tuple it returns; feed every response back by request id.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct Session {
    inner: Mutex<ReadSession>,
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, ReadSession> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl Session {
    /// `streams`: `(name, incremental)` pairs. `config_json` / `state_json`: JSON text.
    #[new]
    #[pyo3(signature = (config_json, streams, state_json=None))]
    fn new(
        py: Python<'_>,
        config_json: &str,
        streams: Vec<(String, bool)>,
        state_json: Option<&str>,
    ) -> PyResult<Self> {
        let config = parse_json(config_json, "config")
            .and_then(|v| Config::from_json(&v))
            .py(py)?;
        let state = match state_json {
            Some(s) => parse_json(s, "state")
                .and_then(|v| connector_core::session_state_from_json(&v))
                .py(py)?,
            None => Default::default(),
        };
        let selection: Vec<StreamSelection> = streams
            .into_iter()
            .map(|(name, incremental)| StreamSelection { name, incremental })
            .collect();
        let session = ReadSession::open(config, &selection, &state).py(py)?;
        Ok(Session {
            inner: Mutex::new(session),
        })
    }

    /// How many requests may be in flight at once.
    fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight()
    }

    /// The next action, as a tuple whose first item names it:
    /// `("fetch", (id, method, url, headers, body, needs_auth, stream))`,
    /// `("emit", Batch)`, `("commit", stream, state)`, `("sleep", until_ms)`,
    /// `("await",)`, `("log", level, message, stream)`, `("done", summary)`.
    fn poll<'py>(&self, py: Python<'py>, now_ms: i64) -> PyResult<Bound<'py, PyTuple>> {
        let action = self.lock().poll(now_ms).py(py)?;
        match action {
            Action::Fetch(req) => ("fetch", request_to_py(py, &req)?).into_pyobject(py),
            Action::Emit(batch) => {
                let b = Bound::new(
                    py,
                    Batch {
                        stream: batch.stream,
                        records: batch.records,
                    },
                )?;
                ("emit", b).into_pyobject(py)
            }
            Action::Commit(cp) => {
                ("commit", cp.stream, json_to_py(py, &cp.state)?).into_pyobject(py)
            }
            Action::SleepUntil(t) => ("sleep", t).into_pyobject(py),
            Action::AwaitResponse => ("await",).into_pyobject(py),
            Action::Log(l) => ("log", l.level.as_str(), l.message, l.stream).into_pyobject(py),
            Action::Done(summary) => {
                let list = PyList::empty(py);
                for s in summary.streams {
                    // Destructured without `..`: a field the core adds fails
                    // this build until Python hands it out too.
                    let connector_core::StreamSummary {
                        stream,
                        records,
                        requests,
                        retries,
                        skipped_lines,
                        skipped_units,
                    } = s;
                    let d = PyDict::new(py);
                    d.set_item("stream", stream)?;
                    d.set_item("records", records)?;
                    d.set_item("requests", requests)?;
                    d.set_item("retries", retries)?;
                    d.set_item("skipped_lines", skipped_lines)?;
                    d.set_item("skipped_units", skipped_units)?;
                    list.append(d)?;
                }
                ("done", list).into_pyobject(py)
            }
        }
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

    /// Feeds a body chunk; parsing runs without the GIL.
    fn on_response_body(&self, py: Python<'_>, now_ms: i64, id: u64, chunk: &[u8]) -> PyResult<()> {
        py.detach(|| self.lock().on_response_body(now_ms, id, chunk))
            .py(py)
    }

    fn on_response_end(&self, py: Python<'_>, now_ms: i64, id: u64) -> PyResult<()> {
        py.detach(|| self.lock().on_response_end(now_ms, id)).py(py)
    }

    /// `kind`: "connect", "timeout", "body_cut" or "other".
    fn on_transport_error(&self, py: Python<'_>, now_ms: i64, id: u64, kind: &str) -> PyResult<()> {
        let kind = match kind {
            "connect" => TransportErrorKind::Connect,
            "timeout" => TransportErrorKind::Timeout,
            "body_cut" => TransportErrorKind::BodyCut,
            "other" => TransportErrorKind::Other,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown transport error kind {other:?} (connect|timeout|body_cut|other)"
                )));
            }
        };
        self.lock().on_transport_error(now_ms, id, kind).py(py)
    }
}
