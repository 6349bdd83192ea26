//! CSV export: the core's `csv_columns` and `CsvEncoder` for `Reader.to_csv`.

use std::sync::Mutex;

use connector_core::{ConnectorError, CsvEncoder as CoreEncoder, CsvOptions};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert::{IntoPyResult, parse_json};
use crate::session::Batch;

/// The CSV columns of `stream`: its fields in definition order, the custom
/// user fields it declares (from `user_fields_json`, the answer of
/// `user_fields_response`), then `_extra` (a JSON object of any fields a
/// record carries beyond those).
#[pyfunction]
#[pyo3(signature = (config_json, stream, user_fields_json=None))]
pub(crate) fn csv_columns(
    py: Python<'_>,
    config_json: &str,
    stream: &str,
    user_fields_json: Option<&str>,
) -> PyResult<Vec<String>> {
    crate::config_from(py, config_json)?;
    let fields = match user_fields_json.map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(parse_json(text, "user_fields").py(py)?),
    };
    connector_core::csv_columns(stream, fields.as_ref()).py(py)
}

/// Encodes the records of one stream as CSV rows over fixed columns.
/// `options_json`: `{"delimiter", "quote" (null: none), "line_ending",
/// "bom", "header", "null_value"}`; a bad option raises `InputError`
/// naming it.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct CsvEncoder {
    inner: Mutex<CoreEncoder>,
}

impl CsvEncoder {
    fn run(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut CoreEncoder, &mut Vec<u8>) -> Result<usize, ConnectorError> + Send,
    ) -> PyResult<Py<PyBytes>> {
        let mut out = Vec::new();
        let result = py.detach(|| {
            let mut enc = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut enc, &mut out)
        });
        result.py(py)?;
        Ok(PyBytes::new(py, &out).unbind())
    }
}

#[pymethods]
impl CsvEncoder {
    #[new]
    #[pyo3(signature = (columns, options_json=None))]
    fn new(py: Python<'_>, columns: Vec<String>, options_json: Option<&str>) -> PyResult<Self> {
        let options = match options_json.map(str::trim) {
            None | Some("") => CsvOptions::default(),
            Some(text) => parse_json(text, "options")
                .and_then(|v| CsvOptions::from_json(&v))
                .py(py)?,
        };
        let inner = CoreEncoder::new(columns, options).py(py)?;
        Ok(CsvEncoder {
            inner: Mutex::new(inner),
        })
    }

    /// The columns, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .columns()
            .to_vec()
    }

    /// Rows encoded so far.
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).rows()
    }

    /// What a new file starts with: the BOM if asked for, then the header
    /// line if asked for.
    fn header<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .header();
        PyBytes::new(py, &bytes)
    }

    /// CSV rows of a batch's records, read from its NDJSON (no records
    /// are built).
    fn encode(&self, py: Python<'_>, batch: &Batch) -> PyResult<Py<PyBytes>> {
        let ndjson = batch.batch.ndjson().as_bytes();
        self.run(py, |enc, out| {
            out.reserve(ndjson.len());
            enc.encode_ndjson(ndjson, out)
        })
    }

    /// CSV rows of NDJSON (one object per line; blank lines skipped).
    fn encode_ndjson(&self, py: Python<'_>, ndjson: &[u8]) -> PyResult<Py<PyBytes>> {
        self.run(py, |enc, out| enc.encode_ndjson(ndjson, out))
    }
}
