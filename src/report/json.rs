//! JSON documents (DESIGN §5): `run --json` and friends, pretty-printed.

use crate::analysis::run::RunReport;

/// The `run --json` document.
pub fn run_json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report)
        .expect("run reports contain only finite numbers and strings")
}
