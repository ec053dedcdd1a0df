//! Closed-form expected gains and error rates per intensity, for the same link the engine
//! simulates: [`expected_per_intensity`] without detector memory (the closed forms of the
//! literature, DESIGN §2), and [`expected_with_detector_memory`], which adds dead time and
//! afterpulsing in a stationary model, for both dead-time modes
//! ([`Detectors::steady_state`], [`Detectors::common_steady_state`]).
//!
//! The gain of intensity k is Q_k = 1 - G_k(1 - eta) (1 - p_dc)^2 (Lo, Ma, Chen, PRL 94,
//! 230504, 2005, Eq. 7, with Y0 = 1 - (1 - p_dc)^2 for two detectors); the sifted error
//! rate is the exact two-detector version of their Eq. 8 with squashing: a single click on
//! the wrong detector is an error, a double click is an error with probability 1/2 (Ma,
//! Qi, Zhao, Lo, PRA 72, 012326, 2005, treat double clicks the same way). The wrong-
//! detector probability per photon comes from the channel's [`SplitTable`], so the
//! mismatched-basis bias of the misalignment rotation is included exactly, and an
//! efficiency mismatch enters through [`click_pattern`] (detector 1's efficiency
//! eta_D m), exactly.
//!
//! Must never depend on `protocol`, `estimation` or anything further down the pipeline (the
//! engine is tested against this, not the reverse); it lives in `physics` so that
//! `estimation` and `analysis` both use it without a dependency running back up.
//!
//! # With detector memory
//! *Independent dead time* (mean-field): each detector j is live with probability L_j
//! and, when live, clicks on a spontaneous event (the memoryless pattern above) or on a
//! released carrier (probability A_j); given the pulse, the two detectors are treated as
//! independent: P(click_j | spontaneous) = L_j and P(click_j | no spontaneous event) =
//! L_j A_j.
//!
//! *Common dead time*: the receiver is live with probability L (both detectors together)
//! and, when live, detector j clicks on a spontaneous event or on a released carrier of
//! its own (probability A_j, independent of the pulse); a blind receiver never clicks.
//! Without afterpulsing, L = 1 / (1 + c D) with c the probability that a live receiver
//! clicks (the overall memoryless gain sum_k p_k Q_k), by renewal theory
//! ([`Detectors::live_fraction`]), and this is exact: every gain is L Q_k and every error
//! rate E_k is unchanged, since whether the receiver is live depends on earlier pulses
//! only and a live gate's outcome has the memoryless law. With afterpulsing it is mean-
//! field ([`Detectors::common_steady_state`]).
//!
//! [`SplitTable`]: crate::physics::SplitTable
//! [`Detectors::steady_state`]: crate::physics::Detectors::steady_state
//! [`Detectors::common_steady_state`]: crate::physics::Detectors::common_steady_state
//! [`Detectors::live_fraction`]: crate::physics::Detectors::live_fraction
//! [`click_pattern`]: crate::physics::click_pattern

use super::{Basis, DeadTimeMode, LinkModel, Preparation};
use serde::Serialize;

/// Expected per-pulse figures for one intensity class.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct IntensityExpectation {
    /// Label of the class.
    pub label: String,
    /// mu_k.
    pub mean_photon_number: f64,
    /// Gain Q_k: probability that a pulse of this class gives any click, all bases.
    pub gain: f64,
    /// Probability of a double click per pulse of this class.
    pub double_click_probability: f64,
    /// Probability that a pulse of this class ends as a sifted Z bit (both chose Z, click).
    pub sifted_z_per_pulse: f64,
    /// Probability that it ends as an erroneous sifted Z bit.
    pub errors_z_per_pulse: f64,
    /// Expected QBER of sifted Z bits, E_k^Z; NaN (`null` in JSON) when no sifted Z bit
    /// is expected, since a QBER over zero bits is undefined (DESIGN §7).
    #[serde(serialize_with = "finite_or_null", deserialize_with = "null_as_nan")]
    pub qber_z: f64,
    /// Same for X.
    pub sifted_x_per_pulse: f64,
    /// Same for X.
    pub errors_x_per_pulse: f64,
    /// Expected QBER of sifted X bits, E_k^X; NaN (`null` in JSON) when no sifted X bit
    /// is expected.
    #[serde(serialize_with = "finite_or_null", deserialize_with = "null_as_nan")]
    pub qber_x: f64,
}

/// The expectation for every intensity class of `model`, in scenario order, without
/// detector memory (dead time and afterpulsing left out).
pub fn expected_per_intensity(model: &LinkModel) -> Vec<IntensityExpectation> {
    expectations(model, |pattern| pattern)
}

/// The expectation with dead time and afterpulsing in the stationary model of the
/// scenario's dead-time mode (module docs), or `None` when the detectors have no memory
/// (then it equals [`expected_per_intensity`]).
pub fn expected_with_detector_memory(model: &LinkModel) -> Option<Vec<IntensityExpectation>> {
    if model.detectors.memoryless() {
        return None;
    }
    // Mean spontaneous click probabilities over all pulses, with both detectors live: of
    // each detector, and of the receiver (either detector).
    let mut spontaneous = [0.0f64; 2];
    let mut any = 0.0f64;
    for class in &model.intensities {
        for prep in Preparation::ALL {
            for bob in Basis::BOTH {
                let w = class.probability * model.configuration_probability(prep, bob);
                let [none, only0, only1, both] =
                    model.click_pattern(class.photons, prep, bob, [true, true]);
                spontaneous[0] += w * (only0 + both);
                spontaneous[1] += w * (only1 + both);
                any += w * (1.0 - none);
            }
        }
    }
    // Per detector: live probability, and release probability given live. In common mode
    // the receiver's live state is shared, so it multiplies the pattern as a whole.
    let (receiver_live, live, release) = match model.detectors.dead_time_mode {
        DeadTimeMode::Independent => {
            let st = spontaneous.map(|s| model.detectors.steady_state(s));
            (
                1.0,
                [st[0].live, st[1].live],
                [st[0].release, st[1].release],
            )
        }
        DeadTimeMode::Common => {
            let st = model.detectors.common_steady_state(any, spontaneous);
            (st.live, [1.0, 1.0], st.release)
        }
    };
    Some(expectations(model, |[none, only0, only1, both]| {
        // P(detector j clicks | spontaneous event or not), then mix over the patterns.
        let on = |j: usize, spont: bool| {
            if spont { live[j] } else { live[j] * release[j] }
        };
        let mut out = [0.0f64; 4];
        for (p, s0, s1) in [
            (none, false, false),
            (only0, true, false),
            (only1, false, true),
            (both, true, true),
        ] {
            let (c0, c1) = (on(0, s0), on(1, s1));
            out[0] += p * (1.0 - c0) * (1.0 - c1);
            out[1] += p * c0 * (1.0 - c1);
            out[2] += p * (1.0 - c0) * c1;
            out[3] += p * c0 * c1;
        }
        // A blind receiver (common mode) gives no click at all.
        [
            1.0 - receiver_live * (1.0 - out[0]),
            receiver_live * out[1],
            receiver_live * out[2],
            receiver_live * out[3],
        ]
    }))
}

/// Per-class expectations with the click pattern [none, only 0, only 1, both] of each
/// (class, preparation, Bob's basis) mapped through `detect`.
fn expectations(
    model: &LinkModel,
    detect: impl Fn([f64; 4]) -> [f64; 4],
) -> Vec<IntensityExpectation> {
    model
        .intensities
        .iter()
        .map(|class| {
            let mut e = IntensityExpectation {
                label: class.label.clone(),
                mean_photon_number: class.mean_photon_number,
                gain: 0.0,
                double_click_probability: 0.0,
                sifted_z_per_pulse: 0.0,
                errors_z_per_pulse: 0.0,
                qber_z: 0.0,
                sifted_x_per_pulse: 0.0,
                errors_x_per_pulse: 0.0,
                qber_x: 0.0,
            };
            for prep in Preparation::ALL {
                for bob in Basis::BOTH {
                    let w = model.configuration_probability(prep, bob);
                    let [none, only0, only1, both] =
                        detect(model.click_pattern(class.photons, prep, bob, [true, true]));
                    let click = 1.0 - none;
                    e.gain += w * click;
                    e.double_click_probability += w * both;
                    if prep.basis == bob {
                        let wrong_single = if prep.bit { only0 } else { only1 };
                        let err = wrong_single + 0.5 * both;
                        match bob {
                            Basis::Z => {
                                e.sifted_z_per_pulse += w * click;
                                e.errors_z_per_pulse += w * err;
                            }
                            Basis::X => {
                                e.sifted_x_per_pulse += w * click;
                                e.errors_x_per_pulse += w * err;
                            }
                        }
                    }
                }
            }
            e.qber_z = ratio(e.errors_z_per_pulse, e.sifted_z_per_pulse);
            e.qber_x = ratio(e.errors_x_per_pulse, e.sifted_x_per_pulse);
            e
        })
        .collect()
}

/// An error rate, NaN over zero expected bits (undefined, written `null`).
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

fn finite_or_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_some(v)
    } else {
        s.serialize_none()
    }
}

/// Reads what [`finite_or_null`] wrote: `null` is NaN (a sweep's part files are read back).
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v: Option<f64> = serde::Deserialize::deserialize(d)?;
    Ok(v.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn model(extra: &str) -> LinkModel {
        let text = format!("[link]\nlength_km = 50.0\nmisalignment = 0.033\n{extra}");
        LinkModel::from_scenario(&Scenario::parse(&text, "test").unwrap())
    }

    #[test]
    fn gain_and_qber_match_lo_ma_chen_single_detector_form() {
        // Lo, Ma, Chen 2005 Eqs. 7-8: Q = Y0 + 1 - exp(-eta mu),
        // E Q = e0 Y0 + e_d (1 - exp(-eta mu)), with Y0 the combined dark probability and
        // e0 = 1/2. Our two-detector form differs only by double clicks of order
        // Y0 * (eta mu) and (eta mu)^2 e_d (1 - e_d), so at 50 km (eta mu ~ 5e-3) the two
        // agree to a relative 1e-3 for the gain and 2e-2 for the QBER.
        let m = model("");
        let eta = m.system_transmittance();
        let d = m.detectors.dark_count_probability;
        let y0 = 1.0 - (1.0 - d) * (1.0 - d);
        for (k, e) in expected_per_intensity(&m).iter().enumerate() {
            let mu = m.intensities[k].mean_photon_number;
            let q = y0 + 1.0 - (-eta * mu).exp();
            let eq = 0.5 * y0 + 0.033 * (1.0 - (-eta * mu).exp());
            assert!((e.gain - q).abs() / q < 1e-3, "gain {} vs {}", e.gain, q);
            assert!(
                (e.qber_z - eq / q).abs() / (eq / q) < 2e-2,
                "qber {} vs {}",
                e.qber_z,
                eq / q
            );
            // Sifting keeps p_Z q_Z of the clicks in Z.
            assert!((e.sifted_z_per_pulse - 0.25 * e.gain).abs() < 1e-15);
        }
    }

    #[test]
    fn vacuum_qber_is_one_half() {
        let e = expected_per_intensity(&model(""));
        assert_eq!(e[2].mean_photon_number, 0.0);
        assert!((e[2].qber_z - 0.5).abs() < 1e-12);
    }

    #[test]
    fn single_photon_source_without_darks_has_qber_e_d() {
        let e = expected_per_intensity(&model(
            "[source]\nsingle_photon = true\n[detector]\ndark_count_probability = 0.0\n",
        ));
        assert!((e[0].qber_z - 0.033).abs() < 1e-12);
        assert!((e[0].qber_x - 0.033).abs() < 1e-12);
        assert_eq!(e[0].double_click_probability, 0.0);
    }
}
