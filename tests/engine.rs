//! Pulse engine against the closed form and against renewal theory, with fixed seeds and
//! 5-sigma bounds from the binomial standard error.

mod common;
use common::within_5_sigma;

use qkdsim::Scenario;
use qkdsim::analysis::run::{RunOptions, RunReport, simulate};

fn scenario(body: &str) -> Scenario {
    Scenario::parse(body, "test scenario").expect("valid test scenario")
}

fn run(s: &Scenario, pulses: u64, seed: u64) -> RunReport {
    simulate(
        s,
        &RunOptions {
            engine: Some("pulse".into()),
            seed: Some(seed),
            pulses: Some(pulses),
            keep_keys: false,
            ..RunOptions::default()
        },
        &|_| {},
        |_| {},
    )
    .expect("a static run always has a plan")
}

#[test]
fn gains_and_qbers_match_closed_form_at_several_distances() {
    for (km, seed) in [(0.0, 11), (25.0, 12), (50.0, 13), (100.0, 14)] {
        let s = scenario(&format!(
            "[link]\nlength_km = {km}\nmisalignment = 0.02\n[detector]\nefficiency = 0.2\ndark_count_probability = 1e-5\n"
        ));
        let r = run(&s, 40_000_000, seed);
        for k in &r.per_intensity {
            let e = &k.expected;
            within_5_sigma(
                &format!("{km} km {} detections", k.label),
                k.detections,
                k.pulses,
                e.gain,
            );
            within_5_sigma(
                &format!("{km} km {} double clicks", k.label),
                k.double_clicks,
                k.pulses,
                e.double_click_probability,
            );
            within_5_sigma(
                &format!("{km} km {} sifted Z", k.label),
                k.sifted_z,
                k.pulses,
                e.sifted_z_per_pulse,
            );
            within_5_sigma(
                &format!("{km} km {} sifted X", k.label),
                k.sifted_x,
                k.pulses,
                e.sifted_x_per_pulse,
            );
            within_5_sigma(
                &format!("{km} km {} Z errors", k.label),
                k.errors_z,
                k.sifted_z,
                e.qber_z,
            );
            within_5_sigma(
                &format!("{km} km {} X errors", k.label),
                k.errors_x,
                k.sifted_x,
                e.qber_x,
            );
        }
        // Intensity choice: pulses per class ~ Binomial(N, p_k).
        for (k, spec) in r.per_intensity.iter().zip(&s.spec.source.intensities) {
            within_5_sigma(
                &format!("{km} km {} pulses", k.label),
                k.pulses,
                r.pulses_sent,
                spec.probability,
            );
        }
    }
}

use qkdsim::physics::{Basis, LinkModel, Preparation};
use qkdsim::protocol::{Detection, PulseEngine};

/// Long-run probability that detector `j` clicks in a gate where it is live, averaged over
/// intensities and configurations (closed form, no memory effects).
fn live_click_probability(model: &LinkModel, j: usize) -> f64 {
    let mut live = [false, false];
    live[j] = true;
    let mut p = 0.0;
    for class in &model.intensities {
        for prep in Preparation::ALL {
            for bob in Basis::BOTH {
                let w = class.probability * model.configuration_probability(prep, bob);
                let none = model.click_pattern(class.photons, prep, bob, live)[0];
                p += w * (1.0 - none);
            }
        }
    }
    p
}

/// Clicks per detector over a run of the engine.
fn clicks_per_detector(model: &LinkModel, pulses: u64, seed: u64) -> [u64; 2] {
    let engine = PulseEngine::new(model, seed);
    let mut clicks = [0u64; 2];
    engine.run(pulses, &|_| {}, |chunk| {
        for d in &chunk.detections {
            for (j, c) in clicks.iter_mut().enumerate() {
                *c += d.clicked(j) as u64;
            }
        }
    });
    clicks
}

#[test]
fn independent_dead_time_follows_renewal_theory_per_detector() {
    // 0 km, efficient detectors: a live detector clicks in ~8.5 % of gates; with 9 dead
    // gates (10 ns at 1 GHz: gate t + 10 starts exactly when the dead time ends) renewal
    // theory gives p / (1 + 9 p) per detector, about 57 % of the dead-time-free rate.
    let s = scenario(
        "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\ndark_count_probability = 1e-4\n\
         dead_time_ns = 10.0\ndead_time_mode = \"independent\"\n",
    );
    let model = LinkModel::from_scenario(&s);
    assert_eq!(model.detectors.dead_gates, 9);
    let pulses = 20_000_000;
    let clicks = clicks_per_detector(&model, pulses, 21);
    for j in 0..2 {
        let p = live_click_probability(&model, j);
        let rate = model.detectors.dead_time_click_rate(p);
        // Clicks of a renewal process are not binomial; the variance per gate of a
        // renewal count is smaller than the binomial one (inter-click times are more
        // regular), so the binomial sigma used here is conservative.
        within_5_sigma(
            &format!("detector {j} clicks with dead time"),
            clicks[j],
            pulses,
            rate,
        );
        // The dead-time-free count p N would be hundreds of sigma higher.
        assert!(
            (clicks[j] as f64) < 0.6 * p * pulses as f64,
            "dead time must cut the rate well below the free {p}"
        );
    }
}

/// Probability that a live receiver (both detectors live) gives any click in a gate.
fn receiver_click_probability(model: &LinkModel) -> f64 {
    let mut c = 0.0;
    for class in &model.intensities {
        for prep in Preparation::ALL {
            for bob in Basis::BOTH {
                let w = class.probability * model.configuration_probability(prep, bob);
                c += w * (1.0 - model.click_pattern(class.photons, prep, bob, [true, true])[0]);
            }
        }
    }
    c
}

/// Receiver clicks (gates with any click), clicks per detector, and the gaps between
/// consecutive clicked gates, from a pulse-engine run.
fn receiver_clicks(model: &LinkModel, pulses: u64, seed: u64) -> (u64, [u64; 2], Vec<u64>) {
    let engine = PulseEngine::new(model, seed);
    let (mut any, mut per, mut gaps, mut last) = (0u64, [0u64; 2], Vec::new(), None);
    engine.run(pulses, &|_| {}, |chunk| {
        for d in &chunk.detections {
            any += 1;
            for (j, c) in per.iter_mut().enumerate() {
                *c += d.clicked(j) as u64;
            }
            if let Some(prev) = last {
                gaps.push(d.pulse - prev);
            }
            last = Some(d.pulse);
        }
    });
    (any, per, gaps)
}

#[test]
fn common_dead_time_follows_renewal_theory_for_the_receiver() {
    // Common mode: any click blinds both detectors for D = 9 gates. The receiver is one
    // renewal process: live, it clicks with probability c per gate (the overall memoryless
    // gain, ~16 % here), so it clicks at the rate c / (1 + c D) and each detector at
    // L s_j, L = 1 / (1 + c D), s_j its own click probability in a live receiver.
    let s = scenario(
        "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\ndark_count_probability = 1e-4\n\
         dead_time_ns = 10.0\n",
    );
    let model = LinkModel::from_scenario(&s);
    assert!(model.detectors.common_dead_time(), "common is the default");
    let pulses = 20_000_000;
    let (any, per, gaps) = receiver_clicks(&model, pulses, 22);
    let c = receiver_click_probability(&model);
    let live = model.detectors.live_fraction(c);
    assert!((live - 1.0 / (1.0 + 9.0 * c)).abs() < 1e-15);
    // Binomial sigma: conservative for a renewal count (see above).
    within_5_sigma("receiver clicks", any, pulses, c * live);
    for j in 0..2 {
        // P(detector j clicks | receiver live): detector j's marginal law does not depend
        // on whether the other one is live, so it is `live_click_probability`.
        let s_j = live_click_probability(&model, j);
        within_5_sigma(&format!("detector {j} clicks"), per[j], pulses, live * s_j);
    }
    // Every gap between clicks is D + G, G >= 1 geometric with parameter c.
    assert_eq!(gaps.iter().min(), Some(&10));
    let first = gaps.iter().filter(|&&g| g == 10).count() as u64;
    within_5_sigma("clicks in the first live gate", first, gaps.len() as u64, c);
}

#[test]
fn dead_time_in_gates_counts_gates_that_start_before_it_ends() {
    // 1.25 GHz (0.8 ns gates). 10 ns is 12.5 periods: gates t+1 ..= t+12 start before the
    // dead time ends, gate t+13 starts 0.4 ns after it: D = 12. 10.4 ns is 13 periods:
    // gate t+13 starts exactly at the end and is live, D = 12 again. 10.5 ns: D = 13.
    // And 20 ns at 1 GHz, a whole number of gates: D = 19. Common mode, no afterpulsing:
    // consecutive clicks are at least D + 1 gates apart, and a live receiver clicks in the
    // first live gate with probability c, so gaps of exactly D + 1 are a fraction c.
    for (rate, ns, dead, seed) in [
        (1.25e9, 10.0, 12u64, 23),
        (1.25e9, 10.4, 12, 24),
        (1.25e9, 10.5, 13, 25),
        (1.0e9, 20.0, 19, 26),
    ] {
        let s = scenario(&format!(
            "[source]\nrep_rate_hz = {rate}\n[link]\nlength_km = 0.0\n[detector]\n\
             efficiency = 0.5\ndark_count_probability = 1e-4\ndead_time_ns = {ns}\n"
        ));
        let model = LinkModel::from_scenario(&s);
        assert_eq!(model.detectors.dead_gates, dead, "{ns} ns at {rate} Hz");
        let (_, _, gaps) = receiver_clicks(&model, 4_000_000, seed);
        assert_eq!(gaps.iter().min(), Some(&(dead + 1)), "{ns} ns at {rate} Hz");
        let first = gaps.iter().filter(|&&g| g == dead + 1).count() as u64;
        let c = receiver_click_probability(&model);
        within_5_sigma(
            &format!("{ns} ns at {rate} Hz: clicks in the first live gate"),
            first,
            gaps.len() as u64,
            c,
        );
    }
}

#[test]
fn afterpulsing_raises_the_dark_rate_as_expected() {
    // Vacuum only, so every spontaneous click is a dark count (d = 1e-3 per detector);
    // p_ap = 0.1 with a 5 ns trap lifetime and no dead time: c = d / (1 - (1 - d) p_ap).
    let s = scenario(
        "[link]\nlength_km = 0.0\n[[source.intensities]]\nlabel = \"vacuum\"\nmean_photon_number = 0.0\nprobability = 1.0\n\
         [detector]\ndark_count_probability = 1e-3\nafterpulse_probability = 0.1\nafterpulse_decay_ns = 5.0\n",
    );
    let model = LinkModel::from_scenario(&s);
    let pulses = 40_000_000;
    let clicks = clicks_per_detector(&model, pulses, 31);
    let expected = model.detectors.afterpulse_click_rate(1e-3);
    for (j, &c) in clicks.iter().enumerate() {
        within_5_sigma(
            &format!("detector {j} clicks with afterpulsing"),
            c,
            pulses,
            expected,
        );
        // And it is distinguishable from no afterpulsing: 1e-3 would be >40 sigma lower.
        assert!(c as f64 > 1.05e-3 * pulses as f64);
    }
}

fn digest(model: &LinkModel, pulses: u64, seed: u64, threads: usize) -> (u64, Vec<Detection>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let engine = PulseEngine::new(model, seed);
        let mut all = Vec::new();
        let mut pulses_seen = 0;
        engine.run(pulses, &|_| {}, |chunk| {
            pulses_seen += chunk.pulses;
            all.extend_from_slice(&chunk.detections);
        });
        (pulses_seen, all)
    })
}

#[test]
fn output_is_identical_for_one_and_many_threads() {
    // Dead time and afterpulsing on, so chunks are re-run from carried detector state; in
    // both dead-time modes.
    for mode in ["common", "independent"] {
        let s = scenario(&format!(
            "[link]\nlength_km = 5.0\n[detector]\nefficiency = 0.3\ndark_count_probability = 1e-4\n\
             afterpulse_probability = 0.05\ndead_time_ns = 20.0\ndead_time_mode = \"{mode}\"\n"
        ));
        let model = LinkModel::from_scenario(&s);
        let one = digest(&model, 30_000_000, 5, 1);
        let two = digest(&model, 30_000_000, 5, 2);
        let four = digest(&model, 30_000_000, 5, 4);
        assert!(!one.1.is_empty());
        assert_eq!(one, two, "{mode}");
        assert_eq!(one, four, "{mode}");
    }
}
