//! Dense matrices over GF(2) and their rank, for counting what an eavesdropper knows about
//! the final key (`postprocess::leakage`), at sizes of tens of thousands of rows and columns.
//!
//! # Layout
//!
//! A [`Gf2Matrix`] packs 64 columns per `u64` word (column `j` is bit `j % 64` of word
//! `j / 64`), like [`BitVec`]. The words are stored in column blocks of [`BLOCK_WORDS`]
//! words (1024 columns): block `b` holds, for every row in turn, that row's words
//! `b * BLOCK_WORDS ..`. A block of all rows is one contiguous slice, so the row updates of
//! the elimination sweep memory sequentially, block after block, and blocks are split among
//! rayon threads without sharing anything. Bits past the last column are always zero.
//!
//! # Rank by the Method of Four Russians
//!
//! [`Gf2Matrix::rank`] and [`Gf2Matrix::stacked_ranks`] bring the matrix to echelon form
//! panel by panel, in the manner of the M4RI library's Gaussian elimination (Arlazarov,
//! Dinic, Kronrod and Faradzev 1970 for the table idea, "Method of Four Russians"; Albrecht,
//! Bard and Hart, "Algorithm 898: Efficient multiplication of dense matrices over GF(2)",
//! ACM TOMS 37(1), 2010, for tables of combinations of 8 rows and several tables at once;
//! Bard, "Algebraic Cryptanalysis", Springer 2009, ch. 9, for M4RI elimination):
//!
//! 1. **Pivot search on a narrow window.** From the current column `c`, the next
//!    [`WINDOW_WORDS`] words of every candidate row are copied; up to [`PANEL_PIVOTS`]
//!    pivots are found among them, column by column, by ordinary elimination on those
//!    copies only. Rows are reduced lazily (a row is brought up to date with the pivots found
//!    so far only when it is looked at), so with dense rows a pivot costs a few row looks.
//! 2. **The pivot rows** (at most [`PANEL_PIVOTS`]) are reduced among themselves on the full
//!    width (Gauss-Jordan), so each has a 1 in its own pivot column and 0 in the others'.
//! 3. **Tables.** The pivots are cut into groups of 8; for each group, all 256 XOR
//!    combinations of its rows are tabulated (one row XOR per entry: entry `v` is entry
//!    `v & (v - 1)` XOR the row of `v`'s lowest set bit).
//! 4. **Update.** Every other row (remaining candidates, and any rows that are only reduced,
//!    see [`Gf2Matrix::stacked_ranks`]) reads its bits at the pivot columns, one byte per
//!    group, and XORs one table entry per group: `PANEL_PIVOTS / 8` row XORs instead of up
//!    to `PANEL_PIVOTS`. Block by block, the tables of one block (8 x 256 entries of 128
//!    bytes = 256 KiB) stay in the L2 cache while the rows stream through, and only blocks
//!    from the panel's first column onward are touched (the rows are zero before it).
//!
//! The row work is about `rows * rank * width / (8 * 64)` word XORs against
//! `rows * rank * width / (2 * 64)` for one pivot at a time; `benches/leakage.rs` measures
//! both ([`Gf2Matrix::stacked_ranks_naive`] is the one-pivot-at-a-time baseline).
//!
//! A rank is a number: it does not depend on the order of the work, so the result is the
//! same for any number of threads.
//!
//! Must never depend on anything but `bits`: this is plain linear algebra.

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::bits::BitVec;

/// Words per row in one column block (1024 columns).
pub const BLOCK_WORDS: usize = 16;
/// Pivots found and eliminated per panel (a multiple of 8, at most 64: the bits of a row at
/// the pivot columns fit one word).
pub const PANEL_PIVOTS: usize = 64;
/// Width in words of the window a panel searches for pivots (256 columns).
pub const WINDOW_WORDS: usize = 4;
/// Pivots per table (entries 2^8).
const GROUP: usize = 8;

/// A dense matrix over GF(2), bit-packed in column blocks (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gf2Matrix {
    rows: usize,
    cols: usize,
    /// Words per row, ceil(cols / 64).
    words: usize,
    /// Column blocks, ceil(words / BLOCK_WORDS).
    blocks: usize,
    /// Block `b`, row `i`, word `k` at `(b * rows + i) * BLOCK_WORDS + k`.
    data: Vec<u64>,
}

impl Gf2Matrix {
    /// The `rows x cols` zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Gf2Matrix {
        let words = cols.div_ceil(64);
        let blocks = words.div_ceil(BLOCK_WORDS);
        Gf2Matrix {
            rows,
            cols,
            words,
            blocks,
            data: vec![0; blocks * rows * BLOCK_WORDS],
        }
    }

    /// The matrix whose rows are `rows`, each of `cols` bits.
    ///
    /// # Panics
    /// If a row does not have `cols` bits.
    pub fn from_rows(cols: usize, rows: &[BitVec]) -> Gf2Matrix {
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.len(), cols, "row {i} has {} bits, not {cols}", r.len());
        }
        Gf2Matrix::from_row_fn(rows.len(), cols, |i, out| {
            out.copy_from_slice(rows[i].words());
        })
    }

    /// A `rows x cols` matrix whose row `i` is written by `fill(i, words)` into a zeroed
    /// buffer of `ceil(cols / 64)` words (bits past `cols` are cleared afterwards). Rows are
    /// built in parallel on the current rayon pool.
    pub fn from_row_fn<F>(rows: usize, cols: usize, fill: F) -> Gf2Matrix
    where
        F: Fn(usize, &mut [u64]) + Sync,
    {
        let mut m = Gf2Matrix::zeros(rows, cols);
        let words = m.words;
        if words == 0 {
            return m;
        }
        let tail = if cols.is_multiple_of(64) {
            !0
        } else {
            (1u64 << (cols % 64)) - 1
        };
        // Rows are built in parallel batches into a row-major buffer, then scattered into
        // the blocks; a batch bounds the extra memory.
        const CHUNK: usize = 64;
        let batch = (CHUNK * 64).min(rows.max(1));
        let mut buf = vec![0u64; batch * words];
        let mut start = 0;
        while start < rows {
            let count = batch.min(rows - start);
            let part = &mut buf[..count * words];
            part.par_chunks_mut(CHUNK * words)
                .enumerate()
                .for_each(|(c, chunk)| {
                    chunk.fill(0);
                    for (r, row) in chunk.chunks_mut(words).enumerate() {
                        fill(start + c * CHUNK + r, row);
                        row[words - 1] &= tail;
                    }
                });
            for (r, row) in part.chunks(words).enumerate() {
                m.write_row(start + r, row);
            }
            start += count;
        }
        m
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    #[inline(always)]
    fn index(&self, i: usize, k: usize) -> usize {
        (k / BLOCK_WORDS * self.rows + i) * BLOCK_WORDS + k % BLOCK_WORDS
    }

    /// Word `k` of row `i`, zero past the stored words.
    #[inline(always)]
    fn word(&self, i: usize, k: usize) -> u64 {
        if k < self.blocks * BLOCK_WORDS {
            self.data[self.index(i, k)]
        } else {
            0
        }
    }

    /// Writes row `i` from `words` (`ceil(cols / 64)` words, tail bits clear).
    fn write_row(&mut self, i: usize, words: &[u64]) {
        for (k, &w) in words.iter().enumerate() {
            let at = self.index(i, k);
            self.data[at] = w;
        }
    }

    /// Entry (i, j).
    ///
    /// # Panics
    /// If `i >= rows` or `j >= cols`.
    pub fn get(&self, i: usize, j: usize) -> bool {
        assert!(
            i < self.rows && j < self.cols,
            "entry ({i}, {j}) out of range"
        );
        (self.word(i, j / 64) >> (j % 64)) & 1 == 1
    }

    /// Sets entry (i, j).
    ///
    /// # Panics
    /// If `i >= rows` or `j >= cols`.
    pub fn set(&mut self, i: usize, j: usize, value: bool) {
        assert!(
            i < self.rows && j < self.cols,
            "entry ({i}, {j}) out of range"
        );
        let at = self.index(i, j / 64);
        let bit = 1u64 << (j % 64);
        if value {
            self.data[at] |= bit;
        } else {
            self.data[at] &= !bit;
        }
    }

    /// Row `i` as a bit vector of `cols` bits.
    ///
    /// # Panics
    /// If `i >= rows`.
    pub fn row(&self, i: usize) -> BitVec {
        assert!(i < self.rows, "row {i} out of range");
        BitVec::from_words(
            (0..self.words).map(|k| self.word(i, k)).collect(),
            self.cols,
        )
    }

    /// The rank over GF(2), by the Method of Four Russians (module documentation).
    pub fn rank(&self) -> usize {
        self.clone().into_stacked_ranks(self.rows).0
    }

    /// `(rank of rows 0..split, rank of all rows)`, from one elimination: first the pivots
    /// are taken from rows `0..split` only, while rows `split..` are reduced along; then the
    /// reduced rows `split..` are eliminated among themselves, and their rank is added.
    /// That is rank(\[A; B\]) = rank(A) + rank(B reduced modulo the row space of A).
    ///
    /// # Panics
    /// If `split > rows`.
    pub fn stacked_ranks(&self, split: usize) -> (usize, usize) {
        self.clone().into_stacked_ranks(split)
    }

    /// [`Self::stacked_ranks`] consuming the matrix (no copy).
    ///
    /// # Panics
    /// If `split > rows`.
    pub fn into_stacked_ranks(mut self, split: usize) -> (usize, usize) {
        assert!(split <= self.rows, "split {split} past {} rows", self.rows);
        let mut first: Vec<u32> = (0..split as u32).collect();
        let second: Vec<u32> = (split as u32..self.rows as u32).collect();
        let rank_first = self.eliminate(&mut first, &second);
        let mut second = second;
        let rank_second = self.eliminate(&mut second, &[]);
        (rank_first, rank_first + rank_second)
    }

    /// The rank by plain Gaussian elimination, one pivot at a time (the baseline of the
    /// bench and a reference for tests).
    pub fn rank_naive(&self) -> usize {
        self.stacked_ranks_naive(self.rows).0
    }

    /// [`Self::stacked_ranks`] by plain Gaussian elimination, one pivot at a time: for each
    /// column, the first remaining candidate row with a 1 there is the pivot, and it is
    /// XORed into every other remaining row with a 1 there, from the pivot's word on.
    ///
    /// # Panics
    /// If `split > rows`.
    pub fn stacked_ranks_naive(&self, split: usize) -> (usize, usize) {
        assert!(split <= self.rows, "split {split} past {} rows", self.rows);
        let w = self.words;
        let mut rows: Vec<Vec<u64>> = (0..self.rows)
            .map(|i| (0..w).map(|k| self.word(i, k)).collect())
            .collect();
        let second: Vec<usize> = (split..self.rows).collect();
        let rank_first = naive_eliminate(&mut rows, (0..split).collect(), &second, self.cols);
        let rank_second = naive_eliminate(&mut rows, second, &[], self.cols);
        (rank_first, rank_first + rank_second)
    }

    /// Bits `c .. c + 64 * WINDOW_WORDS` of row `i` (zero past the last column).
    #[inline]
    fn window(&self, i: usize, c: usize) -> [u64; WINDOW_WORDS] {
        let (w, s) = (c / 64, c % 64);
        let mut out = [0u64; WINDOW_WORDS];
        for (k, o) in out.iter_mut().enumerate() {
            let lo = self.word(i, w + k) >> s;
            let hi = if s == 0 {
                0
            } else {
                self.word(i, w + k + 1) << (64 - s)
            };
            *o = lo | hi;
        }
        out
    }

    /// Row `dst` ^= row `src`, on blocks `from_block..`.
    fn xor_rows(&mut self, dst: usize, src: usize, from_block: usize) {
        for b in from_block..self.blocks {
            let d = (b * self.rows + dst) * BLOCK_WORDS;
            let s = (b * self.rows + src) * BLOCK_WORDS;
            for k in 0..BLOCK_WORDS {
                let v = self.data[s + k];
                self.data[d + k] ^= v;
            }
        }
    }

    /// The first column at or after `c` where row `i` has a 1.
    fn first_one_from(&self, i: usize, c: usize) -> Option<usize> {
        if c >= self.cols {
            return None;
        }
        let mut k = c / 64;
        let mut w = self.word(i, k) & (!0u64 << (c % 64));
        loop {
            if w != 0 {
                return Some(k * 64 + w.trailing_zeros() as usize);
            }
            k += 1;
            if k >= self.words {
                return None;
            }
            w = self.word(i, k);
        }
    }

    /// Echelon elimination with pivots taken from the rows listed in `cand`, scanning the
    /// columns from 0; every pivot is eliminated from the other candidates and from the rows
    /// listed in `extra`. Returns the number of pivots (the rank of the candidates). On
    /// return `cand` holds what is left of the candidates (all zero).
    ///
    /// The candidates are zero before the current column at every step; `extra` rows need
    /// not be, they are only reduced at the pivot columns.
    fn eliminate(&mut self, cand: &mut Vec<u32>, extra: &[u32]) -> usize {
        let pext8 = pext8_table();
        let mut rank = 0;
        let mut c = 0;
        let mut tables: Vec<u64> = Vec::new();
        while !cand.is_empty() && c < self.cols {
            let span = (self.cols - c).min(WINDOW_WORDS * 64);
            // 1. Pivot search on copies of the candidates' windows.
            let mut ids: Vec<u32> = cand.clone();
            let mut wins: Vec<[u64; WINDOW_WORDS]> =
                ids.iter().map(|&i| self.window(i as usize, c)).collect();
            let any = wins.iter().fold([0u64; WINDOW_WORDS], |mut a, w| {
                for k in 0..WINDOW_WORDS {
                    a[k] |= w[k];
                }
                a
            });
            if any.iter().all(|&w| w == 0) {
                // Nothing in this window: jump to the next column where a candidate has a
                // 1, and drop the candidates that are zero for good.
                let from = c + span;
                let mut next = usize::MAX;
                cand.retain(|&i| match self.first_one_from(i as usize, from) {
                    Some(j) => {
                        next = next.min(j);
                        true
                    }
                    None => false,
                });
                c = next;
                continue;
            }
            let (pcols, pivot_rows) = lazy_pivot_search(&mut ids, &mut wins, &any, span);
            let s = pcols.len();
            debug_assert!(s >= 1);
            let c_end = if s == PANEL_PIVOTS {
                c + pcols[s - 1] + 1
            } else {
                c + span
            };
            let pivots: Vec<usize> = pivot_rows.iter().map(|&i| i as usize).collect();
            // 2. Gauss-Jordan among the pivot rows on the full width.
            let b0 = c / 64 / BLOCK_WORDS;
            for t in 0..s {
                for u in 0..t {
                    if self.get(pivots[t], c + pcols[u]) {
                        self.xor_rows(pivots[t], pivots[u], b0);
                    }
                }
                debug_assert!(self.get(pivots[t], c + pcols[t]));
                for u in 0..t {
                    if self.get(pivots[u], c + pcols[t]) {
                        self.xor_rows(pivots[u], pivots[t], b0);
                    }
                }
            }
            rank += s;
            {
                let mut sorted = pivots.clone();
                sorted.sort_unstable();
                cand.retain(|&i| sorted.binary_search(&(i as usize)).is_err());
            }
            // 3./4. Coefficients of every other row, then the table update.
            let mut mask = [0u64; WINDOW_WORDS];
            for &p in &pcols {
                mask[p / 64] |= 1 << (p % 64);
            }
            let bytes = mask_bytes(&mask);
            let mut targets: Vec<u32> = cand.iter().chain(extra).copied().collect();
            targets.sort_unstable();
            let coefs: Vec<u64> = targets
                .par_iter()
                .with_min_len(1024)
                .map(|&i| pext_window(&self.window(i as usize, c), &bytes, pext8))
                .collect();
            self.update(b0, &pivots, &targets, &coefs, &mut tables);
            c = c_end;
        }
        rank
    }

    /// Row `targets[t]` ^= the XOR of the pivot rows selected by the bits of `coefs[t]`
    /// (bit `u` selects `pivots[u]`), on blocks `b0..`, by tables of 8 rows.
    fn update(
        &mut self,
        b0: usize,
        pivots: &[usize],
        targets: &[u32],
        coefs: &[u64],
        tables: &mut Vec<u64>,
    ) {
        let s = pivots.len();
        let groups = s.div_ceil(GROUP);
        let rows = self.rows;
        let block_len = rows * BLOCK_WORDS;
        let table_len = groups * 256 * BLOCK_WORDS;
        let work = |block: &mut [u64], table: &mut Vec<u64>| {
            table.resize(table_len, 0);
            for g in 0..groups {
                let base = g * 256 * BLOCK_WORDS;
                let members = (s - g * GROUP).min(GROUP);
                table[base..base + BLOCK_WORDS].fill(0);
                for v in 1..(1usize << members) {
                    let low = v & (v - 1);
                    let p = pivots[g * GROUP + v.trailing_zeros() as usize];
                    let (lo, hi) = table.split_at_mut(base + v * BLOCK_WORDS);
                    let prev = &lo[base + low * BLOCK_WORDS..base + (low + 1) * BLOCK_WORDS];
                    let row = &block[p * BLOCK_WORDS..(p + 1) * BLOCK_WORDS];
                    for k in 0..BLOCK_WORDS {
                        hi[k] = prev[k] ^ row[k];
                    }
                }
            }
            for (&i, &coef) in targets.iter().zip(coefs) {
                if coef == 0 {
                    continue;
                }
                let mut acc = [0u64; BLOCK_WORDS];
                let mut rest = coef;
                let mut g = 0;
                while rest != 0 {
                    let v = (rest & 0xff) as usize;
                    if v != 0 {
                        let e = &table[(g * 256 + v) * BLOCK_WORDS..][..BLOCK_WORDS];
                        for k in 0..BLOCK_WORDS {
                            acc[k] ^= e[k];
                        }
                    }
                    rest >>= 8;
                    g += 1;
                }
                let seg = &mut block[i as usize * BLOCK_WORDS..][..BLOCK_WORDS];
                for k in 0..BLOCK_WORDS {
                    seg[k] ^= acc[k];
                }
            }
        };
        let data = &mut self.data[b0 * block_len..];
        if data.len() <= block_len || rayon::current_num_threads() == 1 {
            for block in data.chunks_mut(block_len) {
                work(block, tables);
            }
        } else {
            data.par_chunks_mut(block_len)
                .for_each_init(Vec::new, |table, block| work(block, table));
        }
    }
}

/// Finds up to [`PANEL_PIVOTS`] pivots among the windows `wins` of the rows `ids`, in
/// column order over the columns where `any` (the OR of the windows) is set, below `span`.
/// Rows are reduced lazily: `applied[r]` pivots have been applied to `wins[r]`. Chosen rows
/// are swapped to the front. Returns the pivot columns (relative to the window) and rows.
fn lazy_pivot_search(
    ids: &mut [u32],
    wins: &mut [[u64; WINDOW_WORDS]],
    any: &[u64; WINDOW_WORDS],
    span: usize,
) -> (Vec<usize>, Vec<u32>) {
    let mut applied = vec![0u8; ids.len()];
    let mut pcols: Vec<usize> = Vec::with_capacity(PANEL_PIVOTS);
    let mut pwins: Vec<[u64; WINDOW_WORDS]> = Vec::with_capacity(PANEL_PIVOTS);
    let bit = |w: &[u64; WINDOW_WORDS], j: usize| (w[j / 64] >> (j % 64)) & 1 == 1;
    'columns: for (k, &word) in any.iter().enumerate() {
        let mut rest = word;
        while rest != 0 {
            let col = k * 64 + rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if col >= span || pcols.len() == PANEL_PIVOTS {
                break 'columns;
            }
            let s = pcols.len();
            // The first remaining row (brought up to date) with a 1 here is the pivot.
            for r in s..ids.len() {
                let mut a = applied[r] as usize;
                while a < s {
                    if bit(&wins[r], pcols[a]) {
                        let p = pwins[a];
                        for (x, y) in wins[r].iter_mut().zip(p) {
                            *x ^= y;
                        }
                    }
                    a += 1;
                }
                applied[r] = s as u8;
                if bit(&wins[r], col) {
                    ids.swap(r, s);
                    wins.swap(r, s);
                    applied.swap(r, s);
                    pcols.push(col);
                    pwins.push(wins[s]);
                    break;
                }
            }
        }
    }
    let s = pcols.len();
    (pcols, ids[..s].to_vec())
}

/// The 8-bit parallel bit extract: entry `(m << 8) | x` holds the bits of `x` at the set
/// bits of `m`, packed to the low end in order.
pub(crate) fn pext8_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![0u8; 1 << 16];
        for m in 0..256usize {
            for x in 0..256usize {
                let (mut out, mut k) = (0u8, 0);
                for b in 0..8 {
                    if m >> b & 1 == 1 {
                        out |= ((x >> b & 1) as u8) << k;
                        k += 1;
                    }
                }
                t[m << 8 | x] = out;
            }
        }
        t
    })
}

/// The non-zero bytes of a window mask: (byte index, mask byte, offset of its first bit in
/// the packed result).
fn mask_bytes(mask: &[u64; WINDOW_WORDS]) -> Vec<(usize, u8, u32)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for k in 0..WINDOW_WORDS * 8 {
        let m = (mask[k / 8] >> (8 * (k % 8))) as u8;
        if m != 0 {
            out.push((k, m, offset));
            offset += m.count_ones();
        }
    }
    out
}

/// The bits of `win` at the mask described by `bytes` ([`mask_bytes`]), packed in order
/// (at most 64 of them).
#[inline]
fn pext_window(win: &[u64; WINDOW_WORDS], bytes: &[(usize, u8, u32)], pext8: &[u8]) -> u64 {
    let mut out = 0u64;
    for &(k, m, offset) in bytes {
        let x = (win[k / 8] >> (8 * (k % 8))) as u8;
        out |= u64::from(pext8[(m as usize) << 8 | x as usize]) << offset;
    }
    out
}

/// One pivot at a time: pivots from the rows `cand` of `rows` (words of `cols` bits),
/// eliminated from the other candidates and from `extra`. Returns the number of pivots.
fn naive_eliminate(
    rows: &mut [Vec<u64>],
    mut cand: Vec<usize>,
    extra: &[usize],
    cols: usize,
) -> usize {
    let mut rank = 0;
    for col in 0..cols {
        if cand.is_empty() {
            break;
        }
        let (w, b) = (col / 64, 1u64 << (col % 64));
        let Some(pos) = cand.iter().position(|&i| rows[i][w] & b != 0) else {
            continue;
        };
        let p = cand.remove(pos);
        rank += 1;
        let pivot = rows[p][w..].to_vec();
        for &i in cand.iter().chain(extra) {
            let row = &mut rows[i];
            if row[w] & b != 0 {
                for (x, y) in row[w..].iter_mut().zip(&pivot) {
                    *x ^= y;
                }
            }
        }
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, stream};
    use proptest::prelude::*;
    use rand::{Rng, RngExt};

    /// Textbook Gauss-Jordan on bit vectors, bit by bit: the reference rank.
    fn reference_rank(rows: &[BitVec], cols: usize) -> usize {
        let mut rows = rows.to_vec();
        let mut rank = 0;
        for col in 0..cols {
            if let Some(p) = (rank..rows.len()).find(|&i| rows[i].get(col)) {
                rows.swap(rank, p);
                let pivot = rows[rank].clone();
                for (i, row) in rows.iter_mut().enumerate() {
                    if i != rank && row.get(col) {
                        row.xor_assign(&pivot);
                    }
                }
                rank += 1;
            }
        }
        rank
    }

    fn random_row(cols: usize, density: f64, rng: &mut impl Rng) -> BitVec {
        let mut r = BitVec::zeros(cols);
        for j in 0..cols {
            if rng.random_bool(density) {
                r.set(j, true);
            }
        }
        r
    }

    /// `rows` rows of `cols` bits of rank at most `k`: random combinations of `k` random
    /// rows, with some zero and repeated rows mixed in.
    fn low_rank(
        rows: usize,
        cols: usize,
        k: usize,
        density: f64,
        rng: &mut impl Rng,
    ) -> Vec<BitVec> {
        let basis: Vec<BitVec> = (0..k).map(|_| random_row(cols, density, rng)).collect();
        let mut out: Vec<BitVec> = (0..rows)
            .map(|_| {
                let mut r = BitVec::zeros(cols);
                for b in &basis {
                    if rng.random_bool(0.5) {
                        r.xor_assign(b);
                    }
                }
                r
            })
            .collect();
        for i in 0..rows / 10 {
            let j = rng.random_range(0..rows);
            out[j] = if i % 2 == 0 {
                BitVec::zeros(cols)
            } else {
                out[rng.random_range(0..rows)].clone()
            };
        }
        out
    }

    fn check(rows: &[BitVec], cols: usize, split: usize) {
        let m = Gf2Matrix::from_rows(cols, rows);
        let expect = (
            reference_rank(&rows[..split], cols),
            reference_rank(rows, cols),
        );
        assert_eq!(
            m.stacked_ranks(split),
            expect,
            "{} x {cols}, split {split}",
            rows.len()
        );
        assert_eq!(
            m.stacked_ranks_naive(split),
            expect,
            "naive {} x {cols}",
            rows.len()
        );
        assert_eq!(m.rank(), expect.1);
        assert_eq!(m.rank_naive(), expect.1);
    }

    #[test]
    fn layout_round_trips() {
        let mut rng = stream(1, Purpose::Auxiliary, 0);
        for (r, c) in [(0, 0), (1, 1), (3, 1025), (17, 64), (5, 2049)] {
            let rows: Vec<BitVec> = (0..r).map(|_| random_row(c, 0.5, &mut rng)).collect();
            let mut m = Gf2Matrix::from_rows(c, &rows);
            assert_eq!((m.rows(), m.cols()), (r, c));
            for (i, row) in rows.iter().enumerate() {
                assert_eq!(&m.row(i), row);
            }
            if r > 0 && c > 0 {
                let v = m.get(r - 1, c - 1);
                m.set(r - 1, c - 1, !v);
                assert_eq!(m.get(r - 1, c - 1), !v);
            }
        }
    }

    #[test]
    fn ranks_of_awkward_shapes() {
        let mut rng = stream(2, Purpose::Auxiliary, 0);
        // Empty, single, not multiples of 64, more rows than columns, across blocks.
        for (r, c) in [
            (0, 10),
            (10, 0),
            (1, 1),
            (3, 5),
            (65, 63),
            (200, 129),
            (129, 200),
            (70, 1100),
            (400, 90),
        ] {
            for density in [0.02, 0.5] {
                let rows: Vec<BitVec> = (0..r).map(|_| random_row(c, density, &mut rng)).collect();
                check(&rows, c, r / 2);
            }
        }
        // Low rank (many columns without pivots inside windows), zero and repeated rows.
        check(&low_rank(300, 700, 40, 0.5, &mut rng), 700, 150);
        check(&low_rank(500, 2100, 300, 0.5, &mut rng), 2100, 123);
        check(&low_rank(500, 2100, 300, 0.003, &mut rng), 2100, 400);
        // Full rank, several panels, more rows than columns and the reverse.
        let rows: Vec<BitVec> = (0..700).map(|_| random_row(600, 0.5, &mut rng)).collect();
        check(&rows, 600, 350);
        let rows: Vec<BitVec> = (0..300).map(|_| random_row(2500, 0.5, &mut rng)).collect();
        check(&rows, 2500, 299);
        // Sparse rows: windows with nothing in them, candidates dropped as zero.
        let rows: Vec<BitVec> = (0..400)
            .map(|_| random_row(5000, 0.0008, &mut rng))
            .collect();
        check(&rows, 5000, 200);
    }

    #[test]
    fn unit_rows_and_identity() {
        let n = 1000;
        let rows: Vec<BitVec> = (0..n)
            .map(|i| {
                let mut r = BitVec::zeros(n);
                r.set(n - 1 - i, true);
                r
            })
            .collect();
        let m = Gf2Matrix::from_rows(n, &rows);
        assert_eq!(m.rank(), n);
        assert_eq!(m.stacked_ranks(0), (0, n));
        assert_eq!(Gf2Matrix::zeros(50, 70).rank(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn rank_matches_the_reference(
            r in 0usize..260,
            c in 0usize..330,
            k in 0usize..300,
            density in prop_oneof![Just(0.5), 0.001f64..0.2],
            split in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let mut rng = stream(seed, Purpose::Auxiliary, 3);
            let rows = if k < r && k % 2 == 0 {
                low_rank(r, c, k, density, &mut rng)
            } else {
                (0..r).map(|_| random_row(c, density, &mut rng)).collect()
            };
            let split = split.index(r + 1);
            let m = Gf2Matrix::from_rows(c, &rows);
            let expect = (reference_rank(&rows[..split], c), reference_rank(&rows, c));
            prop_assert_eq!(m.stacked_ranks(split), expect);
            prop_assert_eq!(m.stacked_ranks_naive(split), expect);
        }
    }
}
