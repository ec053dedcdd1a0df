//! Sifting: detection records in, bit-packed blocks of sifted Z bits out.
//!
//! Alice and Bob announce bases (and intensities, as in decoy BB84); events where the bases
//! agree are kept. Z-basis events of all intensities form the key (as in Lim et al., PRA
//! 89, 022307, 2014, where all intensities contribute to the key); X-basis events are
//! disclosed to estimate the phase error. A block closes after its `block_bits`-th sifted
//! Z bit; it carries the X-basis and per-intensity counts of the same stretch of pulses,
//! so post-processing can treat every block on its own and memory stays bounded.
//!
//! Must never depend on `estimation`, `postprocess`, `analysis` or `report`.

use super::detection::{ChunkOutput, Detection};
use crate::bits::BitVec;
use crate::physics::Basis;
use serde::Serialize;

/// Per-intensity counts of one block or a whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SiftCounts {
    /// Pulses with at least one click (all bases).
    pub detections: u64,
    /// Pulses where both detectors clicked.
    pub double_clicks: u64,
    /// Events where both chose Z.
    pub sifted_z: u64,
    /// Of those, Bob's bit differs from Alice's.
    pub errors_z: u64,
    /// Events where both chose X.
    pub sifted_x: u64,
    /// Of those, errors.
    pub errors_x: u64,
}

impl SiftCounts {
    /// Adds `n` detections with the flags `flags` (see [`Detection`]).
    fn add_flags(&mut self, flags: u8, n: u64) {
        let d = Detection {
            pulse: 0,
            intensity: 0,
            flags,
        };
        self.detections += n;
        self.double_clicks += d.double_click() as u64 * n;
        if d.sifted() {
            let err = d.error() as u64 * n;
            match d.alice_basis() {
                Basis::Z => {
                    self.sifted_z += n;
                    self.errors_z += err;
                }
                Basis::X => {
                    self.sifted_x += n;
                    self.errors_x += err;
                }
            }
        }
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, o: &SiftCounts) {
        self.detections += o.detections;
        self.double_clicks += o.double_clicks;
        self.sifted_z += o.sifted_z;
        self.errors_z += o.errors_z;
        self.sifted_x += o.sifted_x;
        self.errors_x += o.errors_x;
    }
}

/// One post-processing block: Alice's and Bob's sifted Z bits and the counts of the pulses
/// `first_pulse .. end_pulse` that produced them.
#[derive(Debug, Clone, PartialEq)]
pub struct SiftedBlock {
    /// Block number, from 0.
    pub index: u64,
    /// First pulse of the stretch this block covers.
    pub first_pulse: u64,
    /// One past its last pulse.
    pub end_pulse: u64,
    /// Alice's sifted Z bits.
    pub alice: BitVec,
    /// Bob's sifted Z bits (with errors).
    pub bob: BitVec,
    /// Per sifted Z bit, whether Eve knows Alice's bit ([`Detection::FLAG_EVE_KNOWS`]);
    /// all zero without an adversary.
    pub eve: BitVec,
    /// Counts per intensity class over the block's pulses.
    pub per_intensity: Vec<SiftCounts>,
    /// True for the last, shorter block of a run.
    pub partial: bool,
}

impl SiftedBlock {
    /// Pulses the block covers.
    pub fn pulses(&self) -> u64 {
        self.end_pulse - self.first_pulse
    }
}

/// Distinct flag values of a [`Detection`] (7 flag bits).
const FLAG_VALUES: usize = 128;

/// One chunk's detections sifted on their own, with no block boundary: the histogram of
/// (intensity, flags) and the packed sifted Z bits of Alice, Bob and Eve's knowledge.
/// Chunks do not depend on each other for this, so a run computes it on the engine's
/// parallel chunk tasks (`analysis::timeline` hands [`ChunkSift::of`] to
/// [`super::Engine::run_segments`]); the sequential [`Sifter`] then adds the histogram and
/// appends whole words, and sifts record by record only a chunk inside which a block
/// closes (one chunk in ten at 1e6-bit blocks and 50 km).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkSift {
    /// Detections per (intensity, flags), `FLAG_VALUES` cells per intensity.
    histogram: Vec<u64>,
    alice: Vec<u64>,
    bob: Vec<u64>,
    eve: Vec<u64>,
    /// Sifted Z bits in the chunk.
    bits: usize,
}

impl ChunkSift {
    /// Sifts `chunk`'s detections (its `pulses_per_intensity` gives the number of
    /// intensity classes).
    pub fn of(chunk: &ChunkOutput) -> ChunkSift {
        let mut histogram = vec![0u64; chunk.pulses_per_intensity.len() * FLAG_VALUES];
        // Pass 1: histogram, and the kept detections' three bits compacted one byte each
        // (bit 0 Alice, 1 Bob, 2 Eve): every byte is written, the position only moves on
        // for a kept one, so there is no branch and no variable shift per detection.
        let n = chunk.detections.len();
        let mut codes = vec![0u8; n + 64];
        let mut j = 0usize;
        for d in &chunk.detections {
            let f = d.flags;
            histogram[d.intensity as usize * FLAG_VALUES + (f as usize & (FLAG_VALUES - 1))] += 1;
            codes[j] = ((f >> 1) & 1) | ((f >> 2) & 2) | ((f >> 5) & 4);
            j += (f & (Detection::FLAG_ALICE_X | Detection::FLAG_BOB_X) == 0) as usize;
        }
        let bits = j;
        codes[bits..].fill(0);
        // Pass 2: 8 bytes at a time, the low bit of each byte gathered into 8 bits by
        // one multiplication (as the pulse engine's `pack_flags`).
        let words = bits.div_ceil(64);
        let (mut alice, mut bob, mut eve) = (
            Vec::with_capacity(words),
            Vec::with_capacity(words),
            Vec::with_capacity(words),
        );
        const LOW: u64 = 0x0101_0101_0101_0101;
        const GATHER: u64 = 0x0102_0408_1020_4080;
        for word in codes[..words * 64].chunks_exact(64) {
            let (mut a, mut b, mut e) = (0u64, 0u64, 0u64);
            for (g, bytes) in word.chunks_exact(8).enumerate() {
                let x = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                a |= ((x & LOW).wrapping_mul(GATHER) >> 56) << (8 * g);
                b |= (((x >> 1) & LOW).wrapping_mul(GATHER) >> 56) << (8 * g);
                e |= (((x >> 2) & LOW).wrapping_mul(GATHER) >> 56) << (8 * g);
            }
            alice.push(a);
            bob.push(b);
            eve.push(e);
        }
        ChunkSift {
            histogram,
            alice,
            bob,
            eve,
            bits,
        }
    }

    /// Sifted Z bits in the chunk.
    pub fn bits(&self) -> usize {
        self.bits
    }
}

/// Appends the `n` bits of `src` (packed, zero above bit n) to the packed bits `words` +
/// `tail` (`tail_bits` < 64 of them in `tail`).
fn append_bits(words: &mut Vec<u64>, tail: &mut u64, tail_bits: u32, src: &[u64], n: usize) {
    let (full, rest) = (n / 64, (n % 64) as u32);
    let mut t = *tail;
    if tail_bits == 0 {
        words.extend_from_slice(&src[..full]);
    } else {
        for &w in &src[..full] {
            words.push(t | (w << tail_bits));
            t = w >> (64 - tail_bits);
        }
    }
    if rest > 0 {
        let w = src[full];
        t |= w << tail_bits;
        if tail_bits + rest >= 64 {
            words.push(t);
            t = w >> (64 - tail_bits);
        }
    }
    *tail = t;
}

/// Turns chunk outputs, in order, into blocks of `block_bits` sifted Z bits, and keeps the
/// run's totals.
///
/// Per detection the hot loop only bumps a histogram cell (intensity, flags) and appends
/// the two key bits, branch-free, to 64-bit accumulators; the histogram is folded into the
/// counts when a block closes and at the end of every chunk.
#[derive(Debug)]
pub struct Sifter {
    block_bits: usize,
    n_intensities: usize,
    current: SiftedBlock,
    /// Run totals per intensity.
    pub totals: Vec<SiftCounts>,
    /// Pulses sent per intensity in the whole run.
    pub pulses_per_intensity: Vec<u64>,
    /// Pulses seen.
    pub pulses: u64,
    /// One past the last pulse of the last chunk (differs from `pulses` when pulses were
    /// not sent, e.g. while the link realigned).
    end: u64,
    next_index: u64,
    /// Detections per (intensity, flags) not yet folded into the counts.
    histogram: Vec<u64>,
    /// Whole words of the current block's Alice and Bob bits.
    alice_words: Vec<u64>,
    bob_words: Vec<u64>,
    eve_words: Vec<u64>,
    /// The current block's bits past its whole words, and how many.
    alice_tail: u64,
    bob_tail: u64,
    eve_tail: u64,
    tail_bits: u32,
    /// Bits in the current block.
    bits: usize,
}

impl Sifter {
    /// A sifter for blocks of `block_bits` Z bits.
    pub fn new(n_intensities: usize, block_bits: usize) -> Sifter {
        Sifter {
            block_bits,
            n_intensities,
            current: Self::empty_block(0, 0, n_intensities),
            totals: vec![SiftCounts::default(); n_intensities],
            pulses_per_intensity: vec![0; n_intensities],
            pulses: 0,
            end: 0,
            next_index: 1,
            histogram: vec![0; n_intensities * FLAG_VALUES],
            alice_words: Vec::with_capacity(block_bits.div_ceil(64)),
            bob_words: Vec::with_capacity(block_bits.div_ceil(64)),
            eve_words: Vec::with_capacity(block_bits.div_ceil(64)),
            alice_tail: 0,
            bob_tail: 0,
            eve_tail: 0,
            tail_bits: 0,
            bits: 0,
        }
    }

    fn empty_block(index: u64, first_pulse: u64, nk: usize) -> SiftedBlock {
        SiftedBlock {
            index,
            first_pulse,
            end_pulse: first_pulse,
            alice: BitVec::new(),
            bob: BitVec::new(),
            eve: BitVec::new(),
            per_intensity: vec![SiftCounts::default(); nk],
            partial: false,
        }
    }

    /// Folds the histogram into the current block's counts and the run totals.
    fn fold_histogram(&mut self) {
        for (k, cells) in self.histogram.chunks_exact_mut(FLAG_VALUES).enumerate() {
            for (flags, n) in cells.iter_mut().enumerate() {
                if *n != 0 {
                    self.current.per_intensity[k].add_flags(flags as u8, *n);
                    self.totals[k].add_flags(flags as u8, *n);
                    *n = 0;
                }
            }
        }
    }

    /// Closes the current block at `end_pulse` and starts the next one there.
    fn close_block(&mut self, end_pulse: u64, partial: bool) -> SiftedBlock {
        self.fold_histogram();
        let words = self.block_bits.div_ceil(64);
        let mut alice = std::mem::replace(&mut self.alice_words, Vec::with_capacity(words));
        let mut bob = std::mem::replace(&mut self.bob_words, Vec::with_capacity(words));
        let mut eve = std::mem::replace(&mut self.eve_words, Vec::with_capacity(words));
        if self.tail_bits > 0 {
            alice.push(self.alice_tail);
            bob.push(self.bob_tail);
            eve.push(self.eve_tail);
        }
        let next = Self::empty_block(self.next_index, end_pulse, self.n_intensities);
        self.next_index += 1;
        let mut block = std::mem::replace(&mut self.current, next);
        block.end_pulse = end_pulse;
        block.partial = partial;
        block.alice = BitVec::from_words(alice, self.bits);
        block.bob = BitVec::from_words(bob, self.bits);
        block.eve = BitVec::from_words(eve, self.bits);
        self.alice_tail = 0;
        self.bob_tail = 0;
        self.eve_tail = 0;
        self.tail_bits = 0;
        self.bits = 0;
        block
    }

    /// Sifts one chunk (chunks must come in pulse order); returns the blocks it completed.
    pub fn push_chunk(&mut self, chunk: &ChunkOutput) -> Vec<SiftedBlock> {
        let mut done = Vec::new();
        for (k, n) in chunk.pulses_per_intensity.iter().enumerate() {
            self.pulses_per_intensity[k] += n;
        }
        self.pulses += chunk.pulses;
        self.end = chunk.first_pulse + chunk.pulses;
        let need = match self.block_bits {
            0 => usize::MAX,
            b => b - self.bits,
        };
        if let Some(pre) = chunk.sift.as_ref().filter(|p| p.bits < need) {
            // No block closes in this chunk: add its histogram, append its bits.
            for (h, &n) in self.histogram.iter_mut().zip(&pre.histogram) {
                *h += n;
            }
            let tb = self.tail_bits;
            append_bits(
                &mut self.alice_words,
                &mut self.alice_tail,
                tb,
                &pre.alice,
                pre.bits,
            );
            append_bits(
                &mut self.bob_words,
                &mut self.bob_tail,
                tb,
                &pre.bob,
                pre.bits,
            );
            append_bits(
                &mut self.eve_words,
                &mut self.eve_tail,
                tb,
                &pre.eve,
                pre.bits,
            );
            self.tail_bits = ((tb as usize + pre.bits) % 64) as u32;
            self.bits += pre.bits;
            self.fold_histogram();
            return done;
        }
        let mut rest = &chunk.detections[..];
        while !rest.is_empty() {
            // Bits still missing to close the block (block_bits 0: never closes).
            let need = match self.block_bits {
                0 => usize::MAX,
                b => b - self.bits,
            };
            let (kept, used) = self.sift_run(rest, need);
            self.bits += kept;
            if kept == need {
                let end = rest[used - 1].pulse + 1;
                done.push(self.close_block(end, false));
            }
            rest = &rest[used..];
        }
        self.fold_histogram();
        done
    }

    /// Sifts detections from the start of `run` until `need` key bits are kept or `run`
    /// ends; returns (bits kept, detections used).
    #[inline]
    fn sift_run(&mut self, run: &[Detection], need: usize) -> (usize, usize) {
        let histogram = &mut self.histogram[..];
        let (mut alice_tail, mut bob_tail, mut eve_tail, mut tail_bits) = (
            self.alice_tail,
            self.bob_tail,
            self.eve_tail,
            self.tail_bits,
        );
        let mut kept = 0usize;
        let mut used = run.len();
        for (i, d) in run.iter().enumerate() {
            let flags = d.flags as usize & (FLAG_VALUES - 1);
            histogram[d.intensity as usize * FLAG_VALUES + flags] += 1;
            // Both chose Z: Alice's and Bob's basis flags are 0.
            let keep =
                (flags & (Detection::FLAG_ALICE_X | Detection::FLAG_BOB_X) as usize == 0) as u64;
            alice_tail |= ((flags as u64 >> 1) & keep) << tail_bits;
            bob_tail |= ((flags as u64 >> 3) & keep) << tail_bits;
            eve_tail |= ((d.flags as u64 >> 7) & keep) << tail_bits;
            tail_bits += keep as u32;
            if tail_bits == 64 {
                self.alice_words.push(alice_tail);
                self.bob_words.push(bob_tail);
                self.eve_words.push(eve_tail);
                alice_tail = 0;
                bob_tail = 0;
                eve_tail = 0;
                tail_bits = 0;
            }
            kept += keep as usize;
            if kept == need {
                used = i + 1;
                break;
            }
        }
        (
            self.alice_tail,
            self.bob_tail,
            self.eve_tail,
            self.tail_bits,
        ) = (alice_tail, bob_tail, eve_tail, tail_bits);
        (kept, used)
    }

    /// Ends the run: the remaining bits (fewer than `block_bits`), if any, as a partial
    /// block covering the pulses up to the end of the run.
    pub fn finish(&mut self) -> Option<SiftedBlock> {
        let end = self.end;
        let block = self.close_block(end, true);
        if block.alice.is_empty() {
            None
        } else {
            Some(block)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sifter written plainly, one detection at a time.
    fn reference(chunks: &[ChunkOutput], nk: usize, block_bits: usize) -> Vec<SiftedBlock> {
        let mut blocks = Vec::new();
        let empty = |index, first| SiftedBlock {
            index,
            first_pulse: first,
            end_pulse: first,
            alice: BitVec::new(),
            bob: BitVec::new(),
            eve: BitVec::new(),
            per_intensity: vec![SiftCounts::default(); nk],
            partial: false,
        };
        let mut cur = empty(0, 0);
        let mut pulses = 0;
        for chunk in chunks {
            pulses += chunk.pulses;
            for d in &chunk.detections {
                cur.per_intensity[d.intensity as usize].add_flags(d.flags, 1);
                if d.sifted() && d.alice_basis() == Basis::Z {
                    cur.alice.push(d.alice_bit());
                    cur.bob.push(d.bob_bit());
                    cur.eve.push(d.eve_knows());
                    if cur.alice.len() == block_bits {
                        let next = empty(cur.index + 1, d.pulse + 1);
                        let mut b = std::mem::replace(&mut cur, next);
                        b.end_pulse = d.pulse + 1;
                        blocks.push(b);
                    }
                }
            }
        }
        cur.end_pulse = pulses;
        cur.partial = true;
        if !cur.alice.is_empty() {
            blocks.push(cur);
        }
        blocks
    }

    #[test]
    fn matches_the_plain_sifter() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let nk = 3;
        let mut chunks = Vec::new();
        let mut pulse = 0;
        for c in 0..5 {
            let n = (next() % 3000) as usize;
            let first = pulse;
            let detections = (0..n)
                .map(|_| {
                    pulse += 1 + next() % 5;
                    let r = next();
                    Detection {
                        pulse,
                        intensity: (r % nk as u64) as u8,
                        flags: (r >> 8) as u8 | 0x10,
                    }
                })
                .collect();
            pulse += 10;
            chunks.push(ChunkOutput {
                index: c,
                first_pulse: first,
                pulses: pulse - first,
                pulses_per_intensity: vec![0; nk],
                detections,
                sift: None,
            });
        }
        // The same chunks with their parallel sift (`ChunkSift`), and an empty one.
        let mut presifted = chunks.clone();
        presifted.insert(
            2,
            ChunkOutput {
                index: 99,
                first_pulse: chunks[2].first_pulse,
                pulses_per_intensity: vec![0; nk],
                ..ChunkOutput::default()
            },
        );
        for c in &mut presifted {
            c.sift = Some(ChunkSift::of(c));
        }
        for block_bits in [0, 64, 100, 1000, 1 << 12, 1 << 20] {
            let mut s = Sifter::new(nk, block_bits);
            let mut got = Vec::new();
            for chunk in &chunks {
                got.extend(s.push_chunk(chunk));
            }
            got.extend(s.finish());
            let want = reference(&chunks, nk, block_bits);
            assert_eq!(got, want, "block_bits {block_bits}");
            let mut p = Sifter::new(nk, block_bits);
            let mut fast = Vec::new();
            for chunk in &presifted {
                fast.extend(p.push_chunk(chunk));
            }
            fast.extend(p.finish());
            assert_eq!(fast, want, "presifted, block_bits {block_bits}");
            assert_eq!(p.totals, s.totals);
            let mut totals = vec![SiftCounts::default(); nk];
            for b in &want {
                for (t, c) in totals.iter_mut().zip(&b.per_intensity) {
                    t.merge(c);
                }
            }
            assert_eq!(s.totals, totals);
        }
    }
}
