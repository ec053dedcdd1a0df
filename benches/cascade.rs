//! Criterion bench of Cascade: time per reconciliation (one core) over n = 1e4, 1e5, 1e6 and
//! Q = 1, 2, 5, 8 %, for every variant, plus the verification hash at n = 1e6.
//!
//! Keys and planted errors are built once per point from fixed seeds, outside the timed
//! loop; each iteration runs Cascade on a fresh shuffle stream. Filter with e.g.
//! `cargo bench --bench cascade -- --noplot 'cascade/yanetal/n=1000000'`.
//!
//! `QKDSIM_BENCH_QUICK=1` limits the sweep to the points with targets (yanetal at every n,
//! original at n = 1e4, option8 at n = 1e5 and 1e6). The `shuffle` group times one party's
//! shuffled key (`Shuffle::apply_with`) alone, and the parities of two blocks of n/2 bits
//! computed without it (`Shuffle::block_parities`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkdsim::postprocess::cascade::{
    CascadeVariant, ErrorModel, Shuffle, ShuffleScratch, plant_errors, random_key, reconcile,
};
use qkdsim::postprocess::verify::verify;
use qkdsim::rng::{Purpose, stream};

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
const QBERS: [f64; 4] = [0.01, 0.02, 0.05, 0.08];

fn wanted(variant: CascadeVariant, n: usize) -> bool {
    if std::env::var("QKDSIM_BENCH_QUICK").is_ok_and(|v| v == "1") {
        return match variant {
            CascadeVariant::YanEtAl => true,
            CascadeVariant::Original => n == 10_000,
            CascadeVariant::Option8 => n >= 100_000,
            _ => false,
        };
    }
    true
}

fn bench_cascade(c: &mut Criterion) {
    for variant in CascadeVariant::ALL {
        let mut group = c.benchmark_group(format!("cascade/{}", variant.name()));
        for n in SIZES {
            if !wanted(variant, n) {
                continue;
            }
            // Large keys take long per iteration; fewer samples keep the sweep bearable.
            let (samples, time) = if n >= 1_000_000 {
                (10, 8)
            } else if n >= 100_000 {
                (15, 5)
            } else {
                (30, 3)
            };
            group
                .sample_size(samples)
                .measurement_time(Duration::from_secs(time));
            group.throughput(Throughput::Elements(n as u64));
            for q in QBERS {
                let mut key_rng = stream(7, Purpose::Auxiliary, n as u64);
                let alice = random_key(n, &mut key_rng);
                let mut bob = alice.clone();
                plant_errors(&mut bob, q, ErrorModel::Exact, &mut key_rng);
                let id = BenchmarkId::new(format!("n={n}"), format!("q={q}"));
                let mut run = 0u64;
                group.bench_function(id, |b| {
                    b.iter(|| {
                        run += 1;
                        let mut rng = stream(7, Purpose::Reconciliation, run);
                        black_box(reconcile(&alice, &bob, q, variant, &mut rng))
                    })
                });
            }
        }
        group.finish();
    }
}

/// One party's shuffled key for one pass: what every pass costs each side before any search.
fn bench_shuffle(c: &mut Criterion) {
    let mut group = c.benchmark_group("shuffle");
    for n in SIZES {
        let mut rng = stream(9, Purpose::Auxiliary, n as u64);
        let key = random_key(n, &mut rng);
        let shuffle = Shuffle::random(n, &mut rng);
        let mut scratch = ShuffleScratch::default();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("apply", format!("n={n}")), |b| {
            b.iter(|| black_box(shuffle.apply_with(&key, &mut scratch)))
        });
        // The top-level parities of a pass of two blocks of n/2 bits, without the shuffled
        // key (what each party computes in the later passes of yanetal, option7, option8).
        group.bench_function(
            BenchmarkId::new("block_parities_half", format!("n={n}")),
            |b| b.iter(|| black_box(shuffle.block_parities(&key, n.div_ceil(2), 2, &mut scratch))),
        );
    }
    group.finish();
}

fn bench_verify(c: &mut Criterion) {
    let n = 1_000_000;
    let mut key_rng = stream(8, Purpose::Auxiliary, 0);
    let alice = random_key(n, &mut key_rng);
    let bob = alice.clone();
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("toeplitz/n=1000000/eps=1e-15", |b| {
        let mut rng = stream(8, Purpose::Verification, 0);
        b.iter(|| black_box(verify(&alice, &bob, 1e-15, &mut rng).expect("valid eps_cor")))
    });
    group.finish();
}

criterion_group!(benches, bench_cascade, bench_shuffle, bench_verify);
criterion_main!(benches);
