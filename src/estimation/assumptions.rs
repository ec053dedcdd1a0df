//! The security proof's assumptions about the receiver, checked against a scenario:
//! where the modelled hardware leaves them, [`security_warnings`] says so, and the run
//! still produces (and flags) its key.
//!
//! The key length is Lim, Curty, Walenta, Xu, Zbinden, "Concise security bounds for
//! practical decoy-state quantum key distribution", PRA 89, 022307 (2014). Like the BB84
//! proofs it rests on, it models Bob's measurement as the same basis-independent
//! measurement in every round: the probability that a round gives a detection must not
//! depend on Bob's basis choice (nor, for a given basis, on the state received beyond what
//! the squashed threshold-detector measurement allows), and a round's outcome must not
//! depend on earlier rounds through the device. The shipped model can leave this in three
//! ways, each with a warning code:
//!
//! - `independent_dead_time`: with a separate dead time per detector
//!   (`detector.dead_time_mode = "independent"` and at least one blind gate), the live
//!   detector of a half-blind receiver clicks only on its own bit value, so the click
//!   probability depends on Bob's basis and the state sent. Weier, Krauss, Rau, Fürst,
//!   Nauerth, Weinfurter (New J. Phys. 13, 073024, 2011) turn this into an attack that
//!   learns almost the whole key without intercepting the channel; a dead time common to
//!   both detectors is their countermeasure, and what the proof covers.
//! - `efficiency_mismatch`: detector 1 less efficient than detector 0
//!   (`detector.efficiency_mismatch` < 1) makes the detection probability depend on the
//!   bit value in Bob's basis, hence on the state and basis (Makarov, Anisimov, Skaar, PRA
//!   74, 022313, 2006, on the attacks this allows). Fung, Tamaki, Qi, Lo, Ma (Quantum Inf.
//!   Comput. 9, 131, 2009) prove security with a mismatch at a lower key rate set by the
//!   efficiency ratio; the key length here does not apply that correction.
//! - `afterpulsing`: a click may cause a later click (`detector.afterpulse_probability` >
//!   0), so detections in different rounds are correlated and Bob's device has memory.
//!   The afterpulse errors are in the counted QBER, but the analysis treats rounds as
//!   independent trials with a memoryless measurement; Li, Jiang, Gao, Ma, Ma, Wang
//!   (arXiv:1507.01222, 2015) show how the statistical bounds change when afterpulses make
//!   the samples dependent.
//!
//! Judged and left out: a source without the three intensities Lim et al. need (the
//! finite-key length then refuses the block with its reason, so no key is produced to
//! flag); a common dead time (basis-independent by construction: both detectors are
//! blind or live together); dark counts and misalignment (channel and noise the proof
//! already allows, seen in the QBER).
//!
//! Must never depend on `protocol`, `postprocess`, `analysis` or `report`: it reads a
//! validated scenario (and the detector model of `physics`) only.

use crate::physics::{DeadTimeMode, Detectors};
use crate::scenario::Scenario;

/// Reference of Lim et al. (2014), the analysis whose assumptions are checked.
pub const LIM_2014: &str = "C. C. W. Lim, M. Curty, N. Walenta, F. Xu, H. Zbinden, \
     Phys. Rev. A 89, 022307 (2014)";
/// Reference of the dead-time attack.
pub const WEIER_2011: &str = "H. Weier, H. Krauss, M. Rau, M. Fürst, S. Nauerth, \
     H. Weinfurter, New J. Phys. 13, 073024 (2011)";
/// Reference of the efficiency-mismatch attacks.
pub const MAKAROV_2006: &str = "V. Makarov, A. Anisimov, J. Skaar, Phys. Rev. A 74, 022313 (2006)";
/// Reference of the security proof with efficiency mismatch.
pub const FUNG_2009: &str = "C.-H. F. Fung, K. Tamaki, B. Qi, H.-K. Lo, X. Ma, \
     Quantum Inf. Comput. 9, 131 (2009)";
/// Reference of the finite-key statistics with afterpulses.
pub const LI_2015: &str = "H. Li, H. Jiang, M. Gao, Z. Ma, C. Ma, W. Wang, arXiv:1507.01222 (2015)";

/// One way in which a scenario leaves the security proof's assumptions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecurityWarning {
    /// Stable machine-readable code: `independent_dead_time`, `efficiency_mismatch`,
    /// `afterpulsing`.
    pub code: String,
    /// One paragraph for a human, naming the scenario value that triggers it.
    pub message: String,
    /// The literature behind it.
    pub reference: String,
}

/// Every assumption of the key-length analysis that `scenario` leaves, in a fixed order
/// (the codes above); empty when the modelled receiver is one the proof covers.
pub fn security_warnings(scenario: &Scenario) -> Vec<SecurityWarning> {
    let spec = &scenario.spec;
    let det = &spec.detector;
    let rate = spec.source.rep_rate_hz;
    let detectors = Detectors::from_spec(det, rate);
    let mut out = Vec::new();
    if detectors.dead_time_mode == DeadTimeMode::Independent && detectors.dead_gates > 0 {
        out.push(SecurityWarning {
            code: "independent_dead_time".into(),
            message: format!(
                "detector.dead_time_mode = \"independent\" with detector.dead_time_ns = {} \
                 ({} blind gates at source.rep_rate_hz = {rate:e}): after a click only that \
                 detector is blind, and the other still clicks, on its own bit value only, so \
                 Bob's click probability depends on his basis and on the state received. An \
                 eavesdropper can exploit this without intercepting the channel (the dead-time \
                 attack), and the finite-key analysis does not cover it. The key is computed as \
                 if it did; set detector.dead_time_mode = \"common\" (a click blinds both \
                 detectors) for a receiver the proof covers.",
                det.dead_time_ns, detectors.dead_gates
            ),
            reference: format!("{WEIER_2011}; {LIM_2014}"),
        });
    }
    if detectors.efficiency_mismatch < 1.0 {
        out.push(SecurityWarning {
            code: "efficiency_mismatch".into(),
            message: format!(
                "detector.efficiency_mismatch = {}: detector 1 registers a photon with {} of \
                 detector 0's efficiency, so the detection probability depends on the bit value \
                 in Bob's basis, hence on his basis and the state received. The finite-key \
                 analysis assumes basis-independent detection; a proof that allows a mismatch \
                 gives a lower key rate, which is not applied here.",
                det.efficiency_mismatch, det.efficiency_mismatch
            ),
            reference: format!("{MAKAROV_2006}; {FUNG_2009}; {LIM_2014}"),
        });
    }
    if detectors.afterpulse_probability > 0.0 {
        out.push(SecurityWarning {
            code: "afterpulsing".into(),
            message: format!(
                "detector.afterpulse_probability = {}: a click can cause a later click \
                 (an afterpulse), so detections in different rounds are correlated and Bob's \
                 measurement has memory. The afterpulse errors are counted in the QBER, but the \
                 finite-key analysis treats rounds as independent trials of a memoryless \
                 measurement, which these are not.",
                det.afterpulse_probability
            ),
            reference: format!("{LIM_2014}; {LI_2015}"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(detector: &str) -> Vec<SecurityWarning> {
        let text = format!("[link]\nlength_km = 50.0\n[detector]\n{detector}");
        security_warnings(&Scenario::parse(&text, "test").unwrap())
    }

    fn codes(w: &[SecurityWarning]) -> Vec<&str> {
        w.iter().map(|w| w.code.as_str()).collect()
    }

    #[test]
    fn compliant_receivers_have_no_warning() {
        assert!(warnings("").is_empty());
        // A common dead time is what the proof covers.
        assert!(warnings("dead_time_ns = 20.0\n").is_empty());
        assert!(warnings("dead_time_ns = 20.0\ndead_time_mode = \"common\"\n").is_empty());
        // Independent dead times without a blind gate change nothing: 0 ns, or less than
        // one gate period (0.5 ns at 1 GHz: the next gate starts after it ends).
        assert!(warnings("dead_time_mode = \"independent\"\n").is_empty());
        assert!(warnings("dead_time_mode = \"independent\"\ndead_time_ns = 0.5\n").is_empty());
        assert!(warnings("dead_time_mode = \"independent\"\ndead_time_ns = 1.0\n").is_empty());
        assert!(warnings("efficiency_mismatch = 1.0\n").is_empty());
    }

    #[test]
    fn independent_dead_time_is_flagged_with_its_values() {
        let w = warnings("dead_time_mode = \"independent\"\ndead_time_ns = 20.0\n");
        assert_eq!(codes(&w), ["independent_dead_time"]);
        assert!(
            w[0].message
                .contains("detector.dead_time_mode = \"independent\"")
        );
        assert!(
            w[0].message
                .contains("detector.dead_time_ns = 20 (19 blind gates")
        );
        assert!(w[0].reference.contains("New J. Phys. 13, 073024 (2011)"));
        assert!(w[0].reference.contains("Phys. Rev. A 89, 022307 (2014)"));
        // 1.5 ns at 1 GHz: one blind gate is enough.
        let w = warnings("dead_time_mode = \"independent\"\ndead_time_ns = 1.5\n");
        assert_eq!(codes(&w), ["independent_dead_time"]);
    }

    #[test]
    fn efficiency_mismatch_is_flagged_with_its_value() {
        let w = warnings("efficiency_mismatch = 0.8\n");
        assert_eq!(codes(&w), ["efficiency_mismatch"]);
        assert!(
            w[0].message
                .starts_with("detector.efficiency_mismatch = 0.8:")
        );
        assert!(w[0].reference.contains("Phys. Rev. A 74, 022313 (2006)"));
        assert!(
            w[0].reference
                .contains("Quantum Inf. Comput. 9, 131 (2009)")
        );
    }

    #[test]
    fn afterpulsing_is_flagged_with_its_value() {
        let w = warnings("afterpulse_probability = 0.04\n");
        assert_eq!(codes(&w), ["afterpulsing"]);
        assert!(
            w[0].message
                .starts_with("detector.afterpulse_probability = 0.04:")
        );
        assert!(w[0].reference.contains("arXiv:1507.01222"));
    }

    #[test]
    fn several_departures_give_several_warnings_in_a_fixed_order() {
        let w = warnings(
            "afterpulse_probability = 0.04\nefficiency_mismatch = 0.9\n\
             dead_time_mode = \"independent\"\ndead_time_ns = 10.0\n",
        );
        assert_eq!(
            codes(&w),
            [
                "independent_dead_time",
                "efficiency_mismatch",
                "afterpulsing"
            ]
        );
        // Serialised as the run JSON carries it: {code, message, reference}.
        let json = serde_json::to_value(&w[0]).unwrap();
        assert_eq!(json["code"], "independent_dead_time");
        assert!(json["message"].is_string() && json["reference"].is_string());
    }
}
