//! `qkdsim run`: simulate one scenario end to end (DESIGN §3, §5).

use super::output::{ensure_dir, write_atomic};
use clap::Args;
use qkdsim::analysis::run::{RunOptions, run as run_scenario};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `qkdsim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Seed (default: `simulation.seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Pulses to send, e.g. 1e9 (default: `simulation.pulses` or `duration_s`).
    #[arg(long, value_parser = super::parse_count)]
    pub pulses: Option<u64>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Engine: pulse (reference), event, auto (default: `simulation.engine`).
    #[arg(long, value_parser = ["pulse", "event", "auto"])]
    pub engine: Option<String>,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write results.json, results.csv, charts and report.md into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write Alice's and Bob's final keys (alice.key, bob.key; bit i is bit i%8 of byte
    /// i/8) into this directory.
    #[arg(long)]
    pub keys_out: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let scenario = super::load_scenario(&args.scenario)?;
    let options = RunOptions {
        engine: args.engine.clone(),
        seed: args.seed,
        pulses: args.pulses,
        keep_keys: args.keys_out.is_some(),
    };
    let pulses = options.pulses.unwrap_or_else(|| scenario.pulses());
    let bar = super::progress_bar(
        pulses,
        std::io::stderr().is_terminal() && pulses >= 300_000_000,
        "simulating",
    );
    let output = super::with_threads(args.threads, || {
        run_scenario(&scenario, &options, &|done| bar.set_position(done))
    })??;
    bar.finish_and_clear();
    let report = &output.report;
    if let Some(dir) = &args.out {
        ensure_dir(dir)?;
        write_atomic(
            &dir.join("results.json"),
            qkdsim::report::json::run_json(report).as_bytes(),
        )?;
        write_atomic(
            &dir.join("results.csv"),
            qkdsim::report::csv::run_csv(report)?.as_bytes(),
        )?;
        eprintln!("wrote {}/results.json and results.csv", dir.display());
    }
    if let (Some(dir), Some(keys)) = (&args.keys_out, &output.keys) {
        ensure_dir(dir)?;
        write_atomic(&dir.join("alice.key"), &keys.alice.to_bytes())?;
        write_atomic(&dir.join("bob.key"), &keys.bob.to_bytes())?;
        eprintln!(
            "wrote {} final key bits to {}/alice.key and bob.key",
            keys.alice.len(),
            dir.display()
        );
    }
    if args.json {
        println!("{}", qkdsim::report::json::run_json(report));
    } else {
        print!("{}", qkdsim::report::table::run_table(report));
    }
    Ok(())
}
