//! Analysis: the end-to-end run (with closed-form expectations from `physics::expected`) and
//! parameter sweeps over runs.
//!
//! Must never depend on `report` or do I/O.

pub mod pipeline;
pub mod run;
pub mod sweep;
pub mod timeline;
