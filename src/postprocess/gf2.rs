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
//! panel by panel, with the tables of the "Method of Four Russians" (Arlazarov, Dinic,
//! Kronrod and Faradzev, "On economical construction of the transitive closure of a directed
//! graph", Soviet Math. Dokl. 11, 1970) as the M4RI library uses them (Albrecht, Bard and
//! Hart, "Algorithm 898: Efficient multiplication of dense matrices over GF(2)", ACM TOMS
//! 37(1), 2010: Gray-code-style tables of all combinations of 8 rows, several tables per
//! sweep):
//!
//! 1. **Pivot search on a narrow window.** From the current column `c`, the next
//!    [`WINDOW_WORDS`] words of every candidate row are copied; up to [`PANEL_PIVOTS`]
//!    pivots are found among them, column by column, by ordinary elimination on those
//!    copies only. Rows are reduced lazily (a row is brought up to date with the pivots found
//!    so far only when it is looked at), so with dense rows a pivot costs a few row looks.
//! 2. **Coefficients.** The pivot rows as they stand, restricted to the pivot columns, form
//!    an invertible `s x s` matrix `M` (the search made their reductions triangular). Another
//!    row `x` is cleared on every column of the panel by XORing the combination `x_piv M^-1`
//!    of pivot rows (`x_piv`: its bits at the pivot columns), so the pivot rows are never
//!    reduced among themselves on the full width: `M^-1` is computed on `s`-bit vectors and
//!    applied to each row's `s` bits, again with tables of 8 rows.
//! 3. **Tables.** The pivot rows are cut into groups of 8; for each group, all 256 XOR
//!    combinations are tabulated (one row XOR per entry: entry `v` is entry `v & (v - 1)`
//!    XOR the row of `v`'s lowest set bit).
//! 4. **Update.** Every other row (remaining candidates, and any rows that are only reduced,
//!    see [`Gf2Matrix::stacked_ranks`]) XORs one table entry per group, selected by one byte
//!    of its coefficients: `PANEL_PIVOTS / 8` row XORs per sweep instead of up to
//!    `PANEL_PIVOTS`. Block by block, the tables of one block (32 x 256 entries of 128 bytes
//!    = 1 MiB) stay in the L2 cache while the rows stream through, and only blocks from the
//!    panel's first column onward are touched (the candidates are zero before it).
//!
//! The row work is about `rows * rank * width / (8 * 64)` word XORs against
//! `rows * rank * width / (2 * 64)` for one pivot at a time ([`Gf2Matrix::stacked_ranks_naive`],
//! the baseline of `benches/leakage.rs`). Panel and block sizes were chosen by measurement:
//! 64 to 512 pivots per panel and 4 to 32 words per block were within 20 % of each other on
//! the bench's matrix, the chosen pair among the fastest.
//!
//! Wide eliminations without rows that are only reduced start on a slab of the first
//! `rows + 1024` columns and touch the columns past it only if some row found no pivot in
//! the slab (see `Gf2Matrix::eliminate`): a matrix of full row rank shows it there.
//!
//! # Sparse rows first
//!
//! [`stacked_ranks_sparse`] takes the first rows as sparse lists and the others by columns,
//! eliminates the light sparse rows as sparse rows (structured Gaussian elimination) and
//! hands only what is left to the dense elimination (see its documentation). For the
//! eavesdropper's count, that is nearly all of Cascade's parities.
//!
//! A rank is a number: it does not depend on the order of the work, so the result is the
//! same for any number of threads.
//!
//! Must never depend on anything but `bits`: this is plain linear algebra.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::bits::BitVec;

/// Words per row in one column block (1024 columns).
pub const BLOCK_WORDS: usize = 16;
/// Pivots found and eliminated per panel: one sweep over the rows per panel, 32 tables of 8
/// pivot rows.
pub const PANEL_PIVOTS: usize = 256;
/// Width in words of the window a panel searches for pivots (512 columns).
pub const WINDOW_WORDS: usize = 8;
/// Words of a vector over a panel's pivots.
const COEF_WORDS: usize = PANEL_PIVOTS / 64;
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
        m.fill_rows(0, rows, fill);
        m
    }

    /// Overwrites rows `first..first + count`: row `first + i` is written by `fill(i, words)`
    /// as in [`Self::from_row_fn`].
    ///
    /// # Panics
    /// If the rows are not all in the matrix.
    pub fn fill_rows<F>(&mut self, first: usize, count: usize, fill: F)
    where
        F: Fn(usize, &mut [u64]) + Sync,
    {
        assert!(
            first + count <= self.rows,
            "rows {first}..{} of {}",
            first + count,
            self.rows
        );
        let words = self.words;
        if words == 0 {
            return;
        }
        let tail = self.tail_mask();
        // Rows are built in parallel batches into a row-major buffer, then scattered into
        // the blocks; a batch bounds the extra memory.
        const CHUNK: usize = 64;
        let batch = (CHUNK * 64).min(count.max(1));
        let mut buf = vec![0u64; batch * words];
        let mut start = 0;
        while start < count {
            let n = batch.min(count - start);
            let part = &mut buf[..n * words];
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
                self.write_row(first + start + r, row);
            }
            start += n;
        }
    }

    /// Overwrites rows `first..first + count` from their columns: `column(j, words)` writes
    /// the `count` bits of column `j` in those rows (bit `i` for row `first + i`) into a
    /// zeroed buffer of `ceil(count / 64)` words. Transposes 64 x 64 tiles.
    ///
    /// # Panics
    /// If the rows are not all in the matrix.
    pub fn fill_rows_from_columns<F>(&mut self, first: usize, count: usize, column: F)
    where
        F: Fn(usize, &mut [u64]) + Sync,
    {
        assert!(
            first + count <= self.rows,
            "rows {first}..{} of {}",
            first + count,
            self.rows
        );
        let row_words = count.div_ceil(64);
        if self.words == 0 || row_words == 0 {
            return;
        }
        let cols = self.cols;
        let tail = if count.is_multiple_of(64) {
            !0
        } else {
            (1u64 << (count % 64)) - 1
        };
        // For each group of 64 columns: its columns, then one transposed tile per 64 rows;
        // groups in parallel batches, written into the blocks after each batch.
        const BATCH: usize = 64;
        for batch in (0..self.words).step_by(BATCH) {
            let tiles: Vec<Vec<u64>> = (batch..(batch + BATCH).min(self.words))
                .into_par_iter()
                .map(|k| {
                    let mut colbuf = vec![0u64; 64 * row_words];
                    for (c, col) in colbuf.chunks_mut(row_words).enumerate() {
                        if k * 64 + c < cols {
                            column(k * 64 + c, col);
                            col[row_words - 1] &= tail;
                        }
                    }
                    let mut out = vec![0u64; row_words * 64];
                    for rb in 0..row_words {
                        let mut tile = [0u64; 64];
                        for (c, t) in tile.iter_mut().enumerate() {
                            *t = colbuf[c * row_words + rb];
                        }
                        transpose64(&mut tile);
                        out[rb * 64..rb * 64 + 64].copy_from_slice(&tile);
                    }
                    out
                })
                .collect();
            for (k, out) in tiles.iter().enumerate() {
                for i in 0..count {
                    let at = self.index(first + i, batch + k);
                    self.data[at] = out[i];
                }
            }
        }
    }

    /// Mask of the valid bits of a row's last word.
    fn tail_mask(&self) -> u64 {
        if self.cols.is_multiple_of(64) {
            !0
        } else {
            (1u64 << (self.cols % 64)) - 1
        }
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
    fn window(&self, i: usize, c: usize) -> Window {
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
    ///
    /// Without `extra` rows and with many more columns than candidates, the elimination is
    /// first run on a slab of the first `candidates + SLAB_SLACK` columns only (rounded up to
    /// a block), recording each panel's coefficients. If every candidate found a pivot there,
    /// the rank is known and the columns past the slab are never touched (a matrix of full
    /// row rank needs little more than as many columns as rows to show it); otherwise the
    /// recorded panels are applied to the rest of the columns, in order, and the elimination
    /// goes on from the slab's end. The work saved is most of it for a wide matrix of full
    /// row rank, such as the reduced final-key rows of the eavesdropper's count.
    fn eliminate(&mut self, cand: &mut Vec<u32>, extra: &[u32]) -> usize {
        const SLAB_SLACK: usize = 1024;
        let block_cols = 64 * BLOCK_WORDS;
        let slab_end = (cand.len() + SLAB_SLACK).next_multiple_of(block_cols);
        if !extra.is_empty() || slab_end >= self.cols {
            return self.eliminate_columns(cand, extra, 0, self.cols, None);
        }
        let mut log = Vec::new();
        let rank = self.eliminate_columns(cand, extra, 0, slab_end, Some(&mut log));
        if cand.is_empty() {
            return rank;
        }
        let mut tables = Vec::new();
        for panel in &log {
            self.update(
                slab_end / block_cols,
                self.blocks,
                &panel.pivots,
                &panel.targets,
                &panel.coefs,
                &mut tables,
            );
        }
        drop(log);
        rank + self.eliminate_columns(cand, extra, slab_end, self.cols, None)
    }

    /// [`Self::eliminate`] on columns `start..end` only (`end` a multiple of the block width
    /// or the number of columns), the candidates being zero before `start`. With `log`, each
    /// panel's pivots, targets and coefficients are recorded for [`Self::update`] on the
    /// columns past `end`; candidates with nothing left before `end` then stay candidates.
    fn eliminate_columns(
        &mut self,
        cand: &mut Vec<u32>,
        extra: &[u32],
        start: usize,
        end: usize,
        mut log: Option<&mut Vec<Panel>>,
    ) -> usize {
        let pext8 = pext8_table();
        let block_cols = 64 * BLOCK_WORDS;
        let end_block = if end == self.cols {
            self.blocks
        } else {
            end / block_cols
        };
        let mut rank = 0;
        let mut c = start;
        let mut tables: Vec<Segment> = Vec::new();
        while !cand.is_empty() && c < end {
            let span = (end - c).min(WINDOW_WORDS * 64);
            // 1. Pivot search on copies of the candidates' windows (bits past `end` cleared:
            //    in a slab they are not up to date).
            let mut ids: Vec<u32> = cand.clone();
            let mut wins: Vec<Window> = ids
                .iter()
                .map(|&i| {
                    let mut w = self.window(i as usize, c);
                    clear_from(&mut w, span);
                    w
                })
                .collect();
            let any = wins.iter().fold([0u64; WINDOW_WORDS], |mut a, w| {
                for k in 0..WINDOW_WORDS {
                    a[k] |= w[k];
                }
                a
            });
            if any.iter().all(|&w| w == 0) {
                // Nothing in this window: jump to the next column before `end` where a
                // candidate has a 1; on the whole width, drop the candidates that are zero
                // for good.
                let from = c + span;
                let mut next = end;
                if log.is_some() {
                    for &i in cand.iter() {
                        if let Some(j) = self.first_one_from(i as usize, from).filter(|&j| j < end)
                        {
                            next = next.min(j);
                        }
                    }
                } else {
                    cand.retain(|&i| match self.first_one_from(i as usize, from) {
                        Some(j) => {
                            next = next.min(j);
                            true
                        }
                        None => false,
                    });
                }
                c = next;
                continue;
            }
            let (pcols, pivot_rows) = lazy_pivot_search(&mut ids, &mut wins, &any, span);
            drop(wins);
            let s = pcols.len();
            debug_assert!(s >= 1);
            let c_end = if s == PANEL_PIVOTS {
                c + pcols[s - 1] + 1
            } else {
                c + span
            };
            let pivots: Vec<usize> = pivot_rows.iter().map(|&i| i as usize).collect();
            rank += s;
            {
                let mut sorted = pivots.clone();
                sorted.sort_unstable();
                cand.retain(|&i| sorted.binary_search(&(i as usize)).is_err());
            }
            // 2. The pivot rows as they stand, restricted to the pivot columns, form an
            //    invertible s x s matrix M (the search made them echelon up to earlier
            //    pivots). A row x is cleared on the panel's columns by XORing the
            //    combination c of pivot rows with c M = x restricted to the pivot columns:
            //    c = x M^-1, so the pivot rows are never reduced among themselves.
            let mut mask = [0u64; WINDOW_WORDS];
            for &p in &pcols {
                mask[p / 64] |= 1 << (p % 64);
            }
            let bytes = mask_bytes(&mask);
            let m: Vec<Coef> = pivots
                .iter()
                .map(|&p| pext_window(&self.window(p, c), &bytes, pext8))
                .collect();
            let transform = byte_tables(&invert(&m));
            // 3./4. Coefficients of every other row, then the table update.
            let mut targets: Vec<u32> = cand.iter().chain(extra).copied().collect();
            targets.sort_unstable();
            let coefs: Vec<CoefBytes> = targets
                .par_iter()
                .with_min_len(1024)
                .map(|&i| {
                    let x = pext_window(&self.window(i as usize, c), &bytes, pext8);
                    let c = apply_byte_tables(&transform, &x);
                    let mut out = [0u8; COEF_WORDS * 8];
                    for (o, w) in out.chunks_exact_mut(8).zip(c) {
                        o.copy_from_slice(&w.to_le_bytes());
                    }
                    out
                })
                .collect();
            let b0 = c / block_cols;
            self.update(b0, end_block, &pivots, &targets, &coefs, &mut tables);
            if let Some(log) = log.as_deref_mut() {
                log.push(Panel {
                    pivots,
                    targets,
                    coefs,
                });
            }
            c = c_end;
        }
        rank
    }

    /// Row `targets[t]` ^= the XOR of the pivot rows selected by the bits of `coefs[t]`
    /// (bit `u` selects `pivots[u]`), on blocks `b0..b1`, by tables of 8 rows.
    fn update(
        &mut self,
        b0: usize,
        b1: usize,
        pivots: &[usize],
        targets: &[u32],
        coefs: &[CoefBytes],
        tables: &mut Vec<Segment>,
    ) {
        let s = pivots.len();
        let groups = s.div_ceil(GROUP);
        let rows = self.rows;
        let block_len = rows * BLOCK_WORDS;
        let work = |block: &mut [u64], table: &mut Vec<Segment>| {
            let (block, _) = block.as_chunks_mut::<BLOCK_WORDS>();
            table.resize(groups * 256, [0; BLOCK_WORDS]);
            for (g, t) in table.chunks_exact_mut(256).enumerate() {
                let members = (s - g * GROUP).min(GROUP);
                t[0] = [0; BLOCK_WORDS];
                for v in 1..(1usize << members) {
                    let prev = t[v & (v - 1)];
                    let row = &block[pivots[g * GROUP + v.trailing_zeros() as usize]];
                    for k in 0..BLOCK_WORDS {
                        t[v][k] = prev[k] ^ row[k];
                    }
                }
            }
            let table = &table[..groups * 256];
            for (&i, coef) in targets.iter().zip(coefs) {
                let mut acc = [0u64; BLOCK_WORDS];
                let mut any = false;
                for (t, &v) in table.chunks_exact(256).zip(&coef[..groups]) {
                    if v != 0 {
                        any = true;
                        let e = &t[v as usize];
                        for k in 0..BLOCK_WORDS {
                            acc[k] ^= e[k];
                        }
                    }
                }
                if any {
                    let seg = &mut block[i as usize];
                    for k in 0..BLOCK_WORDS {
                        seg[k] ^= acc[k];
                    }
                }
            }
        };
        let data = &mut self.data[b0 * block_len..b1 * block_len];
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

/// One panel of an elimination, as [`Gf2Matrix::update`] applies it.
struct Panel {
    pivots: Vec<usize>,
    targets: Vec<u32>,
    coefs: Vec<CoefBytes>,
}

/// Clears the bits of `w` from bit `from` on.
fn clear_from(w: &mut Window, from: usize) {
    for (k, x) in w.iter_mut().enumerate() {
        if from <= k * 64 {
            *x = 0;
        } else if from < (k + 1) * 64 {
            *x &= (1u64 << (from - k * 64)) - 1;
        }
    }
}

/// One row's words in one column block.
type Segment = [u64; BLOCK_WORDS];
/// A vector over a panel's pivots as bytes (byte `g` for pivots `8 g .. 8 g + 8`).
type CoefBytes = [u8; COEF_WORDS * 8];
/// A row's bits in a panel's search window.
type Window = [u64; WINDOW_WORDS];
/// A vector over a panel's pivots (bit `u` for pivot `u`).
type Coef = [u64; COEF_WORDS];

/// Finds up to [`PANEL_PIVOTS`] pivots among the windows `wins` of the rows `ids`, in
/// column order over the columns where `any` (the OR of the windows) is set, below `span`.
/// Rows are reduced lazily: `applied[r]` pivots have been applied to `wins[r]`. Chosen rows
/// are swapped to the front. Returns the pivot columns (relative to the window) and rows.
fn lazy_pivot_search(
    ids: &mut [u32],
    wins: &mut [Window],
    any: &Window,
    span: usize,
) -> (Vec<usize>, Vec<u32>) {
    let mut applied = vec![0u16; ids.len()];
    let mut pcols: Vec<usize> = Vec::with_capacity(PANEL_PIVOTS);
    let mut pwins: Vec<Window> = Vec::with_capacity(PANEL_PIVOTS);
    let bit = |w: &Window, j: usize| (w[j / 64] >> (j % 64)) & 1 == 1;
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
                applied[r] = s as u16;
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

/// The inverse of the invertible `s x s` matrix whose row `t` is `m[t]` (bits `0..s`), by
/// Gauss-Jordan on `[M | I]`.
fn invert(m: &[Coef]) -> Vec<Coef> {
    let s = m.len();
    let mut a = m.to_vec();
    let mut inv: Vec<Coef> = (0..s)
        .map(|t| {
            let mut e = [0u64; COEF_WORDS];
            e[t / 64] = 1 << (t % 64);
            e
        })
        .collect();
    let bit = |v: &Coef, j: usize| (v[j / 64] >> (j % 64)) & 1 == 1;
    for col in 0..s {
        let r = (col..s)
            .find(|&r| bit(&a[r], col))
            .expect("the pivot block of a panel is invertible");
        a.swap(r, col);
        inv.swap(r, col);
        let (pa, pi) = (a[col], inv[col]);
        for r in 0..s {
            if r != col && bit(&a[r], col) {
                for k in 0..COEF_WORDS {
                    a[r][k] ^= pa[k];
                    inv[r][k] ^= pi[k];
                }
            }
        }
    }
    inv
}

/// For a matrix given by its rows, the tables of all XOR combinations of each group of 8
/// consecutive rows: entry `g * 256 + v` combines rows `8 g + b` for the set bits `b` of `v`.
fn byte_tables(rows: &[Coef]) -> Vec<Coef> {
    let groups = rows.len().div_ceil(GROUP);
    let mut t = vec![[0u64; COEF_WORDS]; groups * 256];
    for g in 0..groups {
        let members = (rows.len() - g * GROUP).min(GROUP);
        for v in 1..(1usize << members) {
            let prev = t[g * 256 + (v & (v - 1))];
            let row = rows[g * GROUP + v.trailing_zeros() as usize];
            for k in 0..COEF_WORDS {
                t[g * 256 + v][k] = prev[k] ^ row[k];
            }
        }
    }
    t
}

/// The row vector `x` times the matrix whose [`byte_tables`] are `tables`.
#[inline]
fn apply_byte_tables(tables: &[Coef], x: &Coef) -> Coef {
    let mut out = [0u64; COEF_WORDS];
    for g in 0..tables.len() / 256 {
        let v = (x[g / 8] >> (8 * (g % 8)) & 0xff) as usize;
        if v != 0 {
            let e = &tables[g * 256 + v];
            for k in 0..COEF_WORDS {
                out[k] ^= e[k];
            }
        }
    }
    out
}

/// Transposes a 64 x 64 bit matrix in place (row `r` is word `r`, column `c` bit `c`), by
/// swapping ever smaller off-diagonal blocks (32, 16, ..., 1; Warren, "Hacker's Delight",
/// 2nd ed., sec. 7-3).
fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32;
    let mut m = 0x0000_0000_FFFF_FFFFu64;
    while j != 0 {
        for k in 0..64 {
            if k & j == 0 {
                let t = ((a[k] >> j) ^ a[k + j]) & m;
                a[k] ^= t << j;
                a[k + j] ^= t;
            }
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// Sparse rows of at most this weight are eliminated by the sparse stage of
/// [`stacked_ranks_sparse`]; the rest goes to the dense elimination.
pub const SPARSE_PIVOT_WEIGHT: usize = 1024;
/// A sparse row that grows past this weight is kept as a dense bit vector from then on.
const SPARSE_ROW_CAP: usize = 4 * SPARSE_PIVOT_WEIGHT;

/// `(rank(A), rank([A; B]))` for `A` given by sparse rows and `B` by columns: row `i` of `A`
/// lists the columns (below `cols`) where it has a 1 (a column listed twice cancels), and
/// `b_columns` holds the `b_rows` bits of each of the `cols` columns of `B`
/// (`ceil(b_rows / 64)` words per column, bits past `b_rows` zero).
///
/// Structured Gaussian elimination first (LaMacchia and Odlyzko, "Solving large sparse
/// linear systems over finite fields", CRYPTO 1990; with the Markowitz pivot rule): the
/// lightest remaining row of `A`, if it has at most [`SPARSE_PIVOT_WEIGHT`] ones, becomes a
/// pivot at its column that the fewest rows of `A` share; it is XORed into the other rows of
/// `A` holding that column (sparse symmetric differences) and, since `B` is kept by columns,
/// into every row of `B` at once by one column XOR per one of the pivot row (`B`'s column
/// `j` ^= its pivot column, for each `j` in the pivot row). Every row is then zero at every
/// pivot column, so `rank(A) = sparse pivots + rank(rest of A)` and the remaining rows of `A`
/// and `B`, over the remaining columns, go to [`Gf2Matrix::into_stacked_ranks`].
///
/// # Panics
/// If a listed column is not below `cols`, or `b_columns` has not `cols * ceil(b_rows / 64)`
/// words.
pub fn stacked_ranks_sparse(
    cols: usize,
    a_rows: Vec<Vec<u32>>,
    b_rows: usize,
    b_columns: Vec<u64>,
) -> (usize, usize) {
    sparse_then_dense(
        cols,
        a_rows,
        b_rows,
        b_columns,
        SPARSE_PIVOT_WEIGHT,
        SPARSE_ROW_CAP,
    )
}

/// [`stacked_ranks_sparse`] with the thresholds as parameters (tests use small ones).
fn sparse_then_dense(
    cols: usize,
    a_rows: Vec<Vec<u32>>,
    b_rows: usize,
    mut b_columns: Vec<u64>,
    pivot_weight: usize,
    row_cap: usize,
) -> (usize, usize) {
    let bw = b_rows.div_ceil(64);
    assert_eq!(b_columns.len(), cols * bw, "columns of B");
    let cw = cols.div_ceil(64);
    let flip = |row: &mut [u64], j: usize| row[j / 64] ^= 1 << (j % 64);
    let to_dense = |row: &[u32]| {
        let mut d = vec![0u64; cw];
        for &j in row {
            d[j as usize / 64] ^= 1 << (j % 64);
        }
        d
    };
    // Rows as sorted lists without repeats (pairs cancel); heavy ones dense.
    let mut rows: Vec<Vec<u32>> = Vec::with_capacity(a_rows.len());
    let mut heavy: Vec<Vec<u64>> = Vec::new();
    for mut r in a_rows {
        assert!(r.iter().all(|&j| (j as usize) < cols), "column past {cols}");
        r.sort_unstable();
        let mut out: Vec<u32> = Vec::with_capacity(r.len());
        for j in r {
            if out.last() == Some(&j) {
                out.pop();
            } else {
                out.push(j);
            }
        }
        if out.len() > row_cap {
            heavy.push(to_dense(&out));
        } else {
            rows.push(out);
        }
    }
    let mut holders: Vec<Vec<u32>> = vec![Vec::new(); cols];
    for (i, r) in rows.iter().enumerate() {
        for &j in r {
            holders[j as usize].push(i as u32);
        }
    }
    let mut alive = vec![true; rows.len()];
    let mut queue: BinaryHeap<Reverse<(u32, u32)>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Reverse((r.len() as u32, i as u32)))
        .collect();
    let mut eliminated = vec![false; cols];
    let mut sparse_rank = 0;
    let mut merged: Vec<u32> = Vec::new();
    let mut added: Vec<u32> = Vec::new();
    let mut pivot_column = vec![0u64; bw];
    while let Some(Reverse((w, r))) = queue.pop() {
        let r = r as usize;
        if !alive[r] || rows[r].len() != w as usize {
            continue; // stale entry
        }
        if w as usize > pivot_weight {
            break;
        }
        alive[r] = false;
        let pivot = std::mem::take(&mut rows[r]);
        let Some(&p) = pivot.iter().min_by_key(|&&j| holders[j as usize].len()) else {
            continue; // a zero row: dependent
        };
        let p = p as usize;
        sparse_rank += 1;
        eliminated[p] = true;
        for r2 in std::mem::take(&mut holders[p]) {
            let r2 = r2 as usize;
            if !alive[r2] || rows[r2].binary_search(&(p as u32)).is_err() {
                continue;
            }
            symmetric_difference(&rows[r2], &pivot, &mut merged, &mut added);
            for &j in &added {
                holders[j as usize].push(r2 as u32);
            }
            std::mem::swap(&mut rows[r2], &mut merged);
            if rows[r2].len() > row_cap {
                heavy.push(to_dense(&rows[r2]));
                rows[r2] = Vec::new();
                alive[r2] = false;
            } else {
                queue.push(Reverse((rows[r2].len() as u32, r2 as u32)));
            }
        }
        for h in &mut heavy {
            if h[p / 64] >> (p % 64) & 1 == 1 {
                for &j in &pivot {
                    flip(h, j as usize);
                }
            }
        }
        if bw > 0 {
            pivot_column.copy_from_slice(&b_columns[p * bw..(p + 1) * bw]);
            for &j in &pivot {
                for (x, y) in b_columns[j as usize * bw..][..bw]
                    .iter_mut()
                    .zip(&pivot_column)
                {
                    *x ^= y;
                }
            }
        }
    }
    // The rest: dense elimination over the columns without a sparse pivot.
    let keep: Vec<usize> = (0..cols).filter(|&j| !eliminated[j]).collect();
    let mut new_index = vec![u32::MAX; cols];
    for (k, &j) in keep.iter().enumerate() {
        new_index[j] = k as u32;
    }
    let rest: Vec<&Vec<u32>> = rows
        .iter()
        .zip(&alive)
        .filter(|(_, a)| **a)
        .map(|(r, _)| r)
        .collect();
    let a_rest = rest.len() + heavy.len();
    let mut m = Gf2Matrix::zeros(a_rest + b_rows, keep.len());
    m.fill_rows(0, a_rest, |i, out| {
        if i < rest.len() {
            for &j in rest[i] {
                let k = new_index[j as usize];
                debug_assert!(k != u32::MAX);
                out[k as usize / 64] ^= 1 << (k % 64);
            }
        } else {
            for (w, &word) in heavy[i - rest.len()].iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let j = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let k = new_index[j];
                    debug_assert!(k != u32::MAX);
                    out[k as usize / 64] |= 1 << (k % 64);
                }
            }
        }
    });
    m.fill_rows_from_columns(a_rest, b_rows, |k, out| {
        out.copy_from_slice(&b_columns[keep[k] * bw..(keep[k] + 1) * bw]);
    });
    drop(b_columns);
    let (rank_rest, rank_all) = m.into_stacked_ranks(a_rest);
    (sparse_rank + rank_rest, sparse_rank + rank_all)
}

/// `out` = the sorted symmetric difference of the sorted lists `a` and `b`; `added` = the
/// members of `b` not in `a`.
fn symmetric_difference(a: &[u32], b: &[u32], out: &mut Vec<u32>, added: &mut Vec<u32>) {
    out.clear();
    added.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                added.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    added.extend_from_slice(&b[j..]);
}

/// The 8-bit parallel bit extract: entry `(m << 8) | x` holds the bits of `x` at the set
/// bits of `m`, packed to the low end in order.
fn pext8_table() -> &'static [u8] {
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
fn mask_bytes(mask: &Window) -> Vec<(usize, u8, u32)> {
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
/// (at most [`PANEL_PIVOTS`] of them).
#[inline]
fn pext_window(win: &Window, bytes: &[(usize, u8, u32)], pext8: &[u8]) -> Coef {
    let mut out = [0u64; COEF_WORDS];
    for &(k, m, offset) in bytes {
        let x = (win[k / 8] >> (8 * (k % 8))) as u8;
        let v = u64::from(pext8[(m as usize) << 8 | x as usize]);
        let (q, r) = (offset as usize / 64, offset % 64);
        out[q] |= v << r;
        if r + m.count_ones() > 64 {
            out[q + 1] |= v >> (64 - r);
        }
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
        // Wide matrices (the slab of `eliminate`): full row rank inside the slab; rows whose
        // ones lie only past the slab; low rank, so that the slab's panels are replayed.
        let rows: Vec<BitVec> = (0..500).map(|_| random_row(4000, 0.5, &mut rng)).collect();
        check(&rows, 4000, 0);
        let mut rows: Vec<BitVec> = (0..300).map(|_| random_row(5000, 0.5, &mut rng)).collect();
        for r in rows.iter_mut().take(40) {
            for j in 0..4500 {
                r.set(j, false);
            }
        }
        rows.swap(3, 250);
        check(&rows, 5000, 0);
        check(&low_rank(200, 3100, 150, 0.5, &mut rng), 3100, 0);
        check(&low_rank(200, 3100, 199, 0.002, &mut rng), 3100, 0);
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

    #[test]
    fn transpose_of_tiles() {
        let mut rng = stream(4, Purpose::Auxiliary, 0);
        let mut a = [0u64; 64];
        for w in &mut a {
            *w = rng.next_u64();
        }
        let mut t = a;
        transpose64(&mut t);
        for r in 0..64 {
            for c in 0..64 {
                assert_eq!(t[c] >> r & 1, a[r] >> c & 1, "({r}, {c})");
            }
        }
        for (r, c) in [(0, 5), (1, 1), (63, 65), (64, 64), (130, 200), (1000, 70)] {
            let rows: Vec<BitVec> = (0..r).map(|_| random_row(c, 0.5, &mut rng)).collect();
            let mut m = Gf2Matrix::zeros(r + 3, c);
            m.fill_rows_from_columns(2, r, |j, out| {
                for (i, row) in rows.iter().enumerate() {
                    if row.get(j) {
                        out[i / 64] |= 1 << (i % 64);
                    }
                }
            });
            for i in 0..r {
                assert_eq!(m.row(i + 2), rows[i], "{r} x {c} row {i}");
            }
            assert_eq!(m.row(0), BitVec::zeros(c));
            assert_eq!(m.row(r + 2), BitVec::zeros(c));
        }
    }

    /// Sparse rows `a` (with the given weights) over `cols` columns and dense rows `b`:
    /// the sparse-then-dense ranks against the reference, for several thresholds.
    fn check_sparse(a: &[Vec<u32>], b: &[BitVec], cols: usize) {
        let dense_a: Vec<BitVec> = a
            .iter()
            .map(|r| {
                let mut v = BitVec::zeros(cols);
                for &j in r {
                    v.flip(j as usize);
                }
                v
            })
            .collect();
        let all: Vec<BitVec> = dense_a.iter().chain(b).cloned().collect();
        let expect = (reference_rank(&dense_a, cols), reference_rank(&all, cols));
        let bw = b.len().div_ceil(64);
        let mut columns = vec![0u64; cols * bw];
        for (i, row) in b.iter().enumerate() {
            for j in 0..cols {
                if row.get(j) {
                    columns[j * bw + i / 64] |= 1 << (i % 64);
                }
            }
        }
        for (weight, cap) in [
            (0, 0),
            (1, 2),
            (3, 6),
            (8, 8),
            (20, 40),
            (usize::MAX, usize::MAX),
        ] {
            let got = sparse_then_dense(cols, a.to_vec(), b.len(), columns.clone(), weight, cap);
            assert_eq!(
                got,
                expect,
                "{} + {} rows x {cols}, thresholds {weight} {cap}",
                a.len(),
                b.len()
            );
        }
        assert_eq!(
            stacked_ranks_sparse(cols, a.to_vec(), b.len(), columns),
            expect
        );
    }

    fn sparse_rows(
        count: usize,
        cols: usize,
        max_weight: usize,
        rng: &mut impl Rng,
    ) -> Vec<Vec<u32>> {
        (0..count)
            .map(|_| {
                let w = rng.random_range(0..=max_weight);
                (0..w).map(|_| rng.random_range(0..cols as u32)).collect()
            })
            .collect()
    }

    #[test]
    fn sparse_then_dense_matches_the_reference() {
        let mut rng = stream(5, Purpose::Auxiliary, 0);
        check_sparse(&[], &[], 0);
        check_sparse(&[vec![], vec![3, 3]], &[], 5);
        for (na, nb, cols, w) in [
            (40, 10, 50, 4),
            (100, 60, 130, 12),
            (300, 100, 250, 3),
            (200, 300, 700, 60),
            (50, 0, 80, 10),
        ] {
            let a = sparse_rows(na, cols, w, &mut rng);
            let b: Vec<BitVec> = (0..nb).map(|_| random_row(cols, 0.5, &mut rng)).collect();
            check_sparse(&a, &b, cols);
        }
        // Dependent rows: sums of others, and B inside A's span.
        let mut a = sparse_rows(60, 90, 5, &mut rng);
        let extra: Vec<Vec<u32>> = (0..30)
            .map(|i| [a[i].clone(), a[i + 1].clone()].concat())
            .collect();
        a.extend(extra);
        let b: Vec<BitVec> = (0..20)
            .map(|i| {
                let mut v = BitVec::zeros(90);
                for &j in a[i].iter().chain(&a[i + 5]) {
                    v.flip(j as usize);
                }
                v
            })
            .collect();
        check_sparse(&a, &b, 90);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn sparse_ranks_match_the_reference(
            na in 0usize..120,
            nb in 0usize..100,
            cols in 1usize..200,
            w in 0usize..30,
            seed in any::<u64>(),
        ) {
            let mut rng = stream(seed, Purpose::Auxiliary, 4);
            let a = sparse_rows(na, cols, w, &mut rng);
            let b: Vec<BitVec> = (0..nb).map(|_| random_row(cols, 0.5, &mut rng)).collect();
            check_sparse(&a, &b, cols);
        }

        /// Matrices much wider than tall, where the slab applies.
        #[test]
        fn wide_rank_matches_the_reference(
            r in 1usize..120,
            c in 1100usize..2600,
            k in 0usize..120,
            density in prop_oneof![Just(0.5), 0.0005f64..0.05],
            seed in any::<u64>(),
        ) {
            let mut rng = stream(seed, Purpose::Auxiliary, 5);
            let rows = if k < r {
                low_rank(r, c, k, density, &mut rng)
            } else {
                (0..r).map(|_| random_row(c, density, &mut rng)).collect()
            };
            let m = Gf2Matrix::from_rows(c, &rows);
            prop_assert_eq!(m.rank(), reference_rank(&rows, c));
        }

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
