//! The human summaries of a run and a sweep: simulated figures beside the closed-form
//! expectation.
//!
//! Must never depend on clap or touch the file system.

use super::{UNDEFINED, percent};
use crate::analysis::run::RunReport;
use crate::analysis::sweep::SweepReport;
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
