//! Choosing trusted-node sites along a corridor (`qkdsim route plan`).
//!
//! (Signature fixed; implementation in progress.)
//!
//! Must never depend on `report`, clap or the file system.

use super::Route;
use serde::Serialize;

/// One hop of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedHop {
    /// Node name at the hop's start.
    pub from: String,
    /// Node name at its end.
    pub to: String,
    /// Fibre length, the sum of the corridor's segments it covers.
    pub length_km: f64,
    /// Finite-key theory rate of the hop at its block size, bits per second.
    pub theory_secret_key_rate_bps: f64,
}

/// The chosen placement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The required rate per hop.
    pub min_rate_bps: f64,
    /// Candidate sites in corridor order (node names, ends included) with their fibre
    /// kilometre from the start.
    pub candidates: Vec<(String, f64)>,
    /// Chosen nodes, ends included, in corridor order.
    pub chosen: Vec<String>,
    /// The hops between them.
    pub hops: Vec<PlannedHop>,
    /// Why no placement exists, if none does (`chosen` and `hops` are then empty).
    pub infeasible: Option<String>,
}

/// Chooses the fewest trusted nodes along the corridor, then the placement with the
/// largest smallest hop rate, such that every hop reaches `min_rate_bps`; returns the plan
/// and the route made of the chosen hops (to simulate), or `None` when infeasible.
pub fn plan(route: &Route, min_rate_bps: f64) -> crate::Result<(Plan, Option<Route>)> {
    let _ = (route, min_rate_bps);
    Err(crate::Error::InvalidArgument("route plan in progress".into()))
}
