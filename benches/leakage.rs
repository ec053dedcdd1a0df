//! Criterion bench of the eavesdropper's count (`postprocess::leakage`) and of the GF(2)
//! rank under it (`postprocess::gf2`).
//!
//! The instance is a real block: a random key of n bits, Cascade (`yanetal`) at Q = 3 %
//! recording its disclosed parities (about 0.2 n of them, the issue's |P|), a 50-bit
//! verification tag, |K| = 0.4 n known positions drawn at random, and a Toeplitz privacy
//! amplification matrix of l = 0.2 n rows: at n = 100 000 the size, a
//! `[P_U; T_U]` of about 40 000 x 60 000.
//!
//! Groups:
//!
//! - `leakage/count`: `known_final_key_functions` end to end (rows, sparse stage, dense
//!   rank) at n = 100 000, on 1 and 2 threads.
//! - `leakage/dense_rank`: the same problem's whole `[P_U; T_U]` as one dense matrix, its
//!   two ranks by the Method of Four Russians (`Gf2Matrix::stacked_ranks`) against the
//!   naive one-pivot-at-a-time elimination (`stacked_ranks_naive`) as the in-run baseline,
//!   and the count's sparse-then-dense path on the same rows. The naive elimination is cubic
//!   and slow (minutes per run at n = 100 000), so this group runs at n = 25 000 by default;
//!   `QKDSIM_BENCH_LEAKAGE_N=100000` runs it at the full size (about half an hour).
//!
//! Run: `cargo bench --bench leakage` (plots are off; about 4 minutes).
//!
//! Measured on the shared 2-core development machine (x86-64, load average 1-4 from other
//! builds, so wall-clock figures are pessimistic), 24 November 2026:
//!
//! | bench | median |
//! |---|---|
//! | `leakage/count/n=100000/threads=1` | 2.50 s |
//! | `leakage/count/n=100000/threads=2` | 2.07 s |
//! | `leakage/dense_rank/four_russians/10110 x 15000` (n = 25 000) | 306 ms |
//! | `leakage/dense_rank/naive/10110 x 15000` | 2.40 s (7.8 x the Four Russians) |
//! | `leakage/dense_rank/sparse_then_four_russians/10110 x 15000` | 107 ms (22 x faster than naive) |
//!
//! At the full size (n = 100 000, `[P_U; T_U]` of 40 316 x 60 000, one core, measured once
//! outside criterion before the slab of `Gf2Matrix::eliminate` was added): naive elimination
//! 304 s, Four Russians on the dense matrix 13.2 s (23 x), the count's sparse-then-dense path
//! 1.8-2.5 s (about 120-170 x the naive elimination). Both ranks agreed in every run
//! (rank(P_U) = 17 012, rank([P_U; T_U]) = 37 012). The second thread helps little here: the
//! sparse stage is sequential, and the other core was busy with other builds.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use qkdsim::bits::BitVec;
use qkdsim::postprocess::cascade::{
    CascadeVariant, DisclosedParities, ErrorModel, ReconcileOptions, plant_errors, random_key,
    reconcile_disclosing,
};
use qkdsim::postprocess::gf2::{Gf2Matrix, stacked_ranks_sparse};
use qkdsim::postprocess::leakage::known_final_key_functions;
use qkdsim::postprocess::privacy::{ToeplitzRows, toeplitz_seed};
use qkdsim::postprocess::verify::{ToeplitzSeed, verify_disclosing};
use qkdsim::rng::{Purpose, stream};
use rand::RngExt;

/// One block's inputs to the count.
struct Instance {
    known: BitVec,
    disclosed: DisclosedParities,
    tag: ToeplitzSeed,
    pa_seed: BitVec,
    l: usize,
}

fn instance(n: usize) -> Instance {
    let q = 0.03;
    let mut rng = stream(16, Purpose::Auxiliary, n as u64);
    let alice = random_key(n, &mut rng);
    let mut bob = alice.clone();
    plant_errors(&mut bob, q, ErrorModel::Exact, &mut rng);
    let (ec, disclosed) = reconcile_disclosing(
        &alice,
        &bob,
        q,
        CascadeVariant::YanEtAl,
        &mut stream(16, Purpose::Reconciliation, 0),
        ReconcileOptions::default(),
    )
    .expect("Cascade");
    let (_, tag) = verify_disclosing(&alice, &ec.corrected, 1e-15, &mut rng).expect("tag");
    let l = n / 5;
    let pa_seed = toeplitz_seed(n, l, &mut rng);
    // |K| = 0.4 n distinct positions (partial Fisher-Yates).
    let k = 2 * n / 5;
    let mut order: Vec<usize> = (0..n).collect();
    let mut known = BitVec::zeros(n);
    for i in 0..k {
        let j = rng.random_range(i..n);
        order.swap(i, j);
        known.set(order[i], true);
    }
    Instance {
        known,
        disclosed,
        tag,
        pa_seed,
        l,
    }
}

/// The rows of `[P_U; T_U]` over the unknown positions, and the number of `P` rows.
fn restricted_rows(inst: &Instance) -> (usize, Vec<BitVec>) {
    let n = inst.known.len();
    let unknown: Vec<usize> = (0..n).filter(|&x| !inst.known.get(x)).collect();
    let restrict =
        |r: &BitVec| BitVec::from_bools(&unknown.iter().map(|&x| r.get(x)).collect::<Vec<_>>());
    let mut rows: Vec<BitVec> = (0..inst.disclosed.len())
        .map(|i| restrict(&inst.disclosed.row(i)))
        .collect();
    rows.extend(inst.tag.rows().iter().map(restrict));
    let p = rows.len();
    let t = ToeplitzRows::new(&inst.pa_seed, n, inst.l).expect("seed");
    rows.extend((0..inst.l).map(|i| restrict(&t.row(i))));
    (p, rows)
}

fn pools() -> Vec<(usize, rayon::ThreadPool)> {
    [1, 2]
        .into_iter()
        .map(|t| {
            (
                t,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .expect("thread pool"),
            )
        })
        .collect()
}

fn bench_count(c: &mut Criterion) {
    let n = 100_000;
    let inst = instance(n);
    let mut group = c.benchmark_group("leakage/count");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(40));
    for (threads, pool) in pools() {
        group.bench_function(
            BenchmarkId::new(format!("n={n}"), format!("threads={threads}")),
            |b| {
                pool.install(|| {
                    b.iter(|| {
                        black_box(
                            known_final_key_functions(
                                &inst.known,
                                &inst.disclosed,
                                Some(&inst.tag),
                                &inst.pa_seed,
                                inst.l,
                            )
                            .expect("inputs agree"),
                        )
                    })
                })
            },
        );
    }
    group.finish();
}

fn bench_dense_rank(c: &mut Criterion) {
    let n = std::env::var("QKDSIM_BENCH_LEAKAGE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25_000);
    let inst = instance(n);
    let (p, rows) = restricted_rows(&inst);
    let cols = rows.first().map_or(0, |r| r.len());
    let m = Gf2Matrix::from_rows(cols, &rows);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let mut group = c.benchmark_group("leakage/dense_rank");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let id = |name: &str| BenchmarkId::new(name, format!("{} x {cols}", rows.len()));
    group.bench_function(id("four_russians"), |b| {
        pool.install(|| {
            b.iter_batched(
                || m.clone(),
                |m| black_box(m.into_stacked_ranks(p)),
                BatchSize::LargeInput,
            )
        })
    });
    group.bench_function(id("naive"), |b| {
        pool.install(|| b.iter(|| black_box(m.stacked_ranks_naive(p))))
    });
    // The count's path on the same rows: P as sparse lists, T by columns.
    let sparse: Vec<Vec<u32>> = rows[..p]
        .iter()
        .map(|r| (0..cols).filter(|&j| r.get(j)).map(|j| j as u32).collect())
        .collect();
    let bw = inst.l.div_ceil(64);
    let mut columns = vec![0u64; cols * bw];
    for (i, r) in rows[p..].iter().enumerate() {
        for j in (0..cols).filter(|&j| r.get(j)) {
            columns[j * bw + i / 64] |= 1 << (i % 64);
        }
    }
    group.bench_function(id("sparse_then_four_russians"), |b| {
        pool.install(|| {
            b.iter_batched(
                || (sparse.clone(), columns.clone()),
                |(s, c)| black_box(stacked_ranks_sparse(cols, s, inst.l, c)),
                BatchSize::LargeInput,
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_count, bench_dense_rank
}
criterion_main!(benches);
