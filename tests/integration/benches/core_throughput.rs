//! Core throughput on export NDJSON (generated `emailSend` rows, or a
//! recorded export named by `CORE_BENCH_BODY`): the parser alone, a whole read
//! session (parse + shape + synthetic keys + de-dup bookkeeping + batching)
//! a SQL query with a residual filter over that read, and CSV encoding of
//! the session's output, fed from memory. `cargo bench -p integration-tests --bench core_throughput`.
//! Prints the median of several runs; figures go to BENCHMARKS.md.

use std::time::Instant;

use connector_core::{BodyFormat, BodyParser, ParseOptions};
use connector_core::{Config, QuerySession, SqlPlan, plan_sql};
use connector_core::{CsvEncoder, CsvOptions, csv_columns};
use integration_tests::bench_data::{self, read_natively, read_natively_with};
use integration_tests::driver::{self, MockResponse, MockTransport, VirtualClock};
use serde_json::json;

/// The allocator of the core's native host, the Python extension: with
/// glibc's malloc, every 1000-row batch buffer (about half a megabyte) is
/// mapped afresh and faulted in page by page, which measures the allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROWS: usize = 200_000;
const CHUNK: usize = 64 * 1024;
const RUNS: usize = 5;

/// The export body: `CORE_BENCH_BODY` names a recorded `emailSend` export
/// (NDJSON) to measure instead of the generated rows, e.g. the simulator's,
/// whose rows carry `transactionalData` as escaped JSON text.
fn body() -> Vec<u8> {
    match std::env::var_os("CORE_BENCH_BODY") {
        Some(path) => std::fs::read(&path)
            .unwrap_or_else(|e| panic!("CORE_BENCH_BODY {}: {e}", path.to_string_lossy())),
        None => bench_data::email_send_ndjson(ROWS),
    }
}

/// Rows in `body` (its non-blank lines).
fn rows_in(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Whether to run a part: `CORE_BENCH_PARTS=session` (comma-separated:
/// parser, session, sql, csv) runs only those, e.g. under a profiler.
fn wanted(part: &str) -> bool {
    std::env::var("CORE_BENCH_PARTS").map_or(true, |parts| parts.split(',').any(|p| p == part))
}

fn main() {
    let body = body();
    let mb = body.len() as f64 / 1e6;
    let rows = rows_in(&body);

    println!(
        "core_throughput: {rows} email_send rows, {mb:.1} MB NDJSON, {CHUNK}-byte chunks, median of {RUNS}"
    );
    if wanted("parser") {
        parser(&body, mb, rows);
    }
    if wanted("session") {
        session(&body, mb, rows);
    }
    if wanted("sql") {
        sql(&body, mb, rows);
    }
    if wanted("csv") {
        csv(&body, rows);
    }
}

fn parser(body: &[u8], mb: f64, rows: usize) {
    let mut parse_secs = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut p = BodyParser::new(BodyFormat::Ndjson, ParseOptions::default());
        let mut n = 0;
        for c in body.chunks(CHUNK) {
            p.push(c).unwrap();
            n += p.take_rows().len();
        }
        p.finish().unwrap();
        n += p.take_rows().len();
        assert_eq!(n, rows);
        parse_secs.push(t.elapsed().as_secs_f64());
    }
    report(
        "parser only",
        Some("parser_mb_s"),
        median(parse_secs),
        mb,
        rows,
    );
}

/// Prints a part's median: MB/s and rows/s, and, for the figures
/// scripts/bench.sh reads, one greppable `label: MB/s` line.
fn report(what: &str, label: Option<&str>, secs: f64, mb: f64, rows: usize) {
    println!(
        "  {what:<19}: {:>8.1} MB/s  {:>10.0} rows/s",
        mb / secs,
        rows as f64 / secs
    );
    if let Some(label) = label {
        println!("{label}: {:.1}", mb / secs);
    }
}

fn session(body: &[u8], mb: f64, rows: usize) {
    let mut session_secs = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let (handed_out, _bytes) = read_natively(body, CHUNK);
        session_secs.push(start.elapsed().as_secs_f64());
        assert_eq!(handed_out, rows);
    }
    report(
        "read session (all)",
        Some("core_mb_s"),
        median(session_secs),
        mb,
        rows,
    );
}

fn sql(body: &[u8], mb: f64, rows: usize) {
    // The same read behind a SELECT whose filter the API cannot apply: every
    // row is read and shaped, then evaluated; about one in five passes.
    let sql = "SELECT email, createdAt, messageId FROM email_send \
               WHERE email LIKE 'user1%' AND templateId = 3043605";
    let mut query_secs = Vec::new();
    let mut matched = 0;
    for _ in 0..RUNS {
        let config = Config::from_json(&json!({"base_url": "http://bench.test",
            "start_date": "2024-02-01", "end_date": "2024-02-02", "window_days": 1}))
        .unwrap();
        let Ok(SqlPlan::Select(plan)) = plan_sql(&config, sql, &Default::default(), None) else {
            panic!("the bench query plans as a SELECT");
        };
        let mut session = QuerySession::open(plan).unwrap();
        let b = body.to_vec();
        let mut t = MockTransport::new(move |_| {
            MockResponse::Ok(200, "application/x-json-stream", b.clone())
        });
        t.chunk = CHUNK;
        let start = Instant::now();
        let out = driver::run(
            &mut session,
            &mut t,
            &mut VirtualClock(1_706_800_000_000),
            None,
        )
        .unwrap();
        query_secs.push(start.elapsed().as_secs_f64());
        matched = out.count("email_send");
        // The query picks some of the generated rows (a recorded export
        // may match none).
        let generated = std::env::var_os("CORE_BENCH_BODY").is_none();
        assert!(matched < rows && (matched > 0 || !generated));
    }

    report("SQL residual filter", None, median(query_secs), mb, rows);
    println!("  ({matched} rows matched)");
}

/// CSV encoding alone (as `to_csv` and `export --format csv` do it) of the
/// session's NDJSON batches, collected untimed first; MB/s of that NDJSON.
fn csv(body: &[u8], rows: usize) {
    let mut batches = Vec::new();
    read_natively_with(body, CHUNK, |_, ndjson| batches.push(ndjson.to_string()));
    let mb = batches.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let columns = csv_columns("email_send", None).unwrap();
    let mut secs = Vec::new();
    for _ in 0..RUNS {
        let mut enc = CsvEncoder::new(columns.clone(), CsvOptions::default()).unwrap();
        let mut out = Vec::new();
        let (start, mut encoded) = (Instant::now(), 0);
        for b in &batches {
            out.clear();
            encoded += enc.encode_ndjson(b.as_bytes(), &mut out).unwrap();
        }
        secs.push(start.elapsed().as_secs_f64());
        assert_eq!(encoded, rows);
    }
    report("CSV encoding", Some("csv_mb_s"), median(secs), mb, rows);
}
