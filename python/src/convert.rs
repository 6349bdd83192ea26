//! JSON values and errors crossing into Python.

use std::collections::HashMap;

use connector_core::{ConnectorError, ErrorKind};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};
use serde_json::{Map, Value};

/// Interns object keys while converting many records: records of one stream
/// share their field names, so each name becomes one Python string.
#[derive(Default)]
pub(crate) struct KeyCache<'py> {
    keys: HashMap<String, Bound<'py, PyString>>,
}

impl<'py> KeyCache<'py> {
    fn key(&mut self, py: Python<'py>, k: &str) -> Bound<'py, PyString> {
        if let Some(s) = self.keys.get(k) {
            return s.clone();
        }
        let s = PyString::intern(py, k);
        if self.keys.len() < 4096 {
            self.keys.insert(k.to_string(), s.clone());
        }
        s
    }
}

pub(crate) fn value_to_py<'py>(
    py: Python<'py>,
    v: &Value,
    keys: &mut KeyCache<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item, keys)?)?;
            }
            list.into_any()
        }
        Value::Object(obj) => object_to_py(py, obj, keys)?.into_any(),
    })
}

pub(crate) fn object_to_py<'py>(
    py: Python<'py>,
    obj: &Map<String, Value>,
    keys: &mut KeyCache<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in obj {
        dict.set_item(keys.key(py, k), value_to_py(py, v, keys)?)?;
    }
    Ok(dict)
}

/// A JSON value as plain Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    value_to_py(py, v, &mut KeyCache::default())
}

pub(crate) fn parse_json(text: &str, what: &str) -> Result<Value, ConnectorError> {
    serde_json::from_str(text)
        .map_err(|e| ConnectorError::config(what, format!("is not valid JSON: {e}")))
}

/// The Python exception class (in `iterable_connector.errors`) for each kind.
/// Exhaustive: a kind the core adds fails this build until Python maps it.
pub(crate) fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidConfig => "ConfigError",
        ErrorKind::InvalidInput => "InputError",
        ErrorKind::Unauthorized | ErrorKind::Forbidden => "AuthError",
        ErrorKind::RateLimited => "RateLimitError",
        ErrorKind::Upstream => "IterableAPIError",
        ErrorKind::MalformedResponse => "MalformedResponseError",
        ErrorKind::ProtocolMisuse => "ProtocolMisuseError",
        ErrorKind::Internal => "IterableConnectorError",
    }
}

/// The typed Python exception (from `iterable_connector.errors`) for an error.
pub(crate) fn to_py_err(py: Python<'_>, e: ConnectorError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = py.import("iterable_connector.errors")?;
        let cls = module.getattr(class_name(e.kind))?;
        let kw = PyDict::new(py);
        kw.set_item("kind", e.kind.as_str())?;
        kw.set_item("field", e.field.as_deref())?;
        kw.set_item("stream", e.stream.as_deref())?;
        kw.set_item("status", e.status)?;
        kw.set_item("code", e.code.as_deref())?;
        kw.set_item("retryable", e.retryable)?;
        kw.set_item("retry_after_ms", e.retry_after_ms)?;
        let exc = cls.call((e.to_string(),), Some(&kw))?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}

pub(crate) trait IntoPyResult<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, ConnectorError> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, e))
    }
}
