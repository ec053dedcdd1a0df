//! The charts of `sweep --out` and `run --out`, built as [`ChartSpec`]s from the same
//! records that are written to `results.json`: secret key rate, QBER and the key funnel
//! versus the swept parameter, QBER and accumulated key per block over link time, and, for
//! a run with a time series (`simulation.window_s`), QBER and key per window with the
//! realignments shaded (`qber_over_time`, `key_over_time`).
//!
//! Must never depend on clap or touch the file system.

use super::charts::{ChartSpec, Series, SeriesStyle};
use crate::analysis::run::RunReport;
use crate::analysis::sweep::{SweepPoint, SweepReport, TheoryPoint};
use crate::analysis::timeline::{LinkState, TimeWindow};
use crate::error::Result;

/// A chart and the file stem it is written under (`<stem>.png`, `<stem>.svg`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedChart {
    /// File stem, e.g. `key_rate`.
    pub stem: String,
    /// One-line caption for `report.md`.
    pub caption: String,
    /// The chart.
    pub spec: ChartSpec,
    /// Further panels stacked below `spec` over the same x axis (empty: one panel).
    pub panels: Vec<ChartSpec>,
}

impl NamedChart {
    /// A one-panel chart.
    pub fn new(stem: &str, caption: &str, spec: ChartSpec) -> NamedChart {
        NamedChart {
            stem: stem.into(),
            caption: caption.into(),
            spec,
            panels: Vec::new(),
        }
    }

    fn all_panels(&self) -> Vec<ChartSpec> {
        std::iter::once(self.spec.clone())
            .chain(self.panels.iter().cloned())
            .collect()
    }

    /// The chart as PNG bytes (all panels).
    pub fn png(&self) -> Result<Vec<u8>> {
        if self.panels.is_empty() {
            super::charts::render_png(&self.spec)
        } else {
            super::charts::render_panels_png(&self.all_panels())
        }
    }

    /// The chart as an SVG document (all panels).
    pub fn svg(&self) -> Result<String> {
        if self.panels.is_empty() {
            super::charts::render_svg(&self.spec)
        } else {
            super::charts::render_panels_svg(&self.all_panels())
        }
    }
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
        ("adversary.fraction", "share of pulses Eve attacks"),
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

pub(crate) fn title(scenario: &str, what: &str) -> String {
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
        x_ticks: Vec::new(),
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
        x_ticks: Vec::new(),
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
        x_ticks: Vec::new(),
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
        x_ticks: Vec::new(),
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
                name: if report
                    .compensation
                    .as_ref()
                    .is_some_and(|c| c.drift_rad2_per_s > 0.0)
                {
                    "Z basis, theory (static e_d, no drift)".into()
                } else {
                    "Z basis, theory".into()
                },
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
        x_ticks: Vec::new(),
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

/// The charts of `sweep --out`; with an adversary also `eve_vs_<param>`
/// ([`super::eve::sweep_eve_charts`]).
pub fn sweep_charts(report: &SweepReport) -> Vec<NamedChart> {
    let mut charts = vec![
        NamedChart {
            stem: "key_rate".into(),
            caption: "Secret key rate versus the swept parameter: simulation with one standard error over blocks, theory and the PLOB bound.".into(),
            spec: key_rate_chart(report),
            panels: Vec::new(),
        },
        NamedChart {
            stem: "qber".into(),
            caption: "QBER in the Z (key) and X (test) bases, simulated and expected.".into(),
            spec: qber_chart(report),
            panels: Vec::new(),
        },
        NamedChart {
            stem: "funnel".into(),
            caption: "Key funnel per pulse: detections, sifted bits, bits left after error correction, secret bits.".into(),
            spec: funnel_chart(report),
            panels: Vec::new(),
        },
    ];
    if report.points.iter().any(|p| p.run.eve.is_some()) {
        super::eve::mark_theory_without_eve(&mut charts);
    }
    charts.extend(super::eve::sweep_eve_charts(report));
    charts
}

/// The charts of `run --out`: per block, per window when the run has a time series
/// ([`time_series_charts`]), and `eve_keys` under an attack ([`super::eve::run_eve_charts`]).
pub fn run_charts(report: &RunReport) -> Vec<NamedChart> {
    let mut charts = vec![
        NamedChart::new(
            "block_qber",
            "QBER of every post-processing block over link time.",
            block_qber_chart(report),
        ),
        NamedChart::new(
            "block_key",
            "Secret key accumulated block by block over link time.",
            block_key_chart(report),
        ),
    ];
    charts.extend(time_series_charts(report));
    if report.eve.is_some() {
        super::eve::mark_theory_without_eve(&mut charts);
    }
    charts.extend(super::eve::run_eve_charts(report));
    charts
}

/// File stems of the time-series charts.
pub const TIME_SERIES_STEMS: [&str; 2] = ["qber_over_time", "key_over_time"];

/// About the most points a QBER-over-time chart draws per series: longer series are
/// pooled into bins of whole consecutive windows (a day of 1-s windows would otherwise
/// draw 86 400 points, more than the chart has pixels, and write megabytes of SVG).
pub const MAX_CHART_BINS: usize = 600;

/// About the most steps of the key-rate panel: key arrives block by block, so a rate over
/// windows much shorter than a block is mostly zero with spikes; wider bins show the rate.
pub const MAX_RATE_BINS: usize = 200;

/// Consecutive windows pooled for a chart: counts summed, QBERs recomputed from them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowBin {
    /// Start of the first window, seconds of link time.
    pub start_s: f64,
    /// End of the last window.
    pub end_s: f64,
    /// Whether the link was up (a realignment is never pooled with up windows).
    pub up: bool,
    /// Windows pooled.
    pub windows: usize,
    /// Sifted Z bits and errors, sifted X bits and errors, secret bits: sums.
    pub sifted_bits_z: u64,
    /// See `sifted_bits_z`.
    pub errors_z: u64,
    /// See `sifted_bits_z`.
    pub sifted_bits_x: u64,
    /// See `sifted_bits_z`.
    pub errors_x: u64,
    /// See `sifted_bits_z`.
    pub secret_bits: u64,
}

impl WindowBin {
    fn of(w: &TimeWindow) -> WindowBin {
        WindowBin {
            start_s: w.start_s,
            end_s: w.end_s,
            up: w.state == LinkState::Up,
            windows: 1,
            sifted_bits_z: w.sifted_bits_z,
            errors_z: w.errors_z,
            sifted_bits_x: w.sifted_bits_x,
            errors_x: w.errors_x,
            secret_bits: w.secret_bits,
        }
    }

    fn add(&mut self, w: &TimeWindow) {
        self.end_s = w.end_s;
        self.windows += 1;
        self.sifted_bits_z += w.sifted_bits_z;
        self.errors_z += w.errors_z;
        self.sifted_bits_x += w.sifted_bits_x;
        self.errors_x += w.errors_x;
        self.secret_bits += w.secret_bits;
    }

    /// Z QBER of the pooled bits (`None` over no bits).
    pub fn qber_z(&self) -> Option<f64> {
        crate::analysis::run::rate(self.errors_z, self.sifted_bits_z)
    }

    /// X QBER of the pooled bits (`None` over no bits).
    pub fn qber_x(&self) -> Option<f64> {
        crate::analysis::run::rate(self.errors_x, self.sifted_bits_x)
    }
}

/// The windows pooled into bins of at most `ceil(n / max_bins)` consecutive up windows
/// (never across a realignment; each realignment its own bin), so that a series of n
/// windows gives about `max_bins` bins plus one per realignment. With n <= `max_bins` every
/// window is its own bin.
pub fn bin_windows(series: &[TimeWindow], max_bins: usize) -> Vec<WindowBin> {
    let per_bin = series.len().div_ceil(max_bins.max(1)).max(1);
    let mut bins: Vec<WindowBin> = Vec::new();
    let mut open = false;
    for w in series {
        let up = w.state == LinkState::Up;
        match bins.last_mut() {
            Some(b) if open && up && b.windows < per_bin => b.add(w),
            _ => {
                bins.push(WindowBin::of(w));
                open = up;
            }
        }
    }
    bins
}

/// Link time in the unit a time-series chart uses: hours for runs of three hours or more,
/// else seconds; returns the divisor and the axis label.
fn time_axis(link_time_s: f64) -> (f64, &'static str) {
    if link_time_s >= 3.0 * 3600.0 {
        (3600.0, "link time (h)")
    } else {
        (1.0, "link time (s)")
    }
}

/// The realignments as shaded spans (touching realigning bins merged).
fn realigning_bands(bins: &[WindowBin], unit: f64) -> Series {
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for b in bins.iter().filter(|b| !b.up) {
        match spans.last_mut() {
            Some(last) if (last.1 - b.start_s / unit).abs() < 1e-12 => last.1 = b.end_s / unit,
            _ => spans.push((b.start_s / unit, b.end_s / unit)),
        }
    }
    Series {
        name: "realigning (nothing sent)".into(),
        style: SeriesStyle::Bands,
        points: spans,
        error_bars: None,
        color: Some(7),
    }
}

fn per_what(bins: &[WindowBin], series: &[TimeWindow]) -> String {
    let most = bins.iter().map(|b| b.windows).max().unwrap_or(1);
    if bins.len() < series.len() && most > 1 {
        format!("per {most} windows")
    } else {
        "per window".into()
    }
}

/// QBER per window over link time (Z: the key bits' true error rate, known only to the
/// simulator; X: the public test bits the threshold policy judges), in percent, with the
/// policy's threshold as a dashed line and the realignments shaded. Lines break at each
/// realignment; a window without bits in a basis has no point in it.
pub fn qber_over_time_chart(report: &RunReport) -> ChartSpec {
    let series = &report.time_series;
    let bins = bin_windows(series, MAX_CHART_BINS);
    let (unit, x_label) = time_axis(report.link_time_s);
    let style = if bins.len() <= 150 {
        SeriesStyle::LinePoints
    } else {
        SeriesStyle::Line
    };
    let line = |q: fn(&WindowBin) -> Option<f64>| -> Vec<(f64, f64)> {
        bins.iter()
            .filter_map(|b| {
                let mid = 0.5 * (b.start_s + b.end_s) / unit;
                if b.up {
                    q(b).map(|q| (mid, 100.0 * q))
                } else {
                    Some((mid, f64::NAN))
                }
            })
            .collect()
    };
    let per = per_what(&bins, series);
    let mut spec = ChartSpec {
        title: title(&report.scenario, "QBER over link time"),
        x_label: x_label.into(),
        y_label: "QBER (%)".into(),
        x_log: false,
        y_log: false,
        x_ticks: Vec::new(),
        series: vec![
            realigning_bands(&bins, unit),
            Series {
                name: format!("Z basis (key bits, true errors), {per}"),
                style,
                points: line(WindowBin::qber_z),
                error_bars: None,
                color: Some(0),
            },
            Series {
                name: format!("X basis (public test bits), {per}"),
                style,
                points: line(WindowBin::qber_x),
                error_bars: None,
                color: Some(1),
            },
        ],
    };
    if let Some(t) = report.compensation.as_ref().and_then(|c| c.qber_threshold) {
        let end = series.last().map_or(report.link_time_s, |w| w.end_s);
        spec.series.push(Series {
            name: format!(
                "realignment threshold {} % (judged on the X basis)",
                super::markdown::number(100.0 * t)
            ),
            style: SeriesStyle::DashedLine,
            points: vec![(0.0, 100.0 * t), (end / unit, 100.0 * t)],
            error_bars: None,
            color: Some(6),
        });
    }
    spec
}

/// Secret key over link time in two panels: above, the key rate of each window (its secret
/// bits over its length: the blocks whose final key exists in it) as steps, with the
/// run's mean rate; below, the key accumulated by the end of each window. Realignments
/// shaded in both.
pub fn key_over_time_panels(report: &RunReport) -> (ChartSpec, ChartSpec) {
    let series = &report.time_series;
    let bins = bin_windows(series, MAX_CHART_BINS);
    let rate_bins = bin_windows(series, MAX_RATE_BINS);
    let (unit, x_label) = time_axis(report.link_time_s);
    let mut steps = Vec::with_capacity(2 * rate_bins.len());
    for b in &rate_bins {
        let length = (b.end_s - b.start_s).max(f64::MIN_POSITIVE);
        let rate = b.secret_bits as f64 / length;
        steps.push((b.start_s / unit, rate));
        steps.push((b.end_s / unit, rate));
    }
    let mut accumulated = vec![(bins.first().map_or(0.0, |b| b.start_s / unit), 0.0)];
    let mut total = 0u64;
    for b in &bins {
        total += b.secret_bits;
        accumulated.push((b.end_s / unit, total as f64));
    }
    let end = bins.last().map_or(0.0, |b| b.end_s / unit);
    let per = per_what(&rate_bins, series);
    let rate_panel = ChartSpec {
        title: title(&report.scenario, "secret key over link time"),
        x_label: x_label.into(),
        y_label: "secret key rate (bit/s)".into(),
        x_log: false,
        y_log: false,
        x_ticks: Vec::new(),
        series: vec![
            realigning_bands(&bins, unit),
            Series {
                name: format!(
                    "run mean {} bit/s",
                    super::markdown::number(report.secret_key_rate_bps)
                ),
                style: SeriesStyle::DashedLine,
                points: vec![
                    (0.0, report.secret_key_rate_bps),
                    (end, report.secret_key_rate_bps),
                ],
                error_bars: None,
                color: Some(2),
            },
            Series {
                name: format!("key rate {per} (final key finished in it)"),
                style: SeriesStyle::Line,
                points: steps,
                error_bars: None,
                color: Some(6),
            },
        ],
    };
    let accumulated_panel = ChartSpec {
        title: String::new(),
        x_label: x_label.into(),
        y_label: "accumulated secret key (bits)".into(),
        x_log: false,
        y_log: false,
        x_ticks: Vec::new(),
        series: vec![
            realigning_bands(&bins, unit),
            Series {
                name: "secret key by the end of each window".into(),
                style: if bins.len() <= 150 {
                    SeriesStyle::LinePoints
                } else {
                    SeriesStyle::Line
                },
                points: accumulated,
                error_bars: None,
                color: Some(0),
            },
        ],
    };
    (rate_panel, accumulated_panel)
}

/// The time-series charts of `run --out` (`qber_over_time`, `key_over_time`); none
/// without a time series.
pub fn time_series_charts(report: &RunReport) -> Vec<NamedChart> {
    if report.time_series.is_empty() {
        return Vec::new();
    }
    let (rate, accumulated) = key_over_time_panels(report);
    let pooled = if report.time_series.len() > MAX_RATE_BINS {
        format!(
            " Consecutive windows are pooled (never across a realignment) so that the QBER \
             and the accumulated key draw about {MAX_CHART_BINS} points and the rate about \
             {MAX_RATE_BINS} steps; every window is in time_series.csv."
        )
    } else {
        String::new()
    };
    vec![
        NamedChart::new(
            TIME_SERIES_STEMS[0],
            &format!(
                "QBER per window over link time: Z (key bits, true errors, known only to \
                 the simulator) and X (public test bits, what a threshold policy judges); \
                 realignments shaded.{pooled}"
            ),
            qber_over_time_chart(report),
        ),
        NamedChart {
            stem: TIME_SERIES_STEMS[1].into(),
            caption: format!(
                "Secret key rate per window (the blocks whose final key is finished in it) \
                 and key accumulated over link time; realignments shaded.{pooled}"
            ),
            spec: rate,
            panels: vec![accumulated],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{report_over_time, series, static_report};

    fn totals(bins: &[WindowBin]) -> [u64; 5] {
        bins.iter().fold([0; 5], |t, b| {
            [
                t[0] + b.sifted_bits_z,
                t[1] + b.errors_z,
                t[2] + b.sifted_bits_x,
                t[3] + b.errors_x,
                t[4] + b.secret_bits,
            ]
        })
    }

    #[test]
    fn bins_keep_every_count_and_never_pool_across_a_realignment() {
        let s = series(86_400, Some(1000));
        let want = s.iter().fold([0; 5], |t, w| {
            [
                t[0] + w.sifted_bits_z,
                t[1] + w.errors_z,
                t[2] + w.sifted_bits_x,
                t[3] + w.errors_x,
                t[4] + w.secret_bits,
            ]
        });
        let realignments = s
            .iter()
            .filter(|w| w.state == LinkState::Realigning)
            .count();
        let bins = bin_windows(&s, MAX_CHART_BINS);
        assert_eq!(totals(&bins), want);
        assert_eq!(bins.iter().map(|b| b.windows).sum::<usize>(), s.len());
        // Contiguous in time, a realignment always alone in its bin.
        for pair in bins.windows(2) {
            assert_eq!(pair[0].end_s, pair[1].start_s);
        }
        assert!(bins.iter().filter(|b| !b.up).all(|b| b.windows == 1));
        assert_eq!(bins.iter().filter(|b| !b.up).count(), realignments);
        // About MAX_CHART_BINS bins, plus at most one cut per realignment.
        let per_bin = s.len().div_ceil(MAX_CHART_BINS);
        assert!(bins.iter().all(|b| b.windows <= per_bin));
        assert!(
            bins.len() <= MAX_CHART_BINS + 2 * realignments,
            "{} bins",
            bins.len()
        );
        // A short series is drawn window by window.
        let short = series(40, Some(7));
        let b = bin_windows(&short, MAX_CHART_BINS);
        assert_eq!(b.len(), 40);
        assert!(
            b.iter()
                .zip(&short)
                .all(|(b, w)| b.qber_x() == w.qber_x && b.qber_z() == w.qber_z)
        );
    }

    #[test]
    fn qber_chart_shades_realignments_breaks_lines_and_draws_the_threshold() {
        let r = report_over_time(series(40, Some(10)), "threshold");
        let spec = qber_over_time_chart(&r);
        let bands = &spec.series[0];
        assert_eq!(bands.style, SeriesStyle::Bands);
        assert_eq!(
            bands.points,
            vec![(9.0, 10.0), (19.0, 20.0), (29.0, 30.0), (39.0, 40.0)]
        );
        let x = spec
            .series
            .iter()
            .find(|s| s.name.starts_with("X basis"))
            .unwrap();
        // One point per up window (at its middle, in percent), a NaN break per realignment.
        assert_eq!(x.points.len(), 40);
        assert_eq!(x.points.iter().filter(|p| p.1.is_nan()).count(), 4);
        assert_eq!(x.points[12], (12.5, 100.0 * 12.0 / 100.0));
        let thr = spec.series.last().unwrap();
        assert!(thr.name.contains("threshold 5 %"), "{}", thr.name);
        assert_eq!(thr.points, vec![(0.0, 5.0), (40.0, 5.0)]);
        // Other policies have no threshold line.
        let periodic = qber_over_time_chart(&report_over_time(series(40, Some(10)), "periodic"));
        assert!(!periodic.series.iter().any(|s| s.name.contains("threshold")));
    }

    #[test]
    fn a_day_of_windows_draws_a_bounded_number_of_points() {
        let r = report_over_time(series(86_400, Some(3600)), "periodic");
        let spec = qber_over_time_chart(&r);
        assert_eq!(spec.x_label, "link time (h)");
        for s in &spec.series[1..] {
            assert!(
                s.points.len() <= MAX_CHART_BINS + 2 * 24,
                "{}: {}",
                s.name,
                s.points.len()
            );
            assert!(s.name.contains("per 144 windows"), "{}", s.name);
        }
        let (rate, accumulated) = key_over_time_panels(&r);
        let steps = &rate.series[2].points;
        assert!(
            steps.len() <= 2 * (MAX_RATE_BINS + 2 * 24),
            "{}",
            steps.len()
        );
        assert!(accumulated.series[1].points.len() <= MAX_CHART_BINS + 2 * 24 + 1);
    }

    #[test]
    fn key_panels_add_up_to_the_secret_bits_of_the_windows() {
        let s = series(300, Some(50));
        let total: u64 = s.iter().map(|w| w.secret_bits).sum();
        let r = report_over_time(s, "threshold");
        let (rate, accumulated) = key_over_time_panels(&r);
        let acc = &accumulated.series[1].points;
        assert_eq!(acc.first(), Some(&(0.0, 0.0)));
        assert_eq!(acc.last(), Some(&(300.0, total as f64)));
        assert!(acc.windows(2).all(|p| p[1].1 >= p[0].1 && p[1].0 > p[0].0));
        // The steps integrate to the same total: rate times length of each step.
        let steps = &rate.series[2].points;
        let integral: f64 = steps.chunks(2).map(|c| c[0].1 * (c[1].0 - c[0].0)).sum();
        assert!((integral - total as f64).abs() < 1e-6 * total as f64);
    }

    #[test]
    fn time_series_charts_exist_only_with_a_series_and_render() {
        assert!(time_series_charts(&static_report()).is_empty());
        assert_eq!(run_charts(&static_report()).len(), 2);
        let r = report_over_time(series(30, Some(10)), "threshold");
        let charts = run_charts(&r);
        let stems: Vec<&str> = charts.iter().map(|c| c.stem.as_str()).collect();
        assert_eq!(
            stems,
            ["block_qber", "block_key", "qber_over_time", "key_over_time"]
        );
        let key = &charts[3];
        assert_eq!(key.panels.len(), 1);
        let png = key.png().unwrap();
        let info = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap()
            .info()
            .clone();
        assert_eq!(
            (info.width, info.height),
            (
                super::super::charts::PNG_SIZE.0,
                2 * super::super::charts::PANEL_HEIGHT + 80
            )
        );
        let svg = key.svg().unwrap();
        assert!(svg.contains("secret key rate (bit/s)") && svg.contains("accumulated secret key"));
        assert_eq!(svg.matches("secret key over link time").count(), 1);
    }
}
