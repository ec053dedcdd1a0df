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
//! # Computing the tag
//!
//! Write s_m for seed bit m and k_j for key bit j, so tag bit i is
//! `tau_i = XOR over j < n of k_j s_(i+j)`. Cut the key into 64-bit words K_w (bit b of
//! K_w is k_(64w+b)) and the tag into groups of 64 bits, g = i / 64. The part of tau_(64g+i)
//! (0 <= i < 64 from now on) that word w contributes is `XOR over b < 64 of
//! K_w[b] S[i + b]`, where S is the 128-bit seed window `S[m] = s_(64(w+g)+m)`, m < 128:
//! seed words w + g and w + g + 1. That is a correlation, and a carry-less product computes
//! it once one factor is reversed: with `R = reverse(K_w)` (`R[c] = K_w[63 - c]`) the
//! product `P = S * R` over GF(2)\[z\] has coefficients
//!
//! ```text
//! P[d] = XOR over m + c = d of S[m] R[c] = XOR over b of S[d - 63 + b] K_w[b]   (c = 63 - b)
//! ```
//!
//! so `P[63 + i] = XOR over b < 64 of S[i + b] K_w[b]` for i = 0..63 (the indices i + b
//! stay below 127 < 128, so no term is cut off): bits 63..126 of `S * R` are the 64 tag
//! bits of group g from word w. With `S = L + z^64 H` (L, H seed words w + g and
//! w + g + 1), `P = L R + z^64 H R`, and bits 63..126 of it are `(L R) >> 63` XOR
//! `(H R) << 1`, cut to 64 bits. Everything is linear, so the products are first summed
//! over the key: with `C_h = XOR over w of clmul(seed word w + h, reverse(K_w))` (128-bit
//! sums), tag group g is `(C_g >> 63) XOR (C_(g+1) << 1)`, cut to 64 bits, and the tag's t
//! bits are the first t bits of the groups. A tag of t <= 64 bits costs two 64 x 64-bit
//! carry-less multiplications and one bit reversal per key word (one multiplication for
//! t = 1), and every further 64 tag bits one more multiplication per word, instead of t
//! masked popcounts. `C_groups` only feeds bits 1.. of the last group, so it is skipped for
//! t = 64 m + 1. The tests check the result bit for bit against the row-by-row popcounts
//! and [`ToeplitzSeed::row`].
//!
//! The multiplication is PCLMULQDQ when the CPU has it (run-time detection, as in
//! `postprocess::privacy`), else a plain-Rust product four bits at a time
//! ([`ToeplitzSeed::tag_portable`]). Calling the `#[target_feature]` kernel is this module's
//! only `unsafe` (submodule `clmul`: the call is preceded by an `assert!` on the detection,
//! and the kernel reads slices with bounds checks only); with `postprocess::privacy` it is
//! the crate's only `unsafe`.
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

    /// The tag of `key`: bit i is the parity of `key AND row i` (seed bits i..i+n), for
    /// i < t, computed by carry-less multiplication (module docs, "Computing the tag"): with
    /// PCLMULQDQ when the CPU has it (detected at run time), else by
    /// [`Self::tag_portable`]. Both give exactly the bits of the row-by-row definition.
    ///
    /// `key` normally has [`Self::key_bits`] bits or fewer (missing bits count as zeros).
    ///
    /// # Panics
    /// If `key` has more words than the seed covers (a key of at most n bits always fits;
    /// a longer one panics exactly when the row-by-row computation would read past the
    /// seed).
    pub fn tag(&self, key: &BitVec) -> BitVec {
        if clmul::available() {
            self.tag_by(key, clmul::accumulate)
        } else {
            self.tag_portable(key)
        }
    }

    /// [`Self::tag`] with a carry-less multiplication in plain Rust (four bits at a time
    /// from a table of 16 multiples), on any CPU: the same bits, slower. Public so that the
    /// tests and the bench can run it on a CPU that has PCLMULQDQ.
    ///
    /// # Panics
    /// As [`Self::tag`].
    pub fn tag_portable(&self, key: &BitVec) -> BitVec {
        self.tag_by(key, accumulate_portable)
    }

    /// The tag from the correlation sums `C_h` (module docs) that `accumulate` computes.
    fn tag_by(&self, key: &BitVec, accumulate: fn(&[u64], &[u64], &mut [u128])) -> BitVec {
        let t = self.tag_bits as usize;
        if t == 0 {
            return BitVec::new();
        }
        let kw = key.words();
        let groups = t.div_ceil(64);
        // Group g needs C_g and C_(g+1); the last group needs C_groups only for its bits 1..,
        // so not when t = 64 m + 1. The sums then read seed words up to w + needed - 1 for
        // key word w, exactly the words the row-by-row definition reads (w + q and, unless
        // bit i = 64 q starts a word, w + q + 1, for q = i / 64 < groups).
        let needed = groups + usize::from(t % 64 != 1);
        assert!(
            kw.len() + needed - 1 <= self.words.len(),
            "a key of {} bits is too long for a Toeplitz seed drawn for {} bits and a {t}-bit \
             tag",
            key.len(),
            self.key_bits
        );
        let mut sums = vec![0u128; groups + 1];
        accumulate(&self.words, kw, &mut sums[..needed]);
        let words = (0..groups)
            .map(|g| ((sums[g] >> 63) as u64) ^ ((sums[g + 1] as u64) << 1))
            .collect();
        BitVec::from_words(words, t)
    }
}

/// The correlation sums `sums[h] = XOR over key words w of clmul(seed[w + h],
/// reverse(key[w]))` for h < `sums.len()`, with a carry-less product in plain Rust.
/// `key.len() + sums.len() - 1 <= seed.len()` (asserted).
fn accumulate_portable(seed: &[u64], key: &[u64], sums: &mut [u128]) {
    check_lengths(seed, key, sums);
    for_lane_groups(sums, |h0, out| match out.len() {
        1 => sweep_portable::<1>(seed, key, h0, out),
        2 => sweep_portable::<2>(seed, key, h0, out),
        3 => sweep_portable::<3>(seed, key, h0, out),
        _ => sweep_portable::<4>(seed, key, h0, out),
    });
}

/// Asserts what the sweeps rely on: seed words `h .. h + key.len()` exist for every
/// h < `sums.len()`.
fn check_lengths(seed: &[u64], key: &[u64], sums: &[u128]) {
    assert!(
        !sums.is_empty() && key.len() + sums.len() - 1 <= seed.len(),
        "{} key words and {} sums need more than {} seed words",
        key.len(),
        sums.len(),
        seed.len()
    );
}

/// Hands `sweep` the sums in groups of up to four, `(h0, &mut sums[h0..h0 + lanes])`: one
/// sweep over the key per group, its sums in registers, so a tag of t <= 192 bits reads the
/// key once.
#[inline(always)]
fn for_lane_groups(sums: &mut [u128], mut sweep: impl FnMut(usize, &mut [u128])) {
    for (g, out) in sums.chunks_mut(4).enumerate() {
        sweep(4 * g, out);
    }
}

/// `out[j] = C_(h0 + j)` for j < L, in plain Rust.
fn sweep_portable<const L: usize>(seed: &[u64], key: &[u64], h0: usize, out: &mut [u128]) {
    let lanes: [&[u64]; L] = std::array::from_fn(|j| &seed[h0 + j..][..key.len()]);
    let mut acc = [0u128; L];
    for (w, &k) in key.iter().enumerate() {
        let table = NibbleTable::new(k.reverse_bits());
        for j in 0..L {
            acc[j] ^= table.mul(lanes[j][w]);
        }
    }
    out[..L].copy_from_slice(&acc);
}

/// The multiples v * x (carry-less, v < 16) of one 64-bit word x, each 67 bits at most: a
/// product with x is then 16 table reads, four bits of the other factor at a time.
struct NibbleTable([u128; 16]);

impl NibbleTable {
    #[inline(always)]
    fn new(x: u64) -> NibbleTable {
        let mut t = [0u128; 16];
        for v in 1..16 {
            t[v] = (t[v >> 1] << 1) ^ if v & 1 == 1 { u128::from(x) } else { 0 };
        }
        NibbleTable(t)
    }

    /// The carry-less product of x and `y`.
    #[inline(always)]
    fn mul(&self, y: u64) -> u128 {
        (0..16).rev().fold(0u128, |acc, i| {
            (acc << 4) ^ self.0[((y >> (4 * i)) & 15) as usize]
        })
    }
}

/// The PCLMULQDQ path of [`ToeplitzSeed::tag`] and the module's only `unsafe`: calling the
/// `#[target_feature]` kernel. [`accumulate`] asserts the run-time detection of the
/// features the kernel enables before calling it, so a CPU without them panics with a
/// message instead of executing an illegal instruction (and [`ToeplitzSeed::tag`] only
/// takes this path when [`available`] says so). The kernel has no raw memory access: it
/// reads slices, with their bounds checks.
#[allow(unsafe_code)]
mod clmul {
    #[cfg(target_arch = "x86_64")]
    mod imp {
        use std::arch::x86_64::{
            _mm_clmulepi64_si128, _mm_cvtsi64_si128, _mm_cvtsi128_si64, _mm_setzero_si128,
            _mm_unpackhi_epi64, _mm_xor_si128,
        };

        use super::super::{check_lengths, for_lane_groups};

        /// Whether the CPU has PCLMULQDQ (cached by std).
        pub fn available() -> bool {
            std::arch::is_x86_feature_detected!("pclmulqdq")
        }

        /// `out[j] = C_(h0 + j)` for j < L, the sums kept in vector registers.
        #[target_feature(enable = "pclmulqdq,sse2")]
        fn sweep<const L: usize>(seed: &[u64], key: &[u64], h0: usize, out: &mut [u128]) {
            let lanes: [&[u64]; L] = std::array::from_fn(|j| &seed[h0 + j..][..key.len()]);
            let mut acc = [_mm_setzero_si128(); L];
            for (w, &k) in key.iter().enumerate() {
                let r = _mm_cvtsi64_si128(k.reverse_bits() as i64);
                for j in 0..L {
                    let s = _mm_cvtsi64_si128(lanes[j][w] as i64);
                    acc[j] = _mm_xor_si128(acc[j], _mm_clmulepi64_si128(s, r, 0));
                }
            }
            for j in 0..L {
                let lo = _mm_cvtsi128_si64(acc[j]) as u64;
                let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc[j], acc[j])) as u64;
                out[j] = (u128::from(hi) << 64) | u128::from(lo);
            }
        }

        #[target_feature(enable = "pclmulqdq,sse2")]
        fn accumulate_impl(seed: &[u64], key: &[u64], sums: &mut [u128]) {
            check_lengths(seed, key, sums);
            for_lane_groups(sums, |h0, out| match out.len() {
                1 => sweep::<1>(seed, key, h0, out),
                2 => sweep::<2>(seed, key, h0, out),
                3 => sweep::<3>(seed, key, h0, out),
                _ => sweep::<4>(seed, key, h0, out),
            });
        }

        /// The sums of `super::super::accumulate_portable`, by PCLMULQDQ.
        ///
        /// # Panics
        /// If the CPU lacks PCLMULQDQ, or the slice lengths do not fit (as the portable
        /// version).
        pub fn accumulate(seed: &[u64], key: &[u64], sums: &mut [u128]) {
            assert!(available(), "PCLMULQDQ kernel called without CPU support");
            // SAFETY: the CPU supports pclmulqdq and sse2 (asserted above; sse2 is part of
            // x86-64); the kernel has no raw access (slices and bounds-checked indexing).
            unsafe { accumulate_impl(seed, key, sums) }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    mod imp {
        pub fn available() -> bool {
            false
        }

        pub fn accumulate(_: &[u64], _: &[u64], _: &mut [u128]) {
            unreachable!("carry-less multiply kernel called without CPU support")
        }
    }

    pub(super) use imp::{accumulate, available};
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

    /// The tag as it was computed before the carry-less path, kept verbatim as the
    /// reference: bit i is a masked popcount of the key against row i, word by word.
    fn tag_by_rows(seed: &ToeplitzSeed, key: &BitVec) -> BitVec {
        let kw = key.words();
        let mut tag = BitVec::with_capacity(seed.tag_bits as usize);
        for i in 0..seed.tag_bits as usize {
            let (q, s) = (i / 64, i % 64);
            let mut acc = 0u64;
            for (w, &k) in kw.iter().enumerate() {
                let lo = seed.words[w + q] >> s;
                let hi = if s == 0 {
                    0
                } else {
                    seed.words[w + q + 1] << (64 - s)
                };
                acc ^= k & (lo | hi);
            }
            tag.push(acc.count_ones() & 1 == 1);
        }
        tag
    }

    /// Checks both carry-less paths against the reference on a key of `len` bits for a
    /// seed drawn for `n` bits and a `t`-bit tag.
    fn check_paths(n: usize, t: u32, len: usize, seed: u64) {
        let mut rng = stream(seed, Purpose::Verification, n as u64);
        let toeplitz = ToeplitzSeed::random(n, t, &mut rng);
        let key = crate::postprocess::cascade::random_key(len, &mut rng);
        let want = tag_by_rows(&toeplitz, &key);
        assert_eq!(toeplitz.tag(&key), want, "n {n} t {t} len {len}");
        assert_eq!(toeplitz.tag_portable(&key), want, "n {n} t {t} len {len}");
    }

    #[test]
    fn carry_less_tag_equals_the_row_popcounts_at_the_edges() {
        // Tag lengths around every word edge (t = 64 m + 1 skips the last sum), keys shorter
        // than the tag, lengths on and off word boundaries, the longest tag.
        let ts = [
            1u32, 2, 30, 50, 63, 64, 65, 127, 128, 129, 191, 192, 193, 256, 257, 1074,
        ];
        let ns = [0usize, 1, 2, 63, 64, 65, 127, 128, 129, 1000, 4097];
        for &t in &ts {
            for &n in &ns {
                check_paths(n, t, n, u64::from(t));
                check_paths(n, t, n / 2, u64::from(t) + 1);
            }
        }
        check_paths(1_000_000, 50, 1_000_000, 9);
        check_paths(100_003, 1074, 100_003, 10);
        // A tag of no bits is empty.
        let seed = ToeplitzSeed::random(100, 0, &mut stream(1, Purpose::Verification, 0));
        assert!(seed.tag(&BitVec::zeros(100)).is_empty());
        assert!(seed.tag_portable(&BitVec::zeros(100)).is_empty());
    }

    #[test]
    fn keys_longer_than_the_seed_fit_or_panic_as_the_row_popcounts_did() {
        // A key longer than n (not a use the crate makes) still gets the row-by-row result
        // while its words fit the seed; one word more panics in both computations.
        for (n, t) in [(100usize, 50u32), (64, 65), (64, 129), (200, 64)] {
            let mut rng = stream(n as u64, Purpose::Verification, u64::from(t));
            let seed = ToeplitzSeed::random(n, t, &mut rng);
            let mut len = n;
            loop {
                let key = crate::postprocess::cascade::random_key(len, &mut rng);
                let reference = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    tag_by_rows(&seed, &key)
                }));
                let fast =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| seed.tag(&key)));
                let portable = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    seed.tag_portable(&key)
                }));
                match reference {
                    Ok(want) => {
                        assert_eq!(fast.expect("fits"), want, "n {n} t {t} len {len}");
                        assert_eq!(portable.expect("fits"), want, "n {n} t {t} len {len}");
                    }
                    Err(_) => {
                        assert!(fast.is_err() && portable.is_err(), "n {n} t {t} len {len}");
                        break;
                    }
                }
                len += 64;
            }
        }
    }

    #[test]
    fn portable_product_is_the_carry_less_product() {
        // Against the bit-by-bit definition, on random words and the extremes.
        let mut rng = stream(12, Purpose::Auxiliary, 0);
        let mut pairs = vec![(0u64, 0u64), (!0, !0), (1, !0), (1 << 63, 1 << 63)];
        pairs.extend((0..2000).map(|_| (rng.next_u64(), rng.next_u64())));
        for (x, y) in pairs {
            let want = (0..64)
                .filter(|b| (y >> b) & 1 == 1)
                .fold(0u128, |p, b| p ^ (u128::from(x) << b));
            assert_eq!(NibbleTable::new(x).mul(y), want, "{x:#x} * {y:#x}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]
        /// Random seed lengths, tag lengths and key lengths up to the seed's: the PCLMULQDQ
        /// and the portable tags equal the row-by-row popcounts.
        #[test]
        fn carry_less_tag_equals_the_row_popcounts(
            n in 0usize..5000,
            t in 1u32..1100,
            shorter in 0usize..200,
            seed in proptest::prelude::any::<u64>(),
        ) {
            check_paths(n, t, n.saturating_sub(shorter), seed);
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
