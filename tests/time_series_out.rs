//! The outputs of a run over link time (issue 14, item 5): `time_series.csv`, the
//! `qber_over_time` and `key_over_time` charts, the "link over time" paragraph of the
//! table and the section of `report.md`, all checked against the run's own JSON record;
//! a static run's `results.json` and `results.csv` unchanged by the new keys; bad
//! `--window-s` values refused before anything is written.
//!
//! Every scenario here is an ideal single-photon link at 1e5 pulses per second, so a
//! minute of link time takes a fraction of a second.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

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

/// A clean link (QBER from polarisation alone, key on 2e4-bit blocks about every 2 s);
/// `extra` goes into `[link]` and may open later tables.
fn link(extra: &str) -> String {
    format!(
        "name = \"Time series test link\"\n\
         [source]\nrep_rate_hz = 1.0e5\nsingle_photon = true\nbasis_z_probability = 0.5\n\
         [receiver]\ntransmittance = 0.2\nbasis_z_probability = 0.5\n\
         [detector]\nefficiency = 1.0\ndark_count_probability = 0.0\ndead_time_ns = 0.0\n\
         [postprocessing]\nblock_bits = 20000\n\
         [link]\nlength_km = 0.0\nmisalignment = 0.01\n{extra}\n"
    )
}

/// Fast drift judged every 2 s against a 5 % threshold: several realignments a minute.
const THRESHOLD: &str = "drift_rad2_per_s = 0.02\ndrift_step_s = 0.5\n\
    [simulation]\nduration_s = 60.0\nwindow_s = 2.0\nseed = 5\n\
    [compensation]\npolicy = \"threshold\"\nqber_threshold = 0.05\nrealign_s = 3.0";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run_out(scenario: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, err) = qkdsim(&args);
    assert_eq!(code, 0, "{err}");
    stdout
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    (reader.info().width, reader.info().height)
}

/// A whole SVG document: the root element opened once and closed at the end.
fn assert_svg(path: &Path, wants: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.trim_start().starts_with("<svg") || text.contains("<svg "),
        "{}",
        path.display()
    );
    assert!(text.trim_end().ends_with("</svg>"), "{}", path.display());
    assert_eq!(text.matches("<svg").count(), 1, "{}", path.display());
    for w in wants {
        assert!(text.contains(w), "{} lacks {w}", path.display());
    }
}

#[test]
fn time_series_csv_charts_table_and_report_follow_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(dir.path(), "thr.toml", &link(THRESHOLD));
    let out = dir.path().join("out");
    let table = run_out(&scenario, &out, &[]);
    let v = json(&out.join("results.json"));
    let series = v["time_series"].as_array().expect("time_series");
    let comp = &v["compensation"];
    assert!(comp["realignments"].as_u64().unwrap() >= 2, "{comp}");
    assert!(v["secret_bits"].as_u64().unwrap() > 0, "{}", v["aborted"]);
    assert_eq!(comp["qber_threshold"].as_f64(), Some(0.05));
    assert_eq!(comp["window_s"].as_f64(), Some(2.0));

    // time_series.csv: the header, then one row per entry with the JSON's values.
    let text = std::fs::read_to_string(out.join("time_series.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut want: Vec<String> = series[0].as_object().unwrap().keys().cloned().collect();
    let mut got = header.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "one column per field of a window");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), series.len());
    let mut realigning = 0;
    for (row, w) in rows.iter().zip(series) {
        for (i, name) in header.iter().enumerate() {
            let cell = &row[i];
            match &w[name] {
                Value::Null => assert_eq!(cell, "", "{name} null"),
                Value::String(s) => assert_eq!(cell, s),
                // Both files print the shortest round-trip decimal, but serde_json's
                // default parser is not correctly rounded (it may be off by an ulp or
                // two), so the values are compared to 1e-14 relative, far below any
                // difference a wrong field would make.
                Value::Number(n) => {
                    let (c, j) = (cell.parse::<f64>().unwrap(), n.as_f64().unwrap());
                    assert!((c - j).abs() <= 1e-14 * j.abs(), "{name}: {c} vs {j}")
                }
                other => panic!("unexpected {other}"),
            }
        }
        realigning += (w["state"] == "realigning") as u64;
    }
    assert_eq!(realigning, comp["realignments"].as_u64().unwrap());

    // results.csv carries the run-level figures of the link over time.
    let text = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let h = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| row[h.iter().position(|c| c == name).unwrap()].to_string();
    assert_eq!(
        cell("availability").parse::<f64>().unwrap(),
        v["availability"].as_f64().unwrap()
    );
    assert_eq!(cell("realignments"), comp["realignments"].to_string());
    assert_eq!(cell("time_windows"), series.len().to_string());

    // Charts: valid PNG (the key chart has two panels) and SVG with the policy's marks.
    assert_eq!(
        png_size(&out.join("qber_over_time.png")),
        qkdsim::report::charts::PNG_SIZE
    );
    assert_eq!(
        png_size(&out.join("key_over_time.png")),
        (
            qkdsim::report::charts::PNG_SIZE.0,
            2 * qkdsim::report::charts::PANEL_HEIGHT + 80
        )
    );
    assert_svg(
        &out.join("qber_over_time.svg"),
        &[
            "Time series test link: QBER over link time",
            "realignment threshold 5 %",
            "realigning (nothing sent)",
            "X basis (public test bits)",
        ],
    );
    assert_svg(
        &out.join("key_over_time.svg"),
        &["secret key rate (bit/s)", "accumulated secret key (bits)"],
    );

    // report.md: the section with the policy, availability and both charts.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let start = md.find("## Link over time").expect("section");
    let section = &md[start..md.find("## Charts").unwrap()];
    let availability = format!("{:.2}%", 100.0 * v["availability"].as_f64().unwrap());
    for want in [
        "exceeds 5.00%",
        availability.as_str(),
        "public X-basis (test) bits",
        "(qber_over_time.png)",
        "(key_over_time.png)",
    ] {
        assert!(section.contains(want), "lacks {want}:\n{section}");
    }

    // The table: the paragraph, bounded listing, extremes, drift note.
    for want in [
        "link over time: policy threshold",
        &format!("{} entries", series.len()),
        "QBER per window: Z min",
        "assume the static misalignment",
    ] {
        assert!(table.contains(want), "table lacks {want}:\n{table}");
    }
}

/// `run --json` with `timings` (run and blocks) removed.
fn without_timings(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("timings");
    for b in v["per_block"].as_array_mut().unwrap() {
        b.as_object_mut().unwrap().remove("timings");
    }
    v
}

/// results.csv without the wall-clock columns.
fn csv_without_timings(text: &str) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let h = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    h.iter()
        .zip(row.iter())
        .filter(|(k, _)| {
            ![
                "engine_s",
                "sifting_s",
                "estimation_s",
                "reconciliation_s",
                "verification_s",
                "privacy_amplification_s",
                "total_s",
            ]
            .contains(k)
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn static_run_outputs_are_unchanged_by_the_new_keys_at_their_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let sim = "[simulation]\nduration_s = 20.0\nseed = 3";
    let plain = write(dir.path(), "plain.toml", &link(sim));
    let explicit = write(
        dir.path(),
        "explicit.toml",
        &link(&format!(
            "drift_rad2_per_s = 0.0\ndrift_step_s = 1.0\nmisalignment_model = \"rotation\"\n\
             {sim}\n[compensation]\npolicy = \"none\""
        )),
    );
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let table_a = run_out(&plain, &a, &[]);
    let table_b = run_out(&explicit, &b, &[]);
    let ja = without_timings(json(&a.join("results.json")));
    assert_eq!(ja, without_timings(json(&b.join("results.json"))));
    for key in ["time_series", "compensation", "availability"] {
        assert!(ja.get(key).is_none(), "{key} in a static run's JSON");
    }
    let ca = std::fs::read_to_string(a.join("results.csv")).unwrap();
    let cb = std::fs::read_to_string(b.join("results.csv")).unwrap();
    assert_eq!(csv_without_timings(&ca), csv_without_timings(&cb));
    // Exactly the static columns: none of the link-over-time ones.
    assert_eq!(ca.lines().next(), cb.lines().next());
    assert!(!ca.lines().next().unwrap().contains("availability"));
    // The same files, none of the time series ones.
    assert_eq!(files(&a), files(&b));
    for f in files(&a) {
        assert!(
            !f.starts_with("time_series") && !f.contains("over_time"),
            "{f} in a static run's output"
        );
    }
    for (table, md) in [
        (&table_a, a.join("report.md")),
        (&table_b, b.join("report.md")),
    ] {
        assert!(!table.contains("link over time"), "{table}");
        assert!(
            !std::fs::read_to_string(md)
                .unwrap()
                .contains("Link over time")
        );
    }
}

#[test]
fn drift_without_windows_reports_the_link_but_writes_no_series() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "periodic.toml",
        &link(
            "drift_rad2_per_s = 0.02\n[simulation]\nduration_s = 30.0\n\
             [compensation]\npolicy = \"periodic\"\ninterval_s = 10.0\nrealign_s = 1.0",
        ),
    );
    let out = dir.path().join("out");
    let table = run_out(&scenario, &out, &[]);
    let v = json(&out.join("results.json"));
    assert_eq!(v["compensation"]["realignments"].as_u64(), Some(2));
    assert!(v.get("time_series").is_none());
    assert!(
        table.contains("link over time: policy periodic (realign every 10 s"),
        "{table}"
    );
    assert!(!table.contains("time series:"), "{table}");
    let names = files(&out);
    assert!(
        !names
            .iter()
            .any(|f| f.starts_with("time_series") || f.contains("over_time"))
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Link over time") && !md.contains("over_time.png"));
    // With --window-s the same run gains the series and its outputs.
    let out2 = dir.path().join("out2");
    run_out(&scenario, &out2, &["--window-s", "5"]);
    let v2 = json(&out2.join("results.json"));
    assert_eq!(v2["time_series"].as_array().unwrap().len(), 8); // 3 x (2 windows) + 2 realignments
    assert!(out2.join("time_series.csv").exists() && out2.join("qber_over_time.png").exists());
}

#[test]
fn bad_window_flag_names_the_key_and_range_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.toml",
        &link("[simulation]\nduration_s = 10.0"),
    );
    for (value, want) in [
        ("0", "must be in (0, 100000000], got 0"),
        ("-2", "must be in (0, 100000000], got -2"),
        ("nan", "must be a finite number"),
        ("inf", "must be a finite number"),
        ("1e300", "must be in (0, 100000000], got 1e300"),
        // Allowed by the key's range but 1e10 windows over the run: refused before work.
        ("1e-9", "at most 10000000 are simulated"),
    ] {
        let out = dir.path().join(format!("out-{value}"));
        let (code, stdout, err) = qkdsim(&[
            "run",
            scenario.to_str().unwrap(),
            "--window-s",
            value,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "--window-s {value}: {err}");
        assert!(
            err.contains("simulation.window_s"),
            "--window-s {value}: {err}"
        );
        assert!(err.contains(want), "--window-s {value}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.len() < 600, "a one-paragraph message: {err}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(!out.exists(), "--window-s {value} wrote {}", out.display());
    }
    let (code, _, err) = qkdsim(&["run", scenario.to_str().unwrap(), "--window-s", "abc"]);
    assert_eq!(code, 2);
    assert!(err.contains("--window-s"), "{err}");
    // No temporaries left beside the targets.
    let left: Vec<String> = files(dir.path())
        .into_iter()
        .filter(|f| f.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sweep_csv_keeps_one_shape_from_a_static_to_a_drifting_point() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.toml",
        &link("[simulation]\nduration_s = 5.0"),
    );
    let out = dir.path().join("sweep");
    let (code, _, err) = qkdsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--param",
        "link.drift_rad2_per_s",
        "--values",
        "0,0.02",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(out.join("results.csv")).unwrap();
    // The csv reader refuses rows of unequal length.
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let h = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    let a = h.iter().position(|c| c == "availability").unwrap();
    assert_eq!((&rows[0][a], &rows[1][a]), ("", "1"));
}
