//! Decoy-state linear bounds for three intensities mu1 > mu2 + mu3, mu2 > mu3 >= 0.
//!
//! The bounds follow Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eqs. 2-4.
//! They work on *scaled* counts n*_k = e^{mu_k} / p_k * n_k (Lim's n^±_{X,k} without or
//! with the Hoeffding deviation), which estimate sum_n mu_k^n / n! * s_n / tau_n, s_n the
//! number of n-photon events of the basis and tau_n the probability that Alice sends n
//! photons. With no deviation and per-pulse rates in place of counts the same expressions
//! are the asymptotic vacuum + weak decoy estimates of Ma, Qi, Zhao, Lo (PRA 72, 012326,
//! 2005): for mu3 = 0, Eq. 3 below is their Eq. 34 for Y1 and Eq. 4 divided by Y1 their
//! Eq. 37 for e1 (a test checks this identity).
//!
//! Must never depend on anything but the standard library and [`super::entropy`].

use super::entropy::binary_relative_entropy;

/// Indices of the (signal mu1, weak decoy mu2, vacuum or near-vacuum mu3) classes among
/// `mean_photon_numbers`: mu1 the largest, mu3 the smallest, mu2 the next smallest.
/// Classes beyond three still count in tau_n and in the key, but not in the bounds.
///
/// Fails with a reason when there are fewer than three classes, when mu2 = mu3, or when
/// mu1 > mu2 + mu3 does not hold (Lim et al. 2014, Sec. II, needed for Eq. 3).
pub fn select_intensities(mean_photon_numbers: &[f64]) -> Result<[usize; 3], String> {
    let n = mean_photon_numbers.len();
    if n < 3 {
        return Err(format!(
            "the decoy-state bounds need three intensity classes (signal, weak decoy, vacuum or near-vacuum), got {n}"
        ));
    }
    if let Some(bad) = mean_photon_numbers
        .iter()
        .find(|m| !(m.is_finite() && **m >= 0.0))
    {
        return Err(format!(
            "mean photon numbers must be finite and >= 0, got {bad}"
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| mean_photon_numbers[a].total_cmp(&mean_photon_numbers[b]));
    let (i3, i2, i1) = (order[0], order[1], order[n - 1]);
    let (m1, m2, m3) = (
        mean_photon_numbers[i1],
        mean_photon_numbers[i2],
        mean_photon_numbers[i3],
    );
    if m2 <= m3 {
        return Err(format!(
            "the weak decoy must be brighter than the weakest class: the two smallest mean photon numbers are both {m3}"
        ));
    }
    if m1 <= m2 + m3 {
        return Err(format!(
            "the decoy-state bounds need mu1 > mu2 + mu3 (Lim et al. 2014), got mu1 = {m1}, mu2 = {m2}, mu3 = {m3}"
        ));
    }
    Ok([i1, i2, i3])
}

/// tau_n = sum_k p_k e^{-mu_k} mu_k^n / n!: the probability that Alice sends an n-photon
/// pulse (Lim et al. 2014, definition after Eq. 2). `classes` holds (mu_k, p_k).
pub fn tau(n: u32, classes: &[(f64, f64)]) -> f64 {
    let fact: f64 = (1..=n).map(f64::from).product();
    classes
        .iter()
        .map(|&(mu, p)| p * (-mu).exp() * mu.powi(n as i32) / fact)
        .sum()
}

/// The three intensities of a bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intensities {
    /// Signal mu1.
    pub mu1: f64,
    /// Weak decoy mu2.
    pub mu2: f64,
    /// Vacuum or near-vacuum mu3.
    pub mu3: f64,
}

/// Lower bound on the vacuum events s_0 of a basis, Lim et al. 2014 Eq. 2:
/// s_0 >= tau0 (mu2 n^-_{mu3} - mu3 n^+_{mu2}) / (mu2 - mu3), clipped at 0 (a count is
/// never negative, so the clipped value is still a valid lower bound).
pub fn vacuum_lower(tau0: f64, mu: Intensities, n_minus_mu3: f64, n_plus_mu2: f64) -> f64 {
    let s0 = tau0 * (mu.mu2 * n_minus_mu3 - mu.mu3 * n_plus_mu2) / (mu.mu2 - mu.mu3);
    finite_non_negative(s0)
}

/// Lower bound on the single-photon events s_1 of a basis, Lim et al. 2014 Eq. 3:
///
/// s_1 >= tau1 mu1 [n^-_{mu2} - n^+_{mu3} - (mu2^2 - mu3^2)/mu1^2 (n^+_{mu1} - s_0/tau0)]
///        / (mu1 (mu2 - mu3) - mu2^2 + mu3^2),
///
/// clipped at 0. `s0` is the lower bound of [`vacuum_lower`] (a larger s_0 raises the
/// bound, so its lower bound keeps the result valid).
pub fn single_photon_lower(
    tau0: f64,
    tau1: f64,
    mu: Intensities,
    n_plus_mu1: f64,
    n_minus_mu2: f64,
    n_plus_mu3: f64,
    s0: f64,
) -> f64 {
    finite_non_negative(single_photon_lower_unclipped(
        tau0,
        tau1,
        mu,
        n_plus_mu1,
        n_minus_mu2,
        n_plus_mu3,
        s0,
    ))
}

/// Eq. 3 of Lim et al. 2014 before clipping at zero (may be negative; 0 if not finite).
/// A negative value says how far the data are from certifying any single photon, which
/// gives an optimiser a slope where no key exists.
pub fn single_photon_lower_unclipped(
    tau0: f64,
    tau1: f64,
    mu: Intensities,
    n_plus_mu1: f64,
    n_minus_mu2: f64,
    n_plus_mu3: f64,
    s0: f64,
) -> f64 {
    let Intensities { mu1, mu2, mu3 } = mu;
    let vacuum_term = if tau0 > 0.0 { s0 / tau0 } else { 0.0 };
    let num = n_minus_mu2
        - n_plus_mu3
        - (mu2 * mu2 - mu3 * mu3) / (mu1 * mu1) * (n_plus_mu1 - vacuum_term);
    let den = mu1 * (mu2 - mu3) - mu2 * mu2 + mu3 * mu3;
    let s1 = tau1 * mu1 * num / den;
    if s1.is_finite() { s1 } else { 0.0 }
}

/// Upper bound on the bit errors v_1 of the single-photon events in the test basis, Lim et
/// al. 2014 Eq. 4: v_1 <= tau1 (m^+_{mu2} - m^-_{mu3}) / (mu2 - mu3), clipped at 0.
pub fn single_photon_errors_upper(
    tau1: f64,
    mu: Intensities,
    m_plus_mu2: f64,
    m_minus_mu3: f64,
) -> f64 {
    finite_non_negative(tau1 * (m_plus_mu2 - m_minus_mu3) / (mu.mu2 - mu.mu3))
}

/// Lim's deviated count n^±_k = e^{mu_k} / p_k (n_k ± delta) (Lim et al. 2014, definition
/// after Eq. 2; m^±_k after Eq. 4 likewise): pass `deviation` = +delta for n^+, -delta for
/// n^-, 0 for the asymptotic n*_k. Used as printed, also when n_k - delta < 0.
pub fn scaled_count(mean_photon_number: f64, probability: f64, count: f64, deviation: f64) -> f64 {
    mean_photon_number.exp() / probability * (count + deviation)
}

/// Hoeffding deviation sqrt(n / 2 ln(21 / eps_sec)) of Lim et al. 2014 (definition of
/// n^±_{X,k} after Eq. 2, and of m^± after Eq. 4; natural log, Appendix A Eq. A1 with
/// eps1 = eps_sec / 21). ln(21/eps) is taken as ln 21 - ln eps, so that it stays finite for
/// every positive f64 eps, subnormals included.
pub fn hoeffding_deviation(total: f64, epsilon_sec: f64) -> f64 {
    finite_non_negative((total.max(0.0) / 2.0 * (21f64.ln() - epsilon_sec.ln())).sqrt())
}

/// The finite-size correction gamma(a, b, c, d) of the phase-error bound, Lim et al. 2014
/// Eq. 5 (and Eq. B2 with a = eps_sec / 21 folded into the 21^2):
///
/// gamma = sqrt( (c + d)(1 - b) b / (c d ln 2) * log2( (c + d) / (c d (1 - b) b) * 21^2 / a^2 ) ).
///
/// With the key basis Z: a = eps_sec, b = v_{X,1}/s_{X,1}, c = s_{X,1} (test basis),
/// d = s_{Z,1} (key basis); gamma is symmetric in c and d. "log 2" of the printed formula is
/// read as ln 2. b is clamped to [0, 1/2]. The logarithm is evaluated as log2((c+d)/(cd))
/// + 2 (log2 21 - log2 a) - log2((1-b)b), finite for every positive f64 a.
///
/// One change to the printed closed form, which is a Gaussian approximation of the
/// hypergeometric tail (Fung, Ma, Chau, PRA 81, 012318, 2010; Lim's Ref. 31): with
/// K = (c + d)/(c d) 21^2/a^2, gamma^2 is proportional to x log2(K/x) with x = (1-b)b, which
/// peaks at x = K/e and *falls* beyond it as the error rate rises. x is therefore capped at
/// K/e, so gamma never decreases as b grows (and stays positive where the printed
/// logarithm would turn negative). The cap is active only when K/e < 1/4, i.e.
/// (1/c + 1/d) 21^2/a^2 < 0.68: eps_sec above ~1e-3 with ~1e9 single-photon events, never in
/// the test vectors; elsewhere this is the printed formula.
///
/// As b -> 0 the expression tends to 0 and 0 is returned for b = 0: on its own the printed
/// bound then has no sampling penalty at all, which is wrong (with K = 1 phase error among
/// c = 300 test and d = 900 key events, no test error is seen with probability 3/4). Use
/// [`phase_error_upper`], which adds the rigorous [`phase_error_sampling_bound`].
/// Returns +infinity when c or d is not positive (no bound).
pub fn phase_error_gamma(a: f64, b: f64, c: f64, d: f64) -> f64 {
    if !(c > 0.0 && d > 0.0) {
        return f64::INFINITY;
    }
    let b = if b.is_nan() { 0.5 } else { b.clamp(0.0, 0.5) };
    if b <= 0.0 {
        return 0.0;
    }
    let inv = 1.0 / c + 1.0 / d; // (c + d) / (c d)
    let log2_k = inv.log2() + 2.0 * (21f64.log2() - a.log2());
    // x = (1 - b) b, capped at K/e (2^(log2 K - log2 e); +inf when K overflows: no cap).
    let x = ((1.0 - b) * b).min((log2_k - std::f64::consts::LOG2_E).exp2());
    let log_term = log2_k - x.log2();
    let g = (inv * x / std::f64::consts::LN_2 * log_term)
        .max(0.0)
        .sqrt();
    if g.is_nan() { f64::INFINITY } else { g }
}

/// A rigorous upper bound on the phase-error rate of the key basis's single-photon events
/// from the test basis's single-photon error rate `b`, by the method of types; unlike
/// Lim's closed form it keeps a sampling penalty at b = 0.
///
/// Returns the smallest phi > b with
///
/// c D(b || mu) + d D(phi || mu) >= log2( sqrt(2 n) / (1 - r) ) + log2(21 / eps_sec),
/// mu = (c b + d phi) / (c + d),  r = b (1 - phi) / ((1 - b) phi),
///
/// D the binary relative entropy in bits ([`super::entropy::binary_relative_entropy`]),
/// c = s_{X,1} (test), d = s_{Z,1} (key), and n = `observed_total` >= c + d, the sifted bits
/// of both bases (an upper bound on the single-photon events that does not depend on c, d).
/// Returns 1 when no phi <= 1 qualifies (or for invalid input): no bound.
///
/// Derivation (the random-sampling step of Lim et al. 2014, Eq. B2, made rigorous): the c
/// test positions are a uniformly random subset of the N = c + d single-photon events, K of
/// which carry a phase error; the number J of test errors is hypergeometric with
/// P(J = j) = C(c, j) C(d, K - j) / C(N, K). With C(n, k) <= 2^{n h(k/n)} and
/// C(N, K) >= 2^{N h(K/N)} / sqrt(8 K (N - K)/N) (MacWilliams and Sloane, The Theory of
/// Error-Correcting Codes, 1977, Ch. 10, Lemma 7), and 8 K (N - K)/N <= 2N,
/// P(J = j) <= sqrt(2N) 2^{-[c D(j/c || mu) + d D((K-j)/d || mu)]} with mu = K/N (the
/// exponent is N times the Jensen gap of h, Fung, Ma, Chau, PRA 81, 012318, 2010). Below the
/// mean the probabilities fall geometrically, P(J = j - 1) / P(J = j) <= r, so
/// P(J <= c b) <= sqrt(2N) 2^{-...} / (1 - r) <= eps_sec / 21: the phase-error rate of the
/// key exceeds phi with at most the probability Lim et al. allot to Eq. B2, whatever K.
/// The result rises with b and falls with c and d (the exponent grows with c and d), so
/// the decoy-state bounds (v_{X,1} upper, s_{X,1} and s_{Z,1} lower) may stand in for the
/// unknown true values. At b = 0 it is about log2(sqrt(2n) 21/eps_sec) (1/c + 1/d)
/// (~45/n for c = d = n = 1e4, eps_sec = 1e-10; the exact hypergeometric tail needs ~38/n)
/// and falls as the block grows.
///
/// Solved by a bracketing root search on phi (the left side rises and r falls with phi) to
/// a few ulps; the returned end of the bracket always satisfies the inequality.
pub fn phase_error_sampling_bound(
    epsilon_sec: f64,
    b: f64,
    c: f64,
    d: f64,
    observed_total: f64,
) -> f64 {
    match SamplingBound::new(epsilon_sec, b, c, d, observed_total) {
        Some(s) => s.root(),
        None => 1.0,
    }
}

/// The inequality of [`phase_error_sampling_bound`] for fixed (eps_sec, b, c, d, n).
struct SamplingBound {
    b: f64,
    c: f64,
    d: f64,
    /// log2(sqrt(2n)) + log2(21/eps_sec).
    needed: f64,
}

impl SamplingBound {
    /// None for input that admits no bound (then phi = 1).
    fn new(epsilon_sec: f64, b: f64, c: f64, d: f64, observed_total: f64) -> Option<Self> {
        let valid_sizes = c > 0.0 && d > 0.0 && c.is_finite() && d.is_finite();
        let valid_eps = epsilon_sec > 0.0;
        if !valid_sizes || !valid_eps || b.is_nan() || b >= 1.0 {
            return None;
        }
        let n_total = observed_total.max(c + d);
        Some(SamplingBound {
            b: b.max(0.0),
            c,
            d,
            needed: 0.5 * (2.0 * n_total).log2() + 21f64.log2() - epsilon_sec.log2(),
        })
    }

    /// Left side minus right side at phi: >= 0 iff phi is an admissible bound. Increasing
    /// in phi on (b, 1]; -infinity at phi = b > 0.
    fn excess(&self, phi: f64) -> f64 {
        let (b, c, d) = (self.b, self.c, self.d);
        let mu = (c * b + d * phi) / (c + d);
        let r = b * (1.0 - phi) / ((1.0 - b) * phi);
        c * binary_relative_entropy(b, mu) + d * binary_relative_entropy(phi, mu) + (1.0 - r).log2()
            - self.needed
    }

    /// Whether phi satisfies the inequality (false for NaN).
    fn admits(&self, phi: f64) -> bool {
        self.excess(phi) >= 0.0
    }

    /// The smallest admissible phi (1 when even phi = 1 is not).
    fn root(&self) -> f64 {
        let (b, c, d) = (self.b, self.c, self.d);
        let f_one = self.excess(1.0);
        if !self.admits(1.0) {
            return 1.0; // even phi = 1 falls short (or NaN): no bound
        }
        // Bracket the root around a first guess: the Gaussian width sqrt(2 ln2 b(1-b) L
        // (1/c + 1/d)) for b > 0, L / (d log2(N/d)) at b = 0 (the exponent's leading
        // terms), then halve or double the distance from b until the sign changes.
        let step = if b > 0.0 {
            (2.0 * std::f64::consts::LN_2 * b * (1.0 - b) * self.needed * (1.0 / c + 1.0 / d))
                .sqrt()
        } else {
            self.needed / (d * ((c + d) / d).log2())
        };
        let step = if step.is_finite() && step > 0.0 {
            step.min(1.0 - b)
        } else {
            0.5 * (1.0 - b)
        };
        let (mut lo, mut f_lo, mut hi, mut f_hi) = (b, f64::NEG_INFINITY, 1.0, f_one);
        let mut x = b + step;
        for _ in 0..1100 {
            if x <= lo || x >= hi {
                break;
            }
            let fx = self.excess(x);
            if fx >= 0.0 {
                hi = x;
                f_hi = fx;
                if f_lo.is_finite() {
                    break;
                }
                x = b + 0.5 * (x - b);
            } else {
                lo = x;
                f_lo = fx;
                if hi < 1.0 {
                    break;
                }
                x = b + 2.0 * (x - b);
            }
        }
        smallest_root(|phi| self.excess(phi), lo, f_lo, hi, f_hi)
    }
}

/// The root of an increasing `f` in (lo, hi], with f(lo) = `f_lo` < 0 (possibly -infinity)
/// and f(hi) = `f_hi` >= 0, to a few ulps: the returned end of the bracket always has
/// f >= 0, so stopping early errs on the large side. Regula falsi with the Illinois
/// modification (Dowell and Jarratt, BIT 11, 168, 1971: the retained end's value is halved,
/// which makes convergence superlinear), and a bisection step whenever the secant is not
/// usable (an infinite end).
fn smallest_root(
    f: impl Fn(f64) -> f64,
    mut lo: f64,
    mut f_lo: f64,
    mut hi: f64,
    mut f_hi: f64,
) -> f64 {
    let mut side = 0i8; // +1: hi moved last, -1: lo moved last
    for _ in 0..400 {
        let width = hi - lo;
        if width <= 4.0 * f64::EPSILON * hi {
            break;
        }
        let secant = hi - f_hi * width / (f_hi - f_lo);
        let x = if f_lo.is_finite() && secant > lo && secant < hi {
            secant
        } else {
            lo + 0.5 * width
        };
        if x <= lo || x >= hi {
            break;
        }
        let fx = f(x);
        if fx >= 0.0 {
            hi = x;
            f_hi = fx;
            if side == 1 {
                f_lo *= 0.5;
            }
            side = 1;
        } else {
            lo = x;
            f_lo = fx;
            if side == -1 {
                f_hi *= 0.5;
            }
            side = -1;
        }
    }
    hi
}

/// Upper bound phi on the phase-error rate of the single-photon key bits, Lim et al. 2014
/// Eq. 5 kept and made safe at zero errors:
///
/// phi = max( b + gamma(eps_sec, b, c, d),  phase_error_sampling_bound(eps_sec, b, c, d, n) ),
///
/// b = v_{X,1}/s_{X,1}, c = s_{X,1}, d = s_{Z,1}, n = the sifted bits of both bases. The
/// second term is a rigorous bound at the failure probability eps_sec/21 that Lim et al.
/// allot to the first, so the maximum holds with that probability too; the first keeps
/// the result never below Lim's printed bound. In practice Lim's term binds at typical error
/// rates and the rigorous term near zero errors, where Lim's vanishes. Not capped (callers
/// cap at 1/2); nondecreasing in b and eps_sec^-1, nonincreasing in c and d.
pub fn phase_error_upper(epsilon_sec: f64, b: f64, c: f64, d: f64, observed_total: f64) -> f64 {
    phase_error_upper_and_term(epsilon_sec, b, c, d, observed_total).0
}

/// [`phase_error_upper`] and whether Lim's b + gamma is the larger term. When it is, one
/// evaluation of the rigorous inequality at b + gamma shows it (the inequality's smallest
/// solution is then below), and the root is not searched: the common case costs about as
/// much as Lim's formula alone.
pub fn phase_error_upper_and_term(
    epsilon_sec: f64,
    b: f64,
    c: f64,
    d: f64,
    observed_total: f64,
) -> (f64, bool) {
    let lim = b + phase_error_gamma(epsilon_sec, b, c, d);
    let Some(sampling) = SamplingBound::new(epsilon_sec, b, c, d, observed_total) else {
        return (lim.max(1.0), lim >= 1.0);
    };
    if lim.is_finite() && lim <= 1.0 && sampling.admits(lim) {
        return (lim, true);
    }
    let root = sampling.root();
    let phi = lim.max(root);
    if phi.is_nan() {
        (1.0, false)
    } else {
        (phi, lim >= root)
    }
}

fn finite_non_negative(x: f64) -> f64 {
    if x.is_finite() { x.max(0.0) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_orders_by_intensity() {
        assert_eq!(select_intensities(&[0.1, 0.5, 0.0]).unwrap(), [1, 0, 2]);
        assert!(select_intensities(&[0.5, 0.0]).is_err());
        assert!(select_intensities(&[0.3, 0.2, 0.15]).is_err()); // 0.3 < 0.35
        assert!(select_intensities(&[0.5, 0.1, 0.1]).is_err());
    }

    #[test]
    fn exact_yields_satisfy_the_bounds_with_equality_in_the_ideal_case() {
        // Independent derivation: if only vacuum and single photons are ever detected
        // (Y_n = 0 for n >= 2), Eqs. 2 and 3 are exact. Build n*_k = Y0 + mu_k Y1 and check.
        let mu = Intensities {
            mu1: 0.6,
            mu2: 0.2,
            mu3: 0.0,
        };
        let (y0, y1) = (1e-5, 0.03);
        let classes = [(0.6, 0.5), (0.2, 0.3), (0.0, 0.2)];
        let (t0, t1) = (tau(0, &classes), tau(1, &classes));
        let star = |m: f64| y0 + m * y1;
        let s0 = vacuum_lower(t0, mu, star(0.0), star(0.2));
        assert!((s0 - t0 * y0).abs() < 1e-15);
        let s1 = single_photon_lower(t0, t1, mu, star(0.6), star(0.2), star(0.0), s0);
        // With Y_n = 0 for n >= 2 the numerator is Y1 (mu2 - mu3 - (mu2^2 - mu3^2)/mu1),
        // mu1 times which is the denominator, so s1 = tau1 Y1 exactly; relative tolerance
        // 1e-12 (floating-point rounding only).
        assert!(
            (s1 - t1 * y1).abs() / (t1 * y1) < 1e-12,
            "{s1} vs {}",
            t1 * y1
        );
    }

    #[test]
    fn gamma_is_small_for_large_samples_and_zero_without_errors() {
        assert_eq!(phase_error_gamma(1e-10, 0.0, 1e6, 1e6), 0.0);
        let g = phase_error_gamma(1e-10, 0.02, 1e8, 1e8);
        assert!(g > 0.0 && g < 1e-3, "{g}");
        assert!(phase_error_gamma(1e-10, 0.02, 0.0, 1e8).is_infinite());
    }
}
