//! Secret key length from the counts a run observed: the finite-key bound of Lim, Curty,
//! Walenta, Xu, Zbinden, PRA 89, 022307 (2014), and its asymptotic limit (same estimates,
//! no statistical deviations and no security-parameter cost).
//!
//! Basis mapping: Lim et al. form the key from basis X and test in Z; here the key basis is
//! **Z** and the test basis **X**. So their s_{X,0}, s_{X,1} are our `s0_z_lower`,
//! `s1_z_lower`; their s_{Z,1}, v_{Z,1} are our `s1_x_lower`, `v1_x_upper`; their phase
//! error phi_X is our `phase_error_upper` (of the single-photon Z bits). The key is formed
//! from the sifted Z bits of *all* intensities (n_Z = sum_k n_{Z,k}), as in Lim et al.
//!
//! Reading of the paper, stated once (the independent reference script
//! `tests/vectors/lim2014_vectors.py` follows the same): the Hoeffding deviation of Eqs. 2-4
//! uses the basis's total count and the natural log; n^-_k and m^-_k are used as printed,
//! also when negative; s_0, s_1 and v_1 are clipped at 0 from below; "log 2" in gamma of
//! Eq. 5 is ln 2. Eq. 5 is kept as printed (with its gamma made nondecreasing in the error
//! rate, see [`super::decoy::phase_error_gamma`]) and made safe at zero test-basis errors by
//! a rigorous method-of-types bound ([`super::decoy::phase_error_upper`]). A finite block
//! needs l >= 1 for a key.
//!
//! Every function here returns a result, never panics and never returns NaN: data from
//! which no key can be extracted give `key_bits = 0` and a `rejected` reason.
//!
//! Must never depend on `protocol`, `postprocess` or `report`.

use super::decoy::{
    Intensities, hoeffding_deviation, phase_error_gamma, phase_error_upper_and_term, scaled_count,
    select_intensities, single_photon_errors_upper, single_photon_lower,
    single_photon_lower_unclipped, tau, vacuum_lower,
};
use super::entropy::binary_entropy;
use serde::Serialize;

/// Counts of one basis for one intensity class. (No pulse count: the decoy-state and
/// single-photon bounds work on detections only; the GLLP bound, which needs the pulses
/// sent, takes them in [`SentIntensityCounts`].)
#[derive(Clone, Debug, Default, Serialize)]
pub struct BasisCounts {
    /// Sifted bits of this basis: Alice and Bob both chose it and Bob's detectors clicked.
    pub sifted: u64,
    /// Sifted bits of this basis where Bob's bit differs from Alice's.
    pub errors: u64,
}

/// Observed counts of one intensity class.
#[derive(Clone, Debug, Serialize)]
pub struct IntensityCounts {
    /// mu_k.
    pub mean_photon_number: f64,
    /// p_k, the a-priori probability of choosing this class.
    pub probability: f64,
    /// Key basis: `z.sifted` = n_{Z,k} (Lim's n_{X,k}).
    pub z: BasisCounts,
    /// Test basis: `x.sifted` = n_{X,k}, `x.errors` = m_{X,k} (Lim's n_{Z,k}, m_{Z,k}).
    pub x: BasisCounts,
}

/// One intensity class's counts together with the number of its pulses Alice sent: the
/// input of [`gllp_key_length`], which bounds the multi-photon events by the pulses sent.
/// The pulse count is required, not defaulted: a missing count (0) would hide every
/// multi-photon pulse and overestimate the key, so [`gllp_key_length`] rejects any class
/// with fewer pulses sent than sifted bits.
#[derive(Clone, Debug, Serialize)]
pub struct SentIntensityCounts {
    /// The class's observed counts.
    pub counts: IntensityCounts,
    /// Pulses of this class Alice sent (all bases), N_k.
    pub pulses_sent: u64,
}

/// Security parameters of the key-length bound.
#[derive(Clone, Debug, Serialize)]
pub struct SecurityParameters {
    /// Secrecy epsilon_sec (Lim et al. 2014, Sec. III).
    pub epsilon_sec: f64,
    /// Correctness epsilon_cor (the verification hash's collision probability).
    pub epsilon_cor: f64,
    /// Probability that Alice prepares in Z.
    pub basis_z_probability_alice: f64,
    /// Probability that Bob measures in Z.
    pub basis_z_probability_bob: f64,
}

/// The key length and every intermediate bound. All numbers are finite; those not reached
/// because of an early rejection are 0.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct FiniteKeyResult {
    /// Secret key length l in bits (Lim et al. 2014 Eq. 1, floored); 0 if no key.
    pub key_bits: u64,
    /// Why no key can be extracted, when `key_bits == 0`.
    pub rejected: Option<String>,
    /// The bound l before flooring and clipping at zero (may be negative); useful to see
    /// how far from positive a rejected block is.
    pub key_length_bound: f64,
    /// True for the finite-key bound, false for its asymptotic limit.
    pub finite_size: bool,
    /// (mu1, mu2, mu3) used by the decoy bounds: signal, weak decoy, vacuum/near-vacuum.
    pub intensities_used: [f64; 3],
    /// n_Z: sifted key-basis bits, all intensities (the block length).
    pub sifted_z: f64,
    /// n_X: sifted test-basis bits, all intensities.
    pub sifted_x: f64,
    /// m_X: errors among the sifted test-basis bits.
    pub errors_x: f64,
    /// Observed QBER of the test basis, m_X / n_X.
    pub qber_x: f64,
    /// Observed QBER of the key basis, m_Z / n_Z (informative: the key length depends on
    /// the leaked bits, not on this).
    pub qber_z: f64,
    /// tau_0: probability that Alice sends vacuum.
    pub tau0: f64,
    /// tau_1: probability that Alice sends one photon.
    pub tau1: f64,
    /// Hoeffding deviation of the key-basis counts, sqrt(n_Z/2 ln(21/eps_sec)).
    pub deviation_z: f64,
    /// Hoeffding deviation of the test-basis counts.
    pub deviation_x: f64,
    /// Hoeffding deviation of the test-basis error counts.
    pub deviation_errors_x: f64,
    /// Lower bound on vacuum events among the key bits, s_{Z,0} (Lim Eq. 2, their s_{X,0}).
    pub s0_z_lower: f64,
    /// Lower bound on single-photon events among the key bits, s_{Z,1} (Lim Eq. 3).
    pub s1_z_lower: f64,
    /// Lower bound on vacuum events in the test basis, s_{X,0} (Lim Eq. 2).
    pub s0_x_lower: f64,
    /// Lower bound on single-photon events in the test basis, s_{X,1} (Lim Eq. 3, their s_{Z,1}).
    pub s1_x_lower: f64,
    /// Upper bound on bit errors of the test-basis single-photon events, v_{X,1} (Lim Eq. 4).
    pub v1_x_upper: f64,
    /// v_{X,1} / s_{X,1}: the single-photon error rate bound in the test basis.
    pub single_photon_error_x_upper: f64,
    /// The sampling penalty applied: phi - v_{X,1}/s_{X,1} before the cap at 1/2, the larger
    /// of `phase_error_gamma_lim` and the rigorous bound's penalty (0 for the asymptotic
    /// limit); see [`super::decoy::phase_error_upper`].
    pub phase_error_gamma: f64,
    /// gamma of Lim Eq. 5 as printed (0 when there is no test-basis error; 0 for the
    /// asymptotic limit).
    pub phase_error_gamma_lim: f64,
    /// Which term sets phi: `lim_gamma` (Lim's b + gamma, the usual case), `sampling` (the
    /// rigorous method-of-types bound of [`super::decoy::phase_error_sampling_bound`],
    /// near zero test-basis errors), `none` (asymptotic limit, or not reached).
    pub phase_error_term: PhaseErrorTerm,
    /// Upper bound phi on the phase-error rate of the single-photon key bits (Lim Eq. 5 with
    /// a sampling penalty kept at zero errors), capped at 1/2.
    pub phase_error_upper: f64,
    /// lambda_EC: bits disclosed by error correction, as given.
    pub leaked_ec_bits: f64,
    /// 6 log2(21/eps_sec) + log2(2/eps_cor): the security cost of Lim Eq. 1 (0 asymptotically).
    pub security_cost_bits: f64,
}

/// Which term of the phase-error bound phi = max(b + gamma, phi_types) is the larger.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PhaseErrorTerm {
    /// No sampling term (asymptotic limit) or Eq. 5 not reached.
    #[default]
    None,
    /// Lim et al. 2014 Eq. 5 as printed, b + gamma.
    LimGamma,
    /// The rigorous method-of-types bound (zero or few test-basis errors).
    Sampling,
}

/// Result of [`asymptotic_key_length`]: the same record with every finite-size term zero.
pub type AsymptoticKeyResult = FiniteKeyResult;

/// One class's counts as reals (expected counts in the theory; observed ones otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ClassCounts {
    pub mu: f64,
    pub probability: f64,
    pub n_z: f64,
    pub m_z: f64,
    pub n_x: f64,
    pub m_x: f64,
}

/// Finite-key secret key length of Lim et al. 2014, Eq. 1, with the key basis Z:
///
/// l = floor( s_{Z,0} + s_{Z,1} (1 - h(phi)) - lambda_EC - 6 log2(21/eps_sec) - log2(2/eps_cor) ),
///
/// s_{Z,0} from Eq. 2, s_{Z,1} and s_{X,1} from Eq. 3, v_{X,1} from Eq. 4, and
/// phi <= v_{X,1}/s_{X,1} + gamma(eps_sec, v_{X,1}/s_{X,1}, s_{X,1}, s_{Z,1}) from Eq. 5 (see
/// below), with the Hoeffding deviations sqrt(n/2 ln(21/eps_sec)) of the total counts of each basis.
/// `leaked_ec_bits` is lambda_EC, the bits actually disclosed by error correction (the
/// verification tag is the log2(2/eps_cor) term). The basis probabilities of `sec` are not
/// needed by the bound (counts are per basis) and are only checked for range.
///
/// The phase error is Lim's Eq. 5 kept and made safe at zero test-basis errors: phi =
/// max(b + gamma, phi_types) with b = v_{X,1}/s_{X,1}, phi_types a rigorous method-of-types
/// bound ([`super::decoy::phase_error_upper`]); Lim's gamma alone vanishes when no
/// test-basis error is seen.
///
/// Needs three intensity classes with mu1 > mu2 + mu3 (more are allowed: the extra ones
/// count in the key and in tau_n). Never panics; see [`FiniteKeyResult::rejected`].
pub fn finite_key_length(
    counts: &[IntensityCounts],
    leaked_ec_bits: f64,
    sec: &SecurityParameters,
) -> FiniteKeyResult {
    on_checked_counts(counts, sec, true, |classes| {
        key_length(
            classes,
            leaked_ec_bits,
            sec.epsilon_sec,
            sec.epsilon_cor,
            true,
        )
    })
}

/// Runs `length` on `counts` as real-valued classes once the security parameters and the
/// counts are checked; a failed check is the rejection.
fn on_checked_counts(
    counts: &[IntensityCounts],
    sec: &SecurityParameters,
    finite: bool,
    length: impl FnOnce(&[ClassCounts]) -> FiniteKeyResult,
) -> FiniteKeyResult {
    if let Err(reason) = check_security(sec) {
        return reject(finite, reason);
    }
    match to_classes(counts) {
        Ok(classes) => length(&classes),
        Err(reason) => reject(finite, reason),
    }
}

/// Asymptotic key length from counts: the estimates of [`finite_key_length`] with no
/// statistical deviation, no gamma term and no security cost,
///
/// l = s_{Z,0} + s_{Z,1} (1 - h(v_{X,1}/s_{X,1})) - lambda_EC.
///
/// With mu3 = 0 the yields behind s_{Z,0}, s_{Z,1}, v_{X,1} are the vacuum + weak decoy
/// estimates of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eqs. 34 and 37 (see
/// [`super::decoy`]); this is the limit the finite-key length approaches as the block grows.
pub fn asymptotic_key_length(
    counts: &[IntensityCounts],
    leaked_ec_bits: f64,
) -> AsymptoticKeyResult {
    match to_classes(counts) {
        Ok(classes) => key_length(&classes, leaked_ec_bits, 0.5, 0.5, false),
        Err(reason) => reject(false, reason),
    }
}

/// Asymptotic GLLP key length from counts, without decoy states (Gottesman, Lo,
/// Lütkenhaus, Preskill, Quantum Inf. Comput. 4, 325, 2004; in the form of Lo, Ma, Chen,
/// PRL 94, 230504, 2005, Eq. 1 with Delta): every multi-photon pulse sent in a basis and
/// measured in it is assumed detected and known to Eve, so
///
/// s_{Z,1} >= n_Z - p_Z q_Z sum_k N_k P_k(n >= 2),   s_{X,1} >= n_X - p_X q_X sum_k N_k P_k(n >= 2),
/// e_1 <= m_X / s_{X,1},   l = s_{Z,1} (1 - h(e_1)) - lambda_EC,
///
/// with N_k = `pulses_sent` (pulses of class k, all bases), Poisson P_k, and the basis
/// probabilities of `sec`. For runs without usable decoys (one or two intensity classes).
/// No statistical deviations are applied: like [`asymptotic_key_length`], this is the
/// large-block figure, not a finite-key guarantee.
///
/// The pulses sent are part of the input type ([`SentIntensityCounts`]) because the bound
/// grows as they shrink: a class whose `pulses_sent` is below its sifted bits (e.g. 0,
/// "not tracked") is rejected, never read as "no multi-photon pulses".
pub fn gllp_key_length(
    classes: &[SentIntensityCounts],
    leaked_ec_bits: f64,
    sec: &SecurityParameters,
) -> AsymptoticKeyResult {
    let mut r = FiniteKeyResult::default();
    if let Err(reason) = check_security(sec) {
        r.rejected = Some(reason);
        return r;
    }
    for (k, c) in classes.iter().enumerate() {
        let sifted = c.counts.z.sifted.saturating_add(c.counts.x.sifted);
        if c.pulses_sent < sifted {
            r.rejected = Some(format!(
                "class {k}: {} pulses sent cannot give {sifted} sifted bits; the GLLP bound needs the pulses \
                 actually sent per class (a missing count would hide the multi-photon pulses)",
                c.pulses_sent
            ));
            return r;
        }
    }
    let counts: Vec<IntensityCounts> = classes.iter().map(|c| c.counts.clone()).collect();
    let classes_real = match to_classes(&counts) {
        Ok(c) => c,
        Err(reason) => {
            r.rejected = Some(reason);
            return r;
        }
    };
    if !(leaked_ec_bits.is_finite() && leaked_ec_bits >= 0.0) {
        r.rejected = Some(format!(
            "leaked error-correction bits must be finite and >= 0, got {leaked_ec_bits}"
        ));
        return r;
    }
    r.leaked_ec_bits = leaked_ec_bits;
    r.sifted_z = classes_real.iter().map(|c| c.n_z).sum();
    r.sifted_x = classes_real.iter().map(|c| c.n_x).sum();
    r.errors_x = classes_real.iter().map(|c| c.m_x).sum();
    r.qber_x = ratio(r.errors_x, r.sifted_x);
    r.qber_z = ratio(classes_real.iter().map(|c| c.m_z).sum(), r.sifted_z);
    let pairs: Vec<(f64, f64)> = classes_real.iter().map(|c| (c.mu, c.probability)).collect();
    r.tau0 = tau(0, &pairs);
    r.tau1 = tau(1, &pairs);
    let multi: f64 = classes
        .iter()
        .map(|c| {
            let mu = c.counts.mean_photon_number;
            c.pulses_sent as f64 * (1.0 - (-mu).exp() * (1.0 + mu)).max(0.0)
        })
        .sum();
    let (pa, pb) = (sec.basis_z_probability_alice, sec.basis_z_probability_bob);
    r.s1_z_lower = (r.sifted_z - pa * pb * multi).max(0.0);
    r.s1_x_lower = (r.sifted_x - (1.0 - pa) * (1.0 - pb) * multi).max(0.0);
    r.v1_x_upper = r.errors_x;
    if r.s1_z_lower <= 0.0 || r.s1_x_lower <= 0.0 {
        r.key_length_bound = -leaked_ec_bits;
        r.phase_error_upper = 0.5;
        r.rejected = Some(format!(
            "without decoy states no single photon can be certified: the multi-photon pulses could account for \
             every sifted bit (n_Z = {}, n_X = {}); use a lower mean photon number or decoy intensities",
            r.sifted_z, r.sifted_x
        ));
        return r;
    }
    r.single_photon_error_x_upper = ratio(r.v1_x_upper, r.s1_x_lower);
    r.phase_error_upper = r.single_photon_error_x_upper.min(0.5);
    let bound = r.s1_z_lower * (1.0 - binary_entropy(r.phase_error_upper)) - leaked_ec_bits;
    r.key_length_bound = if bound.is_finite() {
        bound
    } else {
        -leaked_ec_bits
    };
    if r.phase_error_upper >= 0.5 || r.key_length_bound <= 0.0 {
        r.rejected = Some(format!(
            "the GLLP key length is not positive ({:.1} bits): s1_Z (1 - h(e1)) with s1_Z = {:.1}, e1 = {:.4} \
             (observed QBER_Z {:.4}, QBER_X {:.4}) does not cover {:.1} leaked error-correction bits",
            r.key_length_bound,
            r.s1_z_lower,
            r.phase_error_upper,
            r.qber_z,
            r.qber_x,
            leaked_ec_bits
        ));
        return r;
    }
    r.key_bits = r.key_length_bound.floor().min(r.sifted_z.floor()).max(0.0) as u64;
    r
}

/// Composed security parameter of a run that applied the key-length bound to `blocks_run`
/// blocks, each with the same (eps_sec, eps_cor):
///
/// epsilon_total = blocks_run (eps_sec + eps_cor), capped at 1.
///
/// Each block's protocol is (eps_sec + eps_cor)-secure in the composable sense of Lim et
/// al. 2014, Sec. III (eps_cor-correct and eps_sec-secret, the secrecy criterion being
/// (1 - p_abort) ||rho_AE - U_A (x) rho_E||_1 / 2 <= eps_sec). Blocks run one after the other
/// with fresh randomness; by the triangle inequality of the trace distance (the hybrid
/// argument behind sequential composition: Müller-Quade and Renner, New J. Phys. 11, 085006,
/// 2009; Portmann and Renner, Rev. Mod. Phys. 94, 025008, 2022) the concatenation of all
/// blocks' outputs is distinguishable from ideal keys with advantage at most the sum of the
/// blocks' epsilons. The cap at 1 is the trivial bound on a trace distance.
///
/// What counts as a block: every block the protocol was run on, **including aborted
/// ones** (QBER estimate above the threshold, failed verification, no finite-key length).
/// An aborted block outputs no key, but its epsilon cannot be dropped: the per-block bound
/// is p_pass D <= eps, and the bound on D given that the block passed, eps / p_pass, is not
/// small when passing was unlikely; the a-priori composition therefore sums eps over all
/// blocks whose outcome (key or abort) was not fixed in advance. Counting only the blocks
/// that gave key would condition on the observed abort pattern, which the composable
/// definition does not allow without further argument. Blocks never started (no sifted
/// bits reached post-processing) do not count. 0 blocks give 0.
///
/// Not covered: the authentication of the classical channel (its epsilon adds on top) and
/// deviations of the devices from the proof's model (see the run's security warnings).
/// Invalid epsilons (not in (0, 1), NaN) give 1: no security claim.
pub fn composed_epsilon(blocks_run: u64, epsilon_sec: f64, epsilon_cor: f64) -> f64 {
    if blocks_run == 0 {
        return 0.0;
    }
    let valid = |e: f64| e > 0.0 && e < 1.0;
    if !(valid(epsilon_sec) && valid(epsilon_cor)) {
        return 1.0;
    }
    (blocks_run as f64 * (epsilon_sec + epsilon_cor)).min(1.0)
}

fn check_security(sec: &SecurityParameters) -> Result<(), String> {
    let open = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v < 1.0 {
            Ok(())
        } else {
            Err(format!("{name} must be in (0, 1), got {v}"))
        }
    };
    open("epsilon_sec", sec.epsilon_sec)?;
    open("epsilon_cor", sec.epsilon_cor)?;
    for (name, v) in [
        ("basis_z_probability_alice", sec.basis_z_probability_alice),
        ("basis_z_probability_bob", sec.basis_z_probability_bob),
    ] {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            return Err(format!("{name} must be in [0, 1], got {v}"));
        }
    }
    Ok(())
}

fn to_classes(counts: &[IntensityCounts]) -> Result<Vec<ClassCounts>, String> {
    if counts.is_empty() {
        return Err("no intensity classes given".into());
    }
    counts
        .iter()
        .enumerate()
        .map(|(k, c)| {
            if !(c.mean_photon_number.is_finite() && c.mean_photon_number >= 0.0) {
                return Err(format!(
                    "class {k}: mean photon number must be finite and >= 0, got {}",
                    c.mean_photon_number
                ));
            }
            if !(c.probability.is_finite() && c.probability > 0.0 && c.probability <= 1.0) {
                return Err(format!(
                    "class {k}: probability must be in (0, 1], got {}",
                    c.probability
                ));
            }
            for (basis, b) in [("Z", &c.z), ("X", &c.x)] {
                if b.errors > b.sifted {
                    return Err(format!(
                        "class {k}: {basis} errors ({}) exceed {basis} sifted bits ({})",
                        b.errors, b.sifted
                    ));
                }
            }
            Ok(ClassCounts {
                mu: c.mean_photon_number,
                probability: c.probability,
                n_z: c.z.sifted as f64,
                m_z: c.z.errors as f64,
                n_x: c.x.sifted as f64,
                m_x: c.x.errors as f64,
            })
        })
        .collect()
}

fn reject(finite_size: bool, reason: String) -> FiniteKeyResult {
    FiniteKeyResult {
        finite_size,
        rejected: Some(reason),
        ..FiniteKeyResult::default()
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 && a.is_finite() { a / b } else { 0.0 }
}

/// The record with the totals of `classes` filled in (sifted bits, test-basis errors,
/// QBERs, leak); `rejected` is set when the leak is not a finite non-negative number.
fn observed(classes: &[ClassCounts], leaked_ec_bits: f64, finite: bool) -> FiniteKeyResult {
    let mut r = FiniteKeyResult {
        finite_size: finite,
        ..FiniteKeyResult::default()
    };
    if !(leaked_ec_bits.is_finite() && leaked_ec_bits >= 0.0) {
        r.rejected = Some(format!(
            "leaked error-correction bits must be finite and >= 0, got {leaked_ec_bits}"
        ));
        return r;
    }
    r.leaked_ec_bits = leaked_ec_bits;
    let sum = |f: fn(&ClassCounts) -> f64| classes.iter().map(f).sum::<f64>();
    r.sifted_z = sum(|c| c.n_z);
    r.sifted_x = sum(|c| c.n_x);
    r.errors_x = sum(|c| c.m_x);
    r.qber_x = ratio(r.errors_x, r.sifted_x);
    r.qber_z = ratio(sum(|c| c.m_z), r.sifted_z);
    r
}

/// The key length on real-valued counts (observed, or expected for the theory curves).
/// `finite` switches the deviations, gamma and security cost on. Never NaN.
pub(crate) fn key_length(
    classes: &[ClassCounts],
    leaked_ec_bits: f64,
    epsilon_sec: f64,
    epsilon_cor: f64,
    finite: bool,
) -> FiniteKeyResult {
    let mut r = observed(classes, leaked_ec_bits, finite);
    if r.rejected.is_some() {
        return r;
    }
    let pairs: Vec<(f64, f64)> = classes.iter().map(|c| (c.mu, c.probability)).collect();
    r.tau0 = tau(0, &pairs);
    r.tau1 = tau(1, &pairs);

    let mus: Vec<f64> = classes.iter().map(|c| c.mu).collect();
    let [i1, i2, i3] = match select_intensities(&mus) {
        Ok(ix) => ix,
        Err(reason) => {
            r.rejected = Some(reason);
            return r;
        }
    };
    let mu = Intensities {
        mu1: mus[i1],
        mu2: mus[i2],
        mu3: mus[i3],
    };
    r.intensities_used = [mu.mu1, mu.mu2, mu.mu3];
    if r.sifted_z <= 0.0 {
        r.rejected = Some("no sifted key-basis (Z) bits: nothing to form a key from".into());
        return r;
    }
    if r.sifted_x <= 0.0 {
        r.rejected =
            Some("no sifted test-basis (X) bits: the phase error cannot be bounded".into());
        return r;
    }
    for (name, i) in [("signal", i1), ("weak decoy", i2)] {
        for (basis, n) in [("Z", classes[i].n_z), ("X", classes[i].n_x)] {
            if n <= 0.0 {
                r.rejected = Some(format!(
                    "no sifted {basis} detections for the {name} class (mu = {}): the decoy-state bounds need them",
                    classes[i].mu
                ));
                return r;
            }
        }
    }

    let (dz, dx, dm) = if finite {
        (
            hoeffding_deviation(r.sifted_z, epsilon_sec),
            hoeffding_deviation(r.sifted_x, epsilon_sec),
            hoeffding_deviation(r.errors_x, epsilon_sec),
        )
    } else {
        (0.0, 0.0, 0.0)
    };
    r.deviation_z = dz;
    r.deviation_x = dx;
    r.deviation_errors_x = dm;
    // Lim's n^±_k = e^{mu_k}/p_k (n_k ± delta).
    let scaled =
        |i: usize, n: f64, dev: f64| scaled_count(classes[i].mu, classes[i].probability, n, dev);
    let basis_bounds = |n: fn(&ClassCounts) -> f64, dev: f64| {
        let s0 = vacuum_lower(
            r.tau0,
            mu,
            scaled(i3, n(&classes[i3]), -dev),
            scaled(i2, n(&classes[i2]), dev),
        );
        let s1 = single_photon_lower(
            r.tau0,
            r.tau1,
            mu,
            scaled(i1, n(&classes[i1]), dev),
            scaled(i2, n(&classes[i2]), -dev),
            scaled(i3, n(&classes[i3]), dev),
            s0,
        );
        (s0, s1)
    };
    (r.s0_z_lower, r.s1_z_lower) = basis_bounds(|c| c.n_z, dz);
    (r.s0_x_lower, r.s1_x_lower) = basis_bounds(|c| c.n_x, dx);
    let s1_unclipped = |n: fn(&ClassCounts) -> f64, dev: f64, s0: f64| {
        single_photon_lower_unclipped(
            r.tau0,
            r.tau1,
            mu,
            scaled(i1, n(&classes[i1]), dev),
            scaled(i2, n(&classes[i2]), -dev),
            scaled(i3, n(&classes[i3]), dev),
            s0,
        )
    };
    r.v1_x_upper = single_photon_errors_upper(
        r.tau1,
        mu,
        scaled(i2, classes[i2].m_x, dm),
        scaled(i3, classes[i3].m_x, -dm),
    );

    r.security_cost_bits = security_cost(finite, epsilon_sec, epsilon_cor);
    if r.s1_z_lower <= 0.0 || r.s1_x_lower <= 0.0 {
        let basis = if r.s1_z_lower <= 0.0 {
            "key basis Z"
        } else {
            "test basis X"
        };
        // The bound is not defined here; report how far it is from positive, using the
        // unclipped Eq. 3 values (negative), so that an optimiser sees a slope.
        let shortfall = s1_unclipped(|c| c.n_z, dz, r.s0_z_lower).min(0.0)
            + s1_unclipped(|c| c.n_x, dx, r.s0_x_lower).min(0.0);
        r.key_length_bound = r.s0_z_lower + shortfall - leaked_ec_bits - r.security_cost_bits;
        r.phase_error_upper = 0.5;
        r.rejected = Some(format!(
            "no single-photon events can be certified in the {basis} (lower bound 0): too few detections \
             (n_Z = {}, n_X = {}) or decoy statistics inconsistent with a Poisson source",
            r.sifted_z, r.sifted_x
        ));
        return r;
    }
    conclude(r, finite, epsilon_sec)
}

/// The security cost 6 log2(21/eps_sec) + log2(2/eps_cor) of Lim et al. 2014, Eq. 1 (0 for
/// the asymptotic limit), as 6 (log2 21 - log2 eps_sec) + 1 - log2 eps_cor so that it stays
/// finite for every positive f64 eps (2/eps overflows below ~1.1e-308). The log2(2/eps_cor)
/// term covers the verification tag, ceil(log2(1/eps_cor)) <= log2(2/eps_cor) bits.
fn security_cost(finite: bool, epsilon_sec: f64, epsilon_cor: f64) -> f64 {
    if finite {
        6.0 * (21f64.log2() - epsilon_sec.log2()) + 1.0 - epsilon_cor.log2()
    } else {
        0.0
    }
}

/// A number for an abort reason, four decimals; a non-finite one said in words rather than
/// printed as `inf` or `NaN`.
fn finite_or_said(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else if v.is_nan() {
        "undefined (0/0)".to_string()
    } else {
        "not finite".to_string()
    }
}

/// Lim et al. 2014 Eqs. 5 and 1 from the bounds already in `r` (s_{Z,0}, s_{Z,1} and
/// s_{X,1} > 0, v_{X,1}, the leak and the security cost): phase error, bound, key length.
///
/// The phase error is phi = max(b + gamma_Lim, phi_types) of
/// [`super::decoy::phase_error_upper`] (b = v_{X,1}/s_{X,1}): Lim's Eq. 5 as printed, and a
/// rigorous method-of-types bound that keeps a sampling penalty when no test-basis error
/// was seen (Lim's gamma is 0 there). The asymptotic limit has no penalty: phi = b.
fn conclude(mut r: FiniteKeyResult, finite: bool, epsilon_sec: f64) -> FiniteKeyResult {
    let leaked_ec_bits = r.leaked_ec_bits;
    let b = ratio(r.v1_x_upper, r.s1_x_lower);
    r.single_photon_error_x_upper = b;
    let phi = if finite {
        let (c, d, n) = (r.s1_x_lower, r.s1_z_lower, r.sifted_x + r.sifted_z);
        r.phase_error_gamma_lim = phase_error_gamma(epsilon_sec, b, c, d);
        let (phi, lim_binds) = phase_error_upper_and_term(epsilon_sec, b, c, d, n);
        r.phase_error_term = if lim_binds {
            PhaseErrorTerm::LimGamma
        } else {
            PhaseErrorTerm::Sampling
        };
        r.phase_error_gamma = phi - b;
        phi
    } else {
        b
    };
    r.phase_error_upper = if phi.is_finite() { phi.min(0.5) } else { 0.5 };
    // Said as it is in the abort reason, before the record's substitution below.
    let gamma_text = if r.phase_error_gamma.is_finite() {
        format!("gamma {:.4}", r.phase_error_gamma)
    } else {
        format!(
            "gamma not finite: no finite phase-error bound exists at eps_sec = {epsilon_sec:e} \
             with s1_X = {:.1} and s1_Z = {:.1} single-photon events",
            r.s1_x_lower, r.s1_z_lower
        )
    };
    for v in [&mut r.phase_error_gamma, &mut r.phase_error_gamma_lim] {
        if !v.is_finite() {
            *v = 1.0;
        }
    }
    let bound = r.s0_z_lower + r.s1_z_lower * (1.0 - binary_entropy(r.phase_error_upper))
        - leaked_ec_bits
        - r.security_cost_bits;
    r.key_length_bound = if bound.is_finite() {
        bound
    } else {
        -leaked_ec_bits - r.security_cost_bits
    };
    if r.phase_error_upper >= 0.5 {
        r.rejected = Some(format!(
            "the phase-error bound reaches 1/2 (single-photon test-basis error bound {}, {}; observed QBER_X {})",
            finite_or_said(r.single_photon_error_x_upper),
            gamma_text,
            finite_or_said(r.qber_x)
        ));
        return r;
    }
    // A finite block needs at least one whole bit; the asymptotic figure may be a rate.
    if (finite && r.key_length_bound < 1.0) || r.key_length_bound <= 0.0 {
        r.rejected = Some(format!(
            "the key length bound is not positive ({:.1} bits): s0_Z + s1_Z (1 - h(phi)) = {:.1} bits \
             (phi = {:.4}, observed QBER_Z {:.4}, QBER_X {:.4}) does not cover {:.1} leaked error-correction bits \
             plus {:.1} bits of security cost",
            r.key_length_bound,
            r.s0_z_lower + r.s1_z_lower * (1.0 - binary_entropy(r.phase_error_upper)),
            r.phase_error_upper,
            r.qber_z,
            r.qber_x,
            leaked_ec_bits,
            r.security_cost_bits
        ));
        return r;
    }
    // The key cannot be longer than the block it is extracted from.
    r.key_bits = r.key_length_bound.floor().min(r.sifted_z.floor()).max(0.0) as u64;
    r
}

/// Key length for an ideal single-photon source (`source.single_photon = true`): Lim et
/// al. 2014, Eqs. 1 and 5, with the decoy estimates replaced by what the source makes
/// exact. Every pulse carries exactly one photon, so every detection (dark counts
/// included) is a single-photon event: s_{Z,0} = 0, s_{Z,1} = n_Z, s_{X,1} = n_X and
/// v_{X,1} = m_X, with no Hoeffding deviations (nothing is estimated from other classes).
/// What remains of the finite size is the random-sampling term of Eq. 5 from X to Z (phi =
/// max(b + gamma, phi_types) as in [`finite_key_length`], so also with no error in X). Keeping Lim's security cost 6 log2(21/eps_sec) + log2(2/eps_cor), whose eps budget
/// also covers the decoy estimates that are exact here, is conservative. Asymptotically
/// (`finite = false`) this is the Shor-Preskill length n_Z (1 - h(e_X)) - lambda_EC (Shor
/// and Preskill, PRL 85, 441, 2000).
pub fn single_photon_key_length(
    counts: &[IntensityCounts],
    leaked_ec_bits: f64,
    sec: &SecurityParameters,
    finite: bool,
) -> FiniteKeyResult {
    on_checked_counts(counts, sec, finite, |classes| {
        single_photon_length(
            classes,
            leaked_ec_bits,
            sec.epsilon_sec,
            sec.epsilon_cor,
            finite,
        )
    })
}

/// [`single_photon_key_length`] on real-valued counts (observed, or expected for the theory
/// curves). Never NaN.
pub(crate) fn single_photon_length(
    classes: &[ClassCounts],
    leaked_ec_bits: f64,
    epsilon_sec: f64,
    epsilon_cor: f64,
    finite: bool,
) -> FiniteKeyResult {
    let mut r = observed(classes, leaked_ec_bits, finite);
    if r.rejected.is_some() {
        return r;
    }
    r.tau0 = 0.0;
    r.tau1 = 1.0;
    r.intensities_used = [1.0, 0.0, 0.0];
    if r.sifted_z <= 0.0 {
        r.rejected = Some("no sifted key-basis (Z) bits: nothing to form a key from".into());
        return r;
    }
    if r.sifted_x <= 0.0 {
        r.rejected =
            Some("no sifted test-basis (X) bits: the phase error cannot be bounded".into());
        return r;
    }
    r.s1_z_lower = r.sifted_z;
    r.s1_x_lower = r.sifted_x;
    r.v1_x_upper = r.errors_x;
    r.security_cost_bits = security_cost(finite, epsilon_sec, epsilon_cor);
    conclude(r, finite, epsilon_sec)
}

#[cfg(test)]
mod message_tests {
    use super::finite_or_said;

    #[test]
    fn non_finite_numbers_are_said_in_words_in_abort_reasons() {
        assert_eq!(finite_or_said(0.12345), "0.1235");
        assert_eq!(finite_or_said(f64::INFINITY), "not finite");
        assert_eq!(finite_or_said(f64::NAN), "undefined (0/0)");
        for v in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            let said = finite_or_said(v);
            assert!(!said.contains("inf") && !said.contains("NaN"), "{said}");
        }
    }
}
