//! The record of what Alice disclosed during one Cascade run, as linear functions of her
//! key: for every parity bit that crossed the channel from Alice, the range of shuffled
//! positions it covered and the public shuffle of its pass, from which the set of original
//! key positions follows ([`DisclosedParities::positions`]). An eavesdropper who reads the
//! channel knows the XOR of Alice's key over each of these sets (module
//! `postprocess::leakage` counts what that tells her about the final key).
//!
//! The record is kept by the [`super::Channel`] at the moment a value is handed to Bob, in
//! the order the values travel, so entry `i` is the `i`-th disclosed bit of the message log
//! and the number of entries is `leaked_bits`. Inferred parities (a bisection's right half,
//! the last top-level block of a later pass, the complement half of a BICONF round) never
//! cross the channel and are not recorded: they are XORs of recorded ones.
//!
//! Storage is one range per disclosed bit plus three round keys per pass; positions are
//! produced on demand by undoing the pass's shuffle ([`Shuffle::source_table`]).
//! Must never depend on the parties' keys or anything outside `bits` and `shuffle`.

use crate::bits::BitVec;

use super::shuffle::Shuffle;

/// One disclosed parity: Alice's parity of shuffled positions `start..end` of pass `pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParityRange {
    /// Pass index, 0 based (BICONF rounds continue the numbering).
    pub pass: u32,
    /// First shuffled position.
    pub start: u32,
    /// One past the last shuffled position.
    pub end: u32,
}

/// Every parity bit Alice disclosed in one reconciliation, in channel order, as ranges of
/// the passes' shuffled keys (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisclosedParities {
    key_bits: usize,
    /// Round keys of every pass's shuffle, by pass index.
    shuffles: Vec<[u32; 3]>,
    ranges: Vec<ParityRange>,
}

impl DisclosedParities {
    /// An empty record for keys of `key_bits` bits.
    pub(crate) fn new(key_bits: usize) -> DisclosedParities {
        DisclosedParities {
            key_bits,
            shuffles: Vec::new(),
            ranges: Vec::new(),
        }
    }

    /// Pass `pass` starts with `shuffle` (passes are announced in order).
    pub(crate) fn start_pass(&mut self, pass: u32, shuffle: &Shuffle) {
        debug_assert_eq!(pass as usize, self.shuffles.len());
        debug_assert_eq!(shuffle.len(), self.key_bits);
        self.shuffles.push(shuffle.round_keys());
    }

    /// Alice disclosed her parity of shuffled positions `start..end` of pass `pass`.
    pub(crate) fn push(&mut self, pass: u32, start: usize, end: usize) {
        debug_assert!((pass as usize) < self.shuffles.len());
        debug_assert!(start < end && end <= self.key_bits);
        self.ranges.push(ParityRange {
            pass,
            start: start as u32,
            end: end as u32,
        });
    }

    /// Length of the reconciled keys.
    pub fn key_bits(&self) -> usize {
        self.key_bits
    }

    /// Number of disclosed parity bits (equals the outcome's `leaked_bits`).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when nothing was disclosed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The disclosed ranges, in the order the values crossed the channel.
    pub fn ranges(&self) -> &[ParityRange] {
        &self.ranges
    }

    /// Number of passes announced (BICONF rounds included).
    pub fn passes(&self) -> usize {
        self.shuffles.len()
    }

    /// The public shuffle of pass `pass`.
    ///
    /// # Panics
    /// If `pass >= self.passes()`.
    pub fn shuffle(&self, pass: usize) -> Shuffle {
        Shuffle::from_round_keys(self.key_bits, self.shuffles[pass])
    }

    /// The original key positions whose XOR is disclosed bit `i`, ascending.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn positions(&self, i: usize) -> Vec<u32> {
        let r = self.ranges[i];
        let mut p = self
            .shuffle(r.pass as usize)
            .source_table_range(r.start as usize, r.end as usize);
        p.sort_unstable();
        p
    }

    /// Disclosed bit `i` as an indicator vector over the `key_bits` original positions.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn row(&self, i: usize) -> BitVec {
        let mut row = BitVec::zeros(self.key_bits);
        for p in self.positions(i) {
            row.set(p as usize, true);
        }
        row
    }

    /// Calls `f(i, positions)` for every disclosed bit `i` in order, with its original key
    /// positions (unsorted: in the pass's shuffled order). Builds each pass's whole source
    /// table once (4 bytes per key bit per pass, kept until the end of the call), so the cost
    /// is the passes' tables plus the total size of the ranges.
    pub fn for_each_positions(&self, mut f: impl FnMut(usize, &[u32])) {
        let mut tables: Vec<Option<Vec<u32>>> = vec![None; self.shuffles.len()];
        for (i, r) in self.ranges.iter().enumerate() {
            let table = tables[r.pass as usize]
                .get_or_insert_with(|| self.shuffle(r.pass as usize).source_table());
            f(i, &table[r.start as usize..r.end as usize]);
        }
    }
}
