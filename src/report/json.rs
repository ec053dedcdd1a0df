//! JSON documents (DESIGN §5): `run --json`, `sweep --json`, pretty-printed.
//!
//! Must never depend on clap or touch the file system.

use crate::analysis::run::RunReport;
use crate::analysis::sweep::SweepReport;

/// The `run --json` document.
pub fn run_json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report)
        .expect("run reports contain only finite numbers and strings")
}

/// The `sweep --json` document: `{points: [ <run object plus "value"> ], ...}`.
pub fn sweep_json(report: &SweepReport) -> String {
    serde_json::to_string_pretty(report)
        .expect("sweep reports contain only finite numbers and strings")
}
