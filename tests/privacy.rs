//! Privacy amplification (Toeplitz hashing): the fast hasher against the plain definition,
//! bit for bit, on awkward sizes and at a large size; every backend against the portable
//! one at 2^20 input bits; the `QKDSIM_PA_BACKEND` variable; error cases; thread-count
//! determinism.
//!
//! `.ci/run` runs this file a second time with `QKDSIM_PA_BACKEND=portable`, so that every
//! test built on `ToeplitzHasher::new()` also covers the portable backend.

use proptest::prelude::*;
use qkdsim::Error;
use qkdsim::bits::BitVec;
use qkdsim::postprocess::privacy::{
    BACKEND_ENV_VAR, Backend, ToeplitzHasher, selected_backend, toeplitz_hash_reference,
    toeplitz_seed,
};
use qkdsim::rng::{Purpose, stream};
use rand::{Rng, RngExt};
use std::io::Write;

/// A note on stderr that the test harness does not capture (it only captures `print!` and
/// `eprint!`), so a skipped comparison shows in every run, passing or not.
fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

fn random_bits(len: usize, rng: &mut impl Rng) -> BitVec {
    BitVec::from_words((0..len.div_ceil(64)).map(|_| rng.next_u64()).collect(), len)
}

/// Output bit `i` straight from the documented convention T[i][j] = s[i - j + n - 1].
fn slow_output_bit(input: &BitVec, seed: &BitVec, i: usize) -> bool {
    let n = input.len();
    (0..n).fold(false, |acc, j| {
        acc ^ (seed.get(i + n - 1 - j) & input.get(j))
    })
}

/// Checks the fast hasher (and the portable arithmetic) against the reference on one case.
fn check(n: usize, l: usize, case_seed: u64) {
    let mut rng = stream(case_seed, Purpose::Auxiliary, (n * 1000 + l) as u64);
    let input = random_bits(n, &mut rng);
    let seed = toeplitz_seed(n, l, &mut rng);
    let expect = toeplitz_hash_reference(&input, &seed, l);
    assert_eq!(
        ToeplitzHasher::new().hash(&input, &seed, l).unwrap(),
        expect,
        "n {n} l {l}"
    );
    assert_eq!(
        ToeplitzHasher::portable().hash(&input, &seed, l).unwrap(),
        expect,
        "portable, n {n} l {l}"
    );
    if let Some(mut scalar) = ToeplitzHasher::scalar_clmul() {
        assert_eq!(
            scalar.hash(&input, &seed, l).unwrap(),
            expect,
            "scalar clmul, n {n} l {l}"
        );
    }
}

const AWKWARD: [usize; 17] = [
    1, 2, 3, 31, 32, 33, 63, 64, 65, 95, 127, 128, 129, 191, 255, 256, 257,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn matches_reference_bit_for_bit_on_awkward_sizes(
        n_idx in 0..AWKWARD.len(), l_idx in 0..AWKWARD.len(), extra in 0usize..3, case_seed in any::<u64>()
    ) {
        // Sizes around word and chunk boundaries, scaled by 1, 2 or 5 to reach a few words.
        let scale = [1, 2, 5][extra];
        check(AWKWARD[n_idx] * scale, AWKWARD[l_idx], case_seed);
    }

    #[test]
    fn matches_reference_on_arbitrary_small_sizes(n in 1usize..400, l in 1usize..400, case_seed in any::<u64>()) {
        check(n, l, case_seed);
    }
}

#[test]
fn matches_reference_on_every_size_up_to_70() {
    for n in 1..=70 {
        for l in [1, 2, 31, 32, 33, 63, 64, 65, 70] {
            check(n, l, 3);
        }
    }
}

#[test]
fn matches_reference_at_medium_size() {
    check(3000, 1500, 9);
    check(4097, 511, 10);
}

/// n = 2^20 (transform of 2^17 points): a random subset of output bits, recomputed from the
/// definition, must match. Exactness holds by construction (no rounding in GF(2^64)); this
/// checks the implementation where large transforms, parallel halves and chunk overlaps act.
#[test]
fn large_block_matches_definition_on_sampled_bits() {
    for (n, l) in [(1usize << 20, 1usize << 18), ((1 << 20) + 13, 524_287)] {
        let mut rng = stream(2026, Purpose::Auxiliary, n as u64);
        let input = random_bits(n, &mut rng);
        let seed = toeplitz_seed(n, l, &mut rng);
        let output = ToeplitzHasher::new().hash(&input, &seed, l).unwrap();
        assert_eq!(output.len(), l);
        let mut samples: Vec<usize> = (0..40).map(|_| rng.random_range(0..l)).collect();
        samples.extend([0, 1, 63, 64, l / 2, l - 2, l - 1]);
        for i in samples {
            assert_eq!(
                output.get(i),
                slow_output_bit(&input, &seed, i),
                "n {n} l {l} bit {i}"
            );
        }
        // A hash of random input is balanced: the number of ones is Binomial(l, 1/2) for a
        // fixed seed and random input, so it lies within 5 sigma = 5 sqrt(l) / 2 of l / 2.
        let ones = output.count_ones() as f64;
        let sigma = (l as f64).sqrt() / 2.0;
        assert!(
            (ones - l as f64 / 2.0).abs() <= 5.0 * sigma,
            "{ones} ones of {l}: {:.1} sigma from l/2",
            (ones - l as f64 / 2.0).abs() / sigma
        );
    }
}

/// The hash is GF(2)-linear in the input: T(x ^ x') = T(x) ^ T(x'), at a size where the
/// slow reference would be too slow.
#[test]
fn hash_is_linear_at_large_size() {
    let (n, l) = (300_001, 100_003);
    let mut rng = stream(7, Purpose::Auxiliary, 0);
    let a = random_bits(n, &mut rng);
    let b = random_bits(n, &mut rng);
    let seed = toeplitz_seed(n, l, &mut rng);
    let sum = BitVec::from_words(
        a.words()
            .iter()
            .zip(b.words())
            .map(|(x, y)| x ^ y)
            .collect(),
        n,
    );
    let mut hasher = ToeplitzHasher::new();
    let (ha, hb, hs) = (
        hasher.hash(&a, &seed, l).unwrap(),
        hasher.hash(&b, &seed, l).unwrap(),
        hasher.hash(&sum, &seed, l).unwrap(),
    );
    let xor = BitVec::from_words(
        ha.words()
            .iter()
            .zip(hb.words())
            .map(|(x, y)| x ^ y)
            .collect(),
        l,
    );
    assert_eq!(hs, xor);
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let (n, l) = (1 << 21, 1 << 19);
    let mut rng = stream(1, Purpose::PrivacyAmplification, 0);
    let input = random_bits(n, &mut rng);
    let seed = toeplitz_seed(n, l, &mut rng);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| ToeplitzHasher::new().hash(&input, &seed, l).unwrap())
    };
    assert_eq!(run(1), run(2));
    assert_eq!(run(1), run(3));
}

#[test]
fn hasher_is_reusable_across_sizes() {
    let mut hasher = ToeplitzHasher::new();
    let mut rng = stream(5, Purpose::Auxiliary, 1);
    for (n, l) in [(5000, 100), (64, 64), (100_000, 7), (1, 1), (777, 333)] {
        let input = random_bits(n, &mut rng);
        let seed = toeplitz_seed(n, l, &mut rng);
        let fresh = ToeplitzHasher::new().hash(&input, &seed, l).unwrap();
        assert_eq!(hasher.hash(&input, &seed, l).unwrap(), fresh, "n {n} l {l}");
    }
}

#[test]
fn empty_input_or_output_gives_empty_key() {
    let mut hasher = ToeplitzHasher::new();
    let input = BitVec::from_bools(&[true, false, true]);
    assert!(
        hasher
            .hash(&input, &BitVec::zeros(2), 0)
            .unwrap()
            .is_empty()
    );
    assert!(
        hasher
            .hash(&BitVec::new(), &BitVec::zeros(4), 5)
            .unwrap()
            .is_empty()
    );
    assert!(
        hasher
            .hash(&BitVec::new(), &BitVec::new(), 0)
            .unwrap()
            .is_empty()
    );
    assert!(toeplitz_hash_reference(&input, &BitVec::zeros(2), 0).is_empty());
}

#[test]
fn wrong_seed_length_is_an_invalid_argument() {
    let mut hasher = ToeplitzHasher::new();
    let input = BitVec::zeros(100);
    for bad in [0, 148, 150, 1000] {
        match hasher.hash(&input, &BitVec::zeros(bad), 50) {
            Err(Error::InvalidArgument(msg)) => assert!(msg.contains("149"), "{msg}"),
            other => panic!("seed of {bad} bits: expected InvalidArgument, got {other:?}"),
        }
    }
}

#[test]
fn seed_has_n_plus_l_minus_1_bits_and_is_reproducible() {
    let a = toeplitz_seed(1000, 300, &mut stream(9, Purpose::PrivacyAmplification, 4));
    let b = toeplitz_seed(1000, 300, &mut stream(9, Purpose::PrivacyAmplification, 4));
    let c = toeplitz_seed(1000, 300, &mut stream(9, Purpose::PrivacyAmplification, 5));
    assert_eq!(a.len(), 1299);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(
        toeplitz_seed(0, 0, &mut stream(9, Purpose::PrivacyAmplification, 4)).len(),
        0
    );
}

/// Hand-checked 3x2 example: n = 2, l = 3, seed s0..s3 = 1,0,1,1.
/// T = [[s1 s0], [s2 s1], [s3 s2]] = [[0 1], [1 0], [1 1]]; x = (1, 1) gives y = (1, 1, 0).
#[test]
fn small_example_by_hand() {
    let input = BitVec::from_bools(&[true, true]);
    let seed = BitVec::from_bools(&[true, false, true, true]);
    let expect = BitVec::from_bools(&[true, true, false]);
    assert_eq!(toeplitz_hash_reference(&input, &seed, 3), expect);
    assert_eq!(
        ToeplitzHasher::new().hash(&input, &seed, 3).unwrap(),
        expect
    );
}

/// Every fast backend this CPU has against the portable one, bit for bit, at input lengths
/// of 2^20 bits and more, with output lengths from 1 bit to half the input, awkward ones
/// included (not multiples of 32 or 64, one that makes the hasher cut the input into
/// pieces). The portable backend is checked against the definition on smaller sizes above;
/// here it is the reference for the kernels that only act on large transforms (the radix-4
/// pass, the parallel halves, tiles of lanes on the heap).
#[test]
fn every_fast_backend_matches_the_portable_one_at_2_pow_20_bits() {
    let mut fast: Vec<(Backend, ToeplitzHasher)> = [Backend::Avx512, Backend::Clmul]
        .into_iter()
        .filter_map(|backend| match ToeplitzHasher::with_backend(backend) {
            Ok(h) => Some((backend, h)),
            Err(e) => {
                note(&format!(
                    "every_fast_backend_matches_the_portable_one_at_2_pow_20_bits: \
                     skipping the {backend} backend, which this CPU cannot run ({e})"
                ));
                None
            }
        })
        .collect();
    if fast.is_empty() {
        note("no fast backend on this CPU: the portable backend had nothing to be compared with");
        return;
    }
    let mut portable = ToeplitzHasher::portable();
    let cases = [
        (1usize << 20, 1usize),
        (1 << 20, 1 << 17), // l = n/8: the input is hashed in three pieces
        ((1 << 20) + 13, 524_287),
        ((1 << 20) + 1, 77_777),
    ];
    for (case, (n, l)) in cases.into_iter().enumerate() {
        let mut rng = stream(2020, Purpose::Auxiliary, case as u64);
        let input = random_bits(n, &mut rng);
        let seed = toeplitz_seed(n, l, &mut rng);
        let expect = portable.hash(&input, &seed, l).unwrap();
        assert_eq!(expect.len(), l);
        for (backend, hasher) in &mut fast {
            let got = hasher.hash(&input, &seed, l).unwrap();
            if got != expect {
                let first = (0..l).find(|&i| got.get(i) != expect.get(i));
                panic!("{backend} differs from portable at n {n} l {l}, first at bit {first:?}");
            }
        }
    }
}

/// `ToeplitzHasher::new()` uses what `QKDSIM_PA_BACKEND` names (the fastest backend when it
/// is unset), so the CI step that forces the portable backend is known to run it.
#[test]
fn default_hasher_uses_the_backend_the_variable_names() {
    let value = std::env::var_os(BACKEND_ENV_VAR);
    let hasher = ToeplitzHasher::new();
    let expect = match value.as_ref().map(|v| v.to_str()) {
        None | Some(Some("" | "auto")) => Some(Backend::fastest()),
        Some(Some(name)) => Backend::ALL
            .into_iter()
            .find(|b| b.name() == name && b.is_supported()),
        Some(None) => None, // not UTF-8: invalid
    };
    match expect {
        Some(backend) => {
            assert_eq!(selected_backend().unwrap(), backend, "{value:?}");
            assert_eq!(hasher.backend(), backend, "{value:?}");
            note(&format!(
                "ToeplitzHasher::new() uses the {backend} backend ({BACKEND_ENV_VAR}: {value:?}; \
                 this CPU supports {})",
                Backend::supported()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        None => {
            // An invalid value: the error comes back from the hash, never a panic.
            let msg = selected_backend().unwrap_err().to_string();
            assert!(msg.contains(BACKEND_ENV_VAR), "{msg}");
            let x = BitVec::zeros(10);
            match ToeplitzHasher::new().hash(&x, &BitVec::zeros(14), 5) {
                Err(Error::Environment(m)) => assert_eq!(m, msg),
                other => panic!("expected the environment error, got {other:?}"),
            }
        }
    }
}

/// The command line checks the variable before any work: a bad value is exit code 2 with
/// one message naming the variable, the value and the allowed values, never a panic.
#[test]
fn command_line_rejects_a_bad_backend_variable() {
    let check = |value: &str| {
        let out = assert_cmd::Command::cargo_bin("qkdsim")
            .unwrap()
            .args(["check", "scenarios/lab-back-to-back.toml"])
            .env(BACKEND_ENV_VAR, value)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = check("avx-512");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("QKDSIM_PA_BACKEND=\"avx-512\"")
            && err.contains("allowed values: auto (or unset), avx512, clmul, portable"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    for backend in Backend::ALL {
        let (code, err) = check(backend.name());
        if backend.is_supported() {
            assert_eq!(code, Some(0), "{backend}: {err}");
        } else {
            assert_eq!(code, Some(2), "{backend}: {err}");
            assert!(err.contains(backend.requirement()), "{err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}
