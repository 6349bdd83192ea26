//! Ground truth: exactly which records the seeded world serves per connector
//! stream (before any writes, ignoring late indexing), and the natural key that
//! identifies a record both on the wire and after a connector normalised it.
//!
//! Natural keys per family:
//! - event streams (every export type except `user`): `createdAt|email|d|data`,
//!   with `createdAt` as RFC 3339 UTC (`2024-03-01T10:00:00Z`), `d` the first of
//!   `messageId`, `eventName`, `id` present ("" otherwise) and `data` the
//!   `sku` of custom events ("" otherwise). Seeded rows of one type share a
//!   `createdAt` second only as custom-event twins (same user, name and
//!   second, another `sku`: see `events::is_twin`), so keys are unique.
//! - `users`: `email`.
//! - `campaigns`, `campaigns_metrics`, `channels`, `message_types`, `lists`,
//!   `journeys`, `snippets`, `webhooks`: `id`.
//! - `templates`, `template_contents`: `templateId`; `catalogs`: `name`; `catalog_items`:
//!   `catalogName|itemId`; `metadata`: `table|key`; `list_users`: `listId|email`;
//!   `experiments_metrics`: `experimentId|templateId`.
//!
//! `journeys` is every journey, archived or not (each record carries
//! `isArchived`): the default listing leaves archived journeys out, so a
//! connector reads both it and `GET /api/journeys?state=Archived`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::api::{ExportRequest, export_rows};
use crate::types::{Scale, WorldOptions};
use crate::world::events::{self, Positions};
use crate::world::{World, int, time};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub count: u64,
    pub keys: BTreeSet<String>,
}

const FAR_PAST: i64 = -62_000_000_000;
const FAR_FUTURE: i64 = 250_000_000_000;

/// Integer-like ids as plain digits whatever their JSON type (`7`, `"7"`, `7.0`).
fn id_str(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else {
                n.as_f64().map(|f| {
                    if f.fract() == 0.0 {
                        format!("{}", f as i64)
                    } else {
                        f.to_string()
                    }
                })
            }
        }
        Value::String(s) if !s.is_empty() => {
            let t = s.trim();
            match t.parse::<f64>() {
                Ok(f)
                    if f.fract() == 0.0
                        && t.bytes()
                            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
                {
                    Some(format!("{}", f as i64))
                }
                _ => Some(t.to_string()),
            }
        }
        _ => None,
    }
}

fn field<'a>(r: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| r.get(*n).filter(|v| !v.is_null()))
}

/// Is this stream one of the export event types?
fn event_type(stream: &str) -> Option<&'static events::EventType> {
    events::TYPES
        .iter()
        .find(|t| events::snake(t.name) == stream)
}

/// The natural key of a record of `stream` (see the module docs).
pub fn natural_key(stream: &str, r: &Value) -> Option<String> {
    if event_type(stream).is_some() {
        let created = time::value_secs(r.get("createdAt")?)?;
        let who = field(r, &["email", "userId"])
            .and_then(Value::as_str)
            .unwrap_or("");
        let d = field(r, &["messageId", "eventName", "id"])
            .and_then(id_str)
            .unwrap_or_default();
        // Custom events may repeat user, name and second (twins): their
        // data tells them apart.
        let data = match stream {
            "custom_event" => r.get("sku").and_then(Value::as_str).unwrap_or_default(),
            _ => "",
        };
        return Some(format!("{}|{}|{}|{data}", time::rfc3339(created), who, d));
    }
    match stream {
        "users" => r.get("email").and_then(Value::as_str).map(String::from),
        "campaigns" | "channels" | "message_types" | "lists" | "journeys" | "snippets"
        | "webhooks" => id_str(r.get("id")?),
        "campaigns_metrics" => field(r, &["id", "campaignId"])
            .or_else(|| r.get("data").and_then(|d| d.get("id")))
            .and_then(id_str),
        "templates" | "template_contents" => id_str(r.get("templateId")?),
        "catalogs" => r.get("name").and_then(Value::as_str).map(String::from),
        "catalog_items" => Some(format!(
            "{}|{}",
            r.get("catalogName")?.as_str()?,
            r.get("itemId")?.as_str()?
        )),
        "metadata" => Some(format!(
            "{}|{}",
            r.get("table")?.as_str()?,
            r.get("key")?.as_str()?
        )),
        "list_users" => Some(format!(
            "{}|{}",
            id_str(r.get("listId")?)?,
            r.get("email")?.as_str()?
        )),
        "experiments_metrics" => {
            let e =
                field(r, &["experimentId", "Experiment Id", "experiment_id"]).and_then(id_str)?;
            let t = field(r, &["templateId", "Template Id", "template_id"]).and_then(id_str)?;
            Some(format!("{e}|{t}"))
        }
        _ => None,
    }
}

/// Scores what a connector read for `stream` against ground truth over
/// `[start, end)` (`None` = the whole history): `Ok` when every expected
/// record is there exactly once and nothing else is, else one line saying
/// how many records are missing, unexpected or duplicated.
pub fn score(
    opts: &WorldOptions,
    stream: &str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    records: &[Value],
) -> Result<(), String> {
    let truth = ground_truth(opts, stream, start, end)?;
    let mut keys = BTreeSet::new();
    let mut duplicated = 0;
    for r in records {
        let k = natural_key(stream, r)
            .ok_or_else(|| format!("{stream}: record without a natural key: {r}"))?;
        if !keys.insert(k) {
            duplicated += 1;
        }
    }
    let missing = truth.keys.difference(&keys).count();
    let unexpected = keys.difference(&truth.keys).count();
    if missing + unexpected + duplicated > 0 || records.len() as u64 != truth.count {
        return Err(format!(
            "{stream}: {} records vs truth {}; missing {missing}, unexpected {unexpected}, duplicated {duplicated}",
            records.len(),
            truth.count
        ));
    }
    Ok(())
}

fn collect(stream: &str, records: impl Iterator<Item = Value>) -> Result<Truth, String> {
    let mut keys = BTreeSet::new();
    let mut count = 0u64;
    for r in records {
        let k = natural_key(stream, &r)
            .ok_or_else(|| format!("record without a natural key in {stream}: {r}"))?;
        count += 1;
        keys.insert(k);
    }
    Ok(Truth { count, keys })
}

/// What the endpoints serve for `stream` on a fresh world, optionally limited to
/// `[start, end)` on `createdAt` (events, templates) or `profileUpdatedAt` (users).
/// Streams without a server-side time filter ignore the window.
pub fn ground_truth(
    opts: &WorldOptions,
    stream: &str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<Truth, String> {
    let opts = WorldOptions {
        late_index_secs: 0,
        ..opts.clone()
    };
    let world = World::new(opts);
    let s = start.map(|t| t.timestamp()).unwrap_or(FAR_PAST);
    let e = end.map(|t| t.timestamp()).unwrap_or(FAR_FUTURE);
    if let Some(t) = event_type(stream) {
        // A fresh world has only seeded events: count them by position.
        let g = world.model.clone();
        let rows = Positions::new(world.model.clone(), t, s, e)
            .map(move |(d, i, _)| events::build_row(&g, t, d, i).1);
        return collect(stream, rows);
    }
    world_truth(&world, stream, Some(s), Some(e))
}

/// What the endpoints serve for `stream` on `world` as it is now: the seeded
/// records plus every write applied so far (created, changed and deleted
/// records; asynchronous writes count once they are visible), ignoring late
/// indexing. `start`/`end` (epoch seconds, `[start, end)`) as for
/// [`ground_truth`]. Served live by `GET /_sim/truth`.
pub fn world_truth(
    world: &World,
    stream: &str,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<Truth, String> {
    let s = start.unwrap_or(FAR_PAST);
    let e = end.unwrap_or(FAR_FUTURE);
    if let Some(t) = event_type(stream) {
        let er = ExportRequest {
            data_type: crate::api::DataType::Event(t),
            start: s,
            end: e,
            campaign_id: None,
            horizon: None,
        };
        return collect(stream, export_rows(world, &er).map(|(_, v)| v));
    }
    let st = world.read();
    match stream {
        "users" => {
            drop(st);
            let er = ExportRequest { data_type: crate::api::DataType::User, start: s, end: e, campaign_id: None, horizon: None };
            collect(stream, export_rows(world, &er).map(|(_, v)| v))
        }
        "campaigns" | "campaigns_metrics" => collect(stream, st.campaigns.clone().into_iter()),
        "channels" => collect(stream, st.channels.clone().into_iter()),
        "message_types" => collect(stream, st.message_types.clone().into_iter()),
        "lists" => collect(stream, st.lists.iter().map(|l| l.json.clone())),
        // Both listings: `GET /api/journeys` (non-archived) and `?state=Archived`.
        "journeys" => collect(stream, st.journeys.iter().cloned()),
        "snippets" => collect(stream, st.snippets.clone().into_iter()),
        "webhooks" => collect(stream, st.webhooks.clone().into_iter()),
        "templates" | "template_contents" => {
            let (sm, em) = (s.saturating_mul(1000), e.saturating_mul(1000));
            collect(stream, st.templates.iter().filter(|t| {
                let c = int(&t.json, "createdAt");
                c >= sm && c < em
            }).map(|t| {
                let mut v = t.json.clone();
                v["templateType"] = json!(t.template_type);
                v["messageMedium"] = json!(t.medium);
                v
            }))
        }
        "metadata" => collect(stream, st.metadata.values().flat_map(|t| t.values().cloned())),
        "catalogs" => collect(stream, st.catalogs.values().map(|c| json!({"name": c.name}))),
        "catalog_items" => collect(stream, st.catalogs.values().flat_map(|c| {
            c.items.keys().map(move |id| json!({"catalogName": c.name, "itemId": id}))
        })),
        "experiments_metrics" => collect(stream, st.experiments.iter().flat_map(|x| {
            x.variants.iter().map(move |(t, _, _)| json!({"experimentId": x.id, "templateId": t, "campaignId": x.campaign_id}))
        })),
        "list_users" => {
            let ids: Vec<i64> = st.lists.iter().map(|l| l.id).collect();
            drop(st);
            let recs = ids.into_iter().flat_map(|id| {
                crate::api::member_stream(world, id)
                    .into_iter()
                    .flatten()
                    .map(move |(email, _)| json!({"listId": id, "email": email}))
            });
            collect(stream, recs)
        }
        other => Err(format!("unknown stream: {other}")),
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    time::parse(s)
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or_else(|| format!("invalid time: {s}"))
}

/// `iterable-sim truth --seed N --scale S --now T --stream NAME [--start T --end T]`.
pub fn run_cli(args: &[String]) -> Result<String, String> {
    let mut seed = None;
    let mut scale = None;
    let mut now = None;
    let mut stream = None;
    let (mut start, mut end) = (None, None);
    let mut it = args
        .iter()
        .skip_while(|a| a.as_str() == "truth" || !a.starts_with("--"));
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut val = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--seed" => seed = Some(val()?.parse::<u64>().map_err(|e| format!("--seed: {e}"))?),
            "--scale" => {
                let v = val()?;
                scale = Some(Scale::parse(&v).ok_or_else(|| format!("unknown scale: {v}"))?)
            }
            "--now" => now = Some(parse_time(&val()?)?),
            "--stream" => stream = Some(val()?),
            "--start" => start = Some(parse_time(&val()?)?),
            "--end" => end = Some(parse_time(&val()?)?),
            "--late-index-secs" => {
                val()?;
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    let opts = WorldOptions {
        seed: seed.ok_or("--seed is required")?,
        scale: scale.unwrap_or(Scale::Tiny),
        now: now.ok_or("--now is required")?,
        late_index_secs: 0,
    };
    let stream = stream.ok_or("--stream is required")?;
    let t = ground_truth(&opts, &stream, start, end)?;
    Ok(json!({"stream": stream, "count": t.count, "keys": t.keys}).to_string())
}

/// Every stream name ground truth knows.
pub fn streams() -> Vec<String> {
    let mut v: Vec<String> = [
        "campaigns",
        "campaigns_metrics",
        "channels",
        "lists",
        "list_users",
        "message_types",
        "metadata",
        "templates",
        "journeys",
        "snippets",
        "webhooks",
        "catalogs",
        "catalog_items",
        "experiments_metrics",
        "users",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(events::TYPES.iter().map(|t| events::snake(t.name)));
    v
}
