//! Pulse engine + sifting throughput (pulses per second, one thread) at several fibre
//! lengths, with raw ChaCha8 u64 generation in the same run as the baseline: the ratio
//! "pulses per second / ChaCha8 u64 per second" is the figure of merit (target >= 1).
//!
//! Run: `cargo bench --bench pulse_engine`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkdsim::Scenario;
use qkdsim::physics::LinkModel;
use qkdsim::protocol::{CHUNK_PULSES, DetectorState, PulseEngine, Sifter};
use qkdsim::rng::{self, Purpose};
use rand::Rng;
use std::hint::black_box;

fn model(km: f64) -> LinkModel {
    let text = format!(
        "[link]\nlength_km = {km}\n[detector]\nefficiency = 0.2\ndark_count_probability = 1e-6\n"
    );
    LinkModel::from_scenario(&Scenario::parse(&text, "bench").expect("valid bench scenario"))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pulse_engine");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CHUNK_PULSES));
    group.bench_function("baseline_chacha8_u64", |b| {
        let mut r = rng::stream(1, Purpose::Auxiliary, 0);
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..CHUNK_PULSES {
                acc ^= r.next_u64();
            }
            black_box(acc)
        })
    });
    for km in [0.0, 25.0, 50.0, 100.0, 150.0] {
        let engine = PulseEngine::new(&model(km), 7);
        let nk = engine.model().intensities.len();
        group.bench_with_input(BenchmarkId::new("pulse_and_sift_km", km), &km, |b, _| {
            let mut chunk = 0u64;
            b.iter(|| {
                chunk += 1;
                let (out, _) =
                    engine.simulate_chunk(chunk, 0, CHUNK_PULSES, DetectorState::default());
                let mut sifter = Sifter::new(nk, 1 << 20);
                black_box(sifter.push_chunk(&out).len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
