//! The one place that binds the server layer to the world and API handlers.

use std::sync::Arc;

use crate::run::SimOptions;
use crate::server::Handler;
use crate::types::{ApiRequest, ApiResponse};

/// The seeded world behind the server.
struct WorldHandler(crate::world::World);

impl Handler for WorldHandler {
    fn handle(&self, req: &ApiRequest) -> ApiResponse {
        crate::api::handle(&self.0, req)
    }
}

/// The handler that serves the simulated Iterable project.
pub(crate) fn world_handler(opts: &SimOptions) -> Arc<dyn Handler> {
    let world = crate::world::World::new(opts.world.clone());
    world.set_visible_after_ms(opts.faults.write_visible_after_ms);
    Arc::new(WorldHandler(world))
}

/// `iterable-sim truth …`.
pub(crate) fn truth_cli(args: &[String]) -> Result<String, String> {
    crate::truth::run_cli(args)
}
