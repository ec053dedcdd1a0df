//! Event-driven engine: against the closed form, against renewal theory, and against the
//! reference pulse engine (statistical equivalence: same law, different bits), plus
//! determinism for any thread count. Fixed seeds; bounds are 5 standard errors or a
//! chi-square critical value, each explained where it is used. `QKDSIM_LONG_TESTS=1`
//! multiplies the pulse counts by 10.

mod common;
use common::within_5_sigma;

use qkdsim::Scenario;
use qkdsim::physics::LinkModel;
use qkdsim::physics::expected::expected_per_intensity;
use qkdsim::protocol::event::all_live_click_probability;
use qkdsim::protocol::{Detection, Engine, EngineKind, EngineStats, EventEngine};
use statrs::distribution::{ChiSquared, ContinuousCDF};

fn model(body: &str) -> LinkModel {
    LinkModel::from_scenario(&Scenario::parse(body, "test scenario").expect("valid scenario"))
}

/// Pulse counts are multiplied by 10 under `QKDSIM_LONG_TESTS=1`.
fn scaled(pulses: u64) -> u64 {
    if std::env::var("QKDSIM_LONG_TESTS").is_ok_and(|v| v == "1") {
        10 * pulses
    } else {
        pulses
    }
}

/// Counts of one run, per intensity class and overall.
#[derive(Debug, Default)]
struct Tally {
    pulses: Vec<u64>,
    detections: Vec<u64>,
    double_clicks: Vec<u64>,
    sifted_z: Vec<u64>,
    errors_z: Vec<u64>,
    sifted_x: Vec<u64>,
    errors_x: Vec<u64>,
    clicks_per_detector: [u64; 2],
    afterpulses: u64,
    total_pulses: u64,
    /// Gates between consecutive detections (any detector), in run order.
    gaps: Vec<u64>,
    stats: EngineStats,
}

fn tally(model: &LinkModel, kind: EngineKind, pulses: u64, seed: u64, keep_gaps: bool) -> Tally {
    let nk = model.intensities.len();
    let mut t = Tally {
        pulses: vec![0; nk],
        detections: vec![0; nk],
        double_clicks: vec![0; nk],
        sifted_z: vec![0; nk],
        errors_z: vec![0; nk],
        sifted_x: vec![0; nk],
        errors_x: vec![0; nk],
        ..Tally::default()
    };
    let mut last: Option<u64> = None;
    let engine = Engine::new(kind, model, seed);
    t.stats = engine.run(pulses, &|_| {}, |chunk| {
        t.total_pulses += chunk.pulses;
        for (k, n) in chunk.pulses_per_intensity.iter().enumerate() {
            t.pulses[k] += n;
        }
        for d in &chunk.detections {
            let k = d.intensity as usize;
            t.detections[k] += 1;
            t.double_clicks[k] += d.double_click() as u64;
            if d.sifted() {
                let (s, e) = if d.alice_basis() == qkdsim::physics::Basis::Z {
                    (&mut t.sifted_z, &mut t.errors_z)
                } else {
                    (&mut t.sifted_x, &mut t.errors_x)
                };
                s[k] += 1;
                e[k] += d.error() as u64;
            }
            for j in 0..2 {
                t.clicks_per_detector[j] += d.clicked(j) as u64;
            }
            t.afterpulses += (d.flags & Detection::FLAG_AFTERPULSE != 0) as u64;
            if keep_gaps {
                if let Some(prev) = last {
                    t.gaps.push(d.pulse - prev);
                }
                last = Some(d.pulse);
            }
        }
    });
    t
}

/// Two-sample test of equal proportions x1/n1 and x2/n2: |difference| <= 5 standard
/// errors of the difference under the pooled proportion, sqrt(p (1 - p) (1/n1 + 1/n2)).
fn same_proportion(what: &str, x1: u64, n1: u64, x2: u64, n2: u64) {
    if n1 == 0 || n2 == 0 {
        // No proportion to compare, but the two totals must agree too: for two equal
        // Poisson rates, all of n events landing in one run has probability 2^(1-n),
        // below the one-sided 5-sigma tail (2.9e-7) from n = 23 on.
        assert!(
            n1 + n2 < 23,
            "{what}: pulse engine has {n1} events, event engine {n2}"
        );
        return;
    }
    let p = (x1 + x2) as f64 / (n1 + n2) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    let diff = x1 as f64 / n1 as f64 - x2 as f64 / n2 as f64;
    assert!(
        diff.abs() <= 5.0 * se.max(1e-300),
        "{what}: pulse {x1}/{n1} vs event {x2}/{n2}, {:.2} standard errors apart",
        diff.abs() / se
    );
}

/// Compares every per-intensity figure of two runs (pulse engine `a`, event engine `b`).
fn same_per_intensity(label: &str, a: &Tally, b: &Tally) {
    for k in 0..a.pulses.len() {
        let l = format!("{label} class {k}");
        same_proportion(
            &format!("{l} pulses"),
            a.pulses[k],
            a.total_pulses,
            b.pulses[k],
            b.total_pulses,
        );
        same_proportion(
            &format!("{l} gain"),
            a.detections[k],
            a.pulses[k],
            b.detections[k],
            b.pulses[k],
        );
        same_proportion(
            &format!("{l} double-click fraction"),
            a.double_clicks[k],
            a.detections[k],
            b.double_clicks[k],
            b.detections[k],
        );
        same_proportion(
            &format!("{l} sifted Z fraction"),
            a.sifted_z[k],
            a.detections[k],
            b.sifted_z[k],
            b.detections[k],
        );
        same_proportion(
            &format!("{l} QBER Z"),
            a.errors_z[k],
            a.sifted_z[k],
            b.errors_z[k],
            b.sifted_z[k],
        );
        same_proportion(
            &format!("{l} QBER X"),
            a.errors_x[k],
            a.sifted_x[k],
            b.errors_x[k],
            b.sifted_x[k],
        );
    }
}

#[test]
fn event_engine_matches_closed_form_and_pulse_engine_without_memory() {
    for (km, seed) in [(0.0, 41), (25.0, 42), (50.0, 43), (100.0, 44)] {
        let m = model(&format!(
            "[link]\nlength_km = {km}\nmisalignment = 0.02\n[detector]\nefficiency = 0.2\ndark_count_probability = 1e-5\n"
        ));
        // The event engine is cheap at long distance: give it more pulses there.
        let n_event = scaled(if km >= 50.0 { 400_000_000 } else { 40_000_000 });
        let n_pulse = scaled(40_000_000);
        let ev = tally(&m, EngineKind::Event, n_event, seed, false);
        let pu = tally(&m, EngineKind::Pulse, n_pulse, seed + 100, false);
        assert_eq!(ev.total_pulses, n_event);
        assert_eq!(ev.pulses.iter().sum::<u64>(), n_event);
        for (k, e) in expected_per_intensity(&m).iter().enumerate() {
            let l = format!("{km} km {}", e.label);
            within_5_sigma(
                &format!("{l} pulses"),
                ev.pulses[k],
                n_event,
                m.intensities[k].probability,
            );
            within_5_sigma(
                &format!("{l} detections"),
                ev.detections[k],
                ev.pulses[k],
                e.gain,
            );
            within_5_sigma(
                &format!("{l} double clicks"),
                ev.double_clicks[k],
                ev.pulses[k],
                e.double_click_probability,
            );
            within_5_sigma(
                &format!("{l} sifted Z"),
                ev.sifted_z[k],
                ev.pulses[k],
                e.sifted_z_per_pulse,
            );
            within_5_sigma(
                &format!("{l} Z errors"),
                ev.errors_z[k],
                ev.sifted_z[k],
                e.qber_z,
            );
            within_5_sigma(
                &format!("{l} X errors"),
                ev.errors_x[k],
                ev.sifted_x[k],
                e.qber_x,
            );
        }
        same_per_intensity(&format!("{km} km"), &pu, &ev);
    }
}

/// The link with detector memory used by the equivalence tests: 5 km, efficient
/// detectors, dark counts, 19 dead gates (20 ns at 1 GHz) and afterpulsing (p_ap 5 %,
/// 100 ns traps); the dead-time mode is appended.
const MEMORY_LINK: &str = "[link]\nlength_km = 5.0\n[detector]\nefficiency = 0.3\n\
    dark_count_probability = 1e-4\nafterpulse_probability = 0.05\ndead_time_ns = 20.0\n";

fn memory_link(mode: &str) -> LinkModel {
    model(&format!("{MEMORY_LINK}dead_time_mode = \"{mode}\"\n"))
}

#[test]
fn engines_agree_with_dead_time_and_afterpulsing_in_both_modes() {
    // With detector memory counts are no longer binomial: dead time makes them more
    // regular (smaller variance), afterpulses cluster them (larger variance, by a factor
    // of about (1 + p_ap)^2 ~ 1.1 here). The 5-sigma binomial bounds below thus hold at
    // about 4.7 true standard errors or more: still far outside chance at fixed seeds.
    for (mode, seed) in [("common", 51), ("independent", 53)] {
        let m = memory_link(mode);
        let n = scaled(40_000_000);
        let pu = tally(&m, EngineKind::Pulse, n, seed, false);
        let ev = tally(&m, EngineKind::Event, n, seed + 1, false);
        assert!(ev.afterpulses > 1000 && pu.afterpulses > 1000);
        assert!(ev.stats.rerun_chunks > 0, "carried state must be exercised");
        same_per_intensity(&format!("memory link, {mode}"), &pu, &ev);
        for j in 0..2 {
            same_proportion(
                &format!("{mode}: detector {j} clicks per gate"),
                pu.clicks_per_detector[j],
                n,
                ev.clicks_per_detector[j],
                n,
            );
        }
        let (dp, de) = (
            pu.detections.iter().sum::<u64>(),
            ev.detections.iter().sum::<u64>(),
        );
        same_proportion(
            &format!("{mode}: afterpulse fraction"),
            pu.afterpulses,
            dp,
            ev.afterpulses,
            de,
        );
    }
}

#[test]
fn inter_click_times_agree_by_chi_square() {
    for (mode, seed) in [("common", 60), ("independent", 160)] {
        inter_click_times_agree(mode, seed);
    }
}

fn inter_click_times_agree(mode: &str, seed: u64) {
    // Distribution of the number of gates between consecutive detections, with dead time
    // and afterpulsing on (this is where the engines differ most in mechanics). Bin edges
    // are the 5 %, 10 %, ..., 95 % quantiles of an independent pilot run of the pulse
    // engine (seed `seed`), so they do not depend on the two samples compared.
    let m = memory_link(mode);
    let n = scaled(20_000_000);
    let mut pilot = tally(&m, EngineKind::Pulse, n / 4, seed, true).gaps;
    pilot.sort_unstable();
    let mut edges: Vec<u64> = (1..20).map(|i| pilot[i * pilot.len() / 20]).collect();
    edges.dedup();
    // An edge at the shortest gap would leave the bin below it structurally empty (in
    // common mode no gap is shorter than D + 1, and more than 5 % of gaps are exactly that).
    edges.retain(|&e| e > pilot[0]);
    let bins = edges.len() + 1;
    let histogram = |gaps: &[u64]| {
        let mut h = vec![0u64; bins];
        for &g in gaps {
            h[edges.partition_point(|&e| e <= g)] += 1;
        }
        h
    };
    let a = histogram(&tally(&m, EngineKind::Pulse, n, seed + 1, true).gaps);
    let b = histogram(&tally(&m, EngineKind::Event, n, seed + 2, true).gaps);
    let (na, nb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    // Chi-square test of homogeneity of two samples over `bins` bins:
    // X^2 = sum_i sum_b (O_ib - E_ib)^2 / E_ib, E_ib = n_i (O_1b + O_2b) / (n_1 + n_2),
    // asymptotically chi-square with bins - 1 degrees of freedom.
    let mut x2 = 0.0;
    for i in 0..bins {
        let pooled = (a[i] + b[i]) as f64 / (na + nb);
        assert!(pooled * na.min(nb) > 50.0, "{mode}: bin {i} too sparse");
        for (o, total) in [(a[i] as f64, na), (b[i] as f64, nb)] {
            let e = total * pooled;
            x2 += (o - e) * (o - e) / e;
        }
    }
    // Critical value at significance 1e-6 (for 19 degrees of freedom, 63.7; computed from
    // the chi-square quantile function of statrs because dedup may merge bins). The
    // small level leaves room for the short-range correlation of successive gaps that
    // afterpulses introduce (they make the statistic slightly over-dispersed).
    let df = (bins - 1) as f64;
    let critical = ChiSquared::new(df).unwrap().inverse_cdf(1.0 - 1e-6);
    eprintln!(
        "{mode} inter-click times: X^2 = {x2:.1}, {df} degrees of freedom, critical {critical:.1}"
    );
    assert!(
        x2 <= critical,
        "{mode}: inter-click times differ: X^2 = {x2:.1} > {critical:.1} ({bins} bins)\npulse {a:?}\nevent {b:?}"
    );
}

/// Probability that detector `j` clicks in a gate where it is live (or, `j = None`, that
/// a live receiver gives any click), averaged over intensities and configurations.
fn live_click_probability(m: &LinkModel, j: Option<usize>) -> f64 {
    let live = match j {
        Some(j) => [j == 0, j == 1],
        None => [true, true],
    };
    let mut p = 0.0;
    for class in &m.intensities {
        for prep in qkdsim::physics::Preparation::ALL {
            for bob in qkdsim::physics::Basis::BOTH {
                let none = m.click_pattern(class.photons, prep, bob, live)[0];
                p += class.probability * m.configuration_probability(prep, bob) * (1.0 - none);
            }
        }
    }
    p
}

#[test]
fn event_engine_follows_renewal_theory_for_dead_time_in_both_modes() {
    // Same checks as for the pulse engine. Independent: a live detector that clicks with
    // probability p per gate, blind for D gates after each click, clicks at the rate
    // p / (1 + p D). Common: the receiver as a whole, with c its any-click probability,
    // clicks at c / (1 + c D), and detector j at s_j / (1 + c D). (Binomial sigma,
    // conservative for a renewal count, which is more regular.)
    let base = "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\n\
                dark_count_probability = 1e-4\ndead_time_ns = 10.0\n";
    let pulses = scaled(20_000_000);
    let m = model(&format!("{base}dead_time_mode = \"independent\"\n"));
    assert_eq!(m.detectors.dead_gates, 9);
    let t = tally(&m, EngineKind::Event, pulses, 71, false);
    for j in 0..2 {
        within_5_sigma(
            &format!("independent: detector {j} clicks with dead time"),
            t.clicks_per_detector[j],
            pulses,
            m.detectors
                .dead_time_click_rate(live_click_probability(&m, Some(j))),
        );
    }
    let m = model(&format!("{base}dead_time_mode = \"common\"\n"));
    let t = tally(&m, EngineKind::Event, pulses, 72, false);
    let c = live_click_probability(&m, None);
    within_5_sigma(
        "common: receiver clicks",
        t.detections.iter().sum::<u64>(),
        pulses,
        m.detectors.dead_time_click_rate(c),
    );
    for j in 0..2 {
        within_5_sigma(
            &format!("common: detector {j} clicks"),
            t.clicks_per_detector[j],
            pulses,
            live_click_probability(&m, Some(j)) * m.detectors.live_fraction(c),
        );
    }
}

#[test]
fn event_engine_afterpulsing_raises_the_dark_rate_as_expected() {
    // Vacuum only (every spontaneous click is a dark count, d = 1e-3), p_ap = 0.1, 5 ns
    // traps, no dead time: c = d / (1 - (1 - d) p_ap) per detector and gate.
    let m = model(
        "[link]\nlength_km = 0.0\n[[source.intensities]]\nlabel = \"vacuum\"\nmean_photon_number = 0.0\nprobability = 1.0\n\
         [detector]\ndark_count_probability = 1e-3\nafterpulse_probability = 0.1\nafterpulse_decay_ns = 5.0\n",
    );
    let pulses = scaled(40_000_000);
    let t = tally(&m, EngineKind::Event, pulses, 81, false);
    let expected = m.detectors.afterpulse_click_rate(1e-3);
    for (j, &c) in t.clicks_per_detector.iter().enumerate() {
        within_5_sigma(
            &format!("detector {j} clicks with afterpulsing"),
            c,
            pulses,
            expected,
        );
        assert!(c as f64 > 1.05e-3 * pulses as f64);
    }
}

#[test]
fn records_respect_dead_time_and_order() {
    // Independent: a detector never clicks within D gates of its own last click. Common:
    // no detector clicks within D gates of any click; gate t + D + 1 may click.
    for (mode, seed) in [("independent", 90), ("common", 91)] {
        let m = memory_link(mode);
        let dead = m.detectors.dead_gates;
        assert_eq!(
            dead, 19,
            "20 ns at 1 GHz: gate t + 20 starts when the dead time ends"
        );
        let engine = EventEngine::new(&m, seed);
        let mut last_click: [Option<u64>; 2] = [None, None];
        let mut last_pulse: Option<u64> = None;
        let mut next_first = 0;
        let mut shortest = u64::MAX;
        engine.run(scaled(10_000_000), &|_| {}, |chunk| {
            assert_eq!(chunk.first_pulse, next_first);
            next_first += chunk.pulses;
            assert_eq!(chunk.pulses_per_intensity.iter().sum::<u64>(), chunk.pulses);
            for d in &chunk.detections {
                assert!(d.pulse >= chunk.first_pulse && d.pulse < next_first);
                assert!(last_pulse.is_none_or(|p| p < d.pulse), "pulse order");
                if let Some(p) = last_pulse {
                    shortest = shortest.min(d.pulse - p);
                }
                last_pulse = Some(d.pulse);
                for j in 0..2 {
                    if d.clicked(j) {
                        if let Some(prev) = last_click[j] {
                            assert!(
                                d.pulse > prev + dead,
                                "{mode}: detector {j} clicked while blind"
                            );
                        }
                        last_click[j] = Some(d.pulse);
                    }
                }
            }
        });
        if mode == "common" {
            assert_eq!(
                shortest,
                dead + 1,
                "common: clicks at least D + 1 gates apart"
            );
        } else {
            assert!(
                shortest < dead,
                "independent: the other detector clicks within D gates"
            );
        }
    }
}

fn digest(model: &LinkModel, pulses: u64, seed: u64, threads: usize) -> (u64, u64, Vec<Detection>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let engine = EventEngine::new(model, seed);
        let mut all = Vec::new();
        let mut pulses_seen = 0;
        let mut per_intensity_hash = 0u64;
        let stats = engine.run(pulses, &|_| {}, |chunk| {
            pulses_seen += chunk.pulses;
            for &n in &chunk.pulses_per_intensity {
                per_intensity_hash = per_intensity_hash.wrapping_mul(1_000_003).wrapping_add(n);
            }
            all.extend_from_slice(&chunk.detections);
        });
        assert!(stats.chunks >= 4 && stats.rerun_chunks > 0);
        (pulses_seen, per_intensity_hash, all)
    })
}

#[test]
fn event_output_is_identical_for_one_two_and_four_threads() {
    // Dead time and afterpulsing on, so chunks are re-run from carried detector state.
    for mode in ["common", "independent"] {
        let m = memory_link(mode);
        let one = digest(&m, 30_000_000, 5, 1);
        let two = digest(&m, 30_000_000, 5, 2);
        let four = digest(&m, 30_000_000, 5, 4);
        assert!(!one.2.is_empty());
        assert_eq!(one, two, "{mode}");
        assert_eq!(one, four, "{mode}");
    }
}

#[test]
fn chunk_length_grows_as_clicks_get_rarer() {
    let near = EventEngine::new(&model("[link]\nlength_km = 0.0\n"), 1);
    let far = EventEngine::new(&model("[link]\nlength_km = 100.0\n"), 1);
    assert_eq!(near.chunk_pulses(), qkdsim::protocol::CHUNK_PULSES);
    assert!(far.chunk_pulses() > 16 * near.chunk_pulses());
    // Expected clicks per chunk stay near the target.
    let c = all_live_click_probability(far.model());
    assert!(far.chunk_pulses() as f64 * c <= qkdsim::protocol::event::TARGET_CLICKS_PER_CHUNK);
}

/// The Bayreuth - Zwickau equipment (`scenarios/bayreuth-zwickau.toml`) at `km` with the
/// given dead time and afterpulsing (100 ns traps): the bench's configurations.
fn bayreuth_zwickau(km: f64, dead_ns: f64, p_ap: f64) -> LinkModel {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bayreuth-zwickau.toml"
    );
    let mut s = Scenario::parse(&std::fs::read_to_string(path).unwrap(), path).unwrap();
    for (key, value) in [
        ("link.length_km", km),
        ("detector.dead_time_ns", dead_ns),
        ("detector.afterpulse_probability", p_ap),
        ("detector.afterpulse_decay_ns", 100.0),
    ] {
        s = qkdsim::scenario::with_value(&s, key, value).unwrap();
    }
    LinkModel::from_scenario(&s)
}

/// Chi-square goodness of fit of the gaps between consecutive detections to the exact
/// law P(gap = offset + 1 + g) = (1 - c)^g c, g >= 0, over 20 bins of about equal
/// probability whose probabilities are computed from the law, not from the sample;
/// critical value at significance 1e-6 (statrs quantile).
fn gaps_fit_shifted_geometric(what: &str, gaps: &[u64], offset: u64, c: f64) {
    // P(g >= a) = (1 - c)^a.
    let tail = |a: u64| ((a as f64) * (-c).ln_1p()).exp();
    let mut edges: Vec<u64> = (1..20)
        .map(|i| ((1.0 - i as f64 / 20.0).ln() / (-c).ln_1p()).ceil() as u64)
        .collect();
    edges.dedup();
    edges.retain(|&e| e > 0);
    let bins = edges.len() + 1;
    let mut observed = vec![0u64; bins];
    for &gap in gaps {
        assert!(gap > offset, "{what}: gap {gap} within the dead time");
        let g = gap - offset - 1;
        observed[edges.partition_point(|&e| e <= g)] += 1;
    }
    let n = gaps.len() as f64;
    let mut x2 = 0.0;
    for b in 0..bins {
        let lo = if b == 0 { 0 } else { edges[b - 1] };
        let p = tail(lo) - if b + 1 < bins { tail(edges[b]) } else { 0.0 };
        let e = n * p;
        assert!(e > 50.0, "{what}: bin {b} too sparse");
        x2 += (observed[b] as f64 - e).powi(2) / e;
    }
    let critical = ChiSquared::new((bins - 1) as f64)
        .unwrap()
        .inverse_cdf(1.0 - 1e-6);
    eprintln!("{what}: X^2 = {x2:.1} over {bins} bins, critical {critical:.1}");
    assert!(
        x2 <= critical,
        "{what}: X^2 = {x2:.1} > {critical:.1}\n{observed:?}"
    );
}

#[test]
fn one_word_gaps_are_geometric_with_and_without_a_common_dead_time() {
    // Independent derivation: without afterpulsing, live gates click independently with
    // probability c (the both-live click probability, summed here from click_pattern), so
    // the gap between consecutive detections is 1 + Geometric(c) without dead time, and
    // D + 1 + Geometric(c) with a common dead time of D gates (D blind gates, then i.i.d.
    // live gates). This checks the table-driven logarithm and the dead-time jump of the
    // one-word loop against the exact law, across chunk boundaries (the gaps are taken
    // over a whole run, with carried state).
    for (km, dead_ns, seed) in [
        (25.0, 0.0, 201),
        (50.0, 0.0, 202),
        (25.0, 20.0, 203),
        (100.0, 20.0, 204),
    ] {
        let m = bayreuth_zwickau(km, dead_ns, 0.0);
        let c = live_click_probability(&m, None);
        let pulses = scaled((4e5 / c) as u64);
        let t = tally(&m, EngineKind::Event, pulses, seed, true);
        gaps_fit_shifted_geometric(
            &format!("{km} km, {dead_ns} ns dead time"),
            &t.gaps,
            m.detectors.dead_gates,
            c,
        );
    }
}

#[test]
fn bench_configurations_agree_with_the_pulse_engine() {
    // The bench's equipment with the common 20 ns dead time and afterpulsing (released
    // carriers are forced gates of the one-word loop), and without dead time: every
    // per-intensity figure, the per-detector click rates and the afterpulse fraction, at
    // 5 standard errors (see engines_agree_with_dead_time_and_afterpulsing_in_both_modes
    // for why binomial errors are adequate). 10 km and 2e8 pulses give ~5e6 clicks.
    for (dead_ns, p_ap, seed) in [(20.0, 0.02, 301), (0.0, 0.0, 303), (20.0, 0.0, 305)] {
        let m = bayreuth_zwickau(10.0, dead_ns, p_ap);
        let n = scaled(200_000_000);
        let pu = tally(&m, EngineKind::Pulse, n, seed, false);
        let ev = tally(&m, EngineKind::Event, n, seed + 1, false);
        let label = format!("Bayreuth - Zwickau 10 km, {dead_ns} ns, p_ap {p_ap}");
        same_per_intensity(&label, &pu, &ev);
        for j in 0..2 {
            same_proportion(
                &format!("{label}: detector {j} clicks per gate"),
                pu.clicks_per_detector[j],
                n,
                ev.clicks_per_detector[j],
                n,
            );
        }
        let (dp, de) = (
            pu.detections.iter().sum::<u64>(),
            ev.detections.iter().sum::<u64>(),
        );
        same_proportion(
            &format!("{label}: afterpulse fraction"),
            pu.afterpulses,
            dp,
            ev.afterpulses,
            de,
        );
        if p_ap > 0.0 {
            assert!(ev.afterpulses > 1000, "forced gates exercised");
        }
    }
}

#[test]
fn afterpulsing_without_dead_time_agrees_in_both_modes_with_the_pulse_engine() {
    // D = 0: no gate is ever blind, so the dead-time mode cannot matter and the one-word
    // loop serves both; released carriers are forced gates at every distance.
    for (mode, seed) in [("common", 401), ("independent", 403)] {
        let m = model(&format!(
            "[link]\nlength_km = 0.0\n[[source.intensities]]\nlabel = \"vacuum\"\nmean_photon_number = 0.0\nprobability = 1.0\n\
             [detector]\ndark_count_probability = 1e-3\nafterpulse_probability = 0.1\nafterpulse_decay_ns = 5.0\n\
             dead_time_mode = \"{mode}\"\n"
        ));
        let n = scaled(40_000_000);
        let pu = tally(&m, EngineKind::Pulse, n, seed, false);
        let ev = tally(&m, EngineKind::Event, n, seed + 1, false);
        for j in 0..2 {
            same_proportion(
                &format!("{mode}: detector {j} clicks"),
                pu.clicks_per_detector[j],
                n,
                ev.clicks_per_detector[j],
                n,
            );
        }
        let (dp, de) = (
            pu.detections.iter().sum::<u64>(),
            ev.detections.iter().sum::<u64>(),
        );
        same_proportion(
            &format!("{mode}: afterpulse fraction"),
            pu.afterpulses,
            dp,
            ev.afterpulses,
            de,
        );
        same_per_intensity(mode, &pu, &ev);
    }
}
