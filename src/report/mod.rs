//! Reports: the JSON/CSV records of a run and the human summary, as strings. Writing them
//! to files is the binary's job; charts are drawn from the same records.
//!
//! Must never depend on clap or touch the file system.

pub mod charts;
pub mod csv;
pub mod figures;
pub mod json;
pub mod markdown;
pub mod table;
