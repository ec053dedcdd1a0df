//! Integration tests of Cascade, verification and `qkdsim reconcile`.
//!
//! Statistical checks use fixed seeds; their bounds are either 5 standard errors or the
//! published figures of Martinez-Mateo et al., "Demystifying the information reconciliation
//! protocol Cascade", QIC 15 (2015) ("Demystifying"), with the tolerance written next to
//! them. The short versions always run (the n = 1e5 efficiency test at Q = 1 % and 8 % with
//! 80 runs per point among them); `QKDSIM_LONG_TESTS=1` (exactly "1") adds more runs and the
//! other error rates. The transcript-replay tests are in `tests/cascade_replay.rs`.

use std::collections::{HashMap, HashSet};

use assert_cmd::Command;
use proptest::prelude::*;
use qkdsim::bits::BitVec;
use qkdsim::postprocess::cascade::{
    CascadeVariant, ErrorModel, ExperimentConfig, ExperimentSummary, Message, ReconcileOptions,
    binary_entropy, plant_errors, random_key, reconcile_with, run_experiment,
};
use qkdsim::postprocess::verify::verify;
use qkdsim::rng::{Purpose, stream};

fn long_tests() -> bool {
    std::env::var("QKDSIM_LONG_TESTS").is_ok_and(|v| v == "1")
}

fn experiment(
    n: usize,
    q: f64,
    variant: CascadeVariant,
    runs: usize,
    seed: u64,
) -> ExperimentSummary {
    let mut c = ExperimentConfig::new(n, q, variant);
    c.runs = runs;
    c.seed = seed;
    run_experiment(&c).expect("valid experiment")
}

// ---------------------------------------------------------------------------------------
// Leakage accounting, recounted from the message log.
// ---------------------------------------------------------------------------------------

/// Recounts everything from the log alone and checks it against the outcome's counters and
/// against the protocol rules: pass 1 asks every top-level parity, later passes all but one
/// (inferred from Alice's total parity), and no sub-block parity is ever asked twice.
///
/// Also replays the batched round numbers: a pass starts in the round after every earlier
/// exchange, each bisection query goes after the round its range became known (pass start
/// for a top-level block, the query of the left half for both halves), every round up to the
/// last carries a query and a reply, and the batched counters are the largest round and one
/// message per direction per round.
fn check_log(
    n: usize,
    outcome: &qkdsim::postprocess::cascade::ReconcileOutcome,
) -> Result<(), TestCaseError> {
    let log = outcome.log.as_ref().expect("log requested");
    let mut disclosed = 0u64;
    let mut replies = 0u64;
    let mut asked_top = 0u64;
    let mut sub_queries = 0u64;
    let mut seen = HashSet::new();
    // (pass, start, end) -> round from which Alice's parity of the range is known.
    let mut known: HashMap<(u32, u32, u32), u32> = HashMap::new();
    // Per round: (Bob sent, Alice replied).
    let mut rounds: Vec<(bool, bool)> = Vec::new();
    let mut last_reply = 0u32;
    let mark = |rounds: &mut Vec<(bool, bool)>, round: u32, reply: bool| {
        let r = round as usize;
        if rounds.len() <= r {
            rounds.resize(r + 1, (false, false));
        }
        rounds[r].0 = true;
        rounds[r].1 |= reply;
    };
    // A reply to a query: a parity message of `bits` bits right after it.
    let reply_of = |i: usize, bits: u32| -> bool {
        matches!(log.get(i + 1), Some(Message::Parities { values }) if values.len() == bits as usize)
    };
    for (i, m) in log.iter().enumerate() {
        match *m {
            Message::PassStart {
                pass,
                block_size,
                asked_blocks,
                round,
                ..
            } => {
                prop_assert_eq!(round, last_reply + 1, "pass {} starts too early", pass);
                let known_at = if asked_blocks > 0 { round } else { round - 1 };
                let k = block_size as usize;
                for b in 0..n.div_ceil(k) {
                    let range = (pass, (b * k) as u32, ((b + 1) * k).min(n) as u32);
                    known.insert(range, known_at);
                }
                mark(&mut rounds, round, asked_blocks > 0);
                if asked_blocks > 0 {
                    last_reply = last_reply.max(round);
                }
                let n_blocks = n.div_ceil(block_size as usize) as u32;
                let expect = if pass == 0 { n_blocks } else { n_blocks - 1 };
                prop_assert_eq!(
                    asked_blocks,
                    expect,
                    "pass {} of {}-bit blocks",
                    pass,
                    block_size
                );
                asked_top += u64::from(asked_blocks);
                if asked_blocks > 0 {
                    prop_assert!(reply_of(i, asked_blocks), "no reply to {:?}", m);
                }
            }
            Message::SubBlockQuery {
                pass,
                start,
                end,
                round,
            } => {
                prop_assert!(start < end && end as usize <= n);
                // The range bisected: left half of `len` bits means a parent of 2 len - 1 or
                // 2 len bits (the left half takes the larger share).
                let len = end - start;
                let parent = [2 * len - 1, 2 * len]
                    .into_iter()
                    .filter(|&l| l > len)
                    .map(|l| (pass, start, start + l))
                    .find(|r| known.contains_key(r));
                prop_assert!(parent.is_some(), "query {:?} splits no known range", m);
                let parent = parent.unwrap();
                prop_assert!(
                    round > known[&parent],
                    "query {:?} before its range {:?} was known (round {})",
                    m,
                    parent,
                    known[&parent]
                );
                known.insert((pass, start, end), round);
                known.insert((pass, end, parent.2), round);
                mark(&mut rounds, round, true);
                last_reply = last_reply.max(round);
                prop_assert!(
                    seen.insert((pass, start, end)),
                    "parity of {:?} asked twice",
                    m
                );
                prop_assert!(reply_of(i, 1), "no reply to {:?}", m);
                sub_queries += 1;
            }
            Message::Parities { ref values } => {
                disclosed += values.len() as u64;
                replies += 1;
            }
        }
    }
    prop_assert_eq!(outcome.leaked_bits, disclosed);
    prop_assert_eq!(outcome.leaked_bits, asked_top + sub_queries);
    prop_assert_eq!(outcome.sequential_messages, log.len() as u64);
    prop_assert_eq!(outcome.sequential_round_trips, replies);
    prop_assert_eq!(outcome.channel_uses, u64::from(last_reply));
    prop_assert!(outcome.channel_uses <= outcome.sequential_round_trips);
    for (r, &(query, reply)) in rounds.iter().enumerate().skip(1) {
        if r as u32 <= last_reply {
            prop_assert!(query && reply, "round {} carries no exchange", r);
        }
    }
    let batched_messages: u64 = rounds
        .iter()
        .map(|&(q, a)| u64::from(q) + u64::from(a))
        .sum();
    prop_assert_eq!(outcome.messages, batched_messages);
    Ok(())
}

fn variant_strategy() -> impl Strategy<Value = CascadeVariant> {
    prop::sample::select(CascadeVariant::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Key sizes from 1 to 3000 bits (mostly not multiples of 64), random error sets and
    /// bursts, a QBER estimate that may be far from the truth.
    #[test]
    fn leakage_is_counted_exactly_and_verified_keys_are_equal(
        n in 1usize..3000,
        key_seed in any::<u64>(),
        error_rate in 0.0f64..0.15,
        burst in any::<bool>(),
        estimate in 0.005f64..0.3,
        variant in variant_strategy(),
    ) {
        let mut rng = stream(key_seed, Purpose::Auxiliary, 0);
        let alice = random_key(n, &mut rng);
        let mut bob = alice.clone();
        if burst {
            // A contiguous run of errors: the shuffles must spread it.
            let len = ((error_rate * n as f64) as usize).min(n);
            let start = (key_seed as usize) % (n - len + 1);
            for i in start..start + len { bob.flip(i); }
        } else {
            plant_errors(&mut bob, error_rate, ErrorModel::Binomial, &mut rng);
        }
        let mut cascade_rng = stream(key_seed, Purpose::Reconciliation, 0);
        let outcome = reconcile_with(&alice, &bob, estimate, variant, &mut cascade_rng,
            ReconcileOptions { keep_log: true }).unwrap();
        check_log(n, &outcome)?;
        let mut verify_rng = stream(key_seed, Purpose::Verification, 0);
        let check = verify(&alice, &outcome.corrected, 1e-12, &mut verify_rng).unwrap();
        prop_assert_eq!(check.tag_bits, 40);
        if check.keys_match {
            prop_assert_eq!(&outcome.corrected, &alice);
        }
    }

    /// Every planted difference, however small, is caught by the verification tag
    /// (a 40-bit tag lets a given difference through with probability 2^-40).
    #[test]
    fn verification_catches_every_residual_error(
        n in 1usize..5000,
        key_seed in any::<u64>(),
        flips in prop::collection::vec(any::<prop::sample::Index>(), 1..6),
    ) {
        let mut rng = stream(key_seed, Purpose::Auxiliary, 1);
        let alice = random_key(n, &mut rng);
        let mut bob = alice.clone();
        for f in &flips { bob.flip(f.index(n)); }
        let mut verify_rng = stream(key_seed, Purpose::Verification, 1);
        let check = verify(&alice, &bob, 1e-12, &mut verify_rng).unwrap();
        prop_assert_eq!(check.keys_match, alice == bob);
        prop_assert_eq!(verify(&alice, &alice.clone(), 1e-12, &mut verify_rng).unwrap().keys_match, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Key lengths whose shuffle grids have rows of three or four whole words (192 or 256
    /// bits: n in 36673..=37056 and 65281..=65792), where a pass whose last grid row is
    /// rotated by a multiple of 64 once read past the grid and panicked (about one shuffle in
    /// 64; the unit tests in `cascade::shuffle` and `cascade` force that case). Every parity
    /// is still counted, and verified keys are equal.
    #[test]
    fn whole_word_row_grids_reconcile_with_every_parity_counted(
        n in prop_oneof![36_673usize..=37_056, 65_281usize..=65_792],
        key_seed in any::<u64>(),
        error_rate in 0.002f64..0.1,
        variant in variant_strategy(),
    ) {
        let mut rng = stream(key_seed, Purpose::Auxiliary, 0);
        let alice = random_key(n, &mut rng);
        let mut bob = alice.clone();
        plant_errors(&mut bob, error_rate, ErrorModel::Binomial, &mut rng);
        let mut cascade_rng = stream(key_seed, Purpose::Reconciliation, 0);
        let outcome = reconcile_with(&alice, &bob, error_rate, variant, &mut cascade_rng,
            ReconcileOptions { keep_log: true }).unwrap();
        check_log(n, &outcome)?;
        let mut verify_rng = stream(key_seed, Purpose::Verification, 0);
        let check = verify(&alice, &outcome.corrected, 1e-12, &mut verify_rng).unwrap();
        if check.keys_match {
            prop_assert_eq!(&outcome.corrected, &alice);
        }
    }
}

/// The smallest reconcile call that crashed (index out of bounds in `Shuffle::apply_with`
/// via `Bob::run_pass`): 36673 bits, seed 6, one run, whatever the variant and QBER (the
/// first pass's shuffle rotates the last row of its 192 x 192 grid by a multiple of 64).
#[test]
fn cli_reconcile_of_the_smallest_crashing_call_succeeds() {
    for variant in CascadeVariant::ALL {
        let out = Command::cargo_bin("qkdsim")
            .unwrap()
            .args([
                "reconcile",
                "--bits",
                "36673",
                "--qber",
                "0.02",
                "--runs",
                "1",
            ])
            .args(["--seed", "6", "--json", "--variant", variant.name()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{variant}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
        assert_eq!(v["residual_error_runs"], 0, "{variant}");
        assert_eq!(v["verification_failures"], 0, "{variant}");
    }
}

// ---------------------------------------------------------------------------------------
// Round trips: batched exchanges along the critical path.
// ---------------------------------------------------------------------------------------

fn one_outcome(
    n: usize,
    q: f64,
    variant: CascadeVariant,
    seed: u64,
) -> qkdsim::postprocess::cascade::ReconcileOutcome {
    let mut rng = stream(seed, Purpose::Auxiliary, 0);
    let alice = random_key(n, &mut rng);
    let mut bob = alice.clone();
    plant_errors(&mut bob, q, ErrorModel::Exact, &mut rng);
    let mut cascade_rng = stream(seed, Purpose::Reconciliation, 0);
    reconcile_with(
        &alice,
        &bob,
        q,
        variant,
        &mut cascade_rng,
        ReconcileOptions::default(),
    )
    .unwrap()
}

/// With independent queries batched, yanetal needs O(passes x log n) round trips, not one per
/// parity: 10 passes of at most 1 + log2(n/2) = 20 rounds each is 200, and the cascade
/// effect adds rounds of at most that depth each. At n = 1e6 and Q = 2 % the sequential count
/// is above 1e5 (about one per disclosed parity); the batched one must stay well under 1000.
#[test]
fn batched_round_trips_are_about_passes_times_log_n() {
    let o = one_outcome(1_000_000, 0.02, CascadeVariant::YanEtAl, 51);
    eprintln!(
        "yanetal n=1e6 Q=2%: {} round trips batched, {} sequential",
        o.channel_uses, o.sequential_round_trips
    );
    assert!(o.sequential_round_trips > 100_000, "{o:?}");
    assert!(o.channel_uses < 1000, "{}", o.channel_uses);
    // Every pass asks at least one top-level parity in a round of its own, and the first
    // pass's searches need 1 + ceil(log2 40) = 7 rounds.
    assert!(
        o.channel_uses >= u64::from(o.passes) + 6,
        "{}",
        o.channel_uses
    );
}

/// Sanity of the counts for every variant and a range of sizes and error rates: batched never
/// exceeds sequential, every round up to the last carries one query message and one reply
/// (so messages are twice the round trips, plus at most one trailing one-way notice), and
/// for yanetal (blocks of n/2 from pass 3) the rounds grow slowly with n while the
/// sequential count grows in proportion to n.
#[test]
fn batched_counts_are_consistent_and_grow_slowly() {
    for variant in CascadeVariant::ALL {
        for q in [0.01, 0.05] {
            for n in [1_000, 10_000, 100_000] {
                let o = one_outcome(n, q, variant, 52);
                assert!(
                    o.channel_uses <= o.sequential_round_trips,
                    "{variant} {n} {q}"
                );
                assert!(o.messages <= o.sequential_messages, "{variant} {n} {q}");
                assert!(
                    (2 * o.channel_uses..=2 * o.channel_uses + 1).contains(&o.messages),
                    "{variant} {n} {q}: {} messages for {} round trips",
                    o.messages,
                    o.channel_uses
                );
                assert!(o.channel_uses >= 2, "{variant} {n} {q}");
            }
        }
    }
    let mean_rounds = |n: usize| -> (f64, f64) {
        let s = experiment(n, 0.02, CascadeVariant::YanEtAl, 4, 53);
        (s.channel_uses_mean, s.sequential_round_trips_mean)
    };
    let (small, small_seq) = mean_rounds(10_000);
    let (large, large_seq) = mean_rounds(1_000_000);
    eprintln!("yanetal Q=2%: {small} -> {large} batched, {small_seq} -> {large_seq} sequential");
    assert!(small < large, "{small} {large}");
    // 100 times the bits: the sequential count grows about 100-fold, the batched one by
    // far less than 10-fold.
    assert!(large_seq > 50.0 * small_seq);
    assert!(large < 10.0 * small, "{small} {large}");
}

// ---------------------------------------------------------------------------------------
// Correctness: frame error rate.
// ---------------------------------------------------------------------------------------

/// After Cascade Bob's key equals Alice's in all but a rare fraction of runs. Demystifying
/// (its frame-error-rate figures versus QBER) reports frame error rates of order 1e-2 or
/// below for the original protocol and far below for the 10- and 14-pass variants. We check
/// the observed count against 1e-2: with R runs the expected count is at most R/100 and 5
/// standard deviations above that is R/100 + 5 sqrt(R/100). Verification must flag every
/// residual error. Yan et al.'s schedule has an intrinsic floor near 2^-8 (eight half-key
/// passes that each miss an even residual with probability 1/2); we observe about 5e-3.
#[test]
fn frame_error_rate_is_small_and_every_failure_is_flagged() {
    let runs = if long_tests() { 2000 } else { 200 };
    for variant in CascadeVariant::ALL {
        for q in [0.01, 0.05, 0.08] {
            let s = experiment(10_000, q, variant, runs, 11);
            let bound = runs as f64 / 100.0 + 5.0 * (runs as f64 / 100.0).sqrt();
            eprintln!(
                "{variant} Q={q}: frame error rate {}/{} = {:.1e}",
                s.residual_error_runs, runs, s.frame_error_rate
            );
            assert!(
                (s.residual_error_runs as f64) <= bound,
                "{variant} Q={q}: {} residual-error runs",
                s.residual_error_runs
            );
            assert_eq!(s.undetected_errors, 0, "{variant} Q={q}");
            assert_eq!(
                s.verification_failures, s.residual_error_runs,
                "{variant} Q={q}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Efficiency.
// ---------------------------------------------------------------------------------------

/// Shannon: no reconciliation discloses less than n h(Q) bits on average, so the mean
/// efficiency is at least 1. The mean itself must stay at or above 1 (a mean below 1 would
/// mean parities are being lost from the count).
#[test]
fn mean_efficiency_is_never_below_one() {
    for variant in CascadeVariant::ALL {
        for q in [0.01, 0.03, 0.1] {
            let s = experiment(4_000, q, variant, 60, 21);
            let mean = s.efficiency_mean.expect("errors planted");
            assert!(mean >= 1.0, "{variant} Q={q}: mean efficiency {mean}");
        }
    }
}

/// Published efficiency bands (Demystifying, its efficiency-versus-QBER figures at n = 1e4 and
/// 1e5), with the margin stated per variant:
/// - original: 1.13-1.22 for Q = 1-8 % in the paper's Fig. 1. Ours sits 2-3 % below it
///   (1.11 at 1 %, 1.175 at 8 %): Bob searches the odd blocks one at a time, smallest first,
///   and infers the last top-level parity of every pass after the first (docs/cascade.md
///   measures both against brunorijsman/cascade-cpp, which reproduces the paper's curve).
///   We accept [1.0, 1.22 + 0.03].
/// - biconf and yanetal: about 1.05-1.10; we accept [1.0, 1.10 + 0.02].
/// - option7 and option8: the paper's best, about 1.03-1.07 at these sizes; we accept
///   [1.0, 1.08].
///
/// The mean of R runs has a standard error of std/sqrt(R) below 0.005 here, much smaller than
/// the margins. The lower end, 1, is Shannon's bound (see `mean_efficiency_is_never_below_one`).
fn published_band(variant: CascadeVariant) -> (f64, f64) {
    match variant {
        CascadeVariant::Original => (1.0, 1.25),
        CascadeVariant::Biconf | CascadeVariant::YanEtAl => (1.0, 1.12),
        CascadeVariant::Option7 | CascadeVariant::Option8 => (1.0, 1.08),
    }
}

/// Checks every variant at every Q against its published band; returns the summaries.
fn check_efficiency(
    n: usize,
    runs: usize,
    qbers: &[f64],
) -> Vec<(CascadeVariant, f64, ExperimentSummary)> {
    let mut summaries = Vec::new();
    for variant in CascadeVariant::ALL {
        let (lo, hi) = published_band(variant);
        for &q in qbers {
            let s = experiment(n, q, variant, runs, 31);
            let mean = s.efficiency_mean.expect("errors planted");
            eprintln!(
                "n={n} {variant} Q={q}: f = {:.4} +- {:.4}",
                mean,
                s.efficiency_std.expect("errors planted")
            );
            assert!(
                (lo..=hi).contains(&mean),
                "n={n} {variant} Q={q}: efficiency {mean} outside [{lo}, {hi}]"
            );
            summaries.push((variant, q, s));
        }
    }
    summaries
}

#[test]
fn efficiency_matches_published_values_at_1e4() {
    let runs = if long_tests() { 400 } else { 40 };
    check_efficiency(10_000, runs, &[0.01, 0.02, 0.05, 0.08]);
}

/// Mean efficiency at n = 1e5 of 2000 runs per point (seed 1001, independent of the seed the
/// test uses), with the standard deviation of one run: `qkdsim reconcile --bits 100000 --qber
/// Q --variant V --runs 2000 --seed 1001 --json` (`efficiency_mean`, `efficiency_std`). The
/// brunorijsman/cascade-cpp comparison in docs/cascade.md reproduces such means to within
/// their standard errors once its search order and last-block parity are set like ours.
const REFERENCE_RUNS_1E5: usize = 2000;
const REFERENCE_1E5: [(CascadeVariant, f64, f64, f64); 20] = {
    use CascadeVariant::*;
    [
        (Original, 0.01, 1.11003, 0.00225),
        (Original, 0.02, 1.12566, 0.00185),
        (Original, 0.05, 1.15158, 0.00108),
        (Original, 0.08, 1.17582, 0.00131),
        (Biconf, 0.01, 1.03169, 0.00286),
        (Biconf, 0.02, 1.03655, 0.00212),
        (Biconf, 0.05, 1.04718, 0.00161),
        (Biconf, 0.08, 1.06184, 0.00143),
        (YanEtAl, 0.01, 1.03109, 0.00335),
        (YanEtAl, 0.02, 1.03585, 0.00255),
        (YanEtAl, 0.05, 1.03807, 0.00157),
        (YanEtAl, 0.08, 1.05981, 0.00158),
        (Option7, 0.01, 1.02301, 0.00240),
        (Option7, 0.02, 1.02638, 0.00173),
        (Option7, 0.05, 1.03991, 0.00127),
        (Option7, 0.08, 1.04862, 0.00107),
        (Option8, 0.01, 1.02567, 0.00227),
        (Option8, 0.02, 1.02797, 0.00171),
        (Option8, 0.05, 1.03512, 0.00143),
        (Option8, 0.08, 1.04962, 0.00107),
    ]
};

/// Runs in the CI form of the n = 1e5 efficiency test (Q = 1 % and 8 %, every variant).
///
/// Cost: one run of Cascade at n = 1e5 takes 3 to 16 ms of one core under load, key
/// generation and verification included, in the test profile (opt-level 2) as in release;
/// 10 points x 80 runs took 6 s of wall time on the two cores at a load average of 13 (40
/// runs took 3 s), so the test stays under 20 s on two cores shared with other jobs.
///
/// Bound, from the standard error of the mean. The efficiencies f_i of the R runs are
/// independent (every run draws its key, errors and shuffles from its own stream) with a
/// standard deviation sigma (0.0010 to 0.0034 at this size, the table above). Their mean has
/// a standard error sigma / sqrt(R); the reference mean, from R_ref = 2000 other runs,
/// sigma / sqrt(R_ref); their difference sigma sqrt(1/R + 1/R_ref). By the central limit
/// theorem the difference is close to normal, so a deviation beyond 5 of those standard
/// errors has a probability below 6e-7 per point (below 1e-5 for the 10 points together) if
/// nothing changed. sigma is the larger of this run's sample deviation and the reference's,
/// so an unluckily narrow sample cannot tighten the bound. With R = 80 and sigma = 0.0034 the
/// bound is 5 x 0.0034 x sqrt(1/80 + 1/2000) = 0.0019 in f, 0.19 % of the leakage (about 16
/// parity bits of 8300 at Q = 1 %): a lost or extra parity per search, a change of search
/// order (first come first served instead of smallest first costs 3 %, docs/cascade.md) or of
/// block sizes fails it; a change that leaves the distribution of the leakage alone (another
/// seed, another shuffle construction of the same quality) passes.
const CI_RUNS_1E5: usize = 80;

#[test]
fn efficiency_at_1e5_matches_reference_and_published_band() {
    let (runs, qbers): (usize, &[f64]) = if long_tests() {
        (400, &[0.01, 0.02, 0.05, 0.08])
    } else {
        (CI_RUNS_1E5, &[0.01, 0.08])
    };
    for (variant, q, s) in check_efficiency(100_000, runs, qbers) {
        let &(_, _, reference, reference_std) = REFERENCE_1E5
            .iter()
            .find(|r| r.0 == variant && r.1 == q)
            .expect("reference for every variant and Q tested");
        // At n = 1e5 and Q >= 1 % every run has planted errors, so f is defined.
        assert_eq!(s.efficiency_runs, runs);
        let (mean, std) = (
            s.efficiency_mean.expect("f is defined"),
            s.efficiency_std.expect("f is defined"),
        );
        let sigma = std.max(reference_std);
        let se = sigma * (1.0 / runs as f64 + 1.0 / REFERENCE_RUNS_1E5 as f64).sqrt();
        let deviation = mean - reference;
        eprintln!(
            "n=1e5 {variant} Q={q}: f = {:.5}, reference {reference:.5}, {:+.1} standard errors",
            mean,
            deviation / se
        );
        assert!(
            deviation.abs() <= 5.0 * se,
            "n=1e5 {variant} Q={q}: mean efficiency {:.5} of {runs} runs is {:.1} standard \
             errors ({se:.5}) from the reference {reference:.5}",
            mean,
            deviation / se
        );
    }
}

/// The target for option8 (Demystifying's figure): f <= 1.05 for Q <= 5 % at n >= 1e5.
#[test]
fn option8_reaches_the_paper_figure_at_1e5() {
    let runs = if long_tests() { 50 } else { 4 };
    for q in [0.01, 0.02, 0.05] {
        let s = experiment(100_000, q, CascadeVariant::Option8, runs, 41);
        assert!(
            s.efficiency_mean.expect("errors planted") <= 1.05,
            "Q={q}: f = {:?}",
            s.efficiency_mean
        );
    }
}

// ---------------------------------------------------------------------------------------
// Determinism and the command line.
// ---------------------------------------------------------------------------------------

#[test]
fn results_do_not_depend_on_thread_count() {
    let mut c = ExperimentConfig::new(5_000, 0.03, CascadeVariant::Option8);
    c.runs = 16;
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| run_experiment(&c))
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(|| run_experiment(&c))
        .unwrap();
    assert_eq!(
        one.efficiency_mean.map(f64::to_bits),
        two.efficiency_mean.map(f64::to_bits)
    );
    assert_eq!(
        one.leaked_bits_mean.to_bits(),
        two.leaked_bits_mean.to_bits()
    );
    assert_eq!(
        one.channel_uses_mean.to_bits(),
        two.channel_uses_mean.to_bits()
    );
    assert_eq!(one.residual_error_runs, two.residual_error_runs);
}

#[test]
fn exact_error_model_plants_exactly_round_qn() {
    let mut rng = stream(9, Purpose::Auxiliary, 0);
    for n in [1usize, 63, 64, 1000, 12_345] {
        let alice = random_key(n, &mut rng);
        let mut bob = alice.clone();
        let planted = plant_errors(&mut bob, 0.037, ErrorModel::Exact, &mut rng);
        assert_eq!(planted as usize, (0.037 * n as f64).round() as usize);
        assert_eq!(alice.hamming_distance(&bob), planted as usize);
    }
    // Binomial: mean n Q, standard deviation sqrt(n Q (1-Q)); 5 sigma.
    let n = 200_000;
    let mut bob = BitVec::zeros(n);
    let planted = plant_errors(&mut bob, 0.05, ErrorModel::Binomial, &mut rng) as f64;
    assert!((planted - 10_000.0).abs() < 5.0 * (n as f64 * 0.05 * 0.95).sqrt());
    assert_eq!(bob.count_ones() as f64, planted);
}

#[test]
fn cli_json_has_the_contract_fields() {
    let out = Command::cargo_bin("qkdsim")
        .unwrap()
        .args([
            "reconcile",
            "--bits",
            "3000",
            "--qber",
            "0.03",
            "--variant",
            "option7",
            "--runs",
            "4",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    for key in [
        "bits",
        "qber",
        "variant",
        "runs",
        "efficiency_mean",
        "efficiency_std",
        "channel_uses_mean",
        "leaked_bits_mean",
        "residual_error_runs",
        "seconds_mean",
        "bits_per_second",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["variant"], "option7");
    assert_eq!(v["bits"], 3000);
    let h = binary_entropy(0.03);
    assert!(v["leaked_bits_mean"].as_f64().unwrap() >= 3000.0 * h * 0.9);
    let batched = v["channel_uses_mean"].as_f64().unwrap();
    let sequential = v["sequential_round_trips_mean"].as_f64().unwrap();
    assert!(
        0.0 < batched && batched < sequential,
        "{batched} {sequential}"
    );
}

#[test]
fn cli_rejects_bad_arguments_with_what_is_allowed() {
    let cases: [(&[&str], &str); 5] = [
        (&["--bits", "1000", "--qber", "0.6"], "(0, 0.5)"),
        (&["--bits", "1000", "--qber", "0"], "(0, 0.5)"),
        (&["--bits", "1000", "--qber", "-0.1"], "(0, 0.5)"),
        (
            &["--bits", "0", "--qber", "0.02"],
            "must be in [1, 4294967295], got 0",
        ),
        (
            &["--bits", "1000", "--qber", "0.02", "--variant", "turbo"],
            "original, biconf, yanetal, option7, option8",
        ),
    ];
    for (args, expect) in cases {
        let out = Command::cargo_bin("qkdsim")
            .unwrap()
            .arg("reconcile")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}
