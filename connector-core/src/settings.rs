//! The one table of config settings. `Config::from_json` rejects keys not
//! in it and reads ranges and defaults from it; `spec()` is generated from
//! it. A new setting is a row here plus its field in `Config`.

use serde_json::{Map, Value, json};

/// What values a setting takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// A secret string, never echoed.
    Secret,
    /// Free text.
    Text,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A date or RFC 3339 timestamp.
    Date,
    /// `scheme://host[:port]`.
    Url,
    /// A whole number in `min..=max`.
    Integer { min: u64, max: u64 },
    /// A number in `min..=max`.
    Number { min: f64, max: f64 },
    /// `true` / `false`.
    Boolean,
    /// A list of whole numbers.
    IntegerList,
    /// A list of strings.
    TextList,
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Setting {
    pub(crate) key: &'static str,
    pub(crate) kind: Kind,
    /// The default, as JSON text (`None`: unset means "not used").
    pub(crate) default: Option<&'static str>,
    /// Where UIs place it (Airbyte's `order`), for the first few.
    pub(crate) order: Option<u32>,
    pub(crate) description: &'static str,
}

const fn setting(key: &'static str, kind: Kind, description: &'static str) -> Setting {
    Setting {
        key,
        kind,
        default: None,
        order: None,
        description,
    }
}

const fn with_default(mut s: Setting, default: &'static str) -> Setting {
    s.default = Some(default);
    s
}

const fn ordered(mut s: Setting, order: u32) -> Setting {
    s.order = Some(order);
    s
}

/// Every setting, in the order `spec()` lists them.
pub(crate) const SETTINGS: &[Setting] = &[
    ordered(
        setting(
            "api_key",
            Kind::Secret,
            "Server-side API key (Iterable > Integrations > API Keys). Optional when the host adds the Api-Key header itself.",
        ),
        0,
    ),
    ordered(
        with_default(
            setting(
                "region",
                Kind::Choice(&["US", "EU"]),
                "Data centre of the project: US = api.iterable.com, EU = api.eu.iterable.com.",
            ),
            "\"US\"",
        ),
        1,
    ),
    setting(
        "base_url",
        Kind::Url,
        "Overrides region (scheme://host[:port]); /api/... paths are appended. For proxies and simulators.",
    ),
    ordered(
        setting(
            "start_date",
            Kind::Date,
            "Read history from here (RFC 3339 or YYYY-MM-DD). Default: 30 days before the first sync.",
        ),
        2,
    ),
    setting(
        "end_date",
        Kind::Date,
        "Read history up to here (exclusive). Default: now minus lookback_minutes.",
    ),
    setting(
        "window_days",
        Kind::Integer { min: 1, max: 365 },
        "Fixed export window length in days. Unset: adaptive (grows while responses are small and fast, halves when one is cut off).",
    ),
    with_default(
        setting(
            "lookback_minutes",
            Kind::Integer { min: 0, max: 1440 },
            "Export windows end this long before now, so late-indexed events are not missed.",
        ),
        "5",
    ),
    with_default(
        setting(
            "user_key",
            Kind::Choice(&["email", "userId"]),
            "Primary key of users: email (email-based projects) or userId (userId-based projects).",
        ),
        "\"email\"",
    ),
    with_default(
        setting(
            "export_mode",
            Kind::Choice(&["sync", "async", "auto"]),
            "sync: export/data.json windows; async: export jobs (export/start), for very long histories; auto: both at once, each stream taking whichever budget is free (fastest under the rate limits).",
        ),
        "\"sync\"",
    ),
    setting(
        "email",
        Kind::Text,
        "User for the by-key streams (events, user_profile, in_app_messages, sent_messages, user_events).",
    ),
    setting(
        "user_id",
        Kind::Text,
        "userId for the by-key streams (instead of email).",
    ),
    setting(
        "list_ids",
        Kind::IntegerList,
        "Only these lists in list_users.",
    ),
    setting(
        "catalog_names",
        Kind::TextList,
        "Only these catalogs in catalog_items.",
    ),
    with_default(
        setting(
            "max_concurrency",
            Kind::Integer { min: 1, max: 64 },
            "Requests in flight at once; rate limits are respected whatever the value.",
        ),
        "4",
    ),
    with_default(
        setting(
            "budget_split",
            Kind::Integer { min: 1, max: 1000 },
            "Sessions running at once against this project (e.g. Spark tasks): each paces itself to 1/N of every rate limit, so together they stay within Iterable's.",
        ),
        "1",
    ),
    with_default(
        setting(
            "max_retries",
            Kind::Integer { min: 0, max: 20 },
            "Retries of one request (429, 5xx, cut connections) before the stream fails.",
        ),
        "6",
    ),
    with_default(
        setting(
            "skip_malformed_lines",
            Kind::Boolean,
            "Count and report malformed export lines instead of failing the sync.",
        ),
        "false",
    ),
    with_default(
        setting(
            "schema_policy",
            Kind::Choice(&["report", "fail"]),
            "A record that contradicts its stream's schema (a null key, text where an integer is declared): report (log it and keep the record) or fail the sync.",
        ),
        "\"report\"",
    ),
    with_default(
        setting(
            "skip_persistent_errors",
            Kind::Boolean,
            "After max_retries, skip (and report) the one list, catalog or metadata key that keeps failing instead of failing the sync.",
        ),
        "false",
    ),
    with_default(
        setting(
            "time_scale",
            Kind::Number {
                min: 1.0,
                max: 10_000.0,
            },
            "Simulators only: how many times faster the server's rate-limit clock runs.",
        ),
        "1",
    ),
];

/// The row of `key`. Every key the config code reads is in the table (a
/// test walks them), so a miss is a programming error caught in tests.
pub(crate) fn row(key: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("setting {key} is not in the settings table"))
}

/// Whether `key` is a setting.
pub(crate) fn is_known(key: &str) -> bool {
    SETTINGS.iter().any(|s| s.key == key)
}

/// The known keys, for error messages.
pub(crate) fn known_keys() -> String {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The default of an integer setting.
pub(crate) fn default_u64(key: &str) -> u64 {
    row(key)
        .default
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("setting {key} has no integer default"))
}

/// The range of an integer setting.
pub(crate) fn range_u64(key: &str) -> (u64, u64) {
    match row(key).kind {
        Kind::Integer { min, max } => (min, max),
        _ => panic!("setting {key} is not an integer"),
    }
}

/// The range of a number setting.
pub(crate) fn range_f64(key: &str) -> (f64, f64) {
    match row(key).kind {
        Kind::Number { min, max } => (min, max),
        _ => panic!("setting {key} is not a number"),
    }
}

impl Setting {
    fn json_schema(&self) -> Value {
        let mut s = match self.kind {
            Kind::Secret => json!({"type": "string", "airbyte_secret": true}),
            Kind::Text => json!({"type": "string"}),
            Kind::Choice(words) => json!({"type": "string", "enum": words}),
            Kind::Date => json!({"type": "string", "format": "date-time"}),
            Kind::Url => json!({"type": "string", "pattern": "^https?://[^/?# ]+/?$"}),
            Kind::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            Kind::Number { min, max } => {
                json!({"type": "number", "minimum": whole(min), "maximum": whole(max)})
            }
            Kind::Boolean => json!({"type": "boolean"}),
            Kind::IntegerList => json!({"type": "array", "items": {"type": "integer"}}),
            Kind::TextList => json!({"type": "array", "items": {"type": "string"}}),
        };
        let obj = s.as_object_mut().expect("an object");
        if let Some(d) = self.default {
            obj.insert(
                "default".into(),
                serde_json::from_str(d).expect("defaults are JSON"),
            );
        }
        if let Some(o) = self.order {
            obj.insert("order".into(), json!(o));
        }
        obj.insert("description".into(), json!(self.description));
        s
    }
}

/// A bound as JSON: `1`, not `1.0`, when it is whole.
fn whole(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// The JSON Schema of the config, for `spec`.
pub fn spec() -> Value {
    let mut props = Map::new();
    for s in SETTINGS {
        props.insert(s.key.to_string(), s.json_schema());
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Iterable source",
        "type": "object",
        "additionalProperties": false,
        "properties": props,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_is_unchanged_by_the_table() {
        let before: Value =
            serde_json::from_str(include_str!("../tests/golden/spec.json")).expect("golden spec");
        assert_eq!(spec(), before);
    }

    #[test]
    fn every_default_parses_and_fits_its_kind() {
        for s in SETTINGS {
            if let Some(d) = s.default {
                let v: Value = serde_json::from_str(d).expect("JSON default");
                match s.kind {
                    Kind::Integer { min, max } => {
                        let n = v.as_u64().expect("integer default");
                        assert!((min..=max).contains(&n), "{}", s.key);
                    }
                    Kind::Choice(words) => assert!(words.contains(&v.as_str().expect("word"))),
                    Kind::Boolean => assert!(v.is_boolean()),
                    Kind::Number { min, max } => {
                        let n = v.as_f64().expect("number");
                        assert!(n >= min && n <= max);
                    }
                    _ => {}
                }
            }
        }
    }
}
