//! `qkdsim sweep`: output files and their content, rejection of bad keys and grids, and
//! identical results for one and several threads.
//!
//! The scenario is a short SNSPD link with 1e5-bit blocks, so 1e7 pulses per point give a
//! few blocks with key in well under a second per point.

use assert_cmd::Command;
use qkdsim::Scenario;
use qkdsim::analysis::run::RunOptions;
use qkdsim::analysis::sweep::{SweepPlan, SweepReport, sweep};
use qkdsim::scenario::SweepSpec;
use std::path::{Path, PathBuf};

const SCENARIO: &str = r#"
name = "Sweep test link"

[source]
basis_z_probability = 0.77

[[source.intensities]]
label = "signal"
mean_photon_number = 0.45
probability = 0.25

[[source.intensities]]
label = "decoy"
mean_photon_number = 0.18
probability = 0.5

[[source.intensities]]
label = "vacuum"
mean_photon_number = 0.0002
probability = 0.25

[link]
length_km = 10.0

[receiver]
transmittance = 0.9
basis_z_probability = 0.77

[detector]
efficiency = 0.85
dark_count_probability = 1.0e-8

[postprocessing]
block_bits = 100000

[simulation]
seed = 3
pulses = 1.0e7

[sweep]
param = "link.length_km"
from = 0.0
to = 20.0
steps = 3
"#;

fn scenario_file(dir: &Path) -> PathBuf {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, SCENARIO).unwrap();
    path
}

fn qkdsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("qkdsim")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sweep_writes_csv_json_charts_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path());
    let out = dir.path().join("out");
    let (code, stdout, err) = qkdsim(&[
        "sweep",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    // stdout is exactly one JSON document, the same as results.json.
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let file_doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(doc["points"].as_array().unwrap().len(), 3);
    assert_eq!(file_doc["points"].as_array().unwrap().len(), 3);
    let values: Vec<f64> = doc["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![0.0, 10.0, 20.0]);
    for p in doc["points"].as_array().unwrap() {
        for key in [
            "qber_z",
            "secret_key_rate_bps",
            "ec",
            "pa",
            "theory",
            "per_intensity",
        ] {
            assert!(p.get(key).is_some(), "point lacks {key}: {p}");
        }
        assert!(
            p["secret_bits"].as_u64().unwrap() > 0,
            "no key at {}",
            p["value"]
        );
    }
    assert!(doc["max_distance"].is_object());

    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 3, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    for col in [
        "link.length_km",
        "secret_key_rate_bps",
        "secret_key_rate_bps_stderr",
        "qber_z",
        "qber_z_stderr",
        "pulses_sent",
        "total_s",
    ] {
        assert!(header.contains(&col), "{col} missing in {header:?}");
    }
    assert!(
        lines
            .iter()
            .skip(1)
            .all(|l| l.split(',').count() == header.len())
    );

    for (stem, title, y_label) in [
        ("key_rate", "secret key rate", "secret key rate (bit/s)"),
        ("qber", "quantum bit error rate", "QBER (%)"),
        ("funnel", "key funnel", "bits per pulse sent"),
    ] {
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let info = reader.info();
        assert_eq!(
            (info.width, info.height),
            qkdsim::report::charts::PNG_SIZE,
            "{stem}.png"
        );
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.contains(&format!("Sweep test link: {title}")),
            "{stem}.svg title"
        );
        assert!(svg.contains("fibre length (km)"), "{stem}.svg x label");
        assert!(svg.contains(y_label), "{stem}.svg y label");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in [
        "# Sweep test link: sweep of `link.length_km`",
        "![Sweep test link: secret key rate](key_rate.png)",
        "| `link.length_km` | 10 |",
        "master seed 3",
        "maximum distance, finite-key theory",
    ] {
        assert!(report.contains(want), "report.md lacks {want}:\n{report}");
    }
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn flags_override_the_sweep_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path());
    let (code, stdout, err) = qkdsim(&[
        "sweep",
        file.to_str().unwrap(),
        "--param",
        "detector.dark_count_probability",
        "--values",
        "1e-8,1e-6",
        "--log",
        "--pulses",
        "4e6",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["param"], "detector.dark_count_probability");
    let points = doc["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1]["value"].as_f64().unwrap(), 1e-6);
    assert_eq!(points[1]["pulses_sent"].as_u64().unwrap(), 4_000_000);
    assert!(doc["max_distance"].is_null());
}

fn rejected(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path());
    let mut args = vec!["sweep", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, stdout, err) = qkdsim(&args);
    assert_eq!(code, 2, "{extra:?} was accepted: {err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn unknown_or_non_numeric_keys_are_rejected_with_the_valid_keys() {
    for key in [
        "link.lenght_km",
        "postprocessing.cascade_variant",
        "name",
        "source.intensities.7.probability",
    ] {
        let err = rejected(&["--param", key, "--values", "1,2"]);
        assert!(err.contains(key), "{key}: {err}");
        for valid in [
            "link.length_km",
            "detector.dark_count_probability",
            "source.intensities.0.mean_photon_number",
            "postprocessing.block_bits",
        ] {
            assert!(err.contains(valid), "{key}: {valid} not listed in {err}");
        }
    }
}

#[test]
fn bad_grids_are_rejected() {
    let err = rejected(&["--from", "50", "--to", "10", "--steps", "3"]);
    assert!(
        err.contains("--from (50) must not exceed --to (10)"),
        "{err}"
    );
    let err = rejected(&["--from", "0", "--to", "10", "--steps", "0"]);
    assert!(err.contains("--steps"), "{err}");
    let err = rejected(&["--from", "0", "--to", "10", "--steps", "3", "--log"]);
    assert!(err.contains("needs values > 0, got 0"), "{err}");
    let err = rejected(&["--values", "1,-2,3", "--log"]);
    assert!(err.contains("needs values > 0, got -2"), "{err}");
    let err = rejected(&["--values", "1,2", "--from", "1"]);
    assert!(err.contains("either --values or --from"), "{err}");
    // A value outside the key's range is named with the key and the range.
    let err = rejected(&["--param", "link.misalignment", "--values", "0.1,0.7"]);
    assert!(err.contains("link.misalignment"), "{err}");
    assert!(err.contains("0.7"), "{err}");
}

fn sweep_on(threads: usize) -> SweepReport {
    let scenario = Scenario::parse(SCENARIO, "test").unwrap();
    let plan = SweepPlan::from_spec(&SweepSpec {
        param: "source.intensities.0.mean_photon_number".into(),
        from: Some(0.3),
        to: Some(0.6),
        steps: Some(3),
        values: None,
        log: false,
        ..SweepSpec::default()
    })
    .unwrap();
    let options = RunOptions {
        seed: Some(11),
        pulses: Some(6_000_000),
        ..RunOptions::default()
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| sweep(&scenario, &plan, &options, &|_, _| {}))
        .unwrap()
}

/// The report without its wall-clock figures: only the `timings` objects (the run's and
/// each block's) may differ between thread counts.
fn without_timings(report: &SweepReport) -> serde_json::Value {
    let mut v = serde_json::to_value(report).unwrap();
    for p in v["points"].as_array_mut().unwrap() {
        let p = p.as_object_mut().unwrap();
        assert!(p.remove("timings").is_some());
        for b in p["per_block"].as_array_mut().unwrap() {
            assert!(b.as_object_mut().unwrap().remove("timings").is_some());
        }
    }
    v
}

#[test]
fn sweep_is_identical_for_one_and_two_threads() {
    let one = sweep_on(1);
    let two = sweep_on(2);
    assert_eq!(without_timings(&one), without_timings(&two));
    // Points have distinct derived seeds and the swept value really changed the run.
    assert_ne!(one.points[0].run.seed, one.points[1].run.seed);
    assert_eq!(one.points[2].run.per_intensity[0].mean_photon_number, 0.6);
}

#[test]
fn run_out_writes_block_charts_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path());
    let out = dir.path().join("run");
    let (code, _, err) = qkdsim(&[
        "run",
        file.to_str().unwrap(),
        "--pulses",
        "1e7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for (stem, x_label, y_label) in [
        ("block_qber", "link time at end of block (s)", "QBER (%)"),
        ("block_key", "link time (s)", "secret key (bits)"),
    ] {
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), qkdsim::report::charts::PNG_SIZE);
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("Sweep test link"), "{stem}.svg title");
        assert!(
            svg.contains(x_label) && svg.contains(y_label),
            "{stem}.svg labels"
        );
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in [
        "# Sweep test link: simulation run",
        "secret key rate (bit/s)",
        "maximum distance",
        "![",
        "seed 3",
    ] {
        assert!(report.contains(want), "report.md lacks {want}:\n{report}");
    }
    assert!(out.join("results.json").exists() && out.join("results.csv").exists());
}

#[test]
fn theory_lines_use_the_run_tables_detector_model_and_the_measured_f() {
    // Issue 11 (charts compare like with like). On the InGaAs link afterpulses triple the
    // dark background and the simulated QBER is ~2.8 %, where the memoryless closed form
    // says ~1 %. The sweep's theory line must be the mean-field model with dead time and
    // afterpulsing (the run table's `expected_detector_memory`): it must agree with the
    // simulation within 5 standard errors over blocks (>= 20 blocks per point), while the
    // memoryless expectation must miss by more than 5 (so the check can fail).
    use qkdsim::analysis::sweep::theory_point;
    use qkdsim::estimation::{DetectorTheory, scenario_rates_with};
    use qkdsim::physics::LinkModel;
    use qkdsim::physics::expected::expected_per_intensity;
    use qkdsim::scenario::with_value;
    let text = std::fs::read_to_string("scenarios/hof-plauen.toml")
        .unwrap()
        .replace("block_bits = 1000000", "block_bits = 50000");
    let scenario = Scenario::parse(&text, "hof-plauen").unwrap();
    let plan = SweepPlan {
        param: "link.length_km".into(),
        values: vec![5.0, 35.0],
        log: false,
    };
    let options = RunOptions {
        seed: Some(3),
        pulses: Some(500_000_000),
        ..RunOptions::default()
    };
    let report = sweep(&scenario, &plan, &options, &|_, _| {}).unwrap();
    let f_measured = report.f_ec_measured.expect("blocks were reconciled");
    assert!(f_measured > 1.0 && f_measured < report.f_ec_assumed);
    for p in &report.points {
        assert!(p.run.blocks >= 20, "{} blocks", p.run.blocks);
        let at = with_value(&scenario, "link.length_km", p.value).unwrap();
        let theory = theory_point(&at, p.value, Some(f_measured));
        let sigma = p.statistics.qber_z_stderr.expect("sifted Z bits");
        let qber_z = p.run.qber_z.expect("sifted Z bits");
        let theory_qber_z = theory.qber_z.expect("sifted Z bits expected");
        let z = (qber_z - theory_qber_z).abs() / sigma;
        assert!(
            z < 5.0,
            "{} km: simulated {} vs theory {} ({z:.1} sigma)",
            p.value,
            qber_z,
            theory_qber_z
        );
        // The memoryless closed form, all classes weighted as the theory line weights them.
        let model = LinkModel::from_scenario(&at);
        let (errors, sifted) = expected_per_intensity(&model)
            .iter()
            .zip(&model.intensities)
            .fold((0.0, 0.0), |(e, s), (x, c)| {
                (
                    e + c.probability * x.errors_z_per_pulse,
                    s + c.probability * x.sifted_z_per_pulse,
                )
            });
        let z_memoryless = (qber_z - errors / sifted).abs() / sigma;
        assert!(
            z_memoryless > 5.0,
            "memoryless only {z_memoryless:.1} sigma off"
        );
        // The finite-key line beside the points assumes the measured f.
        let expected = scenario_rates_with(&at, DetectorTheory::MeanField, Some(f_measured))
            .secret_bits_per_pulse_finite
            * at.spec.source.rep_rate_hz;
        assert_eq!(theory.finite_bps_measured_f, Some(expected));
    }
}

// Issue 12: one validation path for every way a value arrives.

#[test]
fn sweep_values_for_whole_number_keys_get_the_scenario_files_message() {
    // `block_bits = 1000.5` in the file and `--values 1000.5` give the same message
    // (they used to be rounded silently on the command line).
    let err = rejected(&[
        "--param",
        "postprocessing.block_bits",
        "--values",
        "1e5,1000.5",
    ]);
    assert!(
        err.contains(
            "postprocessing.block_bits: must be a whole number in [64, 4294967295], got 1000.5"
        ),
        "{err}"
    );
    assert!(err.contains("nearest allowed: 1000 or 1001"), "{err}");
    let err = rejected(&["--param", "simulation.seed", "--values", "1.5"]);
    assert!(
        err.contains("simulation.seed: must be a whole number in [0, "),
        "{err}"
    );
    assert!(!err.contains("\\n"), "escaped newline in {err}");
}

#[test]
fn negative_and_fractional_flags_name_the_flag_the_value_and_the_range() {
    for (flag, value, want) in [
        ("--threads", "-1", "must be a whole number in [0, 256], got"),
        (
            "--seed",
            "-1",
            "must be in [0, 9223372036854775807], got -1",
        ),
        ("--seed", "1.5", "nearest allowed: 1 or 2"),
        ("--pulses", "-3", "must be a whole number in [1, 1e15]"),
        ("--steps", "-2", "must be in [1, 10000], got -2"),
    ] {
        let mut args = vec!["--param", "link.length_km"];
        if flag != "--steps" {
            args.extend(["--values", "10"]);
        } else {
            args.extend(["--from", "0", "--to", "10"]);
        }
        args.extend([flag, value]);
        let err = rejected(&args);
        assert!(err.contains(flag), "{flag} {value}: {err}");
        assert!(err.contains(want), "{flag} {value}: {err}");
        assert!(
            !err.contains("tip:"),
            "clap's generic tip for {flag} {value}: {err}"
        );
    }
}

#[test]
fn check_rejects_a_bad_sweep_table_naming_its_fields_not_flags() {
    let dir = tempfile::tempdir().unwrap();
    for (table, want) in [
        (
            "param = \"link.length_km\"\nfrom = 0.0\nto = 10.0\nsteps = 0\n",
            "sweep.steps: must be in [1, 10000], got 0",
        ),
        (
            "param = \"link.length_km\"\nvalues = []\n",
            "sweep.values: must list between 1 and 10000 values, got none",
        ),
        (
            "param = \"postprocessing.cascade_variant\"\nvalues = [1.0]\n",
            "sweep.param: must be a numeric scenario key",
        ),
        (
            "param = \"link.length_km\"\nfrom = 50.0\nto = 10.0\nsteps = 3\n",
            "sweep.from (50) must not exceed sweep.to (10)",
        ),
    ] {
        let path = dir.path().join("s.toml");
        let base = SCENARIO.split("[sweep]").next().unwrap();
        std::fs::write(&path, format!("{base}\n[sweep]\n{table}")).unwrap();
        for cmd in ["check", "sweep"] {
            let (code, _, err) = qkdsim(&[cmd, path.to_str().unwrap()]);
            assert_eq!(code, 2, "{cmd} accepted {table}");
            assert!(err.contains(want), "{cmd} {table}: {err}");
            assert!(!err.contains("--"), "{cmd} blames a flag not given: {err}");
        }
    }
}
