//! The human summaries of a run and a sweep: simulated figures beside the closed-form
//! expectation, and for a run over link time (drift, compensation, windows) a "link over
//! time" paragraph with a bounded listing of the time series ([`link_over_time_lines`]).
//!
//! Must never depend on clap or touch the file system.

use super::{UNDEFINED, percent};
use crate::analysis::run::RunReport;
use crate::analysis::sweep::SweepReport;
use crate::analysis::timeline::{CompensationReport, LinkState, TimeWindow};
use crate::estimation::assumptions::SecurityWarning;
use std::fmt::Write;

/// Standard error of a binomial proportion estimated from `n` trials; undefined with the
/// proportion (no trials).
fn std_error(p: Option<f64>, n: u64) -> Option<f64> {
    p.filter(|_| n > 0)
        .map(|p| (p * (1.0 - p) / n as f64).sqrt())
}

/// "Q% +- e%", or the undefined mark alone.
fn qber_with_error(q: Option<f64>, n: u64) -> String {
    match (q, std_error(q, n)) {
        (Some(_), Some(e)) => format!("{} +- {}", percent(q, 4), percent(Some(e), 4)),
        _ => UNDEFINED.to_string(),
    }
}

/// The summary table printed by `qkdsim run`.
pub fn run_table(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "qkdsim run: {} (seed {})",
        if r.scenario.is_empty() {
            "unnamed scenario"
        } else {
            &r.scenario
        },
        r.seed
    );
    let _ = writeln!(
        s,
        "pulses sent {:.4e} ({:.4} s of link time), detections {}, blocks {}",
        r.pulses_sent as f64, r.link_time_s, r.detections, r.blocks
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<10} {:>8} {:>13} {:>24} {:>24} {:>24}",
        "intensity",
        "mu",
        "pulses",
        "gain sim (expected)",
        "QBER Z sim (expected)",
        "QBER X sim (expected)"
    );
    for k in &r.per_intensity {
        // With detector memory the stationary model is the one to compare with.
        let e = k.expected_detector_memory.as_ref().unwrap_or(&k.expected);
        let _ = writeln!(
            s,
            "{:<10} {:>8.4} {:>13} {:>12.4e} ({:.4e}) {:>13} ({}) {:>13} ({})",
            k.label,
            k.mean_photon_number,
            k.pulses,
            k.gain,
            e.gain,
            percent(k.qber_z, 4),
            percent((e.sifted_z_per_pulse > 0.0).then_some(e.qber_z), 4),
            percent(k.qber_x, 4),
            percent((e.sifted_x_per_pulse > 0.0).then_some(e.qber_x), 4),
        );
    }
    if r.per_intensity
        .iter()
        .any(|k| k.expected_detector_memory.is_some())
    {
        let memoryless: Vec<String> = r
            .per_intensity
            .iter()
            .map(|k| {
                format!(
                    "{} {:.4e} / {}",
                    k.label,
                    k.expected.gain,
                    percent(
                        (k.expected.sifted_z_per_pulse > 0.0).then_some(k.expected.qber_z),
                        4
                    )
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "(expected: with dead time and afterpulsing, stationary mean-field model; without \
             them, gain / QBER Z: {})",
            memoryless.join(", ")
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "sifted Z bits {} (QBER {}), sifted X bits {} (QBER {})",
        r.sifted_bits_z,
        qber_with_error(r.qber_z, r.sifted_bits_z),
        r.sifted_bits_x,
        qber_with_error(r.qber_x, r.sifted_bits_x)
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "key funnel (per pulse, simulated | theory):");
    let pp = |x: u64| x as f64 / r.pulses_sent.max(1) as f64;
    let _ = writeln!(s, "  detections          {:>12.4e}", pp(r.detections));
    let _ = writeln!(s, "  sifted Z bits       {:>12.4e}", pp(r.sifted_bits_z));
    let _ = writeln!(
        s,
        "  after EC            {:>12.4e}   ({} parity bits disclosed, efficiency f = {:.4}, {} round trips)",
        pp(r.ec.input_bits.saturating_sub(r.ec.leaked_bits)),
        r.ec.leaked_bits,
        r.ec.efficiency,
        r.ec.channel_uses
    );
    let _ = writeln!(
        s,
        "  secret bits         {:>12.4e} | finite-key {:.4e}, asymptotic {:.4e}, PLOB {}",
        r.secret_bits_per_pulse,
        r.theory.secret_bits_per_pulse_finite,
        r.theory.secret_bits_per_pulse_asymptotic,
        r.theory
            .plob_bits_per_pulse
            .map(|v| format!("{v:.4e}"))
            .unwrap_or_else(|| "n/a".into())
    );
    let _ = writeln!(
        s,
        "secret key: {} bits, {:.4e} bit/s of link time; blocks {} ({} verified, {} without key); final keys {}",
        r.secret_bits,
        r.secret_key_rate_bps,
        r.blocks,
        r.ec.verified_blocks,
        r.aborted_blocks,
        if r.final_keys_match {
            "identical"
        } else {
            "DIFFER"
        }
    );
    if let Some(reason) = &r.aborted {
        let _ = writeln!(s, "no key: {reason}");
    }
    let _ = writeln!(
        s,
        "composed security of all keys of the run: epsilon_total = {:.3e} ({} blocks x (eps_sec + eps_cor))",
        r.epsilon_total, r.blocks
    );
    security_warning_lines(&mut s, &r.security_warnings);
    super::eve::eve_lines(&mut s, r);
    link_over_time_lines(&mut s, r);
    let _ = writeln!(
        s,
        "mean latency from a block's last pulse to its final key (modelled: fibre delay and classical round trips): {:.4} s",
        r.mean_block_latency_s
    );
    let t = &r.timings;
    let _ = writeln!(
        s,
        "timings (this host, wall clock): engine {:.3} s, sifting {:.3} s, estimation {:.3} s, reconciliation {:.3} s, verification {:.3} s, privacy amplification {:.3} s; total {:.3} s ({:.3e} pulses/s, {:.3} link s per wall s)",
        t.engine_s,
        t.sifting_s,
        t.estimation_s,
        t.reconciliation_s,
        t.verification_s,
        t.privacy_amplification_s,
        t.total_s,
        r.pulses_sent as f64 / t.total_s.max(1e-12),
        r.link_time_s / t.total_s.max(1e-12)
    );
    s
}

/// Most rows of the time series the table lists: longer series are shown by this many
/// windows, evenly spaced, with the extremes of the QBER named below them.
pub const MAX_TABLE_WINDOWS: usize = 20;

/// Seconds of link time with at most three decimals, trailing zeros dropped (exact for the
/// whole seconds windows usually have, never rounded to four digits like
/// [`super::markdown::number`]).
pub fn seconds_text(v: f64) -> String {
    let t = format!("{v:.3}");
    if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        t
    }
}

/// The policy of a run over link time in words, with its parameters.
pub fn policy_text(c: &CompensationReport) -> String {
    let after = format!(
        "{} s per realignment, e_d = {} after it",
        seconds_text(c.realign_s),
        percent(Some(c.residual_misalignment), 2)
    );
    match (c.policy.as_str(), c.interval_s, c.qber_threshold) {
        ("periodic", Some(i), _) => {
            format!("periodic (realign every {} s; {after})", seconds_text(i))
        }
        ("threshold", _, Some(t)) => format!(
            "threshold (realign after a window whose public X-basis QBER exceeds {}; {after})",
            percent(Some(t), 2)
        ),
        ("none", _, _) => "none (never realigned)".into(),
        (other, _, _) => other.to_string(),
    }
}

/// Indices of at most `max` of `n` entries, evenly spaced, first and last included (all
/// of them when `n <= max`).
pub fn sample_indices(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    if max < 2 {
        return (0..max).collect();
    }
    let mut idx: Vec<usize> = (0..max)
        .map(|i| ((i as f64) * (n - 1) as f64 / (max - 1) as f64).round() as usize)
        .collect();
    idx.dedup();
    idx
}

/// The up window with the lowest and the highest QBER of a basis (the first on ties);
/// `None` when no window has bits in that basis.
pub fn qber_extremes(
    series: &[TimeWindow],
    qber: fn(&TimeWindow) -> Option<f64>,
) -> Option<(&TimeWindow, &TimeWindow)> {
    let mut defined = series
        .iter()
        .filter(|w| w.state == LinkState::Up)
        .filter_map(|w| Some((w, qber(w)?)));
    let first = defined.next()?;
    let (lo, hi) = defined.fold((first, first), |(lo, hi), x| {
        (
            if x.1 < lo.1 { x } else { lo },
            if x.1 > hi.1 { x } else { hi },
        )
    });
    Some((lo.0, hi.0))
}

/// The "link over time" paragraph of a run with drift, a compensation policy or windows
/// (nothing for a static run): policy, realignments, time realigning, availability,
/// drift; the time series as at most [`MAX_TABLE_WINDOWS`] rows and the QBER extremes;
/// and, with drift, a note that the closed-form expectations above assume the static
/// misalignment.
pub fn link_over_time_lines(s: &mut String, r: &RunReport) {
    let Some(c) = &r.compensation else {
        return;
    };
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "link over time: policy {}; {} realignment{}, {} s of {} s realigning; availability {}; \
         drift {}",
        policy_text(c),
        c.realignments,
        if c.realignments == 1 { "" } else { "s" },
        seconds_text(c.realigning_s),
        seconds_text(r.link_time_s),
        percent(Some(c.availability), 2),
        if c.drift_rad2_per_s > 0.0 {
            format!(
                "{:.3e} rad^2/s per axis{}",
                c.drift_rad2_per_s,
                c.drift_step_s
                    .map(|d| format!(" (step {} s)", seconds_text(d)))
                    .unwrap_or_default()
            )
        } else {
            "none (static channel)".into()
        }
    );
    let series = &r.time_series;
    if !series.is_empty() {
        let n = series.len();
        let rows = sample_indices(n, MAX_TABLE_WINDOWS);
        let _ = writeln!(
            s,
            "time series: {n} entries ({} up windows of at most {} s, {} realigning); {}",
            series.iter().filter(|w| w.state == LinkState::Up).count(),
            c.window_s.map_or("?".into(), seconds_text),
            series
                .iter()
                .filter(|w| w.state == LinkState::Realigning)
                .count(),
            if rows.len() < n {
                format!(
                    "{} of them below, evenly spaced (every entry: --json, or time_series.csv with --out)",
                    rows.len()
                )
            } else {
                "all below".into()
            }
        );
        let _ = writeln!(
            s,
            "  {:>10} {:>10}  {:<10} {:>12} {:>9} {:>11} {:>9} {:>12}",
            "start s", "end s", "state", "sifted Z", "QBER Z", "sifted X", "QBER X", "secret bits"
        );
        for &i in &rows {
            let w = &series[i];
            let _ = writeln!(
                s,
                "  {:>10} {:>10}  {:<10} {:>12} {:>9} {:>11} {:>9} {:>12}",
                seconds_text(w.start_s),
                seconds_text(w.end_s),
                match w.state {
                    LinkState::Up => "up",
                    LinkState::Realigning => "realigning",
                },
                w.sifted_bits_z,
                percent(w.qber_z, 2),
                w.sifted_bits_x,
                percent(w.qber_x, 2),
                w.secret_bits
            );
        }
        let extremes = |name: &str, q: fn(&TimeWindow) -> Option<f64>| -> String {
            match qber_extremes(series, q) {
                Some((lo, hi)) => format!(
                    "{name} min {} ({}-{} s), max {} ({}-{} s)",
                    percent(q(lo), 2),
                    seconds_text(lo.start_s),
                    seconds_text(lo.end_s),
                    percent(q(hi), 2),
                    seconds_text(hi.start_s),
                    seconds_text(hi.end_s)
                ),
                None => format!("{name} {UNDEFINED} (no bits)"),
            }
        };
        let _ = writeln!(
            s,
            "QBER per window: {}; {}",
            extremes("Z", |w| w.qber_z),
            extremes("X", |w| w.qber_x)
        );
        let _ = writeln!(
            s,
            "secret bits: {} in windows (each block counted where its final key is finished: \
             last pulse plus modelled latency), {} finished after the last window",
            series.iter().map(|w| w.secret_bits).sum::<u64>(),
            c.secret_bits_after_last_window
        );
    }
    if c.drift_rad2_per_s > 0.0 {
        let _ = writeln!(
            s,
            "note: the expected (closed-form) gains and QBERs above assume the static \
             misalignment e_d; with drift the polarisation error grows from each alignment \
             as e(t) = (1 - (1 - 2 e_d) exp(-sigma^2 t)) / 2, sigma^2 = {:.3e} rad^2/s",
            c.drift_rad2_per_s
        );
    }
}

/// The summary table printed by `qkdsim sweep`: one line per point.
pub fn sweep_table(r: &SweepReport) -> String {
    let mut s = String::new();
    let over = match &r.param2 {
        Some(p2) => format!("{} x {p2}", r.param),
        None => r.param.clone(),
    };
    let _ = writeln!(
        s,
        "qkdsim sweep: {} over {} ({} points, master seed {})",
        if r.scenario.is_empty() {
            "unnamed scenario"
        } else {
            &r.scenario
        },
        over,
        r.points.len(),
        r.seed
    );
    // A two-dimensional sweep has a column for the second value.
    let two = r.param2.is_some();
    let _ = writeln!(
        s,
        "{:>14}{} {:>11} {:>9} {:>9} {:>24} {:>14} {:>14}",
        "value",
        if two {
            format!(" {:>14}", "value2")
        } else {
            String::new()
        },
        "pulses",
        "QBER Z %",
        "QBER X %",
        "key rate bit/s (±1 s.e.)",
        "finite bit/s",
        "asympt. bit/s"
    );
    for p in &r.points {
        let run = &p.run;
        let f = run.pulses_sent as f64 / run.link_time_s.max(f64::MIN_POSITIVE);
        let rate = match p.statistics.secret_key_rate_bps_stderr {
            Some(e) => format!("{:.4e} ± {:.1e}", run.secret_key_rate_bps, e),
            None => format!("{:.4e}", run.secret_key_rate_bps),
        };
        let _ = writeln!(
            s,
            "{:>14}{} {:>11.3e} {:>9} {:>9} {:>24} {:>14.4e} {:>14.4e}",
            super::markdown::number(p.value),
            match p.value2 {
                Some(v) if two => format!(" {:>14}", super::markdown::number(v)),
                _ => String::new(),
            },
            run.pulses_sent as f64,
            run.qber_z
                .map_or(UNDEFINED.to_string(), |q| format!("{:.3}", 100.0 * q)),
            run.qber_x
                .map_or(UNDEFINED.to_string(), |q| format!("{:.3}", 100.0 * q)),
            rate,
            run.theory.secret_bits_per_pulse_finite * f,
            run.theory.secret_bits_per_pulse_asymptotic * f,
        );
    }
    if let Some(m) = &r.max_distance {
        let km = |v: Option<f64>| v.map_or("-".to_string(), |d| format!("{d:.1} km"));
        let _ = writeln!(
            s,
            "maximum distance: simulated {} (last with key {}), finite-key theory {}, asymptotic theory {}",
            km(m.simulated_km),
            km(m.last_with_key_km),
            km(m.theory_finite_km),
            km(m.theory_asymptotic_km)
        );
    }
    super::eve::sweep_eve_lines(&mut s, r);
    security_warning_lines(&mut s, &r.security_warnings);
    s
}

/// The security warnings of a run, one paragraph each, or nothing when there are none.
pub fn security_warning_lines(s: &mut String, warnings: &[SecurityWarning]) {
    for w in warnings {
        let _ = writeln!(
            s,
            "SECURITY WARNING [{}]: {} (see {})",
            w.code, w.message, w.reference
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{report_over_time, series, static_report};

    #[test]
    fn sample_indices_are_bounded_even_and_keep_both_ends() {
        assert_eq!(sample_indices(5, 20), vec![0, 1, 2, 3, 4]);
        for n in [21, 100, 86_400] {
            let idx = sample_indices(n, 20);
            assert_eq!(idx.len(), 20);
            assert_eq!((idx[0], idx[19]), (0, n - 1));
            assert!(idx.windows(2).all(|p| p[1] > p[0]));
        }
    }

    #[test]
    fn static_run_has_no_link_over_time_paragraph() {
        let mut s = String::new();
        link_over_time_lines(&mut s, &static_report());
        assert!(s.is_empty());
        assert!(!run_table(&static_report()).contains("link over time"));
    }

    #[test]
    fn a_day_of_windows_lists_a_bounded_sample_with_the_extremes() {
        let r = report_over_time(series(86_400, Some(3600)), "threshold");
        let table = run_table(&r);
        let mut s = String::new();
        link_over_time_lines(&mut s, &r);
        let rows = s
            .lines()
            .filter(|l| l.starts_with("  ") && (l.contains(" up ") || l.contains(" realigning ")))
            .count();
        assert_eq!(rows, MAX_TABLE_WINDOWS);
        // Header, policy, series line, column names, rows, extremes, secret bits, note.
        assert!(s.lines().count() <= MAX_TABLE_WINDOWS + 8, "{s}");
        assert!(s.contains("86400 entries (86376 up windows of at most 1 s, 24 realigning)"));
        assert!(s.contains("exceeds 5.00%"), "{s}");
        // X errors are i % 13 of 100 bits: the highest is 12 %, first in window 12.
        assert!(
            s.contains("X min 0.00% (0-1 s), max 12.00% (12-13 s)"),
            "{s}"
        );
        assert!(s.contains("7 finished after the last window"), "{s}");
        assert!(s.contains("assume the static misalignment"), "{s}");
        assert!(table.contains(&s), "the paragraph is part of the run table");
    }

    #[test]
    fn no_drift_no_note_and_periodic_policy_named_with_its_interval() {
        let mut r = report_over_time(series(10, None), "periodic");
        r.compensation.as_mut().unwrap().drift_rad2_per_s = 0.0;
        let mut s = String::new();
        link_over_time_lines(&mut s, &r);
        assert!(s.contains("policy periodic (realign every 100 s"), "{s}");
        assert!(s.contains("drift none (static channel)"), "{s}");
        assert!(!s.contains("assume the static misalignment"), "{s}");
        assert!(s.contains("all below"), "{s}");
    }
}
