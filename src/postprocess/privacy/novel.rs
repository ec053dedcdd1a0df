//! The XOR-only first stage of the additive FFT: polynomial coefficients rewritten in the
//! "novel" polynomial basis of Lin, Chung and Han ("Novel polynomial basis and its
//! application to Reed-Solomon erasure codes", FOCS 2014), and back.
//!
//! For the Cantor basis beta_1, beta_2, ... of GF(2^64) (see `cantor_basis` in the parent
//! module) the subspace polynomial of span(beta_1..beta_j) is `s_j = s_1 o ... o s_1`
//! (`j` times), `s_1(z) = z^2 + z`, `s_0(z) = z`. The novel basis is
//! `X_i(z) = prod over bits j of i of s_j(z)`; coefficient `i` is stored at position
//! `bitrev_m(i)` of a `2^m`-long array, the order the butterflies in the parent module
//! expect. The map is linear over GF(2) bit by bit, so a word may carry two operands (the
//! parent packs the input in the low and the seed in the high 32 bits).
//!
//! Must never depend on anything outside `privacy`: it moves and XORs words, nothing else.
//!
//! # Method
//!
//! [`to_novel_basis_two_term`] is the plain recursion (Gao and Mateer, "Additive fast Fourier
//! transforms over finite fields", IEEE Trans. Inf. Theory 56, 2010, Section III): a Taylor
//! expansion at `z^2 + z` splits `f(z) = f0(z^2 + z) + z f1(z^2 + z)`, then `f0` and `f1` are
//! converted in turn, `O(len log^2 len)` XORs. It is kept as the reference of the tests and
//! as the recipe of the small unrolled kernels ([`SmallPlan`]).
//!
//! [`to_novel_basis`] is the fast conversion (Lin, Chung and Han 2014, Section IV; used for
//! long binary polynomial products by Chen, Cheng, Kuo, Li and Yang, "Faster multiplication
//! for long binary polynomials", arXiv:1708.09746, 2017): take `k`, the largest power of two
//! below `m`, and `tau = 2^k`. For the Cantor basis `s_k(z) = z^tau + z` has two terms, so
//! the Taylor expansion `f = sum_b h_b(z) s_k(z)^b` (`deg h_b < tau`) costs
//! `(len / 2) log2(len / tau)` XORs ([`taylor_expand_sparse`]). Since `s_{k+j} = s_j o s_k`,
//! `X_{a + b tau}(z) = X_a(z) X_b(s_k(z))`: converting every `h_b` (the rows of a
//! `len / tau` x `tau` matrix) and then every column, a polynomial in `s_k`, gives the novel
//! coefficients, in bit-reversed order once the matrix is transposed. At `len = 2^20` that is
//! 40 half-passes over the array instead of the 190 of the plain recursion. Columns are
//! converted eight at a time (one cache line per row, eight independent lanes) and written
//! transposed in the same pass; results alternate between the array and its scratch twin,
//! and each function says where its result landed, so no pass is spent copying.

use super::{PARALLEL_MIN_LEN, join_if};
use rayon::prelude::*;
use seq_macro::seq;

/// Arrays up to this length are converted by an unrolled [`SmallPlan`] in place.
const SMALL_MAX_LEN: usize = 32;

/// Columns are converted this many at a time, side by side.
const LANES: usize = 8;

/// The XOR kernels the short tiles of [`Lanes`] use; the result never depends on it. The
/// parent module passes its backend's choice down, so a hasher forced to the portable
/// backend runs no AVX-512 instruction here either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kernels {
    /// Plain Rust, any CPU (the compiler may still vectorise for the build's target).
    Portable,
    /// One 512-bit register per tile element (AVX-512F). Only for a CPU that has it: the
    /// kernel's entry asserts it.
    Avx512,
}

/// What the conversion works on: a word, or [`LANES`] words of independent columns. The
/// conversion only XORs whole elements.
pub(super) trait XorElem: Copy + Default + Send + Sync {
    /// `self ^= other`, element-wise.
    fn xor_assign(&mut self, other: &Self);

    /// Converts the columns of the `rows x cols` row-major matrix `src` (to the novel basis,
    /// or back when `inverse`; then `src` is read as the transposed `cols x rows` layout and
    /// written as `rows x cols`). The result is transposed relative to the input. Returns
    /// true when the result is in `dst`, false when it is back in `src`.
    fn columns(
        src: &mut [Self],
        dst: &mut [Self],
        rows: usize,
        cols: usize,
        inverse: bool,
        kernels: Kernels,
    ) -> bool;

    /// [`novel_small`] on this element type (the lanes use 512-bit XORs when `kernels`
    /// says so).
    #[inline]
    fn small(a: &mut [Self], inverse: bool, _kernels: Kernels) -> bool {
        novel_small_generic(a, inverse)
    }

    /// Converts every `row_len`-long row of `a` in place (`row_len <= SMALL_MAX_LEN`).
    fn small_rows(a: &mut [Self], row_len: usize, inverse: bool, kernels: Kernels) {
        for row in a.chunks_exact_mut(row_len) {
            novel_small(row, inverse, kernels);
        }
    }
}

impl XorElem for u64 {
    #[inline(always)]
    fn xor_assign(&mut self, other: &Self) {
        *self ^= *other;
    }

    /// Eight rows at a time side by side in lanes (one transpose in, one out), so that each
    /// XOR of the plan moves eight words.
    fn small_rows(a: &mut [u64], row_len: usize, inverse: bool, kernels: Kernels) {
        if row_len < 4 {
            return;
        }
        let mut tile = [Lanes::default(); SMALL_MAX_LEN];
        let tile = &mut tile[..row_len];
        let mut groups = a.chunks_exact_mut(LANES * row_len);
        for group in &mut groups {
            for (j, row) in group.chunks_exact(row_len).enumerate() {
                for (t, &v) in tile.iter_mut().zip(row) {
                    t.0[j] = v;
                }
            }
            novel_small(tile, inverse, kernels);
            for (j, row) in group.chunks_exact_mut(row_len).enumerate() {
                for (v, t) in row.iter_mut().zip(tile.iter()) {
                    *v = t.0[j];
                }
            }
        }
        for row in groups.into_remainder().chunks_exact_mut(row_len) {
            novel_small(row, inverse, kernels);
        }
    }

    fn columns(
        src: &mut [u64],
        dst: &mut [u64],
        rows: usize,
        cols: usize,
        inverse: bool,
        kernels: Kernels,
    ) -> bool {
        debug_assert_eq!(cols % LANES, 0);
        let parallel = src.len() >= PARALLEL_MIN_LEN;
        if !inverse {
            // Group g: columns 8g..8g+8 of src, one cache line per row, become rows
            // 8g..8g+8 of dst, a contiguous band.
            let src = &*src;
            let group = |tile: &mut [Lanes], spare: &mut [Lanes], g: usize, band: &mut [u64]| {
                for (r, t) in tile.iter_mut().enumerate() {
                    t.0.copy_from_slice(&src[r * cols + g * LANES..][..LANES]);
                }
                let converted = if to_novel_basis(tile, spare, kernels) {
                    spare
                } else {
                    tile
                };
                for (j, out) in band.chunks_exact_mut(rows).enumerate() {
                    for (o, t) in out.iter_mut().zip(converted.iter()) {
                        *o = t.0[j];
                    }
                }
            };
            if parallel {
                dst.par_chunks_mut(LANES * rows).enumerate().for_each_init(
                    || (vec![Lanes::default(); rows], vec![Lanes::default(); rows]),
                    |(tile, spare), (g, band)| group(tile, spare, g, band),
                );
            } else {
                with_tile(rows, |tile, spare| {
                    for (g, band) in dst.chunks_mut(LANES * rows).enumerate() {
                        group(tile, spare, g, band);
                    }
                });
            }
        } else {
            // The mirror image: group g reads the contiguous band of rows 8g..8g+8 of the
            // `cols x rows` src and writes one line into every row of the `rows x cols` dst.
            // For threads, every dst row is cut into `pieces` column ranges.
            let pieces = if parallel {
                (cols / LANES).min(4 * rayon::current_num_threads()).max(1)
            } else {
                1
            };
            let groups_per_piece = (cols / LANES).div_ceil(pieces);
            let piece_cols = groups_per_piece * LANES;
            let mut segments: Vec<Vec<&mut [u64]>> = (0..pieces).map(|_| Vec::new()).collect();
            for row in dst.chunks_mut(cols) {
                for (p, seg) in row.chunks_mut(piece_cols).enumerate() {
                    segments[p].push(seg);
                }
            }
            let src = &*src;
            let piece = |(p, mut segs): (usize, Vec<&mut [u64]>)| {
                let first_group = p * groups_per_piece;
                let groups = segs.first().map_or(0, |s| s.len() / LANES);
                with_tile(rows, |tile, spare| {
                    for local in 0..groups {
                        let band = &src[(first_group + local) * LANES * rows..][..LANES * rows];
                        for (j, column) in band.chunks_exact(rows).enumerate() {
                            for (t, &v) in tile.iter_mut().zip(column) {
                                t.0[j] = v;
                            }
                        }
                        let converted: &[Lanes] =
                            if from_novel_basis(&mut *tile, &mut *spare, kernels) {
                                spare
                            } else {
                                tile
                            };
                        for (seg, t) in segs.iter_mut().zip(converted.iter()) {
                            seg[local * LANES..][..LANES].copy_from_slice(&t.0);
                        }
                    }
                });
            };
            if parallel {
                segments.into_par_iter().enumerate().for_each(piece);
            } else {
                segments.into_iter().enumerate().for_each(piece);
            }
        }
        true
    }
}

/// [`LANES`] words from [`LANES`] different columns, converted side by side.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(align(64))]
pub(super) struct Lanes(pub(super) [u64; LANES]);

impl XorElem for Lanes {
    #[inline(always)]
    fn xor_assign(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a ^= *b;
        }
    }

    /// With [`Kernels::Avx512`], compiled for AVX-512: one register per element, one XOR
    /// per op (otherwise each op is eight scalar XORs).
    #[inline]
    fn small(a: &mut [Lanes], inverse: bool, kernels: Kernels) -> bool {
        match kernels {
            Kernels::Avx512 => super::clmul::lanes_small(a, inverse),
            Kernels::Portable => novel_small_generic(a, inverse),
        }
    }

    fn columns(
        src: &mut [Lanes],
        dst: &mut [Lanes],
        rows: usize,
        cols: usize,
        inverse: bool,
        kernels: Kernels,
    ) -> bool {
        // Tiles of lanes only occur once a column is long (more than SMALL_MAX_LEN rows):
        // a plain transpose and row conversions.
        if inverse {
            let in_dst = for_each_row(src, dst, rows, true, kernels);
            let (from, to) = if in_dst { (dst, src) } else { (src, dst) };
            transpose(from, to, cols, rows);
            !in_dst
        } else {
            transpose(src, dst, rows, cols);
            !for_each_row(dst, src, rows, false, kernels)
        }
    }
}

/// Runs `f` on a zeroed tile of `rows` lanes and a spare tile of the same size, on the
/// stack when short (sized exactly, as zeroing is the main cost of a short call).
#[inline]
fn with_tile(rows: usize, f: impl FnOnce(&mut [Lanes], &mut [Lanes])) {
    #[inline(always)]
    fn on_stack<const R: usize>(f: impl FnOnce(&mut [Lanes], &mut [Lanes])) {
        let mut tile = [Lanes::default(); R];
        let mut spare = [Lanes::default(); R];
        f(&mut tile, &mut spare);
    }
    match rows {
        2 => on_stack::<2>(f),
        4 => on_stack::<4>(f),
        8 => on_stack::<8>(f),
        16 => on_stack::<16>(f),
        32 => on_stack::<32>(f),
        _ => f(
            &mut vec![Lanes::default(); rows],
            &mut vec![Lanes::default(); rows],
        ),
    }
}

/// Converts `a` (monomial coefficients, length a power of two) to the novel basis in
/// bit-reversed order (module docs). `scratch` has the same length; returns true when the
/// result is in `scratch`, false when it is in `a`. `kernels` picks the XOR kernels of the
/// short tiles; the result does not depend on it.
pub(super) fn to_novel_basis<E: XorElem>(a: &mut [E], scratch: &mut [E], kernels: Kernels) -> bool {
    if novel_small(a, false, kernels) {
        return false;
    }
    let (tau, rows) = split(a.len());
    taylor_expand_sparse(a, tau);
    let rows_in_scratch = for_each_row(a, scratch, tau, false, kernels);
    let (x, y) = if rows_in_scratch {
        (scratch, a)
    } else {
        (a, scratch)
    };
    let in_y = E::columns(x, y, rows, tau, false, kernels);
    in_y != rows_in_scratch
}

/// Inverse of [`to_novel_basis`], with the same convention for where the result lands.
pub(super) fn from_novel_basis<E: XorElem>(
    a: &mut [E],
    scratch: &mut [E],
    kernels: Kernels,
) -> bool {
    if novel_small(a, true, kernels) {
        return false;
    }
    let (tau, rows) = split(a.len());
    let columns_in_scratch = E::columns(a, scratch, rows, tau, true, kernels);
    let (x, y) = if columns_in_scratch {
        (scratch, a)
    } else {
        (a, scratch)
    };
    let rows_in_y = for_each_row(x, y, tau, true, kernels);
    if rows_in_y {
        taylor_unexpand_sparse(y, tau);
    } else {
        taylor_unexpand_sparse(x, tau);
    }
    rows_in_y != columns_in_scratch
}

/// `(tau, len / tau)` with `tau = 2^k`, `k` the largest power of two below `log2(len)`.
fn split(len: usize) -> (usize, usize) {
    debug_assert!(len.is_power_of_two() && len > SMALL_MAX_LEN);
    let m = len.trailing_zeros();
    let k = 1u32 << (31 - (m - 1).leading_zeros());
    (1usize << k, len >> k)
}

/// Converts (or, when `inverse`, converts back) every `row_len`-long row of `a`, each with
/// the matching row of `scratch`. Returns true when the results are in `scratch` (the same
/// for every row, as it depends on the length only).
fn for_each_row<E: XorElem>(
    a: &mut [E],
    scratch: &mut [E],
    row_len: usize,
    inverse: bool,
    kernels: Kernels,
) -> bool {
    let parallel = a.len() >= PARALLEL_MIN_LEN;
    if row_len <= SMALL_MAX_LEN {
        let rows = |a: &mut [E]| E::small_rows(a, row_len, inverse, kernels);
        if parallel {
            a.par_chunks_mut(PARALLEL_MIN_LEN / 2).for_each(rows);
        } else {
            rows(a);
        }
        return false;
    }
    let f = if inverse {
        from_novel_basis::<E>
    } else {
        to_novel_basis::<E>
    };
    if parallel {
        let flags: Vec<bool> = a
            .par_chunks_mut(row_len)
            .zip(scratch.par_chunks_mut(row_len))
            .map(|(row, s)| f(row, s, kernels))
            .collect();
        flags[0]
    } else {
        let mut in_scratch = false;
        for (row, s) in a.chunks_mut(row_len).zip(scratch.chunks_mut(row_len)) {
            in_scratch = f(row, s, kernels);
        }
        in_scratch
    }
}

/// `dst[c * rows + r] = src[r * cols + c]`: the `rows x cols` row-major matrix `src`
/// transposed into `dst`, in 8 x 8 tiles.
fn transpose<E: XorElem>(src: &[E], dst: &mut [E], rows: usize, cols: usize) {
    const T: usize = 8;
    debug_assert_eq!(src.len(), rows * cols);
    if rows < T || cols < T {
        for r in 0..rows {
            for c in 0..cols {
                dst[c * rows + r] = src[r * cols + c];
            }
        }
        return;
    }
    // Each band is T rows of dst, i.e. T columns of src.
    let band = |(b, out): (usize, &mut [E])| {
        let c0 = b * T;
        for r0 in (0..rows).step_by(T) {
            for r in 0..T {
                let line = &src[(r0 + r) * cols + c0..][..T];
                for (c, &v) in line.iter().enumerate() {
                    out[c * rows + r0 + r] = v;
                }
            }
        }
    };
    if src.len() >= PARALLEL_MIN_LEN {
        dst.par_chunks_mut(T * rows).enumerate().for_each(band);
    } else {
        dst.chunks_mut(T * rows).enumerate().for_each(band);
    }
}

/// `dst[i] ^= src[i]`, on the rayon pool for long slices.
fn xor_into<E: XorElem>(dst: &mut [E], src: &[E]) {
    if dst.len() >= PARALLEL_MIN_LEN {
        dst.par_chunks_mut(1 << 14)
            .zip(src.par_chunks(1 << 14))
            .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(x, y)| x.xor_assign(y)));
    } else {
        dst.iter_mut().zip(src).for_each(|(x, y)| x.xor_assign(y));
    }
}

/// Taylor expansion at `z^tau + z` (`tau` a power of two, at least 2), in place:
/// afterwards block `b` (elements `b tau .. (b + 1) tau`) holds `h_b` with
/// `f = sum_b h_b(z) (z^tau + z)^b`. One step with `q = len / (2 tau)` and
/// `D = (z^tau + z)^q = z^{tau q} + z^q` (Frobenius) writes `f = A + z^{tau q} B` as
/// `R + D Q`: with `B_hi` the top `q` coefficients of `B`, `Q = B + B_hi` and
/// `R = A + z^q (B_lo + B_hi)`, both of degree `< tau q`; then `R` and `Q` are expanded
/// with `q / 2` (Gao and Mateer 2010, Section IV, for a two-term divisor).
fn taylor_expand_sparse<E: XorElem>(a: &mut [E], tau: usize) {
    let len = a.len();
    if len <= tau {
        return;
    }
    let half = len / 2;
    let q = half / tau;
    let (lo, hi) = a.split_at_mut(half);
    {
        let (hi_front, hi_back) = hi.split_at_mut(half - q);
        xor_into(&mut hi_front[..q], hi_back);
    }
    xor_into(&mut lo[q..], &hi[..half - q]);
    join_if(
        len >= PARALLEL_MIN_LEN,
        || taylor_expand_sparse(lo, tau),
        || taylor_expand_sparse(hi, tau),
    );
}

/// Inverse of [`taylor_expand_sparse`].
fn taylor_unexpand_sparse<E: XorElem>(a: &mut [E], tau: usize) {
    let len = a.len();
    if len <= tau {
        return;
    }
    let half = len / 2;
    let q = half / tau;
    let (lo, hi) = a.split_at_mut(half);
    join_if(
        len >= PARALLEL_MIN_LEN,
        || taylor_unexpand_sparse(lo, tau),
        || taylor_unexpand_sparse(hi, tau),
    );
    xor_into(&mut lo[q..], &hi[..half - q]);
    let (hi_front, hi_back) = hi.split_at_mut(half - q);
    xor_into(&mut hi_front[..q], hi_back);
}

/// The two-term recursion on `L` elements, recorded once at compile time as a list of
/// element XORs `x[d] ^= x[s]` (in the elements' original numbering) and the final
/// permutation (position `i` ends up holding original element `perm[i]`). Applying the ops
/// forwards and then the permutation is [`to_novel_basis_two_term`]; the inverse loads
/// through the permutation and applies the ops backwards (each op is its own inverse).
pub(super) struct SmallPlan<const L: usize, const OPS: usize> {
    pub(super) ops: [(u8, u8); OPS],
    pub(super) perm: [u8; L],
}

/// Number of XORs of the two-term recursion on `len` elements.
const fn small_ops(len: usize) -> usize {
    if len <= 2 {
        0
    } else {
        (len / 2) * (len.trailing_zeros() as usize - 1) + 2 * small_ops(len / 2)
    }
}

const fn small_plan<const L: usize, const OPS: usize>() -> SmallPlan<L, OPS> {
    let mut ops = [(0u8, 0u8); OPS];
    let mut count = 0;
    let mut pos = [0u8; L];
    let mut i = 0;
    while i < L {
        pos[i] = i as u8;
        i += 1;
    }
    let mut size = L;
    while size >= 4 {
        let mut base = 0;
        while base < L {
            // Taylor expansion of the block at z^2 + z (see `taylor_expand`) ...
            let mut block = size;
            while block >= 4 {
                let q = block / 4;
                let mut b = base;
                while b < base + size {
                    let mut i = 0;
                    while i < q {
                        ops[count] = (pos[b + 2 * q + i], pos[b + 3 * q + i]);
                        ops[count + 1] = (pos[b + q + i], pos[b + 2 * q + i]);
                        count += 2;
                        i += 1;
                    }
                    b += block;
                }
                block /= 2;
            }
            // ... then even positions to the first half, odd to the second (renaming only).
            let old = pos;
            let half = size / 2;
            let mut i = 0;
            while i < half {
                pos[base + i] = old[base + 2 * i];
                pos[base + half + i] = old[base + 2 * i + 1];
                i += 1;
            }
            base += size;
        }
        size /= 2;
    }
    assert!(count == OPS);
    SmallPlan { ops, perm: pos }
}

pub(super) const PLAN_4: SmallPlan<4, { small_ops(4) }> = small_plan();
pub(super) const PLAN_8: SmallPlan<8, { small_ops(8) }> = small_plan();
pub(super) const PLAN_16: SmallPlan<16, { small_ops(16) }> = small_plan();
pub(super) const PLAN_32: SmallPlan<32, { small_ops(32) }> = small_plan();

/// Converts a short `a` (at most [`SMALL_MAX_LEN`] elements) in place with its
/// [`SmallPlan`]; returns false, doing nothing, when `a` is longer.
#[inline]
fn novel_small<E: XorElem>(a: &mut [E], inverse: bool, kernels: Kernels) -> bool {
    E::small(a, inverse, kernels)
}

/// [`novel_small`] for any element type, compiled for the caller's target features.
#[inline(always)]
pub(super) fn novel_small_generic<E: XorElem>(a: &mut [E], inverse: bool) -> bool {
    match a.len() {
        0..=2 => {}
        4 => apply_plan_4(a, inverse),
        8 => apply_plan_8(a, inverse),
        16 => apply_plan_16(a, inverse),
        32 => apply_plan_32(a, inverse),
        _ => return false,
    }
    true
}

/// `apply_plan_L`: the plan of `L` elements with every op written out (`seq!`), so that the
/// element indices are constants and the elements stay in registers.
macro_rules! apply_plan {
    ($name:ident, $plan:ident, $len:literal, $ops:literal) => {
        #[inline(always)]
        fn $name<E: XorElem>(a: &mut [E], inverse: bool) {
            let a: &mut [E; $len] = (&mut a[..$len]).try_into().expect("length checked");
            let mut x = [E::default(); $len];
            if inverse {
                seq!(I in 0..$len {
                    x[$plan.perm[I] as usize] = a[I];
                });
                seq!(K in 0..$ops {
                    let (d, s) = $plan.ops[$ops - 1 - K];
                    let v = x[s as usize];
                    x[d as usize].xor_assign(&v);
                });
                *a = x;
            } else {
                x = *a;
                seq!(K in 0..$ops {
                    let (d, s) = $plan.ops[K];
                    let v = x[s as usize];
                    x[d as usize].xor_assign(&v);
                });
                seq!(I in 0..$len {
                    a[I] = x[$plan.perm[I] as usize];
                });
            }
        }
    };
}

apply_plan!(apply_plan_4, PLAN_4, 4, 2);
apply_plan!(apply_plan_8, PLAN_8, 8, 12);
apply_plan!(apply_plan_16, PLAN_16, 16, 48);
apply_plan!(apply_plan_32, PLAN_32, 32, 160);

/// [`to_novel_basis`] by the plain two-term recursion (module docs); always in place.
/// `scratch` needs `a.len() / 2` elements.
#[cfg(test)]
pub(super) fn to_novel_basis_two_term(a: &mut [u64], scratch: &mut [u64]) {
    let len = a.len();
    if len <= 2 {
        return;
    }
    taylor_expand(a);
    deinterleave(a, scratch);
    let half = len / 2;
    let (lo, hi) = a.split_at_mut(half);
    let (scratch_lo, scratch_hi) = scratch.split_at_mut(half / 2);
    to_novel_basis_two_term(lo, scratch_lo);
    to_novel_basis_two_term(hi, scratch_hi);
}

/// Taylor expansion at z^2 + z, in place: afterwards positions 2i and 2i + 1 hold g_i0 and
/// g_i1 with f(z) = sum_i (g_i0 + g_i1 z) (z^2 + z)^i. With q = len / 4 and
/// (z^2 + z)^q = z^{2q} + z^q, the quarters [S0 S1 S2 S3] become [S0, S1+S2+S3, S2+S3, S3],
/// i.e. f = h0 + (z^2 + z)^q h1 with h0, h1 the two halves, which are then expanded in turn.
#[cfg(test)]
fn taylor_expand(a: &mut [u64]) {
    let len = a.len();
    if len < 4 {
        return;
    }
    let q = len / 4;
    for i in 0..q {
        a[2 * q + i] ^= a[3 * q + i];
        a[q + i] ^= a[2 * q + i];
    }
    let (h0, h1) = a.split_at_mut(len / 2);
    taylor_expand(h0);
    taylor_expand(h1);
}

/// Even positions to the first half, odd positions to the second (`scratch`: len / 2).
#[cfg(test)]
fn deinterleave(a: &mut [u64], scratch: &mut [u64]) {
    let half = a.len() / 2;
    let scratch = &mut scratch[..half];
    for (s, pair) in scratch.iter_mut().zip(a.chunks_exact(2)) {
        *s = pair[1];
    }
    for i in 0..half {
        a[i] = a[2 * i];
    }
    a[half..].copy_from_slice(scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The kernels this CPU can run: always the portable ones, and AVX-512 where present.
    fn kernels_here() -> Vec<Kernels> {
        let mut kernels = vec![Kernels::Portable];
        if super::super::clmul::wide_available() {
            kernels.push(Kernels::Avx512);
        }
        kernels
    }

    /// Runs the fast conversion and returns its result wherever it landed.
    fn fast_with(mut a: Vec<u64>, kernels: Kernels) -> Vec<u64> {
        let mut scratch = vec![0; a.len()];
        if to_novel_basis(&mut a, &mut scratch, kernels) {
            scratch
        } else {
            a
        }
    }

    fn fast(a: Vec<u64>) -> Vec<u64> {
        fast_with(a, Kernels::Portable)
    }

    fn fast_inverse_with(mut a: Vec<u64>, kernels: Kernels) -> Vec<u64> {
        let mut scratch = vec![0; a.len()];
        if from_novel_basis(&mut a, &mut scratch, kernels) {
            scratch
        } else {
            a
        }
    }

    fn fast_inverse(a: Vec<u64>) -> Vec<u64> {
        fast_inverse_with(a, Kernels::Portable)
    }

    #[test]
    fn plans_have_the_recursion_op_counts() {
        // (len / 2) log2(len / 2) + 2 T(len / 2): 2, 12, 48, 160 XORs.
        assert_eq!(
            [small_ops(4), small_ops(8), small_ops(16), small_ops(32)],
            [2, 12, 48, 160]
        );
    }

    #[test]
    fn fast_conversion_equals_the_two_term_recursion() {
        // The novel-basis coefficients are unique, so any correct method gives the same
        // words; every length up to 2^15 crosses each code path (small plans, one and two
        // levels of row/column splitting, tiles on the stack and on the heap).
        // Both kernel sets this CPU has.
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(11);
        for log_len in 0..=15 {
            let len = 1usize << log_len;
            let input: Vec<u64> = (0..len).map(|_| rng.next_u64()).collect();
            let mut expect = input.clone();
            let mut scratch = vec![0; len];
            to_novel_basis_two_term(&mut expect, &mut scratch);
            for kernels in kernels_here() {
                let got = fast_with(input.clone(), kernels);
                assert_eq!(got, expect, "{kernels:?} len {len}");
                assert_eq!(
                    fast_inverse_with(got, kernels),
                    input,
                    "{kernels:?} round trip at len {len}"
                );
            }
        }
    }

    #[test]
    fn large_parallel_conversion_round_trips() {
        // 2^21 elements: rows of 2^16 on the pool, columns of 32 words; and the same on a
        // one-thread pool gives the same words.
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(12);
        let input: Vec<u64> = (0..1usize << 21).map(|_| rng.next_u64()).collect();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = two.install(|| fast(input.clone()));
        let b = one.install(|| fast(input.clone()));
        assert_eq!(a, b);
        assert_eq!(two.install(|| fast_inverse(a)), input);
    }

    #[test]
    fn lane_kernels_agree_with_the_portable_plans() {
        // The AVX-512 kernel of Lanes::small against the portable plans, the reference.
        if !kernels_here().contains(&Kernels::Avx512) {
            use std::io::Write;
            // Written past the test harness's capture, so the skip is visible.
            let _ = writeln!(
                std::io::stderr(),
                "note: lane_kernels_agree_with_the_portable_plans: this CPU lacks AVX-512F \
                 and VPCLMULQDQ; only the portable kernels were checked"
            );
        }
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(14);
        for len in [4, 8, 16, 32] {
            for inverse in [false, true] {
                let tile: Vec<Lanes> = (0..len)
                    .map(|_| Lanes(std::array::from_fn(|_| rng.next_u64())))
                    .collect();
                let mut expect = tile.clone();
                assert!(novel_small_generic(&mut expect, inverse));
                for kernels in kernels_here() {
                    let mut got = tile.clone();
                    assert!(Lanes::small(&mut got, inverse, kernels));
                    assert_eq!(got, expect, "{kernels:?} len {len} inverse {inverse}");
                }
            }
        }
    }

    #[test]
    fn lanes_convert_each_column_like_a_word() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(13);
        for log_len in [3, 6, 7] {
            let len = 1usize << log_len;
            let tile: Vec<Lanes> = (0..len)
                .map(|_| Lanes(std::array::from_fn(|_| rng.next_u64())))
                .collect();
            let mut converted = tile.clone();
            let mut spare = vec![Lanes::default(); len];
            let result = if to_novel_basis(&mut converted, &mut spare, Kernels::Portable) {
                spare
            } else {
                converted
            };
            for lane in 0..LANES {
                let column: Vec<u64> = tile.iter().map(|t| t.0[lane]).collect();
                let got: Vec<u64> = result.iter().map(|t| t.0[lane]).collect();
                assert_eq!(got, fast(column), "len {len} lane {lane}");
            }
        }
    }
}
