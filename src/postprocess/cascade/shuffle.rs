//! The public random permutation of one Cascade pass (Brassard-Salvail 1993, sec. 4: before
//! every pass both parties apply the same random permutation to their strings).
//!
//! A shuffle is public information (in a real link Bob would send its seed), so one copy is
//! built and both parties read it. Must never depend on keys, channels or parties.

use rand::Rng;

use crate::bits::BitVec;

/// A uniformly random permutation of `0..n`, with both directions stored.
#[derive(Debug, Clone)]
pub struct Shuffle {
    /// `source[p]`: the original index of the bit placed at shuffled position `p`.
    source: Vec<u32>,
    /// `position[x]`: the shuffled position of original bit `x`.
    position: Vec<u32>,
}

impl Shuffle {
    /// A fresh uniform permutation of `0..n` (Fisher-Yates, Durstenfeld's form), drawn from
    /// `rng`. `n` must fit in `u32` (checked by the caller).
    pub fn random<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Shuffle {
        let mut source: Vec<u32> = (0..n as u32).collect();
        let mut i = n;
        while i > 1 {
            let j = bounded_u32(rng, i as u32) as usize;
            i -= 1;
            source.swap(i, j);
        }
        let mut position = vec![0u32; n];
        for (p, &x) in source.iter().enumerate() {
            position[x as usize] = p as u32;
        }
        Shuffle { source, position }
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// True for the permutation of nothing.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// Original index of the bit at shuffled position `p`.
    #[inline]
    pub fn source_of(&self, p: usize) -> usize {
        self.source[p] as usize
    }

    /// Shuffled position of original bit `x`.
    #[inline]
    pub fn position_of(&self, x: usize) -> usize {
        self.position[x] as usize
    }

    /// `key` in shuffled order: bit `p` of the result is bit `source_of(p)` of `key`.
    /// Builds whole words (sequential writes, random reads within the key).
    pub fn apply(&self, key: &BitVec) -> BitVec {
        let n = self.source.len();
        let src = key.words();
        let mut words = Vec::with_capacity(n.div_ceil(64));
        for chunk in self.source.chunks(64) {
            let mut w = 0u64;
            for (b, &x) in chunk.iter().enumerate() {
                let x = x as usize;
                w |= ((src[x >> 6] >> (x & 63)) & 1) << b;
            }
            words.push(w);
        }
        BitVec::from_words(words, n)
    }
}

/// A uniform integer in `0..bound` (bound > 0) by Lemire's multiply-and-reject method
/// ("Fast random integer generation in an interval", ACM TOMACS 2019): exact, and almost
/// never needs a division.
#[inline]
fn bounded_u32<R: Rng + ?Sized>(rng: &mut R, bound: u32) -> u32 {
    let mut m = (rng.next_u32() as u64) * (bound as u64);
    if (m as u32) < bound {
        let threshold = bound.wrapping_neg() % bound;
        while (m as u32) < threshold {
            m = (rng.next_u32() as u64) * (bound as u64);
        }
    }
    (m >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, stream};

    #[test]
    fn is_a_permutation_and_apply_matches_bitwise() {
        let mut rng = stream(1, Purpose::Auxiliary, 0);
        for n in [0usize, 1, 2, 63, 64, 65, 1000] {
            let s = Shuffle::random(n, &mut rng);
            let mut seen = vec![false; n];
            for p in 0..n {
                let x = s.source_of(p);
                assert!(!seen[x]);
                seen[x] = true;
                assert_eq!(s.position_of(x), p);
            }
            let key = BitVec::from_bools(&(0..n).map(|i| i % 3 == 0).collect::<Vec<_>>());
            let shuffled = s.apply(&key);
            for p in 0..n {
                assert_eq!(shuffled.get(p), key.get(s.source_of(p)));
            }
        }
    }

    #[test]
    fn positions_are_roughly_uniform() {
        // Where does bit 0 land? Over 4000 shuffles of 4 positions each cell expects 1000
        // with standard deviation sqrt(4000 * 1/4 * 3/4) = 27; 5 sigma is 137.
        let mut rng = stream(2, Purpose::Auxiliary, 0);
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[Shuffle::random(4, &mut rng).position_of(0)] += 1;
        }
        for c in counts {
            assert!((c as i64 - 1000).abs() < 137, "{counts:?}");
        }
    }
}
