//! Inputs inside the documented ranges must neither abort nor run unboundedly (issue 12):
//! huge dead times, the largest `reconcile --bits`, huge `--threads`. Every test that could
//! allocate without bound runs the binary under `ulimit -v` and a timeout, so a regression
//! fails fast instead of exhausting the machine.

use assert_cmd::Command;
use std::time::{Duration, Instant};

/// Address-space limit (KiB) for the binary in these tests: 2 GiB.
const VM_LIMIT_KIB: u64 = 2 * 1024 * 1024;

/// Runs `qkdsim ARGS` under `ulimit -v VM_LIMIT_KIB` and a 60 s timeout; returns exit code,
/// stdout, stderr and seconds taken.
fn limited(args: &[&str]) -> (i32, String, String, f64) {
    let bin = assert_cmd::cargo::cargo_bin("qkdsim");
    let script = format!("ulimit -v {VM_LIMIT_KIB} && exec \"$0\" \"$@\"");
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(bin)
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

fn no_crash(err: &str) {
    for bad in [
        "panicked",
        "memory allocation",
        "backtrace",
        "RUST_BACKTRACE",
    ] {
        assert!(!err.contains(bad), "{bad} in {err}");
    }
}

const DEAD: &str = "tests/fixtures/edge/dead-time-1e8ns-at-1e11hz.toml";

#[test]
fn dead_time_of_1e10_gates_runs_in_little_memory_with_every_engine_and_mode() {
    // 4 cases: pulse and event engine, common and independent dead time.
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(DEAD).unwrap();
    for mode in ["common", "independent"] {
        let path = dir.path().join(format!("{mode}.toml"));
        std::fs::write(
            &path,
            base.replace(
                "dead_time_ns = 1.0e8",
                &format!("dead_time_ns = 1.0e8\ndead_time_mode = \"{mode}\""),
            ),
        )
        .unwrap();
        for engine in ["pulse", "event"] {
            let (code, out, err, _) =
                limited(&["run", path.to_str().unwrap(), "--engine", engine, "--json"]);
            no_crash(&err);
            assert_eq!(code, 0, "{mode} {engine}: {err}");
            let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(doc["pulses_sent"], 100_000);
            // The expectation beside the simulation is finite: the receiver is blind
            // almost all the time after its first click.
            let gain = doc["theory"]["gain_per_intensity"][0].as_f64().unwrap();
            assert!(gain.is_finite() && gain > 0.0 && gain < 1e-6, "{gain}");
        }
    }
}

#[test]
fn theory_and_check_accept_the_largest_dead_time() {
    // 2 cases.
    let (code, _, err, _) = limited(&["theory", DEAD, "--json"]);
    no_crash(&err);
    assert_eq!(code, 0, "{err}");
    let (code, _, err, _) = limited(&["check", DEAD]);
    no_crash(&err);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn reconcile_at_the_documented_maximum_bits_is_refused_before_any_work() {
    // 3 cases: default threads, one thread, the largest QBER.
    for extra in [&[][..], &["--threads", "1"][..], &["--qber", "0.49"][..]] {
        let mut args = vec!["reconcile", "--bits", "4294967295"];
        if !extra.contains(&"--qber") {
            args.extend(["--qber", "0.05"]);
        }
        args.extend(extra);
        let (code, out, err, secs) = limited(&args);
        no_crash(&err);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("--bits 4294967295"), "{err}");
        assert!(err.contains("bytes per key bit"), "{err}");
        assert!(err.contains("at most"), "{err}");
        assert!(
            err.contains("ulimit -v") || err.contains("MemAvailable"),
            "{err}"
        );
        assert!(secs < 10.0, "took {secs} s");
    }
}

#[test]
fn reconcile_within_the_memory_estimate_still_runs() {
    let (code, out, err, _) = limited(&[
        "reconcile",
        "--bits",
        "100000",
        "--qber",
        "0.05",
        "--runs",
        "2",
        "--json",
    ]);
    no_crash(&err);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["bits"], 100_000);
}

#[test]
fn threads_beyond_the_cap_are_refused_by_every_subcommand() {
    // 3 subcommands x 4 values (too large, far too large, negative, not a number) plus
    // reconcile's 0: 13 cases.
    let max = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(256);
    let too_many = (max + 1).to_string();
    let commands: [&[&str]; 3] = [
        &["run", "scenarios/lab-back-to-back.toml", "--pulses", "1e4"],
        &[
            "sweep",
            "scenarios/lab-back-to-back.toml",
            "--values",
            "1,2",
            "--pulses",
            "1e4",
        ],
        &["reconcile", "--bits", "1000", "--qber", "0.05"],
    ];
    for command in commands {
        let mut values = vec![too_many.as_str(), "100000", "-1", "lots"];
        if command[0] == "reconcile" {
            values.push("0");
        }
        for value in values {
            let mut args = command.to_vec();
            args.extend(["--threads", value]);
            let (code, out, err, secs) = limited(&args);
            no_crash(&err);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{out}");
            assert!(err.contains("--threads"), "{err}");
            assert!(err.contains(&format!("'{value}'")), "{err}");
            assert!(err.contains(&format!(", {max}]")), "{err}");
            assert!(secs < 10.0, "took {secs} s");
        }
    }
}

#[test]
fn the_largest_thread_count_allowed_is_quick() {
    let (code, _, err, secs) = limited(&[
        "run",
        "scenarios/lab-back-to-back.toml",
        "--pulses",
        "1e5",
        "--threads",
        "256",
        "--json",
    ]);
    no_crash(&err);
    assert_eq!(code, 0, "{err}");
    assert!(secs < 20.0, "took {secs} s");
}

// Undefined numbers (issue 12): a QBER over zero bits is `null` in JSON, an empty CSV
// field, "–" in tables and report.md; an efficiency over zero entropy likewise.

const NO_X: &str = "tests/fixtures/edge/no-x-basis.toml";

fn csv_field(csv: &str, column: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == column).unwrap();
    row[i].to_string()
}

#[test]
fn qber_over_no_bits_is_null_in_json_and_a_dash_in_tables() {
    // 2 scenarios (no X basis; no bits at all) x (JSON, table) + the output set: 5 cases.
    let (code, out, err, _) = limited(&["run", NO_X, "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["sifted_bits_x"], 0);
    assert!(doc["qber_x"].is_null(), "{}", doc["qber_x"]);
    assert!(doc["qber_z"].as_f64().unwrap() > 0.0);
    for k in doc["per_intensity"].as_array().unwrap() {
        assert!(k["qber_x"].is_null(), "{k}");
        // No X bit is expected either: the closed form's QBER is undefined too.
        assert!(k["expected"]["qber_x"].is_null(), "{k}");
        // The vacuum class sifts no Z bit either here.
        assert_eq!(k["qber_z"].is_null(), k["sifted_z"] == 0, "{k}");
    }
    let blocks = doc["per_block"].as_array().unwrap();
    assert!(!blocks.is_empty());
    for b in blocks {
        assert!(b["qber_x"].is_null() && b["qber_z"].is_number(), "{b}");
    }

    let (code, out, err, _) = limited(&["run", NO_X]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sifted X bits 0 (QBER –)"), "{out}");
    assert!(!out.contains("QBER 0.0000%"), "{out}");

    // No bits at all, whatever the random draws: a blind receiver (efficiency 0, no dark
    // counts) never clicks. (The dead-time fixture's single click, sifted or not, is a
    // matter of the seed.)
    let blind_dir = tempfile::tempdir().unwrap();
    let blind = blind_dir.path().join("blind.toml");
    let text = std::fs::read_to_string(DEAD)
        .unwrap()
        .replace("efficiency = 0.2", "efficiency = 0.0")
        .replace(
            "dark_count_probability = 1.0e-6",
            "dark_count_probability = 0.0",
        );
    std::fs::write(&blind, text).unwrap();
    let blind = blind.to_str().unwrap();
    let (code, out, err, _) = limited(&["run", blind, "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["detections"], 0, "{doc}");
    assert!(doc["qber_z"].is_null() && doc["qber_x"].is_null(), "{doc}");
    let (code, out, err, _) = limited(&["run", blind]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sifted Z bits 0 (QBER –)"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let (code, _, err, _) = limited(&["run", NO_X, "--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    assert_eq!(csv_field(&csv, "qber_x"), "");
    assert_eq!(csv_field(&csv, "signal_qber_x"), "");
    assert_ne!(csv_field(&csv, "qber_z"), "");
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains("| QBER X (%) | – |"), "{md}");
    let json = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(doc["qber_x"].is_null());
}

#[test]
fn sweep_points_without_x_bits_have_null_qber_and_error_bar() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("sweep");
    let (code, out, err, _) = limited(&[
        "sweep",
        NO_X,
        "--param",
        "link.extra_loss_db",
        "--values",
        "10,12",
        "--json",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    no_crash(&err);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    for p in doc["points"].as_array().unwrap() {
        assert!(p["qber_x"].is_null(), "{}", p["qber_x"]);
        assert!(p["statistics"]["qber_x_stderr"].is_null());
        assert!(p["statistics"]["qber_z_stderr"].is_number());
    }
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    assert_eq!(csv_field(&csv, "qber_x_stderr"), "");
    assert_eq!(csv_field(&csv, "qber_x"), "");
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains(" | – | "), "{md}");
}

#[test]
fn reconcile_without_planted_errors_has_no_efficiency() {
    // round(Q N) = round(0.1) = 0: the efficiency leaked / (n h(0)) is undefined.
    let (code, out, err, _) =
        limited(&["reconcile", "--bits", "10", "--qber", "0.01", "--runs", "3"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("inf") && !out.contains("NaN"), "{out}");
    assert!(out.contains("efficiency f") && out.contains('–'), "{out}");
    let (code, out, err, _) = limited(&[
        "reconcile",
        "--bits",
        "10",
        "--qber",
        "0.01",
        "--runs",
        "3",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(doc["efficiency_mean"].is_null() && doc["efficiency_std"].is_null());
    assert_eq!(doc["efficiency_runs"], 0);
    // Binomial errors: the mean is over the runs that had errors, and says so.
    let (code, out, err, _) = limited(&[
        "reconcile",
        "--bits",
        "100",
        "--qber",
        "0.01",
        "--runs",
        "5",
        "--binomial",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("of 5 runs with errors planted"), "{out}");
    assert!(!out.contains("inf") && !out.contains("NaN"), "{out}");
}
