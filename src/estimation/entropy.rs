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

#[cfg(test)]
mod tests {
    use super::*;

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
