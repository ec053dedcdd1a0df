//! Engine + sifting throughput (pulses per second, one thread) at several fibre lengths,
//! for the reference pulse engine and the event-driven engine, with raw ChaCha8 u64
//! generation in the same run as the baseline: the ratio "pulses per second / ChaCha8 u64
//! per second" is the figure of merit (pulse engine target: at least 1; event engine
//! target: at least 10^10 pulses per second per core at 100 km). A second group runs whole
//! event- and pulse-engine runs at 100 km on 1 and 2 threads (parallel speed-up), a third
//! finds the crossover of the two engines at high click probability (the `auto` rule).
//!
//! Run: `cargo bench --bench pulse_engine -- --noplot` (criterion's plots need fonts).
//!
//! Measured on the shared 2-core machine (23 November 2026, quiet, baseline ChaCha8 304 M
//! u64/s in the same run), pulses per second with sifting, pulse / event engine: 0 km
//! 502 M / 278 M, 25 km 601 M / 1.02 G, 50 km 804 M / 3.06 G, 100 km 905 M / 31.2 G,
//! 150 km 805 M / 268 G (pulse-engine ratios 1.65, 1.98, 2.65, 2.98, 2.65). Whole runs at
//! 100 km: event 31.6 G/s on 1 thread, 53.2 G/s on 2 (1.69x); pulse 924 M/s, 1.38 G/s
//! (1.49x). See BENCHMARKS.md for the spread between runs and the crossover group.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkdsim::Scenario;
use qkdsim::physics::LinkModel;
use qkdsim::protocol::{CHUNK_PULSES, DetectorState, EventEngine, PulseEngine, Sifter};
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
        group.throughput(Throughput::Elements(CHUNK_PULSES));
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
        let event = EventEngine::new(&model(km), 7);
        let n = event.chunk_pulses();
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::new("event_and_sift_km", km), &km, |b, _| {
            let mut chunk = 0u64;
            b.iter(|| {
                chunk += 1;
                let (out, _) = event.simulate_chunk(chunk, 0, n, DetectorState::default());
                let mut sifter = Sifter::new(nk, 1 << 20);
                black_box(sifter.push_chunk(&out).len())
            })
        });
    }
    group.finish();
}

/// Whole runs (engine only, chunks in parallel) at 100 km on 1 and 2 threads.
fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine_threads_100km");
    group.sample_size(10);
    let m = model(100.0);
    let event = EventEngine::new(&m, 7);
    let pulse = PulseEngine::new(&m, 7);
    let event_pulses = 8 * event.chunk_pulses();
    let pulse_pulses = 32 * CHUNK_PULSES;
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        group.throughput(Throughput::Elements(event_pulses));
        group.bench_with_input(BenchmarkId::new("event", threads), &threads, |b, _| {
            b.iter(|| {
                pool.install(|| {
                    let mut clicks = 0usize;
                    event.run(event_pulses, &|_| {}, |out| clicks += out.detections.len());
                    black_box(clicks)
                })
            })
        });
        group.throughput(Throughput::Elements(pulse_pulses));
        group.bench_with_input(BenchmarkId::new("pulse", threads), &threads, |b, _| {
            b.iter(|| {
                pool.install(|| {
                    let mut clicks = 0usize;
                    pulse.run(pulse_pulses, &|_| {}, |out| clicks += out.detections.len());
                    black_box(clicks)
                })
            })
        });
    }
    group.finish();
}

/// Where the engines cross: 0 km with ever more efficient detectors (per-pulse click
/// probability c from about 0.07 to 0.3, and a bright source with c about 0.95), without and with a 50 ns dead time; the
/// `auto` threshold of `choose_engine` is set from these figures.
fn crossover(c: &mut Criterion) {
    let mut group = c.benchmark_group("crossover_0km");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CHUNK_PULSES));
    // (dead time ns, efficiency, extra loss dB, bright source): click probabilities from
    // 0.01 to 0.95 without detector memory, and three with a 50 ns dead time.
    let cases = [
        (0.0, 0.2, 8.0, false),
        (0.0, 0.2, 6.0, false),
        (0.0, 0.2, 4.0, false),
        (0.0, 0.2, 2.0, false),
        (0.0, 0.2, 0.0, false),
        (0.0, 0.5, 0.0, false),
        (0.0, 1.0, 0.0, true),
        (50.0, 0.2, 0.0, false),
        (50.0, 1.0, 0.0, false),
        (50.0, 1.0, 0.0, true),
    ];
    for (dead_ns, efficiency, loss_db, bright) in cases {
        {
            // `bright`: one intensity class of mean photon number 3 (c about 0.95).
            let source = if bright {
                "[[source.intensities]]\nlabel = \"bright\"\nmean_photon_number = 3.0\nprobability = 1.0\n"
            } else {
                ""
            };
            let text = format!(
                "[link]\nlength_km = 0.0\nextra_loss_db = {loss_db}\n[detector]\nefficiency = {efficiency}\n\
                 dark_count_probability = 1e-6\ndead_time_ns = {dead_ns}\n{source}"
            );
            let m = LinkModel::from_scenario(&Scenario::parse(&text, "bench").expect("valid"));
            let click = qkdsim::protocol::event::all_live_click_probability(&m);
            let id = format!("c{click:.3}_dead{dead_ns}ns");
            let pulse = PulseEngine::new(&m, 7);
            let event = EventEngine::new(&m, 7);
            group.bench_function(BenchmarkId::new("pulse", &id), |b| {
                let mut chunk = 0u64;
                b.iter(|| {
                    chunk += 1;
                    let (out, _) =
                        pulse.simulate_chunk(chunk, 0, CHUNK_PULSES, DetectorState::default());
                    black_box(out.detections.len())
                })
            });
            group.bench_function(BenchmarkId::new("event", &id), |b| {
                let mut chunk = 0u64;
                b.iter(|| {
                    chunk += 1;
                    let (out, _) =
                        event.simulate_chunk(chunk, 0, CHUNK_PULSES, DetectorState::default());
                    black_box(out.detections.len())
                })
            });
        }
    }
    group.finish();
}

/// The attacked pulse engine (photon by photon, `protocol::adversary`) at 50 km against
/// the reference pulse engine and raw ChaCha8 in the same run: no attack (fraction 0),
/// intercept-resend, PNS and beam splitting on every pulse, one chunk per iteration.
fn adversary(c: &mut Criterion) {
    use qkdsim::protocol::AdversaryEngine;
    let mut group = c.benchmark_group("adversary_50km");
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
    let honest = PulseEngine::new(&model(50.0), 7);
    group.bench_function("reference_pulse_engine", |b| {
        let mut chunk = 0u64;
        b.iter(|| {
            chunk += 1;
            let (out, _) = honest.simulate_chunk(chunk, 0, CHUNK_PULSES, DetectorState::default());
            black_box(out.detections.len())
        })
    });
    for (attack, fraction) in [
        ("intercept_resend", 0.0),
        ("intercept_resend", 1.0),
        ("pns", 1.0),
        ("beam_splitting", 1.0),
    ] {
        let text = format!(
            "[link]\nlength_km = 50\n[detector]\nefficiency = 0.2\n\
             dark_count_probability = 1e-6\n[adversary]\nattack = \"{attack}\"\n\
             fraction = {fraction}\n"
        );
        let m = LinkModel::from_scenario(&Scenario::parse(&text, "bench").expect("valid"));
        let engine = AdversaryEngine::new(&m, 7);
        let id = format!("{attack}_f{fraction}");
        group.bench_function(id, |b| {
            let mut chunk = 0u64;
            b.iter(|| {
                chunk += 1;
                let (out, _) =
                    engine.simulate_chunk(chunk, 0, CHUNK_PULSES, DetectorState::default());
                black_box(out.detections.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, scaling, crossover, adversary);
criterion_main!(benches);
