//! `iterable-connector export`: streams read through the component, each
//! written to `DIR/<stream>.csv` (or `.csv.gz`) by the component's CSV
//! encoder, with a state file for incremental runs.
//!
//! - Columns: the component's `csv-columns` (fields in definition order,
//!   the project's custom user fields for `users` / `user_profile`, then
//!   `_extra` for anything undeclared); cells as the core's encoder writes
//!   them (RFC 4180, null distinct from the empty string).
//! - `--state FILE`: `{"streams": {...}, "files": {...}}`. `streams` is the
//!   read state (as for `read --state`); `files` records, per stream, the
//!   file's size, rows, columns and CSV options at the last commit. The
//!   file is rewritten (after the CSV files are flushed) at every commit.
//!   A run with it appends to the files of incremental streams — no header
//!   — after cutting them back to the size recorded at the last commit, so
//!   rows written after that commit and read again are not doubled; it
//!   keeps the recorded columns (a field declared since goes to `_extra`).
//!   Full-refresh streams, and streams whose file is missing or has no
//!   entry, are read from the start into a new file.
//! - `--gzip`: each commit closes a gzip member, so an appended run adds
//!   members (gzip readers read them as one stream) and a cut at a commit
//!   leaves a valid file.
//!
//! Encoding runs in a second component instance: the first one is busy
//! with the read session while batches arrive.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Map, Value, json};

use crate::driver::{self, Output, ReadJob};
use crate::protocol::{self, LoadedConfig};
use crate::runtime::{Checkpoint, CsvHandle, LogLevel, LogMessage, RecordBatch, StreamSelection};
use crate::{Connector, Error, Instance};

/// Streams whose columns include the project's custom user fields.
const USER_FIELD_STREAMS: &[&str] = &["users", "user_profile"];

/// What `export` was asked for.
pub struct ExportOptions {
    /// Streams by name (ignored with `all`).
    pub streams: Vec<String>,
    /// Every stream that needs no user filter, plus the by-user streams
    /// when the config names a user (`email` / `user_id`).
    pub all: bool,
    pub out: PathBuf,
    /// CSV options as the component takes them (`delimiter`, `quote`, ...).
    pub csv: Map<String, Value>,
    pub gzip: bool,
    pub state: Option<PathBuf>,
}

/// One stream's result.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub stream: String,
    /// Rows written by this run.
    pub rows: u64,
    /// Rows in the file now.
    pub total: u64,
    pub file: PathBuf,
    /// Appended to an existing file (an incremental run).
    pub appended: bool,
}

/// Runs an export to completion: every selected stream read and written.
pub async fn run(
    connector: &Connector,
    cfg: &LoadedConfig,
    opts: &ExportOptions,
) -> Result<Vec<ExportRow>, Error> {
    let mut inst = connector.instantiate().await?;
    inst.validate_config(&cfg.json).await?;
    let options = Value::Object(opts.csv.clone());
    let options_text = options.to_string();
    let catalog = inst.discover(&cfg.json, None).await?;
    let has_user = ["email", "user_id"]
        .iter()
        .any(|k| cfg.value.get(*k).is_some_and(|v| !v.is_null()));
    let names: Vec<String> = if opts.all {
        catalog
            .iter()
            .filter(|d| !d.requires_user_filter || has_user)
            .map(|d| d.name.clone())
            .collect()
    } else {
        let mut seen = Vec::new();
        for s in &opts.streams {
            if !s.is_empty() && !seen.contains(s) {
                seen.push(s.clone());
            }
        }
        seen
    };
    if let Some(d) = catalog
        .iter()
        .find(|d| d.requires_user_filter && !has_user && names.contains(&d.name))
    {
        return Err(Error::Usage(format!(
            "stream \"{}\" reads one user's data: set \"email\" (or \"user_id\") in the config",
            d.name
        )));
    }
    if names.is_empty() {
        return Err(Error::Usage(
            "export: name streams with --streams a,b or pass --all".into(),
        ));
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", opts.out.display())))?;

    // The state file: read state and the files it covers.
    let (mut states, mut manifest) = match &opts.state {
        Some(p) if p.is_file() => {
            let value = protocol::read_json_file(p, "state")?;
            let files = value
                .get("files")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            (protocol::normalize_state(&value)?, files)
        }
        _ => Default::default(),
    };

    let user_fields = if names
        .iter()
        .any(|n| USER_FIELD_STREAMS.contains(&n.as_str()))
    {
        match driver::user_fields(&mut inst, &cfg.json, cfg.api_key.clone()).await {
            Ok(f) => Some(f),
            Err(m) => {
                eprintln!("WARN custom user fields not read ({m}); they go to _extra");
                None
            }
        }
    } else {
        None
    };

    let mut enc = connector.instantiate().await?;
    let mut files = BTreeMap::new();
    let mut selection = Vec::new();
    for name in &names {
        let desc = catalog.iter().find(|d| &d.name == name);
        let incremental = desc.is_some_and(|d| d.sync_modes.iter().any(|m| m == "incremental"));
        let path = opts
            .out
            .join(format!("{name}.csv{}", if opts.gzip { ".gz" } else { "" }));
        let recorded = manifest.get(name).cloned();
        // A state without a `files` entry (e.g. one `read` wrote) appends
        // at the end of the file, with today's columns.
        let append =
            opts.state.is_some() && incremental && states.contains_key(name) && path.is_file();
        let columns = match recorded.as_ref().filter(|_| append) {
            Some(r) => {
                if r.get("options") != Some(&options) {
                    return Err(Error::Usage(format!(
                        "{} was written with other CSV options ({}); export with the same \
                         options or to another --out",
                        path.display(),
                        r.get("options").unwrap_or(&Value::Null)
                    )));
                }
                string_list(r.get("columns")).ok_or_else(|| {
                    Error::Usage(format!("state file: files.{name}.columns is not a list"))
                })?
            }
            None => {
                inst.csv_columns(&cfg.json, name, user_fields.as_deref())
                    .await?
            }
        };
        let handle = enc.csv_open(&columns, Some(&options_text)).await?;
        let file = if append {
            let r = recorded.unwrap_or_default();
            let bytes = r.get("bytes").and_then(Value::as_u64);
            let rows = r.get("rows").and_then(Value::as_u64).unwrap_or(0);
            CsvFile::reopen(&path, bytes, rows, opts.gzip)?
        } else {
            states.remove(name);
            manifest.remove(name);
            let header = enc.csv_header(&handle).await?;
            CsvFile::create(&path, &header, opts.gzip)?
        };
        files.insert(
            name.clone(),
            Stream {
                file,
                handle,
                columns,
                appended: append,
                rows: 0,
            },
        );
        selection.push(StreamSelection {
            name: name.clone(),
            incremental,
        });
    }

    let read_state = protocol::state_json(&states);
    let mut out = ExportOutput {
        enc,
        rt: tokio::runtime::Handle::current(),
        streams: files,
        states,
        manifest,
        options,
        state_path: opts.state.clone(),
    };
    let job = ReadJob {
        config: &cfg.json,
        streams: &selection,
        state: read_state.as_deref(),
        api_key: cfg.api_key.clone(),
    };
    let result = driver::read(&mut inst, &job, &mut out).await;
    // Whatever happened, what was written reaches the disk; the state file
    // moves only on success (or at the commits before a failure).
    out.flush()?;
    result?;
    let names: Vec<String> = out.streams.keys().cloned().collect();
    for name in &names {
        out.record(name)?;
    }
    out.save_state()?;
    let mut rows = Vec::new();
    for name in &names {
        let s = &out.streams[name];
        rows.push(ExportRow {
            stream: name.clone(),
            rows: s.rows,
            total: s.file.rows,
            file: s.file.path.clone(),
            appended: s.appended,
        });
    }
    let ExportOutput {
        mut enc, streams, ..
    } = out;
    for (_, s) in streams {
        enc.csv_close(s.handle).await?;
    }
    Ok(rows)
}

fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|c| c.as_str().map(str::to_string))
        .collect()
}

/// Prints the per-stream table.
pub fn print_table(w: &mut dyn Write, rows: &[ExportRow]) -> std::io::Result<()> {
    writeln!(
        w,
        "{:<34} {:>9} {:>10}  {:<8} FILE",
        "STREAM", "ROWS", "FILE ROWS", "MODE"
    )?;
    for r in rows {
        let mode = if r.appended { "appended" } else { "new" };
        writeln!(
            w,
            "{:<34} {:>9} {:>10}  {:<8} {}",
            r.stream,
            r.rows,
            r.total,
            mode,
            r.file.display()
        )?;
    }
    let total: u64 = rows.iter().map(|r| r.rows).sum();
    writeln!(w, "{:<34} {:>9}", "TOTAL", total)
}

/// One stream being exported.
struct Stream {
    file: CsvFile,
    handle: CsvHandle,
    columns: Vec<String>,
    appended: bool,
    /// Rows written by this run.
    rows: u64,
}

/// Batches encoded by the second instance into the files; states written
/// after the files are flushed.
struct ExportOutput {
    enc: Instance,
    rt: tokio::runtime::Handle,
    streams: BTreeMap<String, Stream>,
    states: BTreeMap<String, Value>,
    manifest: Map<String, Value>,
    options: Value,
    state_path: Option<PathBuf>,
}

impl ExportOutput {
    /// Ends the stream's segment (flushed, synced) and notes the file in
    /// the manifest.
    fn record(&mut self, name: &str) -> Result<(), Error> {
        let Some(s) = self.streams.get_mut(name) else {
            return Ok(());
        };
        let bytes = s.file.commit()?;
        let file_name = s
            .file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.manifest.insert(
            name.to_string(),
            json!({
                "file": file_name,
                "bytes": bytes,
                "rows": s.file.rows,
                "columns": s.columns,
                "options": self.options,
            }),
        );
        Ok(())
    }

    /// Replaces the state file (written whole, then renamed into place).
    fn save_state(&self) -> Result<(), Error> {
        let Some(path) = &self.state_path else {
            return Ok(());
        };
        let value = json!({"streams": self.states, "files": self.manifest});
        let text = serde_json::to_vec_pretty(&value).map_err(|e| Error::Io(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))
    }
}

impl Output for ExportOutput {
    fn emit(&mut self, batch: RecordBatch) -> Result<(), Error> {
        let Some(s) = self.streams.get(&batch.stream) else {
            return Err(Error::Io(format!(
                "a batch of stream {} that was not asked for",
                batch.stream
            )));
        };
        // `Output` is synchronous and the read's driver holds the first
        // instance: the second one encodes, run to completion in place.
        let handle = &s.handle;
        let rt = self.rt.clone();
        let enc = &mut self.enc;
        let bytes =
            tokio::task::block_in_place(|| rt.block_on(enc.csv_encode(handle, &batch.payload)))
                .map_err(|e| match e {
                    Error::Connector(mut c) => {
                        c.stream.get_or_insert(batch.stream.clone());
                        Error::Connector(c)
                    }
                    other => other,
                })?;
        let s = self.streams.get_mut(&batch.stream).expect("checked above");
        s.file.write(&bytes)?;
        s.file.rows += u64::from(batch.rows);
        s.rows += u64::from(batch.rows);
        Ok(())
    }

    fn commit(&mut self, cp: Checkpoint) -> Result<(), Error> {
        let state = serde_json::from_str(&cp.state_json).unwrap_or(Value::Null);
        self.record(&cp.stream)?;
        self.states.insert(cp.stream, state);
        self.save_state()
    }

    fn log(&mut self, m: LogMessage) -> Result<(), Error> {
        if matches!(m.level, LogLevel::Warn | LogLevel::Error) {
            eprintln!("{}", protocol::log_line(&m));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        for s in self.streams.values_mut() {
            s.file.commit()?;
        }
        Ok(())
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// A CSV file being written: plain, or gzip with one member per commit.
struct CsvFile {
    path: PathBuf,
    gzip: bool,
    plain: Option<BufWriter<File>>,
    member: Option<GzEncoder<BufWriter<File>>>,
    /// Rows in the file.
    rows: u64,
}

impl CsvFile {
    /// A new file (an existing one is replaced) starting with `header`.
    fn create(path: &Path, header: &[u8], gzip: bool) -> Result<CsvFile, Error> {
        let f = File::create(path).map_err(|e| io(path, e))?;
        let mut file = CsvFile {
            path: path.to_path_buf(),
            gzip,
            plain: Some(BufWriter::new(f)),
            member: None,
            rows: 0,
        };
        if gzip {
            // Even an empty header makes a member: the file is valid gzip.
            file.open_member();
        }
        file.write(header)?;
        file.commit()?;
        Ok(file)
    }

    /// An existing file, cut back to `bytes` (its size at the last commit)
    /// when it is longer, then appended to.
    fn reopen(path: &Path, bytes: Option<u64>, rows: u64, gzip: bool) -> Result<CsvFile, Error> {
        let mut f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        let len = f.metadata().map_err(|e| io(path, e))?.len();
        if let Some(b) = bytes
            && b < len
        {
            f.set_len(b).map_err(|e| io(path, e))?;
        }
        f.seek(SeekFrom::End(0)).map_err(|e| io(path, e))?;
        Ok(CsvFile {
            path: path.to_path_buf(),
            gzip,
            plain: Some(BufWriter::new(f)),
            member: None,
            rows,
        })
    }

    fn open_member(&mut self) {
        if let Some(w) = self.plain.take() {
            self.member = Some(GzEncoder::new(w, Compression::default()));
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.gzip {
            self.open_member();
        }
        let r = match (&mut self.member, &mut self.plain) {
            (Some(gz), _) => gz.write_all(bytes),
            (None, Some(w)) => w.write_all(bytes),
            (None, None) => Ok(()),
        };
        r.map_err(|e| io(&self.path, e))
    }

    /// Closes the gzip member, flushes and syncs; returns the file's size.
    fn commit(&mut self) -> Result<u64, Error> {
        if let Some(gz) = self.member.take() {
            self.plain = Some(gz.finish().map_err(|e| io(&self.path, e))?);
        }
        let Some(w) = self.plain.as_mut() else {
            return Ok(0);
        };
        w.flush().map_err(|e| io(&self.path, e))?;
        let f = w.get_mut();
        f.sync_data().map_err(|e| io(&self.path, e))?;
        f.stream_position().map_err(|e| io(&self.path, e))
    }
}
