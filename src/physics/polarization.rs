//! Polarisation encoding: BB84 states as Jones vectors, the channel as an SU(2) rotation,
//! and Bob's projective measurement.
//!
//! Alice sends |H>, |V> (Z basis, bits 0 and 1) or |D>, |A> (X basis). The fibre applies a
//! unitary U in SU(2) (a rotation of the Poincaré sphere). Bob measures in Z or X; a photon
//! reaching him lands on the detector for bit j of his basis with probability
//! |<b_j| U |psi>|^2 (Born rule).
//!
//! Static misalignment e_d: U is the rotation of the linear polarisation by the angle
//! phi = arcsin(sqrt(e_d)), i.e. a rotation by 2 phi about the S3 (circular) axis of the
//! Poincaré sphere. It maps |H> to cos(phi)|H> + sin(phi)|V>, so a photon measured in its
//! own basis reaches the wrong detector with probability sin^2(phi) = e_d in *both* bases,
//! which is the e_d of Lo, Ma, Chen (PRL 94, 230504, 2005, Eq. 8). No single rotation can in
//! addition keep mismatched-basis outcomes at exactly 1/2 (a rotation leaving both the S1
//! and S2 components unbiased must fix one of them), so with this U a photon measured in
//! the other basis reaches detector 0 with probability (1 ± sin 2 phi)/2. That bias only
//! touches discarded (basis-mismatched) events and double clicks; the closed-form theory
//! uses the same table, so simulation and theory describe the same channel.
//!
//! Two models of the static error (`link.misalignment_model`):
//! - *rotation* (the default, above): one SU(2) rotation; its mismatched-basis bias is
//!   about 40/60 at e_d = 1 % (sin 2 phi = 0.199).
//! - *depolarizing*: each photon independently keeps its polarisation with probability
//!   1 - p and is replaced by the maximally mixed state with probability p = 2 e_d, so
//!   rho -> (1 - p) rho + p I/2. A photon measured in its own basis then reaches the wrong
//!   detector with probability p/2 = e_d and one measured in the other basis goes either
//!   way with probability exactly 1/2: the unbiased channel the literature's e_d describes
//!   (Lo, Ma, Chen 2005 take e_d as "the probability that a photon hit the erroneous
//!   detector", with no preference in the discarded basis; Ma, Qi, Zhao, Lo, PRA 72,
//!   012326 (2005), Eq. 3 likewise). On the Poincaré sphere it shrinks every Stokes vector
//!   by 1 - 2 e_d.
//!
//! Drift ([`super::drift`]) composes a random rotation W onto either: the channel is
//! W U_ed (rotation model) or the depolarising map followed by W (depolarising model;
//! the two commute, a depolarising channel being rotation-invariant).
//!
//! Must never depend on anything but nalgebra.

use nalgebra::{Matrix2, Vector2};
use num_complex::Complex64;

/// A measurement or preparation basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    /// Rectilinear: H (bit 0) and V (bit 1).
    Z,
    /// Diagonal: D (bit 0) and A (bit 1).
    X,
}

impl Basis {
    /// Both bases, Z first.
    pub const BOTH: [Basis; 2] = [Basis::Z, Basis::X];

    /// Index 0 for Z, 1 for X.
    pub fn index(self) -> usize {
        match self {
            Basis::Z => 0,
            Basis::X => 1,
        }
    }
}

/// A BB84 state Alice prepares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Preparation {
    /// Basis.
    pub basis: Basis,
    /// Bit value (false = 0).
    pub bit: bool,
}

impl Preparation {
    /// All four BB84 states: Z0, Z1, X0, X1.
    pub const ALL: [Preparation; 4] = [
        Preparation {
            basis: Basis::Z,
            bit: false,
        },
        Preparation {
            basis: Basis::Z,
            bit: true,
        },
        Preparation {
            basis: Basis::X,
            bit: false,
        },
        Preparation {
            basis: Basis::X,
            bit: true,
        },
    ];

    /// Index 0..4 in [`Preparation::ALL`] order.
    pub fn index(self) -> usize {
        self.basis.index() * 2 + self.bit as usize
    }

    /// The Jones vector of this state.
    pub fn jones(self) -> Vector2<Complex64> {
        basis_state(self.basis, self.bit)
    }
}

/// Jones vector of bit `bit` of basis `basis`.
pub fn basis_state(basis: Basis, bit: bool) -> Vector2<Complex64> {
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let c = |x: f64| Complex64::new(x, 0.0);
    match (basis, bit) {
        (Basis::Z, false) => Vector2::new(c(1.0), c(0.0)),
        (Basis::Z, true) => Vector2::new(c(0.0), c(1.0)),
        (Basis::X, false) => Vector2::new(c(s), c(s)),
        (Basis::X, true) => Vector2::new(c(s), c(-s)),
    }
}

/// The SU(2) matrix rotating linear polarisation by `phi` radians.
pub fn linear_rotation(phi: f64) -> Matrix2<Complex64> {
    let (s, c) = phi.sin_cos();
    let r = |x: f64| Complex64::new(x, 0.0);
    Matrix2::new(r(c), r(-s), r(s), r(c))
}

/// The channel rotation whose matched-basis error probability is `e_d` in both bases.
pub fn misalignment_rotation(e_d: f64) -> Matrix2<Complex64> {
    linear_rotation(e_d.clamp(0.0, 1.0).sqrt().asin())
}

/// The SU(2) matrix of the rotation of the Poincaré sphere by the vector `theta` (angle
/// |theta| about the axis theta / |theta|): exp(-i theta . sigma / 2) =
/// cos(|theta|/2) I - i sin(|theta|/2) (n . sigma), sigma the Pauli matrices (sigma_x,
/// sigma_y, sigma_z).
/// The half angle is the double cover SU(2) -> SO(3): a Jones-space phase of a/2 turns the
/// Stokes vector by a. Which Pauli matrix stands for which Stokes axis does not matter to
/// an isotropic walk (all three axes are treated alike).
pub fn su2_from_rotation_vector(theta: [f64; 3]) -> Matrix2<Complex64> {
    let angle = (theta[0] * theta[0] + theta[1] * theta[1] + theta[2] * theta[2]).sqrt();
    if angle == 0.0 {
        return Matrix2::identity();
    }
    let (s, c) = (angle / 2.0).sin_cos();
    let n = [theta[0] / angle, theta[1] / angle, theta[2] / angle];
    // -i s (n_x sigma_x + n_y sigma_y + n_z sigma_z) + c I, written out.
    Matrix2::new(
        Complex64::new(c, -s * n[2]),
        Complex64::new(-s * n[1], -s * n[0]),
        Complex64::new(s * n[1], -s * n[0]),
        Complex64::new(c, s * n[2]),
    )
}

/// How the static misalignment e_d acts (`link.misalignment_model`, see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MisalignmentModel {
    /// One SU(2) rotation with matched-basis error e_d.
    Rotation,
    /// Depolarisation with probability 2 e_d: matched error e_d, mismatched exactly 1/2.
    Depolarizing,
}

impl MisalignmentModel {
    /// From the scenario's name (validated: anything but `depolarizing` is `rotation`).
    pub fn from_name(name: &str) -> MisalignmentModel {
        match name {
            "depolarizing" => MisalignmentModel::Depolarizing,
            _ => MisalignmentModel::Rotation,
        }
    }
}

/// Probability that a photon prepared in `prep`, sent through `u`, is found in bit 1 of
/// Bob's `basis` (so it reaches detector 1; detector 0 gets the rest).
pub fn probability_bit_one(u: &Matrix2<Complex64>, prep: Preparation, basis: Basis) -> f64 {
    let out = u * prep.jones();
    let b1 = basis_state(basis, true);
    let amp = b1.dotc(&out);
    amp.norm_sqr()
}

/// For each preparation and Bob basis: probability that a photon reaching Bob's detectors
/// goes to detector 1 (the detector for bit 1 of Bob's basis).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitTable {
    /// `to_one[prep.index()][bob_basis.index()]`.
    pub to_one: [[f64; 2]; 4],
}

impl SplitTable {
    /// The table for a channel unitary.
    pub fn from_unitary(u: &Matrix2<Complex64>) -> SplitTable {
        let mut to_one = [[0.0; 2]; 4];
        for p in Preparation::ALL {
            for b in Basis::BOTH {
                to_one[p.index()][b.index()] = probability_bit_one(u, p, b).clamp(0.0, 1.0);
            }
        }
        SplitTable { to_one }
    }

    /// The table for static misalignment `e_d` ([`misalignment_rotation`]).
    pub fn from_misalignment(e_d: f64) -> SplitTable {
        SplitTable::from_unitary(&misalignment_rotation(e_d))
    }

    /// The table of the channel "static error e_d of `model`, then the rotation `walk`"
    /// (the module doc): for the rotation model the unitary `walk * U_ed`; for the
    /// depolarising one (1 - 2 e_d) times the table of `walk` plus e_d (a photon made
    /// maximally mixed reaches either detector with probability 1/2).
    pub fn from_channel(
        model: MisalignmentModel,
        e_d: f64,
        walk: &Matrix2<Complex64>,
    ) -> SplitTable {
        match model {
            MisalignmentModel::Rotation => {
                SplitTable::from_unitary(&(walk * misalignment_rotation(e_d)))
            }
            MisalignmentModel::Depolarizing => {
                let p = 2.0 * e_d.clamp(0.0, 0.5);
                let mut t = SplitTable::from_unitary(walk);
                for row in &mut t.to_one {
                    for x in row {
                        *x = ((1.0 - p) * *x + p / 2.0).clamp(0.0, 1.0);
                    }
                }
                t
            }
        }
    }

    /// Probabilities (detector 0, detector 1) for a photon reaching Bob.
    pub fn split(&self, prep: Preparation, bob_basis: Basis) -> [f64; 2] {
        let p1 = self.to_one[prep.index()][bob_basis.index()];
        [1.0 - p1, p1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_special_unitary() {
        let u = misalignment_rotation(0.033);
        let id = u.adjoint() * u;
        assert!((id - Matrix2::identity()).norm() < 1e-14);
        assert!((u.determinant() - Complex64::new(1.0, 0.0)).norm() < 1e-14);
    }

    #[test]
    fn matched_basis_error_is_e_d_in_both_bases() {
        for e_d in [0.0, 0.005, 0.033, 0.2, 0.5] {
            let t = SplitTable::from_misalignment(e_d);
            for p in Preparation::ALL {
                let wrong = t.split(p, p.basis)[(!p.bit) as usize];
                assert!((wrong - e_d).abs() < 1e-14, "e_d {e_d} prep {p:?}: {wrong}");
            }
        }
    }

    #[test]
    fn mismatched_basis_split_is_half_plus_bias() {
        // Derived by hand: H measured in X after a rotation by phi gives
        // P(A) = (cos phi - sin phi)^2 / 2 = (1 - sin 2 phi) / 2.
        let e_d: f64 = 0.033;
        let phi = e_d.sqrt().asin();
        let t = SplitTable::from_misalignment(e_d);
        let p = t.split(
            Preparation {
                basis: Basis::Z,
                bit: false,
            },
            Basis::X,
        )[1];
        assert!((p - (1.0 - (2.0 * phi).sin()) / 2.0).abs() < 1e-14);
        let ideal = SplitTable::from_misalignment(0.0);
        assert!((ideal.split(Preparation::ALL[3], Basis::Z)[0] - 0.5).abs() < 1e-15);
    }

    #[test]
    fn rotation_model_is_biased_about_40_60_at_one_percent() {
        // The figure: (1 - sin 2 phi)/2 with sin^2 phi = 0.01 is 0.4005.
        let t = SplitTable::from_misalignment(0.01);
        let p = t.split(Preparation::ALL[0], Basis::X)[1];
        assert!((p - 0.4005).abs() < 1e-4, "{p}");
    }

    #[test]
    fn depolarizing_model_has_e_d_matched_and_half_mismatched() {
        let id = Matrix2::identity();
        for e_d in [0.0, 0.01, 0.033, 0.25, 0.5] {
            let t = SplitTable::from_channel(MisalignmentModel::Depolarizing, e_d, &id);
            for p in Preparation::ALL {
                let wrong = t.split(p, p.basis)[(!p.bit) as usize];
                assert!((wrong - e_d).abs() < 1e-15, "e_d {e_d} {p:?}: {wrong}");
                let other = if p.basis == Basis::Z {
                    Basis::X
                } else {
                    Basis::Z
                };
                assert!((t.split(p, other)[1] - 0.5).abs() < 1e-15);
            }
        }
        // With no walk the rotation model is the table it always was (bit-identical runs).
        let r = SplitTable::from_channel(MisalignmentModel::Rotation, 0.033, &id);
        assert_eq!(r, SplitTable::from_misalignment(0.033));
    }

    /// Stokes vector of a BB84 state on the axes the Pauli matrices define (S_z: H/V,
    /// S_x: D/A): an independent route to Born probabilities, P = (1 + s_out . s_b)/2.
    fn stokes(p: Preparation) -> [f64; 3] {
        let sign = if p.bit { -1.0 } else { 1.0 };
        match p.basis {
            Basis::Z => [0.0, 0.0, sign],
            Basis::X => [sign, 0.0, 0.0],
        }
    }

    /// Rodrigues' formula: v rotated by angle |theta| about theta / |theta|.
    fn rodrigues(theta: [f64; 3], v: [f64; 3]) -> [f64; 3] {
        let a = (theta.iter().map(|x| x * x).sum::<f64>()).sqrt();
        let n = theta.map(|x| x / a);
        let (s, c) = a.sin_cos();
        let dot = n[0] * v[0] + n[1] * v[1] + n[2] * v[2];
        let cross = [
            n[1] * v[2] - n[2] * v[1],
            n[2] * v[0] - n[0] * v[2],
            n[0] * v[1] - n[1] * v[0],
        ];
        std::array::from_fn(|i| v[i] * c + cross[i] * s + n[i] * dot * (1.0 - c))
    }

    #[test]
    fn su2_rotation_turns_the_stokes_vector_by_the_full_angle() {
        // Born probabilities from the Jones matrix against Rodrigues' rotation of the
        // Stokes vector (double cover: the SU(2) half angle is a full turn on the sphere).
        for theta in [
            [0.3, -0.2, 0.9],
            [1.7, 0.4, -2.2],
            [0.0, 0.0, 0.5],
            [-0.01, 0.02, 0.0],
        ] {
            let u = su2_from_rotation_vector(theta);
            assert!((u.determinant() - Complex64::new(1.0, 0.0)).norm() < 1e-14);
            for p in Preparation::ALL {
                let out = rodrigues(theta, stokes(p));
                for b in Basis::BOTH {
                    let one = stokes(Preparation {
                        basis: b,
                        bit: true,
                    });
                    let want = (1.0 + out[0] * one[0] + out[1] * one[1] + out[2] * one[2]) / 2.0;
                    let got = probability_bit_one(&u, p, b);
                    assert!(
                        (got - want).abs() < 1e-14,
                        "{theta:?} {p:?} {b:?}: {got} {want}"
                    );
                }
            }
        }
    }
}
