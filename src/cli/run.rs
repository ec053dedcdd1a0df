//! `qkdsim run`: simulate one scenario end to end (DESIGN §3, §5).

use super::output::{OutputSet, note, preflight};
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
    #[arg(long, value_parser = super::parse_seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Pulses to send, e.g. 1e9 (default: `simulation.pulses` or `duration_s`).
    #[arg(long, value_parser = super::parse_count, allow_negative_numbers = true)]
    pub pulses: Option<u64>,
    /// Worker threads, 0 to 256 (0: one per core; up to the core count on larger machines).
    #[arg(long, default_value_t = 0, value_parser = super::parse_threads, allow_negative_numbers = true)]
    pub threads: usize,
    /// Engine: pulse (reference), event, auto (default: `simulation.engine`).
    #[arg(long, value_parser = ["pulse", "event", "auto"])]
    pub engine: Option<String>,
    /// Record a time series in windows of W seconds of link time, W in (0, 1e8] (default:
    /// `simulation.window_s`): per window its state (up or realigning), sifted bits, Z
    /// and X QBER and the secret bits finished in it; the threshold compensation policy
    /// judges each window's public X QBER. Adds a "link over time" summary to the table,
    /// `time_series` to the JSON, and with --out time_series.csv and the charts
    /// qber_over_time and key_over_time.
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub window_s: Option<f64>,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write results.json, results.csv, charts (block_qber, block_key as PNG and SVG) and
    /// report.md into this directory; with a time series also time_series.csv and the
    /// charts qber_over_time and key_over_time; under an attack (`[adversary]`) the chart
    /// eve_keys. The directory is written whole or not at all: it must
    /// be new, empty, or written by an earlier qkdsim run, and is then replaced as a whole.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write Alice's and Bob's final keys (alice.key, bob.key; bit i is bit i%8 of byte
    /// i/8) into this directory; both files or neither, same rules as --out (may be the same
    /// directory as --out).
    #[arg(long)]
    pub keys_out: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut scenario = super::load_scenario(&args.scenario)?;
    if let Some(w) = args.window_s {
        // Checked by the scenario's own rule, so the message names the key and range.
        let mut spec = scenario.spec.clone();
        spec.simulation.window_s = Some(w);
        scenario = qkdsim::Scenario::from_spec(spec).map_err(|e| {
            anyhow::anyhow!(
                "--window-s {w:?} (scenario {}): {e}",
                args.scenario.display()
            )
        })?;
    }
    // A cut of the run too fine to simulate (too many windows, drift steps or
    // realignments) is refused now, naming the file, before any output is touched.
    qkdsim::analysis::timeline::TimePlan::new(
        &scenario,
        args.pulses.unwrap_or_else(|| scenario.pulses()),
    )
    .map_err(|e| anyhow::anyhow!("in scenario file {}: {e}", args.scenario.display()))?;
    // A taken output name fails now rather than after the simulation.
    if let Some(dir) = &args.out {
        preflight(dir, "--out")?;
    }
    if let Some(dir) = &args.keys_out {
        preflight(dir, "--keys-out")?;
    }
    let options = RunOptions {
        engine: args.engine.clone(),
        seed: args.seed,
        pulses: args.pulses,
        keep_keys: args.keys_out.is_some(),
        ..RunOptions::default()
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
    let mut out_set = None;
    if let Some(dir) = &args.out {
        let mut set = OutputSet::begin(dir, "--out")?;
        set.write(
            "results.json",
            qkdsim::report::json::run_json(report).as_bytes(),
        )?;
        set.write(
            "results.csv",
            qkdsim::report::csv::run_csv(report)?.as_bytes(),
        )?;
        if let Some(csv) = qkdsim::report::csv::time_series_csv(report)? {
            set.write("time_series.csv", csv.as_bytes())?;
        }
        let charts = qkdsim::report::figures::run_charts(report);
        super::sweep::write_charts(&mut set, &charts)?;
        // Theory's maximum distance for the same equipment, for the headline table.
        let max_distance =
            qkdsim::estimation::theory_curves(&scenario, &[scenario.spec.link.length_km], false)
                .ok()
                .map(|t| {
                    let curve_max = |name: &str| {
                        t.curves
                            .iter()
                            .find(|c| c.name == name)
                            .and_then(|c| c.max_distance_km)
                    };
                    qkdsim::analysis::sweep::MaxDistance {
                        simulated_km: None,
                        last_with_key_km: None,
                        theory_finite_km: curve_max("finite_key"),
                        theory_asymptotic_km: curve_max("finite_key_asymptotic"),
                    }
                });
        let provenance = qkdsim::report::markdown::Provenance {
            version: env!("CARGO_PKG_VERSION").into(),
            command: super::sweep::command_line(),
        };
        set.write(
            "report.md",
            qkdsim::report::markdown::run_markdown(
                report,
                &scenario,
                &charts,
                max_distance.as_ref(),
                &provenance,
            )
            .as_bytes(),
        )?;
        out_set = Some(set);
    }
    let mut keys_set = None;
    if let (Some(dir), Some(keys)) = (&args.keys_out, &output.keys) {
        let (alice, bob) = (keys.alice.to_bytes(), keys.bob.to_bytes());
        // `--out D --keys-out D`: one set, or the second rename would replace the first.
        match out_set
            .as_mut()
            .filter(|s: &&mut OutputSet| s.same_target(dir))
        {
            Some(set) => {
                set.write("alice.key", &alice)?;
                set.write("bob.key", &bob)?;
            }
            None => {
                let mut set = OutputSet::begin(dir, "--keys-out")?;
                set.write("alice.key", &alice)?;
                set.write("bob.key", &bob)?;
                keys_set = Some(set);
            }
        }
    }
    // Both sets are complete before either is renamed into place, so a full disk or a
    // failed write leaves both targets as they were.
    if let Some(set) = out_set {
        let dir = set.target().to_path_buf();
        set.commit()?;
        note(format_args!(
            "wrote {}/results.json, results.csv, report.md and the charts",
            dir.display()
        ));
    }
    if let (Some(dir), Some(keys)) = (&args.keys_out, &output.keys) {
        if let Some(set) = keys_set {
            set.commit()?;
        }
        note(format_args!(
            "wrote {} final key bits to {}/alice.key and bob.key",
            keys.alice.len(),
            dir.display()
        ));
    }
    if args.json {
        super::output::print(&format!("{}\n", qkdsim::report::json::run_json(report)))
    } else {
        super::output::print(&qkdsim::report::table::run_table(report))
    }
}
