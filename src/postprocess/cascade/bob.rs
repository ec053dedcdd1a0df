//! Bob: holds the noisy key, drives the passes, runs the binary searches and the cascade
//! effect, and corrects his key. His only source of information about Alice's key is the
//! [`Channel`] he is handed; he never holds Alice (or any [`Responder`]) himself, so the
//! parities the channel counts are all he can learn.
//!
//! Must never depend on the error pattern, the other party's key, or anything outside `bits`
//! and this module's siblings `channel`, `parity` and `shuffle`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::bits::BitVec;
use crate::error::Error;

use super::channel::{Channel, Responder};
use super::parity::{block_parities, parity};
use super::shuffle::{Divisor, FEW_BLOCKS, Shuffle, ShuffleScratch};

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
    /// Division by the top-level block size.
    block_div: Divisor,
    /// Bob's key in this pass's shuffled order, kept in step with his corrections; built
    /// only when a search in the pass first needs it if the pass has at most [`FEW_BLOCKS`]
    /// top-level blocks (their parities come from [`Shuffle::block_parities`]). Building it
    /// late from his key as it then stands gives the same bits as building it at the start
    /// and flipping it with every correction since, because the shuffle is a permutation.
    key: Option<BitVec>,
    /// Known ranges: top-level blocks at indices `0..n_blocks`, then split children in pairs.
    nodes: Vec<Node>,
}

/// Bob: drives Cascade and corrects his key.
#[derive(Debug)]
pub(crate) struct Bob {
    key: BitVec,
    passes: Vec<Pass>,
    /// Parity of Alice's whole key, known once every top-level parity of the first pass is.
    alice_total_parity: Option<bool>,
    sub_block_reuse: bool,
    /// Odd ranges waiting for a binary search, smallest first: (length, pass, node).
    pending: BinaryHeap<Reverse<(u32, u32, u32)>>,
    /// The odd top-level blocks of the current pass, sorted the same way, consumed from
    /// `started_next`: they come in order, so they need no heap (a pass of small blocks can
    /// start thousands of searches at once). [`Bob::next_pending`] merges the two.
    started: Vec<(u32, u32, u32)>,
    started_next: usize,
    flips: u64,
    /// Buffers for applying the shuffles, reused by every pass.
    scratch: ShuffleScratch,
    /// Scratch of [`block_parities`].
    prefix: Vec<u64>,
}

impl Bob {
    pub(crate) fn new(key: &BitVec, sub_block_reuse: bool) -> Bob {
        Bob {
            key: key.clone(),
            passes: Vec::new(),
            alice_total_parity: None,
            sub_block_reuse,
            pending: BinaryHeap::new(),
            started: Vec::new(),
            started_next: 0,
            flips: 0,
            scratch: ShuffleScratch::default(),
            prefix: Vec::new(),
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
    ///
    /// `shuffle` is the pass's public permutation (of the key's length), drawn by the caller.
    pub(crate) fn run_pass<R: Responder + ?Sized>(
        &mut self,
        block_size: usize,
        shuffle: Shuffle,
        channel: &mut Channel<'_, R>,
    ) -> bool {
        let n = self.key.len();
        debug_assert_eq!(shuffle.len(), n);
        let pass_idx = self.passes.len() as u32;
        let n_blocks = n.div_ceil(block_size);
        // Once Alice's total parity is known, the last block's parity is the XOR of it and
        // the others, so asking for it would disclose nothing new: it is never asked (and so
        // never counted twice).
        let asked = match self.alice_total_parity {
            Some(_) => n_blocks.saturating_sub(1),
            None => n_blocks,
        };
        // The pass starts once everything before it has settled; a pass asking nothing is a
        // one-way notice riding with the next round's queries (module `channel`).
        let round = channel.last_round() + 1;
        let known_at = if asked > 0 { round } else { round - 1 };
        // Each side applies the public shuffle to its own key (a pass of few blocks only
        // when a search needs it).
        let (bob_shuffled, bob_parities) = if n_blocks <= FEW_BLOCKS {
            let parities =
                shuffle.block_parities(&self.key, block_size, n_blocks, &mut self.scratch);
            (None, parities)
        } else {
            let shuffled = shuffle.apply_with(&self.key, &mut self.scratch);
            let parities = block_parities(&shuffled, block_size, n_blocks, &mut self.prefix);
            (Some(shuffled), parities)
        };
        let reply = channel.start_pass(pass_idx, &shuffle, block_size, asked, round);
        debug_assert!(self.started_next >= self.started.len() && self.pending.is_empty());
        self.started.clear();
        self.started_next = 0;
        // (Reserving room for a search in every block up front was tried: the saved copies
        // were outweighed by the page faults of the larger fresh allocations.)
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
            let odd = alice_parity ^ bob_parities.get(b);
            if odd {
                any_odd = true;
                self.started
                    .push(((end - start) as u32, pass_idx, b as u32));
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
            block_div: Divisor::new(block_size as u32),
            key: bob_shuffled,
            nodes,
        });
        self.correct(channel);
        any_odd
    }

    /// Works through the pending odd ranges, smallest first (Demystifying sec. 3: the
    /// cheapest search first, so an error found there can make a larger block even before it
    /// is searched).
    fn correct<R: Responder + ?Sized>(&mut self, channel: &mut Channel<'_, R>) {
        if !self.started.is_sorted() {
            // Only a shorter last block can be out of order.
            self.started.sort_unstable();
        }
        while let Some((_, pass, node)) = self.next_pending() {
            let (pass, node) = (pass as usize, node as usize);
            // A range queued earlier may have become even through another correction.
            if !self.passes[pass].nodes[node].odd {
                continue;
            }
            // Honest answers make every search end on an error, so Bob flips each bit at most
            // once: more searches than bits means the answers contradict each other (a lying
            // or broken responder), and going on could loop for ever. A responder that
            // failed is not asked again either.
            if self.flips >= self.key.len() as u64 || channel.failed() {
                channel.report(Error::InvalidArgument(format!(
                    "Cascade: the parities received contradict each other (an odd range is \
                     left after {} corrections of a {}-bit key)",
                    self.flips,
                    self.key.len()
                )));
                self.pending.clear();
                self.started_next = self.started.len();
                return;
            }
            let (position, round) = self.binary_search(pass, node, channel);
            let x = self.passes[pass].shuffle.source_of(position);
            self.flip(x, round);
        }
    }

    /// The smallest pending range of the heap and the pass-start list, as one heap of both
    /// would pop it.
    fn next_pending(&mut self) -> Option<(u32, u32, u32)> {
        let started = self.started.get(self.started_next).copied();
        match (self.pending.peek(), started) {
            (Some(&Reverse(h)), Some(s)) if h < s => self.pending.pop().map(|r| r.0),
            (_, Some(s)) => {
                self.started_next += 1;
                Some(s)
            }
            (_, None) => self.pending.pop().map(|r| r.0),
        }
    }

    /// Brassard-Salvail's BINARY on an odd range: ask Alice the parity of the left half
    /// (the right half's parity is inferred from the parent's, never asked), follow the odd
    /// half, down to one bit. Halves already known are reused without asking.
    ///
    /// Returns the shuffled position of the error and the round at which Bob knows it: each
    /// query goes one round after the latest round the ranges on its path became known.
    fn binary_search<R: Responder + ?Sized>(
        &mut self,
        pass: usize,
        mut cur: usize,
        channel: &mut Channel<'_, R>,
    ) -> (usize, u32) {
        let p = &mut self.passes[pass];
        if p.key.is_none() {
            p.key = Some(p.shuffle.apply_with(&self.key, &mut self.scratch));
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
            let alice_left =
                channel.sub_block_parity(pass as u32, node.start as usize, mid as usize, round);
            let p = &mut self.passes[pass];
            let key = p.key.as_ref().expect("built at the start of the search");
            let bob_left = parity(key, node.start as usize, mid as usize);
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
        self.flips += 1;
        for (pass_idx, pass) in self.passes.iter_mut().enumerate() {
            let position = pass.shuffle.position_of(x);
            if let Some(key) = &mut pass.key {
                key.flip(position);
            }
            let mut cur = pass.block_div.div(position as u32) as usize;
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
                // The left child ends where the bisection put it (see `binary_search`).
                let mid = node.start + node.len().div_ceil(2);
                let left = node.left as usize;
                cur = if (position as u32) < mid {
                    left
                } else {
                    left + 1
                };
                is_root = false;
            }
        }
    }
}
