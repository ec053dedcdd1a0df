//! The whole pipeline on simulated bits: identical final keys, key lengths equal to the
//! finite-key formula on each block's own counts and disclosed bits, agreement with the
//! finite-key theory curve, and the abort paths.

use qkdsim::Scenario;
use qkdsim::analysis::pipeline::intensity_counts;
use qkdsim::analysis::run::{RunOptions, RunOutput, run};
use qkdsim::estimation::{
    SecurityParameters, finite_key_length, scenario_rates, single_photon_key_length,
};
use qkdsim::scenario::with_value;
use std::path::Path;

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::parse(&std::fs::read_to_string(&path).unwrap(), name).unwrap()
}

fn run_with(s: &Scenario, pulses: u64, seed: u64) -> RunOutput {
    run(
        s,
        &RunOptions {
            seed: Some(seed),
            pulses: Some(pulses),
            keep_keys: true,
            ..RunOptions::default()
        },
        &|_| {},
    )
    .expect("run succeeds")
}

/// A lab link (10 dB, no detector memory) with the finite-key-optimal settings for
/// 1e5-bit blocks from `qkdsim theory --optimize`, so that small blocks give key.
fn small_block_lab() -> Scenario {
    let text = r#"
name = "lab, 1e5-bit blocks"
[source]
basis_z_probability = 0.7
[[source.intensities]]
label = "signal"
mean_photon_number = 0.54
probability = 0.15
[[source.intensities]]
label = "decoy"
mean_photon_number = 0.21
probability = 0.55
[[source.intensities]]
label = "vacuum"
mean_photon_number = 0.0
probability = 0.30
[link]
length_km = 0.0
extra_loss_db = 10.0
misalignment = 0.01
[receiver]
basis_z_probability = 0.7
[detector]
efficiency = 0.2
dark_count_probability = 1e-6
[postprocessing]
block_bits = 100000
"#;
    Scenario::parse(text, "small_block_lab").unwrap()
}

/// Recomputes each block's key length from its reported counts and disclosed bits with
/// the finite-key bound, independently of the pipeline's own call.
fn check_blocks(s: &Scenario, out: &RunOutput) {
    let sp = &s.spec;
    let sec = SecurityParameters {
        epsilon_sec: sp.postprocessing.epsilon_sec,
        epsilon_cor: sp.postprocessing.epsilon_cor,
        basis_z_probability_alice: sp.source.basis_z_probability,
        basis_z_probability_bob: sp.receiver.basis_z_probability,
    };
    let mut total = 0;
    for b in &out.report.per_block {
        assert!(b.final_keys_match, "block {}: final keys differ", b.index);
        if b.aborted.is_some() && b.leaked_bits == 0 {
            continue; // aborted before error correction
        }
        let classes: Vec<(f64, f64)> = sp
            .source
            .intensities
            .iter()
            .map(|k| (k.mean_photon_number, k.probability))
            .collect();
        let counts = intensity_counts(&b.per_intensity, &classes);
        let expect = if b.verified {
            let bound = if sp.source.single_photon {
                single_photon_key_length(&counts, b.leaked_bits as f64, &sec, true)
            } else {
                finite_key_length(&counts, b.leaked_bits as f64, &sec)
            };
            bound.key_bits.min(b.sifted_bits)
        } else {
            0
        };
        assert_eq!(
            b.secret_bits, expect,
            "block {}: key length differs from the finite-key bound",
            b.index
        );
        total += b.secret_bits;
    }
    assert_eq!(out.report.secret_bits, total);
    if let Some(keys) = &out.keys {
        assert_eq!(keys.alice.len() as u64, total);
        assert_eq!(keys.alice, keys.bob, "Alice's and Bob's final keys differ");
    }
}

#[test]
fn shipped_scenarios_give_identical_keys_of_the_finite_key_length() {
    // The shipped equipment at 10 km with 3e5-bit blocks, so that a short run forms
    // several blocks and (except GYS, whose source certifies no single-photon events in
    // blocks this small) produces key: the key comparison and the length check then
    // run on real final keys, not only on aborted blocks.
    for (name, gives_key) in [
        ("bayreuth-zwickau.toml", true),
        ("hof-plauen.toml", true),
        ("lab-back-to-back.toml", true),
        ("gys-2004.toml", false),
    ] {
        let s = with_value(&load(name), "postprocessing.block_bits", 300_000.0).unwrap();
        let s = with_value(&s, "link.length_km", 10.0).unwrap();
        for seed in [1, 2] {
            let out = run_with(&s, 300_000_000, seed);
            assert!(
                out.report.blocks >= 2,
                "{name}: {} blocks",
                out.report.blocks
            );
            check_blocks(&s, &out);
            if gives_key {
                assert!(
                    out.report.secret_bits > 0,
                    "{name}, seed {seed}: no key: {:?}",
                    out.report.aborted
                );
            } else {
                let reason = out.report.aborted.clone().unwrap_or_default();
                assert!(
                    reason.contains("no single-photon events can be certified"),
                    "{name}: {reason}"
                );
            }
        }
    }
    // And the small-block lab link, whose settings are optimal for its block size.
    let s = small_block_lab();
    let out = run_with(&s, 200_000_000, 3);
    assert!(
        out.report.secret_bits > 0,
        "the small-block lab link must give key: {:?}",
        out.report.aborted
    );
    check_blocks(&s, &out);
}

#[test]
fn an_ideal_single_photon_source_gives_key_of_the_single_photon_length() {
    // No decoys to estimate from: every detection is a single-photon event, and the blocks
    // must give key (they gave none while the pipeline only knew the decoy bound).
    let text = r#"
name = "single photons, 13 dB"
[source]
single_photon = true
[[source.intensities]]
label = "single"
mean_photon_number = 1.0
probability = 1.0
[link]
length_km = 0.0
extra_loss_db = 13.0
misalignment = 0.01
[postprocessing]
block_bits = 100000
"#;
    let s = Scenario::parse(text, "single_photon").unwrap();
    let out = run_with(&s, 300_000_000, 4);
    assert!(out.report.blocks >= 2, "blocks {}", out.report.blocks);
    assert!(
        out.report.secret_bits > 0,
        "an ideal single-photon source must give key: {:?}",
        out.report.aborted
    );
    check_blocks(&s, &out);
}

#[test]
fn simulated_key_rate_agrees_with_the_finite_key_curve() {
    let s = small_block_lab();
    let long = std::env::var("QKDSIM_LONG_TESTS").is_ok_and(|v| v == "1");
    let pulses = if long { 5_000_000_000 } else { 1_000_000_000 };
    let out = run_with(&s, pulses, 11);
    let full: Vec<_> = out.report.per_block.iter().filter(|b| !b.partial).collect();
    let rates: Vec<f64> = full
        .iter()
        .map(|b| b.secret_bits as f64 / (b.end_pulse - b.first_pulse) as f64)
        .collect();
    let n = rates.len() as f64;
    let mean = rates.iter().sum::<f64>() / n;
    let sd = (rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let se = sd / n.sqrt();
    let f_ec = out.report.ec.efficiency;
    let theory_scenario = with_value(&s, "postprocessing.f_ec", f_ec).unwrap();
    let theory = scenario_rates(&theory_scenario).secret_bits_per_pulse_finite;
    eprintln!(
        "blocks {n}, simulated {mean:.4e} +- {se:.2e} (sd {sd:.2e}), theory {theory:.4e} at f_EC {f_ec:.4}"
    );
    assert!(
        (mean - theory).abs() <= 5.0 * se,
        "simulated {mean} vs theory {theory}, se {se}"
    );
}

#[test]
fn high_misalignment_aborts_every_block_with_the_qber_reason() {
    let s = with_value(&small_block_lab(), "link.misalignment", 0.2).unwrap();
    let out = run_with(&s, 100_000_000, 5);
    assert!(out.report.blocks >= 2);
    for b in &out.report.per_block {
        let reason = b.aborted.as_deref().unwrap_or("");
        assert!(
            reason.contains("QBER") && reason.contains("qber_abort"),
            "block {}: {reason}",
            b.index
        );
        assert_eq!(b.secret_bits, 0);
    }
    assert_eq!(out.report.secret_bits, 0);
    assert!(out.report.aborted.as_deref().unwrap_or("").contains("QBER"));
}

#[test]
fn a_link_too_long_for_key_reports_zero_with_a_reason() {
    let s = with_value(&small_block_lab(), "link.length_km", 150.0).unwrap();
    let s = with_value(&s, "postprocessing.block_bits", 2000.0).unwrap();
    let out = run_with(&s, 200_000_000, 6);
    assert!(out.report.blocks >= 1, "some block must form");
    assert_eq!(out.report.secret_bits, 0);
    assert!(out.report.aborted.is_some());
    for b in &out.report.per_block {
        assert!(b.aborted.is_some(), "block {} has no reason", b.index);
    }
}
