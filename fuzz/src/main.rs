//! `fuzz <target|all> [--iterations N] [--seconds S] [--seed X]`,
//! `fuzz replay <target> <file>...`, `fuzz list`. See `fuzz/README.md`.

use std::process::ExitCode;

use fuzz::runner::{self, Budget};
use fuzz::{TARGETS, Target};

const USAGE: &str = "usage:
  fuzz <target|all> [--iterations N] [--seconds S] [--seed X]   (default: --seconds 10)
  fuzz replay <target> <file>...
  fuzz list";

fn parse_seed(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("list") => {
            for t in TARGETS {
                println!("{:<14} {}", t.name, t.about);
            }
            ExitCode::SUCCESS
        }
        Some("replay") => replay(&args[1..]),
        Some(name) => fuzz(name, &args[1..]),
    }
}

fn replay(args: &[String]) -> ExitCode {
    let Some(target) = args.first().and_then(|n| Target::find(n)) else {
        eprintln!("replay: name a target (fuzz list)\n{USAGE}");
        return ExitCode::from(2);
    };
    let mut failed = false;
    for path in &args[1..] {
        let input = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
        };
        match runner::check_one(target, &input) {
            Ok(()) => println!("{path}: ok"),
            Err(m) => {
                println!("{path}: FAILED: {m}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn fuzz(name: &str, args: &[String]) -> ExitCode {
    let targets: Vec<&'static Target> = if name == "all" {
        TARGETS.iter().collect()
    } else {
        match Target::find(name) {
            Some(t) => vec![t],
            None => {
                eprintln!("unknown target {name:?} (fuzz list)\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    };
    let mut budget = Budget::default();
    let mut seed = 0x1234_5678_u64;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next();
        let ok = match (flag.as_str(), value) {
            ("--iterations", Some(v)) => v.parse().map(|n| budget.iterations = Some(n)).is_ok(),
            ("--seconds", Some(v)) => v.parse().map(|s| budget.seconds = Some(s)).is_ok(),
            ("--seed", Some(v)) => parse_seed(v).map(|s| seed = s).is_some(),
            _ => false,
        };
        if !ok {
            eprintln!("bad argument {flag:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    if budget.iterations.is_none() && budget.seconds.is_none() {
        budget.seconds = Some(10.0);
    }
    let mut failed = false;
    for t in targets {
        match runner::run(t, seed, budget) {
            Ok(o) => println!(
                "{:<14} {:>9} inputs in {:>6.1} s = {:>8.0}/s (+{} replayed), seed {seed:#x}: no finding",
                t.name,
                o.iterations,
                o.elapsed.as_secs_f64(),
                o.rate(),
                o.replayed
            ),
            Err(f) => {
                println!("{f}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
