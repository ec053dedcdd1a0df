//! Bob's two gated threshold detectors: efficiencies, dark counts, afterpulsing and dead
//! time, in gates.
//!
//! Model (per detector, per gate):
//! - efficiency: a photon reaching detector 0 is detected with probability eta_D
//!   (`detector.efficiency`, folded into `LinkModel::receiver_efficiency`), one reaching
//!   detector 1 with eta_D m, m = `detector.efficiency_mismatch` in (0, 1]; each photon
//!   independently (beam-splitter model), see [`crate::physics::click_pattern`];
//! - a dark count with probability p_dc, independent of everything else;
//! - dead time: a gate is blind when it starts before the dead time ends, so after a click
//!   in gate t the gates t+1 ..= t+D are blind, D = ceil(x) - 1 for x = dead_time_ns *
//!   f_rep * 1e-9 gate periods (0 for x = 0; [`crate::units::dead_time_gates`]: 20 ns at
//!   1 GHz is D = 19, 10 ns at 1.25 GHz is D = 12). A blind detector neither clicks nor
//!   counts darks. Which detectors a click blinds is the [`DeadTimeMode`]: in `Common`
//!   mode (the default) any click, of either detector and whatever its cause (photon, dark
//!   count, afterpulse), blinds *both* for D gates, so the receiver is either live or blind
//!   as a whole; in `Independent` mode only the detector that clicked is blind, and while
//!   one detector is blind the other still clicks, so Bob's click probability depends on
//!   his basis and on the state sent (the dead-time attack of Weier, Krauss, Rau, Fürst,
//!   Nauerth, Weinfurter, New J. Phys. 13, 073024, 2011);
//! - afterpulsing (trap-release model): every click of a detector, with probability p_ap,
//!   leaves one trapped carrier in that detector, released at gate t + D + 1 + m, m
//!   geometric with P(m) = (1 - r) r^m and r = exp(-1/(tau f_rep)) (an exponential trap
//!   lifetime of mean tau = `afterpulse_decay_ns`, counted from the end of the dead time).
//!   If the detector is live then, it clicks (an afterpulse, which may itself leave a
//!   trap, and which starts a dead time like any click); if it is blind, the carrier is
//!   lost. To first order each click thus brings p_ap further clicks, the R = D(1 + p_ap)
//!   of Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Sec. IV.
//!
//! Must never depend on anything but `units` and `scenario`.

use crate::scenario::DetectorSpec;
use crate::units::{dead_time_gates, per_gate_decay};

/// Which detectors a click blinds for the dead time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadTimeMode {
    /// A click of either detector blinds both (`"common"`, the default).
    Common,
    /// A click blinds only the detector that clicked (`"independent"`).
    Independent,
}

impl DeadTimeMode {
    /// The mode named in `detector.dead_time_mode`, if the name is one.
    pub fn from_name(name: &str) -> Option<DeadTimeMode> {
        match name {
            "common" => Some(DeadTimeMode::Common),
            "independent" => Some(DeadTimeMode::Independent),
            _ => None,
        }
    }

    /// The scenario name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadTimeMode::Common => "common",
            DeadTimeMode::Independent => "independent",
        }
    }
}

/// Parameters of both detectors, in gate units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detectors {
    /// Quantum efficiency eta_D of detector 0 (already folded into
    /// `LinkModel::receiver_efficiency`).
    pub efficiency: f64,
    /// Efficiency of detector 1 relative to detector 0's, m in (0, 1].
    pub efficiency_mismatch: f64,
    /// Dark-count probability per gate and detector.
    pub dark_count_probability: f64,
    /// Probability p_ap that a click leaves a trapped carrier.
    pub afterpulse_probability: f64,
    /// Per-gate survival factor r of a trapped carrier.
    pub afterpulse_decay_per_gate: f64,
    /// Dead time D in gates (the gates after a click that start before it ends).
    pub dead_gates: u64,
    /// Which detectors a click blinds.
    pub dead_time_mode: DeadTimeMode,
}

impl Detectors {
    /// From the scenario's `[detector]` table at the given gate rate. A
    /// `dead_time_mode` that is not a known name (only possible for a spec that skipped
    /// validation) gives the common mode.
    pub fn from_spec(spec: &DetectorSpec, rep_rate_hz: f64) -> Detectors {
        Detectors {
            efficiency: spec.efficiency,
            efficiency_mismatch: spec.efficiency_mismatch,
            dark_count_probability: spec.dark_count_probability,
            afterpulse_probability: spec.afterpulse_probability,
            afterpulse_decay_per_gate: per_gate_decay(spec.afterpulse_decay_ns, rep_rate_hz),
            dead_gates: dead_time_gates(spec.dead_time_ns, rep_rate_hz),
            dead_time_mode: DeadTimeMode::from_name(&spec.dead_time_mode)
                .unwrap_or(DeadTimeMode::Common),
        }
    }

    /// Efficiency of each detector relative to detector 0's: [1, m].
    pub fn relative_efficiency(&self) -> [f64; 2] {
        [1.0, self.efficiency_mismatch]
    }

    /// True when a click blinds both detectors (and D > 0 makes that matter).
    pub fn common_dead_time(&self) -> bool {
        self.dead_time_mode == DeadTimeMode::Common
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

    /// Renewal theory for a unit with dead time: if the live unit clicks with probability p
    /// per gate, independently from gate to gate, the long-run click probability per gate
    /// is p / (1 + p D) (a click is followed by D blind gates, so the unit is live a
    /// fraction 1/(1+pD) of the time, [`Detectors::live_fraction`]). The unit is one
    /// detector in independent mode, and the whole receiver (p its probability of any
    /// click) in common mode.
    pub fn dead_time_click_rate(&self, live_click_probability: f64) -> f64 {
        let p = live_click_probability;
        p * self.live_fraction(p)
    }

    /// Long-run fraction of live gates of a unit that, when live, clicks with probability
    /// c per gate independently of the past, and is blind for D gates after each click:
    /// L = 1 / (1 + c D). Renewal theory (e.g. Cox, *Renewal Theory*, 1962, Ch. 7; the
    /// renewal-reward theorem): a cycle is a geometric number of live gates up to and
    /// including the click (mean 1/c) followed by D blind gates, so
    /// L = (1/c) / (1/c + D). For the receiver in common mode c is the probability that
    /// either detector clicks in a live gate; without afterpulsing this is exact, since
    /// pulses are independent of each other and of the receiver's past.
    pub fn live_fraction(&self, live_click_probability: f64) -> f64 {
        1.0 / (1.0 + live_click_probability.max(0.0) * self.dead_gates as f64)
    }

    /// Afterpulsing without dead time where darks dominate: the click probability per gate
    /// c solves c = d + (1 - d) p_ap c (a gate clicks on a dark count, or else on a
    /// released carrier, which arrive at rate p_ap c), so c = d / (1 - (1 - d) p_ap).
    /// Exact for this model up to terms in (p_ap c)^2 (two carriers released in one gate).
    pub fn afterpulse_click_rate(&self, spontaneous_click_probability: f64) -> f64 {
        let d = spontaneous_click_probability;
        d / (1.0 - (1.0 - d) * self.afterpulse_probability)
    }

    /// Stationary state of one detector in *independent* dead-time mode whose spontaneous
    /// click probability (optical or dark, if live) averaged over pulses is `spontaneous`:
    /// a mean-field treatment of dead time and afterpulsing together, for the closed-form
    /// expectations beside a simulation. (Common mode: [`Detectors::common_steady_state`].)
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

    /// Stationary state of the receiver in *common* dead-time mode (a click of either
    /// detector blinds both for D gates): a mean-field treatment of the common dead time
    /// and afterpulsing, for the closed-form expectations beside a simulation.
    ///
    /// Inputs, averaged over pulses: `any`, the probability s that a live receiver has at
    /// least one spontaneous click (optical or dark) in a gate, and `per_detector`, the
    /// probabilities s_j that detector j has one. Unknowns: A_j, the probability that a
    /// carrier trapped in detector j is released into a gate, per live gate.
    ///
    /// Derivation (this project's; renewal theory as in [`Detectors::live_fraction`] and
    /// the carrier balance of [`Detectors::steady_state`]). In a live gate detector j
    /// clicks on a spontaneous event or a release, q_j = s_j + (1 - s_j) A_j, and the
    /// receiver clicks unless neither happens at either detector,
    /// q = 1 - (1 - s)(1 - A_0)(1 - A_1) (the pulse and the releases independent, the mean-
    /// field step). Every receiver click starts D blind gates for both detectors, so the
    /// receiver is live a fraction L = 1 / (1 + D q) of the gates. Detector j traps
    /// carriers at rate p_ap L q_j per gate; a carrier is released m gates after the end of
    /// its click's dead time and acts only if the receiver is live then, probability
    /// phi(q) ([`Detectors::release_live_fraction`] with the receiver's q: right after a
    /// dead time the receiver is live for sure, as one detector is in independent mode).
    /// Hence A_j L = p_ap L q_j phi, i.e. A_j = p_ap q_j phi(q), solved with q by
    /// fixed-point iteration from A = 0 (increasing and bounded by p_ap, so it converges).
    ///
    /// The balance L = 1 / (1 + D q) is exact for the mean click probability q over live
    /// gates: every click happens in a live gate and is followed by exactly D blind gates,
    /// so the blind fraction 1 - L equals D L q. Without afterpulsing (A = 0) the whole
    /// model is exact, not mean-field: q = s, and a live gate's outcome is independent of
    /// the past. With afterpulsing it neglects terms of second order in the carriers: two
    /// carriers released into one gate, the two carriers of one double click acting on
    /// each other's release, and the correlation of the two detectors' releases within a
    /// gate, all of order (p_ap c)^2.
    pub fn common_steady_state(&self, any: f64, per_detector: [f64; 2]) -> CommonSteadyState {
        let s = any.clamp(0.0, 1.0);
        let sj = per_detector.map(|x| x.clamp(0.0, 1.0));
        let p_ap = self.afterpulse_probability;
        let mut release = [0.0f64; 2];
        let receiver =
            |release: [f64; 2]| 1.0 - (1.0 - s) * (1.0 - release[0]) * (1.0 - release[1]);
        let detector = |j: usize, release: [f64; 2]| sj[j] + (1.0 - sj[j]) * release[j];
        if p_ap > 0.0 {
            for _ in 0..200 {
                let phi = self.release_live_fraction(receiver(release));
                let next: [f64; 2] = std::array::from_fn(|j| p_ap * detector(j, release) * phi);
                let done = (0..2).all(|j| {
                    (next[j] - release[j]).abs() <= 1e-15 * next[j].max(f64::MIN_POSITIVE)
                });
                release = next;
                if done {
                    break;
                }
            }
        }
        let q = receiver(release);
        let live = self.live_fraction(q);
        CommonSteadyState {
            live,
            release,
            click: live * q,
            detector_click: std::array::from_fn(|j| live * detector(j, release)),
        }
    }

    /// Probability phi that a carrier released m gates after the end of its click's dead
    /// time (m geometric, P(m) = (1 - r) r^m) finds the detector live, when a live detector
    /// clicks with probability q per gate. With l(m) the probability of being live m gates
    /// after a gate in which it is live for sure (the first gate after the dead time),
    /// l(0) = 1 and l(m) = l(m - 1) (1 - q) + q l(m - 1 - D) (live at m - 1 and no click,
    /// or a click exactly D + 1 gates earlier, whose dead time has just ended; l(m) = 0 for
    /// m < 0); l tends to 1 / (1 + D q). phi = sum_m (1 - r) r^m l(m) = (1 - r) G(r), G the
    /// generating function of l. Multiplying the recursion by z^m and summing over m >= 1
    /// gives G(z) - 1 = (1 - q) z G(z) + q z^(D+1) G(z), so, in closed form,
    ///
    /// phi = (1 - r) / (1 - (1 - q) r - q r^(D+1)) = (1 - r) / ((1 - r) + q r (1 - r^D)),
    ///
    /// the series converging absolutely for 0 <= r < 1 (0 <= l <= 1). The second form is
    /// the one evaluated (1 - r^D as -expm1(D ln r), no cancellation for r near 1); it costs
    /// O(1) whatever D, where summing the recursion needed a buffer of D + 1 values (80 GB
    /// for a dead time of 1e8 ns at 1e11 Hz). A carrier that never decays (r = 1, a trap
    /// lifetime beyond f64's resolution) is released at a uniformly random time in the
    /// long run: phi = 1 / (1 + D q), the limit of the formula as r -> 1.
    pub fn release_live_fraction(&self, q: f64) -> f64 {
        let r = self.afterpulse_decay_per_gate;
        let dead = self.dead_gates as f64;
        let q = q.clamp(0.0, 1.0);
        if self.dead_gates == 0 || r <= 0.0 || q == 0.0 {
            return 1.0;
        }
        if r >= 1.0 {
            return 1.0 / (1.0 + dead * q);
        }
        let one_minus_r = 1.0 - r;
        let one_minus_r_pow_dead = -(dead * r.ln()).exp_m1();
        one_minus_r / (one_minus_r + q * r * one_minus_r_pow_dead)
    }
}

/// Mean-field stationary state of the receiver in common dead-time mode
/// ([`Detectors::common_steady_state`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommonSteadyState {
    /// Probability L that the receiver (both detectors) is live in a gate.
    pub live: f64,
    /// Per detector, the probability A_j that one of its trapped carriers is released into
    /// a gate, given the receiver is live there.
    pub release: [f64; 2],
    /// Long-run probability per gate that the receiver clicks (either detector),
    /// L (1 - (1 - s)(1 - A_0)(1 - A_1)).
    pub click: f64,
    /// Long-run probability per gate that detector j clicks, L (s_j + (1 - s_j) A_j).
    pub detector_click: [f64; 2],
}

/// Mean-field stationary state of one detector in independent dead-time mode
/// ([`Detectors::steady_state`]).
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

    fn detectors(p_ap: f64, r: f64, dead: u64) -> Detectors {
        Detectors {
            efficiency: 0.1,
            efficiency_mismatch: 1.0,
            dark_count_probability: 0.0,
            afterpulse_probability: p_ap,
            afterpulse_decay_per_gate: r,
            dead_gates: dead,
            dead_time_mode: DeadTimeMode::Independent,
        }
    }

    #[test]
    fn geometric_delay_has_the_right_mean() {
        // Mean of the geometric law is r / (1 - r); a midpoint-rule integral over u checks
        // the inversion (independent of the formula's derivation).
        let d = detectors(0.1, 0.9, 0);
        let n = 200_000;
        let mean: f64 = (0..n)
            .map(|i| d.afterpulse_delay((i as f64 + 0.5) / n as f64) as f64)
            .sum::<f64>()
            / n as f64;
        assert!((mean - 9.0).abs() < 0.01, "mean {mean}");
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
    fn common_steady_state_is_renewal_theory_without_afterpulsing() {
        // p_ap = 0: L = 1 / (1 + s D) exactly, no releases, detector j clicks at L s_j.
        let mut d = detectors(0.0, 0.9, 19);
        d.dead_time_mode = DeadTimeMode::Common;
        let (s, sj) = (0.16, [0.09, 0.08]);
        let st = d.common_steady_state(s, sj);
        assert_eq!(st.release, [0.0, 0.0]);
        assert!((st.live - 1.0 / (1.0 + 19.0 * s)).abs() < 1e-15);
        assert!((st.click - d.dead_time_click_rate(s)).abs() < 1e-15);
        for j in 0..2 {
            assert!((st.detector_click[j] - st.live * sj[j]).abs() < 1e-15);
        }
    }

    #[test]
    fn common_steady_state_without_dead_time_is_per_detector_afterpulsing() {
        // D = 0: nothing is ever blind, so each detector follows the afterpulse balance
        // c_j = s_j / (1 - (1 - s_j) p_ap) on its own, whatever the mode.
        let mut d = detectors(0.05, 0.99, 0);
        d.dead_time_mode = DeadTimeMode::Common;
        let sj = [1e-3, 2e-3];
        let st = d.common_steady_state(1.0 - (1.0 - sj[0]) * (1.0 - sj[1]), sj);
        assert_eq!(st.live, 1.0);
        for j in 0..2 {
            let want = d.afterpulse_click_rate(sj[j]);
            assert!((st.detector_click[j] - want).abs() < 1e-15 * want.max(1.0));
        }
    }

    #[test]
    fn common_dead_time_with_afterpulsing_costs_more_than_either_alone() {
        // Afterpulses add clicks, so the receiver is blind more often than with the dead
        // time alone, and every detector's rate sits between the two one-effect values.
        let mut d = detectors(0.05, 0.98, 19);
        d.dead_time_mode = DeadTimeMode::Common;
        let (s, sj) = (0.02, [0.011, 0.0095]);
        let st = d.common_steady_state(s, sj);
        let plain = 1.0 / (1.0 + 19.0 * s);
        assert!(st.live < plain && st.live > 0.9 * plain);
        for j in 0..2 {
            assert!(st.release[j] > 0.0 && st.release[j] < d.afterpulse_probability * 0.05);
            assert!(st.detector_click[j] > plain * sj[j]);
            assert!(st.detector_click[j] < d.afterpulse_click_rate(sj[j]));
        }
        // The carrier balance holds at the fixed point: A_j = p_ap q_j phi(q).
        let q = 1.0 - (1.0 - s) * (1.0 - st.release[0]) * (1.0 - st.release[1]);
        let phi = d.release_live_fraction(q);
        for j in 0..2 {
            let qj = sj[j] + (1.0 - sj[j]) * st.release[j];
            assert!((st.release[j] - d.afterpulse_probability * qj * phi).abs() < 1e-15);
        }
    }

    /// The series phi = sum_m (1 - r) r^m l(m) summed term by term from the recursion
    /// (the previous implementation: a ring buffer of D + 1 values, at most 10^7 terms, the
    /// remainder at the limit value), as an oracle for the closed form.
    fn release_live_fraction_by_recursion(q: f64, r: f64, dead: usize) -> f64 {
        let limit = 1.0 / (1.0 + dead as f64 * q);
        let mut ring = vec![0.0f64; dead + 1];
        let (mut phi, mut weight, mut current) = (0.0, 1.0 - r, 1.0);
        ring[0] = 1.0;
        let mut tail = 1.0;
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

    #[test]
    fn release_live_fraction_closed_form_equals_the_summed_recursion() {
        // Normal sizes: the closed form and the term-by-term sum agree to rounding.
        for &dead in &[1usize, 2, 7, 19, 100, 1000] {
            for &r in &[0.0001, 0.5, 0.9, 0.97, 0.99, 0.999, 0.99999] {
                for &q in &[1e-9, 1e-4, 0.02, 0.3, 1.0] {
                    let d = detectors(0.1, r, dead as u64);
                    let got = d.release_live_fraction(q);
                    let want = release_live_fraction_by_recursion(q, r, dead);
                    // The sum adds ~ln(1e-16)/ln(r) terms: 4e6 for r = 0.99999, whose
                    // rounding errors add up to ~1e-11; the closed form has a few ulps.
                    let tolerance = if r > 0.9999 { 1e-10 } else { 1e-12 };
                    assert!(
                        (got - want).abs() <= tolerance * want,
                        "D {dead} r {r} q {q}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn release_live_fraction_for_one_dead_gate_is_exact() {
        // D = 1 by hand: phi = (1 - r) / ((1 - r) + q r (1 - r)) = 1 / (1 + q r).
        for &(q, r) in &[(1e-9, 0.99999), (0.3, 0.5), (1.0, 0.9)] {
            let d = detectors(0.1, r, 1);
            let want = 1.0 / (1.0 + q * r);
            assert!((d.release_live_fraction(q) - want).abs() <= 4.0 * f64::EPSILON);
        }
    }

    #[test]
    fn release_live_fraction_is_bounded_in_time_and_memory_for_any_dead_time() {
        // 1e8 ns at 1e11 Hz is D = 1e10 - 1 gates (the old buffer: 80 GB). The closed form
        // sits between the live limit 1 / (1 + D q) and 1, and tends to the limit as the
        // trap lifetime grows past the dead time.
        let dead = crate::units::dead_time_gates(1e8, 1e11);
        assert_eq!(dead, 9_999_999_999);
        for &r in &[0.5, 0.9999, 1.0 - 1e-12, 1.0] {
            let d = detectors(0.05, r, dead);
            for &q in &[1e-12, 1e-6, 0.5] {
                let phi = d.release_live_fraction(q);
                let limit = 1.0 / (1.0 + dead as f64 * q);
                assert!(phi.is_finite() && phi <= 1.0 && phi >= limit * (1.0 - 1e-12));
            }
        }
        // Short trap lifetime: the carrier is almost always released before the next
        // click; never-decaying carrier: the limit exactly.
        let d = detectors(0.05, 0.5, dead);
        assert!(d.release_live_fraction(1e-6) > 0.999_99);
        let d = detectors(0.05, 1.0, dead);
        assert_eq!(
            d.release_live_fraction(1e-6),
            1.0 / (1.0 + dead as f64 * 1e-6)
        );
        // The steady states built on it converge too.
        let mut d = detectors(0.05, 0.999, dead);
        let st = d.steady_state(1e-3);
        assert!(st.click.is_finite() && st.live > 0.0 && st.live < 1e-6);
        d.dead_time_mode = DeadTimeMode::Common;
        let st = d.common_steady_state(2e-3, [1e-3, 1e-3]);
        assert!(st.click.is_finite() && st.live > 0.0 && st.live < 1e-6);
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
