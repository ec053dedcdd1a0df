//! `qkdsim check`: validate a scenario and print it with defaults filled in.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `qkdsim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario file.
    pub scenario: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let scenario = super::load_scenario(&args.scenario)?;
    super::output::note(format_args!("{}: valid", args.scenario.display()));
    super::output::print(&scenario.to_toml())
}
