//! Criterion bench of the security analysis: one finite-key length from counts (what the
//! post-processing calls per block) and an optimised theory sweep (what `qkdsim theory
//! --optimize` does per distance). Plots are off: criterion's plots need a registered font
//! with this crate's plotters features (see CRATES.md).
use criterion::{Criterion, criterion_group, criterion_main};
use qkdsim::Scenario;
use qkdsim::estimation::{
    BasisCounts, IntensityCounts, SecurityParameters, finite_key_length, theory_curves,
};
use std::hint::black_box;

fn counts() -> Vec<IntensityCounts> {
    let class = |mu: f64, p: f64, sifted: u64, errors: u64| IntensityCounts {
        mean_photon_number: mu,
        probability: p,
        z: BasisCounts { sifted, errors },
        x: BasisCounts {
            sifted: sifted / 4,
            errors: errors / 4,
        },
    };
    vec![
        class(0.5, 0.6, 20_000_000, 200_000),
        class(0.1, 0.3, 2_000_000, 30_000),
        class(2e-4, 0.1, 1_000, 500),
    ]
}

fn bench(c: &mut Criterion) {
    let sec = SecurityParameters {
        epsilon_sec: 1e-10,
        epsilon_cor: 1e-15,
        basis_z_probability_alice: 0.8,
        basis_z_probability_bob: 0.8,
    };
    let counts = counts();
    c.bench_function("finite_key_length", |b| {
        b.iter(|| finite_key_length(black_box(&counts), 2.0e6, &sec))
    });
    let scenario = Scenario::parse("[link]\nlength_km = 50.0\n", "bench").expect("valid scenario");
    let distances = [0.0, 50.0, 100.0, 150.0];
    let mut group = c.benchmark_group("theory_curves");
    group.sample_size(10);
    group.bench_function("optimized_4_distances", |b| {
        b.iter(|| theory_curves(black_box(&scenario), &distances, true).expect("valid distances"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
