//! What an eavesdropper can compute about the final key: the exact number of independent
//! linear functions of the final key that follow from what she knows.
//!
//! # Model
//!
//! Over GF(2), Alice's sifted key `k` has `n` bits. Eve knows
//!
//! - the values of the bits at the positions of a set `K` (from the attack; unit rows `E`),
//! - every parity Alice disclosed during Cascade, each the XOR of `k` over a set of original
//!   key positions (rows `P`, recorded by [`cascade::reconcile_disclosing`]), and the
//!   verification tag, whose `t` bits are `V k` for the tag's Toeplitz matrix `V`
//!   ([`verify::verify_disclosing`]); the tag rows belong to `P` as well,
//!
//! and the final key is `T k`, with `T` the `l x n` Toeplitz matrix of privacy amplification
//! ([`privacy::ToeplitzRows`]). What Eve knows is the row space `R` of `[P; E]`: exactly the
//! linear functions `r k`, `r in R`, are determined by her information (the value of any
//! other linear function is uniform given it, since `k` is uniform). A function `c^T (T k)` of
//! the final key is therefore known to her if and only if `c^T T` lies in `R`, and these `c`
//! form a subspace of GF(2)^l of dimension
//!
//! ```text
//! known   = l - unknown,
//! unknown = rank([T; P; E]) - rank([P; E])
//! ```
//!
//! (linear algebra: the map `c -> c^T T` sends GF(2)^l onto the row space of `T`; the
//! preimage of `rowspace(T) ∩ R` has dimension `dim ker(T^T) + dim(rowspace(T) ∩ R)`, and
//! `dim(rowspace(T) ∩ R) = rank(T) + rank([P; E]) - rank([T; P; E])`). When `T` has full row
//! rank (rank `l`, the usual case for `l <= n`), `known = rank(T) + rank([P; E]) - rank([T;
//! P; E])`, the dimension of `rowspace(T) ∩ R`. When it does not, the `l - rank(T)` functions
//! with `c^T T = 0` are constant zero and counted as known: they carry no secret.
//!
//! `unknown` is the count issue 16 calls "she knows `rank([T;P;E]) − rank([P;E])` independent
//! linear functions": that expression is in fact the number of final-key dimensions she does
//! **not** know. Sanity cases (tested): with `K` = every position, `rank([P; E]) =
//! rank([T; P; E]) = n`, so `unknown = 0` and `known = l`; with `K` and `P` empty,
//! `unknown = rank(T)` and `known = l - rank(T)` (0 for a full-rank `T`).
//!
//! # Computation
//!
//! The unit rows of `E` eliminate their columns: with `U` the positions Eve does not know,
//! `rank([P; E]) = |K| + rank(P_U)` and `rank([T; P; E]) = |K| + rank([T_U; P_U])`, where
//! `X_U` keeps the columns in `U`. Both ranks of `[P_U; T_U]` come from one elimination,
//! pivots from `P_U` first, then `T_U` reduced modulo `P_U`
//! ([`stacked_ranks_sparse`]): Cascade's parities are mostly sparse (blocks of a few
//! dozen bits and their halves) and are eliminated as sparse rows, while `T_U` is held by
//! columns, which for a Toeplitz matrix are slices of the seed
//! ([`ToeplitzRows::column_words_into`]), so a sparse pivot row reduces all `l` rows of `T`
//! at once by one column XOR per one of its bits; what remains (the reduced `T_U`, the
//! long parities of late passes, the tag) is eliminated densely by the Method of Four
//! Russians ([`super::gf2::Gf2Matrix`]). The dense part, about `l x (|U| - rank(P_U))`,
//! dominates: its cost grows like `l^2 (|U| - rank(P_U)) / 512` word operations, which bounds
//! the block size: [`MAX_EXACT_BITS`].
//!
//! Must never depend on `physics`, `protocol`, `analysis` or `report`: it sees bit masks,
//! disclosed rows and seeds only (postprocess sees bits and parameters only).
//!
//! [`cascade::reconcile_disclosing`]: super::cascade::reconcile_disclosing
//! [`verify::verify_disclosing`]: super::verify::verify_disclosing
//! [`privacy::ToeplitzRows`]: super::privacy::ToeplitzRows
//! [`ToeplitzRows::column_words_into`]: super::privacy::ToeplitzRows::column_words_into

use rayon::prelude::*;

use crate::bits::BitVec;
use crate::error::{Error, Result};

use super::cascade::DisclosedParities;
use super::gf2::stacked_ranks_sparse;
use super::privacy::ToeplitzRows;
use super::verify::ToeplitzSeed;

/// Largest block (sifted key bits n) for which [`known_final_key_functions`] computes the
/// exact count. Above it the function checks its inputs, returns `Ok(None)` without doing
/// the work, and the caller reports the count as not computed (`null`, with the reason).
///
/// Chosen from measurements (`benches/leakage.rs`; one core of the shared 2-core x86-64
/// development machine, November 2026), at n = 100 000:
///
/// | case | time | peak memory |
/// |---|---|---|
/// | the issue's size: \|K\| = 0.4 n, \|P\| ≈ 0.2 n (Cascade `yanetal`, Q = 3 %), l = 0.2 n | 1.8-2.5 s | 0.3 GB |
/// | nothing known (\|K\| = 0), l = 0.2 n | 2.2 s | 0.5 GB |
/// | nothing known, l = n / 2 (the hardest shape at this size) | 18-21 s | 1.2 GB |
///
/// The dense part dominates and costs about `l^2 (n - |K| - rank(P_U)) / 512` word
/// operations, cubic in n at fixed proportions: at 2^17 bits the hardest shape took 42 s and
/// 2.1 GB, more than a run should spend on one block's audit.
pub const MAX_EXACT_BITS: usize = 100_000;

/// The count of final-key functions known to the eavesdropper (module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownFunctions {
    /// Dimension of the space of linear functions of the final key Eve can compute:
    /// `l + rank([P; E]) - rank([T; P; E])`.
    pub known: u64,
    /// Final-key dimensions Eve does not know: `rank([T; P; E]) - rank([P; E])`
    /// (`known + unknown = final_key_bits`).
    pub unknown: u64,
    /// Final key length l (rows of `T`).
    pub final_key_bits: u64,
    /// rank(\[P; E\]): the independent linear functions of the sifted key Eve knows.
    pub rank_disclosed: u64,
    /// |K|: sifted key bits Eve knows outright (rows of `E`).
    pub known_key_bits: u64,
    /// Rows of `P`: disclosed parities and tag bits.
    pub disclosed_rows: u64,
}

/// The count for one block as the pipeline has it: `known` marks the sifted key bits Eve
/// knows (length n), `cascade` the parities Cascade disclosed
/// ([`super::cascade::reconcile_disclosing`]), `tag` the verification tag's seed
/// ([`super::verify::verify_disclosing`]; `None` if no tag was sent), and
/// `(pa_seed, final_key_bits)` privacy amplification's Toeplitz matrix as
/// [`super::privacy::ToeplitzHasher::hash`] applies it (`pa_seed` from
/// [`super::privacy::toeplitz_seed`]`(n, l, ..)`).
///
/// Returns `Ok(None)` when n exceeds [`MAX_EXACT_BITS`] (the count is not computed). Large
/// matrices use the current rayon pool; the result does not depend on the thread count.
///
/// # Errors
/// [`Error::InvalidArgument`] when the inputs disagree on n or the seed length is wrong.
pub fn known_final_key_functions(
    known: &BitVec,
    cascade: &DisclosedParities,
    tag: Option<&ToeplitzSeed>,
    pa_seed: &BitVec,
    final_key_bits: usize,
) -> Result<Option<KnownFunctions>> {
    let n = known.len();
    if cascade.key_bits() != n {
        return Err(Error::InvalidArgument(format!(
            "eavesdropper's knowledge: the mask has {n} bits but Cascade reconciled {}",
            cascade.key_bits()
        )));
    }
    if let Some(tag) = tag
        && tag.key_bits() != n
    {
        return Err(Error::InvalidArgument(format!(
            "eavesdropper's knowledge: the mask has {n} bits but the verification tag covers {}",
            tag.key_bits()
        )));
    }
    let seed_bits = (n + final_key_bits).saturating_sub(1);
    if pa_seed.len() != seed_bits {
        return Err(Error::InvalidArgument(format!(
            "eavesdropper's knowledge: the privacy amplification seed has {} bits, but {n} \
             input bits hashed to {final_key_bits} need n + l - 1 = {seed_bits}",
            pa_seed.len()
        )));
    }
    if n > MAX_EXACT_BITS {
        return Ok(None);
    }
    let pa = ToeplitzRows::new(pa_seed, n, final_key_bits)?;
    let columns = Columns::new(known);
    // Each pass's source table, to turn a shuffled range into original positions.
    let tables: Vec<Vec<u32>> = (0..cascade.passes())
        .into_par_iter()
        .map(|p| cascade.shuffle(p).source_table())
        .collect();
    let ranges = cascade.ranges();
    let mut p_rows: Vec<Vec<u32>> = ranges
        .par_iter()
        .map(|r| columns.sparse(&tables[r.pass as usize][r.start as usize..r.end as usize]))
        .collect();
    drop(tables);
    if let Some(tag) = tag {
        p_rows.extend((0..tag.tag_bits() as usize).map(|i| columns.dense(&tag.row(i))));
    }
    let l = final_key_bits;
    let lw = l.div_ceil(64);
    let mut t_columns = vec![0u64; columns.unknown * lw];
    if lw > 0 {
        t_columns
            .par_chunks_mut(lw)
            .zip(columns.positions.par_iter())
            .for_each(|(out, &x)| pa.column_words_into(x as usize, out));
    }
    Ok(Some(count(&columns, p_rows, l, t_columns)))
}

/// The count from explicit rows over n = `known.len()` bits: `disclosed` are the rows of
/// `P`, `final_rows` the rows of `T`. For any source of rows (and for tests); no size limit.
///
/// # Errors
/// [`Error::InvalidArgument`] when a row does not have n bits.
pub fn known_functions_from_rows(
    known: &BitVec,
    disclosed: &[BitVec],
    final_rows: &[BitVec],
) -> Result<KnownFunctions> {
    let n = known.len();
    if let Some(bad) = disclosed.iter().chain(final_rows).find(|r| r.len() != n) {
        return Err(Error::InvalidArgument(format!(
            "eavesdropper's knowledge: a row has {} bits, the key {n}",
            bad.len()
        )));
    }
    let columns = Columns::new(known);
    let p_rows: Vec<Vec<u32>> = disclosed.iter().map(|r| columns.dense(r)).collect();
    let l = final_rows.len();
    let lw = l.div_ceil(64);
    let mut t_columns = vec![0u64; columns.unknown * lw];
    for (i, row) in final_rows.iter().enumerate() {
        for c in columns.dense(row) {
            t_columns[c as usize * lw + i / 64] |= 1 << (i % 64);
        }
    }
    Ok(count(&columns, p_rows, l, t_columns))
}

/// Both ranks of `[P_U; T_U]` (`P_U` given by sparse rows over the unknown columns, `T_U` by
/// its columns) and the count.
fn count(
    columns: &Columns,
    p_rows: Vec<Vec<u32>>,
    l: usize,
    t_columns: Vec<u64>,
) -> KnownFunctions {
    let disclosed_rows = p_rows.len() as u64;
    let (rank_p, rank_all) = stacked_ranks_sparse(columns.unknown, p_rows, l, t_columns);
    let k = columns.known as u64;
    let unknown = (rank_all - rank_p) as u64;
    KnownFunctions {
        known: l as u64 - unknown,
        unknown,
        final_key_bits: l as u64,
        rank_disclosed: k + rank_p as u64,
        known_key_bits: k,
        disclosed_rows,
    }
}

/// The columns Eve does not know, numbered in order.
struct Columns {
    /// Matrix column of each key position, `u32::MAX` for a known one.
    column_of: Vec<u32>,
    /// Key position of each matrix column.
    positions: Vec<u32>,
    known: usize,
    unknown: usize,
}

impl Columns {
    fn new(known: &BitVec) -> Columns {
        let n = known.len();
        let mut column_of = vec![u32::MAX; n];
        let mut positions = Vec::with_capacity(n - known.count_ones());
        for (x, c) in column_of.iter_mut().enumerate() {
            if !known.get(x) {
                *c = positions.len() as u32;
                positions.push(x as u32);
            }
        }
        Columns {
            column_of,
            known: n - positions.len(),
            unknown: positions.len(),
            positions,
        }
    }

    /// The matrix columns of the unknown ones among key positions `xs`.
    fn sparse(&self, xs: &[u32]) -> Vec<u32> {
        xs.iter()
            .map(|&x| self.column_of[x as usize])
            .filter(|&c| c != u32::MAX)
            .collect()
    }

    /// The matrix columns of the unknown positions where `row` (n bits) has a 1.
    fn dense(&self, row: &BitVec) -> Vec<u32> {
        let mut out = Vec::new();
        for (w, &word) in row.words().iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let x = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let c = self.column_of[x];
                if c != u32::MAX {
                    out.push(c);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postprocess::cascade::{
        CascadeVariant, ErrorModel, ReconcileOptions, plant_errors, random_key,
        reconcile_disclosing,
    };
    use crate::postprocess::gf2::Gf2Matrix;
    use crate::postprocess::privacy::toeplitz_seed;
    use crate::postprocess::verify::verify_disclosing;
    use crate::rng::{Purpose, stream};
    use proptest::prelude::*;
    use rand::{Rng, RngExt};

    fn bits_of(v: u32, n: usize) -> BitVec {
        BitVec::from_bools(&(0..n).map(|j| v >> j & 1 == 1).collect::<Vec<_>>())
    }

    /// Brute force, independent of any elimination: the span of [P; E] as a set of bit
    /// patterns (closing {0} under XOR with each row), then every c in GF(2)^l tested for
    /// c^T T in that set. Returns (log2 of the number of such c, log2 of the span's size).
    fn brute_force(n: usize, known: u32, p: &[u32], t: &[u32]) -> (u64, u64) {
        let mut span = vec![false; 1 << n];
        span[0] = true;
        let mut members = vec![0u32];
        let units = (0..n).filter(|j| known >> j & 1 == 1).map(|j| 1u32 << j);
        for r in p.iter().copied().chain(units) {
            if !span[r as usize] {
                let new: Vec<u32> = members.iter().map(|&m| m ^ r).collect();
                for &x in &new {
                    span[x as usize] = true;
                }
                members.extend(new);
            }
        }
        let l = t.len();
        let hits = (0u32..1 << l)
            .filter(|&c| {
                let combo = (0..l)
                    .filter(|i| c >> i & 1 == 1)
                    .fold(0u32, |a, i| a ^ t[i]);
                span[combo as usize]
            })
            .count();
        assert!(hits.is_power_of_two() && members.len().is_power_of_two());
        (
            hits.trailing_zeros() as u64,
            members.len().trailing_zeros() as u64,
        )
    }

    fn count_of(n: usize, known: u32, p: &[u32], t: &[u32]) -> KnownFunctions {
        let rows = |v: &[u32]| v.iter().map(|&x| bits_of(x, n)).collect::<Vec<_>>();
        known_functions_from_rows(&bits_of(known, n), &rows(p), &rows(t)).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        /// Small random instances (n <= 12; T, P arbitrary, possibly dependent or zero rows;
        /// a random E) against the brute-force count.
        #[test]
        fn count_matches_brute_force(
            n in 1usize..=12,
            seed in any::<u64>(),
            l in 0usize..=6,
            p_rows in 0usize..=6,
            known_density in prop_oneof![Just(0.0), Just(1.0), 0.0f64..1.0],
        ) {
            let mut rng = stream(seed, Purpose::Auxiliary, 7);
            let full = (1u32 << n) - 1;
            let draw = |rng: &mut rand::rngs::ChaCha8Rng| match rng.random_range(0..6) {
                0 => 0,
                1 => 1 << rng.random_range(0..n),
                _ => rng.next_u32() & full,
            };
            let t: Vec<u32> = (0..l).map(|_| draw(&mut rng)).collect();
            let p: Vec<u32> = (0..p_rows).map(|_| draw(&mut rng)).collect();
            let known = (0..n)
                .filter(|_| rng.random_bool(known_density))
                .fold(0u32, |a, j| a | 1 << j);
            let (known_dim, span_dim) = brute_force(n, known, &p, &t);
            let got = count_of(n, known, &p, &t);
            prop_assert_eq!(got.known, known_dim);
            prop_assert_eq!(got.unknown, l as u64 - known_dim);
            prop_assert_eq!(got.rank_disclosed, span_dim);
            prop_assert_eq!(got.final_key_bits, l as u64);
            prop_assert_eq!(got.known_key_bits, known.count_ones() as u64);
            prop_assert_eq!(got.disclosed_rows, p_rows as u64);
        }

        /// The same with real Toeplitz matrices as privacy amplification builds them.
        #[test]
        fn toeplitz_count_matches_brute_force(
            n in 1usize..=12,
            seed in any::<u64>(),
            l in 1usize..=6,
            p_rows in 0usize..=5,
            known in any::<u32>(),
        ) {
            let mut rng = stream(seed, Purpose::Auxiliary, 8);
            let full = (1u32 << n) - 1;
            let pa = toeplitz_seed(n, l, &mut rng);
            let rows = ToeplitzRows::new(&pa, n, l).unwrap();
            let t: Vec<u32> = (0..l)
                .map(|i| {
                    let r = rows.row(i);
                    (0..n).filter(|&j| r.get(j)).fold(0u32, |a, j| a | 1 << j)
                })
                .collect();
            let p: Vec<u32> = (0..p_rows).map(|_| rng.next_u32() & full).collect();
            let (known_dim, _) = brute_force(n, known & full, &p, &t);
            prop_assert_eq!(count_of(n, known & full, &p, &t).known, known_dim);
        }
    }

    fn random_row(n: usize, density: f64, rng: &mut impl Rng) -> BitVec {
        BitVec::from_bools(&(0..n).map(|_| rng.random_bool(density)).collect::<Vec<_>>())
    }

    /// Rank of explicit rows (through the count with nothing known and nothing disclosed:
    /// unknown = rank(T)).
    fn rank_of(rows: &[BitVec], n: usize) -> u64 {
        known_functions_from_rows(&BitVec::zeros(n), &[], rows)
            .unwrap()
            .unknown
    }

    #[test]
    fn sanity_cases() {
        let mut rng = stream(11, Purpose::Auxiliary, 0);
        let n = 700;
        let l = 200;
        let pa = toeplitz_seed(n, l, &mut rng);
        let rows = ToeplitzRows::new(&pa, n, l).unwrap();
        let t: Vec<BitVec> = (0..l).map(|i| rows.row(i)).collect();
        let p: Vec<BitVec> = (0..150).map(|_| random_row(n, 0.05, &mut rng)).collect();
        // This T has full row rank (checked, so the case below is the brief's "known = 0").
        assert_eq!(rank_of(&t, n), l as u64);
        // E = everything: every final-key function is known.
        let all = known_functions_from_rows(&BitVec::from_bools(&vec![true; n]), &p, &t).unwrap();
        assert_eq!(
            (all.known, all.unknown, all.rank_disclosed),
            (l as u64, 0, n as u64)
        );
        // E and P empty: nothing known.
        let none = known_functions_from_rows(&BitVec::zeros(n), &[], &t).unwrap();
        assert_eq!(
            (none.known, none.unknown, none.rank_disclosed),
            (0, l as u64, 0)
        );
        // P = the rows of T themselves: all known, with nothing else.
        let own = known_functions_from_rows(&BitVec::zeros(n), &t[..50], &t[..50]).unwrap();
        assert_eq!((own.known, own.unknown), (50, 0));
        // l + |P| + |K| far below n, random rows: the row spaces of T and [P; E] meet only in
        // 0 unless 2^-(n - l - |P| - |K|) odds come up (2^-3000 here), so known = 0.
        let n = 5000;
        let l = 400;
        let pa = toeplitz_seed(n, l, &mut rng);
        let rows = ToeplitzRows::new(&pa, n, l).unwrap();
        let t: Vec<BitVec> = (0..l).map(|i| rows.row(i)).collect();
        let p: Vec<BitVec> = (0..300)
            .map(|i| random_row(n, if i % 2 == 0 { 0.5 } else { 0.01 }, &mut rng))
            .collect();
        let known = random_row(n, 0.25, &mut rng);
        let k = known.count_ones() as u64;
        let got = known_functions_from_rows(&known, &p, &t).unwrap();
        assert_eq!(got.known, 0);
        assert_eq!(got.unknown, l as u64);
        assert_eq!(got.rank_disclosed, k + 300);
        // Rank-deficient T (a repeated row): the constant function counts as known.
        let mut t2 = t[..10].to_vec();
        t2.push(t[3].clone());
        let got = known_functions_from_rows(&BitVec::zeros(n), &[], &t2).unwrap();
        assert_eq!((got.known, got.unknown), (1, 10));
    }

    /// One block as the pipeline runs it: Cascade recording its parities, a verification
    /// tag, privacy amplification; the fast path against explicit rows.
    fn block(
        n: usize,
        q: f64,
        l: usize,
        known_density: f64,
        seed: u64,
    ) -> (KnownFunctions, KnownFunctions) {
        let mut rng = stream(seed, Purpose::Auxiliary, 1);
        let alice = random_key(n, &mut rng);
        let mut bob = alice.clone();
        plant_errors(&mut bob, q, ErrorModel::Exact, &mut rng);
        let (ec, disclosed) = reconcile_disclosing(
            &alice,
            &bob,
            q,
            CascadeVariant::YanEtAl,
            &mut stream(seed, Purpose::Reconciliation, 0),
            ReconcileOptions::default(),
        )
        .unwrap();
        let (_, tag) = verify_disclosing(
            &alice,
            &ec.corrected,
            1e-12,
            &mut stream(seed, Purpose::Verification, 0),
        )
        .unwrap();
        let pa = toeplitz_seed(n, l, &mut stream(seed, Purpose::PrivacyAmplification, 0));
        let known = random_row(n, known_density, &mut rng);
        let fast = known_final_key_functions(&known, &disclosed, Some(&tag), &pa, l)
            .unwrap()
            .unwrap();
        let rows = ToeplitzRows::new(&pa, n, l).unwrap();
        let mut p: Vec<BitVec> = (0..disclosed.len()).map(|i| disclosed.row(i)).collect();
        p.extend(tag.rows());
        let t: Vec<BitVec> = (0..l).map(|i| rows.row(i)).collect();
        let slow = known_functions_from_rows(&known, &p, &t).unwrap();
        assert_eq!(fast.disclosed_rows, ec.leaked_bits + 40);
        // And the plain dense elimination of [P_U; T_U], no sparse stage.
        let unknown: Vec<usize> = (0..n).filter(|&x| !known.get(x)).collect();
        let restrict =
            |r: &BitVec| BitVec::from_bools(&unknown.iter().map(|&x| r.get(x)).collect::<Vec<_>>());
        let stacked: Vec<BitVec> = p.iter().chain(&t).map(restrict).collect();
        let (rank_p, rank_all) =
            Gf2Matrix::from_rows(unknown.len(), &stacked).stacked_ranks(p.len());
        let k = known.count_ones() as u64;
        assert_eq!(fast.rank_disclosed, k + rank_p as u64);
        assert_eq!(fast.unknown, (rank_all - rank_p) as u64);
        (fast, slow)
    }

    #[test]
    fn the_count_does_not_depend_on_the_thread_count() {
        let n = 20_000;
        let mut rng = stream(8, Purpose::Auxiliary, 3);
        let alice = random_key(n, &mut rng);
        let mut bob = alice.clone();
        plant_errors(&mut bob, 0.03, ErrorModel::Exact, &mut rng);
        let (_, disclosed) = reconcile_disclosing(
            &alice,
            &bob,
            0.03,
            CascadeVariant::Option8,
            &mut rng,
            ReconcileOptions::default(),
        )
        .unwrap();
        let pa = toeplitz_seed(n, 6000, &mut rng);
        let known = random_row(n, 0.3, &mut rng);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| known_final_key_functions(&known, &disclosed, None, &pa, 6000))
                .unwrap()
                .unwrap()
        };
        let one = run(1);
        assert_eq!(run(2), one);
        assert_eq!(run(4), one);
        assert_eq!(one.known + one.unknown, 6000);
    }

    #[test]
    fn pipeline_inputs_give_the_count_of_explicit_rows() {
        for (n, q, l, density, seed) in [
            (1, 0.1, 1, 0.5, 1),
            (300, 0.05, 100, 0.3, 2),
            (3000, 0.03, 1500, 0.4, 3),
            (3000, 0.03, 2000, 0.1, 4),
            (4000, 0.08, 700, 0.0, 5),
            (2000, 0.02, 900, 1.0, 6),
        ] {
            let (fast, slow) = block(n, q, l, density, seed);
            assert_eq!(fast, slow, "n {n} q {q} l {l}");
            assert_eq!(fast.known + fast.unknown, l as u64);
        }
        // Leakage beyond what privacy amplification removed: with l above n - |P| - |K| Eve
        // must know something (the row spaces must meet), and she does.
        let (fast, _) = block(3000, 0.03, 2000, 0.4, 3);
        let room = 3000 - fast.rank_disclosed;
        assert!(
            fast.known >= 2000u64.saturating_sub(room) && fast.known > 0,
            "{fast:?}"
        );
    }

    #[test]
    fn inputs_of_other_lengths_are_errors_and_large_blocks_are_not_counted() {
        let mut rng = stream(3, Purpose::Auxiliary, 2);
        let n = 500;
        let alice = random_key(n, &mut rng);
        let (_, disclosed) = reconcile_disclosing(
            &alice,
            &alice.clone(),
            0.02,
            CascadeVariant::Original,
            &mut rng,
            ReconcileOptions::default(),
        )
        .unwrap();
        let pa = toeplitz_seed(n, 10, &mut rng);
        let ok = known_final_key_functions(&BitVec::zeros(n), &disclosed, None, &pa, 10).unwrap();
        assert!(ok.is_some());
        assert!(
            known_final_key_functions(&BitVec::zeros(n + 1), &disclosed, None, &pa, 10).is_err()
        );
        assert!(known_final_key_functions(&BitVec::zeros(n), &disclosed, None, &pa, 11).is_err());
        let (_, tag) = verify_disclosing(&alice, &alice, 1e-6, &mut rng).unwrap();
        let (_, other_tag) =
            verify_disclosing(&BitVec::zeros(7), &BitVec::zeros(7), 1e-6, &mut rng).unwrap();
        assert!(
            known_final_key_functions(&BitVec::zeros(n), &disclosed, Some(&tag), &pa, 10).is_ok()
        );
        assert!(
            known_final_key_functions(&BitVec::zeros(n), &disclosed, Some(&other_tag), &pa, 10)
                .is_err()
        );
        assert!(known_functions_from_rows(&BitVec::zeros(5), &[BitVec::zeros(4)], &[]).is_err());
        // One bit over the limit: not computed.
        let n = MAX_EXACT_BITS + 1;
        let alice = random_key(n, &mut rng);
        let (_, disclosed) = reconcile_disclosing(
            &alice,
            &alice.clone(),
            0.01,
            CascadeVariant::Original,
            &mut rng,
            ReconcileOptions::default(),
        )
        .unwrap();
        let pa = toeplitz_seed(n, 5, &mut rng);
        let none = known_final_key_functions(&BitVec::zeros(n), &disclosed, None, &pa, 5).unwrap();
        assert_eq!(none, None);
    }
}
