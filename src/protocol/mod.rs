//! The BB84 protocol as it runs on the link: the Monte Carlo engines (the reference pulse
//! engine and the exact event-driven engine) that turn a
//! [`LinkModel`](crate::physics::LinkModel) into detection records, and sifting into
//! bit-packed blocks of key bits with their counts.
//!
//! Must never depend on `estimation`, `postprocess`, `analysis` or `report`.

pub mod adversary;
pub mod detection;
pub mod engine;
pub mod event;
mod event_common;
pub mod random;
pub mod sifting;
mod unit_log;

pub use adversary::AdversaryEngine;
pub use detection::{ChunkOutput, Detection};
pub use engine::{CHUNK_PULSES, DetectorState, EngineStats, PulseEngine};
pub use event::{Engine, EngineKind, EventEngine, choose_engine};
pub use sifting::{ChunkSift, SiftCounts, SiftedBlock, Sifter};
