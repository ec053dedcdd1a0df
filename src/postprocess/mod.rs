//! Classical post-processing on the actual bits: reconciliation (Cascade), verification
//! and privacy amplification.
//!
//! Must never depend on `physics`, `protocol` or `report`: it sees bits and parameters only.

pub mod cascade;
pub mod gf2;
pub mod leakage;
pub mod privacy;
pub mod verify;
