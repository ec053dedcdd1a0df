//! Analysis: closed-form expectations beside the simulation, the end-to-end run and
//! parameter sweeps over runs.
//!
//! Must never depend on `report` or do I/O.

pub mod expected;
pub mod pipeline;
pub mod run;
pub mod sweep;
