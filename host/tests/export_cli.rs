//! CSV export through the component: the `iterable-connector export`
//! command against the simulator. Every CSV is read back with a small
//! RFC 4180 reader (below) and compared, row for row, with the records
//! `read` hands out for the same config, rendered as the encoder defines.
//!
//! Needs the wasm built first (see `BUILD_HINT`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use connector_core::{EXTRA_COLUMN, all_streams, csv_columns};
use integration_tests::http_client::{self, Event};
use iterable_sim::types::{Scale, WorldOptions};
use iterable_sim::{FaultOptions, RunningSim, SimOptions};
use serde_json::{Value, json};

const KEY: &str = "test-key-host-export";

fn start_sim(seed: u64) -> RunningSim {
    iterable_sim::spawn(SimOptions {
        world: WorldOptions {
            seed,
            scale: Scale::Tiny,
            now: "2026-11-01T00:00:00Z".parse().unwrap(),
            late_index_secs: 0,
        },
        faults: FaultOptions::default(),
        api_key: Some(KEY.into()),
        ..SimOptions::default()
    })
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_iterable-connector"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "iterable-host-export-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A config file for `sim` with the key inside (the host takes it out).
fn config(dir: &Path, sim: &RunningSim, end: &str) -> PathBuf {
    let cfg = json!({"base_url": sim.base_url(), "api_key": KEY, "time_scale": 1000,
        "start_date": "2026-09-01T00:00:00Z", "end_date": end});
    let p = dir.join(format!("config-{}.json", &end[..10]));
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(bin()).args(args).output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(KEY), "the API key leaked: {all}");
    assert!(!all.contains("panicked"), "{all}");
    out
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `read` of `streams` (incremental where the stream has it): the records
/// of each stream.
fn read_records(dir: &Path, config: &Path, streams: &[&str]) -> BTreeMap<String, Vec<Value>> {
    let catalog = json!({"streams": streams.iter().map(|name| {
        let def = connector_core::find_stream(name).unwrap();
        let mode = if def.sync_modes().contains(&"incremental") { "incremental" } else { "full_refresh" };
        json!({"stream": {"name": name}, "sync_mode": mode})
    }).collect::<Vec<_>>()});
    let path = dir.join("catalog.json");
    std::fs::write(&path, catalog.to_string()).unwrap();
    let text = ok(run(&["read", "--config", s(config), "--catalog", s(&path)]));
    let mut out: BTreeMap<String, Vec<Value>> = streams
        .iter()
        .map(|n| (n.to_string(), Vec::new()))
        .collect();
    for line in text.lines() {
        let m: Value = serde_json::from_str(line).unwrap();
        if m["type"] == "RECORD" {
            let stream = m["record"]["stream"].as_str().unwrap().to_string();
            out.entry(stream)
                .or_default()
                .push(m["record"]["data"].clone());
        }
    }
    out
}

/// The project's custom user fields, as `users/getFields` answers.
fn user_fields(sim: &RunningSim) -> Value {
    let url = format!("{}/api/users/getFields", sim.base_url());
    let headers = [("Api-Key".to_string(), KEY.to_string())];
    let mut body = Vec::new();
    http_client::send("GET", &url, &headers, None, &mut |ev| {
        if let Event::Body(chunk) = ev {
            body.extend_from_slice(chunk)
        }
    });
    serde_json::from_slice(&body).unwrap()
}

/// A cell as read back: `None` for null (`null_value` unquoted).
type Cell = Option<String>;

/// The dialect a file was written in.
struct Dialect {
    delimiter: char,
    quote: char,
    crlf: bool,
    null_value: &'static str,
}

const DEFAULT: Dialect = Dialect {
    delimiter: ',',
    quote: '"',
    crlf: false,
    null_value: "",
};

/// A small RFC 4180 reader: quoted fields may hold the delimiter, doubled
/// quotes and line breaks; every record must end with the dialect's line
/// ending; an unquoted field equal to `null_value` is null.
fn parse_csv(text: &str, d: &Dialect) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    let mut row: Vec<Cell> = Vec::new();
    let mut chars = text.chars().peekable();
    let eol = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        if d.crlf {
            assert_eq!(chars.next(), Some('\r'), "a record must end with CRLF");
        }
        assert_eq!(chars.next(), Some('\n'));
    };
    while chars.peek().is_some() {
        // One field.
        let mut field = String::new();
        let quoted = chars.peek() == Some(&d.quote);
        if quoted {
            chars.next();
            loop {
                match chars.next() {
                    Some(c) if c == d.quote => {
                        if chars.peek() == Some(&d.quote) {
                            chars.next();
                            field.push(c);
                        } else {
                            break;
                        }
                    }
                    Some(c) => field.push(c),
                    None => panic!("unterminated quoted field"),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == d.delimiter || c == '\r' || c == '\n' {
                    break;
                }
                assert_ne!(c, d.quote, "a quote inside an unquoted field");
                field.push(c);
                chars.next();
            }
        }
        row.push(if !quoted && field == d.null_value {
            None
        } else {
            Some(field)
        });
        match chars.peek() {
            Some(&c) if c == d.delimiter => {
                chars.next();
            }
            Some('\r') | Some('\n') => {
                eol(&mut chars);
                rows.push(std::mem::take(&mut row));
            }
            None => panic!("the last record has no line ending"),
            Some(c) => panic!("unexpected {c:?} after a field"),
        }
    }
    rows
}

/// A record as the encoder defines its row: strings as they are, numbers
/// as JSON text, booleans, objects and arrays as compact JSON, null (or
/// absent) as null; `_extra` holds the fields outside `columns`.
fn render(record: &Value, columns: &[String]) -> Vec<Cell> {
    let obj = record.as_object().unwrap();
    let cell = |v: Option<&Value>| match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => Some(v.to_string()),
    };
    columns
        .iter()
        .map(|c| {
            if c == EXTRA_COLUMN {
                let extra: serde_json::Map<String, Value> = obj
                    .iter()
                    .filter(|(k, _)| !columns.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (!extra.is_empty()).then(|| Value::Object(extra).to_string())
            } else {
                cell(obj.get(c))
            }
        })
        .collect()
}

fn file_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).unwrap()
}

/// Checks one exported file against the records of `read`: the header is
/// the stream's columns, and the rows are the records (as multisets: the
/// two reads may interleave windows differently).
fn check_file(path: &Path, d: &Dialect, bom: bool, columns: &[String], records: &[Value]) -> usize {
    let mut text = file_text(path);
    if bom {
        assert!(text.starts_with('\u{feff}'), "{}: no BOM", path.display());
        text.remove(0);
    } else {
        assert!(!text.starts_with('\u{feff}'));
    }
    let mut rows = parse_csv(&text, d);
    assert!(!rows.is_empty(), "{}: no header", path.display());
    let header: Vec<Cell> = rows.remove(0);
    let header: Vec<String> = header.into_iter().map(|c| c.unwrap_or_default()).collect();
    assert_eq!(header, columns, "{}: header", path.display());
    for r in &rows {
        assert_eq!(
            r.len(),
            columns.len(),
            "{}: a row of another width",
            path.display()
        );
    }
    let mut expected: Vec<Vec<Cell>> = records.iter().map(|r| render(r, columns)).collect();
    rows.sort();
    expected.sort();
    assert_eq!(rows.len(), expected.len(), "{}: row count", path.display());
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!(got, want, "{}", path.display());
    }
    rows.len()
}

fn columns(stream: &str, fields: &Value) -> Vec<String> {
    csv_columns(stream, Some(fields)).unwrap()
}

#[test]
fn export_all_rereads_to_the_records_of_read() {
    let sim = start_sim(41);
    let dir = temp_dir("all");
    let cfg = config(&dir, &sim, "2026-11-01T00:00:00Z");
    let out = dir.join("out");
    let table = ok(run(&[
        "export",
        "--config",
        s(&cfg),
        "--all",
        "--out",
        s(&out),
    ]));
    let plain: Vec<&str> = all_streams()
        .filter(|d| !d.is_by_key())
        .map(|d| d.name)
        .collect();
    let records = read_records(&dir, &cfg, &plain);
    let fields = user_fields(&sim);
    let mut total = 0;
    let mut extra_seen = false;
    for name in &plain {
        let path = out.join(format!("{name}.csv"));
        let cols = columns(name, &fields);
        total += check_file(&path, &DEFAULT, false, &cols, &records[*name]);
        let n = records[*name].len().to_string();
        assert!(
            table
                .lines()
                .any(|l| l.split_whitespace().take(2).eq([*name, n.as_str()])),
            "{name}: {n} rows not in the table:\n{table}"
        );
        extra_seen |= file_text(&path).contains("\"{\"\"");
    }
    assert!(total > 500, "only {total} rows");
    assert!(extra_seen, "no record carried an undeclared field");
    // The by-user streams need a user: not part of --all without one.
    assert!(!out.join("events.csv").exists());
    // Custom user fields are columns of users.
    let users = columns("users", &fields);
    assert!(
        users.len()
            > all_streams()
                .find(|d| d.name == "users")
                .unwrap()
                .all_fields()
                .count()
                + 1
    );
}

#[test]
fn excel_options_and_gzip_round_trip() {
    let sim = start_sim(42);
    let dir = temp_dir("excel");
    let cfg = config(&dir, &sim, "2026-11-01T00:00:00Z");
    let streams = ["campaigns", "email_send", "users", "templates"];
    let records = read_records(&dir, &cfg, &streams);
    let fields = user_fields(&sim);
    let excel = Dialect {
        delimiter: ';',
        quote: '"',
        crlf: true,
        null_value: "NULL",
    };
    for gzip in [false, true] {
        let out = dir.join(if gzip { "gz" } else { "plain" });
        let mut args = vec![
            "export",
            "--config",
            s(&cfg),
            "--streams",
            "campaigns,email_send,users,templates",
            "--out",
            s(&out),
            "--delimiter",
            ";",
            "--line-ending",
            "crlf",
            "--bom",
            "--null-value",
            "NULL",
        ];
        if gzip {
            args.push("--gzip");
        }
        ok(run(&args));
        for name in streams {
            let path = out.join(format!("{name}.csv{}", if gzip { ".gz" } else { "" }));
            let n = check_file(&path, &excel, true, &columns(name, &fields), &records[name]);
            assert!(n > 0, "{name}: no rows");
        }
        if gzip {
            assert!(!out.join("campaigns.csv").exists());
        }
    }
    // Tab-separated, single quotes, no header.
    let out = dir.join("tsv");
    ok(run(&[
        "export",
        "--config",
        s(&cfg),
        "--streams",
        "campaigns",
        "--out",
        s(&out),
        "--delimiter",
        "tab",
        "--quote",
        "'",
        "--no-header",
    ]));
    let text = file_text(&out.join("campaigns.csv"));
    let tsv = Dialect {
        delimiter: '\t',
        quote: '\'',
        crlf: false,
        null_value: "",
    };
    let cols = columns("campaigns", &fields);
    let mut rows = parse_csv(&text, &tsv);
    let mut want: Vec<Vec<Cell>> = records["campaigns"]
        .iter()
        .map(|r| render(r, &cols))
        .collect();
    rows.sort();
    want.sort();
    assert_eq!(rows, want);
}

#[test]
fn state_appends_only_new_rows_and_cuts_back_to_the_last_commit() {
    let sim = start_sim(43);
    let dir = temp_dir("state");
    let mid = config(&dir, &sim, "2026-10-15T00:00:00Z");
    let end = config(&dir, &sim, "2026-11-01T00:00:00Z");
    let streams = ["email_send", "users", "custom_event"];
    let list = streams.join(",");
    let fields = user_fields(&sim);
    for gzip in [false, true] {
        let tag = if gzip { "gz" } else { "plain" };
        let out = dir.join(format!("inc-{tag}"));
        let state = dir.join(format!("state-{tag}.json"));
        let ext = if gzip { ".csv.gz" } else { ".csv" };
        let mut args = vec![
            "export",
            "--streams",
            &list,
            "--out",
            s(&out),
            "--state",
            s(&state),
        ];
        if gzip {
            args.push("--gzip");
        }
        // First run up to mid-October.
        let first = [&args[..], &["--config", s(&mid)]].concat();
        ok(run(&first));
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
        for name in streams {
            let f = &saved["files"][name];
            let len = std::fs::metadata(out.join(format!("{name}{ext}")))
                .unwrap()
                .len();
            assert_eq!(f["bytes"].as_u64(), Some(len), "{name}: {saved}");
            assert!(saved["streams"][name]["v"].is_number(), "{name}: {saved}");
        }
        // A crash after writing rows past the last commit leaves a tail.
        let tail_file = out.join(format!("email_send{ext}"));
        let mut bytes = std::fs::read(&tail_file).unwrap();
        bytes.extend_from_slice(b"written after the last commit\n");
        std::fs::write(&tail_file, bytes).unwrap();
        // Second run up to November: only the rows after mid-October.
        let second = [&args[..], &["--config", s(&end)]].concat();
        let table = ok(run(&second));
        assert!(table.contains("appended"), "{table}");
        // The files now hold what one full export holds.
        let records = read_records(&dir, &end, &streams);
        let mut grown = 0;
        for name in streams {
            let path = out.join(format!("{name}{ext}"));
            let n = check_file(
                &path,
                &DEFAULT,
                false,
                &columns(name, &fields),
                &records[name],
            );
            assert_eq!(n, records[name].len());
            let first_rows = saved["files"][name]["rows"].as_u64().unwrap() as usize;
            assert!(first_rows <= n, "{name}");
            grown += n - first_rows;
        }
        assert!(
            grown > 0,
            "the second run appended nothing: the test proves nothing"
        );
        // A third run finds nothing new and appends nothing.
        let before: Vec<Vec<u8>> = streams
            .iter()
            .map(|n| file_text(&out.join(format!("{n}{ext}"))).into_bytes())
            .collect();
        let table = ok(run(&second));
        for (name, old) in streams.iter().zip(&before) {
            assert_eq!(
                &file_text(&out.join(format!("{name}{ext}"))).into_bytes(),
                old,
                "{name}"
            );
            assert!(
                table
                    .lines()
                    .any(|l| l.split_whitespace().take(2).eq([*name, "0"])),
                "{name}:\n{table}"
            );
        }
    }
}

#[test]
fn bad_options_and_unquotable_values_are_typed_errors() {
    let sim = start_sim(44);
    let dir = temp_dir("errors");
    let cfg = config(&dir, &sim, "2026-11-01T00:00:00Z");
    let out = dir.join("out");
    let fail = |args: &[&str]| {
        let o = run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let base = [
        "export",
        "--config",
        s(&cfg),
        "--streams",
        "campaigns",
        "--out",
        s(&out),
    ];
    let e = fail(&[&base[..], &["--line-ending", "cr"]].concat());
    assert!(
        e.contains("invalid-input") && e.contains("line_ending") && e.contains("crlf"),
        "{e}"
    );
    let e = fail(&[&base[..], &["--delimiter", ";;"]].concat());
    assert!(e.contains("delimiter"), "{e}");
    // Campaign names hold spaces: with a space as the delimiter and no
    // quoting they cannot be written.
    let e = fail(&[&base[..], &["--delimiter", " ", "--quote", "none"]].concat());
    assert!(e.contains("row 1, column name"), "{e}");
    let e = fail(&[
        "export",
        "--config",
        s(&cfg),
        "--streams",
        "nope",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("unknown stream"), "{e}");
    let e = fail(&[
        "export",
        "--config",
        s(&cfg),
        "--streams",
        "events",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("email"), "{e}");
}
