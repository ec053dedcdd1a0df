//! Command-line front end: clap definitions, one file per subcommand, file I/O, progress
//! bars and error printing. Errors from user input end as one paragraph on stderr and exit
//! code 2; the library never sees clap, files or the terminal.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::Path;

mod check;
mod merge;
mod output;
mod reconcile;
mod route;
mod run;
mod sweep;
mod theory;

/// Monte Carlo simulator of a decoy-state BB84 QKD fibre link.
#[derive(Debug, Parser)]
#[command(
    name = "qkdsim",
    version,
    about,
    long_about = None,
    after_help = "Exit status: 0 on success, and also when the reader of standard output \
                  closes it early (as `| head` does): qkdsim then stops quietly. 2 on bad \
                  input or an I/O error, such as a full disk, with one line on stderr. \
                  130/143 after SIGINT/SIGTERM (as a shell reports it); output \
                  directories are then left as they were and their temporaries removed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a scenario end to end and report rates, QBER and the closed-form expectation.
    Run(run::RunArgs),
    /// Closed-form key rates (GLLP, decoy, finite-key) and repeaterless bounds versus distance.
    Theory(theory::TheoryArgs),
    /// Run the scenario once per value of one numeric key (or per point of a grid of two)
    /// and chart the results; or run one shard of such a sweep (--shard I/N).
    Sweep(sweep::SweepArgs),
    /// Put the part files of a sharded sweep together: the sweep's results, charts and
    /// report, as one process would have written them.
    Merge(merge::MergeArgs),
    /// Reconcile random keys with Cascade and report efficiency and speed.
    Reconcile(reconcile::ReconcileArgs),
    /// Validate a scenario and print it with every default filled in.
    Check(check::CheckArgs),
    /// Simulate a route of QKD spans through trusted nodes (key relay, stores, demands), or
    /// plan trusted-node sites along a corridor (`route plan`).
    Route(route::RouteArgs),
}

/// Parses the command line, runs the subcommand, prints any error; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            // --help and --version go to stdout: a full device there is an error like any
            // other stdout failure, a closed pipe is not; a failing stderr has no one to tell.
            if let Err(io) = e.print()
                && !e.use_stderr()
                && io.kind() != std::io::ErrorKind::BrokenPipe
            {
                output::note(format_args!("error: cannot write to standard output: {io}"));
                return 2;
            }
            return code;
        }
    };
    // A bad QKDSIM_PA_BACKEND is reported before any work rather than as an abort of
    // every block (the library reads the variable once; see postprocess::privacy).
    if let Err(e) = qkdsim::postprocess::privacy::selected_backend() {
        output::note(format_args!("error: {e}"));
        return 2;
    }
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Theory(args) => theory::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Reconcile(args) => reconcile::run(args),
        Command::Check(args) => check::run(args),
        Command::Route(args) => route::run(args),
    };
    match result {
        Ok(()) => 0,
        // The reader of stdout went away (`| head`): it has what it wanted; no message.
        Err(e) if output::is_closed_stdout(&e) => 0,
        Err(e) => {
            output::note(format_args!("error: {e:#}"));
            2
        }
    }
}

/// Reads and validates a scenario file; errors name the file.
pub fn load_scenario(path: &Path) -> anyhow::Result<qkdsim::Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read scenario file {}", path.display()))?;
    qkdsim::Scenario::parse(&text, &path.display().to_string())
        .with_context(|| format!("in scenario file {}", path.display()))
}

/// Parses a count given as an integer or in float notation (`1e9`, `2.5e10`).
pub fn parse_count(s: &str) -> Result<u64, String> {
    let v: f64 = s.trim().parse().map_err(|_| {
        format!(
            "expected a whole number such as 1000000 or 1e9, got {}",
            qkdsim::scenario::fmt_text(s)
        )
    })?;
    if !(v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= qkdsim::scenario::MAX_PULSES) {
        return Err(format!(
            "must be a whole number in [1, {:e}] (a count of pulses), got {}",
            qkdsim::scenario::MAX_PULSES,
            qkdsim::scenario::escape_controls(s)
        ));
    }
    Ok(v as u64)
}

pub use qkdsim::analysis::max_threads;

/// Parses `--threads` (0: one per core) and checks it is in [0, [`max_threads`]].
pub fn parse_threads(s: &str) -> Result<usize, String> {
    parse_threads_from(s, 0, "0: one per core; ")
}

/// Parses `--threads` where 0 is not allowed: [1, [`max_threads`]].
pub fn parse_threads_positive(s: &str) -> Result<usize, String> {
    parse_threads_from(s, 1, "")
}

fn parse_threads_from(s: &str, min: usize, note: &str) -> Result<usize, String> {
    let max = max_threads();
    match s.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a whole number in [{min}, {max}], got {} ({note}each worker is an OS \
             thread started before any work, and results do not depend on the count)",
            qkdsim::scenario::fmt_text(s)
        )),
    }
}

/// A whole number for a flag, with the same rule and message as the scenario key it
/// overrides: float notation (`1e6`) is accepted when it is whole; a fraction, a negative
/// number or text is an error naming the value and the range (clap adds the flag name).
fn parse_whole(s: &str, rule: &qkdsim::scenario::WholeRule) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return rule
            .check_u64("", n)
            .map_err(|e| e.trim_start_matches(": ").to_string());
    }
    let v: f64 = t.parse().map_err(|_| {
        format!(
            "must be a whole number in {} ({}), got {}",
            rule.range_text(),
            rule.what,
            qkdsim::scenario::fmt_text(s)
        )
    })?;
    rule.check("", v)
        .map_err(|e| e.trim_start_matches(": ").to_string())
}

/// Parses `--seed` (the rule of `simulation.seed`).
pub fn parse_seed(s: &str) -> Result<u64, String> {
    parse_whole(s, &qkdsim::scenario::SEED)
}

/// Parses `reconcile --bits`: a key length in [1, 2^32 - 1] (Cascade's largest key).
pub fn parse_key_bits(s: &str) -> Result<u64, String> {
    let rule = qkdsim::scenario::WholeRule {
        key: "--bits",
        min: 1,
        max: qkdsim::postprocess::cascade::MAX_KEY_BITS as u64,
        what: "a key length in bits",
    };
    parse_whole(s, &rule)
}

/// Parses `reconcile --runs`: at least one run, at most 1e9.
pub fn parse_runs(s: &str) -> Result<u64, String> {
    let rule = qkdsim::scenario::WholeRule {
        key: "--runs",
        min: 1,
        max: 1_000_000_000,
        what: "a count of independent runs",
    };
    parse_whole(s, &rule)
}

/// Parses `--steps` (the rule of `sweep.steps`).
pub fn parse_steps(s: &str) -> Result<u64, String> {
    parse_whole(s, &qkdsim::scenario::SWEEP_STEPS)
}

/// Runs `f` on a rayon pool of `threads` threads (0: one per core).
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the thread pool")?;
    Ok(pool.install(f))
}

/// A progress bar on stderr over `total` units, hidden when stderr is not a terminal or the
/// job is short.
pub fn progress_bar(total: u64, visible: bool, what: &str) -> indicatif::ProgressBar {
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {what} [{{bar:40}}] {{percent}}% ({{elapsed}}, ETA {{eta}})"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar
}
