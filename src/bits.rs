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

    /// Appends all bits of `other` (word at a time).
    pub fn extend_from(&mut self, other: &BitVec) {
        self.extend_range(other, 0, other.len);
    }

    /// Appends bits `start..start + len` of `other`, a word at a time (each source word is
    /// read at any bit offset by shifting two neighbouring words together, and merged into
    /// the destination's last word by a shift).
    ///
    /// # Panics
    /// If `start + len` exceeds `other.len()`.
    pub fn extend_range(&mut self, other: &BitVec, start: usize, len: usize) {
        let end = start.checked_add(len);
        assert!(
            end.is_some_and(|e| e <= other.len),
            "extend_range: bits {start}..{start}+{len} of a vector of {} bits",
            other.len
        );
        if len == 0 {
            return;
        }
        if self.len & 63 == 0 && start & 63 == 0 {
            // Both aligned: whole words copy as they are; the source's tail beyond `len`
            // (inside the last word) is cleared below.
            let (ws, n) = (start >> 6, len.div_ceil(64));
            self.words.extend_from_slice(&other.words[ws..ws + n]);
            self.len += len;
            self.clear_tail();
            return;
        }
        self.words
            .reserve((self.len + len).div_ceil(64) - self.words.len());
        let mut done = 0;
        if self.len & 63 == 0 {
            // Destination aligned, source not (`start % 64 = so > 0`): every whole
            // destination word joins the high part of one source word with the low part of
            // the next, which exists because bit `start + 64 i + 63 < start + len` lies in it.
            let (ws, so) = (start >> 6, start & 63);
            let full = len >> 6;
            self.words.extend(
                other.words[ws..ws + full + 1]
                    .windows(2)
                    .map(|w| (w[0] >> so) | (w[1] << (64 - so))),
            );
            self.len += full << 6;
            done = full << 6;
        }
        while done < len {
            let n = (len - done).min(64);
            let mut w = other.word_at(start + done);
            if n < 64 {
                w &= (1u64 << n) - 1;
            }
            self.push_bits(w, n);
            done += n;
        }
    }

    /// Bits `start..start + len` as a new vector (word at a time).
    ///
    /// # Panics
    /// If `start + len` exceeds `self.len()`.
    pub fn slice(&self, start: usize, len: usize) -> BitVec {
        let mut v = BitVec::with_capacity(len);
        v.extend_range(self, start, len);
        v
    }

    /// Removes every bit (keeps the allocation).
    pub fn clear(&mut self) {
        self.words.clear();
        self.len = 0;
    }

    /// `self ^= other`, bit by bit, computed a word at a time.
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn xor_assign(&mut self, other: &BitVec) {
        assert_eq!(
            self.len, other.len,
            "xor_assign of vectors of different lengths"
        );
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a ^= b;
        }
    }

    /// The 64 bits `bit..bit + 64` as one word (bit `bit` lowest); bits past `len` read as
    /// zero. Requires `bit < len`.
    #[inline]
    fn word_at(&self, bit: usize) -> u64 {
        let (i, o) = (bit >> 6, bit & 63);
        let lo = self.words[i] >> o;
        match self.words.get(i + 1) {
            Some(&hi) if o != 0 => lo | (hi << (64 - o)),
            _ => lo,
        }
    }

    /// Appends the low `n` bits of `w` (`1 <= n <= 64`; bits of `w` from `n` up are zero).
    #[inline]
    fn push_bits(&mut self, w: u64, n: usize) {
        debug_assert!((1..=64).contains(&n) && (n == 64 || w >> n == 0));
        let o = self.len & 63;
        if o == 0 {
            self.words.push(w);
        } else {
            let last = self.words.len() - 1;
            self.words[last] |= w << o;
            if n > 64 - o {
                self.words.push(w >> (64 - o));
            }
        }
        self.len += n;
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

    fn bools(v: &BitVec) -> Vec<bool> {
        (0..v.len()).map(|i| v.get(i)).collect()
    }

    proptest! {
        #[test]
        fn extend_range_and_slice_match_bit_loop(
            head in proptest::collection::vec(any::<bool>(), 0..200),
            src in proptest::collection::vec(any::<bool>(), 0..400),
            a in 0usize..400,
            b in 0usize..400,
        ) {
            let (s, e) = (a.min(b).min(src.len()), a.max(b).min(src.len()));
            let source = BitVec::from_bools(&src);
            let mut v = BitVec::from_bools(&head);
            v.extend_range(&source, s, e - s);
            let mut expect = head.clone();
            expect.extend_from_slice(&src[s..e]);
            prop_assert_eq!(bools(&v), expect.clone());
            // The tail past `len` stays zero: equality with a fresh vector is word-wise.
            prop_assert_eq!(&v, &BitVec::from_bools(&expect));
            let sl = source.slice(s, e - s);
            prop_assert_eq!(&sl, &BitVec::from_bools(&src[s..e]));
        }

        #[test]
        fn xor_matches_bit_loop(
            pairs in proptest::collection::vec(any::<(bool, bool)>(), 0..300),
        ) {
            let a: Vec<bool> = pairs.iter().map(|p| p.0).collect();
            let b: Vec<bool> = pairs.iter().map(|p| p.1).collect();
            let mut x = BitVec::from_bools(&a);
            x.xor_assign(&BitVec::from_bools(&b));
            let expect: Vec<bool> = pairs.iter().map(|p| p.0 ^ p.1).collect();
            prop_assert_eq!(&x, &BitVec::from_bools(&expect));
        }
    }

    #[test]
    fn range_copies_across_word_boundaries() {
        // 64-bit words of distinct patterns; copy every (offset, length) near boundaries.
        let words = vec![
            0x0123_4567_89ab_cdef,
            0xfedc_ba98_7654_3210,
            0xdead_beef_cafe_f00d,
        ];
        let src = BitVec::from_words(words, 190);
        for pre in [0usize, 1, 63, 64, 65] {
            for start in [0usize, 1, 31, 63, 64, 65, 127, 128] {
                for len in [0usize, 1, 62, 63, 64, 65] {
                    if start + len > src.len() {
                        continue;
                    }
                    let mut v = BitVec::zeros(pre);
                    v.extend_range(&src, start, len);
                    assert_eq!(v.len(), pre + len);
                    for i in 0..len {
                        assert_eq!(
                            v.get(pre + i),
                            src.get(start + i),
                            "{pre} {start} {len} {i}"
                        );
                    }
                    assert_eq!(v.count_ones(), src.slice(start, len).count_ones());
                }
            }
        }
        let mut c = src.clone();
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c, BitVec::new());
    }

    #[test]
    #[should_panic(expected = "extend_range")]
    fn extend_range_out_of_bounds_panics() {
        BitVec::zeros(10).slice(5, 6);
    }

    #[test]
    fn bytes_are_lsb_first() {
        let v = BitVec::from_bools(&[
            true, false, false, false, false, false, false, false, false, true,
        ]);
        assert_eq!(v.to_bytes(), vec![0x01, 0x02]);
    }
}
