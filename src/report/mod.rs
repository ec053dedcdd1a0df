//! Reports: the JSON/CSV records of a run and the human summary, as strings and bytes.
//! Writing them to files is the binary's job.
//!
//! Must never depend on clap or touch the file system.
