//! `iterable-connector`: the Iterable source connector (a WASI component)
//! run by wasmtime, speaking the Airbyte or Singer protocol on stdout.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use iterable_connector_host::demo::{self, DemoOptions};
use iterable_connector_host::destination::{self, DestinationConfig, Dialect};
use iterable_connector_host::driver::{self, Output, ReadJob, WriteJob};
use iterable_connector_host::export::{self, ExportOptions};
use iterable_connector_host::protocol::{self, AirbyteWriter, SingerWriter};
use iterable_connector_host::runtime::SqlPlan;
use iterable_connector_host::runtime::{self, LoadedFrom, StreamSelection};
use iterable_connector_host::{Connector, Error, Instance, sql, writes};
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
    /// Writes JSON-lines rows into Iterable: one result line per row on
    /// stdout (in input order), a summary on stderr. Exit status 0 when every
    /// row ended ok, 3 when some failed or are unknown, 1 on an error.
    Write {
        #[arg(long, value_name = "FILE", required_unless_present = "list")]
        config: Option<PathBuf>,
        /// users, events, catalog_items, lists, list_users, templates,
        /// campaigns, catalogs, in_app_messages, purchases, subscriptions
        /// (Skyvia's names too; `--list` shows every object and operation).
        #[arg(long, required_unless_present = "list")]
        object: Option<String>,
        /// insert, update, upsert, delete, update_email (default: the
        /// object's first operation).
        #[arg(long, default_value = "")]
        op: String,
        /// A write option, e.g. --set catalog=Products --set bulk=false.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// JSON lines, one object per row; `-` (the default) is stdin.
        #[arg(long, value_name = "FILE|-", default_value = "-")]
        input: String,
        /// Resumable state: read at the start (rows it covers are skipped),
        /// replaced at every commit.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// List every writable object and operation and exit.
        #[arg(long)]
        list: bool,
    },
    /// Runs a stored procedure: AbortCampaign, TriggerCampaign or
    /// CancelScheduledOrRecurringCampaign. Prints the result line; exit
    /// status as for `write`.
    Call {
        procedure: String,
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// A parameter; JSON values are taken as JSON (campaignId=12,
        /// listIds=[1,2]), anything else as text.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Runs one SQL statement: SELECT (rows as a table or JSON lines),
    /// EXPLAIN SELECT (what is pushed down, the first requests), INSERT …
    /// VALUES and CALL (one result line per row, exit status as `write`).
    Query {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The statement, e.g. "SELECT name FROM Lists WHERE id > 3".
        sql: String,
        /// A `:name` parameter; JSON values are taken as JSON, anything else
        /// as text.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// table, jsonl or csv.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Airbyte destination: spec, check, write (reverse ETL from any
    /// Airbyte source).
    #[command(subcommand)]
    Destination(DestinationCommand),
    /// Singer target: Singer messages on stdin written into Iterable;
    /// states printed on stdout once the rows before them are final.
    Target {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Exports streams to CSV: one file per stream in --out
    /// (`<stream>.csv` or `.csv.gz`), a table of rows on stdout.
    Export {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Streams to export, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        streams: Vec<String>,
        /// Every stream that needs no user filter (and the by-user streams
        /// when the config names `email` or `user_id`).
        #[arg(long)]
        all: bool,
        /// Directory of the CSV files (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Field separator: one character (`,` `;` `|`) or `tab`.
        #[arg(long, default_value = ",")]
        delimiter: String,
        /// Text qualifier: one character, or `none` (a value that would need
        /// quotes is then an error).
        #[arg(long, default_value = "\"")]
        quote: String,
        /// `lf` or `crlf`.
        #[arg(long, default_value = "lf")]
        line_ending: String,
        /// Start each file with a UTF-8 byte order mark (Excel).
        #[arg(long)]
        bom: bool,
        /// No header line.
        #[arg(long)]
        no_header: bool,
        /// What null is written as (default: nothing; an empty string is
        /// written `""`).
        #[arg(long, default_value = "", value_name = "TEXT")]
        null_value: String,
        /// gzip each file (`<stream>.csv.gz`).
        #[arg(long)]
        gzip: bool,
        /// State file: read at the start (an incremental run appends to the
        /// files), rewritten at every commit after the files are flushed.
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

#[derive(Subcommand)]
enum DestinationCommand {
    /// Airbyte SPEC of the destination (the source config plus `streams`).
    Spec,
    /// CONNECTION_STATUS: the key works and every route is writable.
    Check {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// RECORD and STATE messages on stdin; each STATE is echoed once the
    /// records before it are written.
    Write {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// ConfiguredAirbyteCatalog: the streams that may arrive.
        #[arg(long, value_name = "FILE")]
        catalog: PathBuf,
    },
}

/// Exit status when a write ran but some rows did not end `ok`.
const ROWS_NOT_OK: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    let airbyte = matches!(
        cli.command,
        Command::Spec
            | Command::Check { .. }
            | Command::Discover { .. }
            | Command::Read { .. }
            | Command::Destination(_)
    );
    let result = run(cli);
    if verbose {
        let (requests, connections) = iterable_connector_host::http::counts();
        eprintln!("{requests} requests over {connections} connections");
    }
    match result {
        Ok(code) => code,
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
    if let Ok(summary) = &result {
        // What was skipped on request is said, never silent.
        for s in &summary.streams {
            for (n, what) in [
                (
                    s.skipped_lines,
                    "malformed lines skipped (skip_malformed_lines)",
                ),
                (
                    s.skipped_units,
                    "units skipped after persistent errors (skip_persistent_errors)",
                ),
            ] {
                if n > 0 {
                    out.log(runtime::LogMessage {
                        level: runtime::LogLevel::Warn,
                        message: format!("{n} {what}"),
                        stream: Some(s.stream.clone()),
                    })?;
                }
            }
        }
    }
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

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let connector = load(&cli)?;
    let verbose = cli.verbose;
    let rt = demo::runtime()?;
    match &cli.command {
        Command::Write {
            config,
            object,
            op,
            set,
            input,
            state,
            list,
        } => rt.block_on(async {
            let mut inst = instantiate(&connector, verbose).await?;
            if *list {
                return list_targets(&mut inst).await;
            }
            let (Some(config), Some(object)) = (config, object) else {
                return Err(Error::Usage("write: give --config and --object".into()));
            };
            let cfg = protocol::load_config(config)?;
            inst.validate_config(&cfg.json).await?;
            let state = state.as_deref().map(writes::StateFile::new);
            let resume = match &state {
                Some(s) => s.load()?,
                None => None,
            };
            let skip = resume.as_ref().map_or(0, |(_, rows)| *rows);
            if skip > 0 {
                eprintln!("resuming: the first {skip} rows are final already");
            }
            let reader: Box<dyn BufRead> = if input == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                let f = std::fs::File::open(input)
                    .map_err(|e| Error::Usage(format!("cannot read --input {input}: {e}")))?;
                Box::new(std::io::BufReader::new(f))
            };
            let options = writes::options_json(set)?;
            let job = WriteJob {
                config: &cfg.json,
                object,
                op,
                options: options.as_deref(),
                state: resume.as_ref().map(|(s, _)| s.as_str()),
                api_key: cfg.api_key.clone(),
            };
            let lines = writes::JsonLines::new(reader, skip);
            let stdout = BufWriter::new(std::io::stdout().lock());
            let mut io = writes::LinesWriteIo::new(lines, stdout, state, skip).verbose(verbose);
            write_and_report(&mut inst, &job, &mut io).await
        }),
        Command::Call {
            procedure,
            config,
            params,
        } => rt.block_on(async {
            let cfg = protocol::load_config(config)?;
            let mut inst = instantiate(&connector, verbose).await?;
            inst.validate_config(&cfg.json).await?;
            let row = writes::params_row(params)?;
            let job = WriteJob {
                config: &cfg.json,
                object: procedure,
                op: "call",
                options: None,
                state: None,
                api_key: cfg.api_key.clone(),
            };
            let lines = writes::JsonLines::new(&row[..], 0);
            let stdout = BufWriter::new(std::io::stdout().lock());
            let mut io = writes::LinesWriteIo::new(lines, stdout, None, 0).verbose(verbose);
            write_and_report(&mut inst, &job, &mut io).await
        }),
        Command::Query {
            config,
            sql,
            params,
            format,
        } => {
            let cfg = protocol::load_config(config)?;
            let format = sql::Format::parse(format)?;
            let params = writes::params_json(params)?;
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                inst.validate_config(&cfg.json).await?;
                run_query(&mut inst, &cfg, sql, params.as_deref(), format, verbose).await
            })
        }
        Command::Destination(DestinationCommand::Spec) => rt.block_on(async {
            let mut inst = instantiate(&connector, verbose).await?;
            emit(destination::spec(&inst.spec().await?))?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Destination(DestinationCommand::Check { config }) => {
            let cfg = DestinationConfig::from_value(protocol::read_json_file(config, "config")?)?;
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                let result = check_destination(&mut inst, &cfg).await;
                match result {
                    Ok(()) => emit(json!({"type": "CONNECTION_STATUS",
                        "connectionStatus": {"status": "SUCCEEDED"}}))?,
                    Err(e @ Error::Connector(_)) => emit(json!({"type": "CONNECTION_STATUS",
                        "connectionStatus": {"status": "FAILED", "message": e.to_string()}}))?,
                    Err(e) => return Err(e),
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Destination(DestinationCommand::Write { config, catalog }) => {
            let cfg = DestinationConfig::from_value(protocol::read_json_file(config, "config")?)?;
            let streams =
                destination::catalog_streams(&protocol::read_json_file(catalog, "catalog")?)?;
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                inst.validate_config(&cfg.connector.json).await?;
                for s in &streams {
                    cfg.check_route(&mut inst, s).await?;
                }
                let mut stdin = std::io::stdin().lock();
                let mut out = BufWriter::new(std::io::stdout().lock());
                destination::run(
                    &mut inst,
                    &cfg,
                    Dialect::Airbyte,
                    Some(&streams),
                    &mut stdin,
                    &mut out,
                )
                .await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Target { config } => {
            let cfg = DestinationConfig::from_value(protocol::read_json_file(config, "config")?)?;
            rt.block_on(async {
                let mut inst = instantiate(&connector, verbose).await?;
                inst.validate_config(&cfg.connector.json).await?;
                let mut stdin = std::io::stdin().lock();
                let mut out = BufWriter::new(std::io::stdout().lock());
                destination::run(&mut inst, &cfg, Dialect::Singer, None, &mut stdin, &mut out)
                    .await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Export {
            config,
            streams,
            all,
            out,
            delimiter,
            quote,
            line_ending,
            bom,
            no_header,
            null_value,
            gzip,
            state,
        } => {
            let cfg = protocol::load_config(config)?;
            let csv = json!({
                "delimiter": delimiter,
                "quote": quote,
                "line_ending": line_ending,
                "bom": bom,
                "header": !no_header,
                "null_value": null_value,
            });
            let opts = ExportOptions {
                streams: streams.clone(),
                all: *all,
                out: out.clone(),
                csv: csv.as_object().cloned().unwrap_or_default(),
                gzip: *gzip,
                state: state.clone(),
            };
            let rows = rt.block_on(export::run(&connector, &cfg, &opts))?;
            let mut stdout = std::io::stdout().lock();
            export::print_table(&mut stdout, &rows).map_err(|e| Error::Io(e.to_string()))?;
            Ok(ExitCode::SUCCESS)
        }
        _ => run_source(&connector, verbose, &rt, &cli.command).map(|()| ExitCode::SUCCESS),
    }
}

/// Writes rows through `io`, prints the summary on stderr and says whether
/// every row ended `ok`.
async fn write_and_report(
    inst: &mut Instance,
    job: &WriteJob<'_>,
    io: &mut writes::LinesWriteIo<impl BufRead, impl Write>,
) -> Result<ExitCode, Error> {
    let t = Instant::now();
    let result = driver::write(inst, job, io).await;
    report_write(io, result, t)
}

/// Flushes the result lines, prints the summary on stderr and says whether
/// every row ended `ok`.
fn report_write(
    io: &mut writes::LinesWriteIo<impl BufRead, impl Write>,
    result: Result<runtime::WriteSummary, Error>,
    started: Instant,
) -> Result<ExitCode, Error> {
    io.finish()?;
    let summary = result?;
    eprintln!(
        "{}",
        writes::summary_line(&summary, started.elapsed().as_secs_f64())
    );
    Ok(if summary.ok == summary.rows {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(ROWS_NOT_OK)
    })
}

/// Plans `sql` and runs it: rows, steps or write results on stdout.
async fn run_query(
    inst: &mut Instance,
    cfg: &protocol::LoadedConfig,
    sql_text: &str,
    params: Option<&str>,
    format: sql::Format,
    verbose: bool,
) -> Result<ExitCode, Error> {
    let stdout = BufWriter::new(std::io::stdout().lock());
    match inst.plan_sql(&cfg.json, sql_text, params, None).await? {
        SqlPlan::Select(plan) => {
            if verbose {
                for p in &plan.pushed {
                    eprintln!("pushed down: {p}");
                }
            }
            let job = driver::QueryJob {
                config: &cfg.json,
                sql: sql_text,
                params,
                api_key: cfg.api_key.clone(),
            };
            let columns = plan.columns.clone();
            let mut out = sql::RowPrinter::new(stdout, format, plan.columns).verbose(verbose);
            let result = driver::query(inst, &job, &mut out).await;
            if format == sql::Format::Csv && result.is_ok() {
                // `*`: the stream's columns in definition order, then `_extra`.
                let columns = match columns {
                    Some(c) => c,
                    None => inst.csv_columns(&cfg.json, &plan.stream, None).await?,
                };
                let rows = out.held_ndjson();
                let enc = inst.csv_open(&columns, None).await?;
                let mut bytes = inst.csv_header(&enc).await?;
                bytes.extend(inst.csv_encode(&enc, &rows).await?);
                inst.csv_close(enc).await?;
                out.write_raw(&bytes)?;
                return result.map(|_| ExitCode::SUCCESS);
            }
            out.finish()?;
            result.map(|_| ExitCode::SUCCESS)
        }
        SqlPlan::Explain(steps) => {
            let mut stdout = stdout;
            sql::print_explain(&mut stdout, &steps)?;
            stdout.flush().map_err(|e| Error::Io(e.to_string()))?;
            Ok(ExitCode::SUCCESS)
        }
        SqlPlan::Modify(m) => {
            if verbose {
                for p in &m.pushed {
                    eprintln!("pushed down: {p}");
                }
            }
            let job = driver::QueryJob {
                config: &cfg.json,
                sql: sql_text,
                params,
                api_key: cfg.api_key.clone(),
            };
            let lines = writes::JsonLines::new(&b""[..], 0);
            let mut io = writes::LinesWriteIo::new(lines, stdout, None, 0).verbose(verbose);
            let t = Instant::now();
            let result = driver::modify(inst, &job, &mut io).await;
            report_write(&mut io, result, t)
        }
        SqlPlan::Write(w) => {
            let job = WriteJob {
                config: &cfg.json,
                object: &w.object,
                op: &w.op,
                options: None,
                state: None,
                api_key: cfg.api_key.clone(),
            };
            let lines = writes::JsonLines::new(&w.rows_ndjson[..], 0);
            let mut io = writes::LinesWriteIo::new(lines, stdout, None, 0).verbose(verbose);
            write_and_report(inst, &job, &mut io).await
        }
    }
}

/// `write --list`: every writable object and operation.
async fn list_targets(inst: &mut Instance) -> Result<ExitCode, Error> {
    let mut out = std::io::stdout().lock();
    let line = |out: &mut dyn Write, a: &str, b: &str, c: &str, d: &str| {
        writeln!(out, "{a:<34} {b:<13} {c:>13}  {d}").map_err(|e| Error::Io(e.to_string()))
    };
    line(&mut out, "OBJECT", "OP", "ROWS/REQUEST", "APPLIED")?;
    for t in inst.write_targets().await? {
        let applied = if t.applied_later { "later" } else { "at once" };
        let rows = t.max_rows_per_request.to_string();
        line(&mut out, &t.object, &t.op, &rows, applied)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `destination check`: the key works and every configured route resolves.
async fn check_destination(inst: &mut Instance, cfg: &DestinationConfig) -> Result<(), Error> {
    inst.validate_config(&cfg.connector.json).await?;
    for stream in cfg.configured_streams() {
        cfg.check_route(inst, &stream).await?;
    }
    driver::check(inst, &cfg.connector.json, cfg.connector.api_key.clone()).await
}

/// The source commands (Airbyte, Singer, demo).
fn run_source(
    connector: &Connector,
    verbose: bool,
    rt: &tokio::runtime::Runtime,
    command: &Command,
) -> Result<(), Error> {
    match command {
        Command::Spec => rt.block_on(async {
            let mut inst = instantiate(connector, verbose).await?;
            emit(protocol::airbyte_spec(&inst.spec().await?))
        }),
        Command::Check { config } => {
            let cfg = protocol::load_config(config)?;
            rt.block_on(async {
                let mut inst = instantiate(connector, verbose).await?;
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
                let mut inst = instantiate(connector, verbose).await?;
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
                let mut inst = instantiate(connector, verbose).await?;
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
                let mut inst = instantiate(connector, verbose).await?;
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
                let mut inst = instantiate(connector, verbose).await?;
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
            let report = demo::run(
                connector,
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
        Command::Write { .. }
        | Command::Call { .. }
        | Command::Query { .. }
        | Command::Destination(_)
        | Command::Target { .. }
        | Command::Export { .. } => Err(Error::Usage("not a source command".into())),
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
