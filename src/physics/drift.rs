//! Polarisation drift: the channel's SU(2) rotation as an isotropic random walk on the
//! Poincaré sphere, and the expected matching-basis error it causes over time.
//!
//! # The walk
//! Following Czegledi, Karlsson, Agrell and Johannisson, "Polarization drift channel
//! model for coherent fibre-optic systems", Sci. Rep. 6, 21217 (2016), Eq. (6)-(8): over
//! a step of dt seconds the fibre's Jones matrix is multiplied by a random rotation
//! exp(-i theta . sigma / 2) whose three angles theta_1, theta_2, theta_3 are independent
//! Gaussians of variance sigma^2 dt, sigma^2 = `link.drift_rad2_per_s`
//! ([`super::polarization::su2_from_rotation_vector`]). Czegledi et al. write the step as
//! exp(-i alpha . sigma) with alpha ~ N(0, sigma_p^2 I), so their sigma_p^2 is
//! sigma^2 dt / 4 here (their alpha is our theta / 2, a Jones-space half angle). The
//! increments are independent and their law is invariant under rotations, so the walk is
//! isotropic: no Stokes axis is preferred. Within a step the rotation is constant
//! (`link.drift_step_s`); the walk is stepped at the multiples of dt from the first
//! pulse, composed onto the static misalignment ([`super::polarization`]).
//!
//! # The expected error, derived
//! On the Poincaré sphere a BB84 state is a unit Stokes vector s and Bob's projection
//! onto the state b succeeds with probability (1 + s' . b)/2 for the arriving vector s'.
//! The static channel maps the prepared s_0 to a vector with s . s_0 = 1 - 2 e_d (both
//! misalignment models). Write K(a) for the cross-product matrix of a vector a (K(a) v =
//! a x v). A rotation by theta is R = I + K(theta) + K(theta)^2 / 2 + O(|theta|^3); for
//! Gaussian angles of variance v = sigma^2 dt each, the odd terms average to zero and
//! E(K(theta)^2) = E(theta theta^T - |theta|^2 I) = v I - 3 v I = -2 v I, so
//! E(R) = (1 - v) I + O(v^2). Independent steps multiply: after time t,
//! E(R(t)) = (1 - sigma^2 dt)^(t/dt) I -> exp(-sigma^2 t) I as dt -> 0.
//! The expectation of a linear function of the rotated vector is that function of the
//! expected rotation, so the mean matched-basis error after time t from an alignment with
//! static error e_d is
//!
//! e(t) = (1 - (1 - 2 e_d) exp(-sigma^2 t)) / 2,
//!
//! rising from e_d to 1/2 with time constant 1/sigma^2 ([`expected_error`]). Exactly, for
//! Gaussian angles of variance v (Maxwell-distributed |theta|), E(cos |theta|) =
//! (1 - v) exp(-v/2) and E(R) = (1 + 2 E(cos |theta|)) / 3 I ([`step_contraction`]), which
//! differs from exp(-v) by O(v^2): below 1e-9 per step for the documented values.
//!
//! # Documented drift rates
//! - *Buried fibre*: 5e-6 rad^2/s. Neumann et al., "Continuous entanglement distribution
//!   over a transnational 248 km fiber link", Nat. Commun. 13, 6134 (2022), realigned
//!   their Vienna-Bratislava link (mostly buried) when the QBER passed 9 %, back below
//!   7 %, with stable periods of hours (longest 16 h 36 min). With e(t) from 7 % to 9 %,
//!   sigma^2 t = ln(0.86 / 0.82) = 0.048, i.e. about 2.6 h at 5e-6; from a 1 % alignment
//!   to 9 % takes ln(0.98 / 0.82) / 5e-6 = 9.9 h.
//! - *Aerial fibre*: 5e-5 rad^2/s, ten times faster (wind and temperature act on the
//!   exposed cable; field reports of aerial spans see polarisation changes about an order
//!   of magnitude faster than in ducts, and gusts on millisecond scales that this slow
//!   walk does not model: Ramos et al., Opt. Express 28, 5035 (2020) design for 8 ms
//!   transmission windows in extreme aerial conditions). 1 % to 9 % in about an hour.
//!
//! Must never depend on `protocol`, `estimation`, `postprocess`, `analysis` or `report`.

use super::polarization::su2_from_rotation_vector;
use nalgebra::Matrix2;
use num_complex::Complex64;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Documented drift rate of buried fibre, rad^2/s (see the module doc).
pub const BURIED_FIBRE_RAD2_PER_S: f64 = 5.0e-6;
/// Documented drift rate of aerial fibre, rad^2/s (see the module doc).
pub const AERIAL_FIBRE_RAD2_PER_S: f64 = 5.0e-5;

/// Expected matched-basis polarisation error t seconds after an alignment with static
/// error `e_d` under drift `sigma2` rad^2/s: e(t) = (1 - (1 - 2 e_d) exp(-sigma^2 t))/2
/// (module doc; Czegledi et al. 2016 walk).
pub fn expected_error(e_d: f64, sigma2: f64, t: f64) -> f64 {
    (1.0 - (1.0 - 2.0 * e_d) * (-sigma2 * t).exp()) / 2.0
}

/// Exact factor by which one step of Gaussian angles of variance `v` shrinks the mean
/// Stokes vector: E(R) = (1 + 2 (1 - v) exp(-v/2)) / 3 I (module doc).
pub fn step_contraction(v: f64) -> f64 {
    (1.0 + 2.0 * (1.0 - v) * (-v / 2.0).exp()) / 3.0
}

/// The drift of one link: its rate and step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    /// sigma^2, rad^2/s (`link.drift_rad2_per_s`), > 0.
    pub rad2_per_s: f64,
    /// dt, seconds (`link.drift_step_s`).
    pub step_s: f64,
}

impl Drift {
    /// Standard deviation of each angle of one step, sqrt(sigma^2 dt).
    pub fn step_std(&self) -> f64 {
        (self.rad2_per_s * self.step_s).sqrt()
    }

    /// One random step of the walk: exp(-i theta . sigma / 2), theta_i ~ N(0, sigma^2 dt).
    pub fn increment<R: Rng + ?Sized>(&self, rng: &mut R) -> Matrix2<Complex64> {
        let sd = self.step_std();
        let theta: [f64; 3] = std::array::from_fn(|_| {
            let z: f64 = StandardNormal.sample(rng);
            z * sd
        });
        su2_from_rotation_vector(theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::polarization::{Basis, MisalignmentModel, Preparation, SplitTable};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn law_starts_at_e_d_and_tends_to_one_half() {
        assert!((expected_error(0.01, 5e-6, 0.0) - 0.01).abs() < 1e-15);
        assert!((expected_error(0.01, 5e-6, 1e9) - 0.5).abs() < 1e-12);
        // The documented buried-fibre figure: 1 % to 9 % in ln(0.98/0.82)/5e-6 s = 9.9 h.
        let t = (0.98f64 / 0.82).ln() / BURIED_FIBRE_RAD2_PER_S;
        assert!((expected_error(0.01, BURIED_FIBRE_RAD2_PER_S, t) - 0.09).abs() < 1e-12);
        assert!((t / 3600.0 - 9.9).abs() < 0.05);
    }

    #[test]
    fn step_contraction_matches_exp_to_second_order() {
        for v in [1e-8, 1e-5, 1e-3, 1e-2] {
            let d = (step_contraction(v) - (-v).exp()).abs();
            // Expanding both: the difference is v^2 / 4 + O(v^3).
            assert!(d <= 0.3 * v * v, "v {v}: {d}");
        }
    }

    #[test]
    fn mean_rotated_error_follows_the_exact_step_law() {
        // Monte Carlo over walks: the matched-basis error of H after n steps, averaged over
        // walks, against (1 - (1 - 2 e_d) c^n)/2 with the exact per-step contraction c.
        // Bound: 5 standard errors of the sample mean (the sample's own deviation).
        let drift = Drift {
            rad2_per_s: 0.02,
            step_s: 1.0,
        };
        let e_d = 0.02;
        let walks = 4000;
        let steps = [1usize, 5, 20, 60];
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut sums = [0.0f64; 4];
        let mut sq = [0.0f64; 4];
        for _ in 0..walks {
            let mut w = Matrix2::identity();
            for n in 1..=60 {
                w = drift.increment(&mut rng) * w;
                if let Some(i) = steps.iter().position(|&s| s == n) {
                    let t = SplitTable::from_channel(MisalignmentModel::Rotation, e_d, &w);
                    let h = Preparation {
                        basis: Basis::Z,
                        bit: false,
                    };
                    let err = t.split(h, Basis::Z)[1];
                    sums[i] += err;
                    sq[i] += err * err;
                }
            }
        }
        let c = step_contraction(drift.rad2_per_s * drift.step_s);
        for (i, &n) in steps.iter().enumerate() {
            let mean = sums[i] / walks as f64;
            let var = sq[i] / walks as f64 - mean * mean;
            let se = (var / walks as f64).sqrt();
            let want = (1.0 - (1.0 - 2.0 * e_d) * c.powi(n as i32)) / 2.0;
            assert!(
                (mean - want).abs() < 5.0 * se,
                "n {n}: mean {mean}, law {want}, se {se}"
            );
            // The continuous law e(t) differs from the step law by at most
            // (1 - 2 e_d)/2 n |c - exp(-v)| <= 0.15 n v^2 (above): 3.6e-3 at n = 60, so it
            // passes the same 5-sigma test plus that bound.
            let cont = expected_error(e_d, drift.rad2_per_s, n as f64 * drift.step_s);
            let v = drift.rad2_per_s * drift.step_s;
            assert!(
                (mean - cont).abs() < 5.0 * se + 0.15 * n as f64 * v * v,
                "n {n}: mean {mean}, e(t) {cont}, se {se}"
            );
        }
    }
}
