//! Sharded sweeps and `qkdsim merge`: shards 1..N for several N merge to the output of the
//! unsharded sweep (one axis and two), identical outside `timings`; merge refuses missing,
//! duplicated and foreign parts and parts of another version or scenario, naming them;
//! `--resume` continues a journal cut short; Slurm array variables pick the shard.
//!
//! The scenario is a short SNSPD link with 1e5-bit blocks and 3e6 pulses per point, so a
//! point takes a fraction of a second.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

const SCENARIO: &str = r#"
name = "Shard test link"

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
pulses = 3.0e6

[sweep]
param = "link.length_km"
from = 0.0
to = 60.0
steps = 5
"#;

/// The two-axis sweep's flags: 3 lengths x 2 dark-count probabilities.
const GRID_2D: &[&str] = &[
    "--values",
    "0,30,60",
    "--param2",
    "detector.dark_count_probability",
    "--values2",
    "1e-8,1e-3",
];

fn scenario_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs qkdsim in `dir` (so relative paths, and the command line report.md records, are
/// the same for every run) with the Slurm array variables removed unless given in `env`.
fn qkdsim_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::cargo_bin("qkdsim").unwrap();
    cmd.current_dir(dir).args(args);
    for k in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_STEP",
        "SLURM_ARRAY_JOB_ID",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(out: Output) -> Output {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    out
}

fn args<'a>(head: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(extra).copied().collect()
}

/// `results.json` without the `timings` objects (the run's and each block's): the only
/// wall-clock figures.
fn json_without_timings(path: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("timings");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    strip(&mut v);
    v
}

const TIMING_COLUMNS: [&str; 7] = [
    "engine_s",
    "sifting_s",
    "estimation_s",
    "reconciliation_s",
    "verification_s",
    "privacy_amplification_s",
    "total_s",
];

fn csv_without_timings(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !TIMING_COLUMNS.contains(&header[i].as_str()))
        .collect();
    assert_eq!(keep.len() + TIMING_COLUMNS.len(), header.len());
    let mut rows = vec![keep.iter().map(|&i| header[i].clone()).collect()];
    for rec in r.records() {
        let rec = rec.unwrap();
        rows.push(keep.iter().map(|&i| rec[i].to_string()).collect());
    }
    rows
}

/// Every file of `a` is in `b` and the same: byte for byte, except results.json and
/// results.csv outside their timings.
fn assert_same_output(a: &Path, b: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut names_b: Vec<String> = std::fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names_b.sort();
    assert_eq!(names, names_b, "{} vs {}", a.display(), b.display());
    for name in &names {
        let (fa, fb) = (a.join(name), b.join(name));
        match name.as_str() {
            "results.json" => assert_eq!(
                json_without_timings(&fa),
                json_without_timings(&fb),
                "{name}"
            ),
            "results.csv" => assert_eq!(csv_without_timings(&fa), csv_without_timings(&fb)),
            _ => assert!(
                std::fs::read(&fa).unwrap() == std::fs::read(&fb).unwrap(),
                "{} and {} differ",
                fa.display(),
                fb.display()
            ),
        }
    }
}

/// Runs shards 1..=n of the sweep (`extra` flags) into `parts/s<i>` under `dir`.
fn run_shards(dir: &Path, extra: &[&str], n: u64, parts: &str) {
    for i in 1..=n {
        let shard = format!("{i}/{n}");
        let out = format!("{parts}/s{i}");
        ok(qkdsim_in(
            dir,
            &args(
                &["sweep", "s.toml", "--shard", &shard, "--out", &out],
                extra,
            ),
            &[],
        ));
    }
}

fn merge_shards(dir: &Path, parts: &str, out: &str) -> Output {
    let mut shard_dirs: Vec<String> = std::fs::read_dir(dir.join(parts))
        .unwrap()
        .map(|e| format!("{parts}/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    shard_dirs.sort();
    let mut a = vec!["merge"];
    a.extend(shard_dirs.iter().map(String::as_str));
    a.extend(["--out", out]);
    qkdsim_in(dir, &a, &[])
}

fn check_shard_counts(extra: &[&str], counts: &[u64]) {
    check_shard_counts_of(SCENARIO, extra, counts);
}

/// Shards of the sweep of `scenario` (written as `s.toml`) merge to its unsharded output;
/// returns the directory holding `single/`, the unsharded output.
fn check_shard_counts_of(scenario: &str, extra: &[&str], counts: &[u64]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario_file(d, "s.toml", scenario);
    // One thread here, the default (one per core) in the shards: no difference either.
    let single = ok(qkdsim_in(
        d,
        &args(
            &["sweep", "s.toml", "--out", "single", "--threads", "1"],
            extra,
        ),
        &[],
    ));
    for &n in counts {
        let parts = format!("parts{n}");
        let merged = format!("merged{n}");
        run_shards(d, extra, n, &parts);
        let m = ok(merge_shards(d, &parts, &merged));
        // The table on stdout too.
        assert_eq!(m.stdout, single.stdout, "N = {n}");
        assert_same_output(&d.join("single"), &d.join(&merged));
    }
    dir
}

#[test]
fn one_axis_shards_merge_to_the_unsharded_sweep() {
    // 5 points: one shard, fewer shards than points, as many, and more (empty shards).
    check_shard_counts(&[], &[1, 2, 3, 5, 7]);
}

#[test]
fn eavesdropper_sweep_shards_merge_with_their_eve_records() {
    // Intercept-resend on 0, 15 and 30 % of pulses: every point's `eve` record travels
    // through the part files and comes back equal.
    let text = SCENARIO.replace(
        "[sweep]\nparam = \"link.length_km\"\nfrom = 0.0\nto = 60.0\nsteps = 5\n",
        "[adversary]\nattack = \"intercept_resend\"\nfraction = 0.0\n\n\
         [sweep]\nparam = \"adversary.fraction\"\nfrom = 0.0\nto = 0.3\nsteps = 3\n",
    );
    // Smaller blocks and fewer pulses: every block's exact count of Eve's final-key
    // functions (the naive key's too) runs in every shard.
    let text = text
        .replace("block_bits = 100000", "block_bits = 10000")
        .replace("pulses = 3.0e6", "pulses = 4.0e5");
    assert_ne!(text, SCENARIO);
    let dir = check_shard_counts_of(&text, &[], &[1, 2, 3]);
    let single = dir.path().join("single");
    let json = json_without_timings(&single.join("results.json"));
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    for (p, f) in points.iter().zip([0.0, 0.15, 0.3]) {
        assert_eq!(p["value"].as_f64(), Some(f));
        assert_eq!(p["eve"]["attack"], "intercept_resend");
        assert_eq!(p["eve"]["fraction"].as_f64(), Some(f));
        assert!(p["naive_secret_bits"].is_u64(), "{p}");
    }
    // Eve knows nothing without attacking, and some sifted bits at 30 %.
    assert_eq!(points[0]["eve"]["known_sifted_bits"], 0);
    assert!(points[2]["eve"]["known_sifted_bits"].as_u64().unwrap() > 0);
    assert!(single.join("eve_vs_adversary_fraction.svg").is_file());
    let csv = std::fs::read_to_string(single.join("results.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("eve_known_sifted_bits")
    );
}

#[test]
fn two_axis_shards_merge_to_the_unsharded_sweep() {
    // 6 grid points; 4 divides neither axis, 2 divides the second.
    check_shard_counts(GRID_2D, &[2, 4, 6]);
}

#[test]
fn two_axis_output_is_long_form_with_heat_maps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario_file(d, "s.toml", SCENARIO);
    ok(qkdsim_in(
        d,
        &args(
            &["sweep", "s.toml", "--out", "out", "--threads", "2"],
            GRID_2D,
        ),
        &[],
    ));
    let out = d.join("out");
    let json = json_without_timings(&out.join("results.json"));
    assert_eq!(json["param2"], "detector.dark_count_probability");
    assert_eq!(json["log2"], false);
    assert_eq!(json["grid"]["values"], serde_json::json!([0.0, 30.0, 60.0]));
    assert_eq!(json["grid"]["values2"], serde_json::json!([1e-8, 1e-3]));
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    // Row-major, the second key fastest; each point's seed derived from its index.
    let seeds: Vec<u64> = points.iter().map(|p| p["seed"].as_u64().unwrap()).collect();
    for (i, p) in points.iter().enumerate() {
        assert_eq!(p["value"], [0.0, 30.0, 60.0][i / 2]);
        assert_eq!(p["value2"], [1e-8, 1e-3][i % 2]);
        assert_eq!(
            seeds[i],
            qkdsim::rng::derive_seed(3, qkdsim::rng::Purpose::SweepPoint, i as u64)
        );
    }
    // The theory on the same grid.
    let theory = json["theory"].as_array().unwrap();
    assert_eq!(theory.len(), 6);
    for (t, p) in theory.iter().zip(points) {
        assert_eq!((&t["value"], &t["value2"]), (&p["value"], &p["value2"]));
    }
    // The dark-count key at 60 km has no key (QBER ~8 %); the clean one at 0 km has.
    assert!(points[0]["secret_bits"].as_u64().unwrap() > 0);
    assert_eq!(points[5]["secret_bits"].as_u64().unwrap(), 0);
    // CSV: long form, both keys first.
    let rows = csv_without_timings(&out.join("results.csv"));
    assert_eq!(rows.len(), 7);
    assert_eq!(
        rows[0][..2],
        ["link.length_km", "detector.dark_count_probability"]
    );
    assert_eq!(rows[4][..2], ["30", "0.001"]);
    // Heat maps, PNG and SVG, with the boundary and the theory panel; no line charts.
    for stem in ["key_rate_map", "qber_map"] {
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("zero-key boundary"), "{stem}");
        assert!(svg.contains("fibre length (km)") && svg.contains("dark-count probability"));
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        assert_eq!(
            (reader.info().width, reader.info().height),
            qkdsim::report::heatmap::HEATMAP_PNG_SIZE
        );
    }
    let svg = std::fs::read_to_string(out.join("key_rate_map.svg")).unwrap();
    assert!(svg.contains("finite-key theory"), "theory panel");
    assert!(!out.join("key_rate.png").exists());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in [
        "sweep of `link.length_km` × `detector.dark_count_probability`",
        "![",
        "key_rate_map.png",
        "grid points with key, simulated",
        "row-major",
    ] {
        assert!(md.contains(want), "report.md lacks {want}:\n{md}");
    }
}

#[test]
fn a_two_axis_sweep_table_in_the_file_works_like_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = SCENARIO.replace(
        "from = 0.0\nto = 60.0\nsteps = 5\n",
        "values = [0.0, 30.0, 60.0]\nparam2 = \"detector.dark_count_probability\"\n\
         values2 = [1.0e-8, 1.0e-3]\n",
    );
    scenario_file(d, "grid.toml", &text);
    scenario_file(d, "s.toml", SCENARIO);
    let from_file = ok(qkdsim_in(d, &["sweep", "grid.toml", "--json"], &[]));
    let from_flags = ok(qkdsim_in(
        d,
        &args(&["sweep", "s.toml", "--json"], GRID_2D),
        &[],
    ));
    let strip = |s: &str| {
        let path = d.join("tmp.json");
        std::fs::write(&path, s).unwrap();
        json_without_timings(&path)
    };
    assert_eq!(strip(&from_file.stdout), strip(&from_flags.stdout));
    // `check` prints the table back with its second axis.
    let check = ok(qkdsim_in(d, &["check", "grid.toml"], &[]));
    assert!(
        check
            .stdout
            .contains("param2 = \"detector.dark_count_probability\"")
    );
}

#[test]
fn bad_second_axes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario_file(d, "s.toml", SCENARIO);
    let rejected = |extra: &[&str]| {
        let out = qkdsim_in(d, &args(&["sweep", "s.toml"], extra), &[]);
        assert_eq!(out.code, 2, "{extra:?} accepted");
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        out.stderr
    };
    let e = rejected(&["--param2", "link.length_km", "--values2", "1,2"]);
    assert!(e.contains("--param2: must differ from sweep.param"), "{e}");
    let e = rejected(&["--from2", "0", "--to2", "1", "--steps2", "2"]);
    assert!(
        e.contains("sweep.param2: missing: --from2, --to2, --steps2 given"),
        "{e}"
    );
    let e = rejected(&["--param2", "link.misalignment", "--values2", "0.1,0.7"]);
    assert!(e.contains("link.misalignment") && e.contains("0.7"), "{e}");
    let e = rejected(&["--param2", "link.nope", "--values2", "1"]);
    assert!(
        e.contains("link.nope") && e.contains("numeric keys are"),
        "{e}"
    );
    let e = rejected(&[
        "--param2",
        "link.misalignment",
        "--from2",
        "0.1",
        "--to2",
        "0.2",
        "--steps2",
        "3000",
    ]);
    assert!(e.contains("make 15000 points; at most 10000"), "{e}");
    assert!(e.contains("--steps2"), "{e}");
    let e = rejected(&[
        "--param2",
        "link.misalignment",
        "--values2",
        "1,2",
        "--from2",
        "1",
    ]);
    assert!(e.contains("either --values2 or --from2"), "{e}");
    let e = rejected(&[
        "--param2",
        "link.misalignment",
        "--from2",
        "0",
        "--to2",
        "0.1",
        "--steps2",
        "3",
        "--log2",
    ]);
    assert!(
        e.contains("--from2: a log sweep (--log2) needs values > 0"),
        "{e}"
    );
    // The same mistakes in a [sweep] table are named by its keys.
    let text = SCENARIO.replace("steps = 5\n", "steps = 5\nfrom2 = 1.0\nsteps2 = 2.5\n");
    scenario_file(d, "bad.toml", &text);
    let out = qkdsim_in(d, &["check", "bad.toml"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("sweep.steps2"), "{}", out.stderr);
    let text = SCENARIO.replace(
        "steps = 5\n",
        "steps = 5\nparam2 = \"source.intensities.1.probability\"\nvalues2 = [0.5, 0.8]\n",
    );
    scenario_file(d, "coupled.toml", &text);
    let out = qkdsim_in(d, &["check", "coupled.toml"], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("source.intensities.1.probability") && out.stderr.contains("0.8"),
        "{}",
        out.stderr
    );
}

/// Shards 1 and 2 of 3, and shard 3, of the default one-axis sweep, in `d/parts`.
fn three_parts(d: &Path) -> [String; 3] {
    run_shards(d, &[], 3, "parts");
    [1, 2, 3].map(|i| format!("parts/s{i}/part-{i}-of-3.jsonl"))
}

fn merge_fails(d: &Path, parts: &[&str]) -> String {
    let mut a = vec!["merge"];
    a.extend(parts);
    a.extend(["--out", "merged"]);
    let out = qkdsim_in(d, &a, &[]);
    assert_eq!(out.code, 2, "merge of {parts:?} succeeded");
    assert!(!d.join("merged").exists(), "a refused merge wrote output");
    out.stderr
}

#[test]
fn merge_names_missing_duplicated_and_foreign_parts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario_file(d, "s.toml", SCENARIO);
    let [p1, p2, p3] = three_parts(d);
    // Points 0..4 of 5 in 3 shards: shard 1 has {0}, 2 has {1, 3}, 3 has {2, 4}.
    let e = merge_fails(d, &[&p1, &p3]);
    assert!(e.contains("missing 2 of 5 points"), "{e}");
    assert!(
        e.contains("1 (link.length_km = 15)") && e.contains("3 (link.length_km = 45)"),
        "{e}"
    );
    assert!(e.contains("they belong to shard 2/3 (2)"), "{e}");
    let e = merge_fails(d, &[&p1, &p2, &p3, &p2]);
    assert!(
        e.contains(&format!(
            "point 1 (link.length_km = 15) is in both {p2} and {p2}"
        )),
        "{e}"
    );
    // Parts of the same sweep cut differently overlap: duplicates, named with both files.
    run_shards(d, &[], 2, "halves");
    let e = merge_fails(d, &[&p1, &p2, &p3, "halves/s1/part-1-of-2.jsonl"]);
    assert!(e.contains("duplicated points"), "{e}");
    assert!(
        e.contains(&format!("is in both {p1} and halves/s1/part-1-of-2.jsonl")),
        "{e}"
    );
    // A shard of another sweep (another seed; another grid) is foreign, and named.
    ok(qkdsim_in(
        d,
        &[
            "sweep", "s.toml", "--shard", "2/3", "--seed", "4", "--out", "other",
        ],
        &[],
    ));
    let e = merge_fails(d, &[&p1, "other", &p3]);
    assert!(
        e.contains(&format!(
            "other/part-2-of-3.jsonl belongs to another sweep than {p1}: master seed 4 vs 3"
        )),
        "{e}"
    );
    ok(qkdsim_in(
        d,
        &[
            "sweep", "s.toml", "--shard", "2/3", "--steps", "6", "--out", "grid6",
        ],
        &[],
    ));
    let e = merge_fails(d, &[&p1, "grid6", &p3]);
    assert!(
        e.contains("grid6/part-2-of-3.jsonl belongs to another sweep")
            && e.contains("values [0, 12,"),
        "{e}"
    );
    // A file that is no part at all.
    std::fs::write(d.join("notes.jsonl"), "{\"hello\": 1}\n").unwrap();
    let e = merge_fails(d, &[&p1, &p2, &p3, "notes.jsonl"]);
    assert!(
        e.contains("notes.jsonl: is not a qkdsim sweep part file"),
        "{e}"
    );
    // And with all three, it works.
    ok(merge_shards(d, "parts", "merged"));
}

#[test]
fn parts_of_another_version_or_scenario_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario_file(d, "s.toml", SCENARIO);
    let [p1, p2, p3] = three_parts(d);
    let version = env!("CARGO_PKG_VERSION");
    // Another qkdsim version.
    let text = std::fs::read_to_string(d.join(&p2)).unwrap();
    let old = text.replacen(
        &format!("\"qkdsim_version\":\"{version}\""),
        "\"qkdsim_version\":\"0.0.1\"",
        1,
    );
    assert!(old != text, "no qkdsim_version in the part");
    std::fs::write(d.join("old.jsonl"), old).unwrap();
    let e = merge_fails(d, &[&p1, "old.jsonl", &p3]);
    assert!(
        e.contains(&format!(
            "old.jsonl: was written by qkdsim \"0.0.1\"; this is qkdsim {version}"
        )),
        "{e}"
    );
    // Another scenario: the same sweep over a scenario with another dark-count rate.
    scenario_file(
        d,
        "t.toml",
        &SCENARIO.replace(
            "dark_count_probability = 1.0e-8",
            "dark_count_probability = 2.0e-8",
        ),
    );
    ok(qkdsim_in(
        d,
        &["sweep", "t.toml", "--shard", "2/3", "--out", "foreign"],
        &[],
    ));
    let e = merge_fails(d, &[&p1, "foreign", &p3]);
    assert!(
        e.contains("foreign/part-2-of-3.jsonl belongs to another sweep than")
            && e.contains("another scenario"),
        "{e}"
    );
    // A scenario edited inside a part no longer matches its hash.
    let edited = text.replacen("misalignment = 0.01", "misalignment = 0.02", 1);
    assert!(
        edited != text,
        "the part's scenario has no misalignment = 0.01"
    );
    std::fs::write(d.join("edited.jsonl"), edited).unwrap();
    let e = merge_fails(d, &[&p1, "edited.jsonl", &p3]);
    assert!(
        e.contains("edited.jsonl: line 1: the scenario does not match its SHA-256"),
        "{e}"
    );
    // A record whose fields this build does not know is refused, not silently dropped.
    let extra = text.replacen("\"engine\":", "\"unknown_field\":1,\"engine\":", 1);
    assert!(extra != text, "no engine field in the part");
    std::fs::write(d.join("extra.jsonl"), extra).unwrap();
    let e = merge_fails(d, &[&p1, "extra.jsonl", &p3]);
    assert!(
        e.contains("extra.jsonl: line 2: the record of point")
            && e.contains("does not read back exactly"),
        "{e}"
    );
    // A part cut short (no end line) is incomplete.
    let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(d.join("cut.jsonl"), cut).unwrap();
    let e = merge_fails(d, &[&p1, "cut.jsonl", &p3]);
    assert!(
        e.contains("cut.jsonl: incomplete (1 of its 2 points") && e.contains("--resume"),
        "{e}"
    );
}

#[test]
fn resume_continues_a_journal_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario_file(d, "s.toml", SCENARIO);
    // Shard 2/2 of the two-axis sweep holds 3 points; keep the header and its first
    // record, and half of the second record, as a kill during a write would leave them.
    let extra = GRID_2D;
    run_shards(d, extra, 2, "parts");
    let part = d.join("parts/s2/part-2-of-2.jsonl");
    let text = std::fs::read_to_string(&part).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "header, 3 records, end");
    let half = lines[2]
        .char_indices()
        .nth(lines[2].chars().count() / 2)
        .map_or(0, |(i, _)| i);
    let journal = format!("{}\n{}\n{}", lines[0], lines[1], &lines[2][..half]);
    std::fs::remove_dir_all(d.join("parts/s2")).unwrap();
    std::fs::write(d.join("parts/.s2.qkdsim-journal.jsonl"), journal).unwrap();
    // Merging now: the shard is missing.
    let e = merge_shards(d, "parts", "merged");
    assert_eq!(e.code, 2);
    assert!(
        e.stderr.contains("they belong to shard 2/2"),
        "{}",
        e.stderr
    );
    let out = ok(qkdsim_in(
        d,
        &args(
            &[
                "sweep", "s.toml", "--shard", "2/2", "--resume", "--out", "parts/s2",
            ],
            extra,
        ),
        &[],
    ));
    assert!(
        out.stderr
            .contains("1 already in the journal (--resume), 2 to run"),
        "{}",
        out.stderr
    );
    assert!(!d.join("parts/.s2.qkdsim-journal.jsonl").exists());
    // A second --resume finds the part complete and runs nothing.
    let again = ok(qkdsim_in(
        d,
        &args(
            &[
                "sweep", "s.toml", "--shard", "2/2", "--resume", "--out", "parts/s2",
            ],
            extra,
        ),
        &[],
    ));
    assert!(
        again.stderr.contains("already complete"),
        "{}",
        again.stderr
    );
    // The resumed shard merges to the unsharded sweep.
    ok(merge_shards(d, "parts", "merged"));
    ok(qkdsim_in(
        d,
        &args(&["sweep", "s.toml", "--out", "single"], extra),
        &[],
    ));
    assert_same_output(&d.join("single"), &d.join("merged"));
    // --resume with a journal of another sweep is refused, naming the difference.
    std::fs::write(
        d.join(".s9.qkdsim-journal.jsonl"),
        format!("{}\n", lines[0]),
    )
    .unwrap();
    let out = qkdsim_in(
        d,
        &args(
            &[
                "sweep", "s.toml", "--shard", "2/2", "--seed", "9", "--resume", "--out", "s9",
            ],
            extra,
        ),
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("belongs to shard 2/2 of another sweep (master seed 3 vs 9)"),
        "{}",
        out.stderr
    );
}

#[test]
fn slurm_array_variables_pick_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario_file(d, "s.toml", SCENARIO);
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "6"),
        ("SLURM_ARRAY_TASK_MIN", "5"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    let out = ok(qkdsim_in(d, &["sweep", "s.toml", "--out", "task6"], &slurm));
    assert!(
        out.stderr.contains("Slurm array task 6")
            && out.stderr.contains("running shard 2/3 of the sweep"),
        "{}",
        out.stderr
    );
    assert!(d.join("task6/part-2-of-3.jsonl").is_file());
    // --shard wins over the variables; --no-shard runs every point.
    ok(qkdsim_in(
        d,
        &["sweep", "s.toml", "--shard", "1/3", "--out", "one"],
        &slurm,
    ));
    assert!(d.join("one/part-1-of-3.jsonl").is_file());
    let all = ok(qkdsim_in(
        d,
        &["sweep", "s.toml", "--no-shard", "--json"],
        &slurm,
    ));
    let doc: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(doc["points"].as_array().unwrap().len(), 5);
    assert!(!all.stderr.contains("Slurm array task"));
    // A step: --array=10-20:5 gives tasks 10, 15, 20, shards 1..3.
    let stepped = [
        ("SLURM_ARRAY_TASK_ID", "20"),
        ("SLURM_ARRAY_TASK_MIN", "10"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
        ("SLURM_ARRAY_TASK_STEP", "5"),
    ];
    let out = ok(qkdsim_in(d, &["sweep", "s.toml", "--out", "t20"], &stepped));
    assert!(out.stderr.contains("running shard 3/3"), "{}", out.stderr);
    // Variables that give no place in the array, or are missing, are errors.
    let bad = qkdsim_in(
        d,
        &["sweep", "s.toml", "--out", "bad"],
        &[
            ("SLURM_ARRAY_TASK_ID", "9"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("has no place in a contiguous array"),
        "{}",
        bad.stderr
    );
    let bad = qkdsim_in(
        d,
        &["sweep", "s.toml", "--out", "bad"],
        &[("SLURM_ARRAY_TASK_ID", "2")],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("SLURM_ARRAY_TASK_MIN is not set"),
        "{}",
        bad.stderr
    );
}

#[test]
fn shard_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario_file(d, "s.toml", SCENARIO);
    let fails = |a: &[&str]| {
        let out = qkdsim_in(d, a, &[]);
        assert_eq!(out.code, 2, "{a:?}");
        out.stderr
    };
    let e = fails(&["sweep", "s.toml", "--shard", "4/3", "--out", "x"]);
    assert!(
        e.contains("--shard") && e.contains("I must be in [1, N]"),
        "{e}"
    );
    let e = fails(&["sweep", "s.toml", "--shard", "2/3"]);
    assert!(e.contains("shard 2/3 needs --out DIR"), "{e}");
    let e = fails(&["sweep", "s.toml", "--shard", "2/3", "--out", "x", "--json"]);
    assert!(
        e.contains("--json: shard 2/3 writes its points to its part file"),
        "{e}"
    );
    let e = fails(&["sweep", "s.toml", "--resume"]);
    assert!(e.contains("--resume continues a shard"), "{e}");
    // A shard whose journal another process holds is refused before it runs.
    let journal = std::fs::File::create(d.join(".busy.qkdsim-journal.jsonl")).unwrap();
    journal.try_lock().unwrap();
    let e = fails(&["sweep", "s.toml", "--shard", "1/2", "--out", "busy"]);
    assert!(e.contains("is in use by another qkdsim process"), "{e}");
    drop(journal);
    assert!(!d.join("busy").exists());
    let e = fails(&["merge", "--out", "x"]);
    assert!(e.contains("PARTS"), "{e}");
    std::fs::create_dir(d.join("empty")).unwrap();
    let e = fails(&["merge", "empty", "--out", "x"]);
    assert!(e.contains("empty: holds no part file"), "{e}");
    let e = fails(&["merge", "nothing-here", "--out", "x"]);
    assert!(e.contains("cannot read part nothing-here"), "{e}");
}

#[test]
fn the_scenario_a_part_holds_reads_back_as_the_same_scenario() {
    // Merge computes the theory from the scenario text in the part: it must be the very
    // scenario the shards ran, for every shipped scenario.
    use qkdsim::analysis::shard::{scenario_text, sha256_hex};
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios/sweeps"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    for path in files {
        let s = qkdsim::Scenario::parse(&std::fs::read_to_string(&path).unwrap(), "f").unwrap();
        let text = scenario_text(&s);
        let back = qkdsim::Scenario::parse(&text, "part").unwrap();
        let mut want = s.spec.clone();
        want.sweep = None;
        assert_eq!(back.spec, want, "{}", path.display());
        assert_eq!(sha256_hex(&scenario_text(&back)), sha256_hex(&text));
    }
}

#[test]
fn random_second_axes_never_panic_and_name_the_field() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use qkdsim::analysis::sweep::PointGrid;
    use qkdsim::scenario::{SweepNames, SweepSpec, numeric_keys};
    let base = qkdsim::Scenario::parse(SCENARIO, "s.toml").unwrap();
    let number = || {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-1.0),
            Just(0.0),
            Just(1e-9),
            Just(0.3),
            Just(1e300),
            -10.0..100.0f64,
        ]
    };
    let param2 = prop_oneof![
        proptest::sample::select(numeric_keys(&base)),
        Just(String::new()),
        Just("link.length_km".to_string()),
        "[a-z._0-9]{0,10}",
    ];
    let strategy = (
        proptest::option::of(param2),
        proptest::option::of(number()),
        proptest::option::of(number()),
        proptest::option::of(prop_oneof![Just(0u64), Just(20_000), 1u64..30]),
        proptest::option::of(proptest::collection::vec(number(), 0..5)),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(param2, from2, to2, steps2, values2, log2)| {
            let spec = SweepSpec {
                param: "link.length_km".into(),
                from: Some(0.0),
                to: Some(50.0),
                steps: Some(3),
                param2,
                from2,
                to2,
                steps2,
                values2,
                log2,
                ..SweepSpec::default()
            };
            match PointGrid::from_spec_named(&spec, &SweepNames::flags(), &SweepNames::flags2()) {
                Ok(grid) => {
                    prop_assert!((1..=10_000).contains(&grid.len()));
                    if let Err(e) = grid.scenarios(&base) {
                        let m = e.to_string();
                        let named = spec.param2.as_deref().is_some_and(|p| m.contains(p.trim()));
                        prop_assert!(named, "{spec:?}: {m}");
                    }
                }
                Err(e) => {
                    let m = e.to_string();
                    prop_assert!(m.contains("--") || m.contains("sweep"), "{spec:?}: {m}");
                }
            }
            // The same table in a scenario file: named by the table's keys, never a flag.
            let mut in_file = base.spec.clone();
            in_file.sweep = Some(spec.clone());
            if let Err(e) = qkdsim::Scenario::from_spec(in_file) {
                let m = e.to_string();
                prop_assert!(m.contains("sweep"), "{spec:?}: {m}");
                prop_assert!(!m.contains("--"), "file table blamed on a flag: {m}");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn damaged_part_files_are_errors_never_panics() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use qkdsim::analysis::run::RunOptions;
    use qkdsim::analysis::shard::{PartHeader, SweepDefinition, parse_part, part_text};
    use qkdsim::analysis::sweep::{PointGrid, Shard, SweepPlan, run_points};
    let scenario = qkdsim::Scenario::parse(SCENARIO, "s.toml").unwrap();
    let grid = PointGrid::from(SweepPlan {
        param: "link.length_km".into(),
        values: vec![0.0, 20.0, 40.0],
        log: false,
    });
    let shard = Shard::new(1, 1).unwrap();
    let options = RunOptions {
        pulses: Some(200_000),
        ..RunOptions::default()
    };
    let records = run_points(&scenario, &grid, &options, &[0, 1, 2], &|_, _| {}, &|_| {
        Ok(())
    })
    .unwrap();
    let definition = SweepDefinition {
        grid,
        seed: 3,
        pulses: Some(200_000),
        points: 3,
    };
    let version = env!("CARGO_PKG_VERSION");
    let header = PartHeader::new(&scenario, definition, shard, version, "qkdsim sweep".into());
    let text = part_text(&header, &records);
    let part = parse_part(&text, "p.jsonl", version).unwrap();
    assert!(part.complete && part.torn_line.is_none() && part.records.len() == 3);
    assert_eq!(part.valid_bytes, text.len());
    let bytes = text.into_bytes();
    let n = bytes.len();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(0..n, any::<u8>(), any::<bool>()),
            |(at, byte, truncate)| {
                let mut damaged = bytes.clone();
                if truncate {
                    damaged.truncate(at);
                } else {
                    damaged[at] = byte;
                }
                let text = String::from_utf8_lossy(&damaged);
                match parse_part(&text, "p.jsonl", version) {
                    // Cut at a line end, or a byte that leaves valid JSON: the damage must
                    // then show as an incomplete part, a torn line, or equal content.
                    Ok(p) => prop_assert!(
                        !p.complete || p.records.len() == 3,
                        "a damaged part passed as complete"
                    ),
                    Err(e) => prop_assert!(e.to_string().starts_with("p.jsonl"), "{e}"),
                }
                Ok(())
            },
        )
        .unwrap();
}
