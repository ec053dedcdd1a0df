//! Repeaterless bounds: the most secret key per channel use that *any* point-to-point
//! protocol can get through a pure-loss channel of transmittance eta, without repeaters.
//!
//! Must never depend on anything but the standard library.

/// PLOB bound -log2(1 - eta) bits per pulse (Pirandola, Laurenza, Ottaviani, Banchi,
/// "Fundamental limits of repeaterless quantum communications", Nat. Commun. 8, 15043
/// (2017): the two-way assisted secret-key capacity of the pure-loss channel, their main
/// result for bosonic lossy channels). +infinity for eta >= 1 (no loss), 0 for eta <= 0.
pub fn plob_bits_per_pulse(eta: f64) -> f64 {
    if eta.is_nan() || eta <= 0.0 {
        return 0.0;
    }
    if eta >= 1.0 {
        return f64::INFINITY;
    }
    // -log2(1 - eta) via ln_1p to stay accurate for small eta (~ eta / ln 2).
    -(-eta).ln_1p() / std::f64::consts::LN_2
}

/// TGW bound log2((1 + eta)/(1 - eta)) bits per pulse (Takeoka, Guha, Wilde, "Fundamental
/// rate-loss tradeoff for optical quantum key distribution", Nat. Commun. 5, 5235 (2014),
/// the squashed-entanglement bound for the pure-loss channel). Always above PLOB.
/// +infinity for eta >= 1, 0 for eta <= 0.
pub fn tgw_bits_per_pulse(eta: f64) -> f64 {
    if eta.is_nan() || eta <= 0.0 {
        return 0.0;
    }
    if eta >= 1.0 {
        return f64::INFINITY;
    }
    (eta.ln_1p() - (-eta).ln_1p()) / std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_loss_limits() {
        // Independent derivation: for eta -> 0, PLOB ~ eta / ln 2 = 1.44 eta and
        // TGW ~ 2 eta / ln 2 = 2.89 eta (first-order Taylor); at eta = 1e-6 the second-order
        // terms are 1e-6 relative, so a 1e-5 relative tolerance is ample.
        let eta = 1e-6;
        assert!((plob_bits_per_pulse(eta) / (eta / std::f64::consts::LN_2) - 1.0).abs() < 1e-5);
        assert!(
            (tgw_bits_per_pulse(eta) / (2.0 * eta / std::f64::consts::LN_2) - 1.0).abs() < 1e-5
        );
        // eta = 1/2: PLOB = 1 bit, TGW = log2 3.
        assert!((plob_bits_per_pulse(0.5) - 1.0).abs() < 1e-15);
        assert!((tgw_bits_per_pulse(0.5) - 3f64.log2()).abs() < 1e-15);
        assert!(plob_bits_per_pulse(1.0).is_infinite());
        assert_eq!(plob_bits_per_pulse(0.0), 0.0);
    }
}
