//! Analysis: the end-to-end run (with closed-form expectations from `physics::expected`),
//! parameter sweeps over runs, and the part files of sweeps cut into shards.
//!
//! Must never depend on `report` or do I/O.

pub mod pipeline;
pub mod run;
pub mod shard;
pub mod sweep;
pub mod timeline;

/// Largest worker-thread count accepted by every front end (`--threads`, the Python
/// `threads=`) on a machine with at most this many cores (on a larger one, its core count).
/// Each worker is an OS thread started before any work (rayon): 100000 threads took minutes
/// to start for a job of 0.02 s, 1024 took 2.4 s on two cores, 256 took 0.08 s. Results are
/// identical for any thread count, so more workers than cores gain nothing.
pub const MAX_THREADS: usize = 256;

/// The largest thread count on this machine: [`MAX_THREADS`], or the number of cores if
/// that is larger.
pub fn max_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(MAX_THREADS)
}
