//! The verification tag through the public API: `ToeplitzSeed::tag` (carry-less, PCLMULQDQ
//! where the CPU has it) and `ToeplitzSeed::tag_portable` give, bit for bit, the parities of
//! the key against `ToeplitzSeed::row`, for random key, seed and tag lengths (tags not a
//! multiple of 64, longer than 64, longer than the key); `verify` and `verify_disclosing`
//! draw exactly the seed `ToeplitzSeed::random` draws and nothing more.

use proptest::prelude::*;
use qkdsim::bits::BitVec;
use qkdsim::postprocess::cascade::random_key;
use qkdsim::postprocess::verify::{ToeplitzSeed, tag_length, verify, verify_disclosing};
use qkdsim::rng::{Purpose, stream};
use rand::Rng;

/// Tag bit i as the parity of `key AND row i`, from the public rows.
fn tag_by_rows(seed: &ToeplitzSeed, key: &BitVec) -> BitVec {
    let bits: Vec<bool> = seed
        .rows()
        .iter()
        .map(|row| {
            row.words()
                .iter()
                .zip(key.words())
                .fold(0, |p, (r, k)| p ^ (r & k).count_ones())
                & 1
                == 1
        })
        .collect();
    BitVec::from_bools(&bits)
}

fn check(n: usize, t: u32, len: usize, seed: u64) {
    let mut rng = stream(seed, Purpose::Verification, 0);
    let toeplitz = ToeplitzSeed::random(n, t, &mut rng);
    let key = random_key(len, &mut rng);
    let want = tag_by_rows(&toeplitz, &key);
    assert_eq!(want.len(), t as usize);
    assert_eq!(toeplitz.tag(&key), want, "n {n} t {t} len {len}");
    assert_eq!(toeplitz.tag_portable(&key), want, "n {n} t {t} len {len}");
}

#[test]
fn tags_equal_the_row_parities_at_word_edges() {
    for t in [1u32, 50, 63, 64, 65, 128, 129, 130, 300, 1074] {
        for n in [0usize, 1, 5, 64, 100, 192, 1000] {
            check(n, t, n, u64::from(t) * 7 + n as u64);
        }
    }
    check(300_000, 50, 300_000, 1);
}

#[test]
fn verification_draws_exactly_the_seed() {
    // The draws after `verify` and `verify_disclosing` are those after
    // `ToeplitzSeed::random` for the same length and tag, so the run's later streams (and
    // its JSON) cannot move; the disclosed seed is the one drawn.
    for (n, eps) in [
        (0usize, 0.5),
        (1, 1e-3),
        (777, 1e-15),
        (100_000, 1e-15),
        (4096, 1e-300),
    ] {
        let mut key_rng = stream(n as u64, Purpose::Auxiliary, 0);
        let alice = random_key(n, &mut key_rng);
        let mut bob = alice.clone();
        if n > 0 {
            bob.flip(n / 3);
        }
        let t = tag_length(eps).unwrap();
        let mut reference = stream(4, Purpose::Verification, 9);
        let drawn = ToeplitzSeed::random(n, t, &mut reference);
        let after = reference.next_u64();
        let mut r1 = stream(4, Purpose::Verification, 9);
        let plain = verify(&alice, &bob, eps, &mut r1).unwrap();
        assert_eq!(r1.next_u64(), after, "n {n}");
        let mut r2 = stream(4, Purpose::Verification, 9);
        let (outcome, seed) = verify_disclosing(&alice, &bob, eps, &mut r2).unwrap();
        assert_eq!(r2.next_u64(), after, "n {n}");
        assert_eq!(plain, outcome);
        assert_eq!(plain.keys_match, n == 0);
        assert_eq!(seed.rows(), drawn.rows(), "n {n}");
        assert_eq!(seed.tag(&alice), tag_by_rows(&drawn, &alice), "n {n}");
        assert_eq!(seed.tag(&bob) == seed.tag(&alice), n == 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    /// Random seed lengths, tag lengths (up to the longest, 1074) and keys up to the seed's
    /// length, shorter than the tag among them.
    #[test]
    fn tags_equal_the_row_parities(
        n in 0usize..3000,
        t in 1u32..=1074,
        shorter in 0usize..100,
        seed in any::<u64>(),
    ) {
        check(n, t, n.saturating_sub(shorter), seed);
    }
}
