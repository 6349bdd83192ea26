//! `iterable-sim`: a faithful Iterable API on loopback for tests, benchmarks and demos.
//!
//! [`spawn`] (synchronous callers) or [`start`] (inside tokio) runs a real
//! HTTP/1.1 server on 127.0.0.1 that authenticates like Iterable, validates
//! every request against Iterable's published OpenAPI document ([`spec`]),
//! enforces the documented rate limits, injects faults on request
//! ([`faults`], reads and writes) and logs every request ([`reqlog`]);
//! [`hostile`] puts the world behind a server that misbehaves on purpose. The
//! data behind it is the deterministic, seeded world of the `world` and
//! `api` modules; it counts how often each write was applied
//! ([`world::applied`]), served on `GET /_sim/applied` and by
//! [`RunningSim::applied`].

pub mod auth;
mod backend;
pub mod faults;
pub mod hostile;
pub mod ratelimit;
pub mod reqlog;
mod run;
pub mod server;
pub mod spec;
pub mod types;

// Seeded world, endpoint handlers and ground truth.
pub mod api;
pub mod truth;
pub mod world;

pub use faults::FaultOptions;
pub use hostile::{Hostile, HostileOptions, hostile_handler, spawn_hostile, start_hostile};
pub use reqlog::LogEntry;
pub use run::{
    AppliedCounts, RunningSim, SimOptions, now_seconds, spawn, spawn_with_handler, start,
    start_with_handler,
};
pub use server::Handler;
pub use spec::{MatchedOperation, Spec, Violation};

/// `iterable-sim truth …`: prints ground truth as JSON (used by the binary).
pub fn run_truth_cli(args: &[String]) -> Result<String, String> {
    backend::truth_cli(args)
}
