//! Analysis: closed-form expectations beside the simulation and the end-to-end run.
//!
//! Must never depend on `report` or do I/O.

pub mod expected;
pub mod pipeline;
pub mod run;
