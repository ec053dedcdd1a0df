//! The public random permutation of one Cascade pass (Brassard-Salvail 1993, sec. 4: before
//! every pass both parties apply the same random permutation to their strings).
//!
//! A shuffle is public information (in a real link Bob would send its three round keys), so
//! one copy is built and both parties read it; each party applies it to its own key with
//! [`Shuffle::apply_with`]. Must never depend on channels or parties, nor look at a key
//! other than the one it is asked to permute.

use rand::Rng;

use crate::bits::BitVec;

/// Passes with at most this many top-level blocks get their block parities from
/// [`Shuffle::block_parities`], and each party builds its shuffled key only when a search in
/// the pass needs it (Cascade's later passes, with blocks of n/2 bits, mostly find nothing).
/// The choice changes no parity, query or outcome, only the work.
pub(crate) const FEW_BLOCKS: usize = 8;

/// Feistel rounds. Luby and Rackoff (SIAM J. Comput. 17, 1988) show three rounds of a
/// random round function give a pseudo-random permutation; Cascade needs only statistical
/// scattering, which the tests check.
const ROUNDS: usize = 3;

/// A pseudo-random permutation of `0..n`, computed on demand in both directions.
///
/// It is a keyed Feistel network over the mixed-radix domain `0..a*b` (a = ceil(sqrt n),
/// b = ceil(n/a); a value is the pair (x / b, x % b) and rounds add round-function outputs
/// modulo a and b), restricted to `0..n` by cycle walking: both are Black and Rogaway's
/// "generalized Feistel" and cycle-walking constructions ("Ciphers with arbitrary finite
/// domains", CT-RSA 2002). Since a*b - n < a, a walk step is needed for fewer than
/// 1/sqrt(n) of the values. Nothing of size n is stored, so a pass costs no permutation tables
/// and the cascade effect maps a bit to its block in any pass with a few multiplications.
/// Every round is a cyclic rotation of the rows or of the columns of the a x b grid, so a
/// whole key is permuted with word operations ([`Shuffle::apply_with`]), not bit by bit.
///
/// Cascade only needs its shuffles to scatter errors that sit together, independently per
/// pass; a keyed 3-round Feistel network with a multiply round function does that as
/// a stored uniform permutation would (the tests check uniformity and neighbour scattering).
#[derive(Debug, Clone)]
pub struct Shuffle {
    n: u32,
    /// Radix of the high half.
    a: u32,
    /// Radix of the low half.
    b: u32,
    /// Division by `b`.
    b_div: Divisor,
    keys: [u32; ROUNDS],
}

/// Division by a fixed 32-bit divisor with multiplications instead of a `div` (Lemire, Kaser
/// and Kurz, "Faster remainder by direct computation", Softw. Pract. Exp. 49, 2019): with
/// c = ceil(2^64 / d), x / d = (c x) >> 64 for every 32-bit x and d.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Divisor {
    d: u32,
    c: u128,
}

impl Divisor {
    /// Division by `d` (at least 1).
    pub(crate) fn new(d: u32) -> Divisor {
        assert!(d > 0, "division by zero");
        let d128 = u128::from(d);
        Divisor {
            d,
            c: (1u128 << 64).div_ceil(d128),
        }
    }

    /// x / d.
    #[inline(always)]
    pub(crate) fn div(&self, x: u32) -> u32 {
        ((self.c * u128::from(x)) >> 64) as u32
    }

    /// (x / d, x % d).
    #[inline(always)]
    pub(crate) fn div_rem(&self, x: u32) -> (u32, u32) {
        let q = self.div(x);
        (q, x - q * self.d)
    }
}

impl Shuffle {
    /// A fresh permutation of `0..n` (`n < 2^32`) whose round keys are drawn from `rng`.
    pub fn random<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Shuffle {
        let mut keys = [0u32; ROUNDS];
        for k in &mut keys {
            *k = rng.next_u32();
        }
        Shuffle::from_round_keys(n, keys)
    }

    /// The permutation of `0..n` (`n < 2^32`) with round keys `keys`: what a party rebuilds
    /// from the keys announced on the channel ([`Shuffle::round_keys`]).
    pub fn from_round_keys(n: usize, keys: [u32; ROUNDS]) -> Shuffle {
        let n = n as u32;
        let mut a = (n as f64).sqrt().ceil() as u32;
        while (a as u64) * (a as u64) < n as u64 {
            a += 1;
        }
        let a = a.max(1);
        let b = n.div_ceil(a).max(1);
        Shuffle {
            n,
            a,
            b,
            b_div: Divisor::new(b),
            keys,
        }
    }

    /// The three round keys: all a party needs, with n, to rebuild the permutation
    /// ([`Shuffle::from_round_keys`]). They are public (Bob announces them with the pass).
    pub fn round_keys(&self) -> [u32; ROUNDS] {
        self.keys
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// True for the permutation of nothing.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Round function: key XOR, a multiply-xorshift-multiply mix (the MurmurHash3
    /// finaliser shape, so neighbouring inputs give unrelated outputs), then Lemire's
    /// multiply-shift onto `0..modulus`, which reads the well-mixed high bits.
    #[inline(always)]
    fn round(key: u32, v: u32, modulus: u32) -> u32 {
        let mut z = (v ^ key).wrapping_mul(0x9E37_79B1);
        z ^= z >> 15;
        z = z.wrapping_mul(0x85EB_CA6B);
        (((z as u64) * (modulus as u64)) >> 32) as u32
    }

    #[inline(always)]
    fn add_mod(x: u32, y: u32, m: u32) -> u32 {
        let s = x + y; // both < m <= 2^16 + 1, no overflow
        if s >= m { s - m } else { s }
    }

    #[inline(always)]
    fn sub_mod(x: u32, y: u32, m: u32) -> u32 {
        if x >= y { x - y } else { x + m - y }
    }

    #[inline(always)]
    fn forward_pair(&self, mut l: u32, mut r: u32) -> u32 {
        let (a, b) = (self.a, self.b);
        r = Self::add_mod(r, Self::round(self.keys[0], l, b), b);
        l = Self::add_mod(l, Self::round(self.keys[1], r, a), a);
        r = Self::add_mod(r, Self::round(self.keys[2], l, b), b);
        l * b + r
    }

    #[inline(always)]
    fn backward_pair(&self, l: u32, r: u32) -> u32 {
        let shift = Self::round(self.keys[2], l, self.b);
        self.backward_pair_shifted(l, r, shift)
    }

    /// [`Self::backward_pair`] with the first backward round's output (which depends only
    /// on `l`, so is constant along a row) supplied.
    #[inline(always)]
    fn backward_pair_shifted(&self, mut l: u32, mut r: u32, shift: u32) -> u32 {
        let (a, b) = (self.a, self.b);
        r = Self::sub_mod(r, shift, b);
        l = Self::sub_mod(l, Self::round(self.keys[1], r, a), a);
        r = Self::sub_mod(r, Self::round(self.keys[0], l, b), b);
        l * b + r
    }

    /// Original index of the bit placed at shuffled position `p` (`p < n`).
    #[inline]
    pub fn source_of(&self, p: usize) -> usize {
        let mut x = p as u32;
        loop {
            let (l, r) = self.b_div.div_rem(x);
            x = self.backward_pair(l, r);
            if x < self.n {
                return x as usize;
            }
        }
    }

    /// Shuffled position of original bit `x` (`x < n`).
    #[inline]
    pub fn position_of(&self, x: usize) -> usize {
        let mut y = x as u32;
        loop {
            let (l, r) = self.b_div.div_rem(y);
            y = self.forward_pair(l, r);
            if y < self.n {
                return y as usize;
            }
        }
    }

    /// The whole source table: entry `p` is `source_of(p)` (4 bytes per bit; Cascade itself
    /// uses [`Self::apply_with`], which needs no table, and the tests check one against the
    /// other).
    ///
    /// Works row by row of the (a, b) domain: the sources of a row come from a branch-free
    /// loop, and the rare values that must walk are fixed up after.
    pub fn source_table(&self) -> Vec<u32> {
        self.source_table_prefix(self.n as usize)
    }

    /// The first `len` entries (at most n) of [`Self::source_table`].
    pub fn source_table_prefix(&self, len: usize) -> Vec<u32> {
        self.source_table_range(0, len)
    }

    /// Entries `start..end` (clamped to n) of [`Self::source_table`], so a table can be built
    /// in pieces: a prefix first, the rest only if it is ever needed.
    pub fn source_table_range(&self, start: usize, end: usize) -> Vec<u32> {
        let mut table = Vec::new();
        self.source_table_range_into(start, end, &mut table);
        table
    }

    /// [`Self::source_table_range`] written into `table` (cleared first), so one buffer can
    /// serve every pass without fresh allocations.
    pub fn source_table_range_into(&self, start: usize, end: usize, table: &mut Vec<u32>) {
        let end = end.min(self.n as usize);
        let start = start.min(end);
        let b = self.b as usize;
        table.clear();
        table.reserve(end - start);
        if start == end {
            return;
        }
        // Backward, a row l maps r to r' = r - f2(l) (mod b), then l' = l - f1(r'), then
        // r'' = r' - f0(l'). Along a row r' runs through a rotation of 0..b, so f1 over the
        // row is a rotation of one precomputed vector: two contiguous slices, read without a
        // round evaluation. Only f0 is evaluated per entry (vectorised), f2 once per row.
        let round1: Vec<u32> = (0..self.b)
            .map(|r| Self::round(self.keys[1], r, self.a))
            .collect();
        let (a, bb, k0) = (self.a, self.b, self.keys[0]);
        let mut p = start;
        while p < end {
            let l = (p / b) as u32;
            let r0 = p % b;
            let r1 = b.min(r0 + (end - p));
            let shift = Self::round(self.keys[2], l, self.b) as usize;
            let t0 = table.len();
            // r < shift wraps: r' = r + b - shift; r >= shift: r' = r - shift.
            let wrapped = (r0, r1.min(shift), b - shift);
            let straight = (r0.max(shift), r1, 0usize.wrapping_sub(shift));
            for (lo, hi, offset) in [wrapped, straight] {
                if lo >= hi {
                    continue;
                }
                let (rp_lo, rp_hi) = (lo.wrapping_add(offset), hi.wrapping_add(offset));
                let t = table.len();
                table.resize(t + (hi - lo), 0);
                let base = rp_lo as u32;
                for (i, (out, &f1)) in table[t..].iter_mut().zip(&round1[rp_lo..rp_hi]).enumerate()
                {
                    let rp = base + i as u32;
                    let l2 = Self::sub_mod(l, f1, a);
                    let r2 = Self::sub_mod(rp, Self::round(k0, l2, bb), bb);
                    *out = l2 * bb + r2;
                }
            }
            // Values past n (to be walked) are rare: a branch-free maximum finds the rows
            // that have any.
            if table[t0..].iter().fold(0, |m, &v| m.max(v)) >= self.n {
                for (i, out) in table[t0..].iter_mut().enumerate() {
                    if *out >= self.n {
                        *out = self.source_of(p + i) as u32;
                    }
                }
            }
            p += r1 - r0;
        }
    }

    /// The grid's shape (a, b) and the rotation round 2 applies to its last row, f2(a - 1):
    /// what decides whether [`Self::apply_with`] meets the word-aligned edge its tests aim at.
    #[cfg(test)]
    pub(super) fn last_row_shift(&self) -> (usize, usize, usize) {
        let s = Self::round(self.keys[2], self.a - 1, self.b);
        (self.a as usize, self.b as usize, s as usize)
    }

    /// `key` in shuffled order: bit `p` of the result is bit `source_of(p)` of `key`.
    pub fn apply(&self, key: &BitVec) -> BitVec {
        self.apply_with(key, &mut ShuffleScratch::default())
    }

    /// [`Self::apply`] with reusable buffers.
    ///
    /// Read the a x b domain as a grid, row `x / b`, column `x % b`: each Feistel round adds
    /// a function of one half to the other, so it is a cyclic rotation of every row (rounds
    /// 0 and 2, by an amount depending on the row) or of every column (round 1, by an amount
    /// depending on the column). The shuffled key is therefore built with word operations
    /// on the bit grid, with no table and no random reads: rotate each row of the key, rotate
    /// the columns by a barrel shifter (stage j moves the columns whose shift has bit j set
    /// down by 2^j rows, a masked blend of two rows), rotate each row again and concatenate
    /// the rows. Values the cycle walk moves (grid cells past n, fewer than a) are fixed up
    /// one by one. That is a few word operations per 64 bits for each of the ceil(log2 a)
    /// barrel stages and each row rotation, against one random read per bit for a gather
    /// through [`Self::source_table`].
    ///
    /// # Panics
    /// If `key` does not have [`Self::len`] bits.
    pub fn apply_with(&self, key: &BitVec, scratch: &mut ShuffleScratch) -> BitVec {
        let n = self.n as usize;
        assert_eq!(key.len(), n, "Shuffle::apply: key of the wrong length");
        if n == 0 {
            return BitVec::new();
        }
        let (a, b) = (self.a as usize, self.b as usize);
        let w = b.div_ceil(64);
        let cells = a * b;
        let tail_mask = if b % 64 == 0 {
            !0u64
        } else {
            (1u64 << (b % 64)) - 1
        };
        let ShuffleScratch {
            src,
            grid,
            spare,
            columns,
            masks,
            row,
            ..
        } = scratch;
        // Every buffer starts with one zero word, so a row's bits start at bit 64 or later
        // and a window may reach back a few bits before them; the end is padded so every
        // window stays inside.
        load_key(src, key, cells);
        grid.clear();
        grid.resize(a * w + 2, 0);
        spare.clear();
        spare.resize(a * w + 2, 0);
        // Round 0: row l (key bits l b .. l b + b) rotates by f0(l).
        for (l, dst) in grid[1..1 + a * w].chunks_exact_mut(w).enumerate() {
            let s = Self::round(self.keys[0], l as u32, self.b) as usize;
            rotate_row(src, 64 + l * b, b, s, dst, tail_mask);
        }
        // Round 1: column r moves down by f1(r) rows (mod a), in stages of 2^j rows; the mask
        // of stage j holds the columns whose f1 has bit j set.
        let stages = (usize::BITS - (a - 1).leading_zeros()) as usize;
        // f1 < a <= 2^16: its low and high bytes, one byte per column (zero past b), give the
        // masks eight columns at a time: (x >> j) & 0x01..01 has bit j of eight columns as
        // bytes, and the multiply gathers those eight bits into the top byte (no carries: the
        // partial products land on distinct bits).
        columns.clear();
        columns.resize(2 * 64 * w, 0);
        let (lo, hi) = columns.split_at_mut(64 * w);
        for r in 0..b {
            let f = Self::round(self.keys[1], r as u32, self.a);
            lo[r] = f as u8;
            hi[r] = (f >> 8) as u8;
        }
        masks.clear();
        masks.resize(stages * w, 0);
        for j in 0..stages {
            let bytes = if j < 8 { &*lo } else { &*hi };
            let shift = j % 8;
            for (mask, chunk) in masks[j * w..(j + 1) * w]
                .iter_mut()
                .zip(bytes.chunks_exact(64))
            {
                let mut m = 0u64;
                for (g, eight) in chunk.chunks_exact(8).enumerate() {
                    let x = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
                    let bits = ((x >> shift) & 0x0101_0101_0101_0101)
                        .wrapping_mul(0x0102_0408_1020_4080)
                        >> 56;
                    m |= bits << (8 * g);
                }
                *mask = m;
            }
        }
        for j in 0..stages {
            let m = &masks[j * w..(j + 1) * w];
            if m.iter().all(|&x| x == 0) {
                continue;
            }
            let d = 1usize << j;
            let g = &grid[1..1 + a * w];
            let (low, high) = spare[1..1 + a * w].split_at_mut(d * w);
            // Rows d.. receive rows 0..a-d; rows 0..d receive rows a-d.. (cyclic).
            blend_rows(high, &g[d * w..], &g[..(a - d) * w], m);
            blend_rows(low, &g[..d * w], &g[(a - d) * w..], m);
            std::mem::swap(grid, spare);
        }
        // Round 2: row l rotates by f2(l); the rows, b bits each, make the shuffled key.
        row.clear();
        row.resize(w, 0);
        let mut out = vec![0u64; cells.div_ceil(64) + 2];
        for l in 0..a {
            let s = Self::round(self.keys[2], l as u32, self.b) as usize;
            rotate_row(grid, 64 + l * w * 64, b, s, row, tail_mask);
            let off = l * b;
            let (ow, sh) = (off / 64, (off % 64) as u32);
            let mut carry = 0u64;
            for (o, &v) in out[ow..ow + w].iter_mut().zip(row.iter()) {
                *o |= (v << sh) | carry;
                carry = (v >> 1) >> (63 - sh);
            }
            out[ow + w] |= carry;
        }
        let mut shuffled = BitVec::from_words(out, n);
        // Cycle walking: a position whose grid source is past n takes its value from the
        // walk. Those positions are the images of the cells past n.
        for y in n..cells {
            let p = self.forward_pair((y / b) as u32, (y % b) as u32) as usize;
            if p < n {
                shuffled.set(p, key.get(self.source_of(p)));
            }
        }
        shuffled
    }
}

impl Shuffle {
    /// The parities of the first `count` blocks of `block_size` bits (the last may be
    /// shorter) of `key` in shuffled order, without building the shuffled key: the same bits
    /// as `block_parities(&self.apply_with(key, ..), block_size, count)`, for a fraction of
    /// the cost when there are few blocks (Cascade's passes with blocks of n/2 bits).
    ///
    /// A block's parity is the XOR of two prefix parities, the parity of shuffled positions
    /// `0..m`, and the prefix `0..n` is the whole key's parity (a permutation keeps it). For
    /// any other m, write m = L b + c. Round 2 only rotates rows, so the first L whole rows
    /// of the shuffled grid have the parity of the first L rows after round 1; in those, column
    /// r holds the cells of rows `(0..L) - f1(r)` (cyclic, mod a) of column r after round 0.
    /// With the running XOR of the rows after round 0 (`X[l]` = XOR of rows `0..l`, one pass
    /// of word XORs over the rotated rows), that is bit r of `X[x + L] ^ X[x]` for
    /// `x = -f1(r) mod a` (with `X[a]` added when the range wraps), one gather of b columns.
    /// The c positions of row L are read one by one through the round-2 and round-1
    /// rotations (bit r of `X[l + 1] ^ X[l]` is row l's cell in column r), and the positions
    /// the cycle walk fills (fewer than a) take their bit from the key directly, as in
    /// [`Self::apply_with`]. Cost: the row rotations of round 0 and one XOR per word, plus
    /// about 3 b bit reads per block, against the full barrel shifter.
    ///
    /// # Panics
    /// If `key` does not have [`Self::len`] bits, `block_size` is 0, or `count` exceeds the
    /// number of blocks.
    pub fn block_parities(
        &self,
        key: &BitVec,
        block_size: usize,
        count: usize,
        scratch: &mut ShuffleScratch,
    ) -> BitVec {
        let n = self.n as usize;
        assert_eq!(
            key.len(),
            n,
            "Shuffle::block_parities: key of the wrong length"
        );
        assert!(
            block_size > 0 && count <= n.div_ceil(block_size),
            "Shuffle::block_parities: {count} blocks of {block_size} bits in {n}"
        );
        let mut out = BitVec::with_capacity(count);
        if count == 0 {
            return out;
        }
        let needs_rows = (1..=count).any(|i| i * block_size < n);
        if needs_rows {
            self.row_prefix_xor(key, scratch);
        }
        let (a, b) = (self.a as usize, self.b as usize);
        let w = b.div_ceil(64);
        // The whole key's parity: that of the XOR of all its rows, when they are at hand.
        let total = if needs_rows {
            &scratch.prefix[a * w..(a + 1) * w]
        } else {
            key.words()
        }
        .iter()
        .fold(0, |x, &v| x ^ v)
        .count_ones()
            & 1
            == 1;
        let ShuffleScratch {
            prefix,
            round1,
            walked,
            ..
        } = scratch;
        if needs_rows {
            round1.clear();
            round1.extend((0..self.b).map(|r| Self::round(self.keys[1], r, self.a)));
            // Positions whose grid source lies past n: the cycle walk gives them their bit.
            walked.clear();
            for y in n..a * b {
                let p = self.forward_pair((y / b) as u32, (y % b) as u32);
                if (p as usize) < n {
                    let bit = key.get(self.source_of(p as usize));
                    walked.push((p, bit));
                }
            }
        }
        let prefix: &[u64] = prefix;
        let bit = |row: usize, r: usize| (prefix[row * w + (r >> 6)] >> (r & 63)) & 1;
        // Parity of shuffled positions 0..m, 0 < m < n.
        let prefix_parity = |m: usize| -> bool {
            let (rows, c) = (m / b, m % b);
            let mut acc = 0u64;
            if rows > 0 {
                for (r, &f) in round1.iter().enumerate() {
                    let x = if f == 0 { 0 } else { a - f as usize };
                    acc ^= if x + rows <= a {
                        bit(x + rows, r) ^ bit(x, r)
                    } else {
                        bit(a, r) ^ bit(x, r) ^ bit(x + rows - a, r)
                    };
                }
            }
            if c > 0 {
                // Row `rows` of the shuffled grid: position j holds column r = j - f2(rows)
                // (mod b) of row `rows` after round 1, i.e. of row rows - f1(r) (mod a)
                // after round 0.
                let s2 = Self::round(self.keys[2], rows as u32, self.b) as usize;
                for j in 0..c {
                    let r = if j >= s2 { j - s2 } else { j + b - s2 };
                    let f = round1[r] as usize;
                    let l = if rows >= f { rows - f } else { rows + a - f };
                    acc ^= bit(l + 1, r) ^ bit(l, r);
                }
            }
            for &(p, v) in walked.iter() {
                if (p as usize) < m {
                    // The grid put a zero there (its source is past the key).
                    acc ^= u64::from(v);
                }
            }
            acc & 1 == 1
        };
        let mut before = false;
        for i in 0..count {
            let end = ((i + 1) * block_size).min(n);
            let through = if end == n { total } else { prefix_parity(end) };
            out.push(before ^ through);
            before = through;
        }
        out
    }

    /// Fills `scratch.prefix` with the running XOR of the rows after round 0: a + 1 rows of
    /// ceil(b / 64) words, row l the XOR of rotated rows 0..l (row 0 all zero).
    fn row_prefix_xor(&self, key: &BitVec, scratch: &mut ShuffleScratch) {
        let (a, b) = (self.a as usize, self.b as usize);
        let w = b.div_ceil(64);
        let tail_mask = if b % 64 == 0 {
            !0u64
        } else {
            (1u64 << (b % 64)) - 1
        };
        let ShuffleScratch { src, prefix, .. } = scratch;
        load_key(src, key, a * b);
        prefix.clear();
        prefix.resize((a + 1) * w, 0);
        let grid = prefix;
        for l in 0..a {
            let s = Self::round(self.keys[0], l as u32, self.b) as usize;
            let (done, next) = grid.split_at_mut((l + 1) * w);
            let next = &mut next[..w];
            rotate_row(src, 64 + l * b, b, s, next, tail_mask);
            for (x, &p) in next.iter_mut().zip(&done[l * w..]) {
                *x ^= p;
            }
        }
    }
}

/// Reusable buffers of [`Shuffle::apply_with`], so one set serves every pass.
#[derive(Debug, Clone, Default)]
pub struct ShuffleScratch {
    src: Vec<u64>,
    grid: Vec<u64>,
    spare: Vec<u64>,
    columns: Vec<u8>,
    masks: Vec<u64>,
    row: Vec<u64>,
    /// Running XOR of the grid's rows ([`Shuffle::block_parities`]).
    prefix: Vec<u64>,
    /// f1 of every column ([`Shuffle::block_parities`]).
    round1: Vec<u32>,
    /// Positions filled by the cycle walk and their bits ([`Shuffle::block_parities`]).
    walked: Vec<(u32, bool)>,
}

/// `src` = one zero word, the key's words, zeros up to `cells` bits and three words more
/// (what the row windows of a grid of `cells` cells read).
///
/// Filled exactly as it always was (push, extend, resize). Keeping the buffers' lengths
/// between calls instead (no zeroing) saved too little to measure here, but changed the
/// sizes the allocator is asked for, and glibc then returned memory to the system after every
/// reconciliation and faulted it in again (ten times the page faults of `qkdsim reconcile`,
/// slower overall).
fn load_key(src: &mut Vec<u64>, key: &BitVec, cells: usize) {
    src.clear();
    src.push(0);
    src.extend_from_slice(key.words());
    src.resize(cells.div_ceil(64) + 3, 0);
}

/// The 64 bits of `src` from bit `off` (word `off / 64 + 1` must exist).
#[inline(always)]
fn window(src: &[u64], off: usize) -> u64 {
    let (i, sh) = (off >> 6, (off & 63) as u32);
    (src[i] >> sh) | ((src[i + 1] << 1) << (63 - sh))
}

/// `dst[i]` = the 64 bits of `src` from bit `off + 64 i`: one shift pair per word, no
/// branches.
#[inline(always)]
fn shifted_copy(dst: &mut [u64], src: &[u64], off: usize) {
    let (q, sh) = (off >> 6, (off & 63) as u32);
    let src = &src[q..q + dst.len() + 1];
    for (d, p) in dst.iter_mut().zip(src.windows(2)) {
        *d = (p[0] >> sh) | ((p[1] << 1) << (63 - sh));
    }
}

/// Writes into `dst` (ceil(b/64) words) the `b` bits of `src` from bit `base`, rotated
/// cyclically by `s < b`: bit r of the result is bit `base + (r - s) mod b` of `src`. Bits
/// past `b` of the result are zero (`tail_mask` keeps the last word's first b % 64 bits).
/// `src` must hold the words from the one with bit `base - 63` (so `base >= 63`) to the one
/// after the word with the row's last bit, `base + b - 1`; nothing past that is read.
#[inline(always)]
fn rotate_row(src: &[u64], base: usize, b: usize, s: usize, dst: &mut [u64], tail_mask: u64) {
    debug_assert!(s < b && base >= 63, "rotate_row: s {s}, b {b}, base {base}");
    debug_assert!(
        src.len() > (base + b - 1) / 64 + 1,
        "rotate_row: {} words hold no word after bit {}",
        src.len(),
        base + b - 1
    );
    let w = dst.len();
    if w <= 2 {
        // Rows of at most 128 bits (n up to about 16000): one rotation of a u128.
        let mut v = u128::from(window(src, base));
        if w == 2 {
            v |= u128::from(window(src, base + 64)) << 64;
        }
        let m = u128::MAX >> (128 - b);
        let v = v & m;
        let r = if s == 0 {
            v
        } else {
            ((v << s) | (v >> (b - s))) & m
        };
        dst[0] = r as u64;
        if w == 2 {
            dst[1] = (r >> 64) as u64;
        }
        return;
    }
    let (i0, t) = (s >> 6, s & 63);
    // Words before i0 hold only wrapped bits (r < s: from base + b - s + r), words after it
    // only straight ones (r >= s: from base + r - s); word i0 holds both, split at bit t.
    shifted_copy(&mut dst[..i0], src, base + b - s);
    shifted_copy(&mut dst[i0 + 1..], src, base + 64 * (i0 + 1) - s);
    let lo = (1u64 << t) - 1;
    // The wrapped part of word i0 is its bits below t, from base + b - t. When s is a multiple
    // of 64 (t = 0) it is empty and is not read: its window would start at base + b, one bit
    // past the row, and needs the word after that bit, which for the last row of a grid whose
    // rows fill whole words (b % 64 = 0) lies past the buffer.
    let wrapped = if t == 0 {
        0
    } else {
        window(src, base + b - s + 64 * i0) & lo
    };
    dst[i0] = wrapped | (window(src, base - t) & !lo);
    dst[w - 1] &= tail_mask;
}

/// One barrel stage over whole rows of `m.len()` words: `out = stay` outside the mask `m`,
/// `moved` inside it.
#[inline]
fn blend_rows(out: &mut [u64], stay: &[u64], moved: &[u64], m: &[u64]) {
    fn fixed<const W: usize>(out: &mut [u64], stay: &[u64], moved: &[u64], m: &[u64]) {
        let m: [u64; W] = m.try_into().expect("mask of one row");
        let (out, _) = out.as_chunks_mut::<W>();
        let (stay, _) = stay.as_chunks::<W>();
        let (moved, _) = moved.as_chunks::<W>();
        for ((o, s), v) in out.iter_mut().zip(stay).zip(moved) {
            for i in 0..W {
                o[i] = (s[i] & !m[i]) | (v[i] & m[i]);
            }
        }
    }
    match m.len() {
        1 => fixed::<1>(out, stay, moved, m),
        2 => fixed::<2>(out, stay, moved, m),
        3 => fixed::<3>(out, stay, moved, m),
        4 => fixed::<4>(out, stay, moved, m),
        w => {
            for ((o, s), v) in out
                .chunks_exact_mut(w)
                .zip(stay.chunks_exact(w))
                .zip(moved.chunks_exact(w))
            {
                for (((o, &s), &v), &m) in o.iter_mut().zip(s).zip(v).zip(m) {
                    *o = (s & !m) | (v & m);
                }
            }
        }
    }
}

/// Bit `p` of the result is bit `table[p]` of `key`: the reference [`Shuffle::apply_with`] is
/// tested against.
#[cfg(test)]
fn gather(table: &[u32], key: &BitVec) -> BitVec {
    let src = key.words();
    let bit = |x: u32| -> u64 {
        let x = x as usize;
        (src[x >> 6] >> (x & 63)) & 1
    };
    let mut words = Vec::with_capacity(table.len().div_ceil(64));
    let mut chunks = table.chunks_exact(64);
    for chunk in &mut chunks {
        // Four independent accumulators over a fixed-size chunk: constant shift amounts
        // and no loop-carried chain through a single register.
        let mut acc = [0u64; 4];
        for (i, quad) in chunk.chunks_exact(4).enumerate() {
            acc[0] |= bit(quad[0]) << (4 * i);
            acc[1] |= bit(quad[1]) << (4 * i + 1);
            acc[2] |= bit(quad[2]) << (4 * i + 2);
            acc[3] |= bit(quad[3]) << (4 * i + 3);
        }
        words.push(acc[0] | acc[1] | acc[2] | acc[3]);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        words.push(
            rest.iter()
                .enumerate()
                .fold(0u64, |w, (b, &x)| w | bit(x) << b),
        );
    }
    BitVec::from_words(words, table.len())
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
            assert_eq!(gather(&s.source_table(), &key), shuffled);
            for p in 0..n {
                assert_eq!(shuffled.get(p), key.get(s.source_of(p)));
            }
            let table = s.source_table();
            for (start, end) in [(0, n), (0, n / 3), (n / 3, n), (n / 5, n / 2 + 7), (n, n)] {
                let end = end.min(n);
                assert_eq!(s.source_table_range(start, end), table[start..end], "{n}");
            }
        }
    }

    #[test]
    fn grid_apply_matches_the_walked_table() {
        // Every size up to 700 (square and non-square grids, cells past n to walk, rows
        // narrower and wider than a word) and a few larger ones, random keys.
        let mut rng = stream(4, Purpose::Auxiliary, 0);
        let mut scratch = ShuffleScratch::default();
        let sizes = (1usize..700).chain([1023, 4096, 4097, 10_000, 65_537, 100_003]);
        for n in sizes {
            let words = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
            let key = BitVec::from_words(words, n);
            for _ in 0..if n < 700 { 2 } else { 1 } {
                let s = Shuffle::random(n, &mut rng);
                assert_eq!(
                    s.apply_with(&key, &mut scratch),
                    gather(&s.source_table(), &key),
                    "n = {n}"
                );
            }
        }
    }

    #[test]
    fn rotate_row_reads_nothing_past_the_word_after_the_row() {
        // Every row width up to five words (whole-word widths 64..320 among them), every
        // rotation, rows starting on a word boundary (as in the grid) and off it (as in the
        // key), in a buffer holding exactly what `rotate_row` documents it may read: any read
        // past it panics. The rotation is checked bit by bit. Before the fix, a whole-word row
        // rotated by a multiple of 64 read the word after its end's (the crash of
        // `grid_apply_with_whole_word_rows_rotated_by_whole_words`).
        let mut rng = stream(7, Purpose::Auxiliary, 0);
        for b in 1usize..=320 {
            let w = b.div_ceil(64);
            let tail_mask = if b % 64 == 0 {
                !0u64
            } else {
                (1u64 << (b % 64)) - 1
            };
            for base in [63usize, 64, 100, 128, 191] {
                let words = (base + b - 1) / 64 + 2;
                let src: Vec<u64> = (0..words).map(|_| rng.next_u64()).collect();
                let bit = |i: usize| (src[i / 64] >> (i % 64)) & 1 == 1;
                let mut dst = vec![0u64; w];
                for s in 0..b {
                    rotate_row(&src, base, b, s, &mut dst, tail_mask);
                    let got = BitVec::from_words(dst.clone(), w * 64);
                    for r in 0..b {
                        let want = bit(base + (r + b - s) % b);
                        assert_eq!(got.get(r), want, "b {b} base {base} s {s} bit {r}");
                    }
                    for r in b..w * 64 {
                        assert!(!got.get(r), "b {b} base {base} s {s}: bit {r} past the row");
                    }
                }
            }
        }
    }

    /// The third round key (found by counting up from `start`) that gives the last grid row
    /// of `0..n` the rotation `shift`.
    fn key_for_last_row_shift(n: usize, keys: [u32; ROUNDS], shift: usize, start: u32) -> Shuffle {
        (start..)
            .map(|k2| Shuffle::from_round_keys(n, [keys[0], keys[1], k2]))
            .find(|s| s.last_row_shift().2 == shift)
            .expect("a round key with that rotation")
    }

    #[test]
    fn grid_apply_with_whole_word_rows_rotated_by_whole_words() {
        // Regression: rows of b = 64 w bits (w >= 3) and a last row that round 2 rotates by a
        // multiple of 64 made `apply_with` read one word past its grid ("index out of bounds:
        // the len is 578 but the index is 578" at n = 36739). The smallest such key is
        // n = 36673 = 191 * 192 + 1 (a = b = 192; b <= a always, so no smaller grid has
        // whole-word rows of 3 words or more). Also the exact shuffle of the crash (Bob's
        // first pass of a 36739-bit block of the shard scenario at 15 km), both ends of the
        // b = 192 range, the first grids with 4 and 5-word rows, and 2^20 bits.
        let mut rng = stream(8, Purpose::Auxiliary, 0);
        let mut scratch = ShuffleScratch::default();
        let mut check = |s: &Shuffle, rng: &mut crate::rng::ChaCha8Rng| {
            let n = s.len();
            let words = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
            let key = BitVec::from_words(words, n);
            assert_eq!(
                s.apply_with(&key, &mut scratch),
                gather(&s.source_table(), &key),
                "n = {n}, shape and last shift {:?}",
                s.last_row_shift()
            );
        };
        let crash = Shuffle::from_round_keys(36_739, [2_594_070_509, 1_378_987_862, 273_183_539]);
        assert_eq!(crash.last_row_shift(), (192, 192, 0));
        check(&crash, &mut rng);
        for n in [36_673usize, 36_864, 36_865, 37_056, 65_281, 65_792, 102_081] {
            let keys = [rng.next_u32(), rng.next_u32(), 0];
            let (a, b, _) = Shuffle::from_round_keys(n, keys).last_row_shift();
            assert!(b % 64 == 0 && b >= 192 && a >= b, "n {n}: a {a} b {b}");
            for shift in (0..b).step_by(64).chain([1, 63, 65, b - 1]) {
                let s = key_for_last_row_shift(n, keys, shift, rng.next_u32() >> 1);
                check(&s, &mut rng);
            }
        }
        // A power of two crashed too: 2^20 bits (a = b = 1024, rows of 16 words), e.g.
        // `qkdsim reconcile --bits 1048576 --qber 0.02 --variant option7 --runs 8`.
        let keys = [rng.next_u32(), rng.next_u32(), 0];
        for shift in [0, 960] {
            check(&key_for_last_row_shift(1 << 20, keys, shift, 0), &mut rng);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 48,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Grids with whole-word rows of 3 to 6 words, any key length giving that shape
        /// (n in ((b - 1) b, b^2], where a = b), the last row's rotation a multiple of 64
        /// half of the time: the word-operation shuffle equals the table gather.
        #[test]
        fn apply_matches_the_table_on_whole_word_row_grids(
            words in 3usize..=6,
            offset in 0usize..384,
            seed in proptest::prelude::any::<u64>(),
            aligned in proptest::prelude::any::<bool>(),
        ) {
            let b = 64 * words;
            let n = (b - 1) * b + 1 + offset % b;
            let mut rng = stream(seed, Purpose::Auxiliary, 0);
            let keys = [rng.next_u32(), rng.next_u32(), rng.next_u32()];
            let s = if aligned {
                let shift = 64 * (rng.next_u32() as usize % words);
                key_for_last_row_shift(n, keys, shift, keys[2] >> 1)
            } else {
                Shuffle::from_round_keys(n, keys)
            };
            proptest::prop_assert_eq!(s.last_row_shift().1, b);
            let key = BitVec::from_words((0..n.div_ceil(64)).map(|_| rng.next_u64()).collect(), n);
            let got = s.apply_with(&key, &mut ShuffleScratch::default());
            proptest::prop_assert_eq!(got, gather(&s.source_table(), &key));
        }
    }

    /// `Shuffle::block_parities` against the parities of the applied shuffle, for block
    /// sizes from 1 bit to the whole key and every count.
    fn check_block_parities(s: &Shuffle, key: &BitVec, scratch: &mut ShuffleScratch) {
        let n = s.len();
        let shuffled = s.apply_with(key, scratch);
        let mut prefix = Vec::new();
        let mut sizes = vec![1, 2, 63, 64, 65, n / 7 + 1, n / 3 + 1, n.div_ceil(2), n];
        if n > 1 {
            sizes.push(n - 1);
        }
        for k in sizes {
            let k = k.clamp(1, n);
            let blocks = n.div_ceil(k);
            let counts = if blocks > 40 {
                vec![0, 1, 2]
            } else {
                (0..=blocks).collect()
            };
            for count in counts {
                let want = super::super::parity::block_parities(&shuffled, k, count, &mut prefix);
                assert_eq!(
                    s.block_parities(key, k, count, scratch),
                    want,
                    "n {n} k {k} count {count} keys {:?}",
                    s.round_keys()
                );
            }
        }
    }

    #[test]
    fn block_parities_without_the_shuffled_key_match_the_applied_shuffle() {
        // Every size up to 400 (grids with and without cells to walk), twice, and larger
        // ones, among them whole-word rows and 2^20.
        let mut rng = stream(13, Purpose::Auxiliary, 0);
        let mut scratch = ShuffleScratch::default();
        let sizes = (1usize..400).chain([1023, 4097, 36_673, 65_537, 100_003, 1 << 20]);
        for n in sizes {
            let key = BitVec::from_words((0..n.div_ceil(64)).map(|_| rng.next_u64()).collect(), n);
            for _ in 0..if n < 400 { 2 } else { 1 } {
                let s = Shuffle::random(n, &mut rng);
                check_block_parities(&s, &key, &mut scratch);
            }
        }
    }

    #[test]
    fn one_scratch_serves_keys_of_any_length_in_any_order() {
        // Keys that shrink (a longer key's words must not be left behind in a buffer of the
        // same size), grow and alternate, with the shuffled key and the block parities
        // interleaved, must all come out as the table gather says.
        let mut rng = stream(14, Purpose::Auxiliary, 0);
        let mut scratch = ShuffleScratch::default();
        let mut sizes: Vec<usize> = (1..300).rev().collect();
        sizes.extend([4097, 4096, 4033, 4032, 4097, 100, 4096, 65, 64, 63, 64, 65]);
        for n in sizes {
            let key = BitVec::from_words((0..n.div_ceil(64)).map(|_| !0).collect(), n);
            let s = Shuffle::random(n, &mut rng);
            let want = gather(&s.source_table(), &key);
            assert_eq!(s.apply_with(&key, &mut scratch), want, "n = {n}");
            let mut prefix = Vec::new();
            let k = n.div_ceil(2);
            assert_eq!(
                s.block_parities(&key, k, n.div_ceil(k), &mut scratch),
                super::super::parity::block_parities(&want, k, n.div_ceil(k), &mut prefix),
                "n = {n}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 64,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Random key lengths and shuffles: the block parities computed without the shuffled
        /// key equal those of the applied shuffle.
        #[test]
        fn block_parities_match_the_applied_shuffle(
            n in 1usize..20_000,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let mut rng = stream(seed, Purpose::Auxiliary, 1);
            let key = BitVec::from_words((0..n.div_ceil(64)).map(|_| rng.next_u64()).collect(), n);
            let s = Shuffle::random(n, &mut rng);
            check_block_parities(&s, &key, &mut ShuffleScratch::default());
        }
    }

    #[test]
    fn divisor_matches_integer_division() {
        let mut rng = stream(6, Purpose::Auxiliary, 0);
        let ds = [
            1u32,
            2,
            3,
            7,
            10,
            64,
            100,
            316,
            1000,
            65_535,
            65_536,
            65_537,
            u32::MAX,
        ];
        let xs = [
            0u32,
            1,
            2,
            63,
            64,
            65,
            999_999,
            1 << 31,
            u32::MAX - 1,
            u32::MAX,
        ];
        for &d in &ds {
            let div = Divisor::new(d);
            for &x in &xs {
                assert_eq!(div.div_rem(x), (x / d, x % d), "{x} / {d}");
            }
        }
        for _ in 0..100_000 {
            let d = rng.next_u32().max(1) >> (rng.next_u32() % 32);
            let d = d.max(1);
            let x = rng.next_u32() >> (rng.next_u32() % 32);
            assert_eq!(Divisor::new(d).div_rem(x), (x / d, x % d), "{x} / {d}");
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

    #[test]
    fn neighbours_are_scattered_like_a_uniform_permutation() {
        // Under a uniform permutation of n = 1000 positions, two given bits share a block of
        // k = 50 with probability (k - 1)/(n - 1) = 0.0490. Over 4000 shuffles (pairs (i, i+1)
        // at varying i) the count has mean 196.2 and standard deviation 13.7; 5 sigma is 68.
        let mut rng = stream(3, Purpose::Auxiliary, 0);
        let (n, k) = (1000, 50);
        let mut together = 0i64;
        for t in 0..4000 {
            let s = Shuffle::random(n, &mut rng);
            let i = (t * 37) % (n - 1);
            if s.position_of(i) / k == s.position_of(i + 1) / k {
                together += 1;
            }
        }
        assert!((together - 196).abs() < 68, "{together}");
    }
}
