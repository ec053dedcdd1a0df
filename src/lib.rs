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
//!
//! # Example
//!
//! Simulate 20 million pulses of a 50 km link and compare the signal gain with the closed
//! form:
//!
//! ```
//! use qkdsim::Scenario;
//! use qkdsim::analysis::run::{RunOptions, run};
//!
//! let scenario = Scenario::parse("[link]\nlength_km = 50.0\n", "example")?;
//! let options = RunOptions { pulses: Some(20_000_000), ..RunOptions::default() };
//! let output = run(&scenario, &options, &|_pulses_done| {})?;
//! let signal = &output.report.per_intensity[0];
//! assert!((signal.gain - signal.expected.gain).abs() < 0.1 * signal.expected.gain);
//! assert!(output.report.final_keys_match);
//! # Ok::<(), qkdsim::Error>(())
//! ```

pub mod analysis;
pub mod bits;
pub mod error;
pub mod estimation;
pub mod physics;
pub mod postprocess;
pub mod protocol;
pub mod report;
pub mod rng;
pub mod route;
pub mod scenario;
pub mod units;

pub use error::{Error, Result};
pub use scenario::Scenario;
