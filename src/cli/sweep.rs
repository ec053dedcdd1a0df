//! `qkdsim sweep`: one full run per value of a numeric scenario key (DESIGN §3, §5).
//!
//! Merges the `[sweep]` table of the scenario with the flags (flags win, field by
//! field; `--values` replaces a file's grid and `--from/--to/--steps` replace its values),
//! runs [`qkdsim::analysis::sweep::sweep`] with a progress bar on stderr, and prints a
//! table or, with `--json`, one JSON document on stdout. `--out DIR` writes
//! `results.json`, `results.csv`, the charts as PNG and SVG and `report.md`, as one set:
//! whole or not at all (see [`super::output`]).

use super::output::{OutputSet, note, preflight};
use anyhow::{Context, bail};
use clap::Args;
use qkdsim::analysis::run::RunOptions;
use qkdsim::analysis::sweep::{SweepPlan, SweepReport, sweep};
use qkdsim::report::figures::{NamedChart, sweep_charts};
use qkdsim::report::markdown::{Provenance, sweep_markdown};
use qkdsim::scenario::{SweepNames, SweepSpec};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Arguments of `qkdsim sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Dotted scenario key to sweep, e.g. link.length_km or
    /// source.intensities.0.mean_photon_number (default: `sweep.param`).
    #[arg(long)]
    pub param: Option<String>,
    /// First value of the grid.
    #[arg(long, allow_negative_numbers = true)]
    pub from: Option<f64>,
    /// Last value of the grid.
    #[arg(long, allow_negative_numbers = true)]
    pub to: Option<f64>,
    /// Number of values from --from to --to, both included.
    #[arg(long, value_parser = super::parse_steps, allow_negative_numbers = true)]
    pub steps: Option<u64>,
    /// Space the grid geometrically (values must be > 0).
    #[arg(long)]
    pub log: bool,
    /// Explicit values instead of a grid, comma-separated: --values 10,50,100.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub values: Option<Vec<f64>>,
    /// Pulses per point, e.g. 1e9 (default: `simulation.pulses` or `duration_s`).
    #[arg(long, value_parser = super::parse_count, allow_negative_numbers = true)]
    pub pulses: Option<u64>,
    /// Master seed; point i runs with a seed derived from (seed, i) (default: `simulation.seed`).
    #[arg(long, value_parser = super::parse_seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Worker threads, 0 to 256 (0: one per core; up to the core count on larger machines).
    #[arg(long, default_value_t = 0, value_parser = super::parse_threads, allow_negative_numbers = true)]
    pub threads: usize,
    /// Engine: pulse (reference), event, auto (default: `simulation.engine`).
    #[arg(long, value_parser = ["pulse", "event", "auto"])]
    pub engine: Option<String>,
    /// Write results.json, results.csv, charts (PNG and SVG) and report.md into this
    /// directory. The directory is written whole or not at all: it must be new, empty, or
    /// written by an earlier qkdsim run, and is then replaced as a whole.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The sweep specification: the scenario's `[sweep]` table overridden by the flags.
/// The sweep from the flags over the file's `[sweep]` table, with each field named after
/// where its value came from (flag or table key), so errors blame what the user wrote.
fn merged_spec(
    args: &SweepArgs,
    file: Option<&SweepSpec>,
) -> anyhow::Result<(SweepSpec, SweepNames)> {
    let mut names = SweepNames::TABLE;
    let mut spec = file.cloned().unwrap_or(SweepSpec {
        param: String::new(),
        from: None,
        to: None,
        steps: None,
        values: None,
        log: false,
    });
    if let Some(param) = &args.param {
        spec.param = param.clone();
        names.param = "--param".into();
    }
    let grid_flags = args.from.is_some() || args.to.is_some() || args.steps.is_some();
    if args.values.is_some() && grid_flags {
        bail!("give either --values or --from/--to/--steps, not both");
    }
    if let Some(values) = &args.values {
        spec.values = Some(values.clone());
        (spec.from, spec.to, spec.steps) = (None, None, None);
        names.values = "--values".into();
        names.values_indexed = false;
    }
    if grid_flags {
        spec.values = None;
        spec.from = args.from.or(spec.from);
        spec.to = args.to.or(spec.to);
        spec.steps = args.steps.or(spec.steps);
        for (given, name, flag) in [
            (args.from.is_some(), &mut names.from, "--from"),
            (args.to.is_some(), &mut names.to, "--to"),
            (args.steps.is_some(), &mut names.steps, "--steps"),
        ] {
            if given {
                *name = flag.into();
            }
        }
    }
    if args.log {
        names.log = "--log".into();
    }
    spec.log |= args.log;
    if spec.param.is_empty() {
        bail!(
            "{}: no parameter to sweep: give --param KEY (a dotted scenario key such as \
             link.length_km) or a [sweep] table with `param` in the scenario",
            args.scenario.display()
        );
    }
    Ok((spec, names))
}

/// Runs the subcommand.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let mut scenario = super::load_scenario(&args.scenario)?;
    if let Some(engine) = &args.engine {
        let mut spec = scenario.spec.clone();
        spec.simulation.engine = engine.clone();
        scenario = qkdsim::Scenario::from_spec(spec).context("--engine")?;
    }
    let (spec, names) = merged_spec(&args, scenario.spec.sweep.as_ref())?;
    let plan = SweepPlan::from_spec_named(&spec, &names)
        .with_context(|| format!("invalid sweep for {}", args.scenario.display()))?;
    // Check the key and every value before any simulation starts.
    let point_scenarios = plan
        .scenarios(&scenario)
        .with_context(|| format!("invalid sweep for {}", args.scenario.display()))?;
    // A taken output name fails now rather than after the sweep.
    if let Some(dir) = &args.out {
        preflight(dir, "--out")?;
    }
    let options = RunOptions {
        seed: args.seed,
        pulses: args.pulses,
        ..RunOptions::default()
    };
    let total_pulses: u64 = point_scenarios
        .iter()
        .map(|s| options.pulses.unwrap_or_else(|| s.pulses()))
        .sum();
    let n_points = plan.values.len() as u64;
    let bar = progress_bar(total_pulses, std::io::stderr().is_terminal(), n_points);
    let report = super::with_threads(args.threads, || {
        sweep(&scenario, &plan, &options, &|pulses, points| {
            bar.set_position(pulses);
            bar.set_message(format!("{points}/{n_points} points"));
        })
    })??;
    bar.finish_and_clear();
    if let Some(dir) = &args.out {
        write_outputs(dir, &report, &scenario)?;
        note(format_args!(
            "wrote {}/results.json, results.csv, report.md and the charts",
            dir.display()
        ));
    }
    if args.json {
        super::output::print(&format!("{}\n", qkdsim::report::json::sweep_json(&report)))
    } else {
        super::output::print(&qkdsim::report::table::sweep_table(&report))
    }
}

fn progress_bar(total: u64, visible: bool, points: u64) -> indicatif::ProgressBar {
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} sweeping [{bar:40}] {msg} ({elapsed}, ETA {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(format!("0/{points} points"));
    bar
}

/// The command line as typed, for `report.md`.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes every chart as `<stem>.png` and `<stem>.svg` into the set.
pub fn write_charts(set: &mut OutputSet, charts: &[NamedChart]) -> anyhow::Result<()> {
    for c in charts {
        let png = c.png()?;
        set.write(&format!("{}.png", c.stem), &png)?;
        let svg = c.svg()?;
        set.write(&format!("{}.svg", c.stem), svg.as_bytes())?;
    }
    Ok(())
}

fn write_outputs(
    dir: &Path,
    report: &SweepReport,
    scenario: &qkdsim::Scenario,
) -> anyhow::Result<()> {
    let mut set = OutputSet::begin(dir, "--out")?;
    set.write(
        "results.json",
        qkdsim::report::json::sweep_json(report).as_bytes(),
    )?;
    set.write(
        "results.csv",
        qkdsim::report::csv::sweep_csv(report)?.as_bytes(),
    )?;
    let charts = sweep_charts(report);
    write_charts(&mut set, &charts)?;
    let provenance = Provenance {
        version: env!("CARGO_PKG_VERSION").into(),
        command: command_line(),
    };
    set.write(
        "report.md",
        sweep_markdown(report, scenario, &charts, &provenance).as_bytes(),
    )?;
    set.commit()
}
