//! `Session`: the core's `ReadSession` for a Python driver, and `Batch`.

use std::sync::{Mutex, MutexGuard};

use connector_core::RecordBatch;
use connector_core::{Config, ReadSession, SessionState, StreamSelection, WorkUnit};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::convert::{IntoPyResult, KeyCache, line_to_py, parse_json};
use crate::lines::LineReader;
use crate::protocol::action_to_py;

/// Records of one stream handed out together by the core (at most 1000).
/// The records stay in Rust until asked for as dicts or as Arrow.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct Batch {
    pub(crate) stream: String,
    /// The records, as the core hands them out (NDJSON).
    pub(crate) batch: RecordBatch,
}

#[pymethods]
impl Batch {
    #[getter]
    fn stream(&self) -> &str {
        &self.stream
    }

    fn __len__(&self) -> usize {
        self.batch.len()
    }

    /// The records as a list of dicts.
    fn to_pylist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        // Objects and arrays as text: they become dicts and lists straight
        // from it.
        lines_to_py(
            py,
            self.batch.lines(),
            &mut LineReader::keeping_json_unchecked(),
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "Batch(stream={:?}, records={})",
            self.stream,
            self.batch.len()
        )
    }
}

/// NDJSON lines as a list of dicts (a line that is not a JSON object adds
/// none, as `RecordBatch::records` leaves it out).
fn lines_to_py<'py, 'a>(
    py: Python<'py>,
    lines: impl Iterator<Item = &'a str>,
    reader: &mut LineReader,
) -> PyResult<Bound<'py, PyList>> {
    let mut keys = KeyCache::default();
    let mut dicts = Vec::with_capacity(lines.size_hint().0);
    for line in lines {
        if let Some(dict) = reader.read(line, |l| {
            l.map(|l| line_to_py(py, l, &mut keys)).transpose()
        })? {
            dicts.push(dict);
        }
    }
    PyList::new(py, dicts)
}

/// A read session. Drive it like `connector_core::ReadSession`: call `poll(now_ms)`
/// and act on the action object it returns; feed every response back by request id.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct Session {
    inner: Mutex<ReadSession>,
}

impl Session {
    fn wrap(session: ReadSession) -> Self {
        Session {
            inner: Mutex::new(session),
        }
    }

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
        let (config, selection, state) = open_args(py, config_json, streams, state_json)?;
        let session = ReadSession::open(config, &selection, &state).py(py)?;
        Ok(Session::wrap(session))
    }

    /// A coordinator session (`ReadSession::plan`): drive it like a read; it
    /// starts and lists export jobs and hands out work units (`take_units`)
    /// instead of rows.
    #[staticmethod]
    #[pyo3(signature = (config_json, streams, state_json=None))]
    fn plan(
        py: Python<'_>,
        config_json: &str,
        streams: Vec<(String, bool)>,
        state_json: Option<&str>,
    ) -> PyResult<Self> {
        let (config, selection, state) = open_args(py, config_json, streams, state_json)?;
        let session = ReadSession::plan(config, &selection, &state).py(py)?;
        Ok(Session::wrap(session))
    }

    /// A worker session reading one unit (JSON text from `take_units`).
    #[staticmethod]
    fn for_unit(py: Python<'_>, config_json: &str, unit_json: &str) -> PyResult<Self> {
        let config = parse_json(config_json, "config")
            .and_then(|v| Config::from_json(&v))
            .py(py)?;
        let unit = parse_json(unit_json, "unit")
            .and_then(|v| WorkUnit::from_json(&v))
            .py(py)?;
        let session = ReadSession::open_unit(config, &unit).py(py)?;
        Ok(Session::wrap(session))
    }

    /// Coordinator sessions: the units planned since the last call, as JSON text.
    fn take_units(&self) -> Vec<String> {
        self.lock()
            .take_units()
            .iter()
            .map(|u| u.to_json().to_string())
            .collect()
    }

    /// Coordinator sessions: the state (JSON text) to keep once every unit
    /// planned was read.
    fn planned_state(&self) -> String {
        let state = self.lock().planned_state();
        serde_json::Value::Object(state.into_iter().collect()).to_string()
    }

    /// How many requests may be in flight at once.
    fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight()
    }

    /// The next action: a `Fetch`, `Emit`, `Commit`, `Sleep`, `Await`, `Log`
    /// or `Done` object (see `protocol`).
    fn poll(&self, py: Python<'_>, now_ms: i64) -> PyResult<Py<PyAny>> {
        let action = self.lock().poll(now_ms).py(py)?;
        action_to_py(py, action)
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
        let kind = crate::convert::transport_kind(kind)?;
        self.lock().on_transport_error(now_ms, id, kind).py(py)
    }
}

/// Parses a session's config, selection and state.
fn open_args(
    py: Python<'_>,
    config_json: &str,
    streams: Vec<(String, bool)>,
    state_json: Option<&str>,
) -> PyResult<(Config, Vec<StreamSelection>, SessionState)> {
    let config = parse_json(config_json, "config")
        .and_then(|v| Config::from_json(&v))
        .py(py)?;
    let state = match state_json {
        Some(s) => parse_json(s, "state")
            .and_then(|v| connector_core::session_state_from_json(&v))
            .py(py)?,
        None => Default::default(),
    };
    let selection = streams
        .into_iter()
        .map(|(name, incremental)| StreamSelection { name, incremental })
        .collect();
    Ok((config, selection, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lines::tricky_lines;

    #[test]
    fn reading_lines_makes_the_dicts_decoding_them_makes() {
        Python::initialize();
        Python::attach(|py| {
            let lines = tricky_lines();
            let dicts = |mut reader: LineReader| -> String {
                let list = lines_to_py(py, lines.iter().map(String::as_str), &mut reader)
                    .expect("converted");
                // repr: keys in order, 1 and 1.0 and -0.0 told apart.
                list.repr().expect("repr").to_string()
            };
            let fast = dicts(LineReader::default());
            assert_eq!(fast, dicts(LineReader::decoding()));
            assert_eq!(fast, dicts(LineReader::keeping_json()));
            assert_eq!(fast, dicts(LineReader::keeping_json_unchecked()));
            assert!(fast.contains(r#"'e': 'q"\\\né'"#), "{fast}");
            assert!(fast.contains("'k': -0.0"), "{fast}");
            assert!(fast.contains("'j': 12345678901234567890"), "{fast}");
        });
    }
}
