//! Fault injection: cut bodies, 500s, malformed lines, slow bodies.

mod server_support;

use std::time::Instant;

use iterable_sim::{FaultOptions, SimOptions};
use server_support::{EXPORT_JSON, EXPORT_LINES, export_line, fake_sim, get};

fn with(faults: FaultOptions) -> SimOptions {
    SimOptions {
        faults,
        ..SimOptions::default()
    }
}

fn full_export() -> String {
    (0..EXPORT_LINES).map(export_line).collect()
}

#[test]
fn cut_after_bytes_leaves_an_incomplete_chunked_body() {
    let (sim, _) = fake_sim(with(FaultOptions {
        cut_after_bytes: Some(1000),
        ..FaultOptions::default()
    }));
    let r = get(&sim.base_url(), EXPORT_JSON);
    assert_eq!(r.status, 200);
    assert!(!r.complete, "the client must see an unfinished body");
    assert_eq!(r.body.len(), 1000);
    assert_eq!(r.body[..], full_export().as_bytes()[..1000]);
    let log = sim.request_log();
    assert_eq!(log[0].bytes, 1000);
}

#[test]
fn cut_applies_to_fixed_length_bodies_and_spares_short_ones() {
    let (sim, _) = fake_sim(with(FaultOptions {
        cut_after_bytes: Some(30),
        ..FaultOptions::default()
    }));
    // The fake's success envelope is longer than 30 bytes.
    let r = get(&sim.base_url(), "/api/campaigns");
    assert!(!r.complete);
    assert_eq!(r.body.len(), 30);
    assert!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 30
    );
    let r = get(&sim.base_url(), "/api/export/data.csv?dataTypeName=user");
    assert!(r.complete, "{} bytes is under the cut", r.body.len());
}

#[test]
fn error_rate_one_always_fails_and_zero_never_does() {
    let (sim, api) = fake_sim(with(FaultOptions {
        error_rate: 1.0,
        ..FaultOptions::default()
    }));
    for target in ["/api/campaigns", EXPORT_JSON, "/_files/f1"] {
        let r = get(&sim.base_url(), target);
        assert_eq!(r.status, 500, "{target}");
        assert_eq!(
            r.json(),
            serde_json::json!({"msg":"An error occurred. Please try again later. If problem persists, please contact your CSM","code":"GenericError"})
        );
    }
    assert_eq!(api.calls(), 0);
    let (sim, _) = fake_sim(with(FaultOptions::default()));
    assert!((0..50).all(|_| get(&sim.base_url(), "/api/campaigns").status == 200));
}

#[test]
fn error_rate_is_deterministic_per_seed() {
    let pattern = |seed| {
        let mut opts = with(FaultOptions {
            error_rate: 0.5,
            ..FaultOptions::default()
        });
        opts.world.seed = seed;
        let (sim, _) = fake_sim(opts);
        (0..40)
            .map(|_| get(&sim.base_url(), "/api/channels").status)
            .collect::<Vec<_>>()
    };
    let a = pattern(11);
    assert_eq!(a, pattern(11));
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
    assert_ne!(a, pattern(12));
}

#[test]
fn malformed_rate_adds_lines_and_keeps_every_real_one() {
    let (sim, _) = fake_sim(with(FaultOptions {
        malformed_rate: 0.3,
        ..FaultOptions::default()
    }));
    let r = get(&sim.base_url(), EXPORT_JSON);
    assert!(r.complete);
    let text = r.text();
    let (good, bad): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|l| serde_json::from_str::<serde_json::Value>(l).is_ok());
    let expected: Vec<String> = (0..EXPORT_LINES)
        .map(|i| export_line(i).trim_end().to_string())
        .collect();
    assert_eq!(good, expected, "real rows unchanged, in order");
    assert!(
        bad.len() > 20 && bad.len() < 110,
        "about 30%: {}",
        bad.len()
    );
    // Non-NDJSON bodies are untouched, and download files are NDJSON too.
    let r = get(&sim.base_url(), "/api/export/data.csv?dataTypeName=user");
    assert_eq!(r.text(), "dataTypeName\nuser\n");
    let r = get(&sim.base_url(), "/_files/x");
    assert!(r.text().lines().count() >= 10);
    // Rate 0 inserts nothing.
    let (sim, _) = fake_sim(with(FaultOptions::default()));
    assert_eq!(get(&sim.base_url(), EXPORT_JSON).text(), full_export());
}

#[test]
fn slow_body_takes_measurably_longer() {
    let total = full_export().len() as f64; // about 7 KB
    let bps = 10_000;
    let (sim, _) = fake_sim(with(FaultOptions {
        slow_body_bps: Some(bps),
        ..FaultOptions::default()
    }));
    let t0 = Instant::now();
    let r = get(&sim.base_url(), EXPORT_JSON);
    let took = t0.elapsed().as_secs_f64();
    assert!(r.complete);
    assert_eq!(r.text(), full_export());
    // Generous lower bound: half the nominal transfer time.
    assert!(took >= 0.5 * total / bps as f64, "took {took}s");
}
