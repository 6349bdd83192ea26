//! UPDATE and DELETE: the keys are found with a read (the statement's WHERE,
//! pushed down as for a SELECT), then each matching row is written by key
//! through the write session. Driven like a write session: every matched
//! row ends with one result.

use serde_json::{Map, Value};

use crate::error::{ConnectorError, Result};
use crate::exchange::{Action, Record, TransportErrorKind};
use crate::write::{WriteAction, WriteOptions, WriteSession, WriteSummary};

use super::expr::Expr;
use super::{QuerySession, SelectPlan};

/// A table an UPDATE or DELETE can write, and how a read row names its
/// entity for the write.
struct Modifiable {
    table: &'static str,
    /// `update` or `delete`.
    sql_op: &'static str,
    /// The write object and operation each row goes to.
    object: &'static str,
    op: &'static str,
    /// `(read field, write field)` of the row's key.
    keys: &'static [(&'static str, &'static str)],
}

const MODIFIABLE: &[Modifiable] = &[
    Modifiable {
        table: "catalog_items",
        sql_op: "update",
        object: "catalog_items",
        op: "update",
        keys: &[("catalogName", "catalogName"), ("itemId", "itemId")],
    },
    Modifiable {
        table: "catalog_items",
        sql_op: "delete",
        object: "catalog_items",
        op: "delete",
        keys: &[("catalogName", "catalogName"), ("itemId", "itemId")],
    },
    Modifiable {
        table: "users",
        sql_op: "update",
        object: "users",
        op: "upsert",
        keys: &[("email", "email")],
    },
    Modifiable {
        table: "users",
        sql_op: "delete",
        object: "users",
        op: "delete",
        keys: &[("email", "email")],
    },
    Modifiable {
        table: "templates",
        sql_op: "update",
        object: "templates",
        op: "update",
        keys: &[
            ("templateId", "templateId"),
            ("messageMedium", "messageMedium"),
        ],
    },
    Modifiable {
        table: "lists",
        sql_op: "delete",
        object: "lists",
        op: "delete",
        keys: &[("id", "listId")],
    },
    Modifiable {
        table: "catalogs",
        sql_op: "delete",
        object: "catalogs",
        op: "delete",
        keys: &[("name", "name")],
    },
    Modifiable {
        table: "list_users",
        sql_op: "delete",
        object: "list_users",
        op: "delete",
        keys: &[("listId", "listId"), ("email", "email")],
    },
];

/// An UPDATE or DELETE, ready to run.
#[derive(Debug, Clone)]
pub struct ModifyPlan {
    /// The read that finds the rows.
    pub select: SelectPlan,
    /// The write object each row goes to.
    pub object: String,
    /// The write operation.
    pub op: String,
    keys: &'static [(&'static str, &'static str)],
    set: Vec<(String, Expr)>,
}

impl ModifyPlan {
    pub(crate) fn new(
        select: SelectPlan,
        sql_op: &str,
        set: Vec<(String, Expr)>,
    ) -> Result<ModifyPlan> {
        let Some(m) = MODIFIABLE
            .iter()
            .find(|m| m.table == select.stream && m.sql_op == sql_op)
        else {
            let list = |o: &str| {
                MODIFIABLE
                    .iter()
                    .filter(|m| m.sql_op == o)
                    .map(|m| m.table)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(ConnectorError::input(
                "sql",
                format!(
                    "{} of {} is not supported: UPDATE works on {}, DELETE on {}",
                    sql_op.to_ascii_uppercase(),
                    select.stream,
                    list("update"),
                    list("delete")
                ),
            ));
        };
        Ok(ModifyPlan {
            select,
            object: m.object.to_string(),
            op: m.op.to_string(),
            keys: m.keys,
            set,
        })
    }

    /// The write row for each read row: its key fields, then the SET values
    /// (evaluated on the row, so `SET price = price * 2` works).
    pub(crate) fn rows(&self, records: &[Record]) -> Vec<Value> {
        records
            .iter()
            .map(|r| {
                let mut row = Map::new();
                for (from, to) in self.keys {
                    if let Some(v) = r.get(*from) {
                        row.insert((*to).to_string(), v.clone());
                    }
                }
                for (field, e) in &self.set {
                    row.insert(field.clone(), e.eval(r));
                }
                Value::Object(row)
            })
            .collect()
    }
}

enum Phase {
    Read(Box<QuerySession>),
    Write(Box<WriteSession>),
    Finished(WriteSummary),
}

/// A running UPDATE or DELETE: see the module docs.
pub struct ModifySession {
    plan: ModifyPlan,
    phase: Phase,
    records: Vec<Record>,
}

impl ModifySession {
    /// Starts the read that finds the rows.
    pub fn open(plan: ModifyPlan) -> Result<ModifySession> {
        // The write must resolve before anything is read.
        WriteSession::open(
            plan.select.config.clone(),
            &plan.object,
            &plan.op,
            &WriteOptions::default(),
            None,
        )?;
        let read = QuerySession::open(plan.select.clone())?;
        Ok(ModifySession {
            plan,
            phase: Phase::Read(Box::new(read)),
            records: Vec::new(),
        })
    }

    /// How many requests may be in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.plan.select.config.max_concurrency as usize
    }

    /// The next action, as for a write session (rows are numbered in the
    /// order the read found them).
    pub fn poll(&mut self, now: i64) -> Result<WriteAction> {
        loop {
            match &mut self.phase {
                Phase::Read(q) => match q.poll(now)? {
                    Action::Fetch(r) => return Ok(WriteAction::Fetch(r)),
                    Action::Emit(b) => self.records.extend(b.records()),
                    Action::Commit(_) => {}
                    Action::SleepUntil(t) => return Ok(WriteAction::SleepUntil(t)),
                    Action::AwaitResponse => return Ok(WriteAction::AwaitResponse),
                    Action::Log(l) => return Ok(WriteAction::Log(l)),
                    Action::Done(_) => {
                        let rows = self.plan.rows(&std::mem::take(&mut self.records));
                        let mut w = WriteSession::open(
                            self.plan.select.config.clone(),
                            &self.plan.object,
                            &self.plan.op,
                            &WriteOptions::default(),
                            None,
                        )?;
                        if rows.is_empty() {
                            let mut s = WriteSummary {
                                object: self.plan.object.clone(),
                                op: self.plan.op.clone(),
                                ..WriteSummary::default()
                            };
                            s.rows = 0;
                            self.phase = Phase::Finished(s);
                            continue;
                        }
                        w.push_rows(rows)?;
                        w.finish_input();
                        self.phase = Phase::Write(Box::new(w));
                    }
                },
                Phase::Write(w) => {
                    return match w.poll(now)? {
                        // Every row was pushed at once.
                        WriteAction::NeedRows => {
                            w.finish_input();
                            continue;
                        }
                        other => Ok(other),
                    };
                }
                Phase::Finished(s) => return Ok(WriteAction::Done(s.clone())),
            }
        }
    }

    /// The status line and headers of a response.
    pub fn on_response_head(
        &mut self,
        now: i64,
        id: u64,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<()> {
        match &mut self.phase {
            Phase::Read(q) => q.on_response_head(now, id, status, headers),
            Phase::Write(w) => w.on_response_head(now, id, status, headers),
            Phase::Finished(_) => Err(ConnectorError::misuse(
                "a response after the statement finished",
            )),
        }
    }

    /// A chunk of a response body.
    pub fn on_response_body(&mut self, now: i64, id: u64, chunk: &[u8]) -> Result<()> {
        match &mut self.phase {
            Phase::Read(q) => q.on_response_body(now, id, chunk),
            Phase::Write(w) => w.on_response_body(now, id, chunk),
            Phase::Finished(_) => Err(ConnectorError::misuse(
                "a response after the statement finished",
            )),
        }
    }

    /// The response is complete.
    pub fn on_response_end(&mut self, now: i64, id: u64) -> Result<()> {
        match &mut self.phase {
            Phase::Read(q) => q.on_response_end(now, id),
            Phase::Write(w) => w.on_response_end(now, id),
            Phase::Finished(_) => Err(ConnectorError::misuse(
                "a response after the statement finished",
            )),
        }
    }

    /// The request failed before a complete response.
    pub fn on_transport_error(
        &mut self,
        now: i64,
        id: u64,
        kind: TransportErrorKind,
    ) -> Result<()> {
        match &mut self.phase {
            Phase::Read(q) => q.on_transport_error(now, id, kind),
            Phase::Write(w) => w.on_transport_error(now, id, kind),
            Phase::Finished(_) => Err(ConnectorError::misuse(
                "a response after the statement finished",
            )),
        }
    }
}
