//! The same read session natively and through the wasm component in
//! wasmtime, side by side in one run: `cargo bench -p iterable-connector-host
//! --bench wasm_ratio` (build the component first with the `wasm-release`
//! profile; `CONNECTOR_WASM` overrides where it is looked for).
//!
//! Both sides read 200,000 `emailSend` export rows fed from memory in 64 KiB
//! chunks and produce what a host receives: NDJSON batches. Natively that is
//! `ReadSession` handing out its batches (NDJSON already, as the component
//! passes them on), so the ratio is the cost of running
//! the same work as wasm plus crossing the component boundary. Runs
//! alternate native / wasm so machine noise hits both alike; medians are
//! printed, with greppable `wasm_native_ratio:`, `component_load_ms:` and
//! `instantiate_ms:` lines. An untimed first read checks that both sides
//! hand out the same bytes (the component hashes keys with its own SIMD
//! code, which native tests do not run).

use std::time::Instant;

use integration_tests::bench_data::{
    BENCH_CONFIG, BENCH_NOW as NOW, email_send_ndjson, read_natively, read_natively_with,
};
use iterable_connector_host::runtime::{self, Action as WAction, Connector, Instance};

/// The native side's allocator: the one the core's native host (the Python
/// extension) ships with, as in `core_throughput`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROWS: usize = 200_000;
const CHUNK: usize = 64 * 1024;
const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn json_stream_head() -> [(String, String); 1] {
    [(
        "content-type".to_string(),
        "application/x-json-stream".to_string(),
    )]
}

/// One native read; returns the rows and payload bytes handed out.
fn native(body: &[u8]) -> (usize, usize) {
    read_natively(body, CHUNK)
}

/// The same read through the component's `read-session`.
async fn wasm(inst: &mut Instance, body: &[u8]) -> (usize, usize) {
    wasm_with(inst, body, |_| {}).await
}

/// [`wasm`], handing each batch's payload to `on_batch`.
async fn wasm_with(
    inst: &mut Instance,
    body: &[u8],
    mut on_batch: impl FnMut(&[u8]),
) -> (usize, usize) {
    let selection = [runtime::StreamSelection {
        name: "email_send".into(),
        incremental: true,
    }];
    let s = inst
        .open(BENCH_CONFIG, &selection, None)
        .await
        .expect("open");
    let (mut rows, mut bytes) = (0, 0);
    loop {
        match inst.poll(&s, NOW).await.expect("poll") {
            WAction::Fetch(req) => {
                inst.on_response_head(&s, req.id, 200, &json_stream_head())
                    .await
                    .expect("head");
                for c in body.chunks(CHUNK) {
                    inst.on_response_body(&s, req.id, c).await.expect("body");
                }
                inst.on_response_end(&s, req.id).await.expect("end");
            }
            WAction::Emit(b) => {
                rows += b.rows as usize;
                bytes += b.payload.len();
                on_batch(&b.payload);
            }
            WAction::Done(_) => break,
            WAction::Commit(_) | WAction::Log(_) | WAction::SleepUntil(_) => {}
            WAction::AwaitResponse => panic!("nothing in flight"),
        }
    }
    inst.close(s).await.expect("close");
    (rows, bytes)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let path = runtime::locate_component(None).expect("component");
    // The first load compiles and fills the cache; the timed loads read it.
    let (connector, _) = Connector::load(&path).expect("load");
    let mut load_ms = Vec::new();
    let mut inst_ms = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let (c, from) = Connector::load(&path).expect("load");
        load_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(
            from,
            runtime::LoadedFrom::Cache,
            "the compile cache is off or not writable (CONNECTOR_CACHE_DIR)"
        );
        let t = Instant::now();
        let i = rt.block_on(c.instantiate()).expect("instantiate");
        inst_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(i);
    }

    let body = email_send_ndjson(ROWS);
    let mb = body.len() as f64 / 1e6;
    let mut inst = rt.block_on(connector.instantiate()).expect("instantiate");
    let mut native_out = Vec::new();
    read_natively_with(&body, CHUNK, |_, ndjson| {
        native_out.extend_from_slice(ndjson.as_bytes())
    });
    let mut wasm_out = Vec::new();
    rt.block_on(wasm_with(&mut inst, &body, |p| {
        wasm_out.extend_from_slice(p)
    }));
    assert!(
        native_out == wasm_out,
        "native and wasm hand out the same bytes"
    );
    drop((native_out, wasm_out));
    let (mut native_s, mut wasm_s) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let t = Instant::now();
        let n = native(&body);
        native_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let w = rt.block_on(wasm(&mut inst, &body));
        wasm_s.push(t.elapsed().as_secs_f64());
        assert_eq!(n.0, ROWS);
        assert_eq!(n, w, "native and wasm hand out the same rows and bytes");
    }
    let (n, w) = (median(native_s), median(wasm_s));
    println!(
        "wasm_ratio: {ROWS} email_send rows, {mb:.1} MB NDJSON, {CHUNK}-byte chunks, median of {RUNS}"
    );
    println!(
        "  native (session + NDJSON batches): {:>7.1} MB/s {:>9.0} rows/s",
        mb / n,
        ROWS as f64 / n
    );
    println!(
        "  wasm component in wasmtime       : {:>7.1} MB/s {:>9.0} rows/s",
        mb / w,
        ROWS as f64 / w
    );
    println!("native_mb_s: {:.1}", mb / n);
    println!("wasm_mb_s: {:.1}", mb / w);
    println!("wasm_native_ratio: {:.2}", w / n);
    println!("component_load_ms: {:.1}", median(load_ms));
    println!("instantiate_ms: {:.2}", median(inst_ms));
}
