//! `iterable-sim`: a faithful Iterable API on loopback for tests, benchmarks and demos.

pub mod types;
