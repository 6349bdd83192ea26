//! Connector configuration: parsing, validation and the JSON Schema (`spec()`).
//!
//! Every error names the offending field and says how to fix it. The API key is
//! wrapped in [`Secret`], whose `Debug`/`Display` never show it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{ConnectorError, Result};
use crate::settings;
use crate::time;

pub use crate::settings::spec;

/// The API key. Deliberately opaque: it prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps an API key.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The key itself, for the one place that needs it: the `Api-Key` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Iterable data centre. A key only works against its own project's region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// US data centre: `api.iterable.com`.
    Us,
    /// EU data centre: `api.eu.iterable.com`.
    Eu,
}

impl Region {
    /// The API base URL of this region (`scheme://host`).
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.iterable.com",
            Region::Eu => "https://api.eu.iterable.com",
        }
    }
}

/// Which identifier keys users: email-based projects vs userId-based projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey {
    /// Users are keyed by `email`.
    Email,
    /// Users are keyed by `userId`.
    UserId,
}

impl UserKey {
    /// The record field that holds the user key (`email` or `userId`).
    pub fn field(self) -> &'static str {
        match self {
            UserKey::Email => "email",
            UserKey::UserId => "userId",
        }
    }
}

/// How export streams fetch their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportMode {
    /// `GET /api/export/data.json` in adaptive (or fixed) windows.
    Sync,
    /// Async export jobs (`export/start` → files → download).
    Async,
    /// Both at once: each export stream takes an async job when one of the
    /// 4 job slots is free, else a `data.json` window when that budget is
    /// free, so jobs and windows run side by side, each within its own
    /// rate budget.
    Auto,
}

/// What a record that contradicts its stream's schema does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaPolicy {
    /// Log it (the first few per stream, then the count) and keep the record.
    Report,
    /// Fail the sync with a `schema-violation` error.
    Fail,
}

/// Validated connector settings, parsed by [`Config::from_json`]; see [`spec`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Optional: a host may keep the key to itself and add the header (`needs_auth`).
    pub api_key: Option<Secret>,
    /// Data centre; sets the default `base_url`. Default US.
    pub region: Region,
    /// `scheme://host[:port]` without a trailing slash; `/api/...` is appended.
    pub base_url: String,
    /// Start of history. `None` = 30 days before the first poll.
    pub start_date: Option<DateTime<Utc>>,
    /// End of history. `None` = now minus `lookback_minutes`.
    pub end_date: Option<DateTime<Utc>>,
    /// Fixed export window length; `None` = adaptive.
    pub window_days: Option<u32>,
    /// Export windows end this many minutes before now, so late-indexed events are not missed. Default 5.
    pub lookback_minutes: u32,
    /// Which identifier keys users. Default `email`.
    pub user_key: UserKey,
    /// How export streams fetch their data. Default `sync`.
    pub export_mode: ExportMode,
    /// Filters for by-key streams (events, user_profile, ...).
    pub email: Option<String>,
    /// userId filter for by-key streams (instead of `email`).
    pub user_id: Option<String>,
    /// Restrict `list_users` to these lists.
    pub list_ids: Option<Vec<i64>>,
    /// Restrict `catalog_items` to these catalogs.
    pub catalog_names: Option<Vec<String>>,
    /// Requests in flight at once (across streams).
    pub max_concurrency: u32,
    /// Retries of one request before the stream fails.
    pub max_retries: u32,
    /// Sessions sharing the project's rate budgets at once: each paces
    /// itself to 1/N of every limit (see `exchange::pacing`).
    pub budget_split: u32,
    /// Count and report malformed NDJSON lines instead of failing.
    pub skip_malformed_lines: bool,
    /// Records that contradict their schema: report or fail. Default report.
    pub schema_policy: SchemaPolicy,
    /// After `max_retries`, skip the unit that keeps failing (one list's
    /// members, one catalog, one metadata key) and report it, instead of
    /// failing the sync.
    pub skip_persistent_errors: bool,
    /// For simulators only: how many times faster the server's rate-limit clock
    /// runs than real time (the simulator's `--time-scale`). 1 for Iterable.
    pub time_scale: f64,
    /// Request parameters SQL planning pushed down (not a setting): on
    /// `export/data.json`, `campaignId` and `onlyFields`; on paged streams,
    /// the filters their endpoint takes (`templateType`, `messageMedium`,
    /// `campaignState`, `startDateTime`…). A name may repeat (`a=1&a=2`);
    /// a stream whose passes set the same parameter walks only the passes
    /// whose value is listed.
    pub pushed_query: Vec<(&'static str, String)>,
    /// Read only these catalog items (`GET …/items/{itemId}` each) instead
    /// of paging every item; set by SQL planning, not a setting.
    pub item_ids: Option<Vec<String>>,
}

impl Config {
    /// Parses and validates a config object (the Airbyte/Singer config file).
    pub fn from_json(value: &Value) -> Result<Config> {
        let obj = value.as_object().ok_or_else(|| {
            ConnectorError::config(
                "config",
                "must be a JSON object, e.g. {\"api_key\": \"...\"}",
            )
        })?;
        reject_unknown_keys(obj)?;
        let region = match opt_str(obj, "region")? {
            None => Region::Us,
            Some(r) if r.eq_ignore_ascii_case("us") => Region::Us,
            Some(r) if r.eq_ignore_ascii_case("eu") => Region::Eu,
            Some(_) => {
                return Err(ConnectorError::config(
                    "region",
                    "must be \"US\" or \"EU\" (the data centre of your Iterable project)",
                ));
            }
        };
        let base_url = match opt_str(obj, "base_url")? {
            Some(url) => parse_base_url(url)?,
            None => region.base_url().to_string(),
        };
        let api_key = match opt_str(obj, "api_key")? {
            Some("") => {
                return Err(ConnectorError::config(
                    "api_key",
                    "is empty; create a server-side key in Iterable (Integrations > API Keys)",
                ));
            }
            Some(k) => Some(Secret::new(k)),
            None => None,
        };
        let start_date = opt_date(obj, "start_date")?;
        let end_date = opt_date(obj, "end_date")?;
        if let (Some(s), Some(e)) = (start_date, end_date)
            && e <= s
        {
            return Err(ConnectorError::config(
                "end_date",
                "must be after start_date; widen the range or drop end_date",
            ));
        }
        let window_days = int_setting(obj, "window_days")?.map(|v| v as u32);
        let lookback_minutes = int_setting(obj, "lookback_minutes")?
            .unwrap_or_else(|| settings::default_u64("lookback_minutes"))
            as u32;
        let user_key = match opt_str(obj, "user_key")? {
            None | Some("email") => UserKey::Email,
            Some("userId") => UserKey::UserId,
            Some(_) => {
                return Err(ConnectorError::config(
                    "user_key",
                    "must be \"email\" (email-based projects) or \"userId\" (userId-based projects)",
                ));
            }
        };
        let export_mode = match opt_str(obj, "export_mode")? {
            None | Some("sync") => ExportMode::Sync,
            Some("async") => ExportMode::Async,
            Some("auto") => ExportMode::Auto,
            Some(_) => {
                return Err(ConnectorError::config(
                    "export_mode",
                    "must be \"sync\" (export/data.json windows), \"async\" (export jobs) or \"auto\" (both at once, each within its own budget)",
                ));
            }
        };
        let schema_policy = match opt_str(obj, "schema_policy")? {
            None | Some("report") => SchemaPolicy::Report,
            Some("fail") => SchemaPolicy::Fail,
            Some(_) => {
                return Err(ConnectorError::config(
                    "schema_policy",
                    "must be \"report\" (log records that contradict the schema, keep them) or \"fail\"",
                ));
            }
        };
        let email = opt_str(obj, "email")?.map(str::to_string);
        if let Some(e) = &email
            && !e.contains('@')
        {
            return Err(ConnectorError::config(
                "email",
                "is not an email address; set it to the user's email, or use user_id",
            ));
        }
        let user_id = opt_str(obj, "user_id")?.map(str::to_string);
        let list_ids = match obj.get("list_ids") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| {
                        v.as_i64().filter(|id| *id > 0).ok_or_else(|| {
                            ConnectorError::config(
                                "list_ids",
                                "must be a list of positive integer list ids, e.g. [949814]",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => {
                return Err(ConnectorError::config(
                    "list_ids",
                    "must be a list of integer list ids, e.g. [949814]",
                ));
            }
        };
        let catalog_names = match obj.get("catalog_names") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .ok_or_else(|| {
                                ConnectorError::config(
                                    "catalog_names",
                                    "must be a list of catalog names, e.g. [\"restaurants\"]",
                                )
                            })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => {
                return Err(ConnectorError::config(
                    "catalog_names",
                    "must be a list of catalog names, e.g. [\"restaurants\"]",
                ));
            }
        };
        let max_concurrency = int_setting(obj, "max_concurrency")?
            .unwrap_or_else(|| settings::default_u64("max_concurrency"))
            as u32;
        let budget_split = int_setting(obj, "budget_split")?
            .unwrap_or_else(|| settings::default_u64("budget_split"))
            as u32;
        let max_retries = int_setting(obj, "max_retries")?
            .unwrap_or_else(|| settings::default_u64("max_retries"))
            as u32;
        let skip_malformed_lines = match obj.get("skip_malformed_lines") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ConnectorError::config(
                    "skip_malformed_lines",
                    "must be true or false",
                ));
            }
        };
        let skip_persistent_errors = match obj.get("skip_persistent_errors") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ConnectorError::config(
                    "skip_persistent_errors",
                    "must be true or false",
                ));
            }
        };
        let (min_scale, max_scale) = settings::range_f64("time_scale");
        let time_scale = match obj.get("time_scale") {
            None | Some(Value::Null) => 1.0,
            Some(v) => v
                .as_f64()
                .filter(|f| *f >= min_scale && *f <= max_scale)
                .ok_or_else(|| {
                    ConnectorError::config(
                        "time_scale",
                        "must be a number from 1 to 10000 (leave it out for Iterable; it is for simulators)",
                    )
                })?,
        };
        Ok(Config {
            api_key,
            region,
            base_url,
            start_date,
            end_date,
            window_days,
            lookback_minutes,
            user_key,
            export_mode,
            email,
            user_id,
            list_ids,
            catalog_names,
            max_concurrency,
            max_retries,
            budget_split,
            skip_malformed_lines,
            schema_policy,
            skip_persistent_errors,
            time_scale,
            pushed_query: Vec::new(),
            item_ids: None,
        })
    }

    /// `base_url` + `path` (+ query, already encoded).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base_url, path_and_query)
    }
}

fn reject_unknown_keys(obj: &Map<String, Value>) -> Result<()> {
    for key in obj.keys() {
        if !settings::is_known(key) {
            return Err(ConnectorError::config(
                key.clone(),
                format!(
                    "is not a setting of this connector; known settings: {}",
                    settings::known_keys()
                ),
            ));
        }
    }
    Ok(())
}

/// An integer setting: its range and default come from the settings table.
fn int_setting(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    let (min, max) = settings::range_u64(key);
    opt_u64(obj, key, min, max)
}

fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ConnectorError::config(key, "must be a string")),
    }
}

fn opt_u64(obj: &Map<String, Value>, key: &str, min: u64, max: u64) -> Result<Option<u64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ConnectorError::config(key, format!("must be a whole number from {min} to {max}"))
            }),
    }
}

fn opt_date(obj: &Map<String, Value>, key: &str) -> Result<Option<DateTime<Utc>>> {
    let Some(s) = opt_str(obj, key)? else {
        return Ok(None);
    };
    if let Some(d) = time::parse_config_date(s) {
        return Ok(Some(d));
    }
    match us_date(s.trim()) {
        Ok(Some(d)) => return Ok(Some(d)),
        Ok(None) => {}
        Err(why) => return Err(ConnectorError::config(key, why)),
    }
    Err(ConnectorError::config(
        key,
        "must be an RFC 3339 timestamp (2024-01-31T00:00:00Z), a date (2024-01-31) or MM/DD/YYYY (01/31/2024)",
    ))
}

/// `MM/DD/YYYY`, as Qlik's Iterable connector documents start dates.
/// `Ok(None)`: not this form; `Err`: this form but not a valid or not an
/// unambiguous date (a day first, a two-digit year), with the fix.
fn us_date(s: &str) -> std::result::Result<Option<DateTime<Utc>>, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let [m, d, y] = parts.as_slice() else {
        return Ok(None);
    };
    let num = |p: &str| {
        p.parse::<u32>()
            .ok()
            .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
    };
    let (Some(m), Some(d), Some(year)) = (num(m), num(d), num(y)) else {
        return Ok(None);
    };
    let iso = |y: u32, m: u32, d: u32| format!("{y:04}-{m:02}-{d:02}");
    if y.len() != 4 {
        return Err(format!(
            "{s}: write the year with four digits, or use the ISO form ({})",
            iso(2000 + year % 100, m, d)
        ));
    }
    if m > 12 && d <= 12 {
        return Err(format!(
            "{s} reads as day/month; dates with slashes are MM/DD/YYYY here: write {} (ISO) to be sure",
            iso(year, d, m)
        ));
    }
    time::parse_config_date(&iso(year, m, d))
        .map(Some)
        .ok_or_else(|| format!("{s} is not a date (MM/DD/YYYY)"))
}

fn parse_base_url(url: &str) -> Result<String> {
    let bad = |why: &str| {
        ConnectorError::config(
            "base_url",
            format!(
                "{why}; it must look like https://api.iterable.com or http://127.0.0.1:8080 (scheme://host[:port], nothing else)"
            ),
        )
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("needs http:// or https://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(bad("has no host"));
    }
    if let Some(c) = authority
        .chars()
        .find(|c| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace() || c.is_control())
    {
        let why = match c {
            '@' => "must not carry a user or password (user:pw@)".to_string(),
            '/' => "must not have a path".to_string(),
            '?' | '#' => "must not have a query or fragment".to_string(),
            _ => "must not contain spaces, tabs or control characters".to_string(),
        };
        return Err(bad(&why));
    }
    // host, [v6], host:port or [v6]:port
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (authority, None),
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Err(bad(&format!("has a bad port \"{p}\"")));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Whether `base_url` sends the key in clear to a host other than this
/// machine (`http://` to anything but loopback).
pub(crate) fn sends_key_in_clear(base_url: &str) -> bool {
    let Some(rest) = base_url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
    !matches!(host, "127.0.0.1" | "localhost" | "[::1]") && !host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let c = Config::from_json(&json!({"api_key": "k"})).unwrap();
        assert_eq!(c.base_url, "https://api.iterable.com");
        assert_eq!(c.lookback_minutes, 5);
        assert_eq!(c.user_key, UserKey::Email);
        assert_eq!(c.window_days, None);
        assert_eq!(c.export_mode, ExportMode::Sync);
    }

    #[test]
    fn export_mode_auto_parses_and_a_typo_names_every_mode() {
        let c = Config::from_json(&json!({"export_mode": "auto"})).unwrap();
        assert_eq!(c.export_mode, ExportMode::Auto);
        let e = Config::from_json(&json!({"export_mode": "both"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("export_mode"));
        for mode in ["sync", "async", "auto"] {
            assert!(e.message.contains(mode), "{}", e.message);
        }
    }

    #[test]
    fn qlik_style_us_dates_are_read_as_month_first() {
        let c = Config::from_json(&json!({"start_date": "01/31/2024", "end_date": "2/1/2024"}))
            .unwrap();
        assert_eq!(
            c.start_date.map(|d| d.to_rfc3339()).unwrap(),
            "2024-01-31T00:00:00+00:00"
        );
        assert_eq!(
            c.end_date.map(|d| d.to_rfc3339()).unwrap(),
            "2024-02-01T00:00:00+00:00"
        );
        let e = Config::from_json(&json!({"start_date": "31/01/2024"})).unwrap_err();
        assert!(e.message.contains("2024-01-31"), "{}", e.message);
        assert!(sends_key_in_clear("http://10.0.0.5:8080"));
        assert!(!sends_key_in_clear("http://127.0.0.1:8080"));
        assert!(!sends_key_in_clear("https://api.iterable.com"));
    }

    #[test]
    fn eu_region_and_base_url_override() {
        let c = Config::from_json(&json!({"region": "EU"})).unwrap();
        assert_eq!(c.base_url, "https://api.eu.iterable.com");
        let c = Config::from_json(&json!({"region": "EU", "base_url": "http://127.0.0.1:99/"}))
            .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:99");
        assert_eq!(c.url("/api/lists"), "http://127.0.0.1:99/api/lists");
    }

    #[test]
    fn errors_name_the_field() {
        for (cfg, field) in [
            (json!({"region": "APAC"}), "region"),
            (json!({"base_url": "ftp://x"}), "base_url"),
            (json!({"base_url": "http://x#frag"}), "base_url"),
            (json!({"base_url": "http://x:99999"}), "base_url"),
            (json!({"base_url": "http://x:abc"}), "base_url"),
            (json!({"base_url": "http://\tx"}), "base_url"),
            (
                json!({"base_url": "https://user:pw@api.iterable.com"}),
                "base_url",
            ),
            (json!({"base_url": "http://x/api"}), "base_url"),
            (json!({"start_date": "yesterday"}), "start_date"),
            (json!({"start_date": "31/01/2024"}), "start_date"),
            (json!({"start_date": "01/31/24"}), "start_date"),
            (json!({"start_date": "02/30/2024"}), "start_date"),
            (json!({"window_days": 0}), "window_days"),
            (json!({"lookback_minutes": -1}), "lookback_minutes"),
            (json!({"user_key": "id"}), "user_key"),
            (json!({"list_ids": ["a"]}), "list_ids"),
            (json!({"api_key": ""}), "api_key"),
            (json!({"apikey": "k"}), "apikey"),
            (
                json!({"start_date": "2024-02-01", "end_date": "2024-01-01"}),
                "end_date",
            ),
            (json!({"email": "nope"}), "email"),
        ] {
            let err = Config::from_json(&cfg).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{cfg}");
            assert!(err.message.starts_with(field), "{}", err.message);
        }
    }

    #[test]
    fn key_never_printed() {
        let c = Config::from_json(&json!({"api_key": "sekrit-123"})).unwrap();
        assert!(!format!("{c:?}").contains("sekrit"));
        assert_eq!(c.api_key.as_ref().unwrap().expose(), "sekrit-123");
        let err = Config::from_json(&json!({"api_key": "sekrit-123", "region": 5})).unwrap_err();
        assert!(!err.to_string().contains("sekrit"));
    }

    #[test]
    fn spec_lists_every_known_key() {
        let spec = spec();
        let props = spec["properties"].as_object().unwrap();
        let known: Vec<&str> = settings::SETTINGS.iter().map(|s| s.key).collect();
        for key in &known {
            assert!(props.contains_key(*key), "{key}");
        }
        assert_eq!(props.len(), known.len());
    }
}
