//! The `qkdsim` binary: exit codes, error messages on bad input, JSON on stdout.

use assert_cmd::Command;

fn qkdsim() -> Command {
    Command::cargo_bin("qkdsim").unwrap()
}

fn stderr_of(args: &[&str]) -> (i32, String, String) {
    let out = qkdsim().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_file_is_a_clear_error() {
    let (code, _, err) = stderr_of(&["run", "no/such/scenario.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read scenario file no/such/scenario.toml"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn toml_syntax_error_names_file_line_and_column() {
    let (code, _, err) = stderr_of(&["check", "tests/fixtures/bad/syntax-error.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("tests/fixtures/bad/syntax-error.toml"),
        "{err}"
    );
    assert!(err.contains("line 3, column"), "{err}");
}

#[test]
fn invalid_values_are_all_listed() {
    let (code, _, err) = stderr_of(&["run", "tests/fixtures/bad/many-violations.toml"]);
    assert_eq!(code, 2);
    for want in [
        "detector.efficiency",
        "detector.dead_time_ns",
        "source.rep_rate_hz",
        "receiver.basis_z_probability",
    ] {
        assert!(err.contains(want), "{want} missing in {err}");
    }
}

#[test]
fn bad_flag_values_are_rejected() {
    let (code, _, err) = stderr_of(&["run", "scenarios/lab-back-to-back.toml", "--pulses", "-3"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = stderr_of(&[
        "run",
        "scenarios/lab-back-to-back.toml",
        "--pulses",
        "1e3.5",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = stderr_of(&["run", "scenarios/lab-back-to-back.toml", "--engine", "warp"]);
    assert_eq!(code, 2);
    assert!(err.contains("pulse") && err.contains("event"), "{err}");
}

#[test]
fn check_prints_the_effective_scenario() {
    let (code, out, _) = stderr_of(&["check", "scenarios/lab-back-to-back.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("dark_count_probability"), "{out}");
    assert!(out.contains("[postprocessing]"), "{out}");
}

#[test]
fn run_json_is_one_document_with_the_contract_fields() {
    let (code, out, err) = stderr_of(&[
        "run",
        "scenarios/lab-back-to-back.toml",
        "--pulses",
        "2e7",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    for key in [
        "scenario",
        "seed",
        "pulses_sent",
        "detections",
        "per_intensity",
        "sifted_bits_z",
        "sifted_bits_x",
        "qber_z",
        "qber_x",
        "timings",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let k = &v["per_intensity"][0];
    for key in [
        "label",
        "mean_photon_number",
        "pulses",
        "detections",
        "gain",
        "errors_z",
        "sifted_z",
        "qber_z",
        "sifted_x",
        "qber_x",
    ] {
        assert!(k.get(key).is_some(), "missing per_intensity.{key}");
    }
    assert_eq!(v["pulses_sent"], 20_000_000);
}

#[test]
fn keys_out_writes_identical_key_files_and_json_has_pipeline_fields() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let scenario = dir.path().join("lab.toml");
    // The lab link with settings that give key on 1e5-bit blocks (see tests/pipeline.rs).
    std::fs::write(
        &scenario,
        "[source]\nbasis_z_probability = 0.7\n\
         [[source.intensities]]\nlabel = \"signal\"\nmean_photon_number = 0.54\nprobability = 0.15\n\
         [[source.intensities]]\nlabel = \"decoy\"\nmean_photon_number = 0.21\nprobability = 0.55\n\
         [[source.intensities]]\nlabel = \"vacuum\"\nmean_photon_number = 0.0\nprobability = 0.30\n\
         [link]\nlength_km = 0.0\nextra_loss_db = 10.0\n[receiver]\nbasis_z_probability = 0.7\n\
         [detector]\nefficiency = 0.2\n[postprocessing]\nblock_bits = 100000\n",
    )
    .unwrap();
    let out = qkdsim()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--pulses",
            "1.2e8",
            "--json",
            "--keys-out",
            keys.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "secret_bits",
        "secret_bits_per_pulse",
        "secret_key_rate_bps",
        "final_keys_match",
        "aborted",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in [
        "leaked_bits",
        "efficiency",
        "channel_uses",
        "residual_error_blocks",
        "verified_blocks",
    ] {
        assert!(v["ec"].get(key).is_some(), "missing ec.{key}");
    }
    for key in ["input_bits", "output_bits"] {
        assert!(v["pa"].get(key).is_some(), "missing pa.{key}");
    }
    for key in [
        "gain_per_intensity",
        "qber_z_per_intensity",
        "secret_bits_per_pulse_asymptotic",
        "secret_bits_per_pulse_finite",
        "plob_bits_per_pulse",
    ] {
        assert!(v["theory"].get(key).is_some(), "missing theory.{key}");
    }
    for key in [
        "engine_s",
        "sifting_s",
        "estimation_s",
        "reconciliation_s",
        "verification_s",
        "privacy_amplification_s",
        "total_s",
    ] {
        assert!(v["timings"].get(key).is_some(), "missing timings.{key}");
    }
    let secret_bits = v["secret_bits"].as_u64().unwrap();
    assert!(secret_bits > 0, "expected key: {}", v["aborted"]);
    let alice = std::fs::read(keys.join("alice.key")).unwrap();
    let bob = std::fs::read(keys.join("bob.key")).unwrap();
    assert_eq!(alice, bob);
    assert_eq!(alice.len() as u64, secret_bits.div_ceil(8));
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn security_warnings_reach_json_table_csv_report_and_sweep() {
    // The SNSPD link with a common dead time is what Lim et al.'s proof covers: no warning.
    // The same receiver with independent dead times (the dead-time attack, Weier et al.
    // 2011) must be flagged in every output, while still producing its figures.
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string("scenarios/bayreuth-zwickau.toml").unwrap();
    assert!(base.contains("dead_time_mode = \"common\""));
    let independent = dir.path().join("independent.toml");
    std::fs::write(
        &independent,
        base.replace(
            "dead_time_mode = \"common\"",
            "dead_time_mode = \"independent\"",
        ),
    )
    .unwrap();
    let independent = independent.to_str().unwrap();
    let json = |path: &str| -> serde_json::Value {
        let (code, out, err) = stderr_of(&["run", path, "--pulses", "1e7", "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let clean = json("scenarios/bayreuth-zwickau.toml");
    assert_eq!(clean["security_warnings"], serde_json::json!([]));
    let flagged = json(independent);
    let warnings = flagged["security_warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["code"], "independent_dead_time");
    assert!(warnings[0]["reference"].as_str().unwrap().contains("Weier"));
    // Composed security: every block post-processed, aborted or not, costs eps_sec +
    // eps_cor (the scenario's 1e-9 and 1e-15).
    for doc in [&clean, &flagged] {
        let blocks = doc["blocks"].as_u64().unwrap();
        let eps = doc["epsilon_total"].as_f64().unwrap();
        let want = blocks as f64 * (1e-9 + 1e-15);
        assert!((eps - want).abs() <= 1e-12 * want, "{eps} vs {want}");
    }
    // Table.
    let (_, table, _) = stderr_of(&["run", independent, "--pulses", "1e7"]);
    assert!(
        table.contains("SECURITY WARNING [independent_dead_time]"),
        "{table}"
    );
    // results.csv and report.md.
    let out = dir.path().join("out");
    let (code, _, err) = stderr_of(&[
        "run",
        independent,
        "--pulses",
        "1e7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(csv.contains("security_warnings") && csv.contains("independent_dead_time"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Security warnings") && md.contains("independent_dead_time"));
    // Sweep: every point and the sweep as a whole, in JSON and the table.
    let (code, sweep_out, err) = stderr_of(&[
        "sweep",
        independent,
        "--param",
        "link.length_km",
        "--values",
        "20,40",
        "--pulses",
        "1e7",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let sweep: serde_json::Value = serde_json::from_str(&sweep_out).unwrap();
    assert_eq!(
        sweep["security_warnings"][0]["code"],
        "independent_dead_time"
    );
    for p in sweep["points"].as_array().unwrap() {
        assert_eq!(p["security_warnings"][0]["code"], "independent_dead_time");
    }
    let (_, sweep_table, _) = stderr_of(&[
        "sweep",
        independent,
        "--param",
        "link.length_km",
        "--values",
        "20",
        "--pulses",
        "1e7",
    ]);
    assert!(sweep_table.contains("SECURITY WARNING [independent_dead_time]"));
}

#[test]
fn negative_and_fractional_counts_name_the_flag_value_and_range() {
    for (args, want) in [
        (
            &["reconcile", "--bits", "-5", "--qber", "0.02"][..],
            "must be in [1, 4294967295], got -5",
        ),
        (
            &["reconcile", "--bits", "1000.5", "--qber", "0.02"][..],
            "nearest allowed: 1000 or 1001",
        ),
        (
            &[
                "reconcile",
                "--bits",
                "1e4",
                "--qber",
                "0.02",
                "--runs",
                "-1",
            ][..],
            "must be in [1, 1000000000], got -1",
        ),
        (
            &[
                "reconcile",
                "--bits",
                "1e4",
                "--qber",
                "0.02",
                "--epsilon-cor",
                "-1",
            ][..],
            "epsilon_cor must be in (0, 1), got -1",
        ),
        (
            &["theory", "scenarios/gys-2004.toml", "--steps", "-2"][..],
            "must be in [1, 10000], got -2",
        ),
        (
            &["theory", "scenarios/gys-2004.toml", "--from", "-5"][..],
            "--from: must be a fibre length in [0, 10000] km, got -5",
        ),
    ] {
        let (code, _, err) = stderr_of(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            !err.contains("tip:") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
