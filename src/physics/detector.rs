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

    /// Stationary state of one detector whose spontaneous click probability (optical or
    /// dark, if live) averaged over pulses is `spontaneous`: a mean-field treatment of dead
    /// time and afterpulsing together, for the closed-form expectations beside a simulation.
    ///
    /// Derivation (this project's; the pieces are renewal theory as in
    /// [`Detectors::dead_time_click_rate`]). Let q be the probability that a live detector
    /// clicks in a gate and A the probability that a trapped carrier is released into a
    /// gate in which the detector is live, per live gate. A live gate clicks on a
    /// spontaneous event or a release: q = s + (1 - s) A. Each click starts D blind gates,
    /// so the live fraction is L = 1 / (1 + D q) and the click rate c = L q. Carriers are
    /// made at rate p_ap c; a carrier is released m gates after the end of its click's
    /// dead time (geometric law of [`Detectors::afterpulse_delay`]) and acts only if the
    /// detector is live then, which happens with probability phi (see
    /// [`Detectors::release_live_fraction`]); hence A L = p_ap c phi, i.e. A = p_ap q phi, and
    /// q = s / (1 - p_ap phi (1 - s)). Since phi depends on q, the pair is solved by
    /// fixed-point iteration (a contraction: phi <= 1 and p_ap < 1).
    ///
    /// Neglected: two carriers released into one gate (order (p_ap c)^2), and the
    /// correlation between the two detectors' dead times through double clicks (order
    /// c^2 D). With D = 0 it reduces to [`Detectors::afterpulse_click_rate`] (phi = 1), with
    /// p_ap = 0 to [`Detectors::dead_time_click_rate`].
    pub fn steady_state(&self, spontaneous: f64) -> SteadyState {
        let s = spontaneous.clamp(0.0, 1.0);
        let p_ap = self.afterpulse_probability;
        let dead = self.dead_gates as f64;
        let mut q = s;
        for _ in 0..100 {
            let phi = self.release_live_fraction(q);
            let next = s / (1.0 - p_ap * phi * (1.0 - s));
            let done = (next - q).abs() <= 1e-14 * next.max(f64::MIN_POSITIVE);
            q = next;
            if done {
                break;
            }
        }
        let live = 1.0 / (1.0 + dead * q);
        SteadyState {
            live,
            release: if s < 1.0 { (q - s) / (1.0 - s) } else { 0.0 },
            click: live * q,
        }
    }

    /// Probability phi that a carrier released m gates after the end of its click's dead
    /// time (m geometric, P(m) = (1 - r) r^m) finds the detector live, when a live detector
    /// clicks with probability q per gate. With l(m) the probability of being live m gates
    /// after a gate in which it is live for sure (the first gate after the dead time),
    /// l(0) = 1 and l(m) = l(m - 1) (1 - q) + q l(m - 1 - D) (live at m - 1 and no click,
    /// or a click exactly D + 1 gates earlier, whose dead time has just ended); l tends to
    /// 1 / (1 + D q). phi = sum_m (1 - r) r^m l(m), summed until r^m < 1e-16 (at most 10^7
    /// terms; the remainder takes the limit value).
    pub fn release_live_fraction(&self, q: f64) -> f64 {
        let r = self.afterpulse_decay_per_gate;
        let dead = self.dead_gates as usize;
        if dead == 0 || r <= 0.0 {
            return 1.0;
        }
        let limit = 1.0 / (1.0 + dead as f64 * q);
        // Ring buffer of the last D + 1 values of l.
        let mut ring = vec![0.0f64; dead + 1];
        let (mut phi, mut weight, mut current) = (0.0, 1.0 - r, 1.0);
        ring[0] = 1.0;
        let mut tail = 1.0; // r^m
        let mut m = 0usize;
        while tail > 1e-16 && m < 10_000_000 {
            phi += weight * current;
            weight *= r;
            tail *= r;
            m += 1;
            let back = if m > dead {
                ring[(m - 1 - dead) % (dead + 1)]
            } else {
                0.0
            };
            current = current * (1.0 - q) + q * back;
            ring[m % (dead + 1)] = current;
        }
        phi + tail * limit
    }
}

/// Mean-field stationary state of one detector ([`Detectors::steady_state`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SteadyState {
    /// Probability L that the detector is live in a gate.
    pub live: f64,
    /// Probability A that a trapped carrier is released into a gate, given the detector is
    /// live there.
    pub release: f64,
    /// Long-run click probability per gate, c = L (s + (1 - s) A).
    pub click: f64,
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

    fn detectors(p_ap: f64, r: f64, dead: u64) -> Detectors {
        Detectors {
            efficiency: 0.1,
            dark_count_probability: 0.0,
            afterpulse_probability: p_ap,
            afterpulse_decay_per_gate: r,
            dead_gates: dead,
        }
    }

    #[test]
    fn steady_state_reduces_to_the_one_effect_formulas() {
        // Dead time only: c = p / (1 + p D) exactly (renewal theory).
        let d = detectors(0.0, 0.9, 20);
        let st = d.steady_state(0.01);
        assert!((st.click - d.dead_time_click_rate(0.01)).abs() < 1e-15);
        assert_eq!(st.release, 0.0);
        // Afterpulsing only: c = s / (1 - (1 - s) p_ap).
        let d = detectors(0.05, 0.99, 0);
        let st = d.steady_state(1e-3);
        assert!((st.click - d.afterpulse_click_rate(1e-3)).abs() < 1e-15);
        assert_eq!(st.live, 1.0);
    }

    #[test]
    fn release_live_fraction_matches_an_independent_markov_chain() {
        // Independent derivation: propagate the exact distribution of the detector's state
        // (0 = live, k = k blind gates left) as a Markov chain from "live", and weight the
        // probability of being live after m gates by (1 - r) r^m.
        let (q, r, dead) = (0.02, 0.97, 7usize);
        let d = detectors(0.1, r, dead as u64);
        let mut state = vec![0.0f64; dead + 1];
        state[0] = 1.0;
        let (mut phi, mut w) = (0.0, 1.0 - r);
        for _ in 0..5000 {
            phi += w * state[0];
            w *= r;
            let mut next = vec![0.0; dead + 1];
            next[0] = state[0] * (1.0 - q) + state[1];
            next[dead] += state[0] * q;
            for k in 1..dead {
                next[k] += state[k + 1];
            }
            state = next;
        }
        let got = d.release_live_fraction(q);
        // Both sum the same series; 5000 terms leave r^5000 ~ 1e-66 behind.
        assert!((got - phi).abs() < 1e-12, "{got} vs {phi}");
        assert!(got < 1.0 && got > 1.0 / (1.0 + dead as f64 * q));
    }
}
