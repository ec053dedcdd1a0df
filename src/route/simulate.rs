//! Running every span of a route and assembling the [`RouteReport`].
//!
//! (Signature fixed; implementation in progress.)
//!
//! Must never depend on `report`, clap or the file system.

use super::{Route, RouteReport};
use crate::bits::BitVec;

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

/// A route's report and, if asked for, every demand's delivered keys: (the key at the
/// demand's `from` end, the key recovered at its `to` end).
#[derive(Debug, Clone)]
pub struct RouteOutput {
    /// The record.
    pub report: RouteReport,
    /// Per demand, when `RouteOptions::keep_keys` was set.
    pub keys: Option<Vec<(BitVec, BitVec)>>,
}

/// Simulates every span in parallel, relays the keys and reports. `progress(span,
/// pulses_done)` is called from worker threads as spans advance.
pub fn simulate_route(
    route: &Route,
    options: &RouteOptions,
    progress: &(dyn Fn(usize, u64) + Sync),
) -> crate::Result<RouteOutput> {
    let _ = (route, options, progress);
    Err(crate::Error::InvalidArgument("route simulation in progress".into()))
}
