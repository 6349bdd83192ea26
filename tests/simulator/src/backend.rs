//! The one place that binds the server layer to the world and API handlers.
//!
//! TEMPORARY STUB until `crate::world::World` and `crate::api::handle` land:
//! every API call answers 501 so the server layer can be built and tested on
//! its own. When `pub mod world; pub mod api; pub mod truth;` are in lib.rs,
//! replace `StubWorld` with
//! `struct WorldHandler(crate::world::World)` whose `handle` calls
//! `crate::api::handle(&self.0, req)`, build it with
//! `crate::world::World::new(opts)`, and make `truth_cli` call
//! `crate::truth::run_cli(args)`. Nothing else in the server layer changes.
//! (The server-layer tests use their own fake handler, so they keep passing.)

use std::sync::Arc;

use crate::server::Handler;
use crate::types::{ApiRequest, ApiResponse, WorldOptions};

struct StubWorld {
    _opts: WorldOptions,
}

impl Handler for StubWorld {
    fn handle(&self, req: &ApiRequest) -> ApiResponse {
        ApiResponse::error(
            501,
            "GenericError",
            format!("world not implemented yet: {} {}", req.method, req.path),
        )
    }
}

/// The handler that serves the simulated Iterable project.
pub(crate) fn world_handler(opts: WorldOptions) -> Arc<dyn Handler> {
    Arc::new(StubWorld { _opts: opts })
}

/// `iterable-sim truth …`.
pub(crate) fn truth_cli(_args: &[String]) -> Result<String, String> {
    Err("the truth subcommand is not implemented yet".into())
}
