//! The `query` interface: SQL planned by the core, SELECTs run in a
//! `QuerySession` behind a WIT resource.

use std::cell::RefCell;

use connector_core::{ConnectorError, Method, QuerySession, SelectPlan, SqlPlan};
use serde_json::{Map, Value};

use crate::bindings::exports::iterable_connector::source::query;
use crate::{Component, action, config, error, parse_json, transport_kind, wit};

fn params(params_json: Option<String>) -> Result<Map<String, Value>, ConnectorError> {
    match params_json.as_deref().map(str::trim) {
        None | Some("") => Ok(Map::new()),
        Some(text) => match parse_json("params", text)? {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            _ => Err(ConnectorError::input(
                "params",
                "must be a JSON object of parameter names to values",
            )),
        },
    }
}

pub(crate) fn plan(
    config_json: &str,
    sql: &str,
    params_json: Option<String>,
    user_fields_json: Option<String>,
) -> Result<SqlPlan, ConnectorError> {
    let config = config(config_json)?;
    let fields = match user_fields_json {
        Some(text) => Some(parse_json("user_fields", &text)?),
        None => None,
    };
    connector_core::plan_sql(&config, sql, &params(params_json)?, fields.as_ref())
}

fn select_plan(p: &SelectPlan) -> query::SelectPlan {
    query::SelectPlan {
        stream: p.stream.clone(),
        pushed: p.pushed.clone(),
        columns: p.columns(),
        limit: p.limit,
        offset: p.offset,
    }
}

/// EXPLAIN's steps, then the first requests the read would send.
fn explain(p: &SelectPlan, now_ms: i64) -> Result<Vec<query::ExplainStep>, ConnectorError> {
    let mut steps: Vec<query::ExplainStep> = p
        .explain()
        .iter()
        .map(|row| query::ExplainStep {
            step: row["step"].as_str().unwrap_or("").to_string(),
            detail: row["detail"].as_str().unwrap_or("").to_string(),
        })
        .collect();
    for r in p.first_requests(now_ms, 3)? {
        steps.push(query::ExplainStep {
            step: "request".into(),
            detail: format!("{} {}", method_name(r.method), r.url),
        });
    }
    Ok(steps)
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

impl query::Guest for Component {
    type QuerySession = Query;

    fn plan(
        config_json: String,
        sql: String,
        params_json: Option<String>,
        user_fields_json: Option<String>,
        now_ms: i64,
    ) -> Result<query::SqlPlan, wit::ConnectorError> {
        let planned = plan(&config_json, &sql, params_json, user_fields_json).map_err(error)?;
        Ok(match planned {
            SqlPlan::Select(p) => query::SqlPlan::Select(select_plan(&p)),
            SqlPlan::Explain(p) => query::SqlPlan::Explain(explain(&p, now_ms).map_err(error)?),
            SqlPlan::Modify(m) => query::SqlPlan::Modify(query::ModifyPlan {
                object: m.object,
                op: m.op,
                stream: m.select.stream,
                pushed: m.select.pushed,
            }),
            SqlPlan::Write(w) => {
                let mut rows = Vec::new();
                for r in &w.rows {
                    rows.extend_from_slice(r.to_string().as_bytes());
                    rows.push(b'\n');
                }
                query::SqlPlan::Write(query::SqlWrite {
                    object: w.object,
                    op: w.op,
                    rows_ndjson: rows,
                    returning: w.returning,
                })
            }
        })
    }
}

/// A query session behind a WIT resource handle.
pub struct Query(RefCell<QuerySession>);

impl Query {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut QuerySession) -> Result<T, ConnectorError>,
    ) -> Result<T, wit::ConnectorError> {
        match self.0.try_borrow_mut() {
            Ok(mut s) => f(&mut s).map_err(error),
            Err(_) => Err(error(ConnectorError::misuse(
                "query-session called re-entrantly",
            ))),
        }
    }
}

impl query::GuestQuerySession for Query {
    fn open(
        config_json: String,
        sql: String,
        params_json: Option<String>,
        user_fields_json: Option<String>,
    ) -> Result<query::QuerySession, wit::ConnectorError> {
        let planned = plan(&config_json, &sql, params_json, user_fields_json).map_err(error)?;
        let SqlPlan::Select(p) = planned else {
            return Err(error(ConnectorError::input(
                "sql",
                "a query session runs a SELECT; plan() says what else a statement is",
            )));
        };
        let session = QuerySession::open(p).map_err(error)?;
        Ok(query::QuerySession::new(Query(RefCell::new(session))))
    }

    fn max_in_flight(&self) -> u32 {
        self.0
            .try_borrow()
            .map(|s| u32::try_from(s.max_in_flight()).unwrap_or(u32::MAX))
            .unwrap_or(1)
    }

    fn poll(&self, now_ms: i64) -> Result<wit::Action, wit::ConnectorError> {
        self.with(|s| action(s.poll(now_ms)?))
    }

    fn on_response_head(
        &self,
        now_ms: i64,
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.on_response_head(now_ms, id, status, &headers))
    }

    fn on_response_body(
        &self,
        now_ms: i64,
        id: u64,
        chunk: Vec<u8>,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.on_response_body(now_ms, id, &chunk))
    }

    fn on_response_end(&self, now_ms: i64, id: u64) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.on_response_end(now_ms, id))
    }

    fn on_transport_error(
        &self,
        now_ms: i64,
        id: u64,
        kind: wit::TransportErrorKind,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.on_transport_error(now_ms, id, transport_kind(kind)))
    }
}
