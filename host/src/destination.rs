//! Reverse ETL from any Airbyte source or Singer tap: an Airbyte destination
//! (`destination write`) and a Singer target (`target`).
//!
//! Records are grouped per stream and written through one write session per
//! stream and flush. A flush happens at every STATE message, at the end of
//! the input, and when a stream's buffer is full; a STATE message is passed
//! on (echoed for Airbyte, its `value` printed for Singer) only after every
//! row before it has its result, so a sync restarted from the last state the
//! orchestrator saw loses nothing. Rows are routed by the config's `streams`
//! map (`{"<stream>": {"object", "op", "options"}}`); a stream not in it is
//! written to the object of the same name with that object's first
//! operation (upsert for users and catalog items, insert for events...).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde_json::{Map, Value, json};

use crate::Error;
use crate::driver::{self, WriteIo, WriteJob};
use crate::protocol::{self, LoadedConfig};
use crate::runtime::{Instance, LogLevel, LogMessage, RowResult, RowStatus, WriteCheckpoint};
use crate::writes::result_json;

/// Which protocol the messages on stdin and stdout speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Airbyte,
    Singer,
}

/// A stream's rows are written out once this many are buffered...
const FLUSH_ROWS: usize = 50_000;
/// ...or once they take this many bytes.
const FLUSH_BYTES: usize = 32 << 20;
/// Failed or unknown rows logged one by one per stream; the rest are counted.
const LOGGED_FAILURES: u64 = 100;

/// Where a stream's rows go.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub object: String,
    pub op: String,
    /// Write options as a JSON object.
    pub options: Option<String>,
}

/// The destination's config: the source config plus the `streams` routes.
pub struct DestinationConfig {
    pub connector: LoadedConfig,
    routes: BTreeMap<String, Route>,
}

impl DestinationConfig {
    /// Splits `streams` out of the config (the component's config schema
    /// does not know it).
    pub fn from_value(mut value: Value) -> Result<DestinationConfig, Error> {
        let streams = value
            .as_object_mut()
            .and_then(|o| o.remove("streams"))
            .unwrap_or(Value::Null);
        let mut routes = BTreeMap::new();
        match streams {
            Value::Null => {}
            Value::Object(map) => {
                for (stream, spec) in map {
                    routes.insert(stream.clone(), route(&stream, &spec)?);
                }
            }
            _ => {
                return Err(Error::Usage(
                    "config field streams must be an object: {\"<stream>\": {\"object\": ..., \"op\": ..., \"options\": {...}}}".into(),
                ));
            }
        }
        Ok(DestinationConfig {
            connector: protocol::config_from_value(value)?,
            routes,
        })
    }

    /// The streams the config routes explicitly.
    pub fn configured_streams(&self) -> Vec<String> {
        self.routes.keys().cloned().collect()
    }

    /// Where rows of `stream` go.
    pub fn route(&self, stream: &str) -> Route {
        if let Some(r) = self.routes.get(stream) {
            return r.clone();
        }
        Route {
            object: stream.to_string(),
            // The component picks the object's first operation.
            op: String::new(),
            options: None,
        }
    }

    /// Checks that `stream`'s route names a writable object and operation
    /// (by opening a write session, which does no I/O).
    pub async fn check_route(&self, inst: &mut Instance, stream: &str) -> Result<Route, Error> {
        let r = self.route(stream);
        let session = inst
            .open_write(
                &self.connector.json,
                &r.object,
                &r.op,
                r.options.as_deref(),
                None,
            )
            .await
            .map_err(|e| in_stream(e, stream))?;
        inst.close(session).await?;
        Ok(r)
    }
}

fn route(stream: &str, spec: &Value) -> Result<Route, Error> {
    let bad = |what: &str| {
        Error::Usage(format!(
            "config streams.{stream}: {what}; expected {{\"object\": \"users\", \"op\": \"upsert\", \"options\": {{...}}}}"
        ))
    };
    let obj = spec.as_object().ok_or_else(|| bad("must be an object"))?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "object" | "op" | "options") {
            return Err(bad(&format!("unknown key {key:?}")));
        }
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let object = match obj.get("object") {
        None => stream.to_string(),
        Some(_) => text("object").ok_or_else(|| bad("object must be a string"))?,
    };
    let op = match obj.get("op") {
        None => String::new(),
        Some(_) => text("op").ok_or_else(|| bad("op must be a string"))?,
    };
    let options = match obj.get("options") {
        None | Some(Value::Null) => None,
        Some(o @ Value::Object(_)) => Some(o.to_string()),
        Some(_) => return Err(bad("options must be an object")),
    };
    Ok(Route {
        object,
        op,
        options,
    })
}

/// The destination's config schema: the source's plus `streams`.
pub fn spec(source_spec: &str) -> Value {
    let mut spec: Value = serde_json::from_str(source_spec).unwrap_or_else(|_| json!({}));
    if let Some(props) = spec.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "streams".into(),
            json!({
                "type": "object",
                "title": "Where each stream's records go",
                "description": "Stream name to {object, op, options}. A stream not listed is written to the object of the same name with its default operation.",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "object": {"type": "string", "description": "catalog_items, catalogs, lists, list_users, templates, campaigns, events, in_app_messages, users, purchases, subscriptions (Skyvia names accepted)"},
                        "op": {"type": "string", "description": "insert, update, upsert, delete, update_email"},
                        "options": {"type": "object", "description": "catalog, list_id, medium, bulk, batch_size, merge_nested_objects"}
                    },
                    "additionalProperties": false
                }
            }),
        );
    }
    json!({"type": "SPEC", "spec": {
        "documentationUrl": "https://api.iterable.com/api/docs",
        "connectionSpecification": spec,
        "supportsIncremental": true,
        "supported_destination_sync_modes": ["append", "append_dedup"],
    }})
}

/// The streams of a ConfiguredAirbyteCatalog (for `destination write`).
pub fn catalog_streams(catalog: &Value) -> Result<Vec<String>, Error> {
    let streams = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Usage("catalog: expected {\"streams\": [...]}".into()))?;
    streams
        .iter()
        .map(|s| {
            s.pointer("/stream/name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Error::Usage("catalog: a stream has no stream.name".into()))
        })
        .collect()
}

/// One input message that matters.
#[derive(Debug, PartialEq)]
enum Message {
    Record {
        stream: String,
        row: Vec<u8>,
    },
    /// What to pass on once the rows before it are final.
    State(Value),
    Other,
}

fn parse(dialect: Dialect, line: &[u8]) -> Result<Message, String> {
    let msg: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let kind = msg.get("type").and_then(Value::as_str).unwrap_or("");
    let record = |stream: Option<&Value>, data: Option<&Value>| -> Result<Message, String> {
        let stream = stream
            .and_then(Value::as_str)
            .ok_or("a RECORD without its stream name")?;
        let data = data
            .filter(|d| d.is_object())
            .ok_or("a RECORD without an object of data")?;
        Ok(Message::Record {
            stream: stream.to_string(),
            row: serde_json::to_vec(data).map_err(|e| e.to_string())?,
        })
    };
    match (dialect, kind) {
        (Dialect::Airbyte, "RECORD") => {
            let r = msg.get("record");
            record(
                r.and_then(|r| r.get("stream")),
                r.and_then(|r| r.get("data")),
            )
        }
        (Dialect::Airbyte, "STATE") => Ok(Message::State(msg)),
        (Dialect::Singer, "RECORD") => record(msg.get("stream"), msg.get("record")),
        (Dialect::Singer, "STATE") => Ok(Message::State(
            msg.get("value").cloned().unwrap_or(Value::Null),
        )),
        _ => Ok(Message::Other),
    }
}

/// Totals per stream.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreamTotals {
    pub rows: u64,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
}

/// Rows buffered for one stream.
#[derive(Default)]
struct Buffer {
    ndjson: Vec<u8>,
    rows: usize,
}

/// Runs a destination write: messages from `input`, states and logs to
/// `out`. Returns the totals per stream.
pub async fn run(
    inst: &mut Instance,
    config: &DestinationConfig,
    dialect: Dialect,
    allowed: Option<&[String]>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<BTreeMap<String, StreamTotals>, Error> {
    let mut buffers: BTreeMap<String, Buffer> = BTreeMap::new();
    let mut totals: BTreeMap<String, StreamTotals> = BTreeMap::new();
    let mut checked: BTreeMap<String, Route> = BTreeMap::new();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Usage(format!("reading messages from stdin: {e}")))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let msg = parse(dialect, &line)
            .map_err(|e| Error::Usage(format!("input line {line_no}: {e}")))?;
        match msg {
            Message::Record { stream, row } => {
                if let Some(allowed) = allowed
                    && !allowed.contains(&stream)
                {
                    return Err(Error::Usage(format!(
                        "input line {line_no}: a record of stream {stream:?}, which the configured catalog does not list"
                    )));
                }
                if !checked.contains_key(&stream) {
                    let r = config.check_route(inst, &stream).await?;
                    checked.insert(stream.clone(), r);
                }
                let b = buffers.entry(stream.clone()).or_default();
                b.ndjson.extend_from_slice(&row);
                b.ndjson.push(b'\n');
                b.rows += 1;
                if b.rows >= FLUSH_ROWS || b.ndjson.len() >= FLUSH_BYTES {
                    let b = std::mem::take(b);
                    let route = &checked[&stream];
                    flush(inst, config, route, &stream, b, &mut totals, dialect, out).await?;
                }
            }
            Message::State(state) => {
                flush_all(
                    inst,
                    config,
                    &checked,
                    &mut buffers,
                    &mut totals,
                    dialect,
                    out,
                )
                .await?;
                // Airbyte: the STATE message as received; Singer: its value.
                writeln!(out, "{state}").map_err(Error::io)?;
                out.flush().map_err(Error::io)?;
            }
            Message::Other => {}
        }
    }
    flush_all(
        inst,
        config,
        &checked,
        &mut buffers,
        &mut totals,
        dialect,
        out,
    )
    .await?;
    for (stream, t) in &totals {
        log(
            dialect,
            out,
            "INFO",
            &format!(
                "[{stream}] {} rows: {} ok, {} failed, {} unknown",
                t.rows, t.ok, t.failed, t.unknown
            ),
        )?;
    }
    out.flush().map_err(Error::io)?;
    Ok(totals)
}

#[allow(clippy::too_many_arguments)]
async fn flush_all(
    inst: &mut Instance,
    config: &DestinationConfig,
    routes: &BTreeMap<String, Route>,
    buffers: &mut BTreeMap<String, Buffer>,
    totals: &mut BTreeMap<String, StreamTotals>,
    dialect: Dialect,
    out: &mut dyn Write,
) -> Result<(), Error> {
    for (stream, b) in std::mem::take(buffers) {
        if b.rows > 0 {
            flush(
                inst,
                config,
                &routes[&stream],
                &stream,
                b,
                totals,
                dialect,
                out,
            )
            .await?;
        }
    }
    Ok(())
}

/// Writes one stream's buffered rows to the end.
#[allow(clippy::too_many_arguments)]
async fn flush(
    inst: &mut Instance,
    config: &DestinationConfig,
    route: &Route,
    stream: &str,
    rows: Buffer,
    totals: &mut BTreeMap<String, StreamTotals>,
    dialect: Dialect,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let job = WriteJob {
        config: &config.connector.json,
        object: &route.object,
        op: &route.op,
        options: route.options.as_deref(),
        state: None,
        api_key: config.connector.api_key.clone(),
    };
    let t = totals.entry(stream.to_string()).or_default();
    let mut io = BufferIo {
        rows: Some(rows.ndjson),
        stream,
        totals: t,
        dialect,
        out,
    };
    driver::write(inst, &job, &mut io)
        .await
        .map_err(|e| in_stream(e, stream))?;
    Ok(())
}

fn in_stream(e: Error, stream: &str) -> Error {
    match e {
        Error::Connector(mut c) => {
            c.stream.get_or_insert_with(|| stream.to_string());
            Error::Connector(c)
        }
        other => other,
    }
}

/// One flush: all rows at once, outcomes counted, failures logged.
struct BufferIo<'a> {
    rows: Option<Vec<u8>>,
    stream: &'a str,
    totals: &'a mut StreamTotals,
    dialect: Dialect,
    out: &'a mut dyn Write,
}

impl WriteIo for BufferIo<'_> {
    fn next_rows(&mut self, _max: usize) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.rows.take())
    }

    fn results(&mut self, rows: Vec<RowResult>) -> Result<(), Error> {
        for r in rows {
            let t = &mut *self.totals;
            t.rows += 1;
            let bad = match r.status {
                RowStatus::Ok => {
                    t.ok += 1;
                    continue;
                }
                RowStatus::Failed => {
                    t.failed += 1;
                    t.failed
                }
                RowStatus::Unknown => {
                    t.unknown += 1;
                    t.unknown
                }
            };
            if bad <= LOGGED_FAILURES {
                let text = format!("[{}] row {}", self.stream, result_json(&r));
                log(self.dialect, self.out, "WARN", &text)?;
            }
        }
        Ok(())
    }

    fn commit(&mut self, _checkpoint: WriteCheckpoint) -> Result<(), Error> {
        // The flush runs to its end before the STATE after it is passed on;
        // a stopped flush is redone from that STATE, so nothing to keep.
        Ok(())
    }

    fn log(&mut self, m: LogMessage) -> Result<(), Error> {
        let lvl = protocol::level(m.level);
        if m.level == LogLevel::Debug {
            return Ok(());
        }
        log(
            self.dialect,
            self.out,
            lvl,
            &format!("[{}] {}", self.stream, m.message),
        )
    }
}

fn log(dialect: Dialect, out: &mut dyn Write, level: &str, message: &str) -> Result<(), Error> {
    match dialect {
        Dialect::Airbyte => protocol::airbyte_log(out, level, message),
        // Singer targets keep stdout for states.
        Dialect::Singer => {
            eprintln!("{level} {}", crate::redact::scrub(message));
            Ok(())
        }
    }
}

/// A Singer target's or Airbyte destination's totals as one JSON object.
pub fn totals_json(totals: &BTreeMap<String, StreamTotals>) -> Value {
    let mut o = Map::new();
    for (s, t) in totals {
        o.insert(
            s.clone(),
            json!({"rows": t.rows, "ok": t.ok, "failed": t.failed, "unknown": t.unknown}),
        );
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn airbyte_and_singer_messages_parse() {
        let m = parse(
            Dialect::Airbyte,
            br#"{"type":"RECORD","record":{"stream":"users","data":{"email":"a@x.io"},"emitted_at":1}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Message::Record {
                stream: "users".into(),
                row: br#"{"email":"a@x.io"}"#.to_vec()
            }
        );
        let m = parse(
            Dialect::Singer,
            br#"{"type":"RECORD","stream":"events","record":{"eventName":"x"}}"#,
        )
        .unwrap();
        assert!(matches!(m, Message::Record { stream, .. } if stream == "events"));
        let m = parse(Dialect::Singer, br#"{"type":"STATE","value":{"a":1}}"#).unwrap();
        assert_eq!(m, Message::State(json!({"a": 1})));
        let m = parse(
            Dialect::Airbyte,
            br#"{"type":"STATE","state":{"type":"STREAM"}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Message::State(json!({"type":"STATE","state":{"type":"STREAM"}}))
        );
        assert_eq!(
            parse(Dialect::Singer, br#"{"type":"SCHEMA"}"#).unwrap(),
            Message::Other
        );
        assert!(
            parse(
                Dialect::Airbyte,
                br#"{"type":"RECORD","record":{"data":{}}}"#
            )
            .is_err()
        );
        assert!(parse(Dialect::Airbyte, b"nope").is_err());
    }

    #[test]
    fn routes_come_from_the_streams_map() {
        let cfg = DestinationConfig::from_value(json!({
            "base_url": "http://127.0.0.1:1",
            "streams": {"people": {"object": "users", "op": "upsert", "options": {"merge_nested_objects": true}}}
        }))
        .unwrap();
        assert!(!cfg.connector.json.contains("streams"));
        let r = cfg.route("people");
        assert_eq!((r.object.as_str(), r.op.as_str()), ("users", "upsert"));
        assert_eq!(
            r.options.as_deref(),
            Some(r#"{"merge_nested_objects":true}"#)
        );
        assert_eq!(cfg.route("events").object, "events");
        let e = DestinationConfig::from_value(json!({"streams": {"x": {"objekt": "users"}}}))
            .err()
            .unwrap();
        assert!(e.to_string().contains("objekt"), "{e}");
    }
}
