//! Block parities of bit-packed keys, shared by both parties (each on its own key).
//!
//! Must never depend on the parties, the channel or anything outside `bits`.

use crate::bits::BitVec;

/// Parity (XOR) of bits `start..end` of `bits`: the words are XOR-folded (vectorised), then
/// one popcount.
#[inline]
pub(super) fn parity(bits: &BitVec, start: usize, end: usize) -> bool {
    debug_assert!(start <= end && end <= bits.len());
    if start >= end {
        return false;
    }
    let words = bits.words();
    let (ws, we) = (start >> 6, (end - 1) >> 6);
    let lo = !0u64 << (start & 63);
    let hi = !0u64 >> (63 - ((end - 1) & 63));
    let x = if ws == we {
        words[ws] & lo & hi
    } else {
        words[ws + 1..we]
            .iter()
            .fold((words[ws] & lo) ^ (words[we] & hi), |x, &w| x ^ w)
    };
    word_parity(x)
}

/// Parity of the bits of `x`. Written as XOR folds: the build targets baseline x86-64,
/// which has no POPCNT, and where LLVM did not turn `count_ones() & 1` into its parity
/// instruction sequence here it emulated the whole popcount (about twice the work).
#[inline(always)]
fn word_parity(x: u64) -> bool {
    let x = x ^ (x >> 32);
    let x = x ^ (x >> 16);
    let x = x ^ (x >> 8);
    let x = x ^ (x >> 4);
    (0x6996u32 >> (x & 15)) & 1 == 1
}

/// Parities of the first `count` blocks of `block_size` bits of `bits` (the last may be
/// shorter), from one sweep: the running parity of the whole vector, word by word (a
/// prefix XOR inside each word by six shifts), so a block's parity is the XOR of two running
/// parities. `prefix` is scratch.
pub(super) fn block_parities(
    bits: &BitVec,
    block_size: usize,
    count: usize,
    prefix: &mut Vec<u64>,
) -> BitVec {
    let n = bits.len();
    prefix.clear();
    let mut carry = 0u64;
    prefix.extend(bits.words().iter().map(|&x| {
        let mut p = x;
        p ^= p << 1;
        p ^= p << 2;
        p ^= p << 4;
        p ^= p << 8;
        p ^= p << 16;
        p ^= p << 32;
        p ^= carry;
        carry = 0u64.wrapping_sub(p >> 63);
        p
    }));
    // Bit b of `through` is the running parity through the end of block b; a block's parity
    // is that XOR the running parity through the end of the block before.
    let bit = |j: usize| -> u64 { (prefix[j >> 6] >> (j & 63)) & 1 };
    let mut words = Vec::with_capacity(count.div_ceil(64));
    let mut before = 0u64;
    let mut last = block_size - 1; // last bit of the current block
    let mut b = 0;
    while b < count {
        let m = (count - b).min(64);
        let mut through = 0u64;
        for i in 0..m {
            through |= bit(last.min(n - 1)) << i;
            last += block_size;
        }
        words.push(through ^ ((through << 1) | before));
        before = (through >> (m - 1)) & 1;
        b += m;
    }
    BitVec::from_words(words, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, stream};
    use rand::Rng;

    #[test]
    fn block_parities_match_range_parities() {
        let mut rng = stream(11, Purpose::Auxiliary, 0);
        let mut prefix = Vec::new();
        for n in (1usize..300).chain([1000, 4097, 10_000]) {
            let words = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
            let bits = BitVec::from_words(words, n);
            for k in [1, 2, 3, 10, 63, 64, 65, 73, 200, n.div_ceil(2), n] {
                let k = k.clamp(1, n);
                let blocks = n.div_ceil(k);
                for count in [blocks, blocks - 1] {
                    let got = block_parities(&bits, k, count, &mut prefix);
                    assert_eq!(got.len(), count);
                    for b in 0..count {
                        let expect = parity(&bits, b * k, ((b + 1) * k).min(n));
                        assert_eq!(got.get(b), expect, "n {n} k {k} block {b}");
                    }
                }
            }
        }
    }
}
