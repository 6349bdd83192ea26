//! SQL over Iterable, planned in the core (so the component, the CLI and
//! Python share it) with `sqlparser` for the grammar.
//!
//! A statement becomes a [`SqlPlan`]:
//! - `SELECT … FROM <one table> [WHERE] [ORDER BY] [LIMIT/OFFSET]`: every
//!   predicate the API applies itself is pushed down (the stream catalog's
//!   `pushdown` rows: the user of by-user streams, list ids, catalog names,
//!   the export window from a `createdAt`/`profileUpdatedAt` range); the
//!   rest is evaluated on the records by a [`QuerySession`] wrapped around
//!   the read session; `LIMIT` without `ORDER BY` stops reading early.
//! - `EXPLAIN SELECT …`: what was pushed down, what is evaluated, and the
//!   first requests the read makes.
//! - `INSERT INTO t (cols) VALUES (…), … [RETURNING …]` and `CALL
//!   Procedure(…)`: a write ([`SqlWrite`]) for the write session.
//!
//! Table names are stream names or Skyvia's object names (`CatalogItems`,
//! `InAppMessages`…), columns are matched ignoring case, `:name` takes a
//! parameter. Anything else (a JOIN, GROUP BY, a subquery, UPDATE/DELETE)
//! is an `invalid-input` error naming the construct and what to do instead.

mod expr;
mod modify;
mod query;
mod scans;
mod translate;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use sqlparser::ast;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::catalog::{self, ApiParam, FilterOp, StreamDef};
use crate::config::Config;
use crate::error::{ConnectorError, Result};
use crate::time;
use crate::write::WriteOptions;

pub use modify::{ModifyPlan, ModifySession};
pub use query::QuerySession;
pub use scans::{TableScan, plan_scans};

use expr::{BinOp, Expr};
use translate::{Columns, Translator, object_name};

/// What a statement does.
#[derive(Debug, Clone)]
pub enum SqlPlan {
    /// Read rows (run it with a [`QuerySession`]).
    Select(SelectPlan),
    /// Describe a SELECT's plan instead of running it ([`SelectPlan::explain`]).
    Explain(SelectPlan),
    /// Write rows, or call a procedure (run it with a `WriteSession`).
    Write(SqlWrite),
    /// UPDATE or DELETE: find the rows, then write each by key (run it
    /// with a [`ModifySession`]).
    Modify(ModifyPlan),
}

/// A write planned from INSERT or CALL.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlWrite {
    /// The object or procedure, as written (the write session resolves it).
    pub object: String,
    /// `insert` or `call`.
    pub op: String,
    /// Options of the write (defaults: SQL has no place for them).
    pub options: WriteOptions,
    /// One JSON object per row (a procedure: its parameters).
    pub rows: Vec<Value>,
    /// The statement asked for the new ids back (`RETURNING`).
    pub returning: bool,
}

/// One output column: a name and what it holds.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// `*`: every field of the record.
    Star,
    Named(String, Expr),
}

/// A single-table SELECT, ready to run.
#[derive(Debug, Clone)]
pub struct SelectPlan {
    /// The stream read.
    pub stream: String,
    /// The config the read runs with: the caller's, plus what was pushed down.
    pub config: Config,
    /// Each predicate the API applies, in words.
    pub pushed: Vec<String>,
    residual: Option<Expr>,
    items: Vec<Item>,
    order: Vec<(Expr, bool)>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Rows skipped first.
    pub offset: u64,
}

/// Plans one SQL statement. `params` holds the values of `:name`
/// placeholders; `user_fields` is the body of `users/getFields` when the
/// caller has it (the users table then knows its custom columns).
pub fn plan_sql(
    config: &Config,
    sql: &str,
    params: &Map<String, Value>,
    user_fields: Option<&Value>,
) -> Result<SqlPlan> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| ConnectorError::input("sql", format!("syntax error: {e}")))?;
    let statement = match statements.as_slice() {
        [one] => one,
        [] => return Err(ConnectorError::input("sql", "is empty; give one statement")),
        _ => {
            return Err(ConnectorError::input(
                "sql",
                format!("has {} statements; give one at a time", statements.len()),
            ));
        }
    };
    match statement {
        ast::Statement::Query(q) => Ok(SqlPlan::Select(select(config, q, params, user_fields)?)),
        ast::Statement::Explain { statement, .. } => match statement.as_ref() {
            ast::Statement::Query(q) => {
                Ok(SqlPlan::Explain(select(config, q, params, user_fields)?))
            }
            other => Err(ConnectorError::input(
                "sql",
                format!("EXPLAIN explains a SELECT, not {}", first_word(other)),
            )),
        },
        ast::Statement::Insert(insert) => Ok(SqlPlan::Write(insert_rows(insert, params)?)),
        ast::Statement::Call(f) => Ok(SqlPlan::Write(call(f, params)?)),
        ast::Statement::Update(u) => Ok(SqlPlan::Modify(update(config, u, params, user_fields)?)),
        ast::Statement::Delete(d) => Ok(SqlPlan::Modify(delete(config, d, params, user_fields)?)),
        other => Err(ConnectorError::input(
            "sql",
            format!(
                "{} statements are not supported; use SELECT, EXPLAIN SELECT, INSERT or CALL",
                first_word(other)
            ),
        )),
    }
}

/// The rows an UPDATE or DELETE touches: `SELECT * FROM table WHERE …`.
fn target_rows(
    config: &Config,
    table_name: &str,
    selection: Option<&ast::Expr>,
    params: &Map<String, Value>,
    user_fields: Option<&Value>,
) -> Result<SelectPlan> {
    let mut sql = format!("SELECT * FROM \"{table_name}\"");
    if let Some(w) = selection {
        sql.push_str(&format!(" WHERE {w}"));
    }
    match plan_sql(config, &sql, params, user_fields)? {
        SqlPlan::Select(p) => Ok(p),
        _ => Err(ConnectorError::input(
            "sql",
            "the WHERE of an UPDATE or DELETE must select rows",
        )),
    }
}

fn single_table(t: &ast::TableWithJoins, what: &str) -> Result<String> {
    if !t.joins.is_empty() {
        return Err(ConnectorError::input(
            "sql",
            format!("{what} of several tables is not supported"),
        ));
    }
    match &t.relation {
        ast::TableFactor::Table { name, .. } => object_name(name),
        _ => Err(ConnectorError::input(
            "sql",
            format!("{what} names one table"),
        )),
    }
}

fn update(
    config: &Config,
    u: &ast::Update,
    params: &Map<String, Value>,
    user_fields: Option<&Value>,
) -> Result<ModifyPlan> {
    if u.from.is_some() || !u.order_by.is_empty() || u.limit.is_some() || u.returning.is_some() {
        return Err(ConnectorError::input(
            "sql",
            "UPDATE … FROM, ORDER BY, LIMIT and RETURNING are not supported (as in Skyvia, FROM is not)",
        ));
    }
    let table_name = single_table(&u.table, "UPDATE")?;
    let select = target_rows(
        config,
        &table_name,
        u.selection.as_ref(),
        params,
        user_fields,
    )?;
    let def = table(&table_name)?;
    let schema = def.json_schema(config, user_fields);
    let columns = Columns::new(def.name, &schema);
    let tr = Translator {
        columns: &columns,
        params,
    };
    let mut set = Vec::new();
    for a in &u.assignments {
        let ast::AssignmentTarget::ColumnName(name) = &a.target else {
            return Err(ConnectorError::input(
                "sql",
                "SET takes one column per assignment",
            ));
        };
        let ident = match name.0.last() {
            Some(ast::ObjectNamePart::Identifier(i)) => i,
            _ => {
                return Err(ConnectorError::input(
                    "sql",
                    format!("SET {name}: name a column"),
                ));
            }
        };
        set.push((columns.resolve(ident)?, tr.expr(&a.value)?));
    }
    ModifyPlan::new(select, "update", set)
}

fn delete(
    config: &Config,
    d: &ast::Delete,
    params: &Map<String, Value>,
    user_fields: Option<&Value>,
) -> Result<ModifyPlan> {
    if !d.tables.is_empty()
        || d.using.is_some()
        || !d.order_by.is_empty()
        || d.limit.is_some()
        || d.returning.is_some()
    {
        return Err(ConnectorError::input(
            "sql",
            "DELETE FROM one table WHERE …; USING, ORDER BY, LIMIT and RETURNING are not supported",
        ));
    }
    let tables = match &d.from {
        ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
    };
    let [t] = tables.as_slice() else {
        return Err(ConnectorError::input("sql", "DELETE FROM names one table"));
    };
    let table_name = single_table(t, "DELETE")?;
    let select = target_rows(
        config,
        &table_name,
        d.selection.as_ref(),
        params,
        user_fields,
    )?;
    ModifyPlan::new(select, "delete", Vec::new())
}

fn first_word(s: &ast::Statement) -> String {
    s.to_string()
        .split_whitespace()
        .next()
        .unwrap_or("this")
        .to_ascii_uppercase()
}

/// Skyvia's object names that are not simply our stream names.
const TABLE_ALIASES: &[(&str, &str)] = &[("messagestypes", "message_types")];

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The stream a table name means (case, `_` and `-` ignored).
fn table(name: &str) -> Result<&'static StreamDef> {
    let n = normalise(name);
    let target = TABLE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == n)
        .map_or(n.clone(), |(_, stream)| normalise(stream));
    catalog::all_streams()
        .find(|d| normalise(d.name) == target)
        .ok_or_else(|| {
            ConnectorError::input(
                "sql",
                format!(
                    "unknown table \"{name}\"; tables are the stream names (campaigns, lists, list_users, templates, catalog_items, users, email_send, …) or Skyvia's (Campaigns, CatalogItems, Events, InAppMessages, Lists, Templates, Users)"
                ),
            )
        })
}

fn select(
    config: &Config,
    q: &ast::Query,
    params: &Map<String, Value>,
    user_fields: Option<&Value>,
) -> Result<SelectPlan> {
    let refuse = |what: &str| Err(translate::needs_engine(what));
    if q.with.is_some() {
        return refuse("WITH");
    }
    if q.fetch.is_some() || !q.locks.is_empty() || q.for_clause.is_some() {
        return refuse("FETCH/FOR");
    }
    let s = match q.body.as_ref() {
        ast::SetExpr::Select(s) => s,
        ast::SetExpr::SetOperation { op, .. } => return refuse(&op.to_string()),
        _ => return refuse("this query form"),
    };
    if s.distinct.is_some() {
        return refuse("DISTINCT");
    }
    if s.having.is_some() {
        return refuse("HAVING");
    }
    match &s.group_by {
        ast::GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty() => {}
        _ => return refuse("GROUP BY"),
    }
    if s.top.is_some() || s.into.is_some() || s.qualify.is_some() || s.prewhere.is_some() {
        return refuse("TOP/INTO/QUALIFY");
    }
    let from = match s.from.as_slice() {
        [one] => one,
        [] => return Err(ConnectorError::input("sql", "SELECT needs FROM <table>")),
        _ => return refuse("selecting from several tables"),
    };
    if !from.joins.is_empty() {
        return refuse("JOIN");
    }
    let table_name = match &from.relation {
        ast::TableFactor::Table { name, .. } => object_name(name)?,
        _ => return refuse("a subquery or table function in FROM"),
    };
    let def = table(&table_name)?;
    let schema = def.json_schema(config, user_fields);
    let columns = Columns::new(def.name, &schema);
    let tr = Translator {
        columns: &columns,
        params,
    };

    let mut items = Vec::new();
    for item in &s.projection {
        items.push(match item {
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => Item::Star,
            ast::SelectItem::UnnamedExpr(e) => {
                let x = tr.expr(e)?;
                let name = match &x {
                    Expr::Column(c) => c.clone(),
                    _ => e.to_string(),
                };
                Item::Named(name, x)
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                Item::Named(alias.value.clone(), tr.expr(expr)?)
            }
            other => {
                return Err(ConnectorError::input(
                    "sql",
                    format!("the select item {other} is not supported"),
                ));
            }
        });
    }

    let mut plan = SelectPlan {
        stream: def.name.to_string(),
        config: config.clone(),
        pushed: Vec::new(),
        residual: None,
        items,
        order: Vec::new(),
        limit: None,
        offset: 0,
    };
    if let Some(w) = &s.selection {
        let filter = tr.expr(w)?;
        plan.residual = push_down(def, &mut plan.config, &mut plan.pushed, filter)?;
    }
    if def.is_by_key() && plan.config.email.is_none() && plan.config.user_id.is_none() {
        return Err(ConnectorError::input(
            "sql",
            format!(
                "{} is read one user at a time: add WHERE email = '…' (or userId = '…'), as Skyvia requires",
                def.name
            ),
        ));
    }
    if let Some(order) = &q.order_by {
        match &order.kind {
            ast::OrderByKind::Expressions(list) => {
                for o in list {
                    let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
                    plan.order
                        .push((order_key(&tr, &plan.items, &o.expr)?, desc));
                }
            }
            ast::OrderByKind::All(_) => return refuse("ORDER BY ALL"),
        }
    }
    project(def, &mut plan);
    if let Some(limit) = &q.limit_clause {
        let (limit, offset) = match limit {
            ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            } if limit_by.is_empty() => (limit.as_ref(), offset.as_ref().map(|o| &o.value)),
            ast::LimitClause::OffsetCommaLimit { offset, limit } => (Some(limit), Some(offset)),
            _ => return refuse("LIMIT BY"),
        };
        if let Some(l) = limit {
            plan.limit = Some(count(&tr, l, "LIMIT")?);
        }
        if let Some(o) = offset {
            plan.offset = count(&tr, o, "OFFSET")?;
        }
    }
    Ok(plan)
}

/// A SELECT of named columns from an export stream asks the export for the
/// fields the statement reads (output, filter, ORDER BY) only
/// (`onlyFields`), plus what the read itself needs: the cursor and the
/// fields of the synthetic event key (so `_key` is the same as a full
/// read's).
fn project(def: &StreamDef, plan: &mut SelectPlan) {
    let exporting = matches!(def.family, catalog::Family::Export { .. })
        && plan.config.export_mode == crate::config::ExportMode::Sync;
    if !exporting || plan.items.iter().any(|i| matches!(i, Item::Star)) {
        return;
    }
    let mut fields = BTreeSet::new();
    for item in &plan.items {
        if let Item::Named(_, e) = item {
            e.columns(&mut fields);
        }
    }
    if let Some(r) = &plan.residual {
        r.columns(&mut fields);
    }
    for (e, _) in &plan.order {
        e.columns(&mut fields);
    }
    fields.extend(def.cursor_field.map(str::to_string));
    fields.extend(def.primary_key.iter().map(|k| k.to_string()));
    fields.extend(
        crate::record::EVENT_IDENTITY_FIELDS
            .iter()
            .map(|f| f.to_string()),
    );
    fields.remove(catalog::EVENT_KEY_FIELD);
    let list: Vec<String> = fields.into_iter().collect();
    plan.pushed
        .push(format!("columns → onlyFields {}", list.join(",")));
    plan.config
        .pushed_query
        .push(("onlyFields", list.join(",")));
}

/// An ORDER BY key: an output alias, a 1-based output position, or an
/// expression over the record.
fn order_key(tr: &Translator<'_>, items: &[Item], e: &ast::Expr) -> Result<Expr> {
    if let ast::Expr::Identifier(ident) = e
        && let Some(Item::Named(_, x)) = items
            .iter()
            .find(|i| matches!(i, Item::Named(n, _) if n.eq_ignore_ascii_case(&ident.value)))
    {
        return Ok(x.clone());
    }
    if let ast::Expr::Value(v) = e
        && let ast::Value::Number(n, _) = &v.value
    {
        let position: usize = n.parse().unwrap_or(0);
        return match items.get(position.wrapping_sub(1)) {
            Some(Item::Named(_, x)) => Ok(x.clone()),
            _ => Err(ConnectorError::input(
                "sql",
                format!("ORDER BY {n}: there is no output column {n} to sort by"),
            )),
        };
    }
    tr.expr(e)
}

fn count(tr: &Translator<'_>, e: &ast::Expr, what: &str) -> Result<u64> {
    match tr.expr(e)? {
        Expr::Literal(v) => v.as_u64(),
        _ => None,
    }
    .ok_or_else(|| ConnectorError::input("sql", format!("{what} takes a whole number (0 or more)")))
}

/// The conjuncts of a filter (`a AND b AND c` → `[a, b, c]`).
fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::Binary(a, BinOp::And, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        other => out.push(other),
    }
}

/// A predicate on one column against constants: `(column, op, values)`.
fn simple(e: &Expr) -> Option<(&str, FilterOp, Vec<Value>, Option<BinOp>)> {
    match e {
        Expr::Binary(a, op, b) => {
            let (col, lit, op) = match (a.as_ref(), b.as_ref()) {
                (Expr::Column(c), Expr::Literal(v)) => (c, v, *op),
                (Expr::Literal(v), Expr::Column(c)) => (c, v, op.flipped()),
                _ => return None,
            };
            let filter = match op {
                BinOp::Eq => FilterOp::Eq,
                BinOp::GtEq | BinOp::Gt => FilterOp::Ge,
                BinOp::Lt | BinOp::LtEq => FilterOp::Lt,
                _ => return None,
            };
            Some((col.as_str(), filter, vec![lit.clone()], Some(op)))
        }
        Expr::InList(a, list, false) => {
            let Expr::Column(c) = a.as_ref() else {
                return None;
            };
            let values: Option<Vec<Value>> = list
                .iter()
                .map(|x| match x {
                    Expr::Literal(v) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            Some((c.as_str(), FilterOp::In, values?, None))
        }
        _ => None,
    }
}

/// Moves what the API can apply into `config` (and `pushed`, in words);
/// returns what is left to evaluate on the records. Settings (the user, list
/// ids, catalog names) select exactly the matching records and leave the
/// filter; a time range only narrows the read, so it stays in the filter.
fn push_down(
    def: &StreamDef,
    config: &mut Config,
    pushed: &mut Vec<String>,
    filter: Expr,
) -> Result<Option<Expr>> {
    let mut parts = Vec::new();
    conjuncts(filter, &mut parts);
    let mut residual: Vec<Expr> = Vec::new();
    let mut start: Option<DateTime<Utc>> = None;
    let mut end: Option<DateTime<Utc>> = None;
    for part in parts {
        let mut keep = true;
        if let Some((column, op, values, bin)) = simple(&part) {
            let column = column.to_string();
            let rows: Vec<_> = def
                .pushdown
                .iter()
                .filter(|p| {
                    p.column == column
                        && (p.op == op || (op == FilterOp::Eq && p.op == FilterOp::In))
                })
                .collect();
            for p in rows {
                match p.param {
                    ApiParam::Setting(key) => {
                        if set(config, key, &values, &column)? {
                            pushed.push(format!("{column} {} → {key}", describe(op, &values)));
                            keep = false;
                            break;
                        }
                    }
                    ApiParam::Query("startDateTime") | ApiParam::Query("endDateTime") => {
                        let Some(t) = values.first().and_then(as_time) else {
                            return Err(ConnectorError::input(
                                "sql",
                                format!(
                                    "{column} is compared with {}, which is not a date or timestamp",
                                    values.first().unwrap_or(&Value::Null)
                                ),
                            ));
                        };
                        match bin {
                            Some(BinOp::GtEq | BinOp::Gt) => {
                                start = Some(start.map_or(t, |s| s.max(t)))
                            }
                            // `<=` includes the instant: the exclusive end is just after it.
                            Some(BinOp::LtEq) => {
                                let t = t + Duration::seconds(1);
                                end = Some(end.map_or(t, |e| e.min(t)));
                            }
                            Some(BinOp::Lt) => end = Some(end.map_or(t, |e| e.min(t))),
                            _ => {}
                        }
                    }
                    ApiParam::Query(name) => {
                        if push_param(def, config, name, op, &values) {
                            pushed.push(format!("{column} {} → {name}", describe(op, &values)));
                            break;
                        }
                    }
                }
            }
        }
        if let Expr::Between(a, lo, hi, false) = &part
            && let (Expr::Column(c), Expr::Literal(l), Expr::Literal(h)) =
                (a.as_ref(), lo.as_ref(), hi.as_ref())
            && def
                .pushdown
                .iter()
                .any(|p| p.column == c && p.param == ApiParam::Query("startDateTime"))
            && let (Some(l), Some(h)) = (as_time(l), as_time(h))
        {
            start = Some(start.map_or(l, |s| s.max(l)));
            let h = h + Duration::seconds(1);
            end = Some(end.map_or(h, |e| e.min(h)));
        }
        if keep {
            residual.push(part);
        }
    }
    if takes_request_params(def) {
        // A paged endpoint's date parameters (templates: creation time)
        // take whole seconds: widen to them; the filter stays exact.
        if let Some(s) = start {
            let s = time::to_export_param(&s);
            pushed.push(format!("startDateTime {s}"));
            config.pushed_query.push(("startDateTime", s));
        }
        if let Some(e) = end {
            let whole = if e.timestamp_subsec_nanos() > 0 {
                e + Duration::seconds(1)
            } else {
                e
            };
            let e = time::to_export_param(&whole);
            pushed.push(format!("endDateTime {e}"));
            config.pushed_query.push(("endDateTime", e));
        }
    } else {
        if let Some(s) = start {
            config.start_date = Some(s);
            pushed.push(format!("export window starts {}", time::to_rfc3339(&s)));
        }
        if let Some(e) = end {
            config.end_date = Some(e);
            pushed.push(format!(
                "export window ends before {}",
                time::to_rfc3339(&e)
            ));
        }
    }
    Ok(residual
        .into_iter()
        .reduce(|a, b| Expr::Binary(Box::new(a), BinOp::And, Box::new(b))))
}

fn describe(op: FilterOp, values: &[Value]) -> String {
    let list: Vec<String> = values.iter().map(ToString::to_string).collect();
    match op {
        FilterOp::In => format!("IN ({})", list.join(", ")),
        _ => format!("= {}", list.join(", ")),
    }
}

/// Streams read by paging an endpoint that takes its filters as request
/// parameters (not an export window).
fn takes_request_params(def: &StreamDef) -> bool {
    matches!(
        def.family,
        catalog::Family::Paged { .. } | catalog::Family::TemplateContents { .. }
    )
}

/// Pushes `name op values` into the read's request parameters when the
/// stream's requests take it; `false` leaves it to the records only. The
/// filter always stays on the records too, so a parameter only narrows.
fn push_param(
    def: &StreamDef,
    config: &mut Config,
    name: &'static str,
    op: FilterOp,
    values: &[Value],
) -> bool {
    // Twice the same parameter would widen (`a=1&a=2`), not narrow.
    if config.pushed_query.iter().any(|(k, _)| *k == name) {
        return false;
    }
    match def.family {
        // One campaign of an export: a parameter of export/data.json.
        catalog::Family::Export { .. } => {
            let id = values.first().and_then(as_int);
            match (name, op, id) {
                ("campaignId", FilterOp::Eq, Some(id))
                    if config.export_mode == crate::config::ExportMode::Sync =>
                {
                    config.pushed_query.push(("campaignId", id.to_string()));
                    true
                }
                _ => false,
            }
        }
        // templateType, messageMedium, campaignState: text the API matches.
        catalog::Family::Paged { .. } | catalog::Family::TemplateContents { .. } => {
            let texts: Option<Vec<String>> = values
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            match texts {
                Some(texts) if !texts.is_empty() => {
                    config
                        .pushed_query
                        .extend(texts.into_iter().map(|t| (name, t)));
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Applies a setting pushdown; `false` when the values cannot go there
/// (then the predicate is evaluated on the records instead).
fn set(config: &mut Config, key: &str, values: &[Value], column: &str) -> Result<bool> {
    let texts: Vec<String> = values
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    if texts.len() != values.len() {
        return Ok(false);
    }
    match key {
        "email" | "user_id" => {
            let [one] = texts.as_slice() else {
                return Err(ConnectorError::input(
                    "sql",
                    format!("{column} IN (…) with several users: query one user at a time"),
                ));
            };
            if key == "email" {
                config.email = Some(one.clone());
            } else {
                config.user_id = Some(one.clone());
            }
        }
        "list_ids" => {
            let ids: Option<Vec<i64>> = texts.iter().map(|t| t.parse().ok()).collect();
            let Some(ids) = ids else { return Ok(false) };
            config.list_ids = Some(ids);
        }
        "catalog_names" => config.catalog_names = Some(texts),
        "item_ids" => config.item_ids = Some(texts),
        _ => return Ok(false),
    }
    Ok(true)
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => time::parse_timestamp_str(s),
        Value::Number(_) => time::parse_wire_timestamp(v),
        _ => None,
    }
}

fn insert_rows(insert: &ast::Insert, params: &Map<String, Value>) -> Result<SqlWrite> {
    let object = match &insert.table {
        ast::TableObject::TableName(name) => object_name(name)?,
        _ => return Err(ConnectorError::input("sql", "INSERT INTO names a table")),
    };
    if insert.columns.is_empty() {
        return Err(ConnectorError::input(
            "sql",
            format!(
                "INSERT INTO {object} needs its column list: INSERT INTO {object} (col, …) VALUES (…)"
            ),
        ));
    }
    let names: Vec<String> = insert
        .columns
        .iter()
        .map(|c| c.to_string().trim_matches(['"', '`']).to_string())
        .collect();
    let duplicates: BTreeSet<&String> = names.iter().collect();
    if duplicates.len() != names.len() {
        return Err(ConnectorError::input(
            "sql",
            "a column is named twice in INSERT",
        ));
    }
    let source = insert.source.as_ref().map(|q| q.body.as_ref());
    let Some(ast::SetExpr::Values(values)) = source else {
        return Err(ConnectorError::input(
            "sql",
            "INSERT takes VALUES (…); INSERT … SELECT is not supported (as in Skyvia)",
        ));
    };
    // Values are constants: expressions over no record, with parameters.
    let empty = Columns::new(&object, &json!({"additionalProperties": false}));
    let tr = Translator {
        columns: &empty,
        params,
    };
    let none = Map::new();
    let mut rows = Vec::new();
    for (i, row) in values.rows.iter().enumerate() {
        if row.content.len() != names.len() {
            return Err(ConnectorError::input(
                "sql",
                format!(
                    "VALUES row {} has {} values for {} columns",
                    i + 1,
                    row.content.len(),
                    names.len()
                ),
            ));
        }
        let mut obj = Map::new();
        for (name, e) in names.iter().zip(&row.content) {
            let v = tr.expr(e)?.eval(&none);
            if !v.is_null() {
                obj.insert(name.clone(), json_text(v));
            }
        }
        rows.push(Value::Object(obj));
    }
    Ok(SqlWrite {
        object,
        op: "insert".into(),
        options: WriteOptions::default(),
        rows,
        returning: insert.returning.is_some(),
    })
}

/// Text holding a JSON array or object (as SQL can only say `'[1,2]'`)
/// becomes that value.
fn json_text(v: Value) -> Value {
    if let Value::String(s) = &v {
        let t = s.trim_start();
        if (t.starts_with('[') || t.starts_with('{'))
            && let Ok(parsed) = serde_json::from_str::<Value>(s)
        {
            return parsed;
        }
    }
    v
}

/// Parameters of each procedure, in Skyvia's positional order.
const PROCEDURES: &[(&str, &[&str])] = &[
    ("AbortCampaign", &["campaignId"]),
    (
        "TriggerCampaign",
        &[
            "campaignId",
            "listIds",
            "suppressionListIds",
            "dataFields",
            "allowRepeatMarketingSends",
        ],
    ),
    ("CancelScheduledOrRecurringCampaign", &["campaignId"]),
];

fn call(f: &ast::Function, params: &Map<String, Value>) -> Result<SqlWrite> {
    let name = object_name(&f.name)?;
    let Some((canonical, names)) = PROCEDURES
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(&name))
    else {
        let known: Vec<&str> = PROCEDURES.iter().map(|(p, _)| *p).collect();
        return Err(ConnectorError::input(
            "sql",
            format!(
                "unknown procedure {name}; the procedures are {}",
                known.join(", ")
            ),
        ));
    };
    let empty = Columns::new(&name, &json!({"additionalProperties": false}));
    let tr = Translator {
        columns: &empty,
        params,
    };
    let none = Map::new();
    let mut row = Map::new();
    let args = match &f.args {
        ast::FunctionArguments::List(list) => list.args.as_slice(),
        _ => &[],
    };
    if args.len() > names.len() {
        return Err(ConnectorError::input(
            "sql",
            format!(
                "{canonical} takes at most {} arguments ({})",
                names.len(),
                names.join(", ")
            ),
        ));
    }
    for (i, arg) in args.iter().enumerate() {
        let (param, e) = match arg {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => (names[i].to_string(), e),
            ast::FunctionArg::Named {
                name,
                arg: ast::FunctionArgExpr::Expr(e),
                ..
            } => {
                let p = names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(&name.value))
                    .ok_or_else(|| {
                        ConnectorError::input(
                            name.value.as_str(),
                            format!("is not a parameter of {canonical} ({})", names.join(", ")),
                        )
                    })?;
                (p.to_string(), e)
            }
            other => {
                return Err(ConnectorError::input(
                    "sql",
                    format!("the argument {other} is not supported"),
                ));
            }
        };
        let v = tr.expr(e)?.eval(&none);
        if !v.is_null() {
            row.insert(param, json_text(v));
        }
    }
    Ok(SqlWrite {
        object: canonical.to_string(),
        op: "call".into(),
        options: WriteOptions::default(),
        rows: vec![Value::Object(row)],
        returning: false,
    })
}

impl SelectPlan {
    /// The output column names, when the query lists them (not for `*`).
    pub fn columns(&self) -> Option<Vec<String>> {
        self.items
            .iter()
            .map(|i| match i {
                Item::Named(n, _) => Some(n.clone()),
                Item::Star => None,
            })
            .collect()
    }

    /// Each output column with the JSON Schema of its values, in SELECT
    /// order (`None` for `*`): a column copied from the table has its
    /// property in `stream_schema` (the stream's JSON Schema), a computed
    /// one the type its expression gives. For hosts that type output
    /// (Arrow, CSV headers).
    pub fn output_schema(&self, stream_schema: &Value) -> Option<Vec<(String, Value)>> {
        let props = stream_schema.get("properties").and_then(Value::as_object);
        self.items
            .iter()
            .map(|i| match i {
                Item::Named(n, e) => Some((n.clone(), e.json_schema(props))),
                Item::Star => None,
            })
            .collect()
    }

    /// Whether the query sorts (then every row is read before the first
    /// is handed out).
    pub fn sorts(&self) -> bool {
        !self.order.is_empty()
    }

    /// The plan in words: one row per step (`{"step", "detail"}`).
    pub fn explain(&self) -> Vec<Value> {
        let mut rows = vec![json!({"step": "read", "detail": self.stream})];
        for p in &self.pushed {
            rows.push(json!({"step": "pushed down", "detail": p}));
        }
        if let Some(r) = &self.residual {
            rows.push(json!({"step": "filter on records", "detail": r.to_string()}));
        }
        if !self.order.is_empty() {
            let keys: Vec<String> = self
                .order
                .iter()
                .map(|(e, desc)| format!("{e}{}", if *desc { " DESC" } else { "" }))
                .collect();
            rows.push(json!({"step": "sort (reads every row first)", "detail": keys.join(", ")}));
        }
        if let Some(l) = self.limit {
            let how = if self.order.is_empty() {
                "stop reading after"
            } else {
                "keep the first"
            };
            rows.push(json!({"step": "limit", "detail": format!("{how} {l} rows (offset {})", self.offset)}));
        }
        rows
    }
}

#[cfg(test)]
mod tests;
