//! `report.md`: a Markdown summary of a run or a sweep, ready to paste into a report —
//! the scenario's parameters as a table, the headline numbers, the charts embedded (PNG,
//! with a link to the SVG), and what is needed to reproduce the result. A run over link
//! time (drift, compensation, windows) adds a "Link over time" section
//! ([`link_over_time_section`]).
//!
//! Must never depend on clap or touch the file system: the caller passes in the command
//! line and writes the text.

use super::figures::NamedChart;
use crate::analysis::run::RunReport;
use crate::analysis::sweep::{MaxDistance, SweepReport};
use crate::estimation::assumptions::SecurityWarning;
use crate::scenario::Scenario;
use std::fmt::Write;

/// What `report.md` records so the result can be reproduced.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// qkdsim version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The command line that produced the output.
    pub command: String,
}

/// A QBER in percent with three decimals, and its standard error if known; "–" when the
/// QBER is undefined (no bits in that basis).
pub(crate) fn qber_cell(q: Option<f64>, stderr: Option<f64>) -> String {
    match (q, stderr) {
        (Some(q), Some(e)) => format!("{:.3} ± {:.3}", 100.0 * q, 100.0 * e),
        (Some(q), None) => format!("{:.3}", 100.0 * q),
        (None, _) => super::UNDEFINED.to_string(),
    }
}

/// A number for a table: at most four significant digits, trailing zeros dropped,
/// scientific notation outside [1e-3, 1e5).
pub fn number(v: f64) -> String {
    fn trim(m: &str) -> &str {
        if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        }
    }
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        let text = format!("{v:.3e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) => format!("{}e{exponent}", trim(mantissa)),
            None => text,
        }
    } else {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        trim(&format!("{v:.decimals$}")).to_string()
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                flatten(&key(k), v, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.into(), s.clone())),
        toml::Value::Float(f) => {
            let a = f.abs();
            let text = if a != 0.0 && !(1e-3..1e6).contains(&a) {
                format!("{f:e}")
            } else {
                format!("{f}")
            };
            out.push((prefix.into(), text))
        }
        other => out.push((prefix.into(), other.to_string())),
    }
}

/// The scenario's effective parameters (defaults filled in, `[sweep]` left out) as a
/// two-column Markdown table.
pub fn scenario_table(scenario: &Scenario) -> String {
    let mut spec = scenario.spec.clone();
    spec.sweep = None;
    let mut rows = Vec::new();
    if let Ok(value) = toml::Value::try_from(&spec) {
        flatten("", &value, &mut rows);
    }
    let mut s = String::from("| parameter | value |\n|---|---|\n");
    for (k, v) in rows {
        let _ = writeln!(s, "| `{k}` | {} |", v.replace('|', "\\|"));
    }
    s
}

fn charts_section(s: &mut String, charts: &[NamedChart]) {
    let _ = writeln!(s, "## Charts\n");
    for c in charts {
        let _ = writeln!(
            s,
            "![{title}]({stem}.png)\n\n*{caption}* (Vector version: [{stem}.svg]({stem}.svg).)\n",
            title = c.spec.title,
            stem = c.stem,
            caption = c.caption
        );
    }
}

/// The scenario's departures from the security proof, before any number a reader might
/// take as certified.
pub(crate) fn security_section(s: &mut String, warnings: &[SecurityWarning]) {
    security_section_for(s, warnings, "This scenario leaves")
}

/// [`security_section`] with the subject of its first sentence (`"Some spans leave"` for
/// a route).
pub(crate) fn security_section_for(s: &mut String, warnings: &[SecurityWarning], who: &str) {
    if warnings.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Security warnings\n");
    let _ = writeln!(
        s,
        "{who} assumptions of the key-length proof (Lim et al. 2014); the key figures below \
         are what the analysis gives, not a security guarantee.\n"
    );
    for w in warnings {
        let _ = writeln!(s, "- **{}**: {} ({})", w.code, w.message, w.reference);
    }
    let _ = writeln!(s);
}

pub(crate) fn provenance_section(s: &mut String, provenance: &Provenance, seed_note: &str) {
    let _ = writeln!(s, "## Reproducing this result\n");
    let _ = writeln!(s, "- qkdsim version {}", provenance.version);
    let _ = writeln!(s, "- command: `{}`", provenance.command);
    let _ = writeln!(s, "- {seed_note}");
    let _ = writeln!(
        s,
        "- results are identical for any thread count (wall-clock timings aside); \
         the numbers behind every chart are in `results.json` and `results.csv`\n"
    );
}

fn max_distance_lines(s: &mut String, m: &MaxDistance) {
    let km = |v: Option<f64>| v.map_or("none found".to_string(), |d| format!("{d:.1} km"));
    if m.simulated_km.is_some() || m.last_with_key_km.is_some() {
        let _ = writeln!(
            s,
            "| maximum distance, simulated | {} (last length with key: {}) |",
            km(m.simulated_km),
            km(m.last_with_key_km)
        );
    }
    let _ = writeln!(
        s,
        "| maximum distance, finite-key theory (same block size) | {} |",
        km(m.theory_finite_km)
    );
    let _ = writeln!(
        s,
        "| maximum distance, asymptotic decoy theory | {} |",
        km(m.theory_asymptotic_km)
    );
}

pub(crate) fn title_of(name: &str) -> &str {
    if name.is_empty() {
        "unnamed scenario"
    } else {
        name
    }
}

/// `report.md` of a sweep.
pub fn sweep_markdown(
    report: &SweepReport,
    scenario: &Scenario,
    charts: &[NamedChart],
    provenance: &Provenance,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {}: sweep of `{}`\n",
        title_of(&report.scenario),
        report.param
    );
    if !scenario.spec.description.is_empty() {
        let _ = writeln!(s, "{}\n", scenario.spec.description);
    }
    let _ = writeln!(
        s,
        "{} points{}; every point is a full simulation (engine, sifting, Cascade, \
         verification, finite-key length, privacy amplification). Error bars are one \
         standard error: over post-processing blocks for the key rate, binomial for the QBER.\n",
        report.points.len(),
        if report.log { ", log-spaced" } else { "" }
    );
    security_section(&mut s, &report.security_warnings);
    let _ = writeln!(s, "## Headline numbers\n");
    let best = report.points.iter().max_by(|a, b| {
        a.run
            .secret_key_rate_bps
            .total_cmp(&b.run.secret_key_rate_bps)
    });
    let _ = writeln!(s, "| figure | value |\n|---|---|");
    if let Some(b) = best {
        let _ = writeln!(
            s,
            "| highest secret key rate | {} bit/s at `{}` = {} (QBER Z {}) |",
            number(b.run.secret_key_rate_bps),
            report.param,
            number(b.value),
            super::percent(b.run.qber_z, 2)
        );
    }
    let with_key = report
        .points
        .iter()
        .filter(|p| p.run.secret_bits > 0)
        .count();
    let _ = writeln!(
        s,
        "| points with key | {with_key} of {} |",
        report.points.len()
    );
    if let Some(m) = &report.max_distance {
        max_distance_lines(&mut s, m);
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| `{}` | pulses | QBER Z (%) | QBER X (%) | secret key rate (bit/s) | finite-key theory (bit/s) | asymptotic theory (bit/s) |",
        report.param
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
    for p in &report.points {
        let r = &p.run;
        let f = r.pulses_sent as f64 / r.link_time_s.max(f64::MIN_POSITIVE);
        let rate = match p.statistics.secret_key_rate_bps_stderr {
            Some(e) => format!("{} ± {}", number(r.secret_key_rate_bps), number(e)),
            None => number(r.secret_key_rate_bps),
        };
        let _ = writeln!(
            s,
            "| {} | {:.3e} | {} | {} | {} | {} | {} |",
            number(p.value),
            r.pulses_sent as f64,
            qber_cell(r.qber_z, p.statistics.qber_z_stderr),
            qber_cell(r.qber_x, p.statistics.qber_x_stderr),
            rate,
            number(r.theory.secret_bits_per_pulse_finite * f),
            number(r.theory.secret_bits_per_pulse_asymptotic * f),
        );
    }
    let _ = writeln!(s);
    super::eve::sweep_eve_section(&mut s, report);
    charts_section(&mut s, charts);
    let _ = writeln!(s, "## Scenario parameters\n");
    let _ = writeln!(
        s,
        "The scenario as simulated (defaults filled in); `{}` takes the swept values above.\n",
        report.param
    );
    s.push_str(&scenario_table(scenario));
    s.push('\n');
    provenance_section(
        &mut s,
        provenance,
        &format!(
            "master seed {}; point i runs with seed `derive_seed({}, SweepPoint, i)` (listed per point in `results.json`)",
            report.seed, report.seed
        ),
    );
    s
}

/// `report.md` of a run. `max_distance` holds the theory's maximum distances for the
/// scenario, if the caller computed them.
pub fn run_markdown(
    report: &RunReport,
    scenario: &Scenario,
    charts: &[NamedChart],
    max_distance: Option<&MaxDistance>,
    provenance: &Provenance,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}: simulation run\n", title_of(&report.scenario));
    if !scenario.spec.description.is_empty() {
        let _ = writeln!(s, "{}\n", scenario.spec.description);
    }
    let f = report.pulses_sent as f64 / report.link_time_s.max(f64::MIN_POSITIVE);
    security_section(&mut s, &report.security_warnings);
    let _ = writeln!(s, "## Headline numbers\n");
    let _ = writeln!(s, "| figure | simulated | theory |\n|---|---:|---:|");
    let _ = writeln!(
        s,
        "| secret key rate (bit/s) | {} | {} (finite key), {} (asymptotic) |",
        number(report.secret_key_rate_bps),
        number(report.theory.secret_bits_per_pulse_finite * f),
        number(report.theory.secret_bits_per_pulse_asymptotic * f)
    );
    let _ = writeln!(
        s,
        "| secret bits per pulse | {} | |",
        number(report.secret_bits_per_pulse)
    );
    let _ = writeln!(
        s,
        "| composed security epsilon_total ({} blocks) | {} | |",
        report.blocks,
        number(report.epsilon_total)
    );
    let expected_qber: f64 = {
        // With detector memory, the stationary model's expectation.
        let (sifted, errors) = report.per_intensity.iter().fold((0.0, 0.0), |(a, b), k| {
            let e = k.expected_detector_memory.as_ref().unwrap_or(&k.expected);
            (
                a + e.sifted_z_per_pulse * k.pulses as f64,
                b + e.errors_z_per_pulse * k.pulses as f64,
            )
        });
        if sifted > 0.0 { errors / sifted } else { 0.0 }
    };
    let _ = writeln!(
        s,
        "| QBER Z (%) | {} | {:.3} |",
        qber_cell(report.qber_z, None),
        expected_qber * 100.0
    );
    let _ = writeln!(s, "| QBER X (%) | {} | |", qber_cell(report.qber_x, None));
    let _ = writeln!(
        s,
        "| secret bits | {} from {} blocks ({} without key) | |",
        report.secret_bits, report.blocks, report.aborted_blocks
    );
    let _ = writeln!(
        s,
        "| pulses sent | {:.4e} ({} s of link time) | |",
        report.pulses_sent as f64,
        number(report.link_time_s)
    );
    let _ = writeln!(
        s,
        "| error-correction efficiency f | {:.3} | |",
        report.ec.efficiency
    );
    let _ = writeln!(
        s,
        "| final keys identical | {} | |",
        if report.final_keys_match { "yes" } else { "NO" }
    );
    if let Some(reason) = &report.aborted {
        let _ = writeln!(s, "| no key because | {reason} | |");
    }
    if let Some(m) = max_distance {
        let km = |v: Option<f64>| v.map_or("none found".to_string(), |d| format!("{d:.1} km"));
        let _ = writeln!(
            s,
            "| maximum distance (same equipment) | | {} (finite key), {} (asymptotic) |",
            km(m.theory_finite_km),
            km(m.theory_asymptotic_km)
        );
    }
    let _ = writeln!(s);
    let (eve_charts, charts): (Vec<NamedChart>, Vec<NamedChart>) = charts
        .iter()
        .cloned()
        .partition(|c| c.stem == super::eve::EVE_KEYS_STEM);
    super::eve::eve_section(&mut s, report, &eve_charts);
    let (over_time, per_block): (Vec<NamedChart>, Vec<NamedChart>) = charts
        .into_iter()
        .partition(|c| super::figures::TIME_SERIES_STEMS.contains(&c.stem.as_str()));
    link_over_time_section(&mut s, report, scenario, &over_time);
    charts_section(&mut s, &per_block);
    let _ = writeln!(s, "## Scenario parameters\n");
    s.push_str(&scenario_table(scenario));
    s.push('\n');
    provenance_section(&mut s, provenance, &format!("seed {}", report.seed));
    s
}

/// The "Link over time" section of a run with drift, a compensation policy or windows
/// (nothing for a static run): the policy and its parameters, drift, realignments,
/// availability, the QBER extremes over the windows, what the threshold policy is judged
/// on, the note that the closed-form expectations assume the static misalignment, and the
/// time-series charts (`charts`, when the run has a time series).
pub fn link_over_time_section(
    s: &mut String,
    report: &RunReport,
    scenario: &Scenario,
    charts: &[NamedChart],
) {
    use super::table::{policy_text, qber_extremes, seconds_text};
    use crate::analysis::timeline::{LinkState, TimeWindow};
    let Some(c) = &report.compensation else {
        return;
    };
    let _ = writeln!(s, "## Link over time\n");
    let _ = writeln!(s, "| figure | value |\n|---|---|");
    let _ = writeln!(s, "| compensation policy | {} |", policy_text(c));
    let link = &scenario.spec.link;
    let _ = writeln!(
        s,
        "| polarisation drift | {} |",
        if c.drift_rad2_per_s > 0.0 {
            format!(
                "{} rad²/s per axis, stepped every {} s; misalignment model `{}`",
                number(c.drift_rad2_per_s),
                c.drift_step_s.map_or("–".into(), seconds_text),
                link.misalignment_model
            )
        } else {
            format!(
                "none (static channel); misalignment model `{}`",
                link.misalignment_model
            )
        }
    );
    let _ = writeln!(
        s,
        "| realignments | {} ({} s of {} s of link time) |",
        c.realignments,
        seconds_text(c.realigning_s),
        seconds_text(report.link_time_s)
    );
    let _ = writeln!(
        s,
        "| availability (share of link time producing key) | {} |",
        super::percent(Some(c.availability), 2)
    );
    let series = &report.time_series;
    if !series.is_empty() {
        let up = series.iter().filter(|w| w.state == LinkState::Up).count();
        let _ = writeln!(
            s,
            "| time series | {} entries: {up} windows of at most {} s, {} realigning (every entry in `time_series.csv`) |",
            series.len(),
            c.window_s.map_or("–".into(), seconds_text),
            series.len() - up
        );
        for (name, q) in [
            (
                "QBER Z per window",
                (|w| w.qber_z) as fn(&TimeWindow) -> Option<f64>,
            ),
            ("QBER X per window", |w| w.qber_x),
        ] {
            let text = match qber_extremes(series, q) {
                Some((lo, hi)) => format!(
                    "{} ({}–{} s) to {} ({}–{} s)",
                    super::percent(q(lo), 2),
                    seconds_text(lo.start_s),
                    seconds_text(lo.end_s),
                    super::percent(q(hi), 2),
                    seconds_text(hi.start_s),
                    seconds_text(hi.end_s)
                ),
                None => super::UNDEFINED.into(),
            };
            let _ = writeln!(s, "| {name} | {text} |");
        }
        let _ = writeln!(
            s,
            "| secret bits | {} in the windows, {} finished after the last window |",
            series.iter().map(|w| w.secret_bits).sum::<u64>(),
            c.secret_bits_after_last_window
        );
    }
    let _ = writeln!(s);
    if c.qber_threshold.is_some() {
        let _ = writeln!(
            s,
            "The threshold is judged on what the receiver knows: the public X-basis (test) \
             bits of the window just ended, which decoy BB84 announces for parameter \
             estimation — never the true error count of the key bits, which nobody knows \
             before error correction. A window without test bits decides nothing.\n"
        );
    }
    let _ = writeln!(
        s,
        "While realigning, nothing is sent and no key is made; a block's key counts in the \
         window in which its final key is finished (its last pulse plus the modelled \
         post-processing latency), so key may appear in a realigning window.\n"
    );
    if c.drift_rad2_per_s > 0.0 {
        let _ = writeln!(
            s,
            "The closed-form expectations in the headline table assume the static \
             misalignment e_d. With drift the polarisation error grows from each alignment \
             as e(t) = (1 − (1 − 2 e_d) exp(−σ² t)) / 2, σ² = `link.drift_rad2_per_s`, on \
             average over the random walk.\n"
        );
    }
    for ch in charts {
        let _ = writeln!(
            s,
            "![{title}]({stem}.png)\n\n*{caption}* (Vector version: [{stem}.svg]({stem}.svg).)\n",
            title = ch.spec.title,
            stem = ch.stem,
            caption = ch.caption
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1234.567), "1235");
        assert_eq!(number(0.012345), "0.01235");
        assert_eq!(number(2.5e6), "2.5e6");
        assert_eq!(number(20.0), "20");
        assert_eq!(number(1e-8), "1e-8");
    }

    fn markdown_of(report: &RunReport) -> String {
        let scenario = Scenario::parse("[link]\nlength_km = 10.0\n", "t").unwrap();
        let charts = super::super::figures::run_charts(report);
        run_markdown(
            report,
            &scenario,
            &charts,
            None,
            &Provenance {
                version: "test".into(),
                command: "qkdsim run t.toml".into(),
            },
        )
    }

    #[test]
    fn link_over_time_section_only_for_a_run_over_time() {
        use crate::report::testing::{report_over_time, series, static_report};
        let plain = markdown_of(&static_report());
        assert!(!plain.contains("Link over time"), "{plain}");
        assert!(!plain.contains("qber_over_time"));

        let md = markdown_of(&report_over_time(series(30, Some(10)), "threshold"));
        let section =
            &md[md.find("## Link over time").expect("section")..md.find("## Charts").unwrap()];
        for want in [
            "threshold (realign after a window whose public X-basis QBER exceeds 5.00%",
            "| availability (share of link time producing key) | 90.00% |",
            "| realignments | 3 (3 s of 30 s of link time) |",
            "public X-basis (test) bits of the window just ended",
            "never the true error count",
            "![Report test link: QBER over link time](qber_over_time.png)",
            "(key_over_time.png)",
            "assume the static misalignment",
        ] {
            assert!(section.contains(want), "lacks {want}:\n{section}");
        }
        // The time-series charts sit in the section, not again under Charts.
        assert_eq!(md.matches("(qber_over_time.png)").count(), 1);
        assert!(md.contains("(block_qber.png)"));

        // A compensated run without windows: the summary, no series rows or charts, and
        // the threshold sentence only for the threshold policy.
        let mut r = report_over_time(series(30, Some(10)), "periodic");
        r.time_series.clear();
        let md = markdown_of(&r);
        assert!(md.contains("## Link over time") && md.contains("periodic (realign every 100 s"));
        assert!(!md.contains("qber_over_time") && !md.contains("| time series |"));
        assert!(!md.contains("never the true error count"));
    }
}
