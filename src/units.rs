//! Unit conversions, in one place. Scenario keys carry their unit in the name
//! (`length_km`, `dead_time_ns`, `rep_rate_hz`); everything inside the library is in SI
//! base units or in counts of gates (pulse slots), converted here.
//!
//! Must never depend on any other module of the crate.

/// Fibre (or component) loss in dB turned into a power transmittance: `10^(-dB/10)`.
pub fn db_to_transmittance(loss_db: f64) -> f64 {
    10f64.powf(-loss_db / 10.0)
}

/// Relative distance from a whole number within which a dead time counted in gate periods
/// is taken to *be* that whole number. The scenario's decimal values are not exact in
/// binary, so their product can land a few ulps either side of the whole number it means
/// (0.909090909091 ns at 1.1 GHz gives 1.0000000000001 periods; 15 ns at 1 GHz computed as
/// `15.0 * 1e9 * 1e-9` gives 15.000000000000002, and a bare `ceil` would add a gate).
/// 1e-9 is far above that noise (about 1e-12 for inputs typed to 12 digits) and far below
/// any dead time a user means (a billionth of a gate period).
pub const WHOLE_GATES_TOLERANCE: f64 = 1e-9;

/// Number of gates a detector is blind after a click, for a dead time in nanoseconds at a
/// gate (repetition) rate in Hz.
///
/// Rule: a gate is blind when it *starts* before the dead time ends. The click happens in
/// gate t, at that gate's start; the dead time lasts x = dead_time_ns * 1e-9 * rep_rate_hz
/// gate periods; gate t + k (k >= 1) starts k periods later and is blind iff k < x. So the
/// blind gates are t + 1 ..= t + D with
///
/// D = ceil(x) - 1 for x > 0 (that is floor(x) when x is not a whole number, x - 1 when it
/// is), and D = 0 for x = 0.
///
/// Examples: 20 ns at 1 GHz is x = 20, gates t+1 ..= t+19 are blind and gate t+20 starts
/// exactly when the dead time ends, so it is live (D = 19); 10 ns at 1.25 GHz is x = 12.5,
/// D = 12; 10.4 ns at 1.25 GHz is x = 13, D = 12; 0.5 ns at 1 GHz is x = 0.5, D = 0 (the
/// next gate starts after the dead time). Values of x within [`WHOLE_GATES_TOLERANCE`]
/// (relative) of a whole number count as that whole number, so float noise in the product
/// never adds or drops a gate. x is computed as `dead_time_ns * rep_rate_hz / 1e9`
/// (1e9 is exact in binary, 1e-9 is not: of the dead times in 0.1 ns steps up to 200 ns
/// that are whole numbers of periods at 0.1, 1, 1.25, 2, 2.5 or 5 GHz, dividing gives
/// every one exactly, multiplying misses 406). Non-finite or non-positive inputs give 0; the scenario validation rejects them
/// before they get here.
pub fn dead_time_gates(dead_time_ns: f64, rep_rate_hz: f64) -> u64 {
    let x = dead_time_ns * rep_rate_hz / 1e9;
    if !(x.is_finite() && x > 0.0) {
        return 0;
    }
    let nearest = x.round();
    let gates = if (x - nearest).abs() <= WHOLE_GATES_TOLERANCE * nearest.max(1.0) {
        // A whole number n of periods: gates 1 ..= n - 1 start before the end.
        nearest - 1.0
    } else {
        // ceil(x) - 1 = floor(x) for a non-whole x.
        x.floor()
    };
    if gates <= 0.0 {
        0
    } else if gates >= u64::MAX as f64 {
        u64::MAX
    } else {
        gates as u64
    }
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
    fn dead_time_in_gates_counts_the_gates_that_start_before_it_ends() {
        // Whole numbers of gate periods: the gate starting exactly at the end is live.
        assert_eq!(dead_time_gates(20.0, 1.0e9), 19);
        assert_eq!(dead_time_gates(100.0, 1.0e9), 99);
        assert_eq!(dead_time_gates(10.0, 1.0e9), 9);
        assert_eq!(dead_time_gates(1.0, 1.0e9), 0);
        // 1.25 GHz (0.8 ns gates): 10 ns is 12.5 periods, gates 1..=12 start before the end.
        assert_eq!(dead_time_gates(10.0, 1.25e9), 12);
        // 10.4 ns is 13 periods (the f64 product is not exactly 13): gate 13 starts
        // exactly at the end and is live.
        assert_eq!(dead_time_gates(10.4, 1.25e9), 12);
        // 10.5 ns is 13.125 periods: gate 13 starts at 10.4 ns, before the end.
        assert_eq!(dead_time_gates(10.5, 1.25e9), 13);
        assert_eq!(dead_time_gates(0.8, 1.25e9), 0);
        assert_eq!(dead_time_gates(0.81, 1.25e9), 1);
        // Less than one period: the next gate starts after the end.
        assert_eq!(dead_time_gates(0.5, 1.0e9), 0);
        assert_eq!(dead_time_gates(0.0, 1.0e9), 0);
        assert_eq!(dead_time_gates(-1.0, 1.0e9), 0);
        assert_eq!(dead_time_gates(f64::NAN, 1.0e9), 0);
    }

    #[test]
    fn whole_numbers_of_periods_survive_float_noise() {
        // Every whole number of periods n written as a decimal dead time in ns at common
        // gate rates gives n - 1 blind gates, whatever the rounding of the product.
        for rate in [1.0e9, 1.25e9, 2.5e9, 1.0e8, 2.0e6, 3.0e9] {
            let period_ns = 1e9 / rate;
            for n in 1..=2000u64 {
                // The decimal a user would type: the period times n, printed to 12 digits.
                let typed: f64 = format!("{:.12}", n as f64 * period_ns).parse().unwrap();
                assert_eq!(
                    dead_time_gates(typed, rate),
                    n - 1,
                    "{typed} ns at {rate} Hz"
                );
            }
        }
    }

    #[test]
    fn decay_factor() {
        assert!((per_gate_decay(1.0, 1.0e9) - (-1f64).exp()).abs() < 1e-15);
        assert_eq!(per_gate_decay(0.0, 1.0e9), 0.0);
    }
}
