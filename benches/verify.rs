//! Criterion bench of the verification tag (`ToeplitzSeed::tag`) on one core: the
//! carry-less path (PCLMULQDQ where the CPU has it), the portable carry-less path, and the
//! row-by-row popcounts the tag was computed with before (reproduced here on the same seed
//! words, and checked equal), at n = 1e4, 1e5, 1e6 key bits and t = 50 (eps_cor = 1e-15,
//! the pipeline's tag), t = 64, 128 and 1074 (the longest) tag bits.
//!
//! Filter with e.g. `cargo bench --bench verify -- --noplot 'tag/n=1000000/t=50'`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkdsim::bits::BitVec;
use qkdsim::postprocess::cascade::random_key;
use qkdsim::postprocess::verify::{ToeplitzSeed, verify};
use qkdsim::rng::{Purpose, stream};
use rand::Rng;

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
const TAGS: [u32; 4] = [50, 64, 128, 1074];

/// The seed words `ToeplitzSeed::random` draws (same stream, same count, last word zero).
fn seed_words(n: usize, t: u32, rng: &mut impl Rng) -> Vec<u64> {
    let mut words: Vec<u64> = (0..(n + t as usize).div_ceil(64) + 1)
        .map(|_| rng.next_u64())
        .collect();
    let last = words.len() - 1;
    words[last] = 0;
    words
}

/// The tag by one masked popcount pass over the key per tag bit: the computation
/// `ToeplitzSeed::tag` used before the carry-less path.
fn tag_by_rows(seed: &[u64], t: u32, key: &BitVec) -> BitVec {
    let kw = key.words();
    let mut tag = BitVec::with_capacity(t as usize);
    for i in 0..t as usize {
        let (q, s) = (i / 64, i % 64);
        let mut acc = 0u64;
        for (w, &k) in kw.iter().enumerate() {
            let lo = seed[w + q] >> s;
            let hi = if s == 0 {
                0
            } else {
                seed[w + q + 1] << (64 - s)
            };
            acc ^= k & (lo | hi);
        }
        tag.push(acc.count_ones() & 1 == 1);
    }
    tag
}

fn bench_tag(c: &mut Criterion) {
    let mut group = c.benchmark_group("tag");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for n in SIZES {
        let key = random_key(n, &mut stream(3, Purpose::Auxiliary, n as u64));
        group.throughput(Throughput::Elements(n as u64));
        for t in TAGS {
            let seed = ToeplitzSeed::random(n, t, &mut stream(3, Purpose::Verification, 0));
            let words = seed_words(n, t, &mut stream(3, Purpose::Verification, 0));
            let want = tag_by_rows(&words, t, &key);
            assert_eq!(seed.tag(&key), want, "n {n} t {t}");
            assert_eq!(seed.tag_portable(&key), want, "n {n} t {t}");
            let id = |path: &str| BenchmarkId::new(format!("n={n}/t={t}"), path);
            group.bench_function(id("carry-less"), |b| {
                b.iter(|| black_box(seed.tag(black_box(&key))))
            });
            group.bench_function(id("portable"), |b| {
                b.iter(|| black_box(seed.tag_portable(black_box(&key))))
            });
            if t <= 128 || n <= 100_000 {
                group.bench_function(id("row-popcounts"), |b| {
                    b.iter(|| black_box(tag_by_rows(&words, t, black_box(&key))))
                });
            }
        }
    }
    group.finish();
}

/// A whole verification of a 1e6-bit block as the pipeline runs it: seed drawn, both tags.
fn bench_verify(c: &mut Criterion) {
    let n = 1_000_000;
    let alice = random_key(n, &mut stream(8, Purpose::Auxiliary, 0));
    let bob = alice.clone();
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("toeplitz/n=1000000/eps=1e-15", |b| {
        let mut rng = stream(8, Purpose::Verification, 0);
        b.iter(|| black_box(verify(&alice, &bob, 1e-15, &mut rng).expect("valid eps_cor")))
    });
    group.finish();
}

criterion_group!(benches, bench_tag, bench_verify);
criterion_main!(benches);
