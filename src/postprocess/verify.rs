//! Verification after reconciliation: Alice sends a short two-universal hash tag of her key,
//! Bob compares it with the tag of his corrected key. A mismatch flags the block; it is never
//! passed silently.
//!
//! The hash is a random binary Toeplitz matrix (t x n, fixed by n + t - 1 public random
//! bits), a universal family: for any two different keys the tags collide with probability
//! exactly 2^-t over the choice of matrix (Carter and Wegman 1979; Krawczyk, CRYPTO 1994).
//! With t = ceil(log2(1/eps_cor)) a wrong key passes with probability at most eps_cor, which
//! is the correctness parameter of the finite-key analysis (Lim et al., PRA 89 022307, 2014).
//! The t tag bits are disclosed and count as leakage.
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

/// Longest tag produced (eps_cor below 2^-1024 is clamped to it).
pub const MAX_TAG_BITS: u32 = 1024;

/// Tag length ceil(log2(1/eps_cor)) for eps_cor in (0, 1); an error otherwise.
pub fn tag_length(epsilon_cor: f64) -> Result<u32> {
    if !(epsilon_cor > 0.0 && epsilon_cor < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "epsilon_cor must be in (0, 1), got {epsilon_cor}"
        )));
    }
    // The small slack stops float noise from adding a bit when 1/eps is a power of two.
    let t = ((1.0 / epsilon_cor).log2() * (1.0 - 1e-12)).ceil();
    Ok((t as u32).clamp(1, MAX_TAG_BITS))
}

/// Verifies that `alice` and `bob` agree with a Toeplitz tag of ceil(log2(1/eps_cor)) bits
/// whose public seed comes from `rng`. An invalid eps_cor (outside (0, 1), NaN) falls back to
/// the longest tag, [`MAX_TAG_BITS`], the safe side; use [`try_verify`] to get an error.
/// Keys of different length never match.
pub fn verify<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    epsilon_cor: f64,
    rng: &mut R,
) -> VerifyOutcome {
    let t = tag_length(epsilon_cor).unwrap_or(MAX_TAG_BITS);
    verify_with_tag_bits(alice, bob, t, rng)
}

/// [`verify`] that rejects an invalid eps_cor.
pub fn try_verify<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    epsilon_cor: f64,
    rng: &mut R,
) -> Result<VerifyOutcome> {
    let t = tag_length(epsilon_cor)?;
    Ok(verify_with_tag_bits(alice, bob, t, rng))
}

fn verify_with_tag_bits<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    tag_bits: u32,
    rng: &mut R,
) -> VerifyOutcome {
    let n = alice.len().max(bob.len());
    let seed = ToeplitzSeed::random(n, tag_bits, rng);
    // Alice computes and sends her tag; Bob computes his and compares.
    let alice_tag = seed.tag(alice);
    let bob_tag = seed.tag(bob);
    let keys_match = alice.len() == bob.len() && alice_tag == bob_tag;
    VerifyOutcome {
        tag_bits,
        keys_match,
    }
}

/// The public seed of a t x n Toeplitz matrix: row i is seed bits i..i+n.
#[derive(Debug, Clone)]
pub struct ToeplitzSeed {
    words: Vec<u64>,
    tag_bits: u32,
}

impl ToeplitzSeed {
    /// n + t - 1 uniform bits (plus zero padding to whole words) from `rng`.
    pub fn random<R: Rng + ?Sized>(n: usize, tag_bits: u32, rng: &mut R) -> ToeplitzSeed {
        let bits = n + tag_bits as usize;
        // One spare word so a shifted read of the last word never runs off the end.
        let mut words: Vec<u64> = (0..bits.div_ceil(64) + 1).map(|_| rng.next_u64()).collect();
        let last = words.len() - 1;
        words[last] = 0;
        ToeplitzSeed { words, tag_bits }
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

    #[test]
    fn tag_lengths() {
        assert_eq!(tag_length(1e-15).unwrap(), 50);
        assert_eq!(tag_length(0.5).unwrap(), 1);
        assert_eq!(tag_length(0.25).unwrap(), 2);
        assert_eq!(tag_length(1e-9).unwrap(), 30);
        assert!(tag_length(0.0).is_err());
        assert!(tag_length(1.0).is_err());
        assert!(tag_length(f64::NAN).is_err());
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
    fn equal_keys_match_and_different_lengths_do_not() {
        let mut rng = stream(4, Purpose::Verification, 0);
        let a = BitVec::from_bools(&[true, false, true]);
        assert!(verify(&a, &a.clone(), 1e-9, &mut rng).keys_match);
        assert!(!verify(&a, &BitVec::from_bools(&[true, false]), 1e-9, &mut rng).keys_match);
        assert_eq!(
            verify(&a, &a.clone(), -1.0, &mut rng).tag_bits,
            MAX_TAG_BITS
        );
    }
}
