//! Physics of the link: the source's photon statistics, fibre loss, the polarisation
//! channel and Bob's detectors, as numbers derived from a validated scenario.
//!
//! Must never depend on `protocol`, `estimation`, `postprocess` or `report`, and knows
//! nothing about sifting or keys: it only says what happens to light.

pub mod adversary;
pub mod channel;
pub mod detector;
pub mod drift;
pub mod expected;
pub mod polarization;
pub mod source;

pub use adversary::{Adversary, Attack, PnsTuning};
pub use channel::Channel;
pub use detector::{CommonSteadyState, DeadTimeMode, Detectors, SteadyState};
pub use drift::Drift;
pub use polarization::{Basis, MisalignmentModel, Preparation, SplitTable};
pub use source::PhotonStatistics;

use crate::scenario::Scenario;

/// Everything the engine and the closed-form theory need about the hardware, derived once
/// from a [`Scenario`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinkModel {
    /// Photon statistics of each intensity class, in scenario order.
    pub intensities: Vec<IntensityClass>,
    /// Probability that Alice prepares in Z (p_Z).
    pub alice_z_probability: f64,
    /// Probability that Bob measures in Z (q_Z).
    pub bob_z_probability: f64,
    /// The fibre.
    pub channel: Channel,
    /// Transmittance from the fibre's end to a detection by detector 0: Bob's optics times
    /// detector 0's efficiency (eta_Bob of Lo, Ma, Chen 2005). Detector 1 registers a
    /// photon reaching it with `receiver_efficiency * detectors.efficiency_mismatch`; the
    /// mismatch enters through [`click_pattern`]'s `relative_efficiency`, never here.
    pub receiver_efficiency: f64,
    /// Probabilities that a photon prepared in each state reaches each of Bob's detectors
    /// (the static channel: no drift yet; see [`LinkModel::with_channel`]).
    pub split: SplitTable,
    /// The static misalignment e_d (`link.misalignment`).
    pub misalignment: f64,
    /// How e_d acts (`link.misalignment_model`).
    pub misalignment_model: MisalignmentModel,
    /// The polarisation drift (`link.drift_rad2_per_s` > 0), or none.
    pub drift: Option<Drift>,
    /// Efficiency mismatch, dark counts, afterpulsing and dead time.
    pub detectors: Detectors,
    /// Gate (pulse) rate in Hz.
    pub rep_rate_hz: f64,
    /// Eve's attack (`[adversary]`), or none.
    pub adversary: Option<Adversary>,
}

/// One intensity class of the source.
#[derive(Debug, Clone, PartialEq)]
pub struct IntensityClass {
    /// Its label in reports.
    pub label: String,
    /// Probability p_k of choosing it.
    pub probability: f64,
    /// Mean photon number mu_k (1 for the ideal single-photon source).
    pub mean_photon_number: f64,
    /// Photon-number distribution.
    pub photons: PhotonStatistics,
}

impl LinkModel {
    /// The link of a validated scenario.
    pub fn from_scenario(scenario: &Scenario) -> LinkModel {
        let s = &scenario.spec;
        let intensities = s
            .source
            .intensities
            .iter()
            .map(|k| {
                let photons = if s.source.single_photon {
                    PhotonStatistics::SinglePhoton
                } else {
                    PhotonStatistics::Poisson {
                        mean: k.mean_photon_number,
                    }
                };
                IntensityClass {
                    label: k.label.clone(),
                    probability: k.probability,
                    mean_photon_number: photons.mean(),
                    photons,
                }
            })
            .collect();
        let mut model = LinkModel {
            intensities,
            alice_z_probability: s.source.basis_z_probability,
            bob_z_probability: s.receiver.basis_z_probability,
            channel: Channel::new(
                s.link.length_km,
                s.link.attenuation_db_per_km,
                s.link.extra_loss_db,
            ),
            receiver_efficiency: s.receiver.transmittance * s.detector.efficiency,
            split: SplitTable::from_channel(
                MisalignmentModel::from_name(&s.link.misalignment_model),
                s.link.misalignment,
                &nalgebra::Matrix2::identity(),
            ),
            misalignment: s.link.misalignment,
            misalignment_model: MisalignmentModel::from_name(&s.link.misalignment_model),
            drift: (s.link.drift_rad2_per_s > 0.0).then_some(Drift {
                rad2_per_s: s.link.drift_rad2_per_s,
                step_s: s.link.drift_step_s,
            }),
            detectors: Detectors::from_spec(&s.detector, s.source.rep_rate_hz),
            rep_rate_hz: s.source.rep_rate_hz,
            adversary: None,
        };
        model.adversary = s.adversary.as_ref().and_then(|a| {
            Attack::from_name(&a.attack).map(|attack| Adversary::new(attack, a.fraction, &model))
        });
        model
    }

    /// The same link with the channel "static error `e_d`, then the drift rotation `walk`"
    /// ([`SplitTable::from_channel`]): the model of one drift step, or of the link after a
    /// realignment to a residual error.
    pub fn with_channel(
        &self,
        e_d: f64,
        walk: &nalgebra::Matrix2<num_complex::Complex64>,
    ) -> LinkModel {
        LinkModel {
            split: SplitTable::from_channel(self.misalignment_model, e_d, walk),
            misalignment: e_d,
            ..self.clone()
        }
    }

    /// Overall transmittance eta = eta_ch * eta_Bob (Lo, Ma, Chen 2005, Eq. 6): the
    /// probability that one photon leaving Alice is registered by a live detector 0 when
    /// it is routed there (by some detector, whichever it reaches, when the efficiencies
    /// match; with a mismatch m, a photon routed to detector 1 is registered with eta m).
    pub fn system_transmittance(&self) -> f64 {
        self.channel.transmittance() * self.receiver_efficiency
    }

    /// The click pattern [none, only 0, only 1, both] of one pulse of photon statistics
    /// `photons`, prepared as `prep` and measured in `bob_basis`, with the detectors
    /// `live`: [`click_pattern`] with this link's transmittance, channel split, relative
    /// detector efficiencies and dark counts.
    pub fn click_pattern(
        &self,
        photons: PhotonStatistics,
        prep: Preparation,
        bob_basis: Basis,
        live: [bool; 2],
    ) -> [f64; 4] {
        click_pattern(
            photons,
            self.system_transmittance(),
            self.split.split(prep, bob_basis),
            self.detectors.relative_efficiency(),
            self.detectors.dark_count_probability,
            live,
        )
    }

    /// Probability that one pulse of `photons`, prepared as `prep` and measured in
    /// `bob_basis`, leaves detector `j` silent when it is live (no photon registered, no
    /// dark count): G(1 - eta split_j e_j) (1 - p_dc), the marginal used for the other
    /// detector at a gate where a released carrier forces one to click.
    pub fn silent_probability(
        &self,
        photons: PhotonStatistics,
        prep: Preparation,
        bob_basis: Basis,
        j: usize,
    ) -> f64 {
        let split = self.split.split(prep, bob_basis)[j];
        let e = self.detectors.relative_efficiency()[j];
        photons.generating_function(1.0 - self.system_transmittance() * split * e)
            * (1.0 - self.detectors.dark_count_probability)
    }

    /// Probability weight of each preparation/measurement configuration: Alice's basis and
    /// bit, and Bob's basis. Alice's bit is uniform.
    pub fn configuration_probability(&self, prep: Preparation, bob_basis: Basis) -> f64 {
        let pa = match prep.basis {
            Basis::Z => self.alice_z_probability,
            Basis::X => 1.0 - self.alice_z_probability,
        };
        let pb = match bob_basis {
            Basis::Z => self.bob_z_probability,
            Basis::X => 1.0 - self.bob_z_probability,
        };
        pa * 0.5 * pb
    }
}

/// Probabilities of the four click patterns of Bob's two detectors for one pulse:
/// `[none, only detector 0, only detector 1, both]`.
///
/// `eta` is the system transmittance up to and including detector 0's efficiency, `split`
/// the probabilities that a photon reaching the detectors goes to detector 0 or 1,
/// `relative_efficiency` each detector's efficiency relative to detector 0's (`[1, m]`,
/// m = `detector.efficiency_mismatch`), `dark` the dark-count probability per detector
/// and `live[j]` whether detector j can click in this gate. Each photon independently
/// survives the channel and Bob's optics, goes to detector j with probability split_j and
/// is registered there with the detector's efficiency (beam-splitter model), so it is
/// registered by detector j with probability r_j = eta split_j e_j, and by some detector
/// of a set S with probability sum_{j in S} r_j (the events are exclusive: a photon goes
/// to one detector). The probability that no photon is registered by a set S is therefore
/// G(1 - sum_{j in S} r_j), G the photon-number generating function, exactly; dark counts
/// are independent of photons. Then, with n_j = P(detector j silent) and n_01 = P(both
/// silent): only-0 = n_1 - n_01, only-1 = n_0 - n_01, both = 1 - n_0 - n_1 + n_01.
/// For Poisson light and matched efficiencies this reproduces Lo, Ma, Chen (PRL 94,
/// 230504, 2005) Eq. 7 for the gain, extended to the two detectors and their double
/// clicks. An efficiency mismatch gives detector 1 the efficiency eta_D m: a constant
/// ratio of the two detectors' efficiencies, the quantity that characterises the key rate
/// in Fung, Tamaki, Qi, Lo, Ma, Quantum Inf. Comput. 9, 131 (2009).
pub fn click_pattern(
    photons: PhotonStatistics,
    eta: f64,
    split: [f64; 2],
    relative_efficiency: [f64; 2],
    dark: f64,
    live: [bool; 2],
) -> [f64; 4] {
    let reach = [
        eta * split[0] * relative_efficiency[0],
        eta * split[1] * relative_efficiency[1],
    ];
    let silent = |j: usize| -> f64 {
        if live[j] {
            photons.generating_function(1.0 - reach[j]) * (1.0 - dark)
        } else {
            1.0
        }
    };
    let (n0, n1) = (silent(0), silent(1));
    let reached: f64 = (0..2).filter(|&j| live[j]).map(|j| reach[j]).sum();
    let dark_silent = (1.0 - dark).powi(live.iter().filter(|&&l| l).count() as i32);
    let n01 = photons.generating_function(1.0 - reached) * dark_silent;
    let only0 = (n1 - n01).max(0.0);
    let only1 = (n0 - n01).max(0.0);
    let both = (1.0 - n0 - n1 + n01).max(0.0);
    [n01, only0, only1, both]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_pattern_with_mismatch_is_independent_poisson_thinning() {
        // For Poisson light the photons registered by detectors 0 and 1 are independent
        // Poisson numbers with means mu eta split_0 and mu eta split_1 m (thinning), so
        // P(detector j silent) = exp(-mu eta split_j e_j) (1 - d), independently: derived
        // by hand, not from the generating-function route of `click_pattern`.
        let (mu, eta, d, m) = (0.6, 0.3, 1e-3, 0.7);
        let split = [0.8, 0.2];
        let p = click_pattern(
            PhotonStatistics::Poisson { mean: mu },
            eta,
            split,
            [1.0, m],
            d,
            [true, true],
        );
        let n0 = (-mu * eta * split[0]).exp() * (1.0 - d);
        let n1 = (-mu * eta * split[1] * m).exp() * (1.0 - d);
        let want = [
            n0 * n1,
            (1.0 - n0) * n1,
            n0 * (1.0 - n1),
            (1.0 - n0) * (1.0 - n1),
        ];
        for i in 0..4 {
            assert!(
                (p[i] - want[i]).abs() < 1e-15,
                "{i}: {} vs {}",
                p[i],
                want[i]
            );
        }
        // One photon: registered by 0 with eta split_0, by 1 with eta split_1 m, never both.
        let p = click_pattern(
            PhotonStatistics::SinglePhoton,
            eta,
            split,
            [1.0, m],
            0.0,
            [true, true],
        );
        let (r0, r1) = (eta * split[0], eta * split[1] * m);
        let want = [1.0 - r0 - r1, r0, r1, 0.0];
        for i in 0..4 {
            assert!(
                (p[i] - want[i]).abs() < 1e-15,
                "{i}: {} vs {}",
                p[i],
                want[i]
            );
        }
        // A blind detector 1 leaves only detector 0's law.
        let p = click_pattern(
            PhotonStatistics::SinglePhoton,
            eta,
            split,
            [1.0, m],
            0.0,
            [true, false],
        );
        assert!((p[1] - r0).abs() < 1e-15 && p[2] == 0.0 && p[3] == 0.0);
    }
}
