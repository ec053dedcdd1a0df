//! JSON documents (DESIGN §5): `run --json`, `sweep --json`, `theory --json` and
//! `reconcile --json`, pretty-printed (`route --json` is [`super::route::route_json`]).
//! The command line and the Python bindings both print or parse these strings, so their
//! documents are equal by construction.
//!
//! Must never depend on clap or touch the file system.

use crate::analysis::run::RunReport;
use crate::analysis::sweep::SweepReport;
use crate::estimation::TheoryReport;
use crate::postprocess::cascade::ExperimentSummary;

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

/// The `theory --json` document: `{scenario, curves: [...], ...}`.
pub fn theory_json(report: &TheoryReport) -> String {
    serde_json::to_string_pretty(report).expect("theory reports serialize to JSON")
}

/// The `reconcile --json` document.
pub fn reconcile_json(summary: &ExperimentSummary) -> String {
    serde_json::to_string_pretty(summary).expect("reconcile summaries serialize to JSON")
}
