//! `iterable_connector._native`: the sans-IO core for Python.
//!
//! Glue only. The Python package (`python/iterable_connector/`) runs the
//! session loop; its HTTP goes through a transport, by default this module's
//! `http::NativeTransport` (Rust, the GIL released). This module validates configs, describes
//! streams, turns core sessions into typed action objects (`protocol`), and builds Arrow
//! tables from records without a JSON round trip. Parsing releases the GIL.

/// mimalloc for the extension's own allocations. The core builds a map and
/// its strings for every record and drops them soon after: with glibc's
/// malloc, allocating and freeing took about a fifth of a read's CPU
/// (perf, BENCHMARKS.md). Python objects keep Python's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod arrow;
mod canonical;
mod convert;
mod csv;
mod http;
mod lines;
mod protocol;
mod session;
mod sql;
mod sync;
mod text_cursor;
mod write;

use connector_core::Config;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use convert::{IntoPyResult, json_to_py, parse_json};

fn config_from(py: Python<'_>, config_json: &str) -> PyResult<Config> {
    parse_json(config_json, "config")
        .and_then(|v| Config::from_json(&v))
        .py(py)
}

/// The connector's config JSON Schema (a dict).
#[pyfunction]
fn spec(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    json_to_py(py, &connector_core::spec())
}

/// Validates a config (JSON text); raises `ConfigError` naming the field.
#[pyfunction]
fn validate_config(py: Python<'_>, config_json: &str) -> PyResult<()> {
    config_from(py, config_json).map(|_| ())
}

/// Every stream as a dict: name, json_schema, primary_key, cursor_field,
/// sync_modes, requires_user_filter. `user_fields_json`: the answer of
/// `user_fields_response`, to type custom user fields.
#[pyfunction]
#[pyo3(signature = (config_json, user_fields_json=None))]
fn discover<'py>(
    py: Python<'py>,
    config_json: &str,
    user_fields_json: Option<&str>,
) -> PyResult<Bound<'py, PyList>> {
    let config = config_from(py, config_json)?;
    let fields = match user_fields_json {
        Some(s) => Some(parse_json(s, "user_fields").py(py)?),
        None => None,
    };
    let list = PyList::empty(py);
    for d in connector_core::discover(&config, fields.as_ref()) {
        let item = PyDict::new(py);
        item.set_item("name", &d.name)?;
        item.set_item("json_schema", json_to_py(py, &d.json_schema)?)?;
        item.set_item("primary_key", d.primary_key)?;
        item.set_item("cursor_field", d.cursor_field)?;
        item.set_item("sync_modes", d.sync_modes)?;
        item.set_item("requires_user_filter", d.requires_user_filter)?;
        list.append(item)?;
    }
    Ok(list)
}

/// The request that checks the key.
#[pyfunction]
fn check_request(py: Python<'_>, config_json: &str) -> PyResult<protocol::Request> {
    let config = config_from(py, config_json)?;
    protocol::Request::new(py, &connector_core::check_request(&config))
}

/// Judges the answer to `check_request`; raises a typed error when it failed.
#[pyfunction]
fn check_response(py: Python<'_>, status: u16, body: &[u8]) -> PyResult<()> {
    connector_core::check_response(status, body).py(py)
}

/// The request listing the project's user fields.
#[pyfunction]
fn user_fields_request(py: Python<'_>, config_json: &str) -> PyResult<protocol::Request> {
    let config = config_from(py, config_json)?;
    protocol::Request::new(py, &connector_core::user_fields_request(&config))
}

/// Parses the answer to `user_fields_request`; returns JSON text for `discover`.
#[pyfunction]
fn user_fields_response(py: Python<'_>, status: u16, body: &[u8]) -> PyResult<String> {
    connector_core::user_fields_response(status, body)
        .py(py)
        .map(|v| v.to_string())
}

/// Every error kind the core can raise, with the Python exception class it
/// becomes: `[(kind, class name)]`. Lets a test prove none is missing.
#[pyfunction]
fn error_kinds() -> Vec<(&'static str, &'static str)> {
    connector_core::ErrorKind::ALL
        .iter()
        .map(|k| (k.as_str(), convert::class_name(*k)))
        .collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", connector_core::VERSION)?;
    m.add_function(wrap_pyfunction!(spec, m)?)?;
    m.add_function(wrap_pyfunction!(validate_config, m)?)?;
    m.add_function(wrap_pyfunction!(discover, m)?)?;
    m.add_function(wrap_pyfunction!(check_request, m)?)?;
    m.add_function(wrap_pyfunction!(check_response, m)?)?;
    m.add_function(wrap_pyfunction!(user_fields_request, m)?)?;
    m.add_function(wrap_pyfunction!(user_fields_response, m)?)?;
    m.add_function(wrap_pyfunction!(error_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(csv::csv_columns, m)?)?;
    m.add_class::<csv::CsvEncoder>()?;
    protocol::register(m)?;
    write::register(m)?;
    sync::register(m)?;
    sql::register(m)?;
    m.add_class::<session::Session>()?;
    m.add_class::<session::Batch>()?;
    m.add_class::<arrow::ArrowBuilder>()?;
    m.add_class::<arrow::ArrowBatch>()?;
    m.add_class::<arrow::ArrowTable>()?;
    m.add_class::<http::NativeTransport>()?;
    m.add_class::<http::NativeResponse>()?;
    Ok(())
}
