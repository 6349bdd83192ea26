//! The expressions a query evaluates on records: our own small tree (built
//! from the parser's AST by `translate`), with SQLite-like semantics, since
//! Skyvia's dialect follows SQLite: NULL compares as unknown, `LIKE` ignores
//! ASCII case, text that reads as a timestamp compares as a time.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Value};

use crate::time;

/// A comparison or logical operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    Plus,
    Minus,
    Multiply,
    Divide,
    Concat,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Eq => "=",
            BinOp::NotEq => "<>",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::And => "AND",
            BinOp::Or => "OR",
            BinOp::Plus => "+",
            BinOp::Minus => "-",
            BinOp::Multiply => "*",
            BinOp::Divide => "/",
            BinOp::Concat => "||",
        }
    }

    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub(crate) fn flipped(self) -> BinOp {
        match self {
            BinOp::Lt => BinOp::Gt,
            BinOp::LtEq => BinOp::GtEq,
            BinOp::Gt => BinOp::Lt,
            BinOp::GtEq => BinOp::LtEq,
            other => other,
        }
    }
}

/// A scalar function the evaluator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Lower,
    Upper,
    Length,
    Coalesce,
    /// `date(x)`: the UTC calendar date of a timestamp, `YYYY-MM-DD`.
    Date,
}

impl Func {
    pub(crate) fn by_name(name: &str) -> Option<Func> {
        Some(match name.to_ascii_lowercase().as_str() {
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "length" => Func::Length,
            "coalesce" | "ifnull" => Func::Coalesce,
            "date" => Func::Date,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Length => "length",
            Func::Coalesce => "coalesce",
            Func::Date => "date",
        }
    }
}

/// An expression over one record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A field of the record, by its exact (resolved) name.
    Column(String),
    Literal(Value),
    Binary(Box<Expr>, BinOp, Box<Expr>),
    Not(Box<Expr>),
    Negate(Box<Expr>),
    IsNull(Box<Expr>, bool),
    InList(Box<Expr>, Vec<Expr>, bool),
    Between(Box<Expr>, Box<Expr>, Box<Expr>, bool),
    Like(Box<Expr>, Box<Expr>, bool),
    Call(Func, Vec<Expr>),
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = |negated: &bool| if *negated { "NOT " } else { "" };
        match self {
            Expr::Column(c) => write!(f, "\"{c}\""),
            Expr::Literal(Value::String(s)) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Literal(v) => write!(f, "{v}"),
            Expr::Binary(a, op, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Not(e) => write!(f, "NOT {e}"),
            Expr::Negate(e) => write!(f, "-{e}"),
            Expr::IsNull(e, negated) => write!(f, "{e} IS {}NULL", not(negated)),
            Expr::InList(e, list, negated) => {
                let items: Vec<String> = list.iter().map(ToString::to_string).collect();
                write!(f, "{e} {}IN ({})", not(negated), items.join(", "))
            }
            Expr::Between(e, lo, hi, negated) => {
                write!(f, "{e} {}BETWEEN {lo} AND {hi}", not(negated))
            }
            Expr::Like(e, p, negated) => write!(f, "{e} {}LIKE {p}", not(negated)),
            Expr::Call(func, args) => {
                let items: Vec<String> = args.iter().map(ToString::to_string).collect();
                write!(f, "{}({})", func.name(), items.join(", "))
            }
        }
    }
}

impl Expr {
    /// Adds the record fields the expression reads to `out`.
    pub(crate) fn columns(&self, out: &mut std::collections::BTreeSet<String>) {
        match self {
            Expr::Column(c) => {
                out.insert(c.clone());
            }
            Expr::Literal(_) => {}
            Expr::Binary(a, _, b) | Expr::Like(a, b, _) => {
                a.columns(out);
                b.columns(out);
            }
            Expr::Not(e) | Expr::Negate(e) | Expr::IsNull(e, _) => e.columns(out),
            Expr::InList(e, list, _) => {
                e.columns(out);
                list.iter().for_each(|x| x.columns(out));
            }
            Expr::Between(e, lo, hi, _) => {
                e.columns(out);
                lo.columns(out);
                hi.columns(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|x| x.columns(out)),
        }
    }

    /// The JSON Schema of the expression's values, for typing output
    /// columns: a column has its declared type (`props`: the table's
    /// schema properties), a computed value the type its operator gives.
    pub(crate) fn json_schema(&self, props: Option<&Map<String, Value>>) -> Value {
        let of = |t: &str| serde_json::json!({"type": [t, "null"]});
        match self {
            Expr::Column(c) => props
                .and_then(|p| p.get(c))
                .cloned()
                .unwrap_or_else(|| serde_json::json!({})),
            Expr::Literal(Value::Bool(_)) => of("boolean"),
            Expr::Literal(Value::Number(n)) if n.is_i64() || n.is_u64() => of("integer"),
            Expr::Literal(Value::Number(_)) => of("number"),
            Expr::Literal(Value::String(_)) => of("string"),
            Expr::Literal(_) => serde_json::json!({}),
            Expr::Binary(_, BinOp::Concat, _) => of("string"),
            Expr::Binary(_, BinOp::Plus | BinOp::Minus | BinOp::Multiply | BinOp::Divide, _)
            | Expr::Negate(_) => of("number"),
            Expr::Binary(..)
            | Expr::Not(_)
            | Expr::IsNull(..)
            | Expr::InList(..)
            | Expr::Between(..)
            | Expr::Like(..) => of("boolean"),
            Expr::Call(Func::Lower | Func::Upper | Func::Date, _) => of("string"),
            Expr::Call(Func::Length, _) => of("integer"),
            Expr::Call(Func::Coalesce, args) => args
                .first()
                .map_or_else(|| serde_json::json!({}), |a| a.json_schema(props)),
        }
    }
}

/// SQL's three truth values.
fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_f64().is_some_and(|x| x != 0.0)),
        Value::String(s) => Some(s.trim().parse::<f64>().is_ok_and(|x| x != 0.0)),
        _ => Some(true),
    }
}

fn from_truth(t: Option<bool>) -> Value {
    t.map_or(Value::Null, Value::Bool)
}

impl Expr {
    /// The expression's value for `record` (a missing field is NULL).
    pub(crate) fn eval(&self, record: &Map<String, Value>) -> Value {
        match self {
            Expr::Column(c) => record.get(c).cloned().unwrap_or(Value::Null),
            Expr::Literal(v) => v.clone(),
            Expr::Binary(a, BinOp::And, b) => {
                let (x, y) = (truth(&a.eval(record)), truth(&b.eval(record)));
                from_truth(match (x, y) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            Expr::Binary(a, BinOp::Or, b) => {
                let (x, y) = (truth(&a.eval(record)), truth(&b.eval(record)));
                from_truth(match (x, y) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            Expr::Binary(a, op, b) => binary(&a.eval(record), *op, &b.eval(record)),
            Expr::Not(e) => from_truth(truth(&e.eval(record)).map(|t| !t)),
            Expr::Negate(e) => match number(&e.eval(record)) {
                Some(x) => num(-x),
                None => Value::Null,
            },
            Expr::IsNull(e, negated) => Value::Bool(e.eval(record).is_null() != *negated),
            Expr::InList(e, list, negated) => {
                let v = e.eval(record);
                if v.is_null() {
                    return Value::Null;
                }
                let mut unknown = false;
                for item in list {
                    match compare(&v, &item.eval(record)) {
                        Some(Ordering::Equal) => return Value::Bool(!negated),
                        None => unknown = true,
                        Some(_) => {}
                    }
                }
                if unknown {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                }
            }
            Expr::Between(e, lo, hi, negated) => {
                let v = e.eval(record);
                let ge = compare(&v, &lo.eval(record)).map(|o| o != Ordering::Less);
                let le = compare(&v, &hi.eval(record)).map(|o| o != Ordering::Greater);
                from_truth(match (ge, le) {
                    (Some(a), Some(b)) => Some((a && b) != *negated),
                    _ => None,
                })
            }
            Expr::Like(e, p, negated) => match (text(&e.eval(record)), text(&p.eval(record))) {
                (Some(s), Some(p)) => Value::Bool(like(&s, &p) != *negated),
                _ => Value::Null,
            },
            Expr::Call(func, args) => call(*func, args, record),
        }
    }

    /// Whether `record` passes this filter (unknown does not pass).
    pub(crate) fn matches(&self, record: &Map<String, Value>) -> bool {
        truth(&self.eval(record)) == Some(true)
    }
}

fn num(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// A value as text (numbers and booleans as they print; objects as JSON).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn binary(a: &Value, op: BinOp, b: &Value) -> Value {
    if a.is_null() || b.is_null() {
        return Value::Null;
    }
    let cmp = |want: fn(Ordering) -> bool| from_truth(compare(a, b).map(want));
    match op {
        BinOp::Eq => cmp(|o| o == Ordering::Equal),
        BinOp::NotEq => cmp(|o| o != Ordering::Equal),
        BinOp::Lt => cmp(|o| o == Ordering::Less),
        BinOp::LtEq => cmp(|o| o != Ordering::Greater),
        BinOp::Gt => cmp(|o| o == Ordering::Greater),
        BinOp::GtEq => cmp(|o| o != Ordering::Less),
        BinOp::Concat => match (text(a), text(b)) {
            (Some(x), Some(y)) => Value::String(x + &y),
            _ => Value::Null,
        },
        BinOp::Plus | BinOp::Minus | BinOp::Multiply | BinOp::Divide => {
            match (number(a), number(b)) {
                (Some(x), Some(y)) => match op {
                    BinOp::Plus => num(x + y),
                    BinOp::Minus => num(x - y),
                    BinOp::Multiply => num(x * y),
                    _ if y == 0.0 => Value::Null,
                    _ => num(x / y),
                },
                _ => Value::Null,
            }
        }
        BinOp::And | BinOp::Or => Value::Null,
    }
}

/// Orders two non-null values: numbers by value, text that reads as a
/// timestamp on both sides by time, other text by bytes, booleans as 0/1.
/// `None` when they cannot be compared (an object, or text vs a number
/// that is not numeric text).
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Number(_), _) | (_, Value::Number(_)) | (Value::Bool(_), Value::Bool(_)) => {
            number(a)?.partial_cmp(&number(b)?)
        }
        (Value::String(x), Value::String(y)) => {
            if x == y {
                return Some(Ordering::Equal);
            }
            match (timestamp(x), timestamp(y)) {
                (Some(s), Some(t)) => Some(s.cmp(&t)),
                _ => Some(x.as_str().cmp(y.as_str())),
            }
        }
        (Value::Bool(_), Value::String(_)) | (Value::String(_), Value::Bool(_)) => {
            let (x, y) = (text(a)?, text(b)?);
            Some(x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()))
        }
        _ => (a == b).then_some(Ordering::Equal),
    }
}

/// Text that reads as a date or timestamp, in epoch microseconds. Plain
/// numbers are not timestamps here (they compare as numbers).
fn timestamp(s: &str) -> Option<i64> {
    if !s.contains('-') {
        return None;
    }
    time::parse_timestamp_str(s).map(|t| t.timestamp_micros())
}

/// SQL `LIKE`: `%` any run, `_` one character, ASCII case ignored.
fn like(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().map(|c| c.to_ascii_lowercase()).collect();
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Iterative matching with backtracking to the last `%`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < p.len() && (p[j] == '_' || p[j] == s[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j..].iter().all(|c| *c == '%')
}

fn call(func: Func, args: &[Expr], record: &Map<String, Value>) -> Value {
    let first = || args.first().map_or(Value::Null, |a| a.eval(record));
    match func {
        Func::Lower => text(&first()).map_or(Value::Null, |s| Value::String(s.to_lowercase())),
        Func::Upper => text(&first()).map_or(Value::Null, |s| Value::String(s.to_uppercase())),
        Func::Length => text(&first()).map_or(Value::Null, |s| Value::from(s.chars().count())),
        Func::Coalesce => args
            .iter()
            .map(|a| a.eval(record))
            .find(|v| !v.is_null())
            .unwrap_or(Value::Null),
        Func::Date => match first() {
            Value::String(s) => time::parse_timestamp_str(&s).map_or(Value::Null, |t| {
                Value::String(t.format("%Y-%m-%d").to_string())
            }),
            Value::Number(_) => time::parse_wire_timestamp(&first()).map_or(Value::Null, |t| {
                Value::String(t.format("%Y-%m-%d").to_string())
            }),
            _ => Value::Null,
        },
    }
}

/// Orders two rows' sort keys: NULL first ascending (as SQLite does).
pub(crate) fn sort_order(a: &Value, b: &Value) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => compare(a, b).unwrap_or_else(|| a.to_string().cmp(&b.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn col(c: &str) -> Box<Expr> {
        Box::new(Expr::Column(c.into()))
    }

    fn lit(v: Value) -> Box<Expr> {
        Box::new(Expr::Literal(v))
    }

    #[test]
    fn comparisons_follow_sql_with_timestamps_as_times() {
        let r = rec(json!({"n": 5, "s": "abc", "t": "2024-03-01T10:00:00Z", "z": null}));
        let e = Expr::Binary(col("t"), BinOp::Gt, lit(json!("2024-03-01")));
        assert!(e.matches(&r));
        let e = Expr::Binary(
            col("t"),
            BinOp::Lt,
            lit(json!("2024-03-01 09:00:00 +00:00")),
        );
        assert!(!e.matches(&r));
        let e = Expr::Binary(col("n"), BinOp::GtEq, lit(json!("5")));
        assert!(e.matches(&r));
        // NULL is unknown: neither = nor <> pass; IS NULL does.
        assert!(!Expr::Binary(col("z"), BinOp::Eq, lit(json!(1))).matches(&r));
        assert!(!Expr::Binary(col("z"), BinOp::NotEq, lit(json!(1))).matches(&r));
        assert!(Expr::IsNull(col("missing"), false).matches(&r));
        // Unknown OR true is true; unknown AND true is unknown.
        let unknown = Expr::Binary(col("z"), BinOp::Eq, lit(json!(1)));
        let yes = Expr::Binary(col("n"), BinOp::Eq, lit(json!(5)));
        assert!(
            Expr::Binary(Box::new(unknown.clone()), BinOp::Or, Box::new(yes.clone())).matches(&r)
        );
        assert!(!Expr::Binary(Box::new(unknown), BinOp::And, Box::new(yes)).matches(&r));
    }

    #[test]
    fn in_between_like_and_functions() {
        let r = rec(json!({"id": 3, "name": "Summer Sale", "at": 1_709_287_200_000_i64}));
        let in_list = Expr::InList(
            col("id"),
            vec![Expr::Literal(json!(1)), Expr::Literal(json!(3))],
            false,
        );
        assert!(in_list.matches(&r));
        let between = Expr::Between(col("id"), lit(json!(1)), lit(json!(2)), true);
        assert!(between.matches(&r));
        assert!(Expr::Like(col("name"), lit(json!("%sale")), false).matches(&r));
        assert!(Expr::Like(col("name"), lit(json!("s_mmer%")), false).matches(&r));
        assert!(!Expr::Like(col("name"), lit(json!("%winter%")), false).matches(&r));
        let upper = Expr::Call(Func::Upper, vec![Expr::Column("name".into())]);
        assert_eq!(upper.eval(&r), json!("SUMMER SALE"));
        let day = Expr::Call(Func::Date, vec![Expr::Column("at".into())]);
        assert_eq!(day.eval(&r), json!("2024-03-01"));
        let c = Expr::Call(
            Func::Coalesce,
            vec![Expr::Column("nope".into()), Expr::Literal(json!("x"))],
        );
        assert_eq!(c.eval(&r), json!("x"));
        assert_eq!(
            Expr::Binary(col("id"), BinOp::Multiply, lit(json!(1.5))).eval(&r),
            json!(4.5)
        );
    }

    #[test]
    fn nulls_sort_first() {
        let mut v = vec![json!(3), Value::Null, json!(1)];
        v.sort_by(sort_order);
        assert_eq!(v, vec![Value::Null, json!(1), json!(3)]);
    }
}
