//! Key stores and one-time-pad relay (`route::relay`) on synthetic key blocks: keys
//! delivered bit for bit, planted differences caught, exact spending, supply-limited
//! delivery derived independently, conservation, outages on a hand-computed timeline,
//! late and pre-shared accounting, reversed hops, and a reference model under proptest.

use proptest::prelude::*;
use qkdsim::bits::BitVec;
use qkdsim::rng::{Purpose, stream};
use qkdsim::route::relay::{Hop, KeyBlock, Path, RelayOutcome, relay};
use qkdsim::route::{Demand, LinkAuth, RelayParams};
use rand::Rng;

const PARAMS: RelayParams = RelayParams {
    chunk_bits: 256,
    auth_tag_bits: 64,
    link_auth: LinkAuth::PerBlock,
};

/// `len` random bits, fixed by `i`.
fn key(i: u64, len: usize) -> BitVec {
    let mut rng = stream(20_240_613, Purpose::Auxiliary, i);
    BitVec::from_words((0..len.div_ceil(64)).map(|_| rng.next_u64()).collect(), len)
}

/// A block whose two copies are equal.
fn block(span: usize, index: u64, arrival_s: f64, len: usize, auth_bits: u64) -> KeyBlock {
    let k = key(span as u64 * 1_000_003 + index, len);
    KeyBlock {
        span,
        index,
        arrival_s,
        alice: k.clone(),
        bob: k,
        auth_bits,
    }
}

fn demand(index: usize, from: usize, to: usize, rate_bps: f64) -> Demand {
    Demand {
        index,
        from,
        to,
        rate_bps,
    }
}

/// The chain `0 -> 1 -> ... -> k` over spans `0..k`, each span `i` joining nodes `i` and
/// `i + 1`, traversed forward where `forward[i]`.
fn chain(forward: &[bool]) -> Path {
    Path {
        nodes: (0..=forward.len()).collect(),
        hops: forward
            .iter()
            .enumerate()
            .map(|(span, &forward)| Hop { span, forward })
            .collect(),
    }
}

/// arrived + preshared = link auth + relay + relay auth + final, on every span.
fn assert_conservation(out: &RelayOutcome) {
    for (i, s) in out.spans.iter().enumerate() {
        assert_eq!(
            s.arrived_bits + s.preshared_bits,
            s.link_auth_bits + s.relay_bits + s.relay_auth_bits + s.final_bits,
            "span {i}: {s:?}"
        );
        assert!(s.max_bits >= s.final_bits);
        assert!(s.series.time_s.len() <= 2000);
    }
}

/// The concatenated `from` (`alice`) or `to` copies of a span's blocks, in arrival order.
fn stream_of(blocks: &[KeyBlock], span: usize, alice: bool) -> BitVec {
    let mut mine: Vec<&KeyBlock> = blocks.iter().filter(|b| b.span == span).collect();
    mine.sort_by(|a, b| {
        a.arrival_s
            .total_cmp(&b.arrival_s)
            .then(a.index.cmp(&b.index))
    });
    let mut all = BitVec::new();
    for b in mine {
        all.extend_from(if alice { &b.alice } else { &b.bob });
    }
    all
}

/// Three spans, every block at t = 0 (before the first request), so each span's store is
/// its blocks' concatenation with the link authentication taken off the front.
fn three_hop_blocks() -> Vec<KeyBlock> {
    let mut blocks = Vec::new();
    for span in 0..3 {
        for i in 0..4u64 {
            blocks.push(block(span, i, 0.0, 3000 + 700 * span + 13 * i as usize, 40));
        }
    }
    blocks.reverse(); // any order
    blocks
}

#[test]
fn three_hop_chain_delivers_the_first_hops_key() {
    let blocks = three_hop_blocks();
    let path = chain(&[true, true, true]);
    // 256 bit/s over 10 s: 10 chunks requested, supply for far more.
    let out = relay(
        3,
        &[demand(0, 0, 3, 256.0)],
        &[vec![path]],
        blocks.clone(),
        10.0,
        PARAMS,
        true,
    );
    let d = &out.demands[0];
    assert_eq!((d.requested_bits, d.delivered_bits), (2560, 2560));
    assert!(d.keys_match);
    assert_eq!(d.time_to_first_key_s, Some(0.0));
    assert_eq!((d.outage_s, d.longest_outage_s), (0.0, 0.0));
    assert_eq!(d.store_bits_to_cover_worst_outage, 0);
    let (k, k2) = d.keys.as_ref().unwrap();
    assert_eq!(k, k2);
    // Independent: span 0's from copy, after the 4 * 40 authentication bits paid on
    // arrival, read in order.
    assert_eq!(*k, stream_of(&blocks, 0, true).slice(160, 2560));
    // Spending: chunk bits on every hop, one tag per chunk on hops 2 and 3.
    for (j, s) in out.spans.iter().enumerate() {
        assert_eq!(s.relay_bits, 2560, "span {j}");
        assert_eq!(
            s.relay_auth_bits,
            if j == 0 { 0 } else { 10 * 64 },
            "span {j}"
        );
        assert_eq!(s.link_auth_bits, 160);
        assert_eq!(s.preshared_bits, 0);
    }
    assert_eq!(d.relay_bits, 3 * 2560);
    assert_eq!(d.relay_auth_bits, 2 * 10 * 64);
    assert_eq!(d.chunks_per_path, vec![10]);
    assert_conservation(&out);
}

#[test]
fn a_flipped_bit_in_one_copy_is_caught() {
    let mut blocks = three_hop_blocks();
    // Bob's copy of span 1's first block, at a bit the relay uses (after the 4 * 40
    // authentication bits paid at t = 0).
    let b = blocks
        .iter_mut()
        .find(|b| b.span == 1 && b.index == 0)
        .unwrap();
    b.bob.flip(200);
    let out = relay(
        3,
        &[demand(0, 0, 3, 256.0)],
        &[vec![chain(&[true, true, true])]],
        blocks,
        10.0,
        PARAMS,
        true,
    );
    let d = &out.demands[0];
    assert!(!d.keys_match);
    let (k, k2) = d.keys.as_ref().unwrap();
    // Exactly the planted bit differs: position 200 - 160 of span 1's store, the same
    // position of the delivered key (every hop is read in lockstep).
    assert_eq!(k.hamming_distance(k2), 1);
    assert_ne!(k.get(40), k2.get(40));
    assert_conservation(&out);
}

/// min over hops of floor(net_j / cost_j): net_j = arrived - link auth (every block brings
/// at least its authentication cost, so none comes from the pre-shared key), cost_1 =
/// chunk, cost_j = chunk + tag.
fn supply_limited_chunks(blocks: &[KeyBlock], spans: &[usize], p: RelayParams) -> u64 {
    spans
        .iter()
        .enumerate()
        .map(|(j, &span)| {
            let net: u64 = blocks
                .iter()
                .filter(|b| b.span == span)
                .map(|b| b.alice.len() as u64 - b.auth_bits)
                .sum();
            let cost = p.chunk_bits + if j == 0 { 0 } else { p.auth_tag_bits };
            net / cost
        })
        .min()
        .unwrap()
}

/// Blocks over `[0, 9]` s, sizes and auth varying by span, each bringing more than its
/// authentication.
fn supply_blocks(spans: &[usize]) -> Vec<KeyBlock> {
    let mut blocks = Vec::new();
    for &span in spans {
        for i in 0..9u64 {
            let t = i as f64 + 0.1 * span as f64;
            let len = 5_000 + 1_711 * span + 389 * ((i as usize * 7 + span) % 5);
            blocks.push(block(span, i, t, len, 100 + 17 * span as u64));
        }
    }
    blocks
}

#[test]
fn demand_above_supply_gets_exactly_the_bottleneck() {
    let spans = [0usize, 1, 2, 3];
    let blocks = supply_blocks(&spans);
    let want = supply_limited_chunks(&blocks, &spans, PARAMS);
    assert!(want > 100);
    let out = relay(
        4,
        &[demand(0, 0, 4, 1e6)],
        &[vec![chain(&[true, false, true, false])]],
        blocks,
        10.0,
        PARAMS,
        false,
    );
    let d = &out.demands[0];
    assert_eq!(d.delivered_bits, want * 256);
    assert!(d.keys_match && d.keys.is_none());
    // Some hop cannot pay for one more chunk.
    let short = out
        .spans
        .iter()
        .enumerate()
        .any(|(j, s)| s.final_bits < 256 + if j == 0 { 0 } else { 64 });
    assert!(short);
    // Backlogged all along: in outage from t = 0 to the end, first key at the first
    // moment every hop has one chunk (the last span's first block, t = 0.3).
    assert!((d.outage_s - 10.0).abs() < 1e-9, "{}", d.outage_s);
    assert!((d.longest_outage_s - 10.0).abs() < 1e-9);
    assert_eq!(d.time_to_first_key_s, Some(0.1 * 3.0));
    assert_eq!(
        d.store_bits_to_cover_worst_outage,
        d.requested_bits - d.delivered_bits
    );
    assert_conservation(&out);
}

#[test]
fn two_disjoint_paths_add_up() {
    // Nodes 0 (A), 1, 2, 3 (B). Path 1: span 0 (0 -> 1), span 1 (3 -> 1, reversed).
    // Path 2: span 2 (2 -> 0, reversed), span 3 (2 -> 3).
    let p1 = Path {
        nodes: vec![0, 1, 3],
        hops: vec![
            Hop {
                span: 0,
                forward: true,
            },
            Hop {
                span: 1,
                forward: false,
            },
        ],
    };
    let p2 = Path {
        nodes: vec![0, 2, 3],
        hops: vec![
            Hop {
                span: 2,
                forward: false,
            },
            Hop {
                span: 3,
                forward: true,
            },
        ],
    };
    let blocks = supply_blocks(&[0, 1, 2, 3]);
    let want1 = supply_limited_chunks(&blocks, &[0, 1], PARAMS);
    let want2 = supply_limited_chunks(&blocks, &[2, 3], PARAMS);
    let out = relay(
        4,
        &[demand(0, 0, 3, 1e6)],
        &[vec![p1, p2]],
        blocks,
        10.0,
        PARAMS,
        true,
    );
    let d = &out.demands[0];
    assert_eq!(d.chunks_per_path, vec![want1, want2]);
    assert_eq!(d.delivered_bits, (want1 + want2) * 256);
    assert!(d.keys_match);
    let (k, k2) = d.keys.as_ref().unwrap();
    assert_eq!(k, k2);
    assert_eq!(k.len() as u64, d.delivered_bits);
    assert_eq!(out.spans[0].relay_bits, want1 * 256);
    assert_eq!(out.spans[1].relay_auth_bits, want1 * 64);
    assert_eq!(out.spans[2].relay_auth_bits, 0);
    assert_eq!(out.spans[3].relay_auth_bits, want2 * 64);
    assert_conservation(&out);
}

#[test]
fn hand_computed_timeline() {
    // One span, 256-bit chunks, demand 256 bit/s over 6 s: requests at t = 0, 1, 2, 3, 4, 5.
    // t = 1.5: block of 600 bits, 50 auth -> 550; requests 0 and 1 are due and served
    //          (512) -> 38. Outage [0, 1.5) (request 1's [1, 1.5) inside it): 1.5 s.
    //          Backlog just before: 2 chunks.
    // t = 2:   38 < 256, request 2 waits; requests 3 and 4 join it.
    // t = 4.5: block of 1000 bits, 100 auth -> 938; requests 2, 3, 4 served (768) -> 170.
    //          Outage [2, 4.5): 2.5 s. Backlog just before: 3 chunks = 768 bits.
    // t = 5:   170 < 256: request 5 is never served; outage [5, 6): 1 s.
    // t = 6.5: block of 300 bits: late.
    // Outage 1.5 + 2.5 + 1 = 5 s, longest 2.5 s, first key at 1.5 s, 5 chunks delivered.
    let blocks = vec![
        block(0, 2, 6.5, 300, 20),
        block(0, 1, 4.5, 1000, 100),
        block(0, 0, 1.5, 600, 50),
    ];
    let path = Path {
        nodes: vec![0, 1],
        hops: vec![Hop {
            span: 0,
            forward: true,
        }],
    };
    let out = relay(
        1,
        &[demand(0, 0, 1, 256.0)],
        &[vec![path]],
        blocks,
        6.0,
        PARAMS,
        false,
    );
    let d = &out.demands[0];
    assert_eq!(d.requested_bits, 6 * 256);
    assert_eq!(d.delivered_bits, 5 * 256);
    assert!((d.outage_s - 5.0).abs() < 1e-12, "{}", d.outage_s);
    assert!((d.longest_outage_s - 2.5).abs() < 1e-12);
    assert_eq!(d.time_to_first_key_s, Some(1.5));
    assert_eq!(d.store_bits_to_cover_worst_outage, 768);
    assert_eq!(d.relay_auth_bits, 0, "one hop: no relay message");
    let s = &out.spans[0];
    assert_eq!(
        (
            s.arrived_bits,
            s.late_bits,
            s.link_auth_bits,
            s.preshared_bits
        ),
        (1600, 300, 150, 0)
    );
    assert_eq!((s.relay_bits, s.final_bits, s.max_bits), (1280, 170, 938));
    assert_eq!(s.series.time_s, vec![1.5, 1.5, 4.5, 4.5]);
    assert_eq!(s.series.bits, vec![550, 38, 938, 170]);
    assert_conservation(&out);
}

#[test]
fn preshared_key_pays_authentication_the_store_cannot() {
    let blocks = vec![
        block(0, 0, 1.0, 100, 300), // 100 from the store, 200 pre-shared
        KeyBlock {
            alice: BitVec::new(),
            bob: BitVec::new(),
            ..block(0, 1, 2.0, 0, 50) // no key, still pays: 50 pre-shared
        },
        block(0, 2, 3.0, 1000, 10), // -> 990
    ];
    let out = relay(1, &[], &[], blocks, 5.0, PARAMS, false);
    assert!(out.demands.is_empty());
    let s = &out.spans[0];
    assert_eq!(s.arrived_bits, 1100);
    assert_eq!(s.link_auth_bits, 360);
    assert_eq!(s.preshared_bits, 250);
    assert_eq!((s.final_bits, s.max_bits), (990, 990));
    assert_eq!(s.series.bits, vec![0, 0, 990]);
    assert_conservation(&out);
}

#[test]
fn demands_without_paths_or_rate() {
    let blocks = vec![block(0, 0, 0.0, 10_000, 0)];
    let ok_path = Path {
        nodes: vec![0, 1],
        hops: vec![Hop {
            span: 0,
            forward: true,
        }],
    };
    let demands = [
        demand(0, 0, 2, 512.0), // empty path list: 2 s * 512 / 256 = 4 requests
        demand(1, 0, 2, 512.0), // no entry in `paths` at all
        demand(2, 0, 1, 0.0),   // no requests
    ];
    let out = relay(
        1,
        &demands,
        &[vec![], vec![]],
        blocks.clone(),
        2.0,
        PARAMS,
        true,
    );
    for d in &out.demands[..2] {
        assert_eq!((d.requested_bits, d.delivered_bits), (1024, 0));
        assert!(d.keys_match, "nothing delivered, nothing mismatched");
        assert_eq!(d.time_to_first_key_s, None);
        assert_eq!((d.outage_s, d.longest_outage_s), (2.0, 2.0));
        assert_eq!(d.store_bits_to_cover_worst_outage, 1024);
        assert_eq!(d.keys.as_ref().map(|k| k.0.len()), Some(0));
    }
    let idle = &out.demands[2];
    assert_eq!((idle.requested_bits, idle.outage_s), (0, 0.0));
    assert_eq!(out.spans[0].final_bits, 10_000);
    // The same demand with a path is served.
    let out = relay(
        1,
        &demands[..1],
        &[vec![ok_path]],
        blocks,
        2.0,
        PARAMS,
        false,
    );
    assert_eq!(out.demands[0].delivered_bits, 1024);
    assert_conservation(&out);
}

#[test]
fn reversed_hops_relay_from_the_right_copy() {
    // Span 0 joins nodes 0 and 1 with Alice at node 1: the demand's end (node 0) holds
    // Bob's copy. Span 1 joins 1 and 2 with Alice at 2. Plant a difference in span 0's
    // Alice copy: the key at the demand's `from` end is Bob's copy, and the recovered key
    // differs at exactly that bit.
    let mut blocks = vec![block(0, 0, 0.0, 4096, 0), block(1, 0, 0.0, 4096, 0)];
    let clean = relay(
        2,
        &[demand(0, 0, 2, 256.0)],
        &[vec![chain(&[false, false])]],
        blocks.clone(),
        4.0,
        PARAMS,
        true,
    );
    let d = &clean.demands[0];
    assert!(d.keys_match);
    assert_eq!(d.delivered_bits, 1024);
    blocks[0].alice.flip(100);
    let out = relay(
        2,
        &[demand(0, 0, 2, 256.0)],
        &[vec![chain(&[false, false])]],
        blocks.clone(),
        4.0,
        PARAMS,
        true,
    );
    let d = &out.demands[0];
    assert!(!d.keys_match);
    let (k, k2) = d.keys.as_ref().unwrap();
    assert_eq!(*k, blocks[0].bob.slice(0, 1024));
    assert_eq!(k.hamming_distance(k2), 1);
    assert_ne!(k.get(100), k2.get(100));
    // The other way, node 2 to node 0, both spans run from Alice to Bob: the key at
    // node 2 is span 1's Alice copy.
    let back = Path {
        nodes: vec![2, 1, 0],
        hops: vec![
            Hop {
                span: 1,
                forward: true,
            },
            Hop {
                span: 0,
                forward: true,
            },
        ],
    };
    let out = relay(
        2,
        &[demand(0, 2, 0, 256.0)],
        &[vec![back]],
        blocks.clone(),
        4.0,
        PARAMS,
        true,
    );
    let (k, k2) = out.demands[0].keys.as_ref().unwrap();
    assert_eq!(*k, blocks[1].alice.slice(0, 1024));
    // Node 0 is span 0's `to` end: it recovers with Bob's copy, so the flip in Alice's
    // copy (held by relay node 1) enters through c_1 = y_1 XOR x_2. (Span 0 is hop 2 here:
    // each chunk is followed by a 64-bit tag, so bit 100 is still in the first chunk.)
    assert_eq!(k.hamming_distance(k2), 1);
    assert_ne!(k.get(100), k2.get(100));
    assert_conservation(&out);
}

#[test]
fn block_order_does_not_matter_and_demands_share_fairly() {
    // Two demands over the same span; one chunk of supply arrives at t = 0.5, both asked
    // at t = 0: the lower demand index is served first. Then enough for both.
    let blocks = vec![
        block(0, 0, 0.5, 256, 0),
        block(0, 1, 0.75, 256, 0),
        block(0, 2, 0.75, 100, 0),
    ];
    let p = Path {
        nodes: vec![0, 1],
        hops: vec![Hop {
            span: 0,
            forward: true,
        }],
    };
    let demands = [demand(0, 0, 1, 256.0), demand(1, 0, 1, 256.0)];
    let paths = [vec![p.clone()], vec![p]];
    let a = relay(1, &demands, &paths, blocks.clone(), 1.0, PARAMS, true);
    let mut shuffled = blocks;
    shuffled.rotate_left(1);
    shuffled.swap(0, 1);
    let b = relay(1, &demands, &paths, shuffled, 1.0, PARAMS, true);
    assert_eq!(a, b);
    assert_eq!(a.demands[0].time_to_first_key_s, Some(0.5));
    assert_eq!(a.demands[1].time_to_first_key_s, Some(0.75));
    assert_eq!(a.demands[1].outage_s, 0.75);
    assert_eq!(a.spans[0].final_bits, 100);
    assert_conservation(&a);
}

/// A naive model of one demand over one chain, bit by bit with `Vec<bool>` queues and a
/// fresh scan of every event time: (delivered key at the from end, serve times).
fn reference(
    spans: usize,
    hops: &[Hop],
    blocks: &[KeyBlock],
    duration_s: f64,
    p: RelayParams,
    rate: f64,
) -> (Vec<bool>, Vec<f64>) {
    let mut q: Vec<std::collections::VecDeque<(bool, bool)>> = vec![Default::default(); spans];
    let requests: Vec<f64> = (0u64..)
        .map(|j| j as f64 * p.chunk_bits as f64 / rate)
        .take_while(|&t| t < duration_s)
        .collect();
    let mut arriving: Vec<&KeyBlock> = blocks
        .iter()
        .filter(|b| b.arrival_s <= duration_s)
        .collect();
    arriving.sort_by(|a, b| {
        a.arrival_s
            .total_cmp(&b.arrival_s)
            .then(a.span.cmp(&b.span))
            .then(a.index.cmp(&b.index))
    });
    let mut times: Vec<f64> = arriving.iter().map(|b| b.arrival_s).collect();
    times.extend(&requests);
    times.sort_by(f64::total_cmp);
    times.dedup();
    let (mut key, mut served) = (Vec::new(), Vec::new());
    for &now in &times {
        for b in arriving.iter().filter(|b| b.arrival_s == now) {
            for i in 0..b.alice.len() {
                q[b.span].push_back((b.alice.get(i), b.bob.get(i)));
            }
            for _ in 0..b.auth_bits {
                q[b.span].pop_front();
            }
        }
        let due = requests.iter().filter(|&&t| t <= now).count();
        while served.len() < due {
            let enough = hops.iter().enumerate().all(|(j, h)| {
                q[h.span].len() as u64 >= p.chunk_bits + if j == 0 { 0 } else { p.auth_tag_bits }
            });
            if !enough {
                break;
            }
            for (j, h) in hops.iter().enumerate() {
                for _ in 0..p.chunk_bits {
                    let (a, b) = q[h.span].pop_front().unwrap();
                    if j == 0 {
                        key.push(if h.forward { a } else { b });
                    }
                }
                if j > 0 {
                    for _ in 0..p.auth_tag_bits {
                        q[h.span].pop_front();
                    }
                }
            }
            served.push(now);
        }
    }
    (key, served)
}

/// Outage from request and serve times: union of [t_j, s_j), unserved to the end.
fn outage(requests: &[f64], served: &[f64], duration_s: f64) -> f64 {
    let mut iv: Vec<(f64, f64)> = requests
        .iter()
        .enumerate()
        .map(|(j, &t)| (t, served.get(j).copied().unwrap_or(duration_s)))
        .filter(|(a, b)| a < b)
        .collect();
    iv.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut total, mut cur): (f64, Option<(f64, f64)>) = (0.0, None);
    for (a, b) in iv {
        cur = match cur {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + cur.map_or(0.0, |(s, e)| e - s)
}

/// Raw blocks: (span selector, arrival in half seconds, length, auth bits).
type RawBlocks = Vec<(usize, u8, usize, u64)>;

/// (directions of the chain's hops, raw blocks, chunk, tag, rate, duration in half seconds)
type Case = (Vec<bool>, RawBlocks, u64, u64, f64, u8);

fn arb_case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(any::<bool>(), 1..4),
        // (span selector, arrival in half seconds, length, auth)
        proptest::collection::vec((0usize..8, 0u8..24, 0usize..1500, 0u64..200), 0..24),
        16u64..300,
        0u64..64,
        50.0f64..3000.0,
        10u8..22, // duration in half seconds
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn matches_the_reference_model(
        (forward, raw, chunk, tag, rate, half) in arb_case()
    ) {
        let spans = forward.len();
        let p = RelayParams {
            chunk_bits: chunk,
            auth_tag_bits: tag,
            link_auth: LinkAuth::PerBlock,
        };
        let duration_s = half as f64 / 2.0;
        let blocks: Vec<KeyBlock> = raw
            .iter()
            .enumerate()
            .map(|(i, &(s, t, len, auth))| block(s % spans, i as u64, t as f64 / 2.0, len, auth))
            .collect();
        let path = chain(&forward);
        // A second demand over the last hop alone, competing for it.
        let last = Path {
            nodes: vec![spans - 1, spans],
            hops: vec![Hop { span: spans - 1, forward: true }],
        };
        let demands = [demand(0, 0, spans, rate), demand(1, spans - 1, spans, rate / 3.0)];
        let solo = relay(spans, &demands[..1], &[vec![path.clone()]], blocks.clone(), duration_s, p, true);
        assert_conservation(&solo);
        let d = &solo.demands[0];
        prop_assert!(d.keys_match);
        let (k, k2) = d.keys.as_ref().unwrap();
        prop_assert_eq!(k, k2);
        let (want_key, served) = reference(spans, &path.hops, &blocks, duration_s, p, rate);
        prop_assert_eq!(k, &BitVec::from_bools(&want_key));
        prop_assert_eq!(d.delivered_bits, served.len() as u64 * chunk);
        prop_assert_eq!(d.time_to_first_key_s, served.first().copied());
        let requests: Vec<f64> = (0u64..)
            .map(|j| j as f64 * chunk as f64 / rate)
            .take_while(|&t| t < duration_s)
            .collect();
        prop_assert_eq!(d.requested_bits, requests.len() as u64 * chunk);
        let want_outage = outage(&requests, &served, duration_s);
        prop_assert!((d.outage_s - want_outage).abs() < 1e-9, "{} vs {}", d.outage_s, want_outage);
        prop_assert!(d.longest_outage_s <= d.outage_s + 1e-12);
        prop_assert!(d.outage_s <= duration_s + 1e-12);

        let both = relay(spans, &demands, &[vec![path], vec![last]], blocks, duration_s, p, true);
        assert_conservation(&both);
        for d in &both.demands {
            prop_assert!(d.keys_match);
            let (k, k2) = d.keys.as_ref().unwrap();
            prop_assert_eq!(k, k2);
        }
        let relayed: u64 = both.spans.iter().map(|s| s.relay_bits).sum();
        prop_assert_eq!(relayed, both.demands.iter().map(|d| d.relay_bits).sum::<u64>());
        let tags: u64 = both.spans.iter().map(|s| s.relay_auth_bits).sum();
        prop_assert_eq!(tags, both.demands.iter().map(|d| d.relay_auth_bits).sum::<u64>());
    }
}

/// Cost: 2.3e5 requests (1e6 bit/s, 256-bit chunks, 60 s) over an 8-hop chain whose spans
/// each receive 1e8 bits. `cargo test --release --test route_relay -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run by hand"]
fn cost_of_a_long_chain() {
    const HOPS: usize = 8;
    let hops = HOPS;
    let mut blocks = Vec::new();
    let mut x = 0x1234_5678_9abc_def0u64;
    for span in 0..hops {
        for i in 0..100u64 {
            let words: Vec<u64> = (0..1_000_000 / 64 + 1)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                })
                .collect();
            let k = BitVec::from_words(words, 1_000_000);
            blocks.push(KeyBlock {
                span,
                index: i,
                arrival_s: i as f64 * 0.6,
                alice: k.clone(),
                bob: k,
                auth_bits: 5_000,
            });
        }
    }
    let path = chain(&[true; HOPS]);
    let start = std::time::Instant::now();
    let out = relay(
        hops,
        &[demand(0, 0, hops, 1e6)],
        &[vec![path]],
        blocks,
        60.0,
        PARAMS,
        false,
    );
    let dt = start.elapsed();
    let d = &out.demands[0];
    println!(
        "8 hops, 8e8 bits stored, {} requests, {} chunks delivered: relay took {:.3} s",
        d.requested_bits / 256,
        d.delivered_bits / 256,
        dt.as_secs_f64()
    );
    assert!(d.keys_match);
    assert_conservation(&out);
}
