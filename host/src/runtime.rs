//! Loading the component and calling it: one [`Connector`] (engine + compiled
//! component + linker) per process, one [`Instance`] (store + bindings) per
//! job.
//!
//! The component is built for the `connector-wasi-http` world. This host
//! drives its sans-IO `source` interface and does the HTTP itself; the
//! `runner` export (a whole sync over wasi:http inside the component) is
//! reachable through [`Instance::run_self_driving`].

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::component::{Component, HasSelf, Linker, ResourceAny, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::Error;

mod bindings {
    // The component's own world imports wasi:http too; the linker provides
    // that from wasmtime-wasi-http. Bindings are generated for just the
    // interfaces this host implements or calls.
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "
            package iterable-connector:host;
            world host {
                import iterable-connector:source/sink@0.1.0;
                import iterable-connector:source/clock@0.1.0;
                export iterable-connector:source/source@0.1.0;
                export iterable-connector:source/writer@0.1.0;
                export iterable-connector:source/query@0.1.0;
                export iterable-connector:source/csv@0.1.0;
                export iterable-connector:source/runner@0.1.0;
            }
        ",
        world: "iterable-connector:host/host",
        imports: { default: async },
        exports: { default: async },
        require_store_data_send: true,
    });
}

use bindings::Host_ as ConnectorWasiHttp;
pub use bindings::exports::iterable_connector::source::query::{
    ExplainStep, SelectPlan, SqlPlan, SqlWrite,
};
pub use bindings::exports::iterable_connector::source::writer::{
    RowResult, RowStatus, WriteAction, WriteCheckpoint, WriteSummary, WriteTarget,
};
pub use bindings::iterable_connector::source::types::{
    Action, BatchEncoding, Checkpoint, ConnectorError, ErrorKind, HttpMethod, HttpRequest,
    LogLevel, LogMessage, RecordBatch, StreamDescriptor, StreamSelection, StreamSummary, Summary,
    TransportErrorKind,
};

/// Where the built component is looked for when neither `--component` nor
/// `CONNECTOR_WASM` says otherwise.
pub const WASM_NAME: &str = "wasm_component.wasm";
/// What to tell a user whose component is missing.
pub const BUILD_HINT: &str = "build the wasm first: cargo build -p wasm-component --target wasm32-wasip2 --profile wasm-release";

/// Finds the component: `explicit`, else `$CONNECTOR_WASM`, else next to the
/// executable, else `target/wasm32-wasip2/{wasm-release,release}/` from the
/// working directory or the executable's workspace.
pub fn locate_component(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(p) = explicit {
        return exists(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CONNECTOR_WASM").filter(|p| !p.is_empty()) {
        return exists(PathBuf::from(p));
    }
    let mut candidates = Vec::new();
    let exe = std::env::current_exe().ok();
    if let Some(dir) = exe.as_ref().and_then(|e| e.parent()) {
        candidates.push(dir.join(WASM_NAME));
        candidates.push(dir.join("iterable_connector.wasm"));
        // target/<profile>/iterable-connector → target/wasm32-wasip2/...
        for up in dir.ancestors().take(4) {
            for profile in ["wasm-release", "release"] {
                candidates.push(up.join("wasm32-wasip2").join(profile).join(WASM_NAME));
            }
        }
    }
    for profile in ["wasm-release", "release"] {
        candidates.push(
            PathBuf::from("target/wasm32-wasip2")
                .join(profile)
                .join(WASM_NAME),
        );
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Setup(format!("no connector component found; {BUILD_HINT}")))
}

fn exists(p: PathBuf) -> Result<PathBuf, Error> {
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::Setup(format!(
            "component {} not found; {BUILD_HINT}",
            p.display()
        )))
    }
}

/// An engine, the compiled component and a linker with every import the
/// component may use. Cheap to clone; compile once per process.
#[derive(Clone)]
pub struct Connector {
    engine: Engine,
    component: Component,
    linker: std::sync::Arc<Linker<HostState>>,
}

/// How [`Connector::load`] got its compiled code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    Compiled,
    Cache,
}

impl Connector {
    /// Compiles (or loads from the cache dir) the component at `path`.
    pub fn load(path: &Path) -> Result<(Connector, LoadedFrom), Error> {
        let wasm = std::fs::read(path).map_err(|e| {
            Error::Setup(format!("cannot read {}: {e}; {BUILD_HINT}", path.display()))
        })?;
        let engine = new_engine()?;
        let (component, from) = compile_cached(&engine, &wasm)?;
        Ok((Connector::from_parts(engine, component)?, from))
    }

    /// Wraps an already compiled component.
    pub fn from_parts(engine: Engine, component: Component) -> Result<Connector, Error> {
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(Error::runtime)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(Error::runtime)?;
        bindings::iterable_connector::source::sink::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(Error::runtime)?;
        bindings::iterable_connector::source::clock::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(Error::runtime)?;
        Ok(Connector {
            engine,
            component,
            linker: std::sync::Arc::new(linker),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn component(&self) -> &Component {
        &self.component
    }

    /// A fresh store and instance. The guest gets stderr (for a panic
    /// message) and nothing else: no env, args, files or sockets.
    pub async fn instantiate(&self) -> Result<Instance, Error> {
        let mut store = Store::new(&self.engine, HostState::new());
        let bindings =
            ConnectorWasiHttp::instantiate_async(&mut store, &self.component, &self.linker)
                .await
                .map_err(Error::runtime)?;
        Ok(Instance { store, bindings })
    }

    /// Instantiates with `linker` instead of the full one (tests: traps).
    pub async fn instantiate_with(&self, linker: &Linker<HostState>) -> Result<Instance, Error> {
        let mut store = Store::new(&self.engine, HostState::new());
        let bindings = ConnectorWasiHttp::instantiate_async(&mut store, &self.component, linker)
            .await
            .map_err(Error::runtime)?;
        Ok(Instance { store, bindings })
    }
}

/// The engine every host of ours uses (async support for wasi:http).
pub fn new_engine() -> Result<Engine, Error> {
    let config = wasmtime::Config::new();
    Engine::new(&config).map_err(Error::runtime)
}

/// Compiles `wasm`, reusing a serialized copy from the cache directory when
/// one was written by the same wasmtime for the same bytes. Cache problems
/// are never fatal: the component is compiled instead.
pub fn compile_cached(engine: &Engine, wasm: &[u8]) -> Result<(Component, LoadedFrom), Error> {
    let file = cache_dir().map(|dir| {
        let mut h = std::hash::DefaultHasher::new();
        wasm.hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        dir.join(format!("component-{:016x}.cwasm", h.finish()))
    });
    if let Some(file) = &file
        && file.is_file()
    {
        // SAFETY: the file was written by `Component::serialize` of this
        // program into our own cache directory, and wasmtime checks that it
        // was produced by a compatible engine before using it.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, file) } {
            return Ok((c, LoadedFrom::Cache));
        }
    }
    let component = Component::new(engine, wasm).map_err(Error::runtime)?;
    if let (Some(file), Ok(bytes)) = (&file, component.serialize()) {
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, file);
        }
    }
    Ok((component, LoadedFrom::Compiled))
}

/// `$CONNECTOR_CACHE_DIR` (empty = off), else `$XDG_CACHE_HOME` or
/// `~/.cache`, + `iterable-connector`.
fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("CONNECTOR_CACHE_DIR") {
        return (!d.is_empty()).then(|| PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("iterable-connector"))
}

/// What a self-driving `runner` sync hands back through the `sink` import.
pub trait RunnerSink: Send {
    fn emit(&mut self, batch: RecordBatch);
    fn commit(&mut self, checkpoint: Checkpoint);
    fn log(&mut self, message: LogMessage);
}

/// The store's data: WASI contexts and the `sink`/`clock` the runner uses.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    /// Output of `runner.run`; `None` outside such a run.
    pub sink: Option<Box<dyn RunnerSink>>,
}

impl HostState {
    fn new() -> Self {
        HostState {
            wasi: WasiCtxBuilder::new().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            sink: None,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

impl bindings::iterable_connector::source::types::Host for HostState {}

impl bindings::iterable_connector::source::sink::Host for HostState {
    async fn emit(&mut self, batch: RecordBatch) {
        if let Some(s) = self.sink.as_mut() {
            s.emit(batch);
        }
    }

    async fn commit(&mut self, checkpoint: Checkpoint) {
        if let Some(s) = self.sink.as_mut() {
            s.commit(checkpoint);
        }
    }

    async fn log(&mut self, message: LogMessage) {
        if let Some(s) = self.sink.as_mut() {
            s.log(message);
        }
    }
}

impl bindings::iterable_connector::source::clock::Host for HostState {
    async fn now_ms(&mut self) -> i64 {
        now_ms()
    }

    async fn sleep_until(&mut self, epoch_ms: i64) {
        let wait = epoch_ms.saturating_sub(now_ms());
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }
}

/// Wall clock, epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One instantiated component.
pub struct Instance {
    store: Store<HostState>,
    bindings: ConnectorWasiHttp,
}

type Call<T> = Result<T, Error>;

fn flat<T>(r: wasmtime::Result<Result<T, ConnectorError>>) -> Call<T> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Connector(e)),
        Err(trap) => Err(Error::runtime(trap)),
    }
}

impl Instance {
    pub async fn version(&mut self) -> Call<String> {
        let s = self.bindings.iterable_connector_source_source();
        s.call_version(&mut self.store)
            .await
            .map_err(Error::runtime)
    }

    pub async fn spec(&mut self) -> Call<String> {
        let s = self.bindings.iterable_connector_source_source();
        s.call_spec(&mut self.store).await.map_err(Error::runtime)
    }

    pub async fn validate_config(&mut self, config: &str) -> Call<()> {
        let s = self.bindings.iterable_connector_source_source();
        flat(s.call_validate_config(&mut self.store, config).await)
    }

    pub async fn discover(
        &mut self,
        config: &str,
        user_fields: Option<&str>,
    ) -> Call<Vec<StreamDescriptor>> {
        let s = self.bindings.iterable_connector_source_source();
        flat(s.call_discover(&mut self.store, config, user_fields).await)
    }

    pub async fn check_request(&mut self, config: &str) -> Call<HttpRequest> {
        let s = self.bindings.iterable_connector_source_source();
        flat(s.call_check_request(&mut self.store, config).await)
    }

    pub async fn check_response(&mut self, status: u16, body: &[u8]) -> Call<()> {
        let s = self.bindings.iterable_connector_source_source();
        flat(s.call_check_response(&mut self.store, status, body).await)
    }

    pub async fn user_fields_request(&mut self, config: &str) -> Call<HttpRequest> {
        let s = self.bindings.iterable_connector_source_source();
        flat(s.call_user_fields_request(&mut self.store, config).await)
    }

    pub async fn user_fields_response(&mut self, status: u16, body: &[u8]) -> Call<String> {
        let s = self.bindings.iterable_connector_source_source();
        flat(
            s.call_user_fields_response(&mut self.store, status, body)
                .await,
        )
    }

    /// Opens a read session; `state` as `{"streams": {...}}` or `{stream: ...}`.
    pub async fn open(
        &mut self,
        config: &str,
        streams: &[StreamSelection],
        state: Option<&str>,
    ) -> Call<Session> {
        let rs = self
            .bindings
            .iterable_connector_source_source()
            .read_session();
        let handle = flat(rs.call_open(&mut self.store, config, streams, state).await)?;
        Ok(Session {
            handle,
            kind: Kind::Read,
        })
    }

    /// Opens a coordinator session (plans as data): export jobs are started
    /// and listed, their files handed out as work units (`take_units`).
    pub async fn plan(
        &mut self,
        config: &str,
        streams: &[StreamSelection],
        state: Option<&str>,
    ) -> Call<Session> {
        let rs = self
            .bindings
            .iterable_connector_source_source()
            .read_session();
        let handle = flat(rs.call_plan(&mut self.store, config, streams, state).await)?;
        Ok(Session {
            handle,
            kind: Kind::Read,
        })
    }

    /// Opens a worker session reading one unit (JSON from `take_units`).
    pub async fn open_unit(&mut self, config: &str, unit: &str) -> Call<Session> {
        let rs = self
            .bindings
            .iterable_connector_source_source()
            .read_session();
        let handle = flat(rs.call_open_unit(&mut self.store, config, unit).await)?;
        Ok(Session {
            handle,
            kind: Kind::Read,
        })
    }

    /// A coordinator session's units planned since the last call (JSON text each).
    pub async fn take_units(&mut self, s: &Session) -> Call<Vec<String>> {
        let rs = self
            .bindings
            .iterable_connector_source_source()
            .read_session();
        rs.call_take_units(&mut self.store, s.read()?)
            .await
            .map_err(Error::runtime)
    }

    /// A coordinator session's state to commit once every unit was read (JSON text).
    pub async fn planned_state(&mut self, s: &Session) -> Call<String> {
        let rs = self
            .bindings
            .iterable_connector_source_source()
            .read_session();
        rs.call_planned_state(&mut self.store, s.read()?)
            .await
            .map_err(Error::runtime)
    }

    pub async fn max_in_flight(&mut self, s: &Session) -> Call<u32> {
        let store = &mut self.store;
        match s.kind {
            Kind::Read => {
                let rs = self
                    .bindings
                    .iterable_connector_source_source()
                    .read_session();
                rs.call_max_in_flight(store, s.handle).await
            }
            Kind::Write => {
                let ws = self
                    .bindings
                    .iterable_connector_source_writer()
                    .write_session();
                ws.call_max_in_flight(store, s.handle).await
            }
            Kind::Query => {
                let qs = self
                    .bindings
                    .iterable_connector_source_query()
                    .query_session();
                qs.call_max_in_flight(store, s.handle).await
            }
        }
        .map_err(Error::runtime)
    }

    /// The next action of a read or query session.
    pub async fn poll(&mut self, s: &Session, now_ms: i64) -> Call<Action> {
        if s.kind == Kind::Query {
            let qs = self
                .bindings
                .iterable_connector_source_query()
                .query_session();
            return flat(qs.call_poll(&mut self.store, s.handle, now_ms).await);
        }
        let rs = self
            .bindings
            .iterable_connector_source_source()
            .read_session();
        flat(rs.call_poll(&mut self.store, s.read()?, now_ms).await)
    }

    /// Plans a SQL statement (`params`: a JSON object, or none).
    pub async fn plan_sql(
        &mut self,
        config: &str,
        sql: &str,
        params: Option<&str>,
        user_fields: Option<&str>,
    ) -> Call<SqlPlan> {
        let q = self.bindings.iterable_connector_source_query();
        flat(
            q.call_plan(&mut self.store, config, sql, params, user_fields, now_ms())
                .await,
        )
    }

    /// Opens a query session for a SELECT; poll it like a read session.
    pub async fn open_query(
        &mut self,
        config: &str,
        sql: &str,
        params: Option<&str>,
        user_fields: Option<&str>,
    ) -> Call<Session> {
        let qs = self
            .bindings
            .iterable_connector_source_query()
            .query_session();
        let handle = flat(
            qs.call_open(&mut self.store, config, sql, params, user_fields)
                .await,
        )?;
        Ok(Session {
            handle,
            kind: Kind::Query,
        })
    }

    pub async fn on_response_head(
        &mut self,
        s: &Session,
        id: u64,
        status: u16,
        headers: &[(String, String)],
    ) -> Call<()> {
        let now = now_ms();
        let store = &mut self.store;
        flat(match s.kind {
            Kind::Read => {
                let rs = self
                    .bindings
                    .iterable_connector_source_source()
                    .read_session();
                rs.call_on_response_head(store, s.handle, now, id, status, headers)
                    .await
            }
            Kind::Write => {
                let ws = self
                    .bindings
                    .iterable_connector_source_writer()
                    .write_session();
                ws.call_on_response_head(store, s.handle, now, id, status, headers)
                    .await
            }
            Kind::Query => {
                let qs = self
                    .bindings
                    .iterable_connector_source_query()
                    .query_session();
                qs.call_on_response_head(store, s.handle, now, id, status, headers)
                    .await
            }
        })
    }

    pub async fn on_response_body(&mut self, s: &Session, id: u64, chunk: &[u8]) -> Call<()> {
        let now = now_ms();
        let store = &mut self.store;
        flat(match s.kind {
            Kind::Read => {
                let rs = self
                    .bindings
                    .iterable_connector_source_source()
                    .read_session();
                rs.call_on_response_body(store, s.handle, now, id, chunk)
                    .await
            }
            Kind::Write => {
                let ws = self
                    .bindings
                    .iterable_connector_source_writer()
                    .write_session();
                ws.call_on_response_body(store, s.handle, now, id, chunk)
                    .await
            }
            Kind::Query => {
                let qs = self
                    .bindings
                    .iterable_connector_source_query()
                    .query_session();
                qs.call_on_response_body(store, s.handle, now, id, chunk)
                    .await
            }
        })
    }

    pub async fn on_response_end(&mut self, s: &Session, id: u64) -> Call<()> {
        let now = now_ms();
        let store = &mut self.store;
        flat(match s.kind {
            Kind::Read => {
                let rs = self
                    .bindings
                    .iterable_connector_source_source()
                    .read_session();
                rs.call_on_response_end(store, s.handle, now, id).await
            }
            Kind::Write => {
                let ws = self
                    .bindings
                    .iterable_connector_source_writer()
                    .write_session();
                ws.call_on_response_end(store, s.handle, now, id).await
            }
            Kind::Query => {
                let qs = self
                    .bindings
                    .iterable_connector_source_query()
                    .query_session();
                qs.call_on_response_end(store, s.handle, now, id).await
            }
        })
    }

    pub async fn on_transport_error(
        &mut self,
        s: &Session,
        id: u64,
        kind: TransportErrorKind,
    ) -> Call<()> {
        let now = now_ms();
        let store = &mut self.store;
        flat(match s.kind {
            Kind::Read => {
                let rs = self
                    .bindings
                    .iterable_connector_source_source()
                    .read_session();
                rs.call_on_transport_error(store, s.handle, now, id, kind)
                    .await
            }
            Kind::Write => {
                let ws = self
                    .bindings
                    .iterable_connector_source_writer()
                    .write_session();
                ws.call_on_transport_error(store, s.handle, now, id, kind)
                    .await
            }
            Kind::Query => {
                let qs = self
                    .bindings
                    .iterable_connector_source_query()
                    .query_session();
                qs.call_on_transport_error(store, s.handle, now, id, kind)
                    .await
            }
        })
    }

    /// Drops the guest's session resource.
    pub async fn close(&mut self, s: Session) -> Call<()> {
        s.handle
            .resource_drop_async(&mut self.store)
            .await
            .map_err(Error::runtime)
    }

    /// Every writable object and operation.
    pub async fn write_targets(&mut self) -> Call<Vec<WriteTarget>> {
        let w = self.bindings.iterable_connector_source_writer();
        w.call_write_targets(&mut self.store)
            .await
            .map_err(Error::runtime)
    }

    /// Opens a write session (`options`/`state` as JSON text).
    pub async fn open_write(
        &mut self,
        config: &str,
        object: &str,
        op: &str,
        options: Option<&str>,
        state: Option<&str>,
    ) -> Call<Session> {
        let ws = self
            .bindings
            .iterable_connector_source_writer()
            .write_session();
        let handle = flat(
            ws.call_open(&mut self.store, config, object, op, options, state)
                .await,
        )?;
        Ok(Session {
            handle,
            kind: Kind::Write,
        })
    }

    /// Opens a write session for a SQL UPDATE or DELETE (`params`: a JSON
    /// object): it reads the rows the WHERE selects and writes each by key.
    pub async fn open_write_sql(
        &mut self,
        config: &str,
        sql: &str,
        params: Option<&str>,
    ) -> Call<Session> {
        let ws = self
            .bindings
            .iterable_connector_source_writer()
            .write_session();
        let handle = flat(ws.call_open_sql(&mut self.store, config, sql, params).await)?;
        Ok(Session {
            handle,
            kind: Kind::Write,
        })
    }

    /// Rows a full request of this write holds.
    pub async fn rows_per_request(&mut self, s: &Session) -> Call<u32> {
        let ws = self
            .bindings
            .iterable_connector_source_writer()
            .write_session();
        ws.call_rows_per_request(&mut self.store, s.write()?)
            .await
            .map_err(Error::runtime)
    }

    /// Whether Iterable applies this write after answering.
    pub async fn applied_later(&mut self, s: &Session) -> Call<bool> {
        let ws = self
            .bindings
            .iterable_connector_source_writer()
            .write_session();
        ws.call_applied_later(&mut self.store, s.write()?)
            .await
            .map_err(Error::runtime)
    }

    /// Pushes rows as JSON lines; returns how many rows they were.
    pub async fn push_rows(&mut self, s: &Session, ndjson: &[u8]) -> Call<u64> {
        let ws = self
            .bindings
            .iterable_connector_source_writer()
            .write_session();
        flat(ws.call_push_rows(&mut self.store, s.write()?, ndjson).await)
    }

    pub async fn finish_input(&mut self, s: &Session) -> Call<()> {
        let ws = self
            .bindings
            .iterable_connector_source_writer()
            .write_session();
        ws.call_finish_input(&mut self.store, s.write()?)
            .await
            .map_err(Error::runtime)
    }

    /// The next action of a write session.
    pub async fn poll_write(&mut self, s: &Session, now_ms: i64) -> Call<WriteAction> {
        let ws = self
            .bindings
            .iterable_connector_source_writer()
            .write_session();
        flat(ws.call_poll(&mut self.store, s.write()?, now_ms).await)
    }

    /// The CSV columns of `stream` (`user_fields`: the answer of
    /// `user_fields_response`, for the streams declaring custom fields).
    pub async fn csv_columns(
        &mut self,
        config: &str,
        stream: &str,
        user_fields: Option<&str>,
    ) -> Call<Vec<String>> {
        let c = self.bindings.iterable_connector_source_csv();
        flat(
            c.call_csv_columns(&mut self.store, config, stream, user_fields)
                .await,
        )
    }

    /// Opens a CSV encoder over `columns` (`options`: JSON text).
    pub async fn csv_open(&mut self, columns: &[String], options: Option<&str>) -> Call<CsvHandle> {
        let e = self.bindings.iterable_connector_source_csv().csv_encoder();
        let handle = flat(e.call_open(&mut self.store, columns, options).await)?;
        Ok(CsvHandle(handle))
    }

    /// What a new CSV file starts with (BOM, header line).
    pub async fn csv_header(&mut self, enc: &CsvHandle) -> Call<Vec<u8>> {
        let e = self.bindings.iterable_connector_source_csv().csv_encoder();
        e.call_header(&mut self.store, enc.0)
            .await
            .map_err(Error::runtime)
    }

    /// CSV rows of a batch's NDJSON payload.
    pub async fn csv_encode(&mut self, enc: &CsvHandle, ndjson: &[u8]) -> Call<Vec<u8>> {
        let e = self.bindings.iterable_connector_source_csv().csv_encoder();
        flat(e.call_encode(&mut self.store, enc.0, ndjson).await)
    }

    /// Drops the guest's encoder resource.
    pub async fn csv_close(&mut self, enc: CsvHandle) -> Call<()> {
        enc.0
            .resource_drop_async(&mut self.store)
            .await
            .map_err(Error::runtime)
    }

    /// A whole sync inside the component over wasi:http (the `runner`
    /// export); output goes to `sink`.
    pub async fn run_self_driving(
        &mut self,
        config: &str,
        streams: &[StreamSelection],
        state: Option<&str>,
        api_key: Option<&str>,
        sink: Box<dyn RunnerSink>,
    ) -> Call<Summary> {
        self.store.data_mut().sink = Some(sink);
        let r = self.bindings.iterable_connector_source_runner();
        let out = flat(
            r.call_run(&mut self.store, config, streams, state, api_key)
                .await,
        );
        self.store.data_mut().sink = None;
        out
    }
}

/// Which resource a [`Session`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Query,
}

/// A guest read- or write-session handle, valid in the [`Instance`] that
/// opened it. Responses are fed the same way to both.
pub struct Session {
    handle: ResourceAny,
    kind: Kind,
}

impl Session {
    fn read(&self) -> Call<ResourceAny> {
        self.expect(Kind::Read)
    }

    fn write(&self) -> Call<ResourceAny> {
        self.expect(Kind::Write)
    }

    fn expect(&self, kind: Kind) -> Call<ResourceAny> {
        if self.kind == kind {
            Ok(self.handle)
        } else {
            Err(Error::Usage(format!(
                "host bug: a {:?} session used as a {kind:?} session",
                self.kind
            )))
        }
    }
}

/// A guest `csv-encoder` handle, valid in the [`Instance`] that opened it.
pub struct CsvHandle(ResourceAny);
