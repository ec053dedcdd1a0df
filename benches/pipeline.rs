//! Sifting and the whole pipeline.
//!
//! - `sifting`: sifting one engine chunk's detections into blocks (detections per second),
//!   and sifting it on its own (`ChunkSift::of`, what the run does on the engine's
//!   parallel tasks), beside a plain pass over the same records (summing their flags) as
//!   the baseline.
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
//! - a summary (printed last; alone with `QKDSIM_BENCH_QUICK=1`): the whole pipeline of
//!   that 50 km link for 10 s of link time on 2 threads, link seconds per wall second,
//!   CPU use, the engine and sifting alone as the baseline, and the per-stage split.
//!
//! Run: `cargo bench --bench pipeline`.

use criterion::{Criterion, Throughput, criterion_group};
use qkdsim::Scenario;
use qkdsim::analysis::run::{RunOptions, run, simulate};
use qkdsim::physics::LinkModel;
use qkdsim::protocol::{CHUNK_PULSES, ChunkSift, DetectorState, PulseEngine, Sifter};
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
    group.bench_function("sift_chunk_on_its_own", |b| {
        b.iter(|| black_box(ChunkSift::of(&chunk).bits()))
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

/// This process's CPU time (user + system, all threads) in seconds, from
/// `/proc/self/stat` (fields 14 and 15, in clock ticks of 1/100 s here).
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    let after = &stat[stat.rfind(')').expect("comm field") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

/// Issue 15's second target: the whole pipeline of the Bayreuth - Zwickau equipment at
/// 50 km for 10 s of link time on a pool of 2 threads, best of `rounds`, with the engine
/// and sifting alone (`simulate`) measured right before each full run as the baseline,
/// and the per-stage split from the run's `timings` (engine and sequential sifting in
/// wall seconds; post-processing stages summed over blocks, i.e. thread seconds).
fn summary(rounds: usize) {
    let s = scenario_50km();
    let pulses = 10_000_000_000u64;
    let options = RunOptions {
        pulses: Some(pulses),
        ..RunOptions::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let mut best: Option<(f64, f64, f64, qkdsim::analysis::run::Timings)> = None;
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        pool.install(|| simulate(&s, &options, &|_| {}, |_| {}).expect("static run"));
        let base_s = t.elapsed().as_secs_f64();
        let (cpu0, t) = (process_cpu_s(), std::time::Instant::now());
        let out = pool.install(|| run(&s, &options, &|_| {}).expect("runs"));
        let wall = t.elapsed().as_secs_f64();
        let cpu = process_cpu_s() - cpu0;
        if best.as_ref().is_none_or(|b| wall < b.0) {
            best = Some((wall, base_s, cpu, out.report.timings.clone()));
        }
    }
    let (wall, base_s, cpu, t) = best.expect("at least one round");
    let link_s = pulses as f64 / 1e9;
    println!("whole pipeline, 50 km, 10 s of link time, 2 threads, best of {rounds} rounds");
    println!(
        "full run {wall:.3} s wall = {:.2} link s per wall s ({cpu:.2} s CPU, {:.0} % of 2 cores); \
         engine + sifting alone {base_s:.3} s wall (ratio {:.2})",
        link_s / wall,
        100.0 * cpu / wall / 2.0,
        wall / base_s
    );
    println!(
        "stages: engine {:.3} s, sifting (sequential) {:.3} s; per block, summed: estimation \
         {:.3} s, Cascade {:.3} s, verification {:.3} s, privacy amplification {:.3} s",
        t.engine_s,
        t.sifting_s,
        t.estimation_s,
        t.reconciliation_s,
        t.verification_s,
        t.privacy_amplification_s
    );
}

fn main() {
    let quick = std::env::var("QKDSIM_BENCH_QUICK").is_ok_and(|v| v == "1");
    if !quick {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    summary(if quick { 3 } else { 5 });
}
