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
