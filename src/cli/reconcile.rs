//! `qkdsim reconcile`: Cascade on random keys with planted errors (DESIGN §3, §5).
//!
//! Parses the flags, runs [`qkdsim::postprocess::cascade::run_experiment`], and prints a table
//! (human text) or exactly one JSON document on stdout with `--json`.

use anyhow::Context;
use clap::Args;
use qkdsim::postprocess::cascade::{
    CascadeVariant, ErrorModel, ExperimentConfig, ExperimentSummary, run_experiment,
};

/// Arguments of `qkdsim reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Key length in bits (at least 1).
    #[arg(long)]
    pub bits: u64,
    /// Quantum bit error rate of the keys, in (0, 0.5); also Cascade's QBER estimate.
    #[arg(long, allow_negative_numbers = true)]
    pub qber: f64,
    /// Cascade variant: original, biconf, yanetal, option7 or option8.
    #[arg(long, default_value = "yanetal")]
    pub variant: String,
    /// Number of independent runs.
    #[arg(long, default_value_t = 20)]
    pub runs: u64,
    /// Master seed; the same seed gives the same results for any thread count.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Flip each bit with probability Q instead of planting exactly round(Q N) errors.
    #[arg(long)]
    pub binomial: bool,
    /// Correctness parameter of the verification hash (tag of ceil(log2(1/eps)) bits).
    #[arg(long, default_value_t = 1e-15)]
    pub epsilon_cor: f64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    let variant: CascadeVariant = args.variant.parse()?;
    let bits =
        usize::try_from(args.bits).context("--bits does not fit in memory on this machine")?;
    let runs =
        usize::try_from(args.runs).context("--runs does not fit in memory on this machine")?;
    let config = ExperimentConfig {
        bits,
        qber: args.qber,
        variant,
        runs,
        seed: args.seed,
        error_model: if args.binomial {
            ErrorModel::Binomial
        } else {
            ErrorModel::Exact
        },
        epsilon_cor: args.epsilon_cor,
    };
    config
        .validate()
        .context("invalid arguments to `qkdsim reconcile`")?;
    if args.threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let summary = match args.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .context("cannot start the worker threads")?
            .install(|| run_experiment(&config))?,
        None => run_experiment(&config)?,
    };
    if args.json {
        super::output::print(&format!("{}\n", serde_json::to_string_pretty(&summary)?))
    } else {
        super::output::print(&table(&summary))
    }
}

fn table(s: &ExperimentSummary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        "Cascade '{}' on {} bits, QBER {}, {} runs (seed {})",
        s.variant, s.bits, s.qber, s.runs, s.seed
    );
    let _ = writeln!(out, "{:<28} {:>14} {:>14}", "", "mean", "std");
    let _ = writeln!(
        out,
        "{:<28} {:>14.4} {:>14.4}",
        "efficiency f", s.efficiency_mean, s.efficiency_std
    );
    let _ = writeln!(
        out,
        "{:<28} {:>14.1} {:>14.1}",
        "leaked parity bits", s.leaked_bits_mean, s.leaked_bits_std
    );
    let _ = writeln!(
        out,
        "{:<28} {:>14.1} {:>14.1}",
        "round trips (batched)", s.channel_uses_mean, s.channel_uses_std
    );
    let _ = writeln!(
        out,
        "{:<28} {:>14}",
        "round trips, largest run", s.channel_uses_max
    );
    let _ = writeln!(
        out,
        "{:<28} {:>14.1}",
        "round trips, one query each", s.sequential_round_trips_mean
    );
    let _ = writeln!(out, "{:<28} {:>14.1}", "messages", s.messages_mean);
    let _ = writeln!(
        out,
        "{:<28} {:>14.6}",
        "seconds per reconciliation", s.seconds_mean
    );
    let _ = writeln!(
        out,
        "{:<28} {:>14}   (frame error rate {:.2e})",
        "residual-error runs", s.residual_error_runs, s.frame_error_rate
    );
    let _ = writeln!(
        out,
        "{:<28} {:>14}   ({} undetected, tag {} bits)",
        "verification failures", s.verification_failures, s.undetected_errors, s.tag_bits
    );
    let _ = writeln!(
        out,
        "{:<28} {:>14.3}   ({} threads, {:.3} s wall)",
        "throughput Mbit/s",
        s.bits_per_second / 1e6,
        s.threads,
        s.wall_seconds
    );
    out
}
