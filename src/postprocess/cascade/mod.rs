//! Information reconciliation with Cascade (Brassard and Salvail, "Secret-key reconciliation
//! by public discussion", EUROCRYPT 1993), in the variants compared by Martinez-Mateo et al.,
//! "Demystifying the information reconciliation protocol Cascade", QIC 15 (2015)
//! ("Demystifying" below), and Yan et al. 2008.
//!
//! Alice and Bob are separate objects (modules `alice` and `bob`) that talk only through a
//! modelled classical [`Channel`], which counts every message, every round trip and every
//! disclosed parity bit. Bob holds the channel, never Alice: the answering side is a
//! [`Responder`] owned by the channel, and Alice's key is private to her module, so the bits
//! the channel counts are all Bob can learn. [`reconcile_as_bob`] runs Bob against any
//! responder, which is how an audit replays him from a message log alone
//! (`tests/cascade_replay.rs`). Round trips are counted as a real link would spend them:
//! queries that do not wait for each other's answers share one exchange, so the count is the
//! critical path of the protocol, not the number of queries (see the `channel` module). Keys
//! are bit-packed ([`BitVec`]); block parities are XORs over word ranges. Each pass uses a
//! fresh public shuffle drawn from the caller's generator (a keyed Feistel permutation,
//! [`Shuffle`]); each party permutes its own key with word operations on the permutation's
//! grid (three rounds of row and column rotations, no table of n entries and no bit-by-bit
//! gather), and keeps it for the pass. A pass of at most `FEW_BLOCKS` (8) top-level blocks
//! (Cascade's later passes, blocks of n/2 bits, which mostly find no error) gets its
//! top-level parities from [`Shuffle::block_parities`] without the shuffled key, and each
//! party builds that key only when a search in the pass first needs it: the same parities,
//! queries and outcome, without two full shuffles per quiet pass. Every pass keeps an index
//! from each bit to its block
//! (the shuffle's inverse plus a tree of the known sub-blocks), so the cascade effect
//! re-checks earlier passes in O(passes x depth) per corrected bit.
//!
//! Leakage is exact: it is the number of parity bits Alice actually sends. Parities Bob can
//! infer are never asked: the right half in a bisection (parent XOR left), the last
//! top-level block of every pass after the first (Alice's total parity XOR the others), and
//! any range already known from an earlier search. Odd blocks are searched one at a time,
//! the smallest first. **docs/cascade.md** explains, per variant, which parities are reused
//! or inferred and under which name the literature knows each rule, why the count is
//! complete, and why it is 2-5 % below brunorijsman/cascade-cpp (commit 8240cab): that
//! implementation searches the odd blocks of a pass and of the cascade effect side by side,
//! first come first served, and asks every top-level parity.
//!
//! [`reconcile_disclosing`] also records every disclosed parity as a linear function of
//! Alice's key ([`DisclosedParities`]: the range of a pass's shuffled key and the pass's
//! public shuffle, hence the set of original positions), in channel order, for the
//! eavesdropper's accounting in `postprocess::leakage`; the outcome is the same as without.
//!
//! Must never depend on `physics`, `protocol`, `estimation`, `analysis` or `report`: it sees
//! two keys, a QBER *estimate* (never the true error count) and a random generator.

mod alice;
mod bob;
mod channel;
mod disclosure;
mod experiment;
mod parity;
mod shuffle;
mod variant;

pub use channel::{Channel, ChannelStats, Message, Responder};
pub use disclosure::{DisclosedParities, ParityRange};
pub use experiment::{
    ErrorModel, ExperimentConfig, ExperimentSummary, ExperimentTimings, RunResult, plant_errors,
    random_key, run_experiment, run_experiment_until, run_one,
};
pub use shuffle::{Shuffle, ShuffleScratch};
pub use variant::{BiconfRule, CascadeVariant, MIN_QBER_ESTIMATE, Schedule};

use rand::Rng;

use crate::bits::BitVec;
use crate::error::{Error, Result};
use alice::Alice;
use bob::Bob;

/// What Cascade produced for one key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileOutcome {
    /// Bob's key after Cascade.
    pub corrected: BitVec,
    /// Parity bits Alice disclosed (the leakage to subtract in privacy amplification).
    pub leaked_bits: u64,
    /// Messages sent in either direction, with the queries that can travel together batched
    /// into one message per direction per round (see the `channel` module documentation).
    pub messages: u64,
    /// Round trips (query and reply) on the classical channel with independent queries
    /// batched: the longest chain of queries that each need an earlier answer.
    pub channel_uses: u64,
    /// Round trips if every parity query waited for the previous reply (the count before
    /// batching; about one per disclosed parity).
    pub sequential_round_trips: u64,
    /// Messages if every query and reply travelled alone.
    pub sequential_messages: u64,
    /// Passes run, BICONF rounds included.
    pub passes: u32,
    /// Bits Bob flipped.
    pub corrections: u64,
    /// Every message, in order, when [`ReconcileOptions::keep_log`] was set.
    pub log: Option<Vec<Message>>,
}

/// Options of [`reconcile_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// Keep the full message log in the outcome (for tests and audits; costs memory).
    pub keep_log: bool,
}

/// Largest key Cascade accepts: positions are stored as `u32`.
pub const MAX_KEY_BITS: usize = u32::MAX as usize;

/// Reconciles Bob's key with Alice's using `variant`, sizing blocks from `qber_estimate`.
///
/// # Panics
/// If the keys differ in length or are longer than [`MAX_KEY_BITS`]: those are programming
/// errors of the caller, not user input (use [`reconcile_with`] to get an error instead).
pub fn reconcile<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    qber_estimate: f64,
    variant: CascadeVariant,
    rng: &mut R,
) -> ReconcileOutcome {
    match reconcile_with(
        alice,
        bob,
        qber_estimate,
        variant,
        rng,
        ReconcileOptions::default(),
    ) {
        Ok(outcome) => outcome,
        Err(e) => panic!("reconcile: {e}"),
    }
}

/// [`reconcile`] with options, returning an error on keys of different or excessive length.
pub fn reconcile_with<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    qber_estimate: f64,
    variant: CascadeVariant,
    rng: &mut R,
    options: ReconcileOptions,
) -> Result<ReconcileOutcome> {
    if alice.len() != bob.len() {
        return Err(Error::InvalidArgument(format!(
            "Cascade needs keys of equal length; Alice has {} bits, Bob {}",
            alice.len(),
            bob.len()
        )));
    }
    let mut alice_party = Alice::new(alice);
    reconcile_as_bob(bob, qber_estimate, variant, rng, &mut alice_party, options)
}

/// Bob's side of Cascade on his key `bob`, with `responder` answering his parity queries in
/// Alice's place: the same passes, shuffles (drawn from `rng`), searches and counts as
/// [`reconcile_with`], which calls it with Alice as the responder. An auditor holding only
/// Bob's key, the public parameters and seed, and Alice's logged answers ([`Message`])
/// reproduces Bob's corrected key with a responder that answers from the log.
///
/// Returns an error for a key longer than [`MAX_KEY_BITS`], for the first error the
/// responder reported, for a reply with another number of parities than asked, or for
/// answers that contradict each other (more corrections than key bits, which honest answers
/// never cause): Bob then stops asking, and the outcome is discarded. Any responder, however
/// it answers, gets at most one search per key bit, so Bob always terminates.
pub fn reconcile_as_bob<G: Rng + ?Sized, R: Responder + ?Sized>(
    bob: &BitVec,
    qber_estimate: f64,
    variant: CascadeVariant,
    rng: &mut G,
    responder: &mut R,
    options: ReconcileOptions,
) -> Result<ReconcileOutcome> {
    run_bob(bob, qber_estimate, variant, rng, responder, options, false).map(|(o, _)| o)
}

/// [`reconcile_with`] that also records every parity bit Alice disclosed as a linear
/// function of her key ([`DisclosedParities`]: per bit, the range of a pass's shuffled key
/// and the pass's public shuffle, so the original key positions it covers), in the order the
/// bits crossed the channel: entry `i` is the `i`-th value of the message log's
/// [`Message::Parities`], and there are `leaked_bits` entries. The outcome is identical to
/// [`reconcile_with`]'s with the same arguments (recording only watches the channel).
///
/// The record costs 12 bytes per disclosed bit; turning it into positions costs a source
/// table of 4 bytes per key bit per pass ([`DisclosedParities::for_each_positions`]).
pub fn reconcile_disclosing<R: Rng + ?Sized>(
    alice: &BitVec,
    bob: &BitVec,
    qber_estimate: f64,
    variant: CascadeVariant,
    rng: &mut R,
    options: ReconcileOptions,
) -> Result<(ReconcileOutcome, DisclosedParities)> {
    if alice.len() != bob.len() {
        return Err(Error::InvalidArgument(format!(
            "Cascade needs keys of equal length; Alice has {} bits, Bob {}",
            alice.len(),
            bob.len()
        )));
    }
    let mut alice_party = Alice::new(alice);
    let (outcome, disclosed) = run_bob(
        bob,
        qber_estimate,
        variant,
        rng,
        &mut alice_party,
        options,
        true,
    )?;
    let disclosed = disclosed.unwrap_or_else(|| DisclosedParities::new(bob.len()));
    Ok((outcome, disclosed))
}

/// Bob's side of Cascade ([`reconcile_as_bob`]); with `record`, the channel also records
/// the disclosed parities.
fn run_bob<G: Rng + ?Sized, R: Responder + ?Sized>(
    bob: &BitVec,
    qber_estimate: f64,
    variant: CascadeVariant,
    rng: &mut G,
    responder: &mut R,
    options: ReconcileOptions,
    record: bool,
) -> Result<(ReconcileOutcome, Option<DisclosedParities>)> {
    let n = bob.len();
    if n > MAX_KEY_BITS {
        return Err(Error::InvalidArgument(format!(
            "Cascade handles at most {MAX_KEY_BITS} bits per block, got {n}"
        )));
    }
    let mut channel = Channel::new(responder, options.keep_log);
    if record {
        channel.record_disclosures(n);
    }
    if n == 0 {
        let disclosed = channel.take_disclosures();
        let outcome = ReconcileOutcome {
            corrected: bob.clone(),
            leaked_bits: 0,
            messages: 0,
            channel_uses: 0,
            sequential_round_trips: 0,
            sequential_messages: 0,
            passes: 0,
            corrections: 0,
            log: channel.take_log(),
        };
        return Ok((outcome, disclosed));
    }
    let schedule = variant.schedule(qber_estimate, n);
    let mut bob_party = Bob::new(bob, schedule.sub_block_reuse);
    for &k in &schedule.block_sizes {
        if channel.failed() {
            break;
        }
        bob_party.run_pass(k, Shuffle::random(n, rng), &mut channel);
    }
    if let Some(rule) = schedule.biconf {
        // BICONF (Buttler et al. 2003): Alice and Bob compare the parity of a random half of
        // the key (the complement's parity follows from the total, so both halves are
        // checked for one bit); an odd half is bisected and the cascade effect runs back
        // through every earlier pass. Stop after `error_free_streak` clean rounds.
        let half = n.div_ceil(2);
        let (mut streak, mut rounds) = (0, 0);
        while streak < rule.error_free_streak && rounds < rule.max_rounds && !channel.failed() {
            let found = bob_party.run_pass(half, Shuffle::random(n, rng), &mut channel);
            streak = if found { 0 } else { streak + 1 };
            rounds += 1;
        }
    }
    if let Some(e) = channel.take_failure() {
        return Err(e);
    }
    let stats = channel.stats();
    let passes = bob_party.passes() as u32;
    let corrections = bob_party.flips();
    let disclosed = channel.take_disclosures();
    let outcome = ReconcileOutcome {
        corrected: bob_party.into_key(),
        leaked_bits: stats.disclosed_bits,
        messages: stats.messages,
        channel_uses: stats.round_trips,
        sequential_round_trips: stats.sequential_round_trips,
        sequential_messages: stats.sequential_messages,
        passes,
        corrections,
        log: channel.take_log(),
    };
    Ok((outcome, disclosed))
}

/// The binary entropy h(p) in bits, shared with the security analysis.
pub use crate::estimation::binary_entropy;

/// Reconciliation efficiency f = leaked / (n h(qber)) (Demystifying, eq. 1); infinite when
/// h is zero but something leaked, and 1 for nothing leaked of nothing.
pub fn efficiency(leaked_bits: u64, n: usize, qber: f64) -> f64 {
    let ideal = n as f64 * binary_entropy(qber);
    if ideal > 0.0 {
        leaked_bits as f64 / ideal
    } else if leaked_bits == 0 {
        1.0
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, stream};
    use rand::RngExt;

    #[test]
    fn entropy_values() {
        assert_eq!(binary_entropy(0.0), 0.0);
        assert_eq!(binary_entropy(1.0), 0.0);
        assert!((binary_entropy(0.5) - 1.0).abs() < 1e-15);
        assert!((binary_entropy(0.11) - 0.4999).abs() < 1e-3);
    }

    #[test]
    fn corrects_a_small_key_for_every_variant() {
        let mut rng = stream(5, Purpose::Auxiliary, 0);
        let n = 2000;
        let words: Vec<u64> = (0..n / 64 + 1).map(|_| rng.random()).collect();
        let alice = BitVec::from_words(words, n);
        let mut bob = alice.clone();
        for i in (0..n).step_by(50) {
            bob.flip(i);
        }
        for v in CascadeVariant::ALL {
            let mut r = stream(5, Purpose::Reconciliation, 0);
            let out = reconcile(&alice, &bob, 0.02, v, &mut r);
            assert_eq!(out.corrected, alice, "{v}");
            assert_eq!(out.corrections, 40, "{v}");
            assert!(
                out.leaked_bits as f64 >= 2000.0 * binary_entropy(0.02) * 0.8,
                "{v}"
            );
        }
    }

    #[test]
    fn reconciles_when_a_shuffle_rotates_a_whole_word_row_by_whole_words() {
        // Regression for "index out of bounds: the len is 578 but the index is 578" in
        // `Shuffle::apply_with` via `Bob::run_pass`: at n = 36673, the smallest key whose
        // shuffle grid has rows of three whole words (192 x 192), a first pass whose last grid
        // row is rotated by a multiple of 64 crashed. The seed is searched for (the first
        // whose first shuffle has that rotation), so the test keeps meeting the edge should
        // the streams change; every variant must then correct every planted error.
        let n = 36_673;
        let seed = (0..)
            .find(|&s| {
                let shuffle = Shuffle::random(n, &mut stream(s, Purpose::Reconciliation, 0));
                let (a, b, shift) = shuffle.last_row_shift();
                assert_eq!((a, b), (192, 192));
                shift % 64 == 0
            })
            .expect("a seed");
        let mut rng = stream(seed, Purpose::Auxiliary, 0);
        let alice = random_key(n, &mut rng);
        let mut bob = alice.clone();
        let planted = plant_errors(&mut bob, 0.02, ErrorModel::Exact, &mut rng);
        assert_eq!(planted, 733);
        for v in CascadeVariant::ALL {
            let mut r = stream(seed, Purpose::Reconciliation, 0);
            let out = reconcile(&alice, &bob, 0.02, v, &mut r);
            assert_eq!(out.corrected, alice, "{v}");
            assert_eq!(out.corrections, planted, "{v}");
        }
    }

    /// Runs Cascade with and without recording on the same inputs; checks the outcomes are
    /// identical, the record has one entry per leaked bit, and every recorded set's parity
    /// over Alice's key is the value the channel log shows Alice sent.
    fn check_recording(n: usize, q: f64, variant: CascadeVariant, seed: u64) {
        let mut rng = stream(seed, Purpose::Auxiliary, n as u64);
        let alice = random_key(n, &mut rng);
        let mut bob = alice.clone();
        plant_errors(&mut bob, q, ErrorModel::Binomial, &mut rng);
        let options = ReconcileOptions { keep_log: true };
        let plain = reconcile_with(
            &alice,
            &bob,
            q,
            variant,
            &mut stream(seed, Purpose::Reconciliation, 0),
            options,
        )
        .unwrap();
        let (recorded, disclosed) = reconcile_disclosing(
            &alice,
            &bob,
            q,
            variant,
            &mut stream(seed, Purpose::Reconciliation, 0),
            options,
        )
        .unwrap();
        assert_eq!(plain, recorded, "n {n} {variant}");
        assert_eq!(disclosed.key_bits(), n);
        assert_eq!(disclosed.len() as u64, plain.leaked_bits, "n {n} {variant}");
        // The values Alice sent, in channel order, from the log.
        let mut sent = Vec::new();
        for m in plain.log.as_ref().unwrap() {
            if let Message::Parities { values } = m {
                sent.extend((0..values.len()).map(|i| values.get(i)));
            }
        }
        assert_eq!(sent.len(), disclosed.len());
        let mut visited = 0;
        disclosed.for_each_positions(|i, positions| {
            let parity = positions
                .iter()
                .fold(false, |p, &x| p ^ alice.get(x as usize));
            assert_eq!(parity, sent[i], "n {n} {variant} bit {i}");
            let mut sorted = positions.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), positions.len(), "positions repeat");
            if i % 97 == 0 {
                assert_eq!(disclosed.positions(i), sorted);
                let row = disclosed.row(i);
                assert_eq!(row.count_ones(), sorted.len());
                assert!(sorted.iter().all(|&x| row.get(x as usize)));
            }
            visited += 1;
        });
        assert_eq!(visited, disclosed.len());
    }

    #[test]
    fn recorded_parities_are_the_disclosed_values_for_every_variant() {
        for v in CascadeVariant::ALL {
            for (n, q) in [
                (0, 0.02),
                (1, 0.3),
                (2, 0.1),
                (77, 0.05),
                (1000, 0.02),
                (4097, 0.08),
            ] {
                check_recording(n, q, v, 3);
            }
            check_recording(20_000, 0.01, v, 4);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]
        /// Random keys, sizes and QBERs: the record matches the log bit for bit.
        #[test]
        fn recorded_parities_match_the_log(
            n in 1usize..3000,
            q in 0.0f64..0.15,
            seed in proptest::prelude::any::<u64>(),
            v in 0usize..CascadeVariant::ALL.len(),
        ) {
            check_recording(n, q.max(0.001), CascadeVariant::ALL[v], seed);
        }
    }

    #[test]
    fn rejects_unequal_keys() {
        let mut r = stream(1, Purpose::Reconciliation, 0);
        let e = reconcile_with(
            &BitVec::zeros(3),
            &BitVec::zeros(4),
            0.1,
            CascadeVariant::Original,
            &mut r,
            ReconcileOptions::default(),
        );
        assert!(e.is_err());
    }
}
