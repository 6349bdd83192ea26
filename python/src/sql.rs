//! SQL for Python: `plan_sql` and `plan_scans` (the core plans), the frozen
//! `SqlPlan` object, and `QuerySession`, a running SELECT driven exactly
//! like `Session` (same action classes, so `_driver.drive` runs it).

use std::sync::{Mutex, MutexGuard};

use connector_core::{
    Config, ConnectorError, ModifyPlan, ModifySession as CoreModify, QuerySession as CoreQuery,
    SelectPlan, SqlPlan as CorePlan, SqlWrite,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::{Map, Value, json};

use crate::convert::{FromPy, IntoPyResult, json_to_py, parse_json};
use crate::protocol::{Request, action_to_py};

enum Planned {
    Select(SelectPlan),
    Explain(SelectPlan),
    Write(SqlWrite),
    Modify(ModifyPlan),
}

/// A planned SQL statement. `kind` is `"select"`, `"explain"` or `"write"`.
/// A SELECT (or the SELECT an EXPLAIN describes) has `stream`, `pushed`
/// (each predicate the API applies, in words), `limit`, `offset`,
/// `columns` (None for `*`), `explain()` and `first_requests()`; run it with
/// `QuerySession(plan)`. A write (INSERT or CALL) has `object`, `op`,
/// `rows` and `returning`; run it with a `WriteSession`. A `"modify"`
/// (UPDATE or DELETE) has `object`, `op`, `stream` and `pushed` (of the read
/// that finds its rows); run it with `ModifySession(plan)`.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct SqlPlan {
    planned: Planned,
    sql: String,
}

impl SqlPlan {
    fn select(&self) -> Option<&SelectPlan> {
        match &self.planned {
            Planned::Select(p) | Planned::Explain(p) => Some(p),
            Planned::Write(_) | Planned::Modify(_) => None,
        }
    }

    /// The SELECT a statement reads with: its own, or an UPDATE/DELETE's.
    fn reads(&self) -> Option<&SelectPlan> {
        match &self.planned {
            Planned::Modify(m) => Some(&m.select),
            _ => self.select(),
        }
    }

    fn write(&self) -> Option<&SqlWrite> {
        match &self.planned {
            Planned::Write(w) => Some(w),
            _ => None,
        }
    }
}

#[pymethods]
impl SqlPlan {
    #[getter]
    fn kind(&self) -> &'static str {
        match self.planned {
            Planned::Select(_) => "select",
            Planned::Explain(_) => "explain",
            Planned::Write(_) => "write",
            Planned::Modify(_) => "modify",
        }
    }

    /// The statement this plan was made from (for a table scan: the
    /// single-table SELECT that reads it).
    #[getter]
    fn sql(&self) -> &str {
        &self.sql
    }

    /// The stream a SELECT reads.
    #[getter]
    fn stream(&self) -> Option<&str> {
        self.reads().map(|p| p.stream.as_str())
    }

    /// Each predicate the API applies, in words.
    #[getter]
    fn pushed(&self) -> Vec<String> {
        self.reads().map(|p| p.pushed.clone()).unwrap_or_default()
    }

    #[getter]
    fn limit(&self) -> Option<u64> {
        self.select().and_then(|p| p.limit)
    }

    #[getter]
    fn offset(&self) -> u64 {
        self.select().map_or(0, |p| p.offset)
    }

    /// The output column names in SELECT order (None for `*`).
    #[getter]
    fn columns(&self) -> Option<Vec<String>> {
        self.select().and_then(SelectPlan::columns)
    }

    /// The JSON Schema of the rows (JSON text, for `ArrowBuilder`): the
    /// stream's (`stream_schema_json`) for `*`, else one property per
    /// output column typed as the core types it, and `x-column-order`.
    fn json_schema(&self, py: Python<'_>, stream_schema_json: &str) -> PyResult<String> {
        let stream: Value = parse_json(stream_schema_json, "json_schema").py(py)?;
        let Some(plan) = self.select() else {
            return Err(PyValueError::new_err("a write has no row schema"));
        };
        let Some(columns) = plan.output_schema(&stream) else {
            return Ok(stream.to_string());
        };
        let mut props = Map::new();
        let mut order = Vec::new();
        for (name, prop) in columns {
            order.push(Value::String(name.clone()));
            props.entry(name).or_insert(prop);
        }
        Ok(json!({"type": "object", "properties": props, "x-column-order": order}).to_string())
    }

    /// The plan in words: `[{"step", "detail"}]`.
    fn explain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        if let Some(p) = self.select() {
            for row in p.explain() {
                list.append(json_to_py(py, &row)?)?;
            }
        } else if let Some(w) = self.write() {
            let row =
                json!({"step": w.op, "detail": format!("{} ({} rows)", w.object, w.rows.len())});
            list.append(json_to_py(py, &row)?)?;
        }
        Ok(list)
    }

    /// The first requests (at most `n`) a SELECT's read would send; nothing
    /// is sent.
    fn first_requests(&self, py: Python<'_>, now_ms: i64, n: usize) -> PyResult<Vec<Request>> {
        let Some(p) = self.select() else {
            return Ok(Vec::new());
        };
        let requests = p.first_requests(now_ms, n).py(py)?;
        requests.iter().map(|r| Request::new(py, r)).collect()
    }

    /// What a write writes to (an object or a procedure).
    #[getter]
    fn object(&self) -> Option<&str> {
        match &self.planned {
            Planned::Modify(m) => Some(m.object.as_str()),
            _ => self.write().map(|w| w.object.as_str()),
        }
    }

    /// `insert` or `call`.
    #[getter]
    fn op(&self) -> Option<&str> {
        match &self.planned {
            Planned::Modify(m) => Some(m.op.as_str()),
            _ => self.write().map(|w| w.op.as_str()),
        }
    }

    /// A write's rows as dicts (a procedure: its one row of parameters).
    #[getter]
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        if let Some(w) = self.write() {
            for r in &w.rows {
                list.append(json_to_py(py, r)?)?;
            }
        }
        Ok(list)
    }

    /// The INSERT asked for the new ids (`RETURNING`).
    #[getter]
    fn returning(&self) -> bool {
        self.write().is_some_and(|w| w.returning)
    }

    fn __repr__(&self) -> String {
        match &self.planned {
            Planned::Select(p) | Planned::Explain(p) => format!(
                "SqlPlan(kind={:?}, stream={:?}, pushed={:?}, limit={}, offset={})",
                self.kind(),
                p.stream,
                p.pushed,
                p.limit.map_or("None".to_string(), |l| l.to_string()),
                p.offset
            ),
            Planned::Write(w) => format!(
                "SqlPlan(kind=\"write\", object={:?}, op={:?}, rows={}, returning={})",
                w.object,
                w.op,
                w.rows.len(),
                w.returning
            ),
            Planned::Modify(m) => format!(
                "SqlPlan(kind=\"modify\", object={:?}, op={:?}, stream={:?}, pushed={:?})",
                m.object, m.op, m.select.stream, m.select.pushed
            ),
        }
    }
}

fn config_from(py: Python<'_>, config_json: &str) -> PyResult<Config> {
    parse_json(config_json, "config")
        .and_then(|v| Config::from_json(&v))
        .py(py)
}

/// `:name` parameters: a dict (any mapping) of str to values converted as
/// write rows are (datetimes become ISO 8601 in UTC, ...).
fn params_from(py: Python<'_>, params: Option<&Bound<'_, PyAny>>) -> PyResult<Map<String, Value>> {
    let Some(p) = params.filter(|p| !p.is_none()) else {
        return Ok(Map::new());
    };
    let conv = FromPy::new(py)?;
    match conv.value(p, &mut vec!["params".to_string()])? {
        Value::Object(m) => Ok(m),
        _ => Err(PyTypeError::new_err(
            "params must be a dict of parameter name to value",
        )),
    }
}

fn user_fields_from(py: Python<'_>, user_fields_json: Option<&str>) -> PyResult<Option<Value>> {
    user_fields_json
        .map(|s| parse_json(s, "user_fields").py(py))
        .transpose()
}

/// Plans one statement (`:name` placeholders from `params`);
/// `user_fields_json`: the answer of `user_fields_response`, so the users
/// table knows its custom columns. Raises `InputError` naming the construct
/// (`code == "sql-needs-engine"` for a statement to run in a SQL engine
/// over `plan_scans`).
#[pyfunction]
#[pyo3(signature = (config_json, sql, params=None, user_fields_json=None))]
pub(crate) fn plan_sql(
    py: Python<'_>,
    config_json: &str,
    sql: &str,
    params: Option<&Bound<'_, PyAny>>,
    user_fields_json: Option<&str>,
) -> PyResult<SqlPlan> {
    let config = config_from(py, config_json)?;
    let params = params_from(py, params)?;
    let fields = user_fields_from(py, user_fields_json)?;
    let planned = match connector_core::plan_sql(&config, sql, &params, fields.as_ref()).py(py)? {
        CorePlan::Select(p) => Planned::Select(p),
        CorePlan::Explain(p) => Planned::Explain(p),
        CorePlan::Write(w) => Planned::Write(w),
        CorePlan::Modify(m) => Planned::Modify(m),
    };
    Ok(SqlPlan {
        planned,
        sql: sql.to_string(),
    })
}

/// One scan per table a statement reads (for a SQL engine to run the
/// statement over): `[(table as the statement names it, select plan)]`,
/// each with the predicates that concern that table alone pushed down.
#[pyfunction]
#[pyo3(signature = (config_json, sql, params=None, user_fields_json=None))]
pub(crate) fn plan_scans(
    py: Python<'_>,
    config_json: &str,
    sql: &str,
    params: Option<&Bound<'_, PyAny>>,
    user_fields_json: Option<&str>,
) -> PyResult<Vec<(String, SqlPlan)>> {
    let config = config_from(py, config_json)?;
    let params = params_from(py, params)?;
    let fields = user_fields_from(py, user_fields_json)?;
    let scans = connector_core::plan_scans(&config, sql, &params, fields.as_ref()).py(py)?;
    Ok(scans
        .into_iter()
        .map(|s| {
            (
                s.table,
                SqlPlan {
                    planned: Planned::Select(s.plan),
                    sql: s.sql,
                },
            )
        })
        .collect())
}

/// A running UPDATE or DELETE. Drive it like `WriteSession` (it never asks
/// for rows: the rows are the ones its read finds).
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct ModifySession {
    inner: Mutex<CoreModify>,
}

impl ModifySession {
    fn lock(&self) -> MutexGuard<'_, CoreModify> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl ModifySession {
    /// Opens a `modify` plan.
    #[new]
    fn new(py: Python<'_>, plan: &Bound<'_, SqlPlan>) -> PyResult<Self> {
        let Planned::Modify(m) = &plan.get().planned else {
            return Err(PyTypeError::new_err(
                "a ModifySession runs an UPDATE or DELETE plan (kind == \"modify\")",
            ));
        };
        let session = CoreModify::open(m.clone()).py(py)?;
        Ok(ModifySession {
            inner: Mutex::new(session),
        })
    }

    /// How many requests may be in flight at once.
    fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight()
    }

    /// Rows a full request holds (the rows come from the read).
    fn rows_per_request(&self) -> usize {
        1
    }

    /// Nothing to push: the rows are the ones the read finds.
    fn finish_input(&self) {}

    /// Refused: an UPDATE or DELETE writes the rows its read finds.
    fn push_rows(&self, rows: &Bound<'_, PyAny>) -> PyResult<()> {
        let _ = rows;
        Err(PyTypeError::new_err(
            "a ModifySession writes the rows its read finds; it takes none",
        ))
    }

    /// The next action, as for `WriteSession.poll`.
    fn poll(&self, py: Python<'_>, now_ms: i64) -> PyResult<Py<PyAny>> {
        let action = self.lock().poll(now_ms).py(py)?;
        crate::write::write_action_to_py(py, action)
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

/// A running SELECT. Drive it like `Session` (`poll(now_ms)`, then act on
/// `Fetch`, `Emit`, `Sleep`, `Await`, `Log`, `Done`; feed responses back by
/// request id): `Emit` carries the query's rows (filtered, projected,
/// ordered, limited); a query keeps no state, so there is no `Commit`.
#[pyclass(frozen, module = "iterable_connector._native")]
pub(crate) struct QuerySession {
    inner: Mutex<CoreQuery>,
}

impl QuerySession {
    fn lock(&self) -> MutexGuard<'_, CoreQuery> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl QuerySession {
    /// Opens a `select` plan (an `explain` plan runs the SELECT it describes).
    #[new]
    fn new(py: Python<'_>, plan: &Bound<'_, SqlPlan>) -> PyResult<Self> {
        let Some(select) = plan.get().select() else {
            return Err(ConnectorError::input(
                "sql",
                "an INSERT or CALL is run by a WriteSession, not a QuerySession",
            ))
            .py(py);
        };
        let session = CoreQuery::open(select.clone()).py(py)?;
        Ok(QuerySession {
            inner: Mutex::new(session),
        })
    }

    /// How many requests may be in flight at once.
    fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight()
    }

    /// The next action (see the class docs).
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

/// Registers the SQL functions and classes on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SQL_NEEDS_ENGINE", connector_core::SQL_NEEDS_ENGINE)?;
    m.add_function(wrap_pyfunction!(plan_sql, m)?)?;
    m.add_function(wrap_pyfunction!(plan_scans, m)?)?;
    m.add_class::<SqlPlan>()?;
    m.add_class::<QuerySession>()?;
    m.add_class::<ModifySession>()?;
    Ok(())
}
