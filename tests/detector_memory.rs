//! Dead time (both modes), afterpulsing and efficiency mismatch: both engines against the
//! stationary expectation (`expected_with_detector_memory`: exact renewal theory for a
//! common dead time without afterpulsing, mean-field otherwise), against the closed form
//! L Q_k written out here, and a check that the memoryless closed form would not pass the
//! same test (so the comparison can fail). Then the effect the dead-time attack exploits:
//! with independent dead times Bob's click probability depends on his basis while one
//! detector is blind; with a common dead time it does not (and an efficiency mismatch
//! brings the dependence back). Fixed seeds. `QKDSIM_LONG_TESTS=1` multiplies the pulse
//! counts by 10.
//!
//! Bounds: 5 standard errors, the binomial error inflated by sqrt(1 + 3 p_ap). Counts are
//! not binomial with detector memory: each click brings on average p_ap afterpulses in a
//! cluster, which raises the variance of a count by the factor E[K^2] / E[K] ~ 1 + 2 p_ap
//! for cluster size K; 1 + 3 p_ap covers the second order. Dead time only lowers the
//! variance: a renewal count with D blind gates after each click has variance per gate
//! (1 - c) c L^3 against the binomial c L (1 - c L), a ratio (1 - c) L^2 / (1 - c L) <= 1
//! (L = 1 / (1 + c D)), and thinning it by intensity class keeps the ratio <= 1. Error
//! counts given the sifted clicks are binomial in common mode without afterpulsing (a
//! live gate's outcome is independent of the past). The mean-field model neglects terms
//! of order (p_ap c)^2 and, in independent mode, c^2 D through double clicks (see
//! `Detectors::steady_state`, `Detectors::common_steady_state`); the long runs
//! (`QKDSIM_LONG_TESTS=1`, 10x the pulses, so 3.2x smaller standard errors) pass too, so
//! the model error is well inside these bounds.

use qkdsim::Scenario;
use qkdsim::physics::expected::{
    IntensityExpectation, expected_per_intensity, expected_with_detector_memory,
};
use qkdsim::physics::{Basis, LinkModel, Preparation};
use qkdsim::protocol::{Engine, EngineKind};

fn scaled(pulses: u64) -> u64 {
    if std::env::var("QKDSIM_LONG_TESTS").is_ok_and(|v| v == "1") {
        10 * pulses
    } else {
        pulses
    }
}

/// A gated InGaAs receiver where afterpulses outnumber dark counts by about 100 to 1 and
/// the dead time is 19 gates (20 ns at 1 GHz): the memoryless closed form is off by a
/// factor 30 on the vacuum gain and doubles the signal QBER. The `[detector]` table comes
/// last, so a test appends its mode and mismatch.
const INGAAS: &str = r#"
[source]
rep_rate_hz = 1.0e9
[[source.intensities]]
label = "signal"
mean_photon_number = 0.5
probability = 0.5
[[source.intensities]]
label = "decoy"
mean_photon_number = 0.1
probability = 0.25
[[source.intensities]]
label = "vacuum"
mean_photon_number = 0.0
probability = 0.25
[link]
length_km = 10.0
misalignment = 0.01
[detector]
efficiency = 0.2
dark_count_probability = 1.0e-6
afterpulse_decay_ns = 50.0
dead_time_ns = 20.0
"#;

fn ingaas(mode: &str, afterpulse: f64, mismatch: f64) -> LinkModel {
    let text = format!(
        "{INGAAS}dead_time_mode = \"{mode}\"\nafterpulse_probability = {afterpulse}\n\
         efficiency_mismatch = {mismatch}\n"
    );
    LinkModel::from_scenario(&Scenario::parse(&text, "ingaas").unwrap())
}

#[derive(Default)]
struct Counts {
    pulses: Vec<u64>,
    detections: Vec<u64>,
    sifted_z: Vec<u64>,
    errors_z: Vec<u64>,
    sifted_x: Vec<u64>,
    errors_x: Vec<u64>,
}

fn count(model: &LinkModel, kind: EngineKind, pulses: u64, seed: u64) -> Counts {
    let nk = model.intensities.len();
    let mut c = Counts {
        pulses: vec![0; nk],
        detections: vec![0; nk],
        sifted_z: vec![0; nk],
        errors_z: vec![0; nk],
        sifted_x: vec![0; nk],
        errors_x: vec![0; nk],
    };
    Engine::new(kind, model, seed).run(pulses, &|_| {}, |chunk| {
        for (k, n) in chunk.pulses_per_intensity.iter().enumerate() {
            c.pulses[k] += n;
        }
        for d in &chunk.detections {
            let k = d.intensity as usize;
            c.detections[k] += 1;
            if d.sifted() {
                let (s, e) = match d.alice_basis() {
                    Basis::Z => (&mut c.sifted_z, &mut c.errors_z),
                    Basis::X => (&mut c.sifted_x, &mut c.errors_x),
                };
                s[k] += 1;
                e[k] += d.error() as u64;
            }
        }
    });
    c
}

/// Deviation of `observed` from `trials * p` in units of the inflated binomial error.
fn sigmas(observed: u64, trials: u64, p: f64, inflation: f64) -> f64 {
    let sigma = (trials as f64 * p * (1.0 - p) * inflation).sqrt().max(1.0);
    (observed as f64 - trials as f64 * p).abs() / sigma
}

/// Worst deviation (in inflated standard errors) of the gains and QBERs of `c` from `want`.
fn worst(c: &Counts, want: &[IntensityExpectation], inflation: f64) -> (f64, String) {
    let mut worst = (0.0f64, String::new());
    for (k, e) in want.iter().enumerate() {
        for (what, observed, trials, p) in [
            ("gain", c.detections[k], c.pulses[k], e.gain),
            ("QBER Z", c.errors_z[k], c.sifted_z[k], e.qber_z),
            ("QBER X", c.errors_x[k], c.sifted_x[k], e.qber_x),
        ] {
            let off = sigmas(observed, trials, p, inflation);
            if off > worst.0 {
                worst = (
                    off,
                    format!(
                        "{} {what}: {observed} of {trials} vs {p:.4e} ({off:.2} sigma)",
                        e.label
                    ),
                );
            }
        }
    }
    worst
}

#[test]
fn both_engines_match_the_stationary_model_in_both_modes_with_and_without_afterpulsing() {
    let mut seed = 100;
    for mode in ["common", "independent"] {
        for afterpulse in [0.0, 0.05] {
            for mismatch in [1.0, 0.6] {
                let model = ingaas(mode, afterpulse, mismatch);
                assert_eq!(model.detectors.dead_gates, 19);
                let inflation = 1.0 + 3.0 * afterpulse;
                let memory = expected_with_detector_memory(&model).expect("dead time");
                let memoryless = expected_per_intensity(&model);
                let mut memoryless_worst = 0.0f64;
                for kind in [EngineKind::Pulse, EngineKind::Event] {
                    seed += 1;
                    let c = count(&model, kind, scaled(40_000_000), seed);
                    let (off, what) = worst(&c, &memory, inflation);
                    eprintln!(
                        "{mode} p_ap {afterpulse} m {mismatch} {kind:?}: worst {off:.2} sigma ({what})"
                    );
                    assert!(
                        off <= 5.0,
                        "{mode}, p_ap {afterpulse}, mismatch {mismatch}, {kind:?}: {what}"
                    );
                    memoryless_worst = memoryless_worst.max(worst(&c, &memoryless, inflation).0);
                }
                // The memoryless closed form fails the same test by far (the dead time alone
                // removes a third of the signal gain).
                assert!(
                    memoryless_worst > 50.0,
                    "{mode} {afterpulse} {mismatch}: memoryless form only {memoryless_worst:.1} sigma off"
                );
            }
        }
    }
}

#[test]
fn common_dead_time_without_afterpulsing_is_renewal_theory_exactly() {
    // The closed form written out independently of the steady-state code: a live receiver
    // clicks with probability c = sum_k p_k Q_k (the memoryless gain), the live fraction
    // is L = 1 / (1 + c D) (renewal theory), and every gain is L Q_k while every QBER is
    // the memoryless E_k (a live gate's outcome has the memoryless law).
    for mismatch in [1.0, 0.6] {
        let model = ingaas("common", 0.0, mismatch);
        let free = expected_per_intensity(&model);
        let c: f64 = free
            .iter()
            .zip(&model.intensities)
            .map(|(e, class)| class.probability * e.gain)
            .sum();
        let live = 1.0 / (1.0 + c * model.detectors.dead_gates as f64);
        let closed: Vec<IntensityExpectation> = free
            .iter()
            .map(|e| IntensityExpectation {
                gain: live * e.gain,
                ..e.clone()
            })
            .collect();
        // The stationary model is this closed form, to rounding (the click patterns are
        // differences of probabilities near 1, which for the vacuum class, whose clicks
        // have probability ~2e-6, keep about 1e-10 relative).
        let memory = expected_with_detector_memory(&model).unwrap();
        for (m, e) in memory.iter().zip(&closed) {
            assert!(
                (m.gain - e.gain).abs() <= 1e-9 * e.gain,
                "{} gain {} vs {}",
                e.label,
                m.gain,
                e.gain
            );
            assert!((m.qber_z - e.qber_z).abs() <= 1e-9, "{} QBER", e.label);
            assert!((m.qber_x - e.qber_x).abs() <= 1e-9, "{} QBER", e.label);
        }
        for (kind, seed) in [(EngineKind::Pulse, 201), (EngineKind::Event, 202)] {
            let c = count(&model, kind, scaled(40_000_000), seed);
            let (off, what) = worst(&c, &closed, 1.0);
            assert!(off <= 5.0, "mismatch {mismatch}, {kind:?}: {what}");
        }
    }
}

#[test]
fn efficiency_mismatch_is_physical_in_the_closed_form() {
    // A photon reaching detector 1 is registered with eta m: with no dark counts and an
    // ideal single-photon source, Alice's Z1 measured in Z gives a click with probability
    // eta (1 - e_d) m + eta e_d, and a photon always reaching detector 1 loses the factor m.
    let text = "[link]\nlength_km = 0.0\nmisalignment = 0.0\n[source]\nsingle_photon = true\n\
                [detector]\nefficiency = 0.5\ndark_count_probability = 0.0\nefficiency_mismatch = 0.6\n";
    let model = LinkModel::from_scenario(&Scenario::parse(text, "mismatch").unwrap());
    let photons = model.intensities[0].photons;
    let z0 = Preparation::ALL[0];
    let z1 = Preparation::ALL[1];
    let p = |prep, bob| 1.0 - model.click_pattern(photons, prep, bob, [true, true])[0];
    assert!((p(z0, Basis::Z) - 0.5).abs() < 1e-15);
    assert!((p(z1, Basis::Z) - 0.3).abs() < 1e-15);
    // Measured in X, half goes to each detector: 0.5 (0.5 + 0.5 * 0.6) = 0.4.
    assert!((p(z0, Basis::X) - 0.4).abs() < 1e-15);
    // Bob's Z bits are biased (0.3 of the 0.8 clicks are 1s) but, at e_d = 0, error-free.
    let e = &expected_per_intensity(&model)[0];
    assert!(e.qber_z.abs() < 1e-15);
    assert!((e.sifted_z_per_pulse - 0.25 * 0.5 * (0.5 + 0.3)).abs() < 1e-15);
}

#[test]
fn no_memory_means_no_second_expectation() {
    let text = INGAAS.replace("dead_time_ns = 20.0", "dead_time_ns = 0.0");
    let model = LinkModel::from_scenario(&Scenario::parse(&text, "memoryless").unwrap());
    assert!(expected_with_detector_memory(&model).is_none());
}

/// Per receiver state (which detectors are live: index live0 + 2 live1) and configuration
/// (preparation * 2 + Bob's basis): gates spent in the state and clicks seen there,
/// reconstructed from the records alone (no afterpulsing, so every blind gate follows a
/// recorded click).
struct ByState {
    gates: [u64; 4],
    clicks: [[u64; 8]; 4],
}

fn by_state(model: &LinkModel, kind: EngineKind, pulses: u64, seed: u64) -> ByState {
    assert_eq!(model.detectors.afterpulse_probability, 0.0);
    let dead = model.detectors.dead_gates;
    let common = model.detectors.common_dead_time();
    let mut out = ByState {
        gates: [0; 4],
        clicks: [[0; 8]; 4],
    };
    let mut live_from = [0u64; 2];
    let mut next = 0u64; // first gate not yet counted
    // Gates in [a, b) by state, for the current live_from.
    let count_span = |a: u64, b: u64, live_from: [u64; 2], gates: &mut [u64; 4]| {
        if a >= b {
            return;
        }
        let blind = |j: usize| (a, b.min(live_from[j].max(a)));
        let live = |j: usize| (a.max(live_from[j].min(b)), b);
        for (l0, l1) in [(false, false), (true, false), (false, true), (true, true)] {
            let r0 = if l0 { live(0) } else { blind(0) };
            let r1 = if l1 { live(1) } else { blind(1) };
            let (lo, hi) = (r0.0.max(r1.0), r0.1.min(r1.1));
            gates[l0 as usize + 2 * l1 as usize] += hi.saturating_sub(lo);
        }
    };
    Engine::new(kind, model, seed).run(pulses, &|_| {}, |chunk| {
        for d in &chunk.detections {
            let t = d.pulse;
            count_span(next, t, live_from, &mut out.gates);
            let state = (t >= live_from[0]) as usize + 2 * (t >= live_from[1]) as usize;
            out.gates[state] += 1;
            let prep = 2 * (d.alice_basis() == Basis::X) as usize + d.alice_bit() as usize;
            let config = prep * 2 + (d.bob_basis() == Basis::X) as usize;
            out.clicks[state][config] += 1;
            for j in 0..2 {
                assert!(
                    !d.clicked(j) || t >= live_from[j],
                    "blind detector {j} clicked"
                );
                if d.clicked(j) || (common && d.clicked(1 - j)) {
                    live_from[j] = t + 1 + dead;
                }
            }
            next = t + 1;
        }
    });
    count_span(next, pulses, live_from, &mut out.gates);
    assert_eq!(out.gates.iter().sum::<u64>(), pulses);
    out
}

/// Click probability per gate of configuration `config` with the detectors `live`,
/// averaged over intensities (the memoryless law of one gate).
fn click_probability(model: &LinkModel, config: usize, live: [bool; 2]) -> f64 {
    let (prep, bob) = (Preparation::ALL[config / 2], Basis::BOTH[config % 2]);
    model
        .intensities
        .iter()
        .map(|class| {
            class.probability * (1.0 - model.click_pattern(class.photons, prep, bob, live)[0])
        })
        .sum()
}

/// Estimated P(click | configuration, state) = clicks / (w_c gates) with its standard
/// error: the configuration of a gate is drawn independently of the receiver's state
/// (which depends on earlier gates only), so the clicks of a configuration in a state are
/// a sum of `gates` independent-given-the-past Bernoulli(w_c p) trials.
fn estimate(model: &LinkModel, s: &ByState, state: usize, config: usize) -> (f64, f64) {
    let (prep, bob) = (Preparation::ALL[config / 2], Basis::BOTH[config % 2]);
    let w = model.configuration_probability(prep, bob);
    let n = s.gates[state] as f64;
    let x = s.clicks[state][config] as f64;
    let q = x / n;
    ((q / w), (q * (1.0 - q) / n).sqrt() / w)
}

#[test]
fn click_probability_depends_on_bobs_basis_only_with_independent_dead_times() {
    // 0 km, efficient detectors, 9 blind gates (10 ns at 1 GHz), no afterpulsing, no
    // misalignment. Alice's |H> (Z, bit 0): measured in Z it reaches detector 0 only,
    // measured in X each detector half the time.
    let base = "[link]\nlength_km = 0.0\nmisalignment = 0.0\n[detector]\nefficiency = 0.5\n\
                dark_count_probability = 1e-4\ndead_time_ns = 10.0\n";
    let h_in_z = 0; // configuration: preparation Z0, Bob Z
    let h_in_x = 1; // preparation Z0, Bob X
    let only_0_live = 1; // state index: detector 0 live, detector 1 blind
    let both_live = 3;
    for (kind, seed) in [(EngineKind::Pulse, 301), (EngineKind::Event, 302)] {
        // Independent: while detector 1 is blind, |H> measured in Z clicks with the full
        // probability, measured in X with about half of it. Eve can thus steer Bob's
        // detections by blinding one detector (Weier et al. 2011).
        let text = format!("{base}dead_time_mode = \"independent\"\n");
        let model = LinkModel::from_scenario(&Scenario::parse(&text, "independent").unwrap());
        assert_eq!(model.detectors.dead_gates, 9);
        let s = by_state(&model, kind, scaled(20_000_000), seed);
        assert!(s.gates[only_0_live] > 1_000_000, "{:?}", s.gates);
        let (pz, ez) = estimate(&model, &s, only_0_live, h_in_z);
        let (px, ex) = estimate(&model, &s, only_0_live, h_in_x);
        for (what, got, se, config) in [("Z", pz, ez, h_in_z), ("X", px, ex, h_in_x)] {
            let want = click_probability(&model, config, [true, false]);
            assert!(
                (got - want).abs() <= 5.0 * se,
                "{kind:?} independent, detector 1 blind, |H> in {what}: {got} vs {want} (se {se})"
            );
        }
        let se = (ez * ez + ex * ex).sqrt();
        assert!(
            pz - px > 20.0 * se && pz > 1.5 * px,
            "{kind:?}: basis dependence not seen: Z {pz}, X {px}, se {se}"
        );

        // Common: no gate ever has exactly one detector blind, and with both live the
        // click probability of |H> is the same in both bases.
        let text = format!("{base}dead_time_mode = \"common\"\n");
        let model = LinkModel::from_scenario(&Scenario::parse(&text, "common").unwrap());
        let s = by_state(&model, kind, scaled(20_000_000), seed + 10);
        assert_eq!(
            s.gates[1], 0,
            "{kind:?}: detector 1 alone blind in common mode"
        );
        assert_eq!(
            s.gates[2], 0,
            "{kind:?}: detector 0 alone blind in common mode"
        );
        assert!(s.gates[0] > 1_000_000 && s.gates[both_live] > 1_000_000);
        for config in 0..8 {
            let (p, e) = estimate(&model, &s, both_live, config);
            let want = click_probability(&model, config, [true, true]);
            assert!(
                (p - want).abs() <= 5.0 * e,
                "{kind:?} common, configuration {config}: {p} vs {want} (se {e})"
            );
        }
        let (pz, ez) = estimate(&model, &s, both_live, h_in_z);
        let (px, ex) = estimate(&model, &s, both_live, h_in_x);
        assert!(
            (pz - px).abs() <= 5.0 * (ez * ez + ex * ex).sqrt(),
            "{kind:?} common: |H> clicks with {pz} in Z, {px} in X"
        );
        assert!(
            (click_probability(&model, h_in_z, [true, true])
                - click_probability(&model, h_in_x, [true, true]))
            .abs()
                < 1e-15
        );

        // Common, but detector 1 at 60 % of detector 0's efficiency: the dependence on
        // Bob's basis is back, in the live receiver itself (what `efficiency_mismatch`
        // warns about).
        let text = format!("{base}dead_time_mode = \"common\"\nefficiency_mismatch = 0.6\n");
        let model = LinkModel::from_scenario(&Scenario::parse(&text, "mismatch").unwrap());
        let s = by_state(&model, kind, scaled(20_000_000), seed + 20);
        let (pz, ez) = estimate(&model, &s, both_live, h_in_z);
        let (px, ex) = estimate(&model, &s, both_live, h_in_x);
        for (got, se, config) in [(pz, ez, h_in_z), (px, ex, h_in_x)] {
            let want = click_probability(&model, config, [true, true]);
            assert!(
                (got - want).abs() <= 5.0 * se,
                "{kind:?} mismatch: {got} vs {want}"
            );
        }
        assert!(
            pz - px > 20.0 * (ez * ez + ex * ex).sqrt(),
            "{kind:?} mismatch: Z {pz}, X {px}"
        );
    }
}

#[test]
fn shipped_hof_plauen_matches_the_stationary_model() {
    // The shipped InGaAs scenario (common dead time of 9 gates, 4 % afterpulsing with
    // 100 ns traps, 35 km + 2 dB): both engines against `expected_with_detector_memory`
    // at 5 inflated standard errors, and the memoryless closed form visibly off.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/hof-plauen.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let model = LinkModel::from_scenario(&Scenario::parse(&text, path).unwrap());
    assert!(model.detectors.common_dead_time());
    let inflation = 1.0 + 3.0 * model.detectors.afterpulse_probability;
    let memory = expected_with_detector_memory(&model).unwrap();
    let memoryless = expected_per_intensity(&model);
    for (kind, seed) in [(EngineKind::Pulse, 401), (EngineKind::Event, 402)] {
        let c = count(&model, kind, scaled(100_000_000), seed);
        let (off, what) = worst(&c, &memory, inflation);
        eprintln!("Hof-Plauen {kind:?}: worst {off:.2} sigma ({what})");
        assert!(off <= 5.0, "Hof-Plauen {kind:?}: {what}");
        let (off, what) = worst(&c, &memoryless, inflation);
        assert!(
            off > 20.0,
            "memoryless form only {off:.1} sigma off ({what})"
        );
    }
}
