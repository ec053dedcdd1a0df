//! Helpers shared by the statistical integration tests.

/// Asserts |observed - trials p| <= 5 sigma, sigma the binomial standard error of `trials`
/// (at least 1, so that tiny expectations are not held to a fraction of one count).
pub fn within_5_sigma(what: &str, observed: u64, trials: u64, p: f64) {
    let sigma = (trials as f64 * p * (1.0 - p)).sqrt().max(1.0);
    let dev = (observed as f64 - trials as f64 * p).abs();
    assert!(
        dev <= 5.0 * sigma,
        "{what}: observed {observed} of {trials}, expected {:.1} (sigma {sigma:.1}, {:.2} sigma off)",
        trials as f64 * p,
        dev / sigma
    );
}
