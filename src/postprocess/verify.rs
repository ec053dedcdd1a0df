//! Verification after reconciliation: Alice sends a short two-universal hash tag of her key,
//! Bob compares it with the tag of his corrected key. A mismatch flags the block; it is never
//! passed silently.
//!
//! The hash is a random binary Toeplitz matrix (t x n, fixed by n + t - 1 public random
//! bits), a universal family: for any two different keys the tags collide with probability
//! exactly 2^-t over the choice of matrix (Carter and Wegman 1979; Krawczyk, CRYPTO 1994).
//! With t = ceil(log2(1/eps_cor)) a wrong key passes with probability at most eps_cor (t up
//! to 1074 bits, for the smallest positive f64), which is the correctness parameter of the finite-key analysis (Lim et al., PRA 89 022307, 2014).
//! The t tag bits are disclosed and count as leakage. [`verify_disclosing`] returns the
//! seed with the outcome, and [`ToeplitzSeed::row`] gives each tag bit as a linear function
//! of Alice's key (for `postprocess::leakage`).
//!
//! Must never depend on `physics`, `protocol`, `report` or the Cascade internals: it sees two
//! keys, eps_cor and a generator for the public seed.

use rand::Rng;

use crate::bits::BitVec;
use crate::error::{Error, Result};

/// Result of verifying one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOutcome {
    /// Tag length in bits, all disclosed (count them as leaked).
    pub tag_bits: u32,
    /// Whether Alice's and Bob's tags agree. False flags the block as failed.
    pub keys_match: bool,
}

/// Longest tag ever needed: the smallest positive f64, 2^-1074 (a subnormal), needs 1074
/// bits; every eps_cor in (0, 1) gets its exact length, none is clamped.
pub const MAX_TAG_BITS: u32 = 1074;

/// Tag length t = ceil(log2(1/eps_cor)), the fewest bits with collision probability
/// 2^-t <= eps_cor, for every eps_cor in (0, 1), subnormals included; an error otherwise
/// (0, negative, >= 1, NaN, infinite).
///
/// Computed exactly from the binary representation, not with a floating-point logarithm:
/// for 2^k <= eps < 2^(k+1), -log2(eps) lies in (-k-1, -k], so t = -k, where k is the
/// binary exponent of eps (for a subnormal eps = m 2^-1074, k = floor(log2 m) - 1074).
/// Powers of two get exactly t = -log2(eps): 0.5 -> 1, 2^-1024 -> 1024, 2^-1074 -> 1074.
pub fn tag_length(epsilon_cor: f64) -> Result<u32> {
    if !(epsilon_cor > 0.0 && epsilon_cor < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "epsilon_cor must be in (0, 1), got {epsilon_cor}"
        )));
    }
    const MANTISSA_BITS: u32 = 52;
    let bits = epsilon_cor.to_bits();
    let biased_exponent = ((bits >> MANTISSA_BITS) & 0x7ff) as i32;
    let k = if biased_exponent == 0 {
        // Subnormal: eps = m 2^-1074 with 1 <= m < 2^52.
        let m = bits & ((1u64 << MANTISSA_BITS) - 1);
        (63 - m.leading_zeros() as i32) - 1074
    } else {
        biased_exponent - 1023
    };
    // eps < 1 gives k <= -1, and eps >= 2^-1074 gives k >= -1074.
    Ok((-k) as u32)
}

/// Verifies that `alice` and `bob` agree with a Toeplitz tag of ceil(log2(1/eps_cor)) bits
/// whose public seed comes from `rng`. An invalid eps_cor (outside (0, 1), NaN) is an
/// error: no tag can certify it, and no length is substituted. Keys of different length
/// never match.
pub fn verify<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    epsilon_cor: f64,
    rng: &mut R,
) -> Result<VerifyOutcome> {
    let t = tag_length(epsilon_cor)?;
    Ok(verify_with_tag_bits(alice, bob, t, rng))
}

/// The same as [`verify`] (kept for callers written when `verify` fell back to the longest
/// tag on an invalid eps_cor).
pub fn try_verify<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    epsilon_cor: f64,
    rng: &mut R,
) -> Result<VerifyOutcome> {
    verify(alice, bob, epsilon_cor, rng)
}

/// [`verify`] that also returns the public seed of the tag Alice sent, so the tag's t bits
/// can be accounted as linear functions of her key: bit i is the parity of her key over
/// [`ToeplitzSeed::row`] `i`. Same outcome and same draws from `rng` as [`verify`].
pub fn verify_disclosing<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    epsilon_cor: f64,
    rng: &mut R,
) -> Result<(VerifyOutcome, ToeplitzSeed)> {
    let t = tag_length(epsilon_cor)?;
    let (outcome, seed) = verify_with_tag_bits_and_seed(alice, bob, t, rng);
    Ok((outcome, seed))
}

fn verify_with_tag_bits<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    tag_bits: u32,
    rng: &mut R,
) -> VerifyOutcome {
    verify_with_tag_bits_and_seed(alice, bob, tag_bits, rng).0
}

fn verify_with_tag_bits_and_seed<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    tag_bits: u32,
    rng: &mut R,
) -> (VerifyOutcome, ToeplitzSeed) {
    let n = alice.len().max(bob.len());
    let seed = ToeplitzSeed::random(n, tag_bits, rng);
    // Alice computes and sends her tag; Bob computes his and compares.
    let alice_tag = seed.tag(alice);
    let bob_tag = seed.tag(bob);
    let keys_match = alice.len() == bob.len() && alice_tag == bob_tag;
    (
        VerifyOutcome {
            tag_bits,
            keys_match,
        },
        seed,
    )
}

/// The public seed of a t x n Toeplitz matrix: row i is seed bits i..i+n.
#[derive(Debug, Clone)]
pub struct ToeplitzSeed {
    words: Vec<u64>,
    tag_bits: u32,
    /// Key length n the seed was drawn for.
    key_bits: usize,
}

impl ToeplitzSeed {
    /// n + t - 1 uniform bits (plus zero padding to whole words) from `rng`.
    pub fn random<R: Rng + ?Sized>(n: usize, tag_bits: u32, rng: &mut R) -> ToeplitzSeed {
        let bits = n + tag_bits as usize;
        // One spare word so a shifted read of the last word never runs off the end.
        let mut words: Vec<u64> = (0..bits.div_ceil(64) + 1).map(|_| rng.next_u64()).collect();
        let last = words.len() - 1;
        words[last] = 0;
        ToeplitzSeed {
            words,
            tag_bits,
            key_bits: n,
        }
    }

    /// Tag length t.
    pub fn tag_bits(&self) -> u32 {
        self.tag_bits
    }

    /// Key length n the seed was drawn for.
    pub fn key_bits(&self) -> usize {
        self.key_bits
    }

    /// Row `i` of the t x n matrix over the n key bits: bit j is seed bit i + j, so that tag
    /// bit i of a key is the parity of the key AND this row ([`Self::tag`]).
    ///
    /// # Panics
    /// If `i >= self.tag_bits()`.
    pub fn row(&self, i: usize) -> BitVec {
        assert!(
            i < self.tag_bits as usize,
            "tag row {i} of {}",
            self.tag_bits
        );
        let (q, s) = (i / 64, i % 64);
        let words = (0..self.key_bits.div_ceil(64))
            .map(|w| {
                let lo = self.words[w + q] >> s;
                let hi = if s == 0 {
                    0
                } else {
                    self.words[w + q + 1] << (64 - s)
                };
                lo | hi
            })
            .collect();
        BitVec::from_words(words, self.key_bits)
    }

    /// All t rows ([`Self::row`]).
    pub fn rows(&self) -> Vec<BitVec> {
        (0..self.tag_bits as usize).map(|i| self.row(i)).collect()
    }

    /// The tag of `key`: bit i is the parity of `key AND row i`, a popcount over whole words.
    pub fn tag(&self, key: &BitVec) -> BitVec {
        let kw = key.words();
        let mut tag = BitVec::with_capacity(self.tag_bits as usize);
        for i in 0..self.tag_bits as usize {
            let (q, s) = (i / 64, i % 64);
            let mut acc = 0u64;
            for (w, &k) in kw.iter().enumerate() {
                let lo = self.words[w + q] >> s;
                let hi = if s == 0 {
                    0
                } else {
                    self.words[w + q + 1] << (64 - s)
                };
                acc ^= k & (lo | hi);
            }
            tag.push(acc.count_ones() & 1 == 1);
        }
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, stream};

    /// 2^-k exactly, also for the subnormal range (powi would underflow through 1/2^k).
    fn pow2_neg(k: u32) -> f64 {
        if k <= 1022 {
            f64::from_bits(((1023 - k) as u64) << 52)
        } else {
            f64::from_bits(1u64 << (1074 - k))
        }
    }

    #[test]
    fn tag_lengths() {
        // Expected values by hand: t = ceil(log2(1/eps)); log2(1e15) = 49.83, log2(1e9) =
        // 29.90, log2(1e300) = 996.58; powers of two exactly, no slack bit.
        assert_eq!(tag_length(1e-15).unwrap(), 50);
        assert_eq!(tag_length(0.5).unwrap(), 1);
        assert_eq!(tag_length(0.75).unwrap(), 1);
        assert_eq!(tag_length(0.25).unwrap(), 2);
        assert_eq!(tag_length(0.2499999).unwrap(), 3);
        assert_eq!(tag_length(1e-9).unwrap(), 30);
        assert_eq!(tag_length(1e-300).unwrap(), 997);
        assert_eq!(tag_length(f64::MIN_POSITIVE).unwrap(), 1022); // 2^-1022
        assert_eq!(pow2_neg(1022), f64::MIN_POSITIVE);
        assert_eq!(pow2_neg(1074), 5e-324);
        assert_eq!(tag_length(pow2_neg(1024)).unwrap(), 1024); // subnormal
        assert_eq!(tag_length(pow2_neg(1024) * 1.5).unwrap(), 1024);
        assert_eq!(tag_length(pow2_neg(1074)).unwrap(), 1074);
        assert_eq!(tag_length(5e-324).unwrap(), 1074); // rounds to 2^-1074
        assert_eq!(tag_length(1e-323).unwrap(), 1073); // 2 * 2^-1074
        assert_eq!(tag_length(f64::from_bits(1)).unwrap(), MAX_TAG_BITS);
        // Every power of two 2^-k, k = 1..=1074, gets exactly k bits, one ulp above it still
        // k (2^-t <= eps), one ulp below it k + 1.
        for k in 1..=1074u32 {
            let eps = pow2_neg(k);
            assert_eq!(tag_length(eps).unwrap(), k, "2^-{k}");
            if k < 1074 {
                // (Above 2^-1074 the next f64 is 2^-1073.)
                assert_eq!(tag_length(eps.next_up()).unwrap(), k, "above 2^-{k}");
                assert_eq!(tag_length(eps.next_down()).unwrap(), k + 1, "below 2^-{k}");
            }
        }
        // Collision probability 2^-t never exceeds eps, and 2^-(t-1) does (t minimal), over
        // a spread of values (checked in log2 space; 2^-t itself underflows for t > 1074).
        for i in 1..2000 {
            let eps = 10f64.powf(-(i as f64) * 0.16);
            if eps <= 0.0 {
                break;
            }
            let t = tag_length(eps).unwrap() as f64;
            assert!(-t <= eps.log2() && -(t - 1.0) > eps.log2(), "{eps}: {t}");
        }
        for bad in [0.0, -0.0, 1.0, 1.5, -1e-9, f64::NAN, f64::INFINITY] {
            assert!(tag_length(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiny_eps_gets_a_full_tag_and_invalid_eps_is_an_error() {
        let mut rng = stream(5, Purpose::Verification, 0);
        let a = BitVec::from_bools(&(0..300).map(|i| i % 3 == 0).collect::<Vec<_>>());
        let mut b = a.clone();
        b.flip(17);
        let ok = verify(&a, &a.clone(), 5e-324, &mut rng).unwrap();
        assert_eq!(ok.tag_bits, 1074);
        assert!(ok.keys_match);
        assert!(!verify(&a, &b, 5e-324, &mut rng).unwrap().keys_match);
        for bad in [0.0, 1.0, -1.0, f64::NAN] {
            assert!(verify(&a, &a.clone(), bad, &mut rng).is_err(), "{bad}");
            assert!(try_verify(&a, &a.clone(), bad, &mut rng).is_err(), "{bad}");
        }
    }

    #[test]
    fn toeplitz_tag_matches_matrix_definition() {
        let mut rng = stream(3, Purpose::Verification, 0);
        let n = 150;
        let seed = ToeplitzSeed::random(n, 70, &mut rng);
        let key = BitVec::from_bools(&(0..n).map(|i| (i * 7) % 5 < 2).collect::<Vec<_>>());
        let tag = seed.tag(&key);
        let seed_bit = |j: usize| (seed.words[j / 64] >> (j % 64)) & 1 == 1;
        for i in 0..70 {
            let expect = (0..n).filter(|&j| key.get(j) && seed_bit(i + j)).count() % 2 == 1;
            assert_eq!(tag.get(i), expect, "row {i}");
        }
    }

    #[test]
    fn tag_rows_give_the_tag_alice_sent() {
        for (n, eps) in [
            (1usize, 0.3),
            (63, 1e-3),
            (64, 1e-9),
            (1000, 1e-15),
            (4097, 1e-300),
        ] {
            let mut rng = stream(n as u64, Purpose::Auxiliary, 0);
            let alice = crate::postprocess::cascade::random_key(n, &mut rng);
            let mut bob = alice.clone();
            bob.flip(n / 2);
            let plain =
                verify(&alice, &bob, eps, &mut stream(9, Purpose::Verification, 1)).unwrap();
            let (outcome, seed) =
                verify_disclosing(&alice, &bob, eps, &mut stream(9, Purpose::Verification, 1))
                    .unwrap();
            assert_eq!(plain, outcome);
            assert_eq!(seed.tag_bits(), outcome.tag_bits);
            assert_eq!(seed.key_bits(), n);
            let tag = seed.tag(&alice);
            let rows = seed.rows();
            assert_eq!(rows.len(), tag.len());
            for (i, row) in rows.iter().enumerate() {
                assert_eq!(row.len(), n);
                let dot = row
                    .words()
                    .iter()
                    .zip(alice.words())
                    .fold(0, |a, (r, k)| a ^ (r & k).count_ones())
                    & 1;
                assert_eq!(dot == 1, tag.get(i), "n {n} row {i}");
            }
        }
    }

    #[test]
    fn equal_keys_match_and_different_lengths_do_not() {
        let mut rng = stream(4, Purpose::Verification, 0);
        let a = BitVec::from_bools(&[true, false, true]);
        assert!(verify(&a, &a.clone(), 1e-9, &mut rng).unwrap().keys_match);
        assert!(
            !verify(&a, &BitVec::from_bools(&[true, false]), 1e-9, &mut rng)
                .unwrap()
                .keys_match
        );
    }
}
