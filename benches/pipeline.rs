//! Sifting and the whole pipeline.
//!
//! - `sifting`: sifting one engine chunk's detections into blocks (detections per second),
//!   beside a plain pass over the same records (summing their flags) as the baseline.
//! - `pipeline`: one full `run` (event engine, sifting, Cascade, verification, finite-key
//!   length, privacy amplification) of the Bayreuth - Zwickau link shortened to 50 km, for
//!   0.5 s of link time; throughput is in pulses, so link seconds per wall second is
//!   throughput / 1e9. Baseline in the same run: the engine and sifting alone
//!   (`simulate`), so the ratio shows what post-processing adds.
//!
//! - `drift`: engine and sifting of 2 s of the 120 km Bayreuth - Zwickau link, static
//!   (the baseline, same run) and with polarisation drift stepped every 0.1 s and every
//!   0.01 s (one engine built per step: `analysis::timeline`), so the ratio shows what a
//!   drift step costs.
//!
//! Run: `cargo bench --bench pipeline`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qkdsim::Scenario;
use qkdsim::analysis::run::{RunOptions, run, simulate};
use qkdsim::physics::LinkModel;
use qkdsim::protocol::{CHUNK_PULSES, DetectorState, PulseEngine, Sifter};
use std::hint::black_box;

fn scenario_50km() -> Scenario {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bayreuth-zwickau.toml"
    );
    let s = Scenario::parse(
        &std::fs::read_to_string(path).expect("shipped scenario"),
        path,
    )
    .expect("valid");
    qkdsim::scenario::with_value(&s, "link.length_km", 50.0).expect("valid length")
}

fn bench_sifting(c: &mut Criterion) {
    let text = "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.2\n";
    let model = LinkModel::from_scenario(&Scenario::parse(text, "bench").expect("valid"));
    let (chunk, _) =
        PulseEngine::new(&model, 3).simulate_chunk(0, 0, CHUNK_PULSES, DetectorState::default());
    let mut group = c.benchmark_group("sifting");
    group.sample_size(20);
    group.throughput(Throughput::Elements(chunk.detections.len() as u64));
    group.bench_function("baseline_pass_over_records", |b| {
        b.iter(|| {
            black_box(
                chunk
                    .detections
                    .iter()
                    .map(|d| d.flags as u64 + d.pulse)
                    .sum::<u64>(),
            )
        })
    });
    group.bench_function("sift_into_blocks", |b| {
        b.iter(|| {
            let mut sifter = Sifter::new(3, 100_000);
            black_box(sifter.push_chunk(&chunk).len())
        })
    });
    group.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let s = scenario_50km();
    let pulses = 500_000_000u64;
    let options = RunOptions {
        pulses: Some(pulses),
        engine: Some("event".into()),
        ..RunOptions::default()
    };
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.throughput(Throughput::Elements(pulses));
    group.bench_function("baseline_engine_and_sifting", |b| {
        b.iter(|| {
            black_box(
                simulate(&s, &options, &|_| {}, |_| {})
                    .expect("static run")
                    .sifted_bits_z,
            )
        })
    });
    group.bench_function("full_run_50km", |b| {
        b.iter(|| black_box(run(&s, &options, &|_| {}).expect("runs").report.secret_bits))
    });
    group.finish();
}

fn bench_drift(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bayreuth-zwickau.toml"
    );
    let s = Scenario::parse(
        &std::fs::read_to_string(path).expect("shipped scenario"),
        path,
    )
    .expect("valid");
    let pulses = 2_000_000_000u64;
    let options = RunOptions {
        pulses: Some(pulses),
        engine: Some("event".into()),
        ..RunOptions::default()
    };
    let drifting = |step: f64| {
        let d = qkdsim::scenario::with_value(&s, "link.drift_rad2_per_s", 5e-5).expect("valid");
        qkdsim::scenario::with_value(&d, "link.drift_step_s", step).expect("valid")
    };
    let mut group = c.benchmark_group("drift");
    group.sample_size(10);
    group.throughput(Throughput::Elements(pulses));
    for (name, sc) in [
        ("baseline_static_120km", s.clone()),
        ("steps_of_0.1s", drifting(0.1)),
        ("steps_of_0.01s", drifting(0.01)),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    simulate(&sc, &options, &|_| {}, |_| {})
                        .expect("valid plan")
                        .sifted_bits_z,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sifting, bench_pipeline, bench_drift);
criterion_main!(benches);
