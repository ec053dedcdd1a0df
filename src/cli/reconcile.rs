//! `qkdsim reconcile`: Cascade on random keys with planted errors (DESIGN §3, §5).

use clap::Args;

/// Arguments of `qkdsim reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Key length in bits.
    #[arg(long)]
    pub bits: u64,
    /// Quantum bit error rate of the keys, in (0, 0.5).
    #[arg(long)]
    pub qber: f64,
}

/// Runs the subcommand.
pub fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "reconcile is not built yet (bits {}, qber {})",
        args.bits,
        args.qber
    )
}
