//! The short run CI makes: every target's regressions and corpus, then
//! mutated inputs for a few seconds each (`FUZZ_SECONDS`, default 4; debug
//! builds run ~5–50k inputs per target in that time). A finding fails the
//! test with the input in hex and saved under `fuzz/artifacts/`.

use fuzz::TARGETS;
use fuzz::runner::{self, Budget};

#[test]
fn every_target_runs_without_a_finding() {
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    // A fixed seed: CI runs are reproducible; scripts/fuzz.sh varies it.
    let seed = 0x5eed_0014;
    let mut findings = Vec::new();
    for target in TARGETS {
        match runner::run(
            target,
            seed,
            Budget {
                iterations: None,
                seconds: Some(seconds),
            },
        ) {
            Ok(o) => {
                assert!(o.iterations > 0, "{}: no input ran", target.name);
                println!(
                    "{:<14} {:>8} inputs in {:.1} s ({:.0}/s), {} replayed",
                    target.name,
                    o.iterations,
                    o.elapsed.as_secs_f64(),
                    o.rate(),
                    o.replayed
                );
            }
            Err(f) => findings.push(f.to_string()),
        }
    }
    assert!(findings.is_empty(), "{}", findings.join("\n\n"));
}
