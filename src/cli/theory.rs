//! `qkdsim theory`: closed-form key rates and bounds versus distance (DESIGN §3, §5).

use clap::Args;
use std::path::PathBuf;

/// Arguments of `qkdsim theory`.
#[derive(Debug, Args)]
pub struct TheoryArgs {
    /// Scenario file.
    pub scenario: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: TheoryArgs) -> anyhow::Result<()> {
    anyhow::bail!("theory is not built yet ({})", args.scenario.display())
}
