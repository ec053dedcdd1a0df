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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    fn add(&mut self, d: &Detection) {
        self.detections += 1;
        self.double_clicks += d.double_click() as u64;
        if d.sifted() {
            let err = d.error() as u64;
            match d.alice_basis() {
                Basis::Z => {
                    self.sifted_z += 1;
                    self.errors_z += err;
                }
                Basis::X => {
                    self.sifted_x += 1;
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

/// Turns chunk outputs, in order, into blocks of `block_bits` sifted Z bits, and keeps the
/// run's totals.
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
    next_index: u64,
}

impl Sifter {
    /// A sifter for blocks of `block_bits` Z bits.
    pub fn new(n_intensities: usize, block_bits: usize) -> Sifter {
        Sifter {
            block_bits,
            n_intensities,
            current: Self::empty_block(0, 0, n_intensities, block_bits),
            totals: vec![SiftCounts::default(); n_intensities],
            pulses_per_intensity: vec![0; n_intensities],
            pulses: 0,
            next_index: 1,
        }
    }

    fn empty_block(index: u64, first_pulse: u64, nk: usize, block_bits: usize) -> SiftedBlock {
        SiftedBlock {
            index,
            first_pulse,
            end_pulse: first_pulse,
            alice: BitVec::with_capacity(block_bits),
            bob: BitVec::with_capacity(block_bits),
            per_intensity: vec![SiftCounts::default(); nk],
            partial: false,
        }
    }

    /// Sifts one chunk (chunks must come in pulse order); returns the blocks it completed.
    pub fn push_chunk(&mut self, chunk: &ChunkOutput) -> Vec<SiftedBlock> {
        let mut done = Vec::new();
        for (k, n) in chunk.pulses_per_intensity.iter().enumerate() {
            self.pulses_per_intensity[k] += n;
        }
        self.pulses += chunk.pulses;
        for d in &chunk.detections {
            let k = d.intensity as usize;
            self.totals[k].add(d);
            self.current.per_intensity[k].add(d);
            if d.sifted() && d.alice_basis() == Basis::Z {
                self.current.alice.push(d.alice_bit());
                self.current.bob.push(d.bob_bit());
                if self.current.alice.len() == self.block_bits {
                    let end = d.pulse + 1;
                    let next = Self::empty_block(
                        self.next_index,
                        end,
                        self.n_intensities,
                        self.block_bits,
                    );
                    self.next_index += 1;
                    let mut block = std::mem::replace(&mut self.current, next);
                    block.end_pulse = end;
                    done.push(block);
                }
            }
        }
        done
    }

    /// Ends the run: the remaining bits (fewer than `block_bits`), if any, as a partial
    /// block covering the pulses up to the end of the run.
    pub fn finish(&mut self) -> Option<SiftedBlock> {
        let end = self.pulses;
        let next = Self::empty_block(self.next_index, end, self.n_intensities, 0);
        let mut block = std::mem::replace(&mut self.current, next);
        block.end_pulse = end;
        block.partial = true;
        if block.alice.is_empty() {
            None
        } else {
            Some(block)
        }
    }
}
