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
    /// Key length in bits, 1 to 4294967295 (memory permitting: checked before any work).
    #[arg(long, value_parser = super::parse_key_bits, allow_negative_numbers = true)]
    pub bits: u64,
    /// Quantum bit error rate of the keys, in (0, 0.5); also Cascade's QBER estimate.
    #[arg(long, allow_negative_numbers = true)]
    pub qber: f64,
    /// Cascade variant: original, biconf, yanetal, option7 or option8.
    #[arg(long, default_value = "yanetal")]
    pub variant: String,
    /// Number of independent runs, 1 to 1e9.
    #[arg(long, default_value_t = 20, value_parser = super::parse_runs, allow_negative_numbers = true)]
    pub runs: u64,
    /// Master seed; the same seed gives the same results for any thread count.
    #[arg(long, default_value_t = 1, value_parser = super::parse_seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Flip each bit with probability Q instead of planting exactly round(Q N) errors.
    #[arg(long)]
    pub binomial: bool,
    /// Correctness parameter of the verification hash (tag of ceil(log2(1/eps)) bits).
    #[arg(long, default_value_t = 1e-15, allow_negative_numbers = true)]
    pub epsilon_cor: f64,
    /// Worker threads, 1 to 256 (default: all cores; up to the core count on larger machines).
    #[arg(long, value_parser = super::parse_threads_positive, allow_negative_numbers = true)]
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
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
    check_memory(&config, threads)?;
    let summary = match args.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .context("cannot start the worker threads")?
            .install(|| run_experiment(&config))?,
        None => run_experiment(&config)?,
    };
    if args.json {
        super::output::print(&format!(
            "{}\n",
            qkdsim::report::json::reconcile_json(&summary)
        ))
    } else {
        super::output::print(&table(&summary))
    }
}

/// Refuses, before any work, an experiment whose estimated memory exceeds what this
/// process can get ([`ExperimentConfig::check_memory`]): the smaller of `MemAvailable` in
/// /proc/meminfo and half the room left under its address-space limit (`ulimit -v`, from
/// /proc/self/limits and /proc/self/status). Where /proc cannot be read nothing is checked.
fn check_memory(config: &ExperimentConfig, threads: usize) -> anyhow::Result<()> {
    let Some((available, source)) = available_memory() else {
        return Ok(());
    };
    Ok(config.check_memory(threads, available, source)?)
}

/// Bytes this process can still allocate, and where the figure comes from.
fn available_memory() -> Option<(u64, &'static str)> {
    let kib = |text: &str, key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        let value = line[key.len()..].split_whitespace().next()?;
        value.parse::<u64>().ok().map(|k| k.saturating_mul(1024))
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let mut best = (
        kib(&meminfo, "MemAvailable:")?,
        "MemAvailable in /proc/meminfo",
    );
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max address space"))?;
            line["Max address space".len()..]
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        });
    let used = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| kib(&text, "VmSize:"));
    if let (Some(limit), Some(used)) = (limit, used) {
        // Half: a growing buffer maps its old and new copies at once, and allocators map
        // more than they hand out (at 16e6 bits, Q = 0.45, 0.9 GB resident failed under a
        // 1.2 GB limit).
        let room = limit.saturating_sub(used) / 2;
        if room < best.0 {
            best = (
                room,
                "half the room left under the address-space limit, ulimit -v",
            );
        }
    }
    Some(best)
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
    let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
    let _ = write!(
        out,
        "{:<28} {:>14} {:>14}",
        "efficiency f",
        cell(s.efficiency_mean),
        cell(s.efficiency_std)
    );
    if s.efficiency_runs < s.runs {
        let _ = write!(
            out,
            "   (over the {} of {} runs with errors planted: f = leaked / (n h(e)) is \
             undefined at e = 0)",
            s.efficiency_runs, s.runs
        );
    }
    let _ = writeln!(out);
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
        s.timings.threads,
        s.timings.wall_seconds
    );
    out
}
