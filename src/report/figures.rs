//! The charts of `sweep --out` and `run --out`, built as [`ChartSpec`]s from the same
//! records that are written to `results.json`: secret key rate, QBER and the key funnel
//! versus the swept parameter, and QBER and accumulated key per block over link time.
//!
//! Must never depend on clap or touch the file system.

use super::charts::{ChartSpec, Series, SeriesStyle};
use crate::analysis::run::RunReport;
use crate::analysis::sweep::{SweepPoint, SweepReport, TheoryPoint};

/// A chart and the file stem it is written under (`<stem>.png`, `<stem>.svg`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedChart {
    /// File stem, e.g. `key_rate`.
    pub stem: String,
    /// One-line caption for `report.md`.
    pub caption: String,
    /// The chart.
    pub spec: ChartSpec,
}

/// An axis label with unit for a dotted scenario key, e.g. `link.length_km` ->
/// "fibre length (km)". Unknown keys get the key itself and the unit its suffix names.
pub fn param_label(param: &str) -> String {
    let known = [
        ("link.length_km", "fibre length (km)"),
        ("link.attenuation_db_per_km", "fibre attenuation (dB/km)"),
        ("link.extra_loss_db", "extra link loss (dB)"),
        ("link.misalignment", "misalignment e_d (probability)"),
        (
            "detector.dark_count_probability",
            "dark-count probability (per gate and detector)",
        ),
        ("detector.efficiency", "detector efficiency"),
        (
            "detector.afterpulse_probability",
            "afterpulse probability (per click)",
        ),
        ("detector.dead_time_ns", "detector dead time (ns)"),
        (
            "postprocessing.block_bits",
            "post-processing block size (sifted bits)",
        ),
        ("simulation.pulses", "pulses sent"),
        ("source.rep_rate_hz", "pulse rate (Hz)"),
        ("receiver.transmittance", "receiver transmittance"),
    ];
    if let Some((_, label)) = known.iter().find(|(k, _)| *k == param) {
        return label.to_string();
    }
    let parts: Vec<&str> = param.split('.').collect();
    if let ["source", "intensities", index, field] = parts.as_slice() {
        let what = match *field {
            "mean_photon_number" => "mean photon number (photons per pulse)",
            "probability" => "probability",
            other => other,
        };
        return format!("intensity class {index}: {what}");
    }
    let last = parts.last().copied().unwrap_or(param);
    let unit = [
        ("_km", "km"),
        ("_db_per_km", "dB/km"),
        ("_db", "dB"),
        ("_hz", "Hz"),
        ("_ns", "ns"),
        ("_us", "µs"),
        ("_s", "s"),
        ("_bits", "bits"),
    ]
    .iter()
    .find(|(suffix, _)| last.ends_with(suffix))
    .map(|(_, unit)| *unit);
    match unit {
        Some(unit) => format!("{param} ({unit})"),
        None => param.to_string(),
    }
}

fn title(scenario: &str, what: &str) -> String {
    if scenario.is_empty() {
        what.to_string()
    } else {
        format!("{scenario}: {what}")
    }
}

fn x_is_log(report: &SweepReport) -> bool {
    report.log
}

/// Secret key rate versus the swept parameter: simulated points with one-standard-error
/// bars, finite-key and asymptotic decoy theory and the PLOB bound as lines (log y axis).
pub fn key_rate_chart(report: &SweepReport) -> ChartSpec {
    let sim: Vec<(f64, f64)> = report
        .points
        .iter()
        .map(|p| (p.value, p.run.secret_key_rate_bps))
        .collect();
    let bars: Vec<(f64, f64)> = report
        .points
        .iter()
        .map(|p| {
            let r = p.run.secret_key_rate_bps;
            let e = p.statistics.secret_key_rate_bps_stderr.unwrap_or(0.0);
            ((r - e).max(r * 1e-3), r + e)
        })
        .collect();
    let line = |f: fn(&TheoryPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        report
            .theory
            .iter()
            .filter_map(|t| Some((t.value, f(t)?)))
            .collect()
    };
    let mut spec = ChartSpec {
        title: title(&report.scenario, "secret key rate"),
        x_label: param_label(&report.param),
        y_label: "secret key rate (bit/s)".into(),
        x_log: x_is_log(report),
        y_log: true,
        series: vec![
            Series {
                name: "PLOB bound (repeaterless)".into(),
                style: SeriesStyle::DashedLine,
                points: line(|t| t.plob_bps),
                error_bars: None,
                color: Some(7),
            },
            Series {
                name: "asymptotic decoy, infinite block (theory)".into(),
                style: SeriesStyle::Line,
                points: line(|t| Some(t.asymptotic_bps)),
                error_bars: None,
                color: Some(1),
            },
            Series {
                name: format!(
                    "finite key, same block size, f_ec = {:.2} assumed (theory)",
                    report.f_ec_assumed
                ),
                style: SeriesStyle::DashedLine,
                points: line(|t| Some(t.finite_bps)),
                error_bars: None,
                color: Some(2),
            },
            Series {
                name: "simulated (±1 s.e. over blocks)".into(),
                style: SeriesStyle::Points,
                points: sim,
                error_bars: Some(bars),
                color: Some(6),
            },
        ],
    };
    if let Some(f_ec) = report.f_ec_measured {
        // Beside the simulated points: the same bound with the inefficiency Cascade really
        // had, so points and line assume the same error correction.
        spec.series.insert(
            3,
            Series {
                name: format!("finite key, same block size, f = {f_ec:.3} measured (theory)"),
                style: SeriesStyle::Line,
                points: line(|t| t.finite_bps_measured_f),
                error_bars: None,
                color: Some(3),
            },
        );
    }
    let no_key: Vec<(f64, f64)> = report
        .points
        .iter()
        .filter(|p| p.run.secret_bits == 0)
        .map(|p| (p.value, 0.0))
        .collect();
    if !no_key.is_empty() {
        spec.series.push(Series {
            name: "simulated, no key".into(),
            style: SeriesStyle::FloorMarkers,
            points: no_key,
            error_bars: None,
            color: Some(6),
        });
    }
    spec
}

/// QBER (Z and X bases) versus the swept parameter, in percent, with binomial standard
/// errors and the closed-form expectation as lines.
pub fn qber_chart(report: &SweepReport) -> ChartSpec {
    let pct = 100.0;
    // A point whose QBER is undefined (no sifted bits in that basis) is left out, with its
    // error bar.
    let pts = |f: fn(&SweepPoint) -> (Option<f64>, Option<f64>)| {
        let defined: Vec<(f64, f64, f64)> = report
            .points
            .iter()
            .filter_map(|p| match f(p) {
                (Some(q), e) => Some((p.value, q, e.unwrap_or(0.0))),
                (None, _) => None,
            })
            .collect();
        let points: Vec<(f64, f64)> = defined.iter().map(|&(v, q, _)| (v, q * pct)).collect();
        let bars: Vec<(f64, f64)> = defined
            .iter()
            .map(|&(_, q, e)| ((q - e) * pct, (q + e) * pct))
            .collect();
        (points, bars)
    };
    let (z, z_bars) = pts(|p| (p.run.qber_z, p.statistics.qber_z_stderr));
    let (x, x_bars) = pts(|p| (p.run.qber_x, p.statistics.qber_x_stderr));
    ChartSpec {
        title: title(&report.scenario, "quantum bit error rate"),
        x_label: param_label(&report.param),
        y_label: "QBER (%)".into(),
        x_log: x_is_log(report),
        y_log: false,
        series: vec![
            Series {
                name: "Z basis, theory (dead time, afterpulsing)".into(),
                style: SeriesStyle::Line,
                points: report
                    .theory
                    .iter()
                    .filter_map(|t| Some((t.value, t.qber_z? * pct)))
                    .collect(),
                error_bars: None,
                color: Some(0),
            },
            Series {
                name: "X basis, theory (dead time, afterpulsing)".into(),
                style: SeriesStyle::DashedLine,
                points: report
                    .theory
                    .iter()
                    .filter_map(|t| Some((t.value, t.qber_x? * pct)))
                    .collect(),
                error_bars: None,
                color: Some(1),
            },
            Series {
                name: "Z basis, simulated (±1 s.e.)".into(),
                style: SeriesStyle::Points,
                points: z,
                error_bars: Some(z_bars),
                color: Some(0),
            },
            Series {
                name: "X basis, simulated (±1 s.e.)".into(),
                style: SeriesStyle::Points,
                points: x,
                error_bars: Some(x_bars),
                color: Some(1),
            },
        ],
    }
}

/// The key funnel per pulse sent: detections, sifted Z bits, bits left after error
/// correction (parities and verification tag disclosed), secret bits (log y axis).
pub fn funnel_chart(report: &SweepReport) -> ChartSpec {
    let per_pulse = |f: fn(&SweepPoint) -> u64| -> Vec<(f64, f64)> {
        report
            .points
            .iter()
            .map(|p| (p.value, f(p) as f64 / p.run.pulses_sent.max(1) as f64))
            .collect()
    };
    let stage = |name: &str, points| Series {
        name: name.into(),
        style: SeriesStyle::Line,
        points,
        error_bars: None,
        color: None,
    };
    let mut series = vec![
        stage("detections", per_pulse(|p| p.run.detections)),
        stage(
            "sifted key bits (Z basis)",
            per_pulse(|p| p.run.sifted_bits_z),
        ),
        stage(
            "after error correction (undisclosed)",
            per_pulse(|p| p.statistics.bits_after_ec),
        ),
        stage("secret bits", per_pulse(|p| p.run.secret_bits)),
    ];
    for s in &mut series {
        s.style = SeriesStyle::LinePoints;
    }
    ChartSpec {
        title: title(&report.scenario, "key funnel"),
        x_label: param_label(&report.param),
        y_label: "bits per pulse sent".into(),
        x_log: x_is_log(report),
        y_log: true,
        series,
    }
}

/// QBER of every post-processing block over link time (Z: true error rate of the block's
/// key bits; X: the public test-basis rate), in percent.
pub fn block_qber_chart(report: &RunReport) -> ChartSpec {
    let pct = 100.0;
    let blocks = &report.per_block;
    let weighted = |f: fn(&crate::physics::expected::IntensityExpectation) -> f64| {
        report
            .per_intensity
            .iter()
            .map(|k| f(&k.expected) * k.pulses as f64)
            .sum::<f64>()
    };
    let sifted = weighted(|e| e.sifted_z_per_pulse);
    let expected_z = if sifted > 0.0 {
        weighted(|e| e.errors_z_per_pulse) / sifted
    } else {
        0.0
    };
    ChartSpec {
        title: title(&report.scenario, "QBER per block"),
        x_label: "link time at end of block (s)".into(),
        y_label: "QBER (%)".into(),
        x_log: false,
        y_log: false,
        series: vec![
            Series {
                name: "Z basis (key bits)".into(),
                style: SeriesStyle::LinePoints,
                points: blocks
                    .iter()
                    .filter_map(|b| Some((b.end_time_s, b.qber_z? * pct)))
                    .collect(),
                error_bars: None,
                color: Some(0),
            },
            Series {
                name: "X basis (test bits)".into(),
                style: SeriesStyle::LinePoints,
                points: blocks
                    .iter()
                    .filter_map(|b| Some((b.end_time_s, b.qber_x? * pct)))
                    .collect(),
                error_bars: None,
                color: Some(1),
            },
            Series {
                name: "Z basis, theory".into(),
                style: SeriesStyle::DashedLine,
                points: vec![
                    (0.0, expected_z * pct),
                    (report.link_time_s, expected_z * pct),
                ],
                error_bars: None,
                color: Some(0),
            },
        ],
    }
}

/// Secret key accumulated over link time: the running sum of the blocks' final key
/// lengths at each block's end, with the finite-key theory rate as a line.
pub fn block_key_chart(report: &RunReport) -> ChartSpec {
    let mut total = 0u64;
    let mut points = vec![(0.0, 0.0)];
    for b in &report.per_block {
        total += b.secret_bits;
        points.push((b.end_time_s, total as f64));
    }
    let per_second = report.pulses_sent as f64 / report.link_time_s.max(f64::MIN_POSITIVE);
    let rate = report.theory.secret_bits_per_pulse_finite * per_second;
    let mut spec = ChartSpec {
        title: title(&report.scenario, "accumulated secret key"),
        x_label: "link time (s)".into(),
        y_label: "secret key (bits)".into(),
        x_log: false,
        y_log: false,
        series: vec![
            Series {
                name: "finite-key theory rate, f_ec assumed".into(),
                style: SeriesStyle::DashedLine,
                points: vec![(0.0, 0.0), (report.link_time_s, rate * report.link_time_s)],
                error_bars: None,
                color: Some(2),
            },
            Series {
                name: "simulated (after each block)".into(),
                style: SeriesStyle::LinePoints,
                points,
                error_bars: None,
                color: Some(6),
            },
        ],
    };
    if let Some(measured) = report.theory.secret_bits_per_pulse_finite_measured_f {
        let rate = measured * per_second;
        spec.series.insert(
            1,
            Series {
                name: format!(
                    "finite-key theory rate, f = {:.3} measured",
                    report.ec.efficiency
                ),
                style: SeriesStyle::Line,
                points: vec![(0.0, 0.0), (report.link_time_s, rate * report.link_time_s)],
                error_bars: None,
                color: Some(3),
            },
        );
    }
    spec
}

/// The charts of `sweep --out`.
pub fn sweep_charts(report: &SweepReport) -> Vec<NamedChart> {
    vec![
        NamedChart {
            stem: "key_rate".into(),
            caption: "Secret key rate versus the swept parameter: simulation with one standard error over blocks, theory and the PLOB bound.".into(),
            spec: key_rate_chart(report),
        },
        NamedChart {
            stem: "qber".into(),
            caption: "QBER in the Z (key) and X (test) bases, simulated and expected.".into(),
            spec: qber_chart(report),
        },
        NamedChart {
            stem: "funnel".into(),
            caption: "Key funnel per pulse: detections, sifted bits, bits left after error correction, secret bits.".into(),
            spec: funnel_chart(report),
        },
    ]
}

/// The charts of `run --out`.
pub fn run_charts(report: &RunReport) -> Vec<NamedChart> {
    vec![
        NamedChart {
            stem: "block_qber".into(),
            caption: "QBER of every post-processing block over link time.".into(),
            spec: block_qber_chart(report),
        },
        NamedChart {
            stem: "block_key".into(),
            caption: "Secret key accumulated block by block over link time.".into(),
            spec: block_key_chart(report),
        },
    ]
}
