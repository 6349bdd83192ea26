//! `iterable-connector demo`: starts the simulator in-process (rate limits
//! on, its clock sped up), syncs every stream through the component, writes
//! one JSONL file per stream plus `state.json`, and prints a table.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, SimOptions};
use serde_json::{Value, json};

use crate::driver::{self, Output, ReadJob, WriteIo, WriteJob};
use crate::protocol::{self, lines};
use crate::runtime::{
    Checkpoint, HttpRequest, LogMessage, RecordBatch, RowResult, StreamSelection, WriteCheckpoint,
    WriteSummary,
};
use crate::{Connector, Error};

pub struct DemoOptions {
    pub scale: String,
    pub out: PathBuf,
    pub seed: u64,
    /// How many times faster the simulator's rate-limit clock runs.
    pub time_scale: f64,
}

/// Per-stream results of the demo.
#[derive(Debug, Default, Clone)]
pub struct StreamRow {
    pub records: u64,
    pub requests: u64,
    pub seconds: f64,
}

/// One write of the demo's write phase.
#[derive(Debug, Clone)]
pub struct WriteRow {
    pub object: String,
    pub op: String,
    pub summary: WriteSummary,
    pub seconds: f64,
}

pub struct DemoReport {
    pub rows: BTreeMap<String, StreamRow>,
    /// The writes made after the sync, in order.
    pub writes: Vec<WriteRow>,
    pub states: BTreeMap<String, Value>,
    pub seconds: f64,
    pub email: Option<String>,
}

const DEMO_KEY: &str = "demo-key";

pub fn run(connector: &Connector, opts: &DemoOptions) -> Result<DemoReport, Error> {
    let scale = Scale::parse(&opts.scale).ok_or_else(|| {
        Error::Usage(format!(
            "--scale {}: use tiny, small, medium or large",
            opts.scale
        ))
    })?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", opts.out.display())))?;
    let now = iterable_sim::now_seconds();
    let sim = iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed: opts.seed,
            scale,
            now,
            late_index_secs: 0,
        },
        faults: FaultOptions {
            rate_limits: true,
            time_scale: opts.time_scale,
            ..FaultOptions::default()
        },
        api_key: Some(DEMO_KEY.into()),
        ..SimOptions::default()
    });
    let start = (now - chrono::Duration::days(60)).to_rfc3339();
    let config = json!({
        "base_url": sim.base_url(),
        "start_date": start,
        "end_date": now.to_rfc3339(),
        "time_scale": opts.time_scale,
        "max_concurrency": 4,
    });
    let rt = runtime()?;
    rt.block_on(async {
        let t0 = Instant::now();
        let mut inst = connector.instantiate().await?;
        let key: Option<Arc<str>> = Some(Arc::from(DEMO_KEY));
        let catalog = inst.discover(&config.to_string(), None).await?;
        let mut out = DemoWriter::new(&opts.out, catalog.len());
        // Streams that need no user filter first; their list_users gives the
        // email the by-key streams are read for.
        let plain: Vec<StreamSelection> = catalog
            .iter()
            .filter(|d| !d.requires_user_filter)
            .map(|d| selection(&d.name, &d.sync_modes))
            .collect();
        let by_key: Vec<StreamSelection> = catalog
            .iter()
            .filter(|d| d.requires_user_filter)
            .map(|d| selection(&d.name, &d.sync_modes))
            .collect();
        let cfg = config.to_string();
        let job = ReadJob {
            config: &cfg,
            streams: &plain,
            state: None,
            api_key: key.clone(),
        };
        driver::read(&mut inst, &job, &mut out).await?;
        let email = out.email.clone();
        if let Some(email) = &email
            && !by_key.is_empty()
        {
            let mut c = config.clone();
            c["email"] = json!(email);
            let cfg = c.to_string();
            let job = ReadJob {
                config: &cfg,
                streams: &by_key,
                state: None,
                api_key: key.clone(),
            };
            driver::read(&mut inst, &job, &mut out).await?;
        }
        out.finish()?;
        let writes = demo_writes(&mut inst, &cfg, key.clone(), email.as_deref()).await?;
        let states = out.tally.states.clone();
        let state = json!({ "streams": states });
        std::fs::write(
            opts.out.join("state.json"),
            serde_json::to_vec_pretty(&state).unwrap_or_default(),
        )
        .map_err(|e| Error::Io(e.to_string()))?;
        let mut rows = BTreeMap::new();
        for d in &catalog {
            rows.insert(
                d.name.clone(),
                StreamRow {
                    records: out.tally.records.get(&d.name).copied().unwrap_or(0),
                    requests: out.tally.requests.get(&d.name).copied().unwrap_or(0),
                    seconds: out
                        .spans
                        .get(&d.name)
                        .map(|(a, b)| b.duration_since(*a).as_secs_f64())
                        .unwrap_or(0.0),
                },
            );
        }
        Ok(DemoReport {
            rows,
            writes,
            states,
            seconds: t0.elapsed().as_secs_f64(),
            email,
        })
    })
}

/// The write half of the demo: a catalog and its items, users, their
/// events, a list and its members — each a write session through the
/// component, paced by the same rate limits as the sync.
async fn demo_writes(
    inst: &mut crate::Instance,
    config: &str,
    key: Option<Arc<str>>,
    email: Option<&str>,
) -> Result<Vec<WriteRow>, Error> {
    let users: Vec<Value> = (0..200)
        .map(|i| {
            json!({"email": format!("demo-{i}@example.com"), "plan": if i % 2 == 0 { "free" } else { "pro" },
                        "firstName": format!("Demo {i}")})
        })
        .collect();
    let events: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"eventName": "demo_viewed", "email": format!("demo-{}@example.com", i % 200),
                        "sku": format!("sku-{}", i % 50), "createdAt": 1_700_000_000 + i})
        })
        .collect();
    let items: Vec<Value> = (0..500)
        .map(|i| json!({"itemId": format!("sku-{i}"), "name": format!("Product {i}"), "price": i}))
        .collect();
    let members: Vec<Value> = (0..200)
        .map(|i| json!({"email": format!("demo-{i}@example.com")}))
        .collect();
    let plan: Vec<(&str, &str, Value, Vec<Value>)> = vec![
        (
            "catalogs",
            "insert",
            json!({}),
            vec![json!({"name": "demo-products"})],
        ),
        (
            "catalog_items",
            "upsert",
            json!({"catalog": "demo-products"}),
            items,
        ),
        ("users", "upsert", json!({}), users),
        ("events", "insert", json!({}), events),
        (
            "lists",
            "insert",
            json!({}),
            vec![json!({"name": "Demo list"})],
        ),
    ];
    let mut rows = Vec::new();
    let mut list_id = None;
    for (object, op, options, input) in plan {
        let (row, results) =
            demo_write(inst, config, key.clone(), object, op, &options, input).await?;
        if object == "lists" {
            list_id = results.first().and_then(|r| r.id.clone());
        }
        rows.push(row);
    }
    if let Some(id) = list_id {
        let options = json!({"list_id": id});
        let mut members = members;
        if let Some(e) = email {
            members.push(json!({"email": e}));
        }
        let (row, _) =
            demo_write(inst, config, key, "list_users", "insert", &options, members).await?;
        rows.push(row);
    }
    Ok(rows)
}

async fn demo_write(
    inst: &mut crate::Instance,
    config: &str,
    key: Option<Arc<str>>,
    object: &str,
    op: &str,
    options: &Value,
    rows: Vec<Value>,
) -> Result<(WriteRow, Vec<RowResult>), Error> {
    let mut ndjson = Vec::new();
    for r in &rows {
        ndjson.extend_from_slice(r.to_string().as_bytes());
        ndjson.push(b'\n');
    }
    let options = options.to_string();
    let job = WriteJob {
        config,
        object,
        op,
        options: Some(&options),
        state: None,
        api_key: key,
    };
    let mut io = Collect {
        rows: Some(ndjson),
        results: Vec::new(),
    };
    let t = Instant::now();
    let summary = driver::write(inst, &job, &mut io).await?;
    let row = WriteRow {
        object: summary.object.clone(),
        op: summary.op.clone(),
        summary,
        seconds: t.elapsed().as_secs_f64(),
    };
    io.results.sort_by_key(|r| r.row);
    Ok((row, io.results))
}

/// Hands over all rows at once and keeps every result.
struct Collect {
    rows: Option<Vec<u8>>,
    results: Vec<RowResult>,
}

impl WriteIo for Collect {
    fn next_rows(&mut self, _max: usize) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.rows.take())
    }

    fn results(&mut self, rows: Vec<RowResult>) -> Result<(), Error> {
        self.results.extend(rows);
        Ok(())
    }

    fn commit(&mut self, _checkpoint: WriteCheckpoint) -> Result<(), Error> {
        Ok(())
    }

    fn log(&mut self, _message: LogMessage) -> Result<(), Error> {
        Ok(())
    }
}

fn selection(name: &str, modes: &[String]) -> StreamSelection {
    StreamSelection {
        name: name.to_string(),
        incremental: modes.iter().any(|m| m == "incremental"),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Setup(format!("cannot start the async runtime: {e}")))
}

/// Prints the table the demo ends with.
pub fn print_table(w: &mut dyn Write, report: &DemoReport) -> std::io::Result<()> {
    writeln!(
        w,
        "{:<34} {:>9} {:>9} {:>8}",
        "stream", "records", "requests", "seconds"
    )?;
    let (mut r, mut q) = (0, 0);
    for (name, row) in &report.rows {
        writeln!(
            w,
            "{:<34} {:>9} {:>9} {:>8.2}",
            name, row.records, row.requests, row.seconds
        )?;
        r += row.records;
        q += row.requests;
    }
    writeln!(
        w,
        "{:<34} {:>9} {:>9} {:>8.2}",
        "total", r, q, report.seconds
    )?;
    if report.writes.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:<34} {:>7} {:>7} {:>7} {:>8} {:>9} {:>8}",
        "write", "rows", "ok", "failed", "unknown", "requests", "seconds"
    )?;
    for row in &report.writes {
        let s = &row.summary;
        writeln!(
            w,
            "{:<34} {:>7} {:>7} {:>7} {:>8} {:>9} {:>8.2}",
            format!("{} {}", row.object, row.op),
            s.rows,
            s.ok,
            s.failed,
            s.unknown,
            s.requests,
            row.seconds
        )?;
    }
    Ok(())
}

struct DemoWriter {
    dir: PathBuf,
    files: BTreeMap<String, BufWriter<File>>,
    tally: protocol::Tally,
    spans: BTreeMap<String, (Instant, Instant)>,
    email: Option<String>,
    progress: Option<Instant>,
    streams: usize,
}

impl DemoWriter {
    fn new(dir: &Path, streams: usize) -> Self {
        DemoWriter {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            tally: Default::default(),
            spans: BTreeMap::new(),
            email: None,
            progress: std::io::stderr().is_terminal().then(Instant::now),
            streams,
        }
    }

    fn touch(&mut self, stream: &str) {
        let now = Instant::now();
        self.spans
            .entry(stream.to_string())
            .and_modify(|s| s.1 = now)
            .or_insert((now, now));
        if let Some(last) = self.progress
            && now.duration_since(last) > Duration::from_millis(200)
        {
            self.progress = Some(now);
            let records: u64 = self.tally.records.values().sum();
            let requests: u64 = self.tally.requests.values().sum();
            eprint!(
                "\r{records} records, {requests} requests, {}/{} streams started ",
                self.spans.len(),
                self.streams
            );
        }
    }

    fn file(&mut self, stream: &str) -> Result<&mut BufWriter<File>, Error> {
        if !self.files.contains_key(stream) {
            let path = self.dir.join(format!("{stream}.jsonl"));
            let f =
                File::create(&path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
            self.files.insert(stream.to_string(), BufWriter::new(f));
        }
        self.files
            .get_mut(stream)
            .ok_or_else(|| Error::Io("file table".into()))
    }

    fn finish(&mut self) -> Result<(), Error> {
        for f in self.files.values_mut() {
            f.flush().map_err(|e| Error::Io(e.to_string()))?;
        }
        if self.progress.is_some() {
            eprintln!();
        }
        Ok(())
    }
}

impl Output for DemoWriter {
    fn emit(&mut self, batch: RecordBatch) -> Result<(), Error> {
        if batch.stream == "list_users" && self.email.is_none() {
            self.email = lines(&batch.payload).find_map(|l| {
                serde_json::from_slice::<Value>(l)
                    .ok()?
                    .get("email")?
                    .as_str()
                    .map(str::to_string)
            });
        }
        self.touch(&batch.stream);
        let f = self.file(&batch.stream)?;
        f.write_all(&batch.payload)
            .map_err(|e| Error::Io(e.to_string()))?;
        *self.tally.records.entry(batch.stream).or_default() += u64::from(batch.rows);
        Ok(())
    }

    fn commit(&mut self, cp: Checkpoint) -> Result<(), Error> {
        self.touch(&cp.stream);
        let state = serde_json::from_str(&cp.state_json).unwrap_or(Value::Null);
        self.tally.states.insert(cp.stream, state);
        Ok(())
    }

    fn log(&mut self, _message: LogMessage) -> Result<(), Error> {
        Ok(())
    }

    fn request(&mut self, r: &HttpRequest) {
        *self.tally.requests.entry(r.stream.clone()).or_default() += 1;
        self.touch(&r.stream);
    }
}
