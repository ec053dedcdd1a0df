//! The two parties of Cascade. Alice holds the reference key and only answers parity queries;
//! Bob holds the noisy key, drives the passes, runs the binary searches and the cascade
//! effect, and corrects his key. Neither sees the other's key: Bob's only source of
//! information is [`Channel`].
//!
//! Must never depend on the error pattern, the other party's key, or anything outside
//! `bits` and this module's siblings.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;

use crate::bits::BitVec;

use super::channel::Channel;
use super::shuffle::{Shuffle, gather_bytes, unpack_bits};

/// Alice: answers parity queries about her key under the announced shuffles.
#[derive(Debug)]
pub(crate) struct Alice<'a> {
    key: &'a BitVec,
    /// Her key, one byte per bit (the fast form to gather from).
    bytes: Vec<u8>,
    /// The public shuffle of each announced pass.
    shuffles: Vec<Shuffle>,
    /// Her key in the shuffled order of each pass, possibly only a prefix of it until a
    /// query needs the rest (see [`Bob::run_pass`] on two-block passes).
    shuffled: Vec<BitVec>,
}

impl<'a> Alice<'a> {
    pub(crate) fn new(key: &'a BitVec) -> Alice<'a> {
        Alice {
            key,
            bytes: unpack_bits(key),
            shuffles: Vec::new(),
            shuffled: Vec::new(),
        }
    }

    /// A new pass with public shuffle `shuffle`; `source_table` is its public expansion for
    /// the first `table.len()` positions (all of them, or just the first block, rounded up to
    /// whole words, when that is the only parity asked). Returns the parities of the first `asked_blocks` top-level
    /// blocks of `block_size` bits, from popcounts over word ranges.
    pub(crate) fn on_pass_start(
        &mut self,
        shuffle: &Shuffle,
        source_table: &[u32],
        block_size: usize,
        asked_blocks: usize,
    ) -> BitVec {
        let mut parities = BitVec::with_capacity(asked_blocks);
        let shuffled = gather_bytes(source_table, &self.bytes);
        for b in 0..asked_blocks {
            let start = b * block_size;
            parities.push(shuffled.parity_range(start, (start + block_size).min(shuffled.len())));
        }
        self.shuffles.push(shuffle.clone());
        self.shuffled.push(shuffled);
        parities
    }

    /// The rest of the public source table of pass `pass`, from where her shuffled key ends
    /// (a whole number of words): complete her shuffled key with it.
    pub(crate) fn on_source_table_rest(&mut self, pass: usize, rest: &[u32]) {
        let shuffled = &mut self.shuffled[pass];
        if shuffled.len() + rest.len() == self.key.len() {
            shuffled.extend_from(&gather_bytes(rest, &self.bytes));
        }
    }

    /// Parity of shuffled positions `start..end` of pass `pass`.
    pub(crate) fn on_sub_block_query(&mut self, pass: usize, start: usize, end: usize) -> bool {
        let have = self.shuffled[pass].len();
        if end > have {
            let rest = self.shuffles[pass].source_table_range(have, self.key.len());
            self.on_source_table_rest(pass, &rest);
        }
        self.shuffled[pass].parity_range(start, end)
    }
}

/// A block or sub-block whose parity on Alice's side Bob knows (asked or inferred).
#[derive(Debug, Clone, Copy)]
struct Node {
    start: u32,
    end: u32,
    /// Index of the left child in the pass's node arena (the right child follows it);
    /// 0 when the node has not been split (roots occupy the first indices, so no child is 0).
    left: u32,
    /// Alice's parity of the range.
    alice: bool,
    /// Whether Bob's range currently differs from Alice's in an odd number of bits; kept up
    /// to date on every flip so the cascade effect needs no recount.
    odd: bool,
    /// Round from which Bob knows `odd` in the batched model (module `channel`): the later of
    /// the round Alice's parity arrived and the round of the latest correction inside.
    known_at: u32,
}

impl Node {
    fn len(&self) -> u32 {
        self.end - self.start
    }
}

/// Bob's state for one pass.
#[derive(Debug)]
struct Pass {
    shuffle: Shuffle,
    block_size: usize,
    /// Bob's key in this pass's shuffled order, kept in step with his corrections; for a
    /// two-block pass only its first block (rounded up to whole words) until a search needs
    /// the rest.
    key: BitVec,
    /// Known ranges: top-level blocks at indices `0..n_blocks`, then split children in pairs.
    nodes: Vec<Node>,
}

/// Bob: drives Cascade and corrects his key.
#[derive(Debug)]
pub(crate) struct Bob {
    key: BitVec,
    /// His key, one byte per bit, kept in step with `key` (the fast form to gather from).
    bytes: Vec<u8>,
    passes: Vec<Pass>,
    /// Parity of Alice's whole key, known once every top-level parity of the first pass is.
    alice_total_parity: Option<bool>,
    sub_block_reuse: bool,
    /// Odd ranges waiting for a binary search, smallest first: (length, pass, node).
    pending: BinaryHeap<Reverse<(u32, u32, u32)>>,
    flips: u64,
    /// Scratch buffer for the public source tables, reused by every pass (a table of a
    /// 1e6-bit key is 4 MB; allocating it afresh each pass costs page faults).
    table: Vec<u32>,
}

impl Bob {
    pub(crate) fn new(key: &BitVec, sub_block_reuse: bool) -> Bob {
        Bob {
            key: key.clone(),
            bytes: unpack_bits(key),
            passes: Vec::new(),
            alice_total_parity: None,
            sub_block_reuse,
            pending: BinaryHeap::new(),
            flips: 0,
            table: Vec::new(),
        }
    }

    /// Bob's key as it stands.
    pub(crate) fn into_key(self) -> BitVec {
        self.key
    }

    /// Number of bits Bob flipped.
    pub(crate) fn flips(&self) -> u64 {
        self.flips
    }

    /// Number of passes started.
    pub(crate) fn passes(&self) -> usize {
        self.passes.len()
    }

    /// Starts a pass with a fresh shuffle and top-level blocks of `block_size` bits, then
    /// corrects every error it can reach. Returns whether any top-level block was odd.
    pub(crate) fn run_pass<R: Rng + ?Sized>(
        &mut self,
        block_size: usize,
        alice: &mut Alice<'_>,
        channel: &mut Channel,
        rng: &mut R,
    ) -> bool {
        let n = self.key.len();
        let pass_idx = self.passes.len() as u32;
        let shuffle = Shuffle::random(n, rng);
        let n_blocks = n.div_ceil(block_size);
        // Once Alice's total parity is known, the last block's parity is the XOR of it and
        // the others, so asking for it would disclose nothing new: it is never asked (and so
        // never counted twice).
        let asked = match self.alice_total_parity {
            Some(_) => n_blocks.saturating_sub(1),
            None => n_blocks,
        };
        // A two-block pass (k = n/2, most passes of yanetal, option7/8 and BICONF) needs only
        // the first block's parity: each side shuffles just that half, and the shuffled keys
        // are completed only if a search ever enters the pass (about one pass in seven at
        // n = 1e6, Q = 2 %, yanetal). Same protocol, less work.
        let lazy = n_blocks == 2 && asked == 1;
        // The pass starts once everything before it has settled; a pass asking nothing is a
        // one-way notice riding with the next round's queries (module `channel`).
        let round = channel.last_round() + 1;
        let known_at = if asked > 0 { round } else { round - 1 };
        // Whole words, so the rest can be appended word by word if a search needs it.
        let table_len = if lazy {
            block_size.next_multiple_of(64).min(n)
        } else {
            n
        };
        // The source table is public (a function of the shuffle's round keys); it is built
        // once into a buffer reused by every pass, and lent to Alice with the announcement.
        let mut table = std::mem::take(&mut self.table);
        shuffle.source_table_range_into(0, table_len, &mut table);
        let bob_shuffled = gather_bytes(&table, &self.bytes);
        let reply = channel.start_pass(alice, pass_idx, &shuffle, &table, block_size, asked, round);
        self.table = table;
        let bob_parity = |b: usize| -> bool {
            if lazy && b == 1 {
                // Bob's whole-key parity XOR his first-block parity.
                (self.key.count_ones() & 1 == 1) ^ bob_shuffled.parity_range(0, block_size)
            } else {
                let start = b * block_size;
                bob_shuffled.parity_range(start, (start + block_size).min(n))
            }
        };
        let mut nodes = Vec::with_capacity(n_blocks + 64);
        let mut xor = false;
        let mut any_odd = false;
        for b in 0..n_blocks {
            let start = b * block_size;
            let end = (start + block_size).min(n);
            let alice_parity = if b < asked {
                reply.get(b)
            } else {
                self.alice_total_parity.unwrap_or(false) ^ xor
            };
            xor ^= alice_parity;
            let odd = alice_parity ^ bob_parity(b);
            if odd {
                any_odd = true;
                self.pending
                    .push(Reverse(((end - start) as u32, pass_idx, b as u32)));
            }
            nodes.push(Node {
                start: start as u32,
                end: end as u32,
                left: 0,
                alice: alice_parity,
                odd,
                known_at,
            });
        }
        if self.alice_total_parity.is_none() {
            self.alice_total_parity = Some(xor);
        }
        self.passes.push(Pass {
            shuffle,
            block_size,
            key: bob_shuffled,
            nodes,
        });
        self.correct(alice, channel);
        any_odd
    }

    /// Works through the pending odd ranges, smallest first (Demystifying sec. 3: the
    /// cheapest search first, so an error found there can make a larger block even before it
    /// is searched).
    fn correct(&mut self, alice: &mut Alice<'_>, channel: &mut Channel) {
        while let Some(Reverse((_, pass, node))) = self.pending.pop() {
            let (pass, node) = (pass as usize, node as usize);
            // A range queued earlier may have become even through another correction.
            if !self.passes[pass].nodes[node].odd {
                continue;
            }
            let (position, round) = self.binary_search(pass, node, alice, channel);
            let x = self.passes[pass].shuffle.source_of(position);
            self.flip(x, round);
        }
    }

    /// Brassard-Salvail's BINARY on an odd range: ask Alice the parity of the left half
    /// (the right half's parity is inferred from the parent's, never asked), follow the odd
    /// half, down to one bit. Halves already known are reused without asking.
    ///
    /// Returns the shuffled position of the error and the round at which Bob knows it: each
    /// query goes one round after the latest round the ranges on its path became known.
    fn binary_search(
        &mut self,
        pass: usize,
        mut cur: usize,
        alice: &mut Alice<'_>,
        channel: &mut Channel,
    ) -> (usize, u32) {
        let n = self.key.len();
        let have = self.passes[pass].key.len();
        if have < n {
            // First search in a two-block pass: complete the shuffled keys now, from where the
            // pass start left them. The rest of the table is public (a function of the
            // announced shuffle), so it is built once and lent.
            let mut rest = std::mem::take(&mut self.table);
            self.passes[pass]
                .shuffle
                .source_table_range_into(have, n, &mut rest);
            let rest_bits = gather_bytes(&rest, &self.bytes);
            self.passes[pass].key.extend_from(&rest_bits);
            channel.lend_source_table_rest(alice, pass as u32, &rest);
            self.table = rest;
        }
        let mut round = 0;
        loop {
            let p = &self.passes[pass];
            let node = p.nodes[cur];
            debug_assert!(node.odd);
            round = round.max(node.known_at);
            if node.len() == 1 {
                return (node.start as usize, round);
            }
            if node.left != 0 {
                let left = node.left as usize;
                cur = if p.nodes[left].odd { left } else { left + 1 };
                continue;
            }
            // Left half takes the larger share, so power-of-two blocks split exactly.
            let mid = node.start + node.len().div_ceil(2);
            round += 1;
            let alice_left = channel.sub_block_parity(
                alice,
                pass as u32,
                node.start as usize,
                mid as usize,
                round,
            );
            let p = &mut self.passes[pass];
            let bob_left = p.key.parity_range(node.start as usize, mid as usize);
            let left_odd = alice_left ^ bob_left;
            let left = p.nodes.len();
            p.nodes.push(Node {
                start: node.start,
                end: mid,
                left: 0,
                alice: alice_left,
                odd: left_odd,
                known_at: round,
            });
            p.nodes.push(Node {
                start: mid,
                end: node.end,
                left: 0,
                alice: node.alice ^ alice_left,
                odd: node.odd ^ left_odd,
                known_at: round,
            });
            p.nodes[cur].left = left as u32;
            cur = if left_odd { left } else { left + 1 };
        }
    }

    /// Flips original bit `x` and applies the cascade effect: in every pass the known ranges
    /// holding `x` change parity; the odd top-level block (or, with sub-block reuse, every odd
    /// known range) on that path is queued for a search. The bit was found at round `round`,
    /// so no range holding it is known before then.
    fn flip(&mut self, x: usize, round: u32) {
        self.key.flip(x);
        self.bytes[x] ^= 1;
        self.flips += 1;
        for (pass_idx, pass) in self.passes.iter_mut().enumerate() {
            let position = pass.shuffle.position_of(x);
            if position < pass.key.len() {
                pass.key.flip(position);
            }
            let mut cur = position / pass.block_size;
            let mut is_root = true;
            loop {
                let node = &mut pass.nodes[cur];
                node.odd = !node.odd;
                node.known_at = node.known_at.max(round);
                if node.odd && (is_root || self.sub_block_reuse) {
                    self.pending
                        .push(Reverse((node.len(), pass_idx as u32, cur as u32)));
                }
                if node.left == 0 {
                    break;
                }
                let left = node.left as usize;
                cur = if (pass.nodes[left].end as usize) > position {
                    left
                } else {
                    left + 1
                };
                is_root = false;
            }
        }
    }
}
