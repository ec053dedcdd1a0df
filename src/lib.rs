//! qkdsim: a Monte Carlo simulator of a decoy-state BB84 quantum key distribution link over
//! optical fibre, with the real classical post-processing run on the simulated bits.
//!
//! The modules follow the pipeline, and data flows one way through them:
//!
//! ```text
//! scenario -> physics -> protocol (engine, sifting) -> estimation -> postprocess -> analysis -> report
//! ```
//!
//! The library does no I/O: it never opens files, reads the terminal or parses command
//! lines. The binary (`src/main.rs`, `src/cli/`) owns all of that.

pub mod analysis;
pub mod bits;
pub mod error;
pub mod estimation;
pub mod physics;
pub mod postprocess;
pub mod protocol;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod units;

pub use error::{Error, Result};
pub use scenario::Scenario;
