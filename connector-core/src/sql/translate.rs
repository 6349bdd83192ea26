//! From the parser's AST to our expressions: columns resolved against the
//! table's schema (case ignored), `:name` parameters substituted, and every
//! construct we do not evaluate refused by name.

use serde_json::{Map, Value};
use sqlparser::ast;

use crate::error::{ConnectorError, Result};

use super::expr::{BinOp, Expr, Func};

/// Names a query may use for a table's columns.
pub(crate) struct Columns {
    /// Declared field names, exact.
    names: Vec<String>,
    /// Whether records may carry fields beyond them (custom fields).
    open: bool,
    table: String,
}

impl Columns {
    pub(crate) fn new(table: &str, schema: &Value) -> Columns {
        let names = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        Columns {
            names,
            open: schema.get("additionalProperties") != Some(&Value::Bool(false)),
            table: table.to_string(),
        }
    }

    /// The exact name of column `name` (case ignored). A quoted name a
    /// table with custom fields does not declare is taken as is; anything
    /// else unknown is an error naming the closest columns.
    pub(crate) fn resolve(&self, ident: &ast::Ident) -> Result<String> {
        let name = ident.value.as_str();
        if let Some(exact) = self.names.iter().find(|n| n.as_str() == name) {
            return Ok(exact.clone());
        }
        let folded: Vec<&String> = self
            .names
            .iter()
            .filter(|n| n.eq_ignore_ascii_case(name))
            .collect();
        if let [one] = folded.as_slice() {
            return Ok((*one).clone());
        }
        if self.open && ident.quote_style.is_some() {
            return Ok(name.to_string());
        }
        let lower = name.to_ascii_lowercase();
        let mut near: Vec<&str> = self
            .names
            .iter()
            .filter(|n| {
                let n = n.to_ascii_lowercase();
                n.contains(&lower) || lower.contains(&n)
            })
            .map(String::as_str)
            .take(5)
            .collect();
        if near.is_empty() {
            near = self.names.iter().map(String::as_str).take(12).collect();
        }
        let custom = if self.open {
            "; a custom field not in the schema can be named in double quotes, exactly"
        } else {
            ""
        };
        Err(ConnectorError::input(
            "sql",
            format!(
                "unknown column \"{name}\" in {}; columns include: {}{custom}",
                self.table,
                near.join(", ")
            ),
        ))
    }
}

/// Turns parser AST into [`Expr`], with columns and parameters resolved.
pub(crate) struct Translator<'a> {
    pub(crate) columns: &'a Columns,
    pub(crate) params: &'a Map<String, Value>,
}

fn unsupported(what: &str, hint: &str) -> ConnectorError {
    ConnectorError::input("sql", format!("{what} is not supported here; {hint}"))
}

/// SQL a host engine can run over the tables' scans (see `plan_scans`).
pub(crate) fn needs_engine(what: &str) -> ConnectorError {
    let mut e = ConnectorError::input(
        "sql",
        format!(
            "{what} is not run by the core, which reads one table at a time; in Python, src.sql() runs it in DuckDB over each table's pushed-down read"
        ),
    );
    e.code = Some(crate::error::SQL_NEEDS_ENGINE.to_string());
    e
}

impl Translator<'_> {
    pub(crate) fn expr(&self, e: &ast::Expr) -> Result<Expr> {
        use ast::Expr as E;
        Ok(match e {
            E::Identifier(ident) => Expr::Column(self.columns.resolve(ident)?),
            E::CompoundIdentifier(parts) => match parts.as_slice() {
                // `t.col`: the table (or its alias) is the only one there is.
                [_, col] => Expr::Column(self.columns.resolve(col)?),
                _ => {
                    return Err(unsupported(
                        &format!("the column reference {e}"),
                        "name a column, or table.column",
                    ));
                }
            },
            E::Value(v) => Expr::Literal(self.value(&v.value)?),
            E::Nested(inner) => self.expr(inner)?,
            E::BinaryOp { left, op, right } => {
                let op = binop(op).ok_or_else(|| {
                    unsupported(
                        &format!("the operator {op}"),
                        "use =, <>, <, <=, >, >=, AND, OR, +, -, *, / or ||",
                    )
                })?;
                Expr::Binary(Box::new(self.expr(left)?), op, Box::new(self.expr(right)?))
            }
            E::UnaryOp { op, expr } => match op {
                ast::UnaryOperator::Not => Expr::Not(Box::new(self.expr(expr)?)),
                ast::UnaryOperator::Minus => Expr::Negate(Box::new(self.expr(expr)?)),
                ast::UnaryOperator::Plus => self.expr(expr)?,
                other => {
                    return Err(unsupported(
                        &format!("the operator {other}"),
                        "use NOT or -",
                    ));
                }
            },
            E::IsNull(inner) => Expr::IsNull(Box::new(self.expr(inner)?), false),
            E::IsNotNull(inner) => Expr::IsNull(Box::new(self.expr(inner)?), true),
            E::In {
                expr,
                target,
                negated,
                ..
            } => match target {
                ast::InTarget::List(list) => Expr::InList(
                    Box::new(self.expr(expr)?),
                    list.iter().map(|x| self.expr(x)).collect::<Result<_>>()?,
                    *negated,
                ),
                _ => return Err(needs_engine("IN with a subquery")),
            },
            E::Between {
                expr,
                negated,
                low,
                high,
            } => Expr::Between(
                Box::new(self.expr(expr)?),
                Box::new(self.expr(low)?),
                Box::new(self.expr(high)?),
                *negated,
            ),
            E::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            }
            | E::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => Expr::Like(
                Box::new(self.expr(expr)?),
                Box::new(self.expr(pattern)?),
                *negated,
            ),
            E::Function(f) => self.function(f)?,
            E::Subquery(_) | E::Exists { .. } => return Err(needs_engine("a subquery")),
            other => {
                return Err(unsupported(
                    &format!("the expression {other}"),
                    "use columns, literals, :parameters, comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL and lower/upper/length/coalesce/date",
                ));
            }
        })
    }

    fn function(&self, f: &ast::Function) -> Result<Expr> {
        let name = f.name.to_string();
        let func = Func::by_name(&name).ok_or_else(|| {
            let aggregate = matches!(
                name.to_ascii_lowercase().as_str(),
                "count" | "sum" | "avg" | "min" | "max" | "group_concat" | "total"
            );
            if aggregate {
                needs_engine(&format!("the aggregate {name}() (GROUP BY)"))
            } else {
                unsupported(
                    &format!("the function {name}()"),
                    "the functions are lower, upper, length, coalesce and date",
                )
            }
        })?;
        let args = match &f.args {
            ast::FunctionArguments::List(list) if list.duplicate_treatment.is_none() => list
                .args
                .iter()
                .map(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => self.expr(e),
                    other => Err(unsupported(
                        &format!("the argument {other}"),
                        "pass plain expressions",
                    )),
                })
                .collect::<Result<Vec<_>>>()?,
            ast::FunctionArguments::None => Vec::new(),
            _ => return Err(unsupported(&format!("{f}"), "pass plain expressions")),
        };
        let arity_ok = match func {
            Func::Coalesce => !args.is_empty(),
            _ => args.len() == 1,
        };
        if !arity_ok {
            return Err(ConnectorError::input(
                "sql",
                format!(
                    "{name}() takes {}",
                    if func == Func::Coalesce {
                        "one or more arguments"
                    } else {
                        "one argument"
                    }
                ),
            ));
        }
        Ok(Expr::Call(func, args))
    }

    /// A literal or a `:name` parameter as JSON.
    pub(crate) fn value(&self, v: &ast::Value) -> Result<Value> {
        use ast::Value as V;
        Ok(match v {
            V::Number(text, _) => {
                if let Ok(i) = text.parse::<i64>() {
                    Value::from(i)
                } else {
                    text.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                        .ok_or_else(|| {
                            ConnectorError::input("sql", format!("{text} is not a number"))
                        })?
                }
            }
            V::SingleQuotedString(s) => Value::String(s.clone()),
            V::Boolean(b) => Value::Bool(*b),
            V::Null => Value::Null,
            V::Placeholder(p) => {
                let name = p.trim_start_matches([':', '$', '@', '?']);
                self.params.get(name).cloned().ok_or_else(|| {
                    let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
                    ConnectorError::input(
                        name,
                        format!(
                            "parameter :{name} has no value; pass it (--param {name}=... or {name}=... in Python){}",
                            if known.is_empty() { String::new() } else { format!("; given: {}", known.join(", ")) }
                        ),
                    )
                })?
            }
            other => {
                return Err(unsupported(
                    &format!("the literal {other}"),
                    "use numbers, 'text', TRUE/FALSE, NULL or :parameters",
                ));
            }
        })
    }
}

fn binop(op: &ast::BinaryOperator) -> Option<BinOp> {
    use ast::BinaryOperator as B;
    Some(match op {
        B::Eq => BinOp::Eq,
        B::NotEq => BinOp::NotEq,
        B::Lt => BinOp::Lt,
        B::LtEq => BinOp::LtEq,
        B::Gt => BinOp::Gt,
        B::GtEq => BinOp::GtEq,
        B::And => BinOp::And,
        B::Or => BinOp::Or,
        B::Plus => BinOp::Plus,
        B::Minus => BinOp::Minus,
        B::Multiply => BinOp::Multiply,
        B::Divide => BinOp::Divide,
        B::StringConcat => BinOp::Concat,
        _ => return None,
    })
}

/// A table or procedure name: the last part of a possibly qualified name.
pub(crate) fn object_name(name: &ast::ObjectName) -> Result<String> {
    match name.0.last() {
        Some(ast::ObjectNamePart::Identifier(i)) => Ok(i.value.clone()),
        _ => Err(unsupported(&format!("the name {name}"), "name a table")),
    }
}
