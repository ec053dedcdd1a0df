//! Bit-packed keys: [`BitVec`] stores bits little-endian in `u64` words (bit `i` is bit
//! `i % 64` of word `i / 64`); bits past `len` in the last word are always zero, so word
//! operations (popcount, XOR, equality) need no masking by callers.
//!
//! Must never depend on any other module of the crate: sifting, reconciliation and privacy
//! amplification all build on it.

/// A growable, bit-packed vector of bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BitVec {
    words: Vec<u64>,
    len: usize,
}

impl BitVec {
    /// An empty vector.
    pub fn new() -> BitVec {
        BitVec::default()
    }

    /// `len` zero bits.
    pub fn zeros(len: usize) -> BitVec {
        BitVec {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// An empty vector with room for `bits` bits.
    pub fn with_capacity(bits: usize) -> BitVec {
        BitVec {
            words: Vec::with_capacity(bits.div_ceil(64)),
            len: 0,
        }
    }

    /// Builds from whole words; bits past `len` are cleared.
    ///
    /// # Panics
    /// If `words` holds fewer than `len` bits.
    pub fn from_words(mut words: Vec<u64>, len: usize) -> BitVec {
        assert!(
            words.len() * 64 >= len,
            "from_words: {} words cannot hold {len} bits",
            words.len()
        );
        words.truncate(len.div_ceil(64));
        let mut v = BitVec { words, len };
        v.clear_tail();
        v
    }

    /// Builds from booleans (for tests and small inputs).
    pub fn from_bools(bits: &[bool]) -> BitVec {
        let mut v = BitVec::with_capacity(bits.len());
        for &b in bits {
            v.push(b);
        }
        v
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed words; bits past `len` are zero.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Mutable packed words. Callers must keep bits past `len` zero.
    pub fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// Bit `i`.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        debug_assert!(i < self.len);
        (self.words[i >> 6] >> (i & 63)) & 1 == 1
    }

    /// Sets bit `i` to `value`.
    #[inline]
    pub fn set(&mut self, i: usize, value: bool) {
        debug_assert!(i < self.len);
        let mask = 1u64 << (i & 63);
        if value {
            self.words[i >> 6] |= mask;
        } else {
            self.words[i >> 6] &= !mask;
        }
    }

    /// Flips bit `i`.
    #[inline]
    pub fn flip(&mut self, i: usize) {
        debug_assert!(i < self.len);
        self.words[i >> 6] ^= 1u64 << (i & 63);
    }

    /// Appends one bit.
    #[inline]
    pub fn push(&mut self, value: bool) {
        if self.len & 63 == 0 {
            self.words.push(0);
        }
        if value {
            self.words[self.len >> 6] |= 1u64 << (self.len & 63);
        }
        self.len += 1;
    }

    /// Appends all bits of `other`.
    pub fn extend_from(&mut self, other: &BitVec) {
        if self.len & 63 == 0 {
            self.words.extend_from_slice(&other.words);
            self.len += other.len;
            return;
        }
        for i in 0..other.len {
            self.push(other.get(i));
        }
    }

    /// Shortens to `len` bits (no effect if already shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.words.truncate(len.div_ceil(64));
            self.clear_tail();
        }
    }

    /// Number of one bits.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Parity (XOR) of bits `start..end`, from popcounts over whole words.
    pub fn parity_range(&self, start: usize, end: usize) -> bool {
        debug_assert!(start <= end && end <= self.len);
        if start >= end {
            return false;
        }
        let (ws, we) = (start >> 6, (end - 1) >> 6);
        let lo_mask = !0u64 << (start & 63);
        let hi_mask = if end & 63 == 0 {
            !0u64
        } else {
            (1u64 << (end & 63)) - 1
        };
        if ws == we {
            return (self.words[ws] & lo_mask & hi_mask).count_ones() & 1 == 1;
        }
        let mut ones =
            (self.words[ws] & lo_mask).count_ones() + (self.words[we] & hi_mask).count_ones();
        for w in &self.words[ws + 1..we] {
            ones += w.count_ones();
        }
        ones & 1 == 1
    }

    /// Number of positions where `self` and `other` differ (Hamming distance).
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn hamming_distance(&self, other: &BitVec) -> usize {
        assert_eq!(
            self.len, other.len,
            "hamming_distance of vectors of different lengths"
        );
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a ^ b).count_ones() as usize)
            .sum()
    }

    /// The bits as bytes, bit `i` in byte `i / 8` at position `i % 8` (LSB first); the last
    /// byte is zero-padded. This is the layout of `--keys-out` files.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.len.div_ceil(8);
        self.words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .take(n)
            .collect()
    }

    fn clear_tail(&mut self) {
        if self.len & 63 != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << (self.len & 63)) - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parity_matches_bit_loop(bits in proptest::collection::vec(any::<bool>(), 0..300), a in 0usize..300, b in 0usize..300) {
            let v = BitVec::from_bools(&bits);
            let (s, e) = (a.min(b).min(bits.len()), a.max(b).min(bits.len()));
            let expect = bits[s..e].iter().filter(|&&x| x).count() % 2 == 1;
            prop_assert_eq!(v.parity_range(s, e), expect);
        }

        #[test]
        fn push_get_truncate_roundtrip(bits in proptest::collection::vec(any::<bool>(), 0..300), cut in 0usize..300) {
            let mut v = BitVec::from_bools(&bits);
            for (i, &b) in bits.iter().enumerate() { prop_assert_eq!(v.get(i), b); }
            v.truncate(cut);
            let n = cut.min(bits.len());
            prop_assert_eq!(v.len(), n);
            prop_assert_eq!(v.count_ones(), bits[..n].iter().filter(|&&x| x).count());
            let mut w = BitVec::from_bools(&bits[..n]);
            prop_assert_eq!(&v, &w);
            w.extend_from(&v);
            prop_assert_eq!(w.len(), 2 * n);
            for i in 0..2 * n {
                prop_assert_eq!(w.get(i), bits[i % n.max(1)], "bit {}", i);
            }
        }
    }

    #[test]
    fn bytes_are_lsb_first() {
        let v = BitVec::from_bools(&[
            true, false, false, false, false, false, false, false, false, true,
        ]);
        assert_eq!(v.to_bytes(), vec![0x01, 0x02]);
    }
}
