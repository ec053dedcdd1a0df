//! What Eve does to the light on the quantum channel: the three attacks of `[adversary]`
//! as physics (which photons she takes, measures, blocks or re-prepares), and the tuning
//! of the photon-number-splitting attack. What she learns is decided photon by photon by
//! the engine (`protocol::adversary`) and travels with the detection records.
//!
//! # The attacks (each on a share `fraction` of pulses, chosen independently per pulse)
//! Eve sits at Alice's output, before the fibre; Alice's source is perfect (a photon
//! measured in Alice's basis gives Alice's bit), and the fibre's misalignment acts after
//! Eve.
//! - **Intercept-resend**: Eve measures the pulse with ideal photon-number-resolving
//!   detectors in a basis of her own, chosen uniformly. In Alice's basis every photon gives
//!   Alice's bit; in the other basis every photon gives a fair coin, and a disagreeing
//!   (double) result is squashed to a fair coin, as Bob does. She re-prepares as many
//!   photons as she counted (none for an empty pulse) in the state she found and sends
//!   them down the same fibre, so Bob's photon-number statistics are the honest ones and
//!   only the polarisation changes. After the bases are announced she knows Alice's bit
//!   exactly on the attacked pulses where her basis was Alice's and the pulse held a
//!   photon. On a sifted bit of an attacked pulse her basis is wrong with probability 1/2
//!   and Bob's bit is then independent of Alice's, so the QBER becomes
//!   e = e_0 + f (1 - 2 e_0) / 4 (Bennett, Brassard, Crépeau, Maurer, IEEE Trans. Inf.
//!   Theory 41, 1915 (1995) for the 25 % of the full attack; the e_0 terms because a
//!   right-basis pulse keeps the link's own error e_0 and a wrong-basis one replaces it by
//!   1/2).
//! - **Photon-number splitting** (Brassard, Lütkenhaus, Mor, Sanders, PRL 85, 1330
//!   (2000); the decoy-state answer: Hwang, PRL 91, 057901 (2003); Lo, Ma, Chen, PRL 94,
//!   230504 (2005)): Eve counts the photons without disturbing their polarisation. She
//!   blocks a single-photon pulse with probability `block_single` and otherwise forwards
//!   it over a lossless line; of a multi-photon pulse she keeps one photon and forwards the
//!   other n - 1 losslessly, or blocks the whole pulse with probability `block_multi`. She
//!   holds a photon of every multi-photon pulse and of every blocked single photon, and
//!   measures it in Alice's basis once the bases are announced: she knows Alice's bit on
//!   all of them (also when Bob's detection was a dark count).
//! - **Beam splitting**: Eve replaces the lossy fibre by a lossless one and a beam splitter
//!   of the fibre's transmittance eta_ch, keeping the photons the fibre would have lost;
//!   she measures them in Alice's basis after the announcement. Bob's light is the honest
//!   light. She knows Alice's bit when she holds at least one photon. For a Poisson source
//!   the photons she keeps and those that go on are independent Poisson numbers (thinning),
//!   so on a pulse Bob detects she knows the bit with probability
//!   f (1 - exp(-mu_k (1 - eta_ch))), whatever Bob saw: the event engine can add her
//!   knowledge to its records exactly.
//!
//! # Tuning the PNS attack
//! Eve cannot tell signal from decoy pulses; she tunes one strategy so that the *signal*
//! class (the largest mean photon number) keeps its honest gain, the figure Alice and Bob
//! would check without decoy states. With R_c the probability that one photon entering
//! Bob's receiver is registered in configuration c (Alice's state, Bob's basis; weight
//! w_c), the honest photon gain is G = sum_c w_c (1 - P_gen(1 - eta_ch R_c)) and Eve's
//! G_E = sum_c w_c [P(1) (1 - b_1) R_c + sum_{n >= 2} P(n) (1 - b_m) (1 - (1 - R_c)^(n-1))],
//! linear in the blocking probabilities b_1 (`block_single`) and b_m (`block_multi`).
//! Dark counts are added to either alike, so equal photon gains give equal click
//! probabilities. Her preference: block single photons first (they would carry secret
//! bits), then multi-photon pulses. With M the multi-photon term at b_m = 0 and S the
//! single-photon term at b_1 = 0: if M >= G, b_1 = 1 and b_m = 1 - G / M; else b_1 = 1 -
//! (G - M) / S. If even b_1 = 0 gives less than G (short links: the fibre loses less than
//! one photon of a pulse), she cannot match the gain: b_1 = b_m = 0 and `matched` is false.
//!
//! Must never depend on `protocol`, `estimation`, `postprocess` or `report`.

use super::source::PhotonStatistics;
use super::{Basis, LinkModel, Preparation};

/// The attack of `adversary.attack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Measure in a random basis and resend.
    InterceptResend,
    /// Photon-number splitting, tuned to the signal gain.
    PhotonNumberSplitting,
    /// Keep the photons the fibre loses.
    BeamSplitting,
}

impl Attack {
    /// The attack of a scenario name; `None` for `"none"` (and anything unknown, which
    /// validation rejects before).
    pub fn from_name(name: &str) -> Option<Attack> {
        match name {
            "intercept_resend" => Some(Attack::InterceptResend),
            "pns" => Some(Attack::PhotonNumberSplitting),
            "beam_splitting" => Some(Attack::BeamSplitting),
            _ => None,
        }
    }

    /// The scenario name.
    pub fn as_str(self) -> &'static str {
        match self {
            Attack::InterceptResend => "intercept_resend",
            Attack::PhotonNumberSplitting => "pns",
            Attack::BeamSplitting => "beam_splitting",
        }
    }
}

/// Eve's strategy on a link.
#[derive(Debug, Clone, PartialEq)]
pub struct Adversary {
    /// The attack.
    pub attack: Attack,
    /// Share of pulses attacked, each independently.
    pub fraction: f64,
    /// The PNS blocking probabilities (PNS only).
    pub pns: Option<PnsTuning>,
}

/// Blocking probabilities of the photon-number-splitting attack (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PnsTuning {
    /// Index of the intensity class whose gain Eve matches.
    pub signal_class: usize,
    /// Probability Eve blocks a single-photon pulse (b_1).
    pub block_single: f64,
    /// Probability Eve blocks a multi-photon pulse (b_m).
    pub block_multi: f64,
    /// Honest photon gain of the signal class (no dark counts).
    pub honest_gain: f64,
    /// The signal class's photon gain under the attack.
    pub attacked_gain: f64,
    /// The gain is matched (false on links too short for the attack).
    pub matched: bool,
}

/// Largest photon number worth summing or sampling for a pulse of mean photon number
/// `mean`: mu + 20 sqrt(mu) + 64. By the Chernoff bound
/// P(N >= mu + t) <= exp(-t^2 / (2 mu + 2 t / 3)) for a Poisson N, the tail beyond is
/// below 1e-60 for every mean the scenario allows (up to 100).
pub fn photon_number_cutoff(mean: f64) -> u32 {
    (mean + 20.0 * mean.sqrt() + 64.0).ceil() as u32
}

/// Probability that one photon entering Bob's receiver in state `prep` is registered by a
/// live detector when Bob measures in `bob` (receiver efficiency, split, relative
/// detector efficiency).
pub fn registration_probability(model: &LinkModel, prep: Preparation, bob: Basis) -> [f64; 2] {
    let split = model.split.split(prep, bob);
    let e = model.detectors.relative_efficiency();
    [
        model.receiver_efficiency * split[0] * e[0],
        model.receiver_efficiency * split[1] * e[1],
    ]
}

impl PnsTuning {
    /// Eve's tuning for `model` (see the module doc).
    pub fn for_link(model: &LinkModel) -> PnsTuning {
        let signal_class = model
            .intensities
            .iter()
            .enumerate()
            .fold(0, |best, (k, c)| {
                if c.mean_photon_number > model.intensities[best].mean_photon_number {
                    k
                } else {
                    best
                }
            });
        let photons = model.intensities[signal_class].photons;
        let eta_ch = model.channel.transmittance();
        let (mut honest, mut multi, mut single) = (0.0, 0.0, 0.0);
        for prep in Preparation::ALL {
            for bob in Basis::BOTH {
                let w = model.configuration_probability(prep, bob);
                let r: f64 = registration_probability(model, prep, bob).iter().sum();
                honest += w * (1.0 - photons.generating_function(1.0 - eta_ch * r));
                single += w * photons.probability(1) * r;
                multi += w
                    * (2..=photon_number_cutoff(photons.mean()))
                        .map(|n| photons.probability(n) * (1.0 - (1.0 - r).powi(n as i32 - 1)))
                        .sum::<f64>();
            }
        }
        let (block_single, block_multi, matched) = if multi >= honest {
            (
                1.0,
                if multi > 0.0 {
                    1.0 - honest / multi
                } else {
                    0.0
                },
                true,
            )
        } else if multi + single >= honest {
            (1.0 - (honest - multi) / single, 0.0, true)
        } else {
            (0.0, 0.0, false)
        };
        let attacked = single * (1.0 - block_single) + multi * (1.0 - block_multi);
        PnsTuning {
            signal_class,
            block_single,
            block_multi,
            honest_gain: honest,
            attacked_gain: attacked,
            matched,
        }
    }
}

impl Adversary {
    /// The adversary of `attack` on a share `fraction` of pulses of `model`'s link (the
    /// PNS attack tuned for it).
    pub fn new(attack: Attack, fraction: f64, model: &LinkModel) -> Adversary {
        Adversary {
            attack,
            fraction,
            pns: (attack == Attack::PhotonNumberSplitting).then(|| PnsTuning::for_link(model)),
        }
    }

    /// Probability that Eve knows Alice's bit of a pulse of `photons` under beam splitting,
    /// whatever Bob detected (Poisson thinning, see the module doc); `None` for a source
    /// where her photons and Bob's are not independent (single photons).
    pub fn beam_splitting_knowledge(&self, photons: PhotonStatistics, eta_ch: f64) -> Option<f64> {
        match photons {
            PhotonStatistics::Poisson { mean } => {
                Some(self.fraction * (1.0 - (-mean * (1.0 - eta_ch)).exp()))
            }
            PhotonStatistics::SinglePhoton => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn model(length_km: f64) -> LinkModel {
        let s = Scenario::parse(
            &format!("[link]\nlength_km = {length_km}\nmisalignment = 0.0\n"),
            "test",
        )
        .unwrap();
        LinkModel::from_scenario(&s)
    }

    #[test]
    fn pns_tuning_matches_the_signal_gain() {
        // At 100 km (eta_ch = 0.01) the multi-photon pulses alone, forwarded losslessly,
        // would give far more clicks than the honest link: Eve blocks every single photon
        // and some multi-photon pulses. Checked against a direct sum over photon numbers
        // written out here (matched efficiencies, no misalignment: R = eta_Bob in every
        // configuration).
        let m = model(100.0);
        let t = PnsTuning::for_link(&m);
        assert!(t.matched);
        let mu = m.intensities[t.signal_class].mean_photon_number;
        let r = m.receiver_efficiency;
        let eta = m.channel.transmittance();
        let honest = 1.0 - (-mu * eta * r).exp();
        let p = |n: i32| (-mu).exp() * mu.powi(n) / (1..=n).map(f64::from).product::<f64>();
        let multi: f64 = (2..40).map(|n| p(n) * (1.0 - (1.0 - r).powi(n - 1))).sum();
        assert!((t.honest_gain - honest).abs() < 1e-12 * honest);
        assert_eq!(t.block_single, 1.0);
        let want_bm = 1.0 - honest / multi;
        // Tolerance: the two sums differ only in rounding (1e-12 relative).
        assert!((t.block_multi - want_bm).abs() < 1e-12, "{}", t.block_multi);
        assert!((t.attacked_gain - honest).abs() < 1e-12 * honest);
        // At 1 km the fibre loses too little for the attack to hide.
        assert!(!PnsTuning::for_link(&model(1.0)).matched);
    }
}
