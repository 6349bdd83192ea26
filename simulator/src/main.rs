//! `iterable-sim`: run the simulator from the command line.
//!
//! Prints exactly one line, the base URL, once ready, then serves like any
//! server until SIGTERM or SIGINT (exit 0), so `iterable-sim --port 8080 &`
//! works from a script. With `--exit-on-stdin-eof` it also exits when stdin
//! reaches EOF, so a parent test process that dies (closing the pipe) takes
//! the simulator with it. `iterable-sim truth …` prints ground truth.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use iterable_sim::types::Scale;
use iterable_sim::{FaultOptions, Hostile, HostileOptions, SimOptions};

/// See the `mimalloc` entry in Cargo.toml: the allocator was a fifth of the
/// time spent per export row.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A faithful Iterable API simulator on 127.0.0.1.
#[derive(Parser, Debug)]
#[command(name = "iterable-sim", version)]
struct Cli {
    /// Port to listen on (0 = ephemeral).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed of the simulated data and of random faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Data volume: tiny, small, medium or large.
    #[arg(long, default_value = "tiny", value_parser = parse_scale)]
    scale: Scale,
    /// The simulator's "now" (RFC 3339); default: current time, whole seconds.
    #[arg(long, value_parser = parse_now)]
    now: Option<chrono::DateTime<chrono::Utc>>,
    /// Accept only this API key (default: any non-empty key).
    #[arg(long)]
    api_key: Option<String>,
    /// Write one JSON line per request to this file.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Enforce Iterable's documented per-endpoint rate limits.
    #[arg(long)]
    rate_limits: bool,
    /// Rate-limiter clock speed (60 = a minute lasts a second).
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive)]
    time_scale: f64,
    /// Send `Retry-After: SECS` with 429 responses.
    #[arg(long, value_name = "SECS")]
    retry_after: Option<u64>,
    /// Cut bodies longer than N bytes after N bytes (connection dropped).
    #[arg(long, value_name = "N")]
    cut_after_bytes: Option<u64>,
    /// Probability (0..1) that a request fails with 500 GenericError.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    error_rate: f64,
    /// Probability (0..1), per NDJSON line, of an extra malformed line.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    malformed_rate: f64,
    /// Stream response bodies at about BPS bytes per second.
    #[arg(long, value_name = "BPS")]
    slow_body: Option<u64>,
    /// Probability (0..1) that a write request fails with 500 GenericError
    /// before it is applied.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    write_error_rate: f64,
    /// Probability (0..1) that a write request is refused with 429.
    #[arg(long = "write-429-rate", default_value_t = 0.0, value_parser = parse_probability)]
    write_throttle_rate: f64,
    /// A 429 storm: write requests number FIRST..FIRST+COUNT (from 0) are
    /// all refused with 429.
    #[arg(long = "write-429-storm", value_name = "FIRST:COUNT", value_parser = parse_storm)]
    write_throttle_storm: Option<(u64, u64)>,
    /// Probability (0..1) that a write is applied and then the connection
    /// dropped without an answer.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    write_cut_rate: f64,
    /// Asynchronous writes (catalog items, events, user updates) become
    /// visible to reads only MS milliseconds after they were accepted.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    write_visible_after: u64,
    /// The first N downloads of async export files fail with 500 (a task
    /// that reads a file fails once and is retried).
    #[arg(long, value_name = "N", default_value_t = 0)]
    fail_downloads: u64,
    /// Download URLs expire SECS after the file listing that issued them
    /// (Iterable: 1800).
    #[arg(long, value_name = "SECS")]
    url_ttl: Option<u64>,
    /// Rows become visible in exports only SECS after their createdAt.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    late_events: i64,
    /// Also exit (code 0) when stdin reaches EOF, for test harnesses that
    /// spawn the simulator with a pipe on stdin: if the harness dies, the
    /// simulator goes too. Default: run until SIGTERM or SIGINT.
    #[arg(long)]
    exit_on_stdin_eof: bool,
    /// Misbehave on purpose (issue #14's fault matrix): html-200,
    /// wrong-shape, invalid-utf8, echo-4xx, echo-500, trickle, never-answer,
    /// retry-after-huge, retry-after-negative, endless-pages,
    /// ignore-start-after or never-complete. See `iterable_sim::hostile`.
    #[arg(long, value_name = "MODE", value_parser = parse_hostile)]
    hostile: Option<Hostile>,
    /// With `--hostile trickle`: milliseconds between two body bytes.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    trickle_ms: u64,
    /// Accepted and ignored (older scripts): running on when stdin closes is
    /// now the default.
    #[arg(long = "ignore-stdin", hide = true)]
    _ignore_stdin: bool,
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    Scale::parse(s).ok_or_else(|| format!("unknown scale {s:?} (tiny|small|medium|large|xlarge)"))
}

fn parse_hostile(s: &str) -> Result<Hostile, String> {
    Hostile::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Hostile::ALL.iter().map(|h| h.name()).collect();
        format!("unknown hostile mode {s:?} ({})", names.join("|"))
    })
}

fn parse_now(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| format!("not RFC 3339: {e}"))
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

fn parse_storm(s: &str) -> Result<(u64, u64), String> {
    let parsed = s
        .split_once(':')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    parsed.ok_or_else(|| format!("{s:?} is not FIRST:COUNT (two whole numbers)"))
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(f),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

impl Cli {
    fn options(&self) -> SimOptions {
        let mut opts = SimOptions::default();
        opts.world.seed = self.seed;
        opts.world.scale = self.scale;
        if let Some(now) = self.now {
            opts.world.now = now;
        }
        opts.world.late_index_secs = self.late_events;
        opts.faults = FaultOptions {
            error_rate: self.error_rate,
            malformed_rate: self.malformed_rate,
            cut_after_bytes: self.cut_after_bytes,
            slow_body_bps: self.slow_body,
            rate_limits: self.rate_limits,
            time_scale: self.time_scale,
            retry_after_secs: self.retry_after,
            write_error_rate: self.write_error_rate,
            write_throttle_rate: self.write_throttle_rate,
            write_throttle_storm: self.write_throttle_storm,
            write_cut_rate: self.write_cut_rate,
            write_visible_after_ms: self.write_visible_after,
            fail_downloads: self.fail_downloads,
            url_ttl_secs: self.url_ttl,
        };
        opts.api_key = self.api_key.clone();
        opts.log = self.log.clone();
        opts.port = self.port;
        opts
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("truth") {
        return match iterable_sim::run_truth_cli(&args[2..]) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("iterable-sim truth: {e}");
                ExitCode::from(2)
            }
        };
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iterable-sim: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async {
        let started = match cli.hostile {
            None => iterable_sim::start(cli.options()).await,
            Some(mode) => {
                let opts = cli.options();
                let hostile = HostileOptions {
                    trickle: std::time::Duration::from_millis(cli.trickle_ms),
                    ..HostileOptions::default()
                };
                iterable_sim::start_hostile(opts, mode, hostile).await
            }
        };
        let mut sim = match started {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("iterable-sim: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", sim.base_url()).and_then(|_| out.flush());
        drop(out);
        wait_for_exit(cli.exit_on_stdin_eof).await;
        sim.stop();
        ExitCode::SUCCESS
    });
    // Don't wait for body producers or the stdin reader: exit now.
    rt.shutdown_background();
    code
}

/// Resolves on SIGTERM, SIGINT or (if asked) EOF on stdin.
async fn wait_for_exit(exit_on_stdin_eof: bool) {
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    if exit_on_stdin_eof {
        // A plain thread: tokio's stdin would keep the runtime alive.
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = eof_tx.send(());
        });
    } else {
        drop(eof_tx);
    }
    let stdin_closed = async {
        // Err = stdin not watched: never resolve.
        if eof_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = stdin_closed => {}
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = stdin_closed => {}
    }
}
