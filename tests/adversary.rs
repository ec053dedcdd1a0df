//! The simulated eavesdropper (issue 16), engine and sifting level: what each attack does
//! to Bob's counts and which sifted bits Eve knows, against closed forms derived
//! independently of the engine (physics::expected for the honest link, the attacks' laws
//! written out here), and the engine choice under attack.
//!
//! Every statistical bound is 5 standard errors of the binomial counts compared (the
//! standard error from the expected rate and the observed number of trials); no
//! hand-tuned constants. Seeds are fixed.

use qkdsim::Scenario;
use qkdsim::analysis::run::{RunOptions, RunReport, simulate};
use qkdsim::physics::LinkModel;
use qkdsim::physics::expected::expected_per_intensity;
use qkdsim::protocol::SiftedBlock;

/// A 25 km SNSPD link, three intensities, memoryless detectors unless `extra` adds memory.
fn link(length_km: f64, misalignment: f64, adversary: &str, extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "adversary test"
[source]
rep_rate_hz = 1.0e8
basis_z_probability = 0.7
[[source.intensities]]
label = "signal"
mean_photon_number = 0.5
probability = 0.5
[[source.intensities]]
label = "decoy"
mean_photon_number = 0.1
probability = 0.3
[[source.intensities]]
label = "vacuum"
mean_photon_number = 0.0
probability = 0.2
[link]
length_km = {length_km}
misalignment = {misalignment}
[receiver]
transmittance = 0.9
basis_z_probability = 0.7
[detector]
efficiency = 0.85
dark_count_probability = 1.0e-6
dead_time_ns = 0.0
{extra}
[postprocessing]
block_bits = 100000
[simulation]
seed = 3
engine = "pulse"
{adversary}
"#
    );
    Scenario::parse(&text, "adversary test").unwrap()
}

fn sim(s: &Scenario, pulses: u64, engine: &str, seed: u64) -> (RunReport, Vec<SiftedBlock>) {
    let mut blocks = Vec::new();
    let opts = RunOptions {
        engine: Some(engine.into()),
        seed: Some(seed),
        pulses: Some(pulses),
        ..RunOptions::default()
    };
    let r = simulate(s, &opts, &|_| {}, |b| blocks.push(b)).unwrap();
    (r, blocks)
}

/// Known sifted Z bits per intensity class, from the blocks' masks and the records'
/// order: the masks are per sifted bit, the classes per block are not, so the tests that
/// need classes read them from a run with one class's bits only; this sums all.
fn known(blocks: &[SiftedBlock]) -> (u64, u64) {
    blocks.iter().fold((0, 0), |(k, n), b| {
        (k + b.eve.count_ones() as u64, n + b.alice.len() as u64)
    })
}

/// |observed - expected| <= 5 sigma for a proportion over `n` trials.
fn within_5_sigma(observed: f64, expected: f64, n: f64, what: &str) {
    let sigma = (expected * (1.0 - expected) / n).sqrt();
    assert!(
        (observed - expected).abs() <= 5.0 * sigma,
        "{what}: observed {observed}, expected {expected}, 5 sigma = {}",
        5.0 * sigma
    );
}

#[test]
fn intercept_resend_raises_the_qber_by_a_quarter_of_the_fraction() {
    // Law (physics::adversary): per class k, E_k(f) = e0_k + f (1 - 2 e0_k) / 4, with e0_k
    // the honest link's QBER from the closed form (physics::expected). The run's QBER is
    // the sifted-bit-weighted mean of the classes' laws; its standard error is that of a
    // sum of binomials, sqrt(sum n_k E_k (1 - E_k)) / n.
    for (f, seed) in [(1.0, 11), (0.4, 12)] {
        let s = link(
            25.0,
            0.01,
            &format!("[adversary]\nattack = \"intercept_resend\"\nfraction = {f}"),
            "",
        );
        let model = LinkModel::from_scenario(&s);
        let honest = expected_per_intensity(&model);
        let (r, blocks) = sim(&s, 4_000_000, "pulse", seed);
        for basis in ["z", "x"] {
            let (mut n, mut want, mut var) = (0.0, 0.0, 0.0);
            for (k, c) in r.per_intensity.iter().enumerate() {
                let (nk, e0) = if basis == "z" {
                    (c.sifted_z as f64, honest[k].qber_z)
                } else {
                    (c.sifted_x as f64, honest[k].qber_x)
                };
                if nk == 0.0 {
                    continue;
                }
                let e = e0 + f * (1.0 - 2.0 * e0) / 4.0;
                n += nk;
                want += nk * e;
                var += nk * e * (1.0 - e);
            }
            let got = if basis == "z" { r.qber_z } else { r.qber_x }.unwrap();
            let (want, sigma) = (want / n, var.sqrt() / n);
            assert!(
                (got - want).abs() <= 5.0 * sigma,
                "f = {f}, QBER_{basis}: {got} vs {want} (5 sigma {})",
                5.0 * sigma
            );
        }
        // Eve knows the bits where her basis was Alice's: half of the attacked pulses
        // that held a photon; a detection of class k came from an empty pulse (a dark
        // count) with probability P(n = 0) Y_0 / Q_k, Y_0 = 1 - (1 - d)^2.
        let d = 1.0e-6;
        let y0 = 1.0 - (1.0 - d) * (1.0 - d);
        let (mut expected, mut n) = (0.0, 0.0);
        for (k, c) in r.per_intensity.iter().enumerate() {
            let mu = model.intensities[k].mean_photon_number;
            let empty = (-mu).exp() * y0 / honest[k].gain;
            expected += c.sifted_z as f64 * f / 2.0 * (1.0 - empty);
            n += c.sifted_z as f64;
        }
        let (k, total) = known(&blocks);
        assert_eq!(total as f64, n);
        within_5_sigma(k as f64 / n, expected / n, n, "known sifted bits");
    }
}

#[test]
fn beam_splitting_leaves_bob_alone_and_eve_knows_by_the_thinning_law() {
    // Eve knows a detected pulse's bit with probability f (1 - exp(-mu_k (1 - eta_ch)))
    // (Poisson thinning), the photon-by-photon pulse engine and the event engine's tap
    // alike; Bob's gains stay the honest closed form.
    let f = 0.8;
    for engine in ["pulse", "event"] {
        // One intensity class per run, so the known share has one law.
        let s = {
            let base = link(
                40.0,
                0.01,
                &format!("[adversary]\nattack = \"beam_splitting\"\nfraction = {f}"),
                "",
            );
            let mut spec = base.spec.clone();
            spec.source.intensities.truncate(1);
            spec.source.intensities[0].probability = 1.0;
            Scenario::from_spec(spec).unwrap()
        };
        let model = LinkModel::from_scenario(&s);
        let eta = model.channel.transmittance();
        let mu = 0.5;
        let (r, blocks) = sim(&s, 3_000_000, engine, 21);
        assert_eq!(r.engine, engine);
        let (k, n) = known(&blocks);
        let want = f * (1.0 - (-mu * (1.0 - eta)).exp());
        within_5_sigma(k as f64 / n as f64, want, n as f64, engine);
        let gain = expected_per_intensity(&model)[0].gain;
        let c = &r.per_intensity[0];
        within_5_sigma(c.gain, gain, c.pulses as f64, "gain under beam splitting");
    }
}

#[test]
fn pns_keeps_the_signal_gain_and_gives_itself_away_on_the_decoys() {
    // Tuned at 100 km Eve blocks every single photon and part of the multi-photon pulses
    // so that the signal class keeps its honest gain (physics::adversary); the decoy class
    // (mu = 0.1, mostly single photons) then loses most of its clicks. Eve knows every
    // sifted bit of an attacked multi-photon or blocked pulse: with every single photon
    // blocked, all but the dark-count detections of forwarded pulses.
    let s = link(100.0, 0.01, "[adversary]\nattack = \"pns\"", "");
    let model = LinkModel::from_scenario(&s);
    let tuning = model.adversary.as_ref().unwrap().pns.unwrap();
    assert!(tuning.matched);
    assert_eq!(tuning.block_single, 1.0);
    let honest = expected_per_intensity(&model);
    let (r, blocks) = sim(&s, 40_000_000, "pulse", 31);
    let sig = &r.per_intensity[0];
    within_5_sigma(sig.gain, honest[0].gain, sig.pulses as f64, "signal gain");
    let dec = &r.per_intensity[1];
    let sigma = (honest[1].gain / dec.pulses as f64).sqrt();
    assert!(
        honest[1].gain - dec.gain > 5.0 * sigma,
        "decoy gain {} should fall clearly below the honest {}",
        dec.gain,
        honest[1].gain
    );
    let (k, n) = known(&blocks);
    assert!(
        k as f64 > 0.9 * n as f64,
        "Eve should know nearly every sifted bit: {k} of {n}"
    );
}

#[test]
fn the_attacked_engine_without_attack_samples_the_honest_law() {
    // fraction = 0: the photon-by-photon engine against the reference pulse engine (an
    // independent implementation with lookup tables), with dead time and afterpulses so
    // that the detector memory is exercised: per class, the gains of the two runs agree
    // within 5 standard errors of their difference.
    let s_att = {
        let t = link(
            10.0,
            0.02,
            "[adversary]\nattack = \"intercept_resend\"\nfraction = 0.0",
            "",
        );
        let mut spec = t.spec.clone();
        spec.detector.dead_time_ns = 50.0;
        spec.detector.afterpulse_probability = 0.05;
        spec.detector.afterpulse_decay_ns = 20.0;
        Scenario::from_spec(spec).unwrap()
    };
    let mut honest_spec = s_att.spec.clone();
    honest_spec.adversary = None;
    let s_hon = Scenario::from_spec(honest_spec).unwrap();
    let (a, _) = sim(&s_att, 3_000_000, "pulse", 41);
    let (h, _) = sim(&s_hon, 3_000_000, "pulse", 42);
    for (x, y) in a.per_intensity.iter().zip(&h.per_intensity) {
        let p = (x.gain + y.gain) / 2.0;
        let sigma = (p * (1.0 - p) * (1.0 / x.pulses as f64 + 1.0 / y.pulses as f64)).sqrt();
        assert!(
            (x.gain - y.gain).abs() <= 5.0 * sigma,
            "{}: {} vs {}",
            x.label,
            x.gain,
            y.gain
        );
        for (ex, nx, ey, ny) in [
            (x.errors_z, x.sifted_z, y.errors_z, y.sifted_z),
            (x.errors_x, x.sifted_x, y.errors_x, y.sifted_x),
        ] {
            if nx < 100 || ny < 100 {
                continue;
            }
            let (qx, qy) = (ex as f64 / nx as f64, ey as f64 / ny as f64);
            let q = (ex + ey) as f64 / (nx + ny) as f64;
            let sigma = (q * (1.0 - q) * (1.0 / nx as f64 + 1.0 / ny as f64)).sqrt();
            assert!(
                (qx - qy).abs() <= 5.0 * sigma,
                "{}: QBER {qx} vs {qy}",
                x.label
            );
        }
    }
}

#[test]
fn the_event_engine_refuses_what_it_cannot_simulate_and_auto_picks_the_pulse_engine() {
    let text = |engine: &str| {
        format!(
            "[link]\nlength_km = 50.0\n[simulation]\nengine = \"{engine}\"\n\
             [adversary]\nattack = \"intercept_resend\"\n"
        )
    };
    let err = Scenario::parse(&text("event"), "eve.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("simulation.engine") && err.contains("intercept_resend"),
        "{err}"
    );
    let s = Scenario::parse(&text("auto"), "eve.toml").unwrap();
    let opts = RunOptions {
        pulses: Some(100_000),
        ..RunOptions::default()
    };
    let r = simulate(&s, &opts, &|_| {}, |_| {}).unwrap();
    assert_eq!(r.engine, "pulse");
    let opts = RunOptions {
        engine: Some("event".into()),
        ..opts
    };
    let err = simulate(&s, &opts, &|_| {}, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("--engine") && err.contains("pulse"), "{err}");
    // Beam splitting of a Poisson source: the event engine is exact and auto may use it.
    let bs = "[link]\nlength_km = 100.0\n[adversary]\nattack = \"beam_splitting\"\n";
    let s = Scenario::parse(bs, "bs.toml").unwrap();
    let r = simulate(&s, &opts, &|_| {}, |_| {}).unwrap();
    assert_eq!(r.engine, "event");
    let sp = format!("{bs}[source]\nsingle_photon = true\n[simulation]\nengine = \"event\"\n");
    let err = Scenario::parse(&sp, "bs.toml").unwrap_err().to_string();
    assert!(err.contains("single-photon"), "{err}");
}
