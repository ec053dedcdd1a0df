//! Choosing trusted-node sites along a corridor (`qkdsim route plan`).
//!
//! (In progress.)
//!
//! Must never depend on `report`, clap or the file system.
