//! Analysis: the end-to-end run (with closed-form expectations from `physics::expected`),
//! parameter sweeps over runs, and the part files of sweeps cut into shards.
//!
//! Must never depend on `report` or do I/O.

pub mod pipeline;
pub mod run;
pub mod shard;
pub mod sweep;
pub mod timeline;
