//! Unit conversions, in one place. Scenario keys carry their unit in the name
//! (`length_km`, `dead_time_ns`, `rep_rate_hz`); everything inside the library is in SI
//! base units or in counts of gates (pulse slots), converted here.
//!
//! Must never depend on any other module of the crate.

/// Fibre (or component) loss in dB turned into a power transmittance: `10^(-dB/10)`.
pub fn db_to_transmittance(loss_db: f64) -> f64 {
    10f64.powf(-loss_db / 10.0)
}

/// Number of whole gates (pulse slots) a duration in nanoseconds covers at a repetition
/// rate in Hz, rounded to the nearest gate. A detector dead for `dead_time_ns` is blind for
/// this many gates after the gate in which it clicked.
pub fn ns_to_gates(duration_ns: f64, rep_rate_hz: f64) -> u64 {
    (duration_ns * 1e-9 * rep_rate_hz).round() as u64
}

/// Time constant in nanoseconds turned into a per-gate survival factor `exp(-1/(tau f))`:
/// the probability that an exponentially distributed delay with mean `tau` outlasts one
/// more gate period `1/f`.
pub fn per_gate_decay(tau_ns: f64, rep_rate_hz: f64) -> f64 {
    let tau_gates = tau_ns * 1e-9 * rep_rate_hz;
    if tau_gates <= 0.0 {
        0.0
    } else {
        (-1.0 / tau_gates).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_db_halves_the_power() {
        // 10^(-0.3) = 0.501187..., independent derivation by hand.
        assert!((db_to_transmittance(3.0) - 0.501_187_233_627_272_2).abs() < 1e-15);
        assert_eq!(db_to_transmittance(0.0), 1.0);
    }

    #[test]
    fn dead_time_in_gates() {
        assert_eq!(ns_to_gates(100.0, 1.0e9), 100);
        assert_eq!(ns_to_gates(10.0, 1.25e9), 13); // 12.5 rounds to nearest even? no: round half away from zero
        assert_eq!(ns_to_gates(0.0, 1.0e9), 0);
    }

    #[test]
    fn decay_factor() {
        assert!((per_gate_decay(1.0, 1.0e9) - (-1f64).exp()).abs() < 1e-15);
        assert_eq!(per_gate_decay(0.0, 1.0e9), 0.0);
    }
}
