//! The outputs of a two-dimensional sweep that differ from a one-axis sweep's: heat maps of
//! the secret key rate (simulated, and the finite-key theory on the same grid beside it)
//! and of the QBER (simulated, and expected), each with the zero-key boundary, and
//! `report.md` with a key-rate matrix. JSON and CSV are the one-axis formats with the
//! second key added (`param2`, `value2`; CSV in long form, one row per grid point).
//!
//! Must never depend on clap or touch the file system.

use super::figures::param_label;
use super::heatmap::{HeatmapPanel, HeatmapSpec};
use super::markdown::{
    Provenance, number, provenance_section, qber_cell, scenario_table, security_section, title_of,
};
use crate::analysis::sweep::{SweepReport, TheoryPoint};
use crate::scenario::Scenario;
use std::collections::HashMap;
use std::fmt::Write;

/// A heat map and the file stem it is written under (`<stem>.png`, `<stem>.svg`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedHeatmap {
    /// File stem, e.g. `key_rate_map`.
    pub stem: String,
    /// One-line caption for `report.md`.
    pub caption: String,
    /// The heat map.
    pub spec: HeatmapSpec,
}

/// Most columns of the key-rate matrix in `report.md` (wider grids: see `results.csv`).
pub const MAX_MATRIX_COLUMNS: usize = 12;

fn title(scenario: &str, what: &str) -> String {
    if scenario.is_empty() {
        what.to_string()
    } else {
        format!("{scenario}: {what}")
    }
}

/// The grid's axes: (xs, ys, second key, second axis log), or `None` for a one-axis sweep.
fn axes(report: &SweepReport) -> Option<(&[f64], &[f64], &str, bool)> {
    let grid = report.grid.as_ref()?;
    Some((
        &grid.values,
        &grid.values2,
        report.param2.as_deref()?,
        report.log2.unwrap_or(false),
    ))
}

/// The theory point of every grid point, in point order (`None` where the theory could not
/// be evaluated).
fn theory_by_point(report: &SweepReport) -> Vec<Option<&TheoryPoint>> {
    let key = |a: f64, b: Option<f64>| (a.to_bits(), b.map(f64::to_bits));
    let lookup: HashMap<_, &TheoryPoint> = report
        .theory
        .iter()
        .map(|t| (key(t.value, t.value2), t))
        .collect();
    report
        .points
        .iter()
        .map(|p| lookup.get(&key(p.value, p.value2)).copied())
        .collect()
}

/// The finite-key theory rate beside the simulated points: with the error-correction
/// inefficiency Cascade measured over the sweep when known (like with like), else with the
/// assumed `f_ec`; and the panel title saying which.
fn theory_rate(report: &SweepReport, t: &TheoryPoint) -> f64 {
    match (report.f_ec_measured, t.finite_bps_measured_f) {
        (Some(_), Some(r)) => r,
        _ => t.finite_bps,
    }
}

fn theory_title(report: &SweepReport) -> String {
    match report.f_ec_measured {
        Some(f) => format!("finite-key theory, same block size, f = {f:.3} measured"),
        None => format!(
            "finite-key theory, same block size, f_ec = {:.2} assumed",
            report.f_ec_assumed
        ),
    }
}

fn base_spec(report: &SweepReport, what: &str) -> Option<HeatmapSpec> {
    let (xs, ys, param2, log2) = axes(report)?;
    Some(HeatmapSpec {
        title: title(&report.scenario, what),
        x_label: param_label(&report.param),
        y_label: param_label(param2),
        xs: xs.to_vec(),
        ys: ys.to_vec(),
        x_log: report.log,
        y_log: log2,
        color_label: String::new(),
        color_log: false,
        missing_label: String::new(),
        boundary_label: String::new(),
        panels: Vec::new(),
    })
}

/// Secret key rate over the grid: the simulation (left) and the finite-key theory at the
/// run's block size on the same grid (right), on one logarithmic colour scale; grey cells
/// have no key, and each panel draws its own zero-key boundary. `None` for a one-axis
/// sweep.
pub fn key_rate_map(report: &SweepReport) -> Option<HeatmapSpec> {
    let mut spec = base_spec(report, "secret key rate over the grid")?;
    let theory = theory_by_point(report);
    let sim_key: Vec<bool> = report
        .points
        .iter()
        .map(|p| p.run.secret_bits > 0)
        .collect();
    let theory_rates: Vec<Option<f64>> = theory
        .iter()
        .map(|t| t.map(|t| theory_rate(report, t)))
        .collect();
    spec.color_label = "secret key rate (bit/s)".into();
    spec.color_log = true;
    spec.missing_label = "no key".into();
    spec.boundary_label = "zero-key boundary".into();
    spec.panels = vec![
        HeatmapPanel {
            title: "simulated".into(),
            values: report
                .points
                .iter()
                .map(|p| (p.run.secret_bits > 0).then_some(p.run.secret_key_rate_bps))
                .collect(),
            has_key: Some(sim_key),
        },
        HeatmapPanel {
            title: theory_title(report),
            values: theory_rates
                .iter()
                .map(|r| r.filter(|&r| r > 0.0))
                .collect(),
            has_key: Some(
                theory_rates
                    .iter()
                    .map(|r| r.is_some_and(|r| r > 0.0))
                    .collect(),
            ),
        },
    ];
    Some(spec)
}

/// QBER of the key (Z) basis over the grid, in percent: simulated (left) and expected with
/// the run table's detector model (right), on one linear colour scale; grey cells have no
/// sifted bits; the zero-key boundary of the simulation (left) and of the theory (right).
/// `None` for a one-axis sweep.
pub fn qber_map(report: &SweepReport) -> Option<HeatmapSpec> {
    let mut spec = base_spec(report, "QBER (Z basis) over the grid")?;
    let theory = theory_by_point(report);
    spec.color_label = "QBER (%)".into();
    spec.color_log = false;
    spec.missing_label = "no sifted bits".into();
    spec.boundary_label = "zero-key boundary".into();
    spec.panels = vec![
        HeatmapPanel {
            title: "simulated".into(),
            values: report
                .points
                .iter()
                .map(|p| p.run.qber_z.map(|q| 100.0 * q))
                .collect(),
            has_key: Some(
                report
                    .points
                    .iter()
                    .map(|p| p.run.secret_bits > 0)
                    .collect(),
            ),
        },
        HeatmapPanel {
            title: "expected (dead time, afterpulsing: mean-field model)".into(),
            values: theory
                .iter()
                .map(|t| t.and_then(|t| t.qber_z).map(|q| 100.0 * q))
                .collect(),
            has_key: Some(
                theory
                    .iter()
                    .map(|t| t.is_some_and(|t| theory_rate(report, t) > 0.0))
                    .collect(),
            ),
        },
    ];
    Some(spec)
}

/// The heat maps of a two-dimensional `sweep --out` (empty for a one-axis sweep).
pub fn sweep_heatmaps(report: &SweepReport) -> Vec<NamedHeatmap> {
    let mut out = Vec::new();
    if let Some(spec) = key_rate_map(report) {
        out.push(NamedHeatmap {
            stem: "key_rate_map".into(),
            caption: "Secret key rate over the grid: simulation (left) and finite-key theory \
                      on the same grid (right); grey cells have no key, the black line is the \
                      zero-key boundary."
                .into(),
            spec,
        });
    }
    if let Some(spec) = qber_map(report) {
        out.push(NamedHeatmap {
            stem: "qber_map".into(),
            caption: "QBER of the key basis over the grid: simulated (left) and expected \
                      (right), with the zero-key boundary."
                .into(),
            spec,
        });
    }
    out
}

/// `report.md` of a two-dimensional sweep.
pub fn grid_markdown(
    report: &SweepReport,
    scenario: &Scenario,
    maps: &[NamedHeatmap],
    provenance: &Provenance,
) -> String {
    let mut s = String::new();
    let Some((xs, ys, param2, log2)) = axes(report) else {
        return s;
    };
    let (p1, n1, n2) = (&report.param, xs.len(), ys.len());
    let _ = writeln!(
        s,
        "# {}: sweep of `{p1}` × `{param2}`\n",
        title_of(&report.scenario)
    );
    if !scenario.spec.description.is_empty() {
        let _ = writeln!(s, "{}\n", scenario.spec.description);
    }
    let spacing = |log: bool| if log { " (log-spaced)" } else { "" };
    let _ = writeln!(
        s,
        "{n1} values of `{p1}`{} × {n2} values of `{param2}`{} = {} points; every point \
         is a full simulation (engine, sifting, Cascade, verification, finite-key length, \
         privacy amplification). The theory is evaluated on the same grid.\n",
        spacing(report.log),
        spacing(log2),
        report.points.len()
    );
    security_section(&mut s, &report.security_warnings);
    let _ = writeln!(s, "## Headline numbers\n");
    let _ = writeln!(s, "| figure | value |\n|---|---|");
    let theory = theory_by_point(report);
    if let Some(b) = report.points.iter().max_by(|a, b| {
        a.run
            .secret_key_rate_bps
            .total_cmp(&b.run.secret_key_rate_bps)
    }) {
        let _ = writeln!(
            s,
            "| highest secret key rate | {} bit/s at `{p1}` = {}, `{param2}` = {} (QBER Z {}) |",
            number(b.run.secret_key_rate_bps),
            number(b.value),
            number(b.value2.unwrap_or(f64::NAN)),
            super::percent(b.run.qber_z, 2)
        );
    }
    let with_key = report
        .points
        .iter()
        .filter(|p| p.run.secret_bits > 0)
        .count();
    let theory_key = theory
        .iter()
        .filter(|t| t.is_some_and(|t| theory_rate(report, t) > 0.0))
        .count();
    let _ = writeln!(
        s,
        "| grid points with key, simulated | {with_key} of {} |",
        report.points.len()
    );
    let _ = writeln!(
        s,
        "| grid points with key, finite-key theory | {theory_key} of {} |",
        report.points.len()
    );
    if let Some(f) = report.f_ec_measured {
        let _ = writeln!(
            s,
            "| error-correction inefficiency f, measured over the sweep | {f:.3} (assumed: {:.2}) |",
            report.f_ec_assumed
        );
    }
    let _ = writeln!(s);
    if n2 <= MAX_MATRIX_COLUMNS {
        let _ = writeln!(
            s,
            "Secret key rate (bit/s), simulated; theory in brackets; rows `{p1}`, columns \
             `{param2}`:\n"
        );
        let _ = write!(s, "| `{p1}` \\ `{param2}` |");
        for v in ys {
            let _ = write!(s, " {} |", number(*v));
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "|---:|{}", "---:|".repeat(n2));
        for (i1, x) in xs.iter().enumerate() {
            let _ = write!(s, "| {} |", number(*x));
            for i2 in 0..n2 {
                let index = i1 * n2 + i2;
                let p = &report.points[index];
                let t = theory[index]
                    .map(|t| number(theory_rate(report, t)))
                    .unwrap_or_else(|| super::UNDEFINED.to_string());
                let _ = write!(s, " {} ({t}) |", number(p.run.secret_key_rate_bps));
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s);
    } else {
        let _ = writeln!(
            s,
            "The grid has {n2} columns: every point's figures are in `results.csv` (one row \
             per point) and `results.json`.\n"
        );
    }
    let _ = writeln!(
        s,
        "QBER Z (%) ± one binomial standard error and secret key rate of every point: \
         `results.csv`. Lowest QBER Z on the grid: {}.\n",
        report
            .points
            .iter()
            .filter(|p| p.run.qber_z.is_some())
            .min_by(|a, b| a
                .run
                .qber_z
                .unwrap_or(1.0)
                .total_cmp(&b.run.qber_z.unwrap_or(1.0)))
            .map_or(super::UNDEFINED.to_string(), |p| format!(
                "{} at `{p1}` = {}, `{param2}` = {}",
                qber_cell(p.run.qber_z, p.statistics.qber_z_stderr),
                number(p.value),
                number(p.value2.unwrap_or(f64::NAN))
            ))
    );
    let _ = writeln!(s, "## Charts\n");
    for m in maps {
        let _ = writeln!(
            s,
            "![{title}]({stem}.png)\n\n*{caption}* (Vector version: [{stem}.svg]({stem}.svg).)\n",
            title = m.spec.title,
            stem = m.stem,
            caption = m.caption
        );
    }
    let _ = writeln!(s, "## Scenario parameters\n");
    let _ = writeln!(
        s,
        "The scenario as simulated (defaults filled in); `{p1}` and `{param2}` take the grid's \
         values.\n"
    );
    s.push_str(&scenario_table(scenario));
    s.push('\n');
    provenance_section(
        &mut s,
        provenance,
        &format!(
            "master seed {}; point i = i1 × {n2} + i2 (row-major, `{param2}` fastest) runs with \
             seed `derive_seed({}, SweepPoint, i)` (listed per point in `results.json`)",
            report.seed, report.seed
        ),
    );
    s
}
