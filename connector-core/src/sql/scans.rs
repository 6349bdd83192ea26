//! Statements the core does not run itself (a JOIN, GROUP BY, a subquery):
//! what each table reference can still have pushed down. A host with a SQL
//! engine (Python: DuckDB) reads each table through its [`SelectPlan`],
//! registers the rows under the name the statement uses, and runs the
//! statement there.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlparser::ast;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::config::Config;
use crate::error::{ConnectorError, Result};

use super::translate::object_name;
use super::{SelectPlan, SqlPlan, plan_sql};

/// One table a statement reads, and how to read it.
#[derive(Debug, Clone)]
pub struct TableScan {
    /// The name the statement uses for the table (register the rows under it).
    pub table: String,
    /// What to read: the table with the predicates that concern it alone.
    pub plan: SelectPlan,
    /// The single-table SQL `plan` was made from (for logs and EXPLAIN).
    pub sql: String,
}

/// One reference in FROM: the table's name, the alias it goes by, and the
/// WHERE of the SELECT it appears in.
struct Reference<'a> {
    table: String,
    alias: Option<String>,
    filter: Option<&'a ast::Expr>,
    /// The only table of that SELECT (unqualified columns are its own).
    alone: bool,
    /// Its SELECT was found (set when that SELECT's FROM is done).
    placed: bool,
}

/// The table scans of `sql` (a SELECT of any shape): every table it names,
/// each with the conjuncts of its own SELECT's WHERE that use only that
/// table's columns (qualified by its name or alias; unqualified when it is
/// the only table there). Tables named twice get no pushed filter (each use may differ).
pub fn plan_scans(
    config: &Config,
    sql: &str,
    params: &Map<String, Value>,
    user_fields: Option<&Value>,
) -> Result<Vec<TableScan>> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| ConnectorError::input("sql", format!("syntax error: {e}")))?;
    let [ast::Statement::Query(query)] = statements.as_slice() else {
        return Err(ConnectorError::input(
            "sql",
            "only one SELECT can be spread over tables",
        ));
    };
    let mut refs = Vec::new();
    collect_query(query, &mut refs)?;
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for r in &refs {
        *uses.entry(r.table.to_ascii_lowercase()).or_default() += 1;
    }
    let mut scans: Vec<TableScan> = Vec::new();
    for r in &refs {
        if scans.iter().any(|s| s.table.eq_ignore_ascii_case(&r.table)) {
            continue;
        }
        let names: Vec<&str> = std::iter::once(r.table.as_str())
            .chain(r.alias.as_deref())
            .collect();
        let mine: Vec<String> = if uses[&r.table.to_ascii_lowercase()] > 1 {
            Vec::new()
        } else {
            r.filter
                .map(split_and)
                .unwrap_or_default()
                .into_iter()
                .filter(|c| only_refers_to(c, &names, r.alone))
                .map(|c| c.to_string())
                .collect()
        };
        let mut single = format!("SELECT * FROM \"{}\"", r.table);
        if let Some(a) = &r.alias {
            single.push_str(&format!(" AS \"{a}\""));
        }
        if !mine.is_empty() {
            single.push_str(" WHERE ");
            single.push_str(&mine.join(" AND "));
        }
        let plan = match plan_sql(config, &single, params, user_fields) {
            Ok(SqlPlan::Select(p)) => p,
            Ok(_) => unreachable_plan()?,
            Err(mut e) => {
                e.message = format!("table {}: {}", r.table, e.message);
                return Err(e);
            }
        };
        scans.push(TableScan {
            table: r.table.clone(),
            plan,
            sql: single,
        });
    }
    Ok(scans)
}

fn unreachable_plan() -> Result<SelectPlan> {
    Err(ConnectorError::new(
        crate::error::ErrorKind::Internal,
        "a SELECT planned as something else",
    ))
}

fn split_and(e: &ast::Expr) -> Vec<&ast::Expr> {
    match e {
        ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            let mut v = split_and(left);
            v.extend(split_and(right));
            v
        }
        ast::Expr::Nested(inner) => split_and(inner),
        other => vec![other],
    }
}

/// Whether every column `e` uses belongs to the table known by `names`
/// (and it holds no subquery).
fn only_refers_to(e: &ast::Expr, names: &[&str], alone: bool) -> bool {
    use ast::Expr as E;
    match e {
        E::Identifier(_) => alone,
        E::CompoundIdentifier(parts) => match parts.as_slice() {
            [q, _] => names.iter().any(|n| n.eq_ignore_ascii_case(&q.value)),
            _ => false,
        },
        E::Value(_) => true,
        E::Nested(x) | E::IsNull(x) | E::IsNotNull(x) => only_refers_to(x, names, alone),
        E::UnaryOp { expr, .. } => only_refers_to(expr, names, alone),
        E::BinaryOp { left, right, .. } => {
            only_refers_to(left, names, alone) && only_refers_to(right, names, alone)
        }
        E::In {
            expr,
            target: ast::InTarget::List(list),
            ..
        } => {
            only_refers_to(expr, names, alone)
                && list.iter().all(|x| only_refers_to(x, names, alone))
        }
        E::Between {
            expr, low, high, ..
        } => [expr, low, high]
            .iter()
            .all(|x| only_refers_to(x, names, alone)),
        E::Like {
            expr,
            pattern,
            escape_char: None,
            any: false,
            ..
        }
        | E::ILike {
            expr,
            pattern,
            escape_char: None,
            any: false,
            ..
        } => only_refers_to(expr, names, alone) && only_refers_to(pattern, names, alone),
        _ => false,
    }
}

fn collect_query<'a>(q: &'a ast::Query, out: &mut Vec<Reference<'a>>) -> Result<()> {
    if let Some(with) = &q.with {
        for cte in &with.cte_tables {
            collect_query(&cte.query, out)?;
        }
    }
    collect_set(&q.body, out)
}

fn collect_set<'a>(s: &'a ast::SetExpr, out: &mut Vec<Reference<'a>>) -> Result<()> {
    match s {
        ast::SetExpr::Select(select) => {
            let first = out.len();
            for t in &select.from {
                collect_factor(&t.relation, out)?;
                for j in &t.joins {
                    collect_factor(&j.relation, out)?;
                }
            }
            // Tables of this SELECT (not of subqueries in FROM) get its WHERE.
            let direct: Vec<usize> = (first..out.len()).filter(|i| !out[*i].placed).collect();
            let alone = direct.len() == 1;
            for i in direct {
                out[i].filter = select.selection.as_ref();
                out[i].alone = alone;
                out[i].placed = true;
            }
            if let Some(w) = &select.selection {
                collect_expr(w, out)?;
            }
            Ok(())
        }
        ast::SetExpr::Query(q) => collect_query(q, out),
        ast::SetExpr::SetOperation { left, right, .. } => {
            collect_set(left, out)?;
            collect_set(right, out)
        }
        _ => Ok(()),
    }
}

fn collect_factor<'a>(f: &'a ast::TableFactor, out: &mut Vec<Reference<'a>>) -> Result<()> {
    match f {
        ast::TableFactor::Table { name, alias, .. } => {
            out.push(Reference {
                table: object_name(name)?,
                alias: alias.as_ref().map(|a| a.name.value.clone()),
                filter: None,
                alone: false,
                placed: false,
            });
            Ok(())
        }
        ast::TableFactor::Derived { subquery, .. } => collect_query(subquery, out),
        ast::TableFactor::NestedJoin {
            table_with_joins, ..
        } => {
            collect_factor(&table_with_joins.relation, out)?;
            for j in &table_with_joins.joins {
                collect_factor(&j.relation, out)?;
            }
            Ok(())
        }
        other => Err(ConnectorError::input(
            "sql",
            format!("{other} in FROM is not supported; name tables"),
        )),
    }
}

/// Subqueries in a WHERE clause read tables too.
fn collect_expr<'a>(e: &'a ast::Expr, out: &mut Vec<Reference<'a>>) -> Result<()> {
    use ast::Expr as E;
    match e {
        E::Subquery(q) | E::Exists { subquery: q, .. } => collect_query(q, out),
        E::In {
            expr,
            target: ast::InTarget::Subquery(q),
            ..
        } => {
            collect_expr(expr, out)?;
            collect_query(q, out)
        }
        E::BinaryOp { left, right, .. } => {
            collect_expr(left, out)?;
            collect_expr(right, out)
        }
        E::Nested(x) | E::UnaryOp { expr: x, .. } => collect_expr(x, out),
        _ => Ok(()),
    }
}
