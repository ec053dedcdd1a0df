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
        },
        &|_| {},
        |_| {},
    )
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

use qkdsim::physics::{Basis, LinkModel, Preparation, click_pattern};
use qkdsim::protocol::{Detection, PulseEngine};

/// Long-run probability that detector `j` clicks in a gate where it is live, averaged over
/// intensities and configurations (closed form, no memory effects).
fn live_click_probability(model: &LinkModel, j: usize) -> f64 {
    let eta = model.system_transmittance();
    let mut live = [false, false];
    live[j] = true;
    let mut p = 0.0;
    for class in &model.intensities {
        for prep in Preparation::ALL {
            for bob in Basis::BOTH {
                let w = class.probability * model.configuration_probability(prep, bob);
                let none = click_pattern(
                    class.photons,
                    eta,
                    model.split.split(prep, bob),
                    model.detectors.dark_count_probability,
                    live,
                )[0];
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
fn dead_time_follows_renewal_theory() {
    // 0 km, efficient detectors: a live detector clicks in ~8.5 % of gates; with 10 dead
    // gates renewal theory gives p / (1 + 10 p), about 54 % of the dead-time-free rate.
    let s = scenario(
        "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\ndark_count_probability = 1e-4\ndead_time_ns = 10.0\n",
    );
    let model = LinkModel::from_scenario(&s);
    assert_eq!(model.detectors.dead_gates, 10);
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
    // Dead time and afterpulsing on, so chunks are re-run from carried detector state.
    let s = scenario(
        "[link]\nlength_km = 5.0\n[detector]\nefficiency = 0.3\ndark_count_probability = 1e-4\n\
         afterpulse_probability = 0.05\ndead_time_ns = 20.0\n",
    );
    let model = LinkModel::from_scenario(&s);
    let one = digest(&model, 30_000_000, 5, 1);
    let two = digest(&model, 30_000_000, 5, 2);
    let four = digest(&model, 30_000_000, 5, 4);
    assert!(!one.1.is_empty());
    assert_eq!(one, two);
    assert_eq!(one, four);
}
