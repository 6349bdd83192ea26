//! The `writer` interface: the core's `WriteSession` (or, for SQL's UPDATE
//! and DELETE, its `ModifySession`) behind a WIT resource.

use std::cell::RefCell;

use connector_core::{
    ConnectorError, ModifySession, RowResult, RowStatus, SqlPlan, TransportErrorKind, WriteAction,
    WriteCheckpoint, WriteOptions, WriteSession, WriteSummary,
};

use crate::bindings::exports::iterable_connector::source::writer;
use crate::{Component, config, error, log, parse_json, request, transport_kind, wit};

fn row_result(r: RowResult) -> writer::RowResult {
    writer::RowResult {
        row: r.row,
        status: match r.status {
            RowStatus::Ok => writer::RowStatus::Ok,
            RowStatus::Failed => writer::RowStatus::Failed,
            RowStatus::Unknown => writer::RowStatus::Unknown,
        },
        id: r.id,
        error: r.error.map(error),
    }
}

fn summary(s: WriteSummary) -> writer::WriteSummary {
    // Destructured without `..`: a field the core adds fails this build
    // until the WIT carries it too.
    let WriteSummary {
        object,
        op,
        rows,
        ok,
        failed,
        unknown,
        requests,
        retries,
    } = s;
    writer::WriteSummary {
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

fn action(a: WriteAction) -> writer::WriteAction {
    match a {
        WriteAction::Fetch(r) => writer::WriteAction::Fetch(request(r)),
        WriteAction::NeedRows => writer::WriteAction::NeedRows,
        WriteAction::Results(rows) => {
            writer::WriteAction::Results(rows.into_iter().map(row_result).collect())
        }
        WriteAction::Commit(WriteCheckpoint { rows_final, state }) => {
            writer::WriteAction::Commit(writer::WriteCheckpoint {
                rows_final,
                state_json: state.to_string(),
            })
        }
        WriteAction::SleepUntil(t) => writer::WriteAction::SleepUntil(t),
        WriteAction::AwaitResponse => writer::WriteAction::AwaitResponse,
        WriteAction::Log(l) => writer::WriteAction::Log(log(l)),
        WriteAction::Done(s) => writer::WriteAction::Done(summary(s)),
    }
}

fn open(
    config_json: &str,
    object: &str,
    op: &str,
    options_json: Option<String>,
    state_json: Option<String>,
) -> Result<WriteSession, ConnectorError> {
    let config = config(config_json)?;
    let options = match options_json.as_deref().map(str::trim) {
        None | Some("") => WriteOptions::default(),
        Some(text) => WriteOptions::from_json(&parse_json("options", text)?)?,
    };
    let state = match state_json.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(parse_json("state", text)?),
    };
    WriteSession::open(config, object, op, &options, state.as_ref())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl writer::Guest for Component {
    type WriteSession = Writer;

    fn write_targets() -> Vec<writer::WriteTarget> {
        connector_core::write_targets()
            .into_iter()
            .map(|t| writer::WriteTarget {
                object: t.object.to_string(),
                op: t.op.to_string(),
                procedure: t.procedure,
                max_rows_per_request: count(t.max_rows_per_request),
                applied_later: t.applied_later,
            })
            .collect()
    }
}

/// What a `write-session` runs: rows pushed by the host, or the rows a SQL
/// UPDATE/DELETE finds itself.
pub enum Inner {
    Rows(Box<WriteSession>),
    Sql(Box<ModifySession>),
}

impl Inner {
    fn poll(&mut self, now: i64) -> Result<WriteAction, ConnectorError> {
        match self {
            Inner::Rows(s) => s.poll(now),
            Inner::Sql(s) => s.poll(now),
        }
    }

    fn head(
        &mut self,
        now: i64,
        id: u64,
        status: u16,
        h: &[(String, String)],
    ) -> Result<(), ConnectorError> {
        match self {
            Inner::Rows(s) => s.on_response_head(now, id, status, h),
            Inner::Sql(s) => s.on_response_head(now, id, status, h),
        }
    }

    fn body(&mut self, now: i64, id: u64, chunk: &[u8]) -> Result<(), ConnectorError> {
        match self {
            Inner::Rows(s) => s.on_response_body(now, id, chunk),
            Inner::Sql(s) => s.on_response_body(now, id, chunk),
        }
    }

    fn end(&mut self, now: i64, id: u64) -> Result<(), ConnectorError> {
        match self {
            Inner::Rows(s) => s.on_response_end(now, id),
            Inner::Sql(s) => s.on_response_end(now, id),
        }
    }

    fn failed(
        &mut self,
        now: i64,
        id: u64,
        kind: TransportErrorKind,
    ) -> Result<(), ConnectorError> {
        match self {
            Inner::Rows(s) => s.on_transport_error(now, id, kind),
            Inner::Sql(s) => s.on_transport_error(now, id, kind),
        }
    }
}

/// A write session behind a WIT resource handle (`&self` methods, so the
/// core session sits in a `RefCell`; calls never re-enter).
pub struct Writer(RefCell<Inner>);

impl Writer {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Inner) -> Result<T, ConnectorError>,
    ) -> Result<T, wit::ConnectorError> {
        match self.0.try_borrow_mut() {
            Ok(mut s) => f(&mut s).map_err(error),
            Err(_) => Err(error(ConnectorError::misuse(
                "write-session called re-entrantly",
            ))),
        }
    }

    fn rows<T>(&self, f: impl FnOnce(&WriteSession) -> T, fallback: T) -> T {
        match self.0.try_borrow().as_deref() {
            Ok(Inner::Rows(s)) => f(s),
            _ => fallback,
        }
    }
}

impl writer::GuestWriteSession for Writer {
    fn open(
        config_json: String,
        object: String,
        op: String,
        options_json: Option<String>,
        state_json: Option<String>,
    ) -> Result<writer::WriteSession, wit::ConnectorError> {
        let session = open(&config_json, &object, &op, options_json, state_json).map_err(error)?;
        Ok(writer::WriteSession::new(Writer(RefCell::new(
            Inner::Rows(Box::new(session)),
        ))))
    }

    fn open_sql(
        config_json: String,
        sql: String,
        params_json: Option<String>,
    ) -> Result<writer::WriteSession, wit::ConnectorError> {
        let planned = crate::query::plan(&config_json, &sql, params_json, None).map_err(error)?;
        let SqlPlan::Modify(m) = planned else {
            return Err(error(ConnectorError::input(
                "sql",
                "open-sql runs an UPDATE or DELETE; query.plan says what else a statement is",
            )));
        };
        let session = ModifySession::open(m).map_err(error)?;
        Ok(writer::WriteSession::new(Writer(RefCell::new(Inner::Sql(
            Box::new(session),
        )))))
    }

    fn max_in_flight(&self) -> u32 {
        match self.0.try_borrow().as_deref() {
            Ok(Inner::Rows(s)) => count(s.max_in_flight()),
            Ok(Inner::Sql(s)) => count(s.max_in_flight()),
            Err(_) => 1,
        }
    }

    fn rows_per_request(&self) -> u32 {
        self.rows(|s| count(s.rows_per_request()), 1)
    }

    fn applied_later(&self) -> bool {
        self.rows(WriteSession::applied_later, false)
    }

    fn push_rows(&self, ndjson: Vec<u8>) -> Result<u64, wit::ConnectorError> {
        self.with(|s| match s {
            Inner::Rows(w) => w.push_ndjson(&ndjson),
            Inner::Sql(_) => Err(ConnectorError::misuse(
                "an UPDATE or DELETE writes the rows its read finds; push none",
            )),
        })
    }

    fn finish_input(&self) {
        // A re-entrant call is the only failure, and cannot happen: the
        // component never calls back into the host mid-method.
        if let Ok(mut s) = self.0.try_borrow_mut()
            && let Inner::Rows(w) = &mut *s
        {
            w.finish_input();
        }
    }

    fn poll(&self, now_ms: i64) -> Result<writer::WriteAction, wit::ConnectorError> {
        self.with(|s| s.poll(now_ms).map(action))
    }

    fn on_response_head(
        &self,
        now_ms: i64,
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.head(now_ms, id, status, &headers))
    }

    fn on_response_body(
        &self,
        now_ms: i64,
        id: u64,
        chunk: Vec<u8>,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.body(now_ms, id, &chunk))
    }

    fn on_response_end(&self, now_ms: i64, id: u64) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.end(now_ms, id))
    }

    fn on_transport_error(
        &self,
        now_ms: i64,
        id: u64,
        kind: wit::TransportErrorKind,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.failed(now_ms, id, transport_kind(kind)))
    }
}
