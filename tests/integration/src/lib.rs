//! Test-only native driver for the core, plus helpers shared by the
//! integration tests (the simulator runs in-process).

pub mod bench_data;
pub mod driver;
pub mod fixtures;
pub mod http_client;
pub mod mock_iterable;
