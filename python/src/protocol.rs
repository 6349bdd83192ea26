//! The session protocol as typed Python objects: a planned `Request` and one
//! class per action (`Fetch`, `Emit`, `Commit`, `Sleep`, `Await`, `Log`,
//! `Done`) plus `StreamSummary`. All are frozen (immutable) and, being native
//! classes, carry no `__dict__`; drivers dispatch on the class (`match` or
//! `isinstance`), never on a position or a string tag.

use connector_core::{Action, HttpRequest, LogMessage, StreamSummary as CoreSummary};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::convert::json_to_py;
use crate::session::Batch;

/// A request the core planned. The host adds the `Api-Key` header when
/// `needs_auth` is true, sends it, and feeds the reply back under `id`.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct Request {
    id: u64,
    method: String,
    url: String,
    headers: Py<PyList>,
    body: Option<Py<PyBytes>>,
    needs_auth: bool,
    stream: String,
}

impl Request {
    pub(crate) fn new(py: Python<'_>, r: &HttpRequest) -> PyResult<Self> {
        let headers = PyList::empty(py);
        for (k, v) in &r.headers {
            headers.append((k.as_str(), v.as_str()))?;
        }
        Ok(Request {
            id: r.id,
            method: r.method.as_str().to_string(),
            url: r.url.clone(),
            headers: headers.unbind(),
            body: r.body.as_ref().map(|b| PyBytes::new(py, b).unbind()),
            needs_auth: r.needs_auth,
            stream: r.stream.clone(),
        })
    }
}

#[pymethods]
impl Request {
    fn __repr__(&self) -> String {
        format!(
            "Request(id={}, method={:?}, url={:?}, stream={:?})",
            self.id, self.method, self.url, self.stream
        )
    }
}

/// Send `request`, then feed its reply back.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct Fetch {
    request: Py<Request>,
}

/// Records to hand to the user.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct Emit {
    batch: Py<Batch>,
}

/// `stream`'s state now covers every record emitted before this action.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct Commit {
    stream: String,
    state: Py<PyAny>,
}

/// Nothing to do before `until_ms` (epoch milliseconds) unless a reply arrives.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct Sleep {
    until_ms: i64,
}

/// Nothing to do until a reply in flight arrives.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct Await;

/// A message for the log; `level` is DEBUG, INFO, WARN or ERROR.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct Log {
    level: &'static str,
    message: String,
    stream: Option<String>,
}

/// The session finished; `streams` says what each stream did.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct Done {
    streams: Vec<Py<StreamSummary>>,
}

/// What one stream did in a session.
#[pyclass(frozen, get_all, module = "iterable_connector._native")]
pub(crate) struct StreamSummary {
    stream: String,
    records: u64,
    requests: u64,
    retries: u64,
    skipped_lines: u64,
    skipped_units: u64,
}

#[pymethods]
impl StreamSummary {
    /// The counts as a plain dict (what `Reader.summary` holds).
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        d.set_item("stream", &self.stream)?;
        d.set_item("records", self.records)?;
        d.set_item("requests", self.requests)?;
        d.set_item("retries", self.retries)?;
        d.set_item("skipped_lines", self.skipped_lines)?;
        d.set_item("skipped_units", self.skipped_units)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "StreamSummary(stream={:?}, records={}, requests={}, retries={}, skipped_lines={}, skipped_units={})",
            self.stream,
            self.records,
            self.requests,
            self.retries,
            self.skipped_lines,
            self.skipped_units
        )
    }
}

impl StreamSummary {
    fn new(s: CoreSummary) -> Self {
        // Destructured without `..`: a field the core adds fails this build
        // until Python hands it out too.
        let CoreSummary {
            stream,
            records,
            requests,
            retries,
            skipped_lines,
            skipped_units,
        } = s;
        StreamSummary {
            stream,
            records,
            requests,
            retries,
            skipped_lines,
            skipped_units,
        }
    }
}

/// `Fetch(request)`: shared by the read and the write protocols.
pub(crate) fn fetch_to_py(py: Python<'_>, req: &HttpRequest) -> PyResult<Py<PyAny>> {
    let request = Py::new(py, Request::new(py, req)?)?;
    Ok(Py::new(py, Fetch { request })?.into_any())
}

/// `Sleep(until_ms)`.
pub(crate) fn sleep_to_py(py: Python<'_>, until_ms: i64) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Sleep { until_ms })?.into_any())
}

/// `Await()`.
pub(crate) fn await_to_py(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Await)?.into_any())
}

/// `Log(level, message, stream)`.
pub(crate) fn log_to_py(py: Python<'_>, l: LogMessage) -> PyResult<Py<PyAny>> {
    Ok(Py::new(
        py,
        Log {
            level: l.level.as_str(),
            message: l.message,
            stream: l.stream,
        },
    )?
    .into_any())
}

/// The core's action as its Python object.
pub(crate) fn action_to_py(py: Python<'_>, action: Action) -> PyResult<Py<PyAny>> {
    Ok(match action {
        Action::Fetch(req) => fetch_to_py(py, &req)?,
        Action::Emit(batch) => {
            let batch = Py::new(
                py,
                Batch {
                    stream: batch.stream.clone(),
                    batch,
                },
            )?;
            Py::new(py, Emit { batch })?.into_any()
        }
        Action::Commit(cp) => {
            let state = json_to_py(py, &cp.state)?.unbind();
            Py::new(
                py,
                Commit {
                    stream: cp.stream,
                    state,
                },
            )?
            .into_any()
        }
        Action::SleepUntil(until_ms) => sleep_to_py(py, until_ms)?,
        Action::AwaitResponse => await_to_py(py)?,
        Action::Log(l) => log_to_py(py, l)?,
        Action::Done(summary) => {
            let streams = summary
                .streams
                .into_iter()
                .map(|s| Py::new(py, StreamSummary::new(s)))
                .collect::<PyResult<Vec<_>>>()?;
            Py::new(py, Done { streams })?.into_any()
        }
    })
}

/// Registers the protocol classes on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Request>()?;
    m.add_class::<Fetch>()?;
    m.add_class::<Emit>()?;
    m.add_class::<Commit>()?;
    m.add_class::<Sleep>()?;
    m.add_class::<Await>()?;
    m.add_class::<Log>()?;
    m.add_class::<Done>()?;
    m.add_class::<StreamSummary>()?;
    Ok(())
}
