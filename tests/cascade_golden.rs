//! Cascade's outcomes pinned bit for bit: for every variant, a SHA-256 digest over many
//! reconciliations (key sizes from 1 bit to 2^20, QBERs from 0.5 % to 12 %, exact and
//! binomial errors) of everything a run produces — Bob's corrected key, the leaked bits,
//! messages, round trips (batched and sequential), passes, corrections, every logged message
//! with its round and values, and every disclosed parity record of `reconcile_disclosing`
//! (its pass, range and the passes' shuffle keys).
//!
//! The digests were computed with the implementation before its speed work (commit b16e77e)
//! and must never change: a faster Cascade has to make exactly the same queries in the same
//! order and reach the same keys. Should an intended change of the protocol ever move them,
//! `QKDSIM_PRINT_GOLDEN=1 cargo test --test cascade_golden -- --nocapture` prints the new
//! values; the change then has to say why.

use qkdsim::bits::BitVec;
use qkdsim::postprocess::cascade::{
    CascadeVariant, ErrorModel, Message, ReconcileOptions, plant_errors, random_key,
    reconcile_disclosing, reconcile_with,
};
use qkdsim::rng::{Purpose, stream};
use sha2::{Digest, Sha256};

/// (key bits, QBER, error model, seed) of the pinned runs.
fn cases() -> Vec<(usize, f64, ErrorModel, u64)> {
    let mut cases = Vec::new();
    for (i, &n) in [1usize, 2, 77, 1000, 4097, 36_673, 100_000]
        .iter()
        .enumerate()
    {
        for (j, &q) in [0.005, 0.01, 0.03, 0.08, 0.12].iter().enumerate() {
            let model = if (i + j) % 2 == 0 {
                ErrorModel::Exact
            } else {
                ErrorModel::Binomial
            };
            cases.push((n, q, model, (10 * i + j) as u64));
        }
    }
    cases.push((1_000_000, 0.01, ErrorModel::Exact, 1));
    cases.push((1 << 20, 0.03, ErrorModel::Binomial, 2));
    cases
}

fn put(h: &mut Sha256, x: u64) {
    h.update(x.to_le_bytes());
}

fn put_bits(h: &mut Sha256, b: &BitVec) {
    put(h, b.len() as u64);
    for &w in b.words() {
        put(h, w);
    }
}

/// The digest of every run of `variant` over [`cases`].
fn digest(variant: CascadeVariant) -> String {
    let mut h = Sha256::new();
    for (n, q, model, seed) in cases() {
        let mut key_rng = stream(seed, Purpose::Auxiliary, n as u64);
        let alice = random_key(n, &mut key_rng);
        let mut bob = alice.clone();
        plant_errors(&mut bob, q, model, &mut key_rng);
        let options = ReconcileOptions { keep_log: true };
        let (outcome, disclosed) = reconcile_disclosing(
            &alice,
            &bob,
            q,
            variant,
            &mut stream(seed, Purpose::Reconciliation, 0),
            options,
        )
        .expect("equal lengths");
        // The plain call is the same run (recording only watches the channel).
        let plain = reconcile_with(
            &alice,
            &bob,
            q,
            variant,
            &mut stream(seed, Purpose::Reconciliation, 0),
            options,
        )
        .expect("equal lengths");
        assert_eq!(plain, outcome, "{variant} n {n} q {q}");
        put_bits(&mut h, &outcome.corrected);
        for x in [
            outcome.leaked_bits,
            outcome.messages,
            outcome.channel_uses,
            outcome.sequential_round_trips,
            outcome.sequential_messages,
            u64::from(outcome.passes),
            outcome.corrections,
        ] {
            put(&mut h, x);
        }
        let log = outcome.log.as_ref().expect("log kept");
        put(&mut h, log.len() as u64);
        for m in log {
            match m {
                Message::PassStart {
                    pass,
                    block_size,
                    asked_blocks,
                    round,
                    shuffle,
                } => {
                    put(&mut h, 1);
                    for x in [*pass, *block_size, *asked_blocks, *round] {
                        put(&mut h, u64::from(x));
                    }
                    for x in shuffle {
                        put(&mut h, u64::from(*x));
                    }
                }
                Message::SubBlockQuery {
                    pass,
                    start,
                    end,
                    round,
                } => {
                    put(&mut h, 2);
                    for x in [*pass, *start, *end, *round] {
                        put(&mut h, u64::from(x));
                    }
                }
                Message::Parities { values } => {
                    put(&mut h, 3);
                    put_bits(&mut h, values);
                }
            }
        }
        put(&mut h, disclosed.key_bits() as u64);
        put(&mut h, disclosed.len() as u64);
        for r in disclosed.ranges() {
            for x in [r.pass, r.start, r.end] {
                put(&mut h, u64::from(x));
            }
        }
        put(&mut h, disclosed.passes() as u64);
        for p in 0..disclosed.passes() {
            for x in disclosed.shuffle(p).round_keys() {
                put(&mut h, u64::from(x));
            }
        }
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Digests from the implementation at commit b16e77e (before the speed work).
const GOLDEN: [(CascadeVariant, &str); 5] = [
    (
        CascadeVariant::Original,
        "df6c74a2ccca0f39736a35dbf099bf77d8ffe23ca5445e084599e4e3b2e9118f",
    ),
    (
        CascadeVariant::Biconf,
        "96c36af5a85f72a4132a379fd00f1873c6aa57cf95d21b7e4d10272cace0bf9f",
    ),
    (
        CascadeVariant::YanEtAl,
        "1a309e015a7f4cf61da19f0b69337045edf096bed644a535616117c3379ebe33",
    ),
    (
        CascadeVariant::Option7,
        "7088dec6544b275ea0abd26427ba0055a13d3897cca1da235b592ccb9283db4f",
    ),
    (
        CascadeVariant::Option8,
        "3b85f51c1e6315a728f72500ebfbe6d36431e77f62ad3a150829146b082c221b",
    ),
];

#[test]
fn outcomes_equal_the_pinned_digests() {
    let print = std::env::var("QKDSIM_PRINT_GOLDEN").is_ok_and(|v| v == "1");
    let mut wrong = Vec::new();
    for (variant, want) in GOLDEN {
        let got = digest(variant);
        if print {
            println!("    (CascadeVariant::{variant:?}, \"{got}\"),");
        }
        if got != want {
            wrong.push(format!("{variant}: {got}, pinned {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "Cascade outcomes changed:\n{}",
        wrong.join("\n")
    );
}
