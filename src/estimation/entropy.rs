//! The binary (Shannon) entropy used by every key-rate formula.
//!
//! Must never depend on anything but the standard library.

/// Binary entropy h(x) = -x log2 x - (1 - x) log2(1 - x) in bits (e.g. Lim et al., PRA 89,
/// 022307, 2014, after Eq. 1). Arguments outside [0, 1] are clamped, h(0) = h(1) = 0, and
/// NaN gives 1 (the most pessimistic value), so the result is always in [0, 1].
pub fn binary_entropy(x: f64) -> f64 {
    if x.is_nan() {
        return 1.0;
    }
    let x = x.clamp(0.0, 1.0);
    if x <= 0.0 || x >= 1.0 {
        return 0.0;
    }
    -x * x.log2() - (1.0 - x) * (1.0 - x).log2()
}

/// Binary relative entropy (Kullback-Leibler divergence) in bits,
/// D(p || q) = p log2(p/q) + (1 - p) log2((1 - p)/(1 - q)), with 0 log 0 = 0 (Cover & Thomas,
/// Elements of Information Theory, 2nd ed., Eq. 2.26). Used by the sampling bound on the
/// phase error ([`super::decoy::phase_error_sampling_bound`]). +infinity where the
/// divergence is infinite (q = 0 < p, q = 1 > p) and for arguments outside [0, 1] or NaN.
pub fn binary_relative_entropy(p: f64, q: f64) -> f64 {
    if !((0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&q)) {
        return f64::INFINITY;
    }
    // Each term as p ln(p/q) = -p ln(1 + (q - p)/p), with the difference q - p formed once
    // from the arguments (not from 1 - q and 1 - p, whose rounding would swamp the result
    // when q is close to p: the two terms cancel to first order in q - p).
    let term = |p: f64, diff: f64, q: f64| -> f64 {
        if p == 0.0 {
            0.0
        } else if q == 0.0 {
            f64::INFINITY
        } else {
            -p * (diff / p).ln_1p()
        }
    };
    let term = |p: f64, q: f64| term(p, q - p, q) + term(1.0 - p, p - q, 1.0 - q);
    let d = term(p, q) / std::f64::consts::LN_2;
    if d.is_nan() {
        f64::INFINITY
    } else {
        d.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_entropy_known_values() {
        // D(0 || 1/2) = 1 bit exactly; D(p || p) = 0; D(1/4 || 1/2) = 1 - h(1/4) (Gibbs:
        // D(p || 1/2) = 1 - h(p)), rounding only (1e-15).
        assert_eq!(binary_relative_entropy(0.0, 0.5), 1.0);
        assert_eq!(binary_relative_entropy(0.3, 0.3), 0.0);
        let d = binary_relative_entropy(0.25, 0.5);
        assert!((d - (1.0 - binary_entropy(0.25))).abs() < 1e-15, "{d}");
        assert!(binary_relative_entropy(0.1, 0.0).is_infinite());
        assert!(binary_relative_entropy(f64::NAN, 0.5).is_infinite());
        // Second order near q = p: D ~ (q - p)^2 / (2 ln 2 p (1 - p)); relative 1e-6 (the
        // third-order term is ~(q - p)/p = 1e-6 of it).
        let (p, q) = (0.02, 0.02 * (1.0 + 1e-6));
        let approx = (q - p) * (q - p) / (2.0 * std::f64::consts::LN_2 * p * (1.0 - p));
        let d = binary_relative_entropy(p, q);
        assert!((d / approx - 1.0).abs() < 1e-5, "{d} vs {approx}");
    }

    #[test]
    fn known_values() {
        // h(1/2) = 1 exactly; h(0.11) = 0.4999... (the 11 % BB84 threshold where
        // 1 - 2 h(Q) = 0, Shor & Preskill 2000); tolerance 1e-3 covers the rounding of 0.11.
        assert_eq!(binary_entropy(0.5), 1.0);
        assert!((binary_entropy(0.11) - 0.5).abs() < 1e-3);
        assert_eq!(binary_entropy(0.0), 0.0);
        assert_eq!(binary_entropy(1.0), 0.0);
        assert_eq!(binary_entropy(f64::NAN), 1.0);
        assert_eq!(binary_entropy(-1.0), 0.0);
    }
}
