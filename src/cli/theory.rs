//! `qkdsim theory`: closed-form key rates and bounds versus distance (DESIGN §3, §5).
//!
//! Reads the scenario file, validates the distance grid, calls
//! [`qkdsim::estimation::theory_curves`] and prints a table, or with `--json` one JSON
//! document, on stdout.

use anyhow::Context;
use clap::Args;
use qkdsim::estimation::{DetectorTheory, TheoryReport, distance_grid, theory_curves_with};
use std::path::PathBuf;

/// Arguments of `qkdsim theory`.
#[derive(Debug, Args)]
pub struct TheoryArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// First fibre length in km.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub from: f64,
    /// Last fibre length in km.
    #[arg(long, default_value_t = 200.0, allow_negative_numbers = true)]
    pub to: f64,
    /// Number of fibre lengths from `--from` to `--to`, both included.
    #[arg(long, default_value_t = 21, value_parser = super::parse_steps, allow_negative_numbers = true)]
    pub steps: u64,
    /// Optimise intensities, their probabilities and the basis bias at each distance.
    #[arg(long)]
    pub optimize: bool,
    /// How dead time and afterpulsing enter: `mean_field` (the run table's stationary
    /// model, default) or `lim2014` (Lim et al. 2014, Sec. IV: afterpulsing to first order,
    /// no dead time; the convention of the paper's figures).
    #[arg(long, default_value = "mean_field", value_parser = ["mean_field", "lim2014"])]
    pub detector_model: String,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: TheoryArgs) -> anyhow::Result<()> {
    let distances = distance_grid(
        args.from,
        args.to,
        args.steps,
        ["--from", "--to", "--steps"],
    )?;
    let path = args.scenario.display().to_string();
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read scenario file {path}"))?;
    let scenario = qkdsim::Scenario::parse(&text, &path)?;
    let detector_model: DetectorTheory = args.detector_model.parse()?;
    let report = theory_curves_with(&scenario, &distances, args.optimize, detector_model)?;
    if args.json {
        super::output::print(&format!("{}\n", qkdsim::report::json::theory_json(&report)))
    } else {
        super::output::print(&table(&report))
    }
}

fn table(report: &TheoryReport) -> String {
    let mut out = format!(
        "{}: secret bits per pulse (finite key at {} sifted bits; rep rate {:e} Hz; detector model {}{})\n",
        if report.scenario.is_empty() {
            "scenario"
        } else {
            &report.scenario
        },
        report.block_bits,
        report.rep_rate_hz,
        report.detector_model.as_str(),
        if report.optimized {
            "; settings optimised per distance"
        } else {
            ""
        }
    );
    out.push_str(&format!("{:>10}", "km"));
    for c in &report.curves {
        out.push_str(&format!(" {:>21}", c.name));
    }
    out.push('\n');
    let rows = report.curves.first().map_or(0, |c| c.distance_km.len());
    for i in 0..rows {
        out.push_str(&format!("{:>10.2}", report.curves[0].distance_km[i]));
        for c in &report.curves {
            out.push_str(&format!(" {:>21.4e}", c.bits_per_pulse[i]));
        }
        out.push('\n');
    }
    out.push_str("maximum distance:\n");
    for c in report
        .curves
        .iter()
        .filter(|c| c.name != "plob" && c.name != "tgw")
    {
        let d = c
            .max_distance_km
            .map_or("-".to_string(), |d| format!("{d:.1} km"));
        out.push_str(&format!("  {:<18} {d}", c.name));
        if let Some(note) = &c.note {
            out.push_str(&format!("  ({note})"));
        }
        out.push('\n');
    }
    out.push_str("key from:\n");
    for c in report.curves.iter().filter(|c| c.key_from.is_some()) {
        out.push_str(&format!(
            "  {:<22} {}\n",
            c.name,
            c.key_from.as_deref().unwrap_or_default()
        ));
    }
    out.push_str(&format!("note: {}\n", report.key_convention_note));
    out
}
