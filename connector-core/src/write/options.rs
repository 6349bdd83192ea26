//! A write's options: the settings a user gives beside the rows (`--set
//! key=value` on the command line, keyword arguments in Python). Values may
//! arrive as JSON or as text, since command lines only have text.

use serde_json::{Map, Value};

use crate::error::{ConnectorError, Result};

/// Options of a write; every one has a default (`WriteOptions::default()`
/// equals the options of an empty JSON object: bulk where the endpoint has it).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// Catalog of rows that do not name one (`catalogName`).
    pub catalog: Option<String>,
    /// List of rows that do not name one (`listId`).
    pub list_id: Option<i64>,
    /// Template medium of rows that do not name one (Email, Push, SMS, InApp).
    pub medium: Option<String>,
    /// `false` sends bulk-capable writes one row per request.
    pub bulk: bool,
    /// At most this many rows per bulk request (the endpoint's cap applies too).
    pub batch_size: Option<usize>,
    /// Users: merge nested objects instead of replacing them.
    pub merge_nested_objects: Option<bool>,
    /// The number of the first row pushed (to resume after a commit).
    pub first_row: u64,
    /// Read each accepted row back until it shows (writes Iterable applies
    /// later: catalog items, users upsert/delete, events).
    pub confirm: bool,
    /// How long a row may take to show before it is reported `unknown`.
    pub confirm_timeout_ms: u64,
}

/// Default of [`WriteOptions::confirm_timeout_ms`].
pub(crate) const DEFAULT_CONFIRM_TIMEOUT_MS: u64 = 60_000;

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            catalog: None,
            list_id: None,
            medium: None,
            bulk: true,
            batch_size: None,
            merge_nested_objects: None,
            first_row: 0,
            confirm: false,
            confirm_timeout_ms: DEFAULT_CONFIRM_TIMEOUT_MS,
        }
    }
}

/// The known option names, with what each takes.
const KNOWN: &[(&str, &str)] = &[
    ("catalog", "a catalog name"),
    ("list_id", "an integer list id"),
    ("medium", "Email, Push, SMS or InApp"),
    ("bulk", "true or false"),
    ("batch_size", "a positive integer"),
    ("merge_nested_objects", "true or false"),
    ("first_row", "a row number (0 or more)"),
    ("confirm", "true or false"),
    ("confirm_timeout_ms", "a positive number of milliseconds"),
];

impl WriteOptions {
    /// Options from a JSON object; an unknown key or a bad value is an error
    /// naming it.
    pub fn from_json(value: &Value) -> Result<WriteOptions> {
        let empty = Map::new();
        let obj = match value {
            Value::Null => &empty,
            Value::Object(o) => o,
            _ => {
                return Err(ConnectorError::input(
                    "options",
                    "must be a JSON object of option names to values",
                ));
            }
        };
        let mut o = WriteOptions::default();
        for (key, v) in obj {
            let name = key.replace('-', "_");
            let expects = KNOWN
                .iter()
                .find(|(k, _)| *k == name)
                .map_or("", |(_, e)| *e);
            let bad = || ConnectorError::input(key.as_str(), format!("must be {expects}, not {v}"));
            match name.as_str() {
                "catalog" => o.catalog = Some(text(v).ok_or_else(bad)?),
                "list_id" => o.list_id = Some(int(v).ok_or_else(bad)?),
                "medium" => o.medium = Some(text(v).ok_or_else(bad)?),
                "bulk" => o.bulk = boolean(v).ok_or_else(bad)?,
                "batch_size" => {
                    let n = int(v).filter(|n| *n > 0).ok_or_else(bad)?;
                    o.batch_size = Some(n as usize);
                }
                "merge_nested_objects" => {
                    o.merge_nested_objects = Some(boolean(v).ok_or_else(bad)?)
                }
                "first_row" => o.first_row = int(v).filter(|n| *n >= 0).ok_or_else(bad)? as u64,
                "confirm" => o.confirm = boolean(v).ok_or_else(bad)?,
                "confirm_timeout_ms" => {
                    o.confirm_timeout_ms = int(v).filter(|n| *n > 0).ok_or_else(bad)? as u64
                }
                _ => {
                    let names: Vec<&str> = KNOWN.iter().map(|(k, _)| *k).collect();
                    return Err(ConnectorError::input(
                        key.as_str(),
                        format!("unknown write option; known: {}", names.join(", ")),
                    ));
                }
            }
        }
        Ok(o)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_values_from_a_command_line_parse() {
        let o =
            WriteOptions::from_json(&json!({"list-id": "42", "bulk": "false", "batch_size": "10"}))
                .unwrap();
        assert_eq!(o.list_id, Some(42));
        assert!(!o.bulk);
        assert_eq!(o.batch_size, Some(10));
        assert_eq!(
            WriteOptions::from_json(&Value::Null).unwrap(),
            WriteOptions::default()
        );
        assert!(WriteOptions::default().bulk);
    }

    #[test]
    fn bad_options_name_the_key() {
        let e = WriteOptions::from_json(&json!({"catalgo": "x"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("catalgo"));
        assert!(e.message.contains("catalog"), "{}", e.message);
        let e = WriteOptions::from_json(&json!({"batch_size": 0})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("batch_size"));
    }
}
