//! Running every span of a route and assembling the [`RouteReport`](super::RouteReport).
//!
//! (In progress.)
//!
//! Must never depend on `report`, clap or the file system.

/// Overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct RouteOptions {
    /// Link time instead of the route's `simulation.duration_s`.
    pub duration_s: Option<f64>,
    /// Seed instead of the route's `simulation.seed`.
    pub seed: Option<u64>,
    /// Keep the delivered end-to-end keys (tests).
    pub keep_keys: bool,
}

/// Simulates a route (in progress).
pub fn simulate_route() {}
