//! Transcript replay of Cascade (issue 11, part 5): a third party holding only Bob's noisy key,
//! the public parameters (variant, QBER estimate, the seed of the public shuffles) and the
//! logged messages reproduces Bob's corrected key bit for bit.
//!
//! The replayer here owes nothing to Alice's implementation: it runs Bob's code
//! ([`reconcile_as_bob`]) against a [`Responder`] written in this file that hands Bob the
//! logged answers of Alice, one after the other, and checks every query Bob makes against the
//! next logged query of Bob. Replay fails when Bob asks something the log has no answer for
//! (another query, another pass, another block size or shuffle, a different number of
//! parities), when the log has messages left over, or when the number of parity bits replayed
//! differs from the `leaked_bits` of the run. If Bob learnt anything about Alice's key that
//! did not cross the channel counted (a shortcut to her data anywhere in the library), the
//! replay, which has no Alice at all, would drift from the original run and fail.
//!
//! The tamper tests show the replay can fail: changing any one logged parity bit, dropping a
//! message or appending one makes replay fail or changes the replayed key.

use proptest::prelude::*;
use qkdsim::bits::BitVec;
use qkdsim::error::{Error, Result};
use qkdsim::postprocess::cascade::{
    CascadeVariant, ErrorModel, Message, ReconcileOptions, ReconcileOutcome, Responder, Shuffle,
    plant_errors, random_key, reconcile_as_bob, reconcile_with,
};
use qkdsim::rng::{Purpose, stream};
use rand::Rng;

/// Answers Bob's queries from a message log only, in order.
struct LogReplay {
    /// Alice's messages (the disclosed parities), in order: the only source of answers.
    answers: Vec<BitVec>,
    next_answer: usize,
    /// Bob's logged messages, in order: every query Bob makes must be the next one.
    queries: Vec<Message>,
    next_query: usize,
    /// Parity bits handed to Bob so far.
    replayed_bits: u64,
}

fn refuse<T>(what: String) -> Result<T> {
    Err(Error::InvalidArgument(format!("replay: {what}")))
}

impl LogReplay {
    fn new(log: &[Message]) -> LogReplay {
        let mut answers = Vec::new();
        let mut queries = Vec::new();
        for m in log {
            match m {
                Message::Parities { values } => answers.push(values.clone()),
                query => queries.push(query.clone()),
            }
        }
        LogReplay {
            answers,
            next_answer: 0,
            queries,
            next_query: 0,
            replayed_bits: 0,
        }
    }

    /// Bob's query must be the next logged one.
    fn expect_query(&mut self, asked: &Message) -> Result<()> {
        match self.queries.get(self.next_query) {
            Some(logged) if logged == asked => {
                self.next_query += 1;
                Ok(())
            }
            logged => refuse(format!("Bob sends {asked:?}, the log has {logged:?} next")),
        }
    }

    /// The next logged answer of Alice, which must carry `bits` parities.
    fn answer(&mut self, bits: usize) -> Result<BitVec> {
        match self.answers.get(self.next_answer) {
            Some(values) if values.len() == bits => {
                self.next_answer += 1;
                self.replayed_bits += bits as u64;
                Ok(values.clone())
            }
            logged => refuse(format!(
                "Bob waits for {bits} parities, the log has {logged:?}"
            )),
        }
    }

    /// Whether every logged message was used.
    fn exhausted(&self) -> bool {
        self.next_answer == self.answers.len() && self.next_query == self.queries.len()
    }
}

impl Responder for LogReplay {
    fn pass_parities(
        &mut self,
        pass: u32,
        shuffle: &Shuffle,
        block_size: usize,
        asked_blocks: usize,
    ) -> Result<BitVec> {
        // The round number is bookkeeping of the batched-latency model, not something Bob
        // asks: take it from the log, compare the rest.
        let round = match self.queries.get(self.next_query) {
            Some(Message::PassStart { round, .. }) => *round,
            _ => 0,
        };
        self.expect_query(&Message::PassStart {
            pass,
            block_size: block_size as u32,
            asked_blocks: asked_blocks as u32,
            round,
            shuffle: shuffle.round_keys(),
        })?;
        if asked_blocks == 0 {
            return Ok(BitVec::new());
        }
        self.answer(asked_blocks)
    }

    fn sub_block_parity(&mut self, pass: u32, start: usize, end: usize) -> Result<bool> {
        let round = match self.queries.get(self.next_query) {
            Some(Message::SubBlockQuery { round, .. }) => *round,
            _ => 0,
        };
        self.expect_query(&Message::SubBlockQuery {
            pass,
            start: start as u32,
            end: end as u32,
            round,
        })?;
        Ok(self.answer(1)?.get(0))
    }
}

/// What a replay produced.
struct Replayed {
    outcome: ReconcileOutcome,
    replayed_bits: u64,
}

/// Replays Bob from his noisy key, the public parameters and `log` alone. Errors when Bob
/// asks something the log cannot answer or the log is not used up.
fn replay(
    bob_noisy: &BitVec,
    estimate: f64,
    variant: CascadeVariant,
    shuffle_seed: u64,
    log: &[Message],
) -> Result<Replayed> {
    let mut responder = LogReplay::new(log);
    let mut rng = stream(shuffle_seed, Purpose::Reconciliation, 0);
    let outcome = reconcile_as_bob(
        bob_noisy,
        estimate,
        variant,
        &mut rng,
        &mut responder,
        ReconcileOptions { keep_log: true },
    )?;
    if !responder.exhausted() {
        return refuse(format!(
            "Bob stopped with {} of {} answers and {} of {} queries of the log used",
            responder.next_answer,
            responder.answers.len(),
            responder.next_query,
            responder.queries.len()
        ));
    }
    Ok(Replayed {
        outcome,
        replayed_bits: responder.replayed_bits,
    })
}

/// One reconciliation between Alice and Bob with the log kept.
fn original(
    alice: &BitVec,
    bob_noisy: &BitVec,
    estimate: f64,
    variant: CascadeVariant,
    shuffle_seed: u64,
) -> ReconcileOutcome {
    let mut rng = stream(shuffle_seed, Purpose::Reconciliation, 0);
    reconcile_with(
        alice,
        bob_noisy,
        estimate,
        variant,
        &mut rng,
        ReconcileOptions { keep_log: true },
    )
    .expect("keys of equal length")
}

/// How errors are placed in Bob's key.
#[derive(Debug, Clone)]
enum Errors {
    /// None at all.
    Zero,
    /// Each bit flipped with this probability.
    Random(f64),
    /// A contiguous run of this fraction of the key, starting at a fraction of the key.
    Burst(f64, f64),
    /// The first `head` and the last `tail` bits.
    Ends(usize, usize),
}

fn noisy_copy(alice: &BitVec, errors: &Errors, seed: u64) -> BitVec {
    let n = alice.len();
    let mut bob = alice.clone();
    match *errors {
        Errors::Zero => {}
        Errors::Random(q) => {
            let mut rng = stream(seed, Purpose::Auxiliary, 1);
            plant_errors(&mut bob, q, ErrorModel::Binomial, &mut rng);
        }
        Errors::Burst(fraction, at) => {
            let len = ((fraction * n as f64).ceil() as usize).clamp(1, n);
            let start = ((at * (n - len) as f64) as usize).min(n - len);
            for i in start..start + len {
                bob.flip(i);
            }
        }
        Errors::Ends(head, tail) => {
            for i in 0..head.min(n) {
                bob.flip(i);
            }
            for i in n.saturating_sub(tail)..n {
                if i >= head {
                    bob.flip(i);
                }
            }
        }
    }
    bob
}

/// Runs Cascade, replays it from the log, and checks the replay reproduces it exactly.
fn check_replay(
    n: usize,
    errors: &Errors,
    estimate: f64,
    variant: CascadeVariant,
    seed: u64,
) -> std::result::Result<(), TestCaseError> {
    let mut key_rng = stream(seed, Purpose::Auxiliary, 0);
    let alice = random_key(n, &mut key_rng);
    let bob_noisy = noisy_copy(&alice, errors, seed);
    let run = original(&alice, &bob_noisy, estimate, variant, seed);
    let log = run.log.as_ref().expect("log requested");
    let replayed = match replay(&bob_noisy, estimate, variant, seed, log) {
        Ok(r) => r,
        Err(e) => return Err(TestCaseError::fail(format!("{variant} n={n}: {e}"))),
    };
    prop_assert_eq!(
        &replayed.outcome.corrected,
        &run.corrected,
        "corrected keys differ"
    );
    prop_assert_eq!(replayed.replayed_bits, run.leaked_bits);
    prop_assert_eq!(replayed.outcome.leaked_bits, run.leaked_bits);
    prop_assert_eq!(replayed.outcome.corrections, run.corrections);
    prop_assert_eq!(replayed.outcome.channel_uses, run.channel_uses);
    prop_assert_eq!(replayed.outcome.messages, run.messages);
    // The replay's own transcript is the original one, message for message.
    prop_assert!(replayed.outcome.log.as_deref() == Some(log.as_slice()));
    // The log accounts for every leaked bit.
    let logged: u64 = log.iter().map(Message::disclosed_bits).sum();
    prop_assert_eq!(logged, run.leaked_bits);
    Ok(())
}

fn errors_strategy() -> impl Strategy<Value = Errors> {
    prop_oneof![
        1 => Just(Errors::Zero),
        3 => (0.0f64..0.15).prop_map(Errors::Random),
        2 => (0.0f64..0.12, 0.0f64..=1.0).prop_map(|(f, at)| Errors::Burst(f, at)),
        2 => (0usize..4, 0usize..4).prop_map(|(h, t)| Errors::Ends(h, t)),
    ]
}

fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        // Tiny keys: one block, blocks of one bit, BICONF halves of one bit.
        2 => 1usize..=8,
        // Odd and unaligned sizes.
        3 => (4usize..1500).prop_map(|h| 2 * h + 1),
        2 => 9usize..3000,
        // About 1e4.
        2 => 9_900usize..=10_100,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Every variant, sizes from 1 bit to about 1e4, random errors, bursts, none, errors at
    /// the ends, and a QBER estimate that may be far from the truth.
    #[test]
    fn bob_is_replayed_bit_for_bit_from_the_log_alone(
        n in size_strategy(),
        errors in errors_strategy(),
        estimate in 0.005f64..0.3,
        variant in prop::sample::select(CascadeVariant::ALL.to_vec()),
        seed in any::<u64>(),
    ) {
        check_replay(n, &errors, estimate, variant, seed)?;
    }
}

/// A fixed spread of cases, so the named corners always run whatever proptest draws.
#[test]
fn corner_cases_replay() {
    let cases = [
        (1, Errors::Zero, 0.02),
        (1, Errors::Ends(1, 0), 0.02),
        (2, Errors::Ends(1, 1), 0.1),
        (3, Errors::Ends(0, 1), 0.3),
        (65, Errors::Ends(2, 2), 0.05),
        (1001, Errors::Zero, 0.01),
        (1001, Errors::Burst(0.05, 1.0), 0.05),
        (10_000, Errors::Random(0.01), 0.01),
        (10_001, Errors::Random(0.08), 0.08),
        (10_000, Errors::Burst(0.02, 0.0), 0.02),
    ];
    for variant in CascadeVariant::ALL {
        for (i, (n, errors, estimate)) in cases.iter().enumerate() {
            if let Err(e) = check_replay(*n, errors, *estimate, variant, 7 + i as u64) {
                panic!("{variant} n={n} {errors:?}: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The replay can fail.
// ---------------------------------------------------------------------------------------

/// Outcome of replaying a tampered log: detected (replay failed or the key changed) or not.
fn tamper_detected(
    bob_noisy: &BitVec,
    estimate: f64,
    variant: CascadeVariant,
    seed: u64,
    log: &[Message],
    original_key: &BitVec,
) -> bool {
    match replay(bob_noisy, estimate, variant, seed, log) {
        Err(_) => true,
        Ok(r) => &r.outcome.corrected != original_key,
    }
}

/// Flipping any one parity bit in the log makes the replay fail or changes its key: every
/// answer Bob receives steers him, so none can be altered unnoticed. All answers of small
/// runs are tried, and a sample of the bits of larger messages.
#[test]
fn tampering_with_any_one_logged_answer_is_detected() {
    let mut tried = 0;
    for (variant, n, q, seed) in [
        (CascadeVariant::Original, 300, 0.05, 3),
        (CascadeVariant::Biconf, 257, 0.08, 4),
        (CascadeVariant::YanEtAl, 500, 0.03, 5),
        (CascadeVariant::Option7, 400, 0.05, 6),
        (CascadeVariant::Option8, 999, 0.02, 7),
        (CascadeVariant::Original, 1, 0.02, 8),
    ] {
        let mut key_rng = stream(seed, Purpose::Auxiliary, 0);
        let alice = random_key(n, &mut key_rng);
        let bob_noisy = noisy_copy(&alice, &Errors::Random(q), seed);
        let run = original(&alice, &bob_noisy, q, variant, seed);
        let log = run.log.clone().expect("log requested");
        // The untampered log replays (otherwise detection below would mean nothing).
        let clean = replay(&bob_noisy, q, variant, seed, &log).expect("clean replay");
        assert_eq!(clean.outcome.corrected, run.corrected);
        for (i, m) in log.iter().enumerate() {
            let Message::Parities { values } = m else {
                continue;
            };
            // Every bit of short replies; the first, middle and last bit of long ones.
            let bits: Vec<usize> = if values.len() <= 8 {
                (0..values.len()).collect()
            } else {
                vec![0, values.len() / 2, values.len() - 1]
            };
            for b in bits {
                let mut tampered = log.clone();
                if let Message::Parities { values } = &mut tampered[i] {
                    values.flip(b);
                }
                assert!(
                    tamper_detected(&bob_noisy, q, variant, seed, &tampered, &run.corrected),
                    "{variant} n={n}: flipping bit {b} of message {i} went unnoticed"
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 200, "only {tried} tampered logs tried");
}

/// A log with a message missing or one too many does not replay.
#[test]
fn truncated_or_padded_logs_fail() {
    let (n, q, seed) = (2000, 0.03, 11);
    for variant in CascadeVariant::ALL {
        let mut key_rng = stream(seed, Purpose::Auxiliary, 0);
        let alice = random_key(n, &mut key_rng);
        let bob_noisy = noisy_copy(&alice, &Errors::Random(q), seed);
        let run = original(&alice, &bob_noisy, q, variant, seed);
        let log = run.log.clone().expect("log requested");
        assert!(
            replay(&bob_noisy, q, variant, seed, &log).is_ok(),
            "{variant}"
        );
        for cut in [0, log.len() / 3, log.len() - 1] {
            let mut short = log.clone();
            short.remove(cut);
            assert!(
                replay(&bob_noisy, q, variant, seed, &short).is_err(),
                "{variant}: message {cut} removed went unnoticed"
            );
        }
        let mut long = log.clone();
        long.push(Message::Parities {
            values: BitVec::from_bools(&[false]),
        });
        assert!(
            replay(&bob_noisy, q, variant, seed, &long).is_err(),
            "{variant}: extra message went unnoticed"
        );
        // A different shuffle seed: Bob announces other shuffles than the log holds.
        assert!(
            replay(&bob_noisy, q, variant, seed + 1, &log).is_err(),
            "{variant}: other shuffles went unnoticed"
        );
    }
}

/// A responder that answers with a different number of parities than asked is refused by the
/// channel itself (Bob never reads uncounted bits), and its errors reach the caller.
#[test]
fn misbehaving_responders_are_refused() {
    struct TooMany;
    impl Responder for TooMany {
        fn pass_parities(&mut self, _: u32, _: &Shuffle, _: usize, asked: usize) -> Result<BitVec> {
            Ok(BitVec::zeros(asked + 1))
        }
        fn sub_block_parity(&mut self, _: u32, _: usize, _: usize) -> Result<bool> {
            Ok(false)
        }
    }
    struct Silent;
    impl Responder for Silent {
        fn pass_parities(&mut self, _: u32, _: &Shuffle, _: usize, _: usize) -> Result<BitVec> {
            Err(Error::InvalidArgument("no answer".into()))
        }
        fn sub_block_parity(&mut self, _: u32, _: usize, _: usize) -> Result<bool> {
            Err(Error::InvalidArgument("no answer".into()))
        }
    }
    let bob = BitVec::zeros(100);
    let mut rng = stream(1, Purpose::Reconciliation, 0);
    let e = reconcile_as_bob(
        &bob,
        0.05,
        CascadeVariant::Original,
        &mut rng,
        &mut TooMany,
        ReconcileOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("parities for pass 0"), "{e}");
    let e = reconcile_as_bob(
        &bob,
        0.05,
        CascadeVariant::Original,
        &mut rng,
        &mut Silent,
        ReconcileOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no answer"), "{e}");
    // A liar answering coin flips gets Bob nowhere, but Bob stops: at most one search per
    // key bit, then an error (or, if the coin flips happen to be consistent, a key).
    struct Liar(qkdsim::rng::ChaCha8Rng);
    impl Responder for Liar {
        fn pass_parities(&mut self, _: u32, _: &Shuffle, _: usize, asked: usize) -> Result<BitVec> {
            Ok(random_key(asked, &mut self.0))
        }
        fn sub_block_parity(&mut self, _: u32, _: usize, _: usize) -> Result<bool> {
            Ok(self.0.next_u32() & 1 == 1)
        }
    }
    let mut contradictions = 0;
    for variant in CascadeVariant::ALL {
        for n in [1, 2, 5, 100, 3001] {
            let bob = random_key(n, &mut stream(2, Purpose::Auxiliary, n as u64));
            let mut liar = Liar(stream(3, Purpose::Auxiliary, n as u64));
            let r = reconcile_as_bob(
                &bob,
                0.05,
                variant,
                &mut rng,
                &mut liar,
                ReconcileOptions::default(),
            );
            match r {
                Ok(o) => assert!(o.corrections <= n as u64, "{variant} n={n}"),
                Err(e) => {
                    assert!(e.to_string().contains("contradict"), "{variant} n={n}: {e}");
                    contradictions += 1;
                }
            }
        }
    }
    assert!(
        contradictions > 0,
        "coin flips never contradicted each other"
    );
}
