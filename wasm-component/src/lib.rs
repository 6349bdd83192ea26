//! The connector core as a WASI 0.2 component: wit-bindgen glue only.
//!
//! One artifact serves both worlds of `wit/worlds.wit`: it is built for
//! `connector-wasi-http`, which includes `connector` (the sans-IO `source`
//! interface) and adds `runner`, a self-driving sync over wasi:http (via the
//! `waki` crate) that hands its output to the imported `sink` and reads time
//! from the imported `clock`. A host that only drives `source` may link
//! those imports as traps: the sans-IO path never calls them.
//!
//! No panic may cross the boundary (wasm32 is `panic=abort`, so there is no
//! `catch_unwind`): every input is parsed fallibly and every failure becomes
//! a `connector-error`.

use std::cell::RefCell;

use connector_core::{
    Action, Checkpoint, Config, ConnectorError, ErrorKind, HttpRequest, Method, ReadSession,
    RecordBatch, StreamSelection, Summary, TransportErrorKind, WorkUnit,
};
use connector_core::{LogLevel, LogMessage, StreamSummary};
use serde_json::Value;

mod csv;
mod query;
mod writer;

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "connector-wasi-http",
        generate_all,
    });
}

use bindings::exports::iterable_connector::source::{runner, source};
use bindings::iterable_connector::source::types as wit;
use bindings::iterable_connector::source::{clock, sink};

pub(crate) struct Component;

bindings::export!(Component with_types_in bindings);

// ---------------------------------------------------------------- conversions

fn error_kind(kind: ErrorKind) -> wit::ErrorKind {
    match kind {
        ErrorKind::InvalidConfig => wit::ErrorKind::InvalidConfig,
        ErrorKind::InvalidInput => wit::ErrorKind::InvalidInput,
        ErrorKind::Unauthorized => wit::ErrorKind::Unauthorized,
        ErrorKind::Forbidden => wit::ErrorKind::Forbidden,
        ErrorKind::RateLimited => wit::ErrorKind::RateLimited,
        ErrorKind::Upstream => wit::ErrorKind::Upstream,
        ErrorKind::MalformedResponse => wit::ErrorKind::MalformedResponse,
        ErrorKind::ProtocolMisuse => wit::ErrorKind::ProtocolMisuse,
        ErrorKind::Internal => wit::ErrorKind::Internal,
    }
}

pub(crate) fn error(e: ConnectorError) -> wit::ConnectorError {
    wit::ConnectorError {
        kind: error_kind(e.kind),
        message: e.message,
        field: e.field,
        stream: e.stream,
        status: e.status,
        code: e.code,
        retryable: e.retryable,
        retry_after_ms: e.retry_after_ms,
    }
}

fn method(m: Method) -> wit::HttpMethod {
    match m {
        Method::Get => wit::HttpMethod::Get,
        Method::Post => wit::HttpMethod::Post,
        Method::Put => wit::HttpMethod::Put,
        Method::Patch => wit::HttpMethod::Patch,
        Method::Delete => wit::HttpMethod::Delete,
    }
}

pub(crate) fn request(r: HttpRequest) -> wit::HttpRequest {
    wit::HttpRequest {
        id: r.id,
        method: method(r.method),
        url: r.url,
        headers: r.headers,
        body: r.body,
        needs_auth: r.needs_auth,
        stream: r.stream,
    }
}

/// Records as NDJSON bytes: one object per line, each line ending in `\n`.
fn batch(b: RecordBatch) -> wit::RecordBatch {
    // The core's batches already are NDJSON: handed over as they are.
    wit::RecordBatch {
        rows: u32::try_from(b.len()).unwrap_or(u32::MAX),
        stream: b.stream.clone(),
        encoding: wit::BatchEncoding::Ndjson,
        payload: b.into_ndjson().into_bytes(),
    }
}

fn checkpoint(c: Checkpoint) -> wit::Checkpoint {
    wit::Checkpoint {
        stream: c.stream,
        state_json: c.state.to_string(),
    }
}

pub(crate) fn log(l: LogMessage) -> wit::LogMessage {
    wit::LogMessage {
        level: match l.level {
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        },
        message: l.message,
        stream: l.stream,
    }
}

fn summary(s: Summary) -> wit::Summary {
    wit::Summary {
        streams: s
            .streams
            .into_iter()
            .map(|s: StreamSummary| {
                // Destructured without `..`: a field the core adds fails
                // this build until the WIT carries it too.
                let StreamSummary {
                    stream,
                    records,
                    requests,
                    retries,
                    skipped_lines,
                    skipped_units,
                } = s;
                wit::StreamSummary {
                    stream,
                    records,
                    requests,
                    retries,
                    skipped_lines,
                    skipped_units,
                }
            })
            .collect(),
    }
}

pub(crate) fn action(a: Action) -> Result<wit::Action, ConnectorError> {
    Ok(match a {
        Action::Fetch(r) => wit::Action::Fetch(request(r)),
        Action::Emit(b) => wit::Action::Emit(batch(b)),
        Action::Commit(c) => wit::Action::Commit(checkpoint(c)),
        Action::SleepUntil(t) => wit::Action::SleepUntil(t),
        Action::AwaitResponse => wit::Action::AwaitResponse,
        Action::Log(l) => wit::Action::Log(log(l)),
        Action::Done(s) => wit::Action::Done(summary(s)),
    })
}

pub(crate) fn transport_kind(k: wit::TransportErrorKind) -> TransportErrorKind {
    match k {
        wit::TransportErrorKind::Connect => TransportErrorKind::Connect,
        wit::TransportErrorKind::Timeout => TransportErrorKind::Timeout,
        wit::TransportErrorKind::BodyCut => TransportErrorKind::BodyCut,
        wit::TransportErrorKind::Other => TransportErrorKind::Other,
    }
}

pub(crate) fn parse_json(field: &str, text: &str) -> Result<Value, ConnectorError> {
    serde_json::from_str(text)
        .map_err(|e| ConnectorError::config(field, format!("is not valid JSON: {e}")))
}

pub(crate) fn config(config_json: &str) -> Result<Config, ConnectorError> {
    Config::from_json(&parse_json("config", config_json)?)
}

fn open(
    config_json: &str,
    streams: Vec<wit::StreamSelection>,
    state_json: Option<String>,
) -> Result<ReadSession, ConnectorError> {
    open_with(config_json, streams, state_json, ReadSession::open)
}

/// Parses a session's arguments and opens it with `how` (`open` or `plan`).
fn open_with(
    config_json: &str,
    streams: Vec<wit::StreamSelection>,
    state_json: Option<String>,
    how: fn(
        Config,
        &[StreamSelection],
        &connector_core::SessionState,
    ) -> Result<ReadSession, ConnectorError>,
) -> Result<ReadSession, ConnectorError> {
    let config = config(config_json)?;
    let state = match state_json.as_deref().map(str::trim) {
        None | Some("") => Default::default(),
        Some(text) => connector_core::session_state_from_json(&parse_json("state", text)?)?,
    };
    let selection: Vec<StreamSelection> = streams
        .into_iter()
        .map(|s| StreamSelection {
            name: s.name,
            incremental: s.incremental,
        })
        .collect();
    how(config, &selection, &state)
}

// ------------------------------------------------------------------- source

impl source::Guest for Component {
    type ReadSession = Session;

    fn version() -> String {
        connector_core::VERSION.to_string()
    }

    fn spec() -> String {
        connector_core::spec().to_string()
    }

    fn validate_config(config_json: String) -> Result<(), wit::ConnectorError> {
        config(&config_json).map(|_| ()).map_err(error)
    }

    fn discover(
        config_json: String,
        user_fields_json: Option<String>,
    ) -> Result<Vec<wit::StreamDescriptor>, wit::ConnectorError> {
        let config = config(&config_json).map_err(error)?;
        let fields = match user_fields_json {
            Some(text) => Some(parse_json("user_fields", &text).map_err(error)?),
            None => None,
        };
        Ok(connector_core::discover(&config, fields.as_ref())
            .into_iter()
            .map(|d| wit::StreamDescriptor {
                name: d.name,
                json_schema: d.json_schema.to_string(),
                primary_key: d.primary_key,
                cursor_field: d.cursor_field,
                sync_modes: d.sync_modes,
                requires_user_filter: d.requires_user_filter,
            })
            .collect())
    }

    fn check_request(config_json: String) -> Result<wit::HttpRequest, wit::ConnectorError> {
        let config = config(&config_json).map_err(error)?;
        Ok(request(connector_core::check_request(&config)))
    }

    fn check_response(status: u16, body: Vec<u8>) -> Result<(), wit::ConnectorError> {
        connector_core::check_response(status, &body).map_err(error)
    }

    fn user_fields_request(config_json: String) -> Result<wit::HttpRequest, wit::ConnectorError> {
        let config = config(&config_json).map_err(error)?;
        Ok(request(connector_core::user_fields_request(&config)))
    }

    fn user_fields_response(status: u16, body: Vec<u8>) -> Result<String, wit::ConnectorError> {
        connector_core::user_fields_response(status, &body)
            .map(|v| v.to_string())
            .map_err(error)
    }
}

/// A read session behind a WIT resource handle. Methods take `&self`, so the
/// core session sits in a `RefCell`; calls never re-enter.
pub struct Session(RefCell<ReadSession>);

impl Session {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut ReadSession) -> Result<T, ConnectorError>,
    ) -> Result<T, wit::ConnectorError> {
        match self.0.try_borrow_mut() {
            Ok(mut s) => f(&mut s).map_err(error),
            Err(_) => Err(error(ConnectorError::misuse(
                "read-session called re-entrantly",
            ))),
        }
    }
}

impl source::GuestReadSession for Session {
    fn open(
        config_json: String,
        streams: Vec<wit::StreamSelection>,
        state_json: Option<String>,
    ) -> Result<source::ReadSession, wit::ConnectorError> {
        let session = open(&config_json, streams, state_json).map_err(error)?;
        Ok(source::ReadSession::new(Session(RefCell::new(session))))
    }

    fn plan(
        config_json: String,
        streams: Vec<wit::StreamSelection>,
        state_json: Option<String>,
    ) -> Result<source::ReadSession, wit::ConnectorError> {
        let session =
            open_with(&config_json, streams, state_json, ReadSession::plan).map_err(error)?;
        Ok(source::ReadSession::new(Session(RefCell::new(session))))
    }

    fn open_unit(
        config_json: String,
        unit_json: String,
    ) -> Result<source::ReadSession, wit::ConnectorError> {
        let open = || {
            let config = config(&config_json)?;
            let unit = WorkUnit::from_json(&parse_json("unit", &unit_json)?)?;
            ReadSession::open_unit(config, &unit)
        };
        let session = open().map_err(error)?;
        Ok(source::ReadSession::new(Session(RefCell::new(session))))
    }

    fn take_units(&self) -> Vec<String> {
        self.with(|s| {
            Ok(s.take_units()
                .iter()
                .map(|u| u.to_json().to_string())
                .collect())
        })
        .unwrap_or_default()
    }

    fn planned_state(&self) -> String {
        self.with(|s| Ok(Value::Object(s.planned_state().into_iter().collect()).to_string()))
            .unwrap_or_else(|_| "{}".to_string())
    }

    fn max_in_flight(&self) -> u32 {
        self.0
            .try_borrow()
            .map(|s| u32::try_from(s.max_in_flight()).unwrap_or(u32::MAX))
            .unwrap_or(1)
    }

    fn poll(&self, now_ms: i64) -> Result<wit::Action, wit::ConnectorError> {
        self.with(|s| action(s.poll(now_ms)?))
    }

    fn on_response_head(
        &self,
        now_ms: i64,
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.on_response_head(now_ms, id, status, &headers))
    }

    fn on_response_body(
        &self,
        now_ms: i64,
        id: u64,
        chunk: Vec<u8>,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.on_response_body(now_ms, id, &chunk))
    }

    fn on_response_end(&self, now_ms: i64, id: u64) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.on_response_end(now_ms, id))
    }

    fn on_transport_error(
        &self,
        now_ms: i64,
        id: u64,
        kind: wit::TransportErrorKind,
    ) -> Result<(), wit::ConnectorError> {
        self.with(|s| s.on_transport_error(now_ms, id, transport_kind(kind)))
    }
}

// ------------------------------------------------------------------- runner

/// Bytes asked for per body read.
const CHUNK: u64 = 64 * 1024;

impl runner::Guest for Component {
    fn run(
        config_json: String,
        streams: Vec<wit::StreamSelection>,
        state_json: Option<String>,
        api_key: Option<String>,
    ) -> Result<wit::Summary, wit::ConnectorError> {
        let mut session = open(&config_json, streams, state_json).map_err(error)?;
        let key = api_key.or_else(|| {
            session
                .config()
                .api_key
                .as_ref()
                .map(|k| k.expose().to_string())
        });
        loop {
            match session.poll(clock::now_ms()).map_err(error)? {
                Action::Fetch(req) => fetch(&mut session, req, key.as_deref()).map_err(error)?,
                Action::Emit(b) => sink::emit(&batch(b)),
                Action::Commit(c) => sink::commit(&checkpoint(c)),
                Action::SleepUntil(t) => clock::sleep_until(t),
                Action::AwaitResponse => {
                    return Err(error(ConnectorError::misuse(
                        "runner: await-response with nothing in flight",
                    )));
                }
                Action::Log(l) => sink::log(&log(l)),
                Action::Done(s) => return Ok(summary(s)),
            }
        }
    }
}

/// Sends one request through wasi:http and feeds the reply to the session.
fn fetch(
    session: &mut ReadSession,
    req: HttpRequest,
    key: Option<&str>,
) -> Result<(), ConnectorError> {
    use waki::header::{HeaderName, HeaderValue};

    let id = req.id;
    let m = match req.method {
        Method::Get => waki::Method::Get,
        Method::Post => waki::Method::Post,
        Method::Put => waki::Method::Put,
        Method::Patch => waki::Method::Patch,
        Method::Delete => waki::Method::Delete,
    };
    let mut headers = Vec::with_capacity(req.headers.len() + 1);
    for (k, v) in &req.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.push((k, v));
        }
    }
    if req.needs_auth {
        let key = key.ok_or_else(|| {
            ConnectorError::config("api_key", "is required: pass it in the config or to run()")
        })?;
        let value = HeaderValue::from_str(key)
            .map_err(|_| ConnectorError::config("api_key", "contains invalid characters"))?;
        headers.push((HeaderName::from_static("api-key"), value));
    }
    let mut builder = waki::Client::new()
        .request(m, &req.url)
        .headers(headers)
        .connect_timeout(std::time::Duration::from_secs(30));
    if let Some(body) = req.body {
        builder = builder.body(body);
    }
    let response = match builder.send() {
        Ok(r) => r,
        Err(_) => {
            return session.on_transport_error(clock::now_ms(), id, TransportErrorKind::Connect);
        }
    };
    let head: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    session.on_response_head(clock::now_ms(), id, response.status_code(), &head)?;
    loop {
        match response.chunk(CHUNK) {
            Ok(Some(chunk)) => session.on_response_body(clock::now_ms(), id, &chunk)?,
            Ok(None) => return session.on_response_end(clock::now_ms(), id),
            Err(_) => {
                return session.on_transport_error(
                    clock::now_ms(),
                    id,
                    TransportErrorKind::BodyCut,
                );
            }
        }
    }
}
