//! Files in, messages out: config/catalog/state parsing and the Airbyte and
//! Singer writers. One JSON object per line on stdout.
//!
//! Records are never re-parsed: each NDJSON line of a batch is spliced into
//! the message envelope as is.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::Error;
use crate::driver::Output;
use crate::runtime::{
    Checkpoint, LogLevel, LogMessage, RecordBatch, StreamDescriptor, StreamSelection, now_ms,
};

/// A config file made ready for the component: the API key is taken out
/// (the host adds the header itself, so the secret never enters the
/// component or any message).
pub struct LoadedConfig {
    /// Config JSON without `api_key`.
    pub json: String,
    pub value: Value,
    pub api_key: Option<Arc<str>>,
}

pub fn read_json_file(path: &Path, what: &str) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read {what} file {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{what} file {} is not valid JSON: {e}",
            path.display()
        ))
    })
}

/// Reads a config file; `ITERABLE_API_KEY` fills in a missing `api_key`.
pub fn load_config(path: &Path) -> Result<LoadedConfig, Error> {
    config_from_value(read_json_file(path, "config")?)
}

pub fn config_from_value(mut value: Value) -> Result<LoadedConfig, Error> {
    let obj = value
        .as_object_mut()
        .ok_or_else(|| Error::Usage("the config must be a JSON object".into()))?;
    let key = match obj.remove("api_key") {
        Some(Value::String(k)) if !k.is_empty() => Some(k),
        Some(Value::Null) | None => None,
        Some(Value::String(_)) => None,
        Some(_) => return Err(Error::Usage("config field api_key must be a string".into())),
    }
    .or_else(|| {
        std::env::var("ITERABLE_API_KEY")
            .ok()
            .filter(|k| !k.is_empty())
    });
    if let Some(k) = &key {
        crate::redact::register(k);
        if k.chars().any(char::is_control) || k.trim() != k {
            return Err(Error::Usage(
                "config field api_key (or ITERABLE_API_KEY) contains a line break, a tab or surrounding spaces; copy the key again without them".into(),
            ));
        }
    }
    crate::KEY_GIVEN.store(key.is_some(), std::sync::atomic::Ordering::Relaxed);
    Ok(LoadedConfig {
        json: value.to_string(),
        value,
        api_key: key.map(Arc::from),
    })
}

/// Airbyte's ConfiguredAirbyteCatalog → selections.
pub fn airbyte_selection(catalog: &Value) -> Result<Vec<StreamSelection>, Error> {
    let streams = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Usage("catalog: expected {\"streams\": [...]}".into()))?;
    let mut out = Vec::new();
    for (i, s) in streams.iter().enumerate() {
        let name = s
            .pointer("/stream/name")
            .or_else(|| s.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Usage(format!("catalog: streams[{i}].stream.name is missing")))?;
        let incremental = match s.get("sync_mode").and_then(Value::as_str) {
            Some("incremental") => true,
            Some("full_refresh") | None => false,
            Some(other) => {
                return Err(Error::Usage(format!(
                    "catalog: streams[{i}].sync_mode \"{other}\" is not incremental or full_refresh"
                )));
            }
        };
        out.push(StreamSelection {
            name: name.to_string(),
            incremental,
        });
    }
    if out.is_empty() {
        return Err(Error::Usage("catalog: no stream is selected".into()));
    }
    Ok(out)
}

/// Singer catalog → selections: streams marked selected (top level or in the
/// `[]` breadcrumb metadata); all streams when none is marked.
pub fn singer_selection(catalog: &Value) -> Result<Vec<StreamSelection>, Error> {
    let streams = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Usage("catalog: expected {\"streams\": [...]}".into()))?;
    let root_meta = |s: &Value| -> Option<Map<String, Value>> {
        s.get("metadata")?.as_array()?.iter().find_map(|m| {
            let crumb = m.get("breadcrumb")?.as_array()?;
            if crumb.is_empty() {
                m.get("metadata")?.as_object().cloned()
            } else {
                None
            }
        })
    };
    let mut marked = false;
    let mut all = Vec::new();
    let mut selected = Vec::new();
    for (i, s) in streams.iter().enumerate() {
        let name = s
            .get("tap_stream_id")
            .or_else(|| s.get("stream"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::Usage(format!("catalog: streams[{i}].tap_stream_id is missing"))
            })?;
        let meta = root_meta(s).unwrap_or_default();
        let sel = s
            .get("selected")
            .and_then(Value::as_bool)
            .or_else(|| meta.get("selected").and_then(Value::as_bool));
        let method = s
            .get("replication_method")
            .or_else(|| meta.get("replication-method"))
            .and_then(Value::as_str)
            .unwrap_or("INCREMENTAL");
        let selection = StreamSelection {
            name: name.to_string(),
            incremental: !method.eq_ignore_ascii_case("FULL_TABLE"),
        };
        marked |= sel.is_some();
        if sel == Some(true) {
            selected.push(selection.clone());
        }
        all.push(selection);
    }
    let out = if marked { selected } else { all };
    if out.is_empty() {
        return Err(Error::Usage("catalog: no stream is selected".into()));
    }
    Ok(out)
}

/// Any state we accept → `{"streams": {name: state}}`:
/// an Airbyte per-stream state list, a single Airbyte state message,
/// Airbyte LEGACY `{"data": ...}`, Singer `{"bookmarks": ...}`, our own
/// `{"streams": ...}`, or a plain `{name: state}` object.
pub fn normalize_state(value: &Value) -> Result<BTreeMap<String, Value>, Error> {
    let mut out = BTreeMap::new();
    let bad = |m: &str| Error::Usage(format!("state: {m}"));
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                add_airbyte_message(item, &mut out).map_err(|m| bad(&format!("[{i}]: {m}")))?;
            }
        }
        Value::Object(obj) => {
            if obj.get("type").is_some() {
                add_airbyte_message(value, &mut out).map_err(|m| bad(&m))?;
            } else {
                let inner = ["streams", "bookmarks", "data"]
                    .iter()
                    .find_map(|k| obj.get(*k).and_then(Value::as_object))
                    .unwrap_or(obj);
                for (k, v) in inner {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        _ => return Err(bad("must be a JSON array or object")),
    }
    Ok(out)
}

fn add_airbyte_message(item: &Value, out: &mut BTreeMap<String, Value>) -> Result<(), String> {
    let item = item.get("state").unwrap_or(item);
    match item.get("type").and_then(Value::as_str) {
        Some("STREAM") | None => {
            let s = item
                .get("stream")
                .ok_or("a STREAM state needs \"stream\"")?;
            let name = s
                .pointer("/stream_descriptor/name")
                .and_then(Value::as_str)
                .ok_or("stream.stream_descriptor.name is missing")?;
            let st = s.get("stream_state").cloned().unwrap_or(Value::Null);
            if !st.is_null() {
                out.insert(name.to_string(), st);
            }
            Ok(())
        }
        Some("LEGACY") => {
            if let Some(data) = item.get("data").and_then(Value::as_object) {
                let inner = data
                    .get("streams")
                    .and_then(Value::as_object)
                    .unwrap_or(data);
                for (k, v) in inner {
                    out.insert(k.clone(), v.clone());
                }
            }
            Ok(())
        }
        Some(other) => Err(format!(
            "state type {other} is not supported (use per-stream STREAM states)"
        )),
    }
}

pub fn state_json(states: &BTreeMap<String, Value>) -> Option<String> {
    (!states.is_empty()).then(|| json!({ "streams": states }).to_string())
}

// ------------------------------------------------------------------ writers

pub fn level(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Debug => "DEBUG",
        LogLevel::Info => "INFO",
        LogLevel::Warn => "WARN",
        LogLevel::Error => "ERROR",
    }
}

/// NDJSON lines of a batch (each a complete JSON object).
pub fn lines(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    payload
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

fn state_value(cp: &Checkpoint) -> Value {
    serde_json::from_str(&cp.state_json).unwrap_or(Value::Null)
}

/// A log message as one line of text: `LEVEL [stream] message`.
pub fn log_line(m: &LogMessage) -> String {
    format!("{} {}", level(m.level), log_text(m))
}

fn log_text(m: &LogMessage) -> String {
    let text = match &m.stream {
        Some(s) => format!("[{s}] {}", m.message),
        None => m.message.clone(),
    };
    crate::redact::scrub(&text).into_owned()
}

/// Per-stream counts kept by every writer.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub records: BTreeMap<String, u64>,
    pub requests: BTreeMap<String, u64>,
    /// Latest committed state per stream.
    pub states: BTreeMap<String, Value>,
}

pub fn airbyte_log(w: &mut dyn Write, lvl: &str, message: &str) -> Result<(), Error> {
    let message = crate::redact::scrub(message);
    let m = json!({"type": "LOG", "log": {"level": lvl, "message": message}});
    writeln!(w, "{m}").map_err(Error::io)
}

/// Airbyte TRACE error + its failure type.
pub fn airbyte_error(w: &mut dyn Write, e: &Error) -> Result<(), Error> {
    let mut error = json!({
        "message": e.to_string(),
        "internal_message": e.to_string(),
        "failure_type": if e.is_config_error() { "config_error" } else { "system_error" },
    });
    if let Error::Connector(c) = e
        && let Some(s) = &c.stream
    {
        error["stream_descriptor"] = json!({"name": s});
    }
    let m = json!({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error}});
    writeln!(w, "{m}").map_err(Error::io)?;
    w.flush().map_err(Error::io)
}

/// Airbyte RECORD / STATE / LOG messages.
pub struct AirbyteWriter<W: Write> {
    pub w: W,
    pub tally: Tally,
}

impl<W: Write> AirbyteWriter<W> {
    pub fn new(w: W) -> Self {
        AirbyteWriter {
            w,
            tally: Tally::default(),
        }
    }
}

impl<W: Write> Output for AirbyteWriter<W> {
    fn flush(&mut self) -> Result<(), Error> {
        self.w.flush().map_err(|e| Error::Io(e.to_string()))
    }

    fn emit(&mut self, batch: RecordBatch) -> Result<(), Error> {
        let head = format!(
            "{{\"type\":\"RECORD\",\"record\":{{\"stream\":{},\"data\":",
            Value::String(batch.stream.clone())
        );
        let tail = format!(",\"emitted_at\":{}}}}}\n", now_ms());
        let mut n = 0;
        for line in lines(&batch.payload) {
            self.w.write_all(head.as_bytes()).map_err(Error::io)?;
            self.w.write_all(line).map_err(Error::io)?;
            self.w.write_all(tail.as_bytes()).map_err(Error::io)?;
            n += 1;
        }
        *self.tally.records.entry(batch.stream).or_default() += n;
        Ok(())
    }

    fn commit(&mut self, cp: Checkpoint) -> Result<(), Error> {
        let state = state_value(&cp);
        let m = json!({"type": "STATE", "state": {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": cp.stream}, "stream_state": state}}});
        writeln!(self.w, "{m}").map_err(Error::io)?;
        self.w.flush().map_err(Error::io)?;
        self.tally.states.insert(cp.stream, state);
        Ok(())
    }

    fn log(&mut self, message: LogMessage) -> Result<(), Error> {
        airbyte_log(&mut self.w, level(message.level), &log_text(&message))
    }

    fn request(&mut self, r: &crate::runtime::HttpRequest) {
        *self.tally.requests.entry(r.stream.clone()).or_default() += 1;
    }
}

pub fn airbyte_spec(spec: &str) -> Value {
    let spec: Value = serde_json::from_str(spec).unwrap_or(Value::Null);
    json!({"type": "SPEC", "spec": {
        "documentationUrl": "https://api.iterable.com/api/docs",
        "connectionSpecification": spec,
        "supportsIncremental": true,
        "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
    }})
}

pub fn airbyte_catalog(streams: &[StreamDescriptor]) -> Value {
    let streams: Vec<Value> = streams
        .iter()
        .map(|d| {
            let mut s = json!({
                "name": d.name,
                "json_schema": serde_json::from_str::<Value>(&d.json_schema).unwrap_or(Value::Null),
                "supported_sync_modes": d.sync_modes,
                "source_defined_primary_key": d.primary_key,
            });
            if let Some(c) = &d.cursor_field {
                s["source_defined_cursor"] = json!(true);
                s["default_cursor_field"] = json!([c]);
            }
            s
        })
        .collect();
    json!({"type": "CATALOG", "catalog": {"streams": streams}})
}

/// Singer catalog (what `--discover` prints).
pub fn singer_catalog(streams: &[StreamDescriptor]) -> Value {
    let streams: Vec<Value> = streams
        .iter()
        .map(|d| {
            let keys: Vec<&str> = d
                .primary_key
                .iter()
                .filter_map(|p| p.first().map(String::as_str))
                .collect();
            let incremental = d.sync_modes.iter().any(|m| m == "incremental");
            let mut meta = json!({
                "table-key-properties": keys,
                "forced-replication-method": if incremental { "INCREMENTAL" } else { "FULL_TABLE" },
                "inclusion": "available",
            });
            if let Some(c) = &d.cursor_field {
                meta["valid-replication-keys"] = json!([c]);
            }
            if d.requires_user_filter {
                meta["iterable-requires-user-filter"] = json!(true);
            }
            json!({
                "tap_stream_id": d.name,
                "stream": d.name,
                "schema": serde_json::from_str::<Value>(&d.json_schema).unwrap_or(Value::Null),
                "key_properties": keys,
                "metadata": [{"breadcrumb": [], "metadata": meta}],
            })
        })
        .collect();
    json!({ "streams": streams })
}

/// Singer SCHEMA / RECORD / STATE messages.
pub struct SingerWriter<W: Write> {
    pub w: W,
    pub tally: Tally,
    /// Bookmarks so far (incoming state, then every commit).
    pub bookmarks: BTreeMap<String, Value>,
}

impl<W: Write> SingerWriter<W> {
    pub fn new(w: W, bookmarks: BTreeMap<String, Value>) -> Self {
        SingerWriter {
            w,
            tally: Tally::default(),
            bookmarks,
        }
    }

    pub fn schemas(&mut self, streams: &[StreamDescriptor]) -> Result<(), Error> {
        for d in streams {
            let keys: Vec<&str> = d
                .primary_key
                .iter()
                .filter_map(|p| p.first().map(String::as_str))
                .collect();
            let mut m = json!({
                "type": "SCHEMA",
                "stream": d.name,
                "schema": serde_json::from_str::<Value>(&d.json_schema).unwrap_or(Value::Null),
                "key_properties": keys,
            });
            if let Some(c) = &d.cursor_field {
                m["bookmark_properties"] = json!([c]);
            }
            writeln!(self.w, "{m}").map_err(Error::io)?;
        }
        Ok(())
    }
}

impl<W: Write> Output for SingerWriter<W> {
    fn flush(&mut self) -> Result<(), Error> {
        self.w.flush().map_err(|e| Error::Io(e.to_string()))
    }

    fn emit(&mut self, batch: RecordBatch) -> Result<(), Error> {
        let head = format!(
            "{{\"type\":\"RECORD\",\"stream\":{},\"record\":",
            Value::String(batch.stream.clone())
        );
        let mut n = 0;
        for line in lines(&batch.payload) {
            self.w.write_all(head.as_bytes()).map_err(Error::io)?;
            self.w.write_all(line).map_err(Error::io)?;
            self.w.write_all(b"}\n").map_err(Error::io)?;
            n += 1;
        }
        *self.tally.records.entry(batch.stream).or_default() += n;
        Ok(())
    }

    fn commit(&mut self, cp: Checkpoint) -> Result<(), Error> {
        let state = state_value(&cp);
        self.bookmarks.insert(cp.stream.clone(), state.clone());
        self.tally.states.insert(cp.stream, state);
        let m = json!({"type": "STATE", "value": {"bookmarks": self.bookmarks}});
        writeln!(self.w, "{m}").map_err(Error::io)?;
        self.w.flush().map_err(Error::io)
    }

    fn log(&mut self, message: LogMessage) -> Result<(), Error> {
        // Singer taps log to stderr; stdout is for messages only.
        eprintln!("{} {}", level(message.level), log_text(&message));
        Ok(())
    }

    fn request(&mut self, r: &crate::runtime::HttpRequest) {
        *self.tally.requests.entry(r.stream.clone()).or_default() += 1;
    }
}
