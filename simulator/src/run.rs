//! Starting and stopping a simulator: [`start`] inside an async runtime,
//! [`spawn`] for synchronous tests (own runtime on a background thread).

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta, Utc};
use tokio::sync::oneshot;

use crate::auth::Auth;
use crate::faults::FaultOptions;
use crate::ratelimit::RateLimiter;
use crate::reqlog::{LogEntry, RequestLog};
use crate::server::{self, Handler, Shared};
use crate::types::{ApiBody, ApiRequest, Scale, WorldOptions};

/// How often each write was applied: kind -> entity key -> count (see
/// `iterable_sim::world::applied::KINDS` for the kinds and their keys).
pub type AppliedCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// Everything a simulator run is configured by.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub world: WorldOptions,
    pub faults: FaultOptions,
    /// `None`: accept any non-empty key; `Some(k)`: only `k`.
    pub api_key: Option<String>,
    /// Also write the request log as JSON lines to this file.
    pub log: Option<PathBuf>,
    /// 0 = an ephemeral port.
    pub port: u16,
}

impl Default for SimOptions {
    /// Seed 1, tiny scale, now = the current second, no faults.
    fn default() -> Self {
        SimOptions {
            world: WorldOptions {
                seed: 1,
                scale: Scale::Tiny,
                now: now_seconds(),
                late_index_secs: 0,
            },
            faults: FaultOptions::default(),
            api_key: None,
            log: None,
            port: 0,
        }
    }
}

/// The current time truncated to whole seconds (the CLI's default `--now`).
pub fn now_seconds() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::seconds(1)).unwrap_or(now)
}

/// A running simulator. Dropping it stops the server.
pub struct RunningSim {
    base_url: String,
    log: Arc<RequestLog>,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// A copy of every request logged so far (finished responses only).
    pub fn request_log(&self) -> Vec<LogEntry> {
        self.log.snapshot()
    }

    /// How often each write was applied so far (what `GET /_sim/applied`
    /// serves under `applied`); empty for handlers other than the world.
    pub fn applied(&self) -> AppliedCounts {
        self.admin_json("applied")
            .and_then(|v| serde_json::from_value(v["applied"].clone()).ok())
            .unwrap_or_default()
    }

    /// How often the write `kind` was applied to the entity `key`.
    pub fn applied_count(&self, kind: &str, key: &str) -> u64 {
        self.applied()
            .get(kind)
            .and_then(|m| m.get(key))
            .copied()
            .unwrap_or(0)
    }

    /// Someone else edits `count` catalog items or templates (`POST
    /// /_sim/change`; `scope` is the catalog, or the templates' medium):
    /// the keys changed.
    pub fn change(&self, object: &str, scope: &str, count: usize) -> Vec<String> {
        let scope_param = if object == "templates" {
            "medium"
        } else {
            "catalog"
        };
        let query = vec![
            ("object".to_string(), object.to_string()),
            (scope_param.to_string(), scope.to_string()),
            ("count".to_string(), count.to_string()),
        ];
        self.admin_request("POST", "change", query)
            .and_then(|v| serde_json::from_value(v["changed"].clone()).ok())
            .unwrap_or_default()
    }

    /// Asks the handler's `/_sim/` test API directly (no HTTP).
    fn admin_json(&self, route: &str) -> Option<serde_json::Value> {
        self.admin_request("GET", route, Vec::new())
    }

    fn admin_request(
        &self,
        method: &str,
        route: &str,
        query: Vec<(String, String)>,
    ) -> Option<serde_json::Value> {
        let req = ApiRequest {
            method: method.into(),
            path: format!("{}{route}", crate::types::ADMIN_PREFIX),
            query,
            headers: Vec::new(),
            body: Vec::new(),
            now: self.shared.now(),
            base_url: self.base_url.clone(),
        };
        let resp = self.shared.handler.handle(&req);
        match (resp.status, resp.body) {
            (200, ApiBody::Json(v)) => Some(v),
            _ => None,
        }
    }

    /// Stops accepting and drops open connections. Idempotent.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the simulator on the current tokio runtime.
pub async fn start(opts: SimOptions) -> io::Result<RunningSim> {
    let handler = crate::backend::world_handler(&opts);
    start_with_handler(opts, handler).await
}

/// [`start`] with another handler in place of the world (server-layer tests).
pub async fn start_with_handler(
    opts: SimOptions,
    handler: Arc<dyn Handler>,
) -> io::Result<RunningSim> {
    let (listener, shared) = prepare(&opts, handler)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let (tx, rx) = oneshot::channel();
    let sim = RunningSim {
        base_url: shared.base_url.clone(),
        log: shared.log.clone(),
        shared: shared.clone(),
        shutdown: Some(tx),
        thread: None,
    };
    tokio::spawn(server::serve(listener, shared, rx));
    Ok(sim)
}

/// Starts the simulator on its own runtime in a background thread, for
/// synchronous callers. Panics if the port cannot be bound or the log file
/// cannot be created.
pub fn spawn(opts: SimOptions) -> RunningSim {
    let handler = crate::backend::world_handler(&opts);
    spawn_with_handler(opts, handler)
}

/// [`spawn`] with another handler in place of the world.
pub fn spawn_with_handler(opts: SimOptions, handler: Arc<dyn Handler>) -> RunningSim {
    let (listener, shared) = prepare(&opts, handler).expect("iterable-sim: cannot start");
    let (tx, rx) = oneshot::channel();
    let sim_base = shared.base_url.clone();
    let log = shared.log.clone();
    let shared_for_sim = shared.clone();
    let thread = std::thread::Builder::new()
        .name("iterable-sim".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                server::serve(listener, shared, rx).await;
            });
            // Body producers notice the closed connections within one piece.
            rt.shutdown_timeout(Duration::from_secs(1));
        })
        .expect("spawn iterable-sim thread");
    RunningSim {
        base_url: sim_base,
        log,
        shared: shared_for_sim,
        shutdown: Some(tx),
        thread: Some(thread),
    }
}

fn prepare(
    opts: &SimOptions,
    handler: Arc<dyn Handler>,
) -> io::Result<(std::net::TcpListener, Arc<Shared>)> {
    let listener = server::bind(opts.port)?;
    let port = listener.local_addr()?.port();
    let log = Arc::new(RequestLog::new(opts.log.as_deref())?);
    let shared = Arc::new(Shared {
        handler,
        auth: Auth {
            expected: opts.api_key.clone(),
        },
        limiter: opts
            .faults
            .rate_limits
            .then(|| RateLimiter::new(opts.faults.time_scale)),
        faults: opts.faults.clone(),
        seed: opts.world.seed,
        log,
        base_url: format!("http://127.0.0.1:{port}"),
        now0: opts.world.now,
        started: Instant::now(),
        seq: AtomicU64::new(0),
        write_seq: AtomicU64::new(0),
        download_seq: AtomicU64::new(0),
    });
    Ok((listener, shared))
}
