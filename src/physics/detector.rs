//! Bob's two gated threshold detectors: dark counts, afterpulsing and dead time, in gates.
//!
//! Model (per detector, per gate):
//! - a dark count with probability p_dc, independent of everything else;
//! - dead time: after a click in gate t the detector is blind in gates t+1 ..= t+D, with
//!   D = round(dead_time_ns * f_rep * 1e-9); a blind detector neither clicks nor counts darks;
//! - afterpulsing (trap-release model): every click, with probability p_ap, leaves one
//!   trapped carrier that is released at gate t + D + 1 + m, m geometric with
//!   P(m) = (1 - r) r^m and r = exp(-1/(tau f_rep)) (an exponential trap lifetime of mean
//!   tau = `afterpulse_decay_ns`, counted from the end of the dead time). If the detector is
//!   live then, it clicks (an afterpulse, which may itself leave a trap); if it is blind,
//!   the carrier is lost. To first order each click thus brings p_ap further clicks, the
//!   R = D(1 + p_ap) of Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Sec. IV.
//!
//! Must never depend on anything but `units` and `scenario`.

use crate::scenario::DetectorSpec;
use crate::units::{ns_to_gates, per_gate_decay};

/// Parameters of both (identical) detectors, in gate units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detectors {
    /// Quantum efficiency eta_D (already folded into `LinkModel::receiver_efficiency`).
    pub efficiency: f64,
    /// Dark-count probability per gate and detector.
    pub dark_count_probability: f64,
    /// Probability p_ap that a click leaves a trapped carrier.
    pub afterpulse_probability: f64,
    /// Per-gate survival factor r of a trapped carrier.
    pub afterpulse_decay_per_gate: f64,
    /// Dead time D in gates.
    pub dead_gates: u64,
}

impl Detectors {
    /// From the scenario's `[detector]` table at the given gate rate.
    pub fn from_spec(spec: &DetectorSpec, rep_rate_hz: f64) -> Detectors {
        Detectors {
            efficiency: spec.efficiency,
            dark_count_probability: spec.dark_count_probability,
            afterpulse_probability: spec.afterpulse_probability,
            afterpulse_decay_per_gate: per_gate_decay(spec.afterpulse_decay_ns, rep_rate_hz),
            dead_gates: ns_to_gates(spec.dead_time_ns, rep_rate_hz),
        }
    }

    /// True when clicks change nothing about later gates (no dead time, no afterpulsing),
    /// so that pulses are independent.
    pub fn memoryless(&self) -> bool {
        self.dead_gates == 0 && self.afterpulse_probability == 0.0
    }

    /// Release delay (gates after the end of the dead time) of a trapped carrier, from one
    /// uniform `u` in (0, 1] by inversion of the geometric law P(m) = (1 - r) r^m:
    /// m = floor(ln u / ln r).
    pub fn afterpulse_delay(&self, u: f64) -> u64 {
        let r = self.afterpulse_decay_per_gate;
        if r <= 0.0 {
            return 0;
        }
        let m = (u.ln() / r.ln()).floor();
        if m.is_finite() && m < 1e15 {
            m as u64
        } else {
            u64::MAX / 4
        }
    }

    /// Renewal theory for one detector with dead time: if a live detector clicks with
    /// probability p per gate, the long-run click probability per gate is p / (1 + p D)
    /// (a click is followed by D blind gates, so the detector is live a fraction 1/(1+pD)
    /// of the time; e.g. Cox, Renewal Theory, 1962, Ch. 7).
    pub fn dead_time_click_rate(&self, live_click_probability: f64) -> f64 {
        let p = live_click_probability;
        p / (1.0 + p * self.dead_gates as f64)
    }

    /// Afterpulsing without dead time where darks dominate: the click probability per gate
    /// c solves c = d + (1 - d) p_ap c (a gate clicks on a dark count, or else on a
    /// released carrier, which arrive at rate p_ap c), so c = d / (1 - (1 - d) p_ap).
    /// Exact for this model up to terms in (p_ap c)^2 (two carriers released in one gate).
    pub fn afterpulse_click_rate(&self, spontaneous_click_probability: f64) -> f64 {
        let d = spontaneous_click_probability;
        d / (1.0 - (1.0 - d) * self.afterpulse_probability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_delay_has_the_right_mean() {
        // Mean of the geometric law is r / (1 - r); a midpoint-rule integral over u checks
        // the inversion (independent of the formula's derivation).
        let d = Detectors {
            efficiency: 0.1,
            dark_count_probability: 0.0,
            afterpulse_probability: 0.1,
            afterpulse_decay_per_gate: 0.9,
            dead_gates: 0,
        };
        let n = 200_000;
        let mean: f64 = (0..n)
            .map(|i| d.afterpulse_delay((i as f64 + 0.5) / n as f64) as f64)
            .sum::<f64>()
            / n as f64;
        assert!((mean - 9.0).abs() < 0.01, "mean {mean}");
    }
}
