//! The one place that binds the server layer to the world and API handlers.

use std::sync::Arc;

use crate::server::Handler;
use crate::types::{ApiRequest, ApiResponse, WorldOptions};

/// The seeded world behind the server.
struct WorldHandler(crate::world::World);

impl Handler for WorldHandler {
    fn handle(&self, req: &ApiRequest) -> ApiResponse {
        crate::api::handle(&self.0, req)
    }
}

/// The handler that serves the simulated Iterable project.
pub(crate) fn world_handler(opts: WorldOptions) -> Arc<dyn Handler> {
    Arc::new(WorldHandler(crate::world::World::new(opts)))
}

/// `iterable-sim truth …`.
pub(crate) fn truth_cli(args: &[String]) -> Result<String, String> {
    crate::truth::run_cli(args)
}
