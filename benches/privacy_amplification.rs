//! Criterion bench: privacy amplification by Toeplitz hashing (issue 5).
//!
//! Input throughput (bits of reconciled key per second) at n = 1e6, 1e7, 1e8 and 1.28e8 bits,
//! compression l/n = 0.125 and 0.5, on 1 and 2 rayon threads. Anchors: 71 Mbit/s at 128 Mbit
//! (Tang et al., Sci. Rep. 9, 15733, 2019) and 108 Mbit/s at 1e8 bits (Yuan et al., JLT 36,
//! 3427, 2018). The machine is shared, so each size also times baselines in the same run:
//! a copy of the input words, and (up to 1e7) one real f64 FFT of n points, which is a third
//! of the work of the one-bit-per-point floating-point alternative at its smallest size.
//! Backends are compared at 1e6 (portable shift-XOR, scalar PCLMULQDQ, default 512-bit
//! VPCLMULQDQ where the CPU has it).
//!
//! Run: `cargo bench --bench privacy_amplification -- --noplot` (about 6 minutes; filter
//! with e.g. `-- --noplot n=10000000`).
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkdsim::bits::BitVec;
use qkdsim::postprocess::privacy::{ToeplitzHasher, toeplitz_seed};
use qkdsim::rng::{Purpose, stream};
use rand::Rng;
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 4] = [1_000_000, 10_000_000, 100_000_000, 128_000_000];
const COMPRESSIONS: [f64; 2] = [0.125, 0.5];

fn random_bits(len: usize, rng: &mut impl Rng) -> BitVec {
    BitVec::from_words((0..len.div_ceil(64)).map(|_| rng.next_u64()).collect(), len)
}

fn bench(c: &mut Criterion) {
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, 2]
        .into_iter()
        .map(|t| {
            (
                t,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    for n in SIZES {
        let mut group = c.benchmark_group(format!("privacy_amplification/n={n}"));
        group.throughput(Throughput::Elements(n as u64));
        if n >= 10_000_000 {
            group
                .sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(5));
        }
        let mut rng = stream(1, Purpose::PrivacyAmplification, n as u64);
        let input = random_bits(n, &mut rng);

        group.bench_function("baseline_copy", |b| b.iter(|| black_box(input.clone())));
        if n <= 10_000_000 {
            let mut planner = realfft::RealFftPlanner::<f64>::new();
            let fft = planner.plan_fft_forward(n);
            let mut signal: Vec<f64> = (0..n)
                .map(|i| if input.get(i) { 1.0 } else { 0.0 })
                .collect();
            let mut spectrum = fft.make_output_vec();
            let mut scratch = fft.make_scratch_vec();
            group.bench_function("baseline_f64_fft", |b| {
                b.iter(|| {
                    fft.process_with_scratch(&mut signal, &mut spectrum, &mut scratch)
                        .unwrap()
                })
            });
        }

        for compression in COMPRESSIONS {
            let l = (n as f64 * compression) as usize;
            let seed = toeplitz_seed(n, l, &mut rng);
            for (threads, pool) in &pools {
                let mut hasher = ToeplitzHasher::new();
                let id = BenchmarkId::new(
                    format!("toeplitz/l={compression}n"),
                    format!("threads={threads}"),
                );
                group.bench_function(id, |b| {
                    pool.install(|| b.iter(|| black_box(hasher.hash(&input, &seed, l).unwrap())))
                });
            }
        }
        group.finish();
    }

    // Backends on one thread at 1e6 bits (the portable one is ~50x slower: few samples).
    let n = SIZES[0];
    let l = n / 4;
    let mut rng = stream(2, Purpose::PrivacyAmplification, 0);
    let input = random_bits(n, &mut rng);
    let seed = toeplitz_seed(n, l, &mut rng);
    let mut group = c.benchmark_group(format!(
        "privacy_amplification_backends/n={n}/l=0.25n/threads=1"
    ));
    group
        .throughput(Throughput::Elements(n as u64))
        .sample_size(10);
    let one_thread = &pools[0].1;
    let mut hashers = vec![
        ("default", ToeplitzHasher::new()),
        ("portable", ToeplitzHasher::portable()),
    ];
    if let Some(scalar) = ToeplitzHasher::scalar_clmul() {
        hashers.push(("scalar_clmul", scalar));
    }
    for (name, mut hasher) in hashers {
        group.bench_function(name, |b| {
            one_thread.install(|| b.iter(|| black_box(hasher.hash(&input, &seed, l).unwrap())))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
