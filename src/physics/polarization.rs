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
}
