//! `iterable-connector`: the Iterable source connector (a WASI component)
//! run by wasmtime, speaking the Airbyte or Singer protocol on stdout.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use iterable_connector_host::demo::{self, DemoOptions};
use iterable_connector_host::driver::{self, Output, ReadJob};
use iterable_connector_host::protocol::{self, AirbyteWriter, SingerWriter};
use iterable_connector_host::runtime::{self, LoadedFrom, StreamSelection};
use iterable_connector_host::{Connector, Error, Instance};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "iterable-connector",
    version,
    about = "Iterable source connector (WASI component on wasmtime): Airbyte and Singer protocols"
)]
struct Cli {
    /// The connector component (.wasm). Default: $CONNECTOR_WASM, next to
    /// this binary, or target/wasm32-wasip2/wasm-release/wasm_component.wasm.
    #[arg(long, global = true, value_name = "FILE")]
    component: Option<PathBuf>,
    /// Timings (component load, instantiate) on stderr.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Airbyte SPEC: the config's JSON Schema.
    Spec,
    /// Airbyte CONNECTION_STATUS: is the API key good?
    Check {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Airbyte CATALOG: every stream with schema, keys and cursor.
    Discover {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Airbyte RECORD and STATE messages for the configured catalog.
    Read {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// ConfiguredAirbyteCatalog.
        #[arg(long, value_name = "FILE")]
        catalog: PathBuf,
        /// Airbyte per-stream state list (or {"streams": {...}}).
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
    /// Singer tap: --discover, or --catalog [--state].
    Singer {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, conflicts_with_all = ["catalog", "state"])]
        discover: bool,
        #[arg(long, value_name = "FILE", required_unless_present = "discover")]
        catalog: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
    /// Syncs every stream from a built-in simulator into --out.
    Demo {
        /// tiny, small, medium or large.
        #[arg(long, default_value = "tiny")]
        scale: String,
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many times faster the simulator's rate-limit clock runs.
        #[arg(long, default_value_t = 60.0)]
        time_scale: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let airbyte = matches!(
        cli.command,
        Command::Spec | Command::Check { .. } | Command::Discover { .. } | Command::Read { .. }
    );
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if airbyte {
                let mut out = std::io::stdout().lock();
                let _ = protocol::airbyte_error(&mut out, &e);
            }
            eprintln!("iterable-connector: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(cli: &Cli) -> Result<Connector, Error> {
    let path = runtime::locate_component(cli.component.as_deref())?;
    let t = Instant::now();
    let (connector, from) = Connector::load(&path)?;
    if cli.verbose {
        eprintln!(
            "component {} {} in {:.1} ms",
            path.display(),
            match from {
                LoadedFrom::Compiled => "compiled",
                LoadedFrom::Cache => "loaded from cache",
            },
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(connector)
}

/// Reads the selected streams into `out` (Airbyte or Singer), then flushes
/// what was written: a failed read still delivers its records and states.
async fn run_read(
    inst: &mut Instance,
    cfg: &protocol::LoadedConfig,
    streams: &[StreamSelection],
    state: Option<&str>,
    out: &mut dyn Output,
) -> Result<(), Error> {
    let job = ReadJob {
        config: &cfg.json,
        streams,
        state,
        api_key: cfg.api_key.clone(),
    };
    let result = driver::read(inst, &job, out).await;
    out.flush()?;
    result.map(|_| ())
}

async fn instantiate(connector: &Connector, verbose: bool) -> Result<Instance, Error> {
    let t = Instant::now();
    let inst = connector.instantiate().await?;
    if verbose {
        eprintln!("instantiated in {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(inst)
}

fn emit(line: serde_json::Value) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(|e| Error::Io(e.to_string()))
}

fn run(cli: Cli) -> Result<(), Error> {
    let connector = load(&cli)?;
    let verbose = cli.verbose;
    let rt = demo::runtime()?;
    match &cli.command {
        Command::Spec => rt.block_on(async {
            let mut inst = instantiate(&connector, verbose).await?;
            emit(protocol::airbyte_spec(&inst.spec().await?))
        }),
        Command::Check { config } => {
            let cfg = protocol::load_config(config)?;
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                let result = match inst.validate_config(&cfg.json).await {
                    Ok(()) => driver::check(&mut inst, &cfg.json, cfg.api_key.clone()).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => emit(json!({"type": "CONNECTION_STATUS",
                        "connectionStatus": {"status": "SUCCEEDED"}})),
                    Err(e @ Error::Connector(_)) => emit(json!({"type": "CONNECTION_STATUS",
                        "connectionStatus": {"status": "FAILED", "message": e.to_string()}})),
                    Err(e) => Err(e),
                }
            })
        }
        Command::Discover { config } => {
            let cfg = protocol::load_config(config)?;
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                let streams = discover(&mut inst, &cfg, |m| {
                    let _ = protocol::airbyte_log(&mut std::io::stdout().lock(), "WARN", m);
                })
                .await?;
                emit(protocol::airbyte_catalog(&streams))
            })
        }
        Command::Read {
            config,
            catalog,
            state,
        } => {
            let cfg = protocol::load_config(config)?;
            let selection =
                protocol::airbyte_selection(&protocol::read_json_file(catalog, "catalog")?)?;
            let state = load_state(state.as_deref())?;
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                inst.validate_config(&cfg.json).await?;
                let mut out = AirbyteWriter::new(BufWriter::new(std::io::stdout().lock()));
                run_read(&mut inst, &cfg, &selection, state.as_deref(), &mut out).await
            })
        }
        Command::Singer {
            config,
            discover: true,
            ..
        } => {
            let cfg = protocol::load_config(config)?;
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                let streams = discover(&mut inst, &cfg, |m| eprintln!("WARN {m}")).await?;
                let text = serde_json::to_string_pretty(&protocol::singer_catalog(&streams))
                    .map_err(|e| Error::Io(e.to_string()))?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}").map_err(|e| Error::Io(e.to_string()))
            })
        }
        Command::Singer {
            config,
            catalog,
            state,
            ..
        } => {
            let cfg = protocol::load_config(config)?;
            let catalog = catalog
                .as_deref()
                .ok_or_else(|| Error::Usage("singer: give --discover or --catalog FILE".into()))?;
            let selection =
                protocol::singer_selection(&protocol::read_json_file(catalog, "catalog")?)?;
            let bookmarks = match state {
                Some(p) => protocol::normalize_state(&protocol::read_json_file(p, "state")?)?,
                None => Default::default(),
            };
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                inst.validate_config(&cfg.json).await?;
                let all = discover(&mut inst, &cfg, |m| eprintln!("WARN {m}")).await?;
                let chosen: Vec<_> = all
                    .into_iter()
                    .filter(|d| selection.iter().any(|s| s.name == d.name))
                    .collect();
                let state = protocol::state_json(&bookmarks);
                let mut out =
                    SingerWriter::new(BufWriter::new(std::io::stdout().lock()), bookmarks);
                out.schemas(&chosen)?;
                run_read(&mut inst, &cfg, &selection, state.as_deref(), &mut out).await
            })
        }
        Command::Demo {
            scale,
            out,
            seed,
            time_scale,
        } => {
            drop(rt);
            let report = demo::run(
                &connector,
                &DemoOptions {
                    scale: scale.clone(),
                    out: out.clone(),
                    seed: *seed,
                    time_scale: *time_scale,
                },
            )?;
            let mut stdout = std::io::stdout().lock();
            demo::print_table(&mut stdout, &report).map_err(|e| Error::Io(e.to_string()))?;
            if let Some(email) = &report.email {
                writeln!(stdout, "by-key streams read for {email}")
                    .map_err(|e| Error::Io(e.to_string()))?;
            }
            writeln!(
                stdout,
                "wrote {}/<stream>.jsonl and state.json",
                out.display()
            )
            .map_err(|e| Error::Io(e.to_string()))
        }
    }
}

fn load_state(path: Option<&Path>) -> Result<Option<String>, Error> {
    match path {
        None => Ok(None),
        Some(p) => Ok(protocol::state_json(&protocol::normalize_state(
            &protocol::read_json_file(p, "state")?,
        )?)),
    }
}

/// Validates the config, fetches the user fields (falling back to the
/// built-in schema, with a warning, when that fails) and discovers.
async fn discover(
    inst: &mut Instance,
    cfg: &protocol::LoadedConfig,
    warn: impl Fn(&str),
) -> Result<Vec<runtime::StreamDescriptor>, Error> {
    inst.validate_config(&cfg.json).await?;
    let fields = match driver::user_fields(inst, &cfg.json, cfg.api_key.clone()).await {
        Ok(f) => Some(f),
        Err(m) => {
            warn(&format!(
                "custom user fields not read ({m}); users has the built-in schema"
            ));
            None
        }
    };
    inst.discover(&cfg.json, fields.as_deref()).await
}
