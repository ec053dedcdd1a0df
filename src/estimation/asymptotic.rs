//! Asymptotic (infinitely long key) secret key rates per pulse, from expected per-pulse
//! rates of each intensity class: GLLP without decoys, vacuum + weak decoy, infinite decoy.
//!
//! All three are the GLLP formula in the form of Lo, Ma, Chen, PRL 94, 230504 (2005),
//! Eq. 1: R = q { Q_1 [1 - h(e_1)] - f Q_mu h(E_mu) }, with the key taken from the signal
//! class only (decoys only estimate), as in those papers. Here the sifting factor q is
//! already inside the per-pulse rates ([`ClassRates`] counts a pulse as a key bit only when
//! both chose Z), and the result is multiplied by the signal probability p_mu so that it
//! is per pulse *sent*. The key basis is Z; e_1 is the single-photon error rate of the X
//! (test) basis, i.e. the phase error of the single-photon Z bits.
//!
//! The functions return the raw rate, which is negative when no key can be made (useful to
//! an optimiser); callers clip at zero. They never return NaN.
//!
//! Must never depend on `protocol`, `postprocess` or `report`.

use super::decoy::{
    Intensities, select_intensities, single_photon_errors_upper, single_photon_lower, vacuum_lower,
};
use super::entropy::binary_entropy;
use serde::Serialize;

/// Expected per-pulse figures of one intensity class (per pulse *of that class*).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ClassRates {
    /// mu_k.
    pub mean_photon_number: f64,
    /// p_k.
    pub probability: f64,
    /// Probability that the pulse gives a sifted Z bit (Alice and Bob chose Z, a click).
    pub sifted_z: f64,
    /// Probability that it gives an erroneous sifted Z bit.
    pub errors_z: f64,
    /// Same for X.
    pub sifted_x: f64,
    /// Same for X.
    pub errors_x: f64,
}

/// What the asymptotic formulas need besides the class rates.
#[derive(Clone, Debug, PartialEq)]
pub struct AsymptoticInputs {
    /// Expected rates of every intensity class.
    pub classes: Vec<ClassRates>,
    /// Error-correction inefficiency f_EC (lambda_EC = f_EC h(E) per sifted bit).
    pub f_ec: f64,
    /// Probability that both chose Z (p_Z q_Z).
    pub both_z_probability: f64,
    /// Probability that both chose X.
    pub both_x_probability: f64,
    /// Index of the signal class in `classes`, whose pulses form the key for GLLP and the
    /// infinite-decoy rate (the vacuum + weak rate takes the brightest class).
    pub signal: usize,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 && a.is_finite() { a / b } else { 0.0 }
}

fn finite_or(x: f64, fallback: f64) -> f64 {
    if x.is_finite() { x } else { fallback }
}

/// p_mu [ Q1_Z (1 - h(e1)) - f Q_Z h(E_Z) ] with e1 capped at 1/2.
fn gllp_form(s: &ClassRates, q1_z: f64, e1: f64, f_ec: f64) -> f64 {
    let e1 = if e1.is_finite() {
        e1.clamp(0.0, 0.5)
    } else {
        0.5
    };
    let leak = f_ec * s.sifted_z * binary_entropy(ratio(s.errors_z, s.sifted_z).min(0.5));
    finite_or(
        s.probability * (q1_z.max(0.0) * (1.0 - binary_entropy(e1)) - leak),
        0.0,
    )
}

/// GLLP without decoys (Gottesman, Lo, Lütkenhaus, Preskill, Quantum Inf. Comput. 4, 325,
/// 2004; in the form of Lo, Ma, Chen 2005, Eq. 1 with Delta): every multi-photon pulse is
/// assumed detected and known to Eve, so Q_1 >= Q_mu - P_multi (Q_1 = Q_mu (1 - Delta)) and
/// e_1 <= E_mu Q_mu / Q_1 (= E_mu / (1 - Delta)), with P_multi = 1 - P(0) - P(1) of the
/// source, counted in each basis with the probability that both chose it.
/// `multi_photon_probability` is P_multi of the signal class (0 for a single-photon source).
pub fn gllp_no_decoy_rate(inputs: &AsymptoticInputs, multi_photon_probability: f64) -> f64 {
    let Some(s) = inputs.classes.get(inputs.signal) else {
        return 0.0;
    };
    let q1_z = s.sifted_z - inputs.both_z_probability * multi_photon_probability;
    let q1_x = s.sifted_x - inputs.both_x_probability * multi_photon_probability;
    if q1_z <= 0.0 || q1_x <= 0.0 {
        // No single photon is certified: the whole sifted key may be Eve's. The value keeps
        // a slope for an optimiser.
        return finite_or(q1_z.min(q1_x) * s.probability, 0.0);
    }
    gllp_form(s, q1_z, s.errors_x / q1_x, inputs.f_ec)
}

/// Vacuum + weak decoy (Ma, Qi, Zhao, Lo, PRA 72, 012326, 2005): Y_0 from Lim et al. 2014
/// Eq. 2 (= the vacuum gain when mu3 = 0), Y_1 >= Y_1^L from MQZL Eq. 34 (Lim Eq. 3 in
/// general), e_1 <= (e^{mu2} E_2 Q_2 - e^{mu3} E_3 Q_3) / ((mu2 - mu3) Y_1^L) from MQZL
/// Eq. 37 (Lim Eq. 4); then Q_1 = mu e^{-mu} Y_1^L in Lo, Ma, Chen Eq. 1.
///
/// Needs three classes (signal, weak decoy, vacuum or near-vacuum) with mu1 > mu2 + mu3.
pub fn vacuum_weak_decoy_rate(inputs: &AsymptoticInputs) -> Result<f64, String> {
    let mus: Vec<f64> = inputs
        .classes
        .iter()
        .map(|c| c.mean_photon_number)
        .collect();
    let [i1, i2, i3] = select_intensities(&mus)?;
    let mu = Intensities {
        mu1: mus[i1],
        mu2: mus[i2],
        mu3: mus[i3],
    };
    let c = &inputs.classes;
    // Per-pulse yields weighted by e^{mu}: Q_k e^{mu_k} (Lim's n*_k divided by N p_k).
    let star = |i: usize, v: f64| v * c[i].mean_photon_number.exp();
    let y0_z = vacuum_lower(1.0, mu, star(i3, c[i3].sifted_z), star(i2, c[i2].sifted_z));
    let y1_z = single_photon_lower(
        1.0,
        1.0,
        mu,
        star(i1, c[i1].sifted_z),
        star(i2, c[i2].sifted_z),
        star(i3, c[i3].sifted_z),
        y0_z,
    );
    let y0_x = vacuum_lower(1.0, mu, star(i3, c[i3].sifted_x), star(i2, c[i2].sifted_x));
    let y1_x = single_photon_lower(
        1.0,
        1.0,
        mu,
        star(i1, c[i1].sifted_x),
        star(i2, c[i2].sifted_x),
        star(i3, c[i3].sifted_x),
        y0_x,
    );
    let s = &c[i1];
    if y1_z <= 0.0 || y1_x <= 0.0 {
        return Ok(-s.probability * s.sifted_z);
    }
    let e1 =
        single_photon_errors_upper(1.0, mu, star(i2, c[i2].errors_x), star(i3, c[i3].errors_x))
            / y1_x;
    let q1_z = mu.mu1 * (-mu.mu1).exp() * y1_z;
    Ok(gllp_form(s, q1_z, e1, inputs.f_ec))
}

/// Infinite decoy (Lo, Ma, Chen, PRL 94, 230504, 2005, Eq. 1 with the exact single-photon
/// yield and error rate, which infinitely many decoys would measure): Q_1 = mu e^{-mu} Y_1.
/// `single_photon` holds the rates of a pulse carrying exactly one photon: its `sifted_z`
/// is Y_1 (times the basis factor) and `errors_x / sifted_x` is e_1 of the test basis.
pub fn infinite_decoy_rate(inputs: &AsymptoticInputs, single_photon: &ClassRates) -> f64 {
    let Some(s) = inputs.classes.get(inputs.signal) else {
        return 0.0;
    };
    let mu = s.mean_photon_number;
    let q1_z = mu * (-mu).exp() * single_photon.sifted_z;
    // Without test-basis detections the phase error cannot be bounded: count it as 1/2.
    let e1 = if single_photon.sifted_x > 0.0 {
        single_photon.errors_x / single_photon.sifted_x
    } else {
        0.5
    };
    gllp_form(s, q1_z, e1, inputs.f_ec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vacuum_weak_matches_ma_qi_zhao_lo_eqs_34_and_37() {
        // Independent derivation: MQZL 2005 Eq. 34, Y1^L = mu/(mu nu - nu^2) (Q_nu e^nu
        // - Q_mu e^mu nu^2/mu^2 - (mu^2 - nu^2)/mu^2 Y0), and Eq. 37, e1^U = (E_nu Q_nu e^nu
        // - Y0/2) / (Y1^L nu), written out by hand with Y0 = Q_vacuum; relative tolerance
        // 1e-9 (rounding only).
        let (mu, nu, y0, eta, ed) = (0.48, 0.05, 1.7e-6, 1e-3, 0.033);
        let class = |m: f64, p: f64| {
            let q = y0 + 1.0 - (-eta * m).exp();
            let eq = 0.5 * y0 + ed * (1.0 - (-eta * m).exp());
            ClassRates {
                mean_photon_number: m,
                probability: p,
                sifted_z: q,
                errors_z: eq,
                sifted_x: q,
                errors_x: eq,
            }
        };
        let classes = vec![class(mu, 0.8), class(nu, 0.1), class(0.0, 0.1)];
        let inputs = AsymptoticInputs {
            classes: classes.clone(),
            f_ec: 1.22,
            both_z_probability: 1.0,
            both_x_probability: 1.0,
            signal: 0,
        };
        let (qm, qn) = (classes[0].sifted_z, classes[1].sifted_z);
        let y1 = mu / (mu * nu - nu * nu)
            * (qn * nu.exp()
                - qm * mu.exp() * nu * nu / (mu * mu)
                - (mu * mu - nu * nu) / (mu * mu) * y0);
        let e1 = (classes[1].errors_z * nu.exp() - 0.5 * y0) / (y1 * nu);
        let h = binary_entropy;
        let expected =
            0.8 * (mu * (-mu).exp() * y1 * (1.0 - h(e1)) - 1.22 * qm * h(classes[0].errors_z / qm));
        let got = vacuum_weak_decoy_rate(&inputs).unwrap();
        assert!((got / expected - 1.0).abs() < 1e-9, "{got} vs {expected}");
    }
}
