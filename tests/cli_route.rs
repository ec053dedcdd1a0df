//! `qkdsim route` and `qkdsim route plan` through the binary: flags and their errors, the
//! base scenario resolved against the route file's folder, the JSON contract (DESIGN §7),
//! the `--out` set (exactly the documented files, nothing when the run fails), the
//! planner's table, determinism over thread counts, and planning a corridor.

use assert_cmd::Command;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn qkdsim() -> Command {
    Command::cargo_bin("qkdsim").unwrap()
}

/// Exit code, stdout, stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = qkdsim().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn base_scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bayreuth-zwickau.toml")
}

/// Short runs: 0.1 s of link time (blocks need about 0.05 s of modelled post-processing
/// latency before their key exists).
const SHORT: &str = r#"
[simulation]
duration_s = 0.1
seed = 11
"#;
/// 1e5-bit blocks with balanced bases (enough test-basis bits for the finite-key bound at
/// this block size), so spans make keys in a second or two.
const SMALL_BLOCKS: &str = "postprocessing.block_bits = 1e5\n\
                            source.basis_z_probability = 0.5\n\
                            receiver.basis_z_probability = 0.5";

/// A 3-node chain A – R – B with coordinates; `base.toml` (a copy of the shipped
/// Bayreuth – Zwickau scenario) beside it, named relative to the route file.
fn chain(dir: &Path) -> PathBuf {
    std::fs::copy(base_scenario(), dir.join("base.toml")).unwrap();
    let path = dir.join("chain.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "Test chain"
base = "base.toml"
{SHORT}
[[nodes]]
name = "Bayreuth"
lat = 49.94
lon = 11.58
trusted = false
[[nodes]]
name = "Hof"
lat = 50.31
lon = 11.92
[[nodes]]
name = "Zwickau"
lat = 50.72
lon = 12.49
trusted = false
[[spans]]
from = "Bayreuth"
to = "Hof"
length_km = 20.0
{SMALL_BLOCKS}
[[spans]]
from = "Hof"
to = "Zwickau"
length_km = 35.0
{SMALL_BLOCKS}
[[demands]]
from = "Bayreuth"
to = "Zwickau"
rate_bps = 1e5
"#
        ),
    )
    .unwrap();
    path
}

/// Two disjoint paths A – R1 – B and A – R2 – B, no coordinates, base by absolute path.
fn mesh(dir: &Path) -> PathBuf {
    let path = dir.join("mesh.toml");
    let span = |from: &str, to: &str, km: f64| {
        format!("[[spans]]\nfrom = \"{from}\"\nto = \"{to}\"\nlength_km = {km:?}\n{SMALL_BLOCKS}\n")
    };
    std::fs::write(
        &path,
        format!(
            r#"
name = "Test mesh"
base = {base:?}
{SHORT}
[[nodes]]
name = "A"
trusted = false
[[nodes]]
name = "R1"
[[nodes]]
name = "R2"
[[nodes]]
name = "B"
trusted = false
{s0}{s1}{s2}{s3}
[[demands]]
from = "A"
to = "B"
rate_bps = 1e9
"#,
            base = base_scenario().display().to_string(),
            s0 = span("A", "R1", 20.0),
            s1 = span("R1", "B", 25.0),
            s2 = span("A", "R2", 30.0),
            s3 = span("R2", "B", 35.0),
        ),
    )
    .unwrap();
    path
}

/// A corridor of four candidate sites, 60 km apart, for `route plan` (1e6-bit blocks, so
/// the finite-key theory gives key at these lengths).
fn corridor(dir: &Path) -> PathBuf {
    let path = dir.join("corridor.toml");
    let mut text = format!(
        "name = \"Test corridor\"\nbase = {:?}\n[simulation]\nduration_s = 0.01\nseed = 5\n",
        base_scenario().display().to_string()
    );
    for (name, trusted) in [("A", false), ("B", true), ("C", true), ("D", false)] {
        text.push_str(&format!(
            "[[nodes]]\nname = \"{name}\"\ntrusted = {trusted}\n"
        ));
    }
    for (from, to) in [("A", "B"), ("B", "C"), ("C", "D")] {
        text.push_str(&format!(
            "[[spans]]\nfrom = \"{from}\"\nto = \"{to}\"\nlength_km = 60.0\n"
        ));
    }
    text.push_str("[[demands]]\nfrom = \"A\"\nto = \"D\"\nrate_bps = 1000\n");
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json_of(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not one JSON document: {e}\n{stdout}"))
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

const ROUTE_FILES: &[&str] = &[
    ".qkdsim-output",
    "demands.csv",
    "report.md",
    "results.csv",
    "results.json",
    "route.png",
    "route.svg",
    "stores.csv",
    "stores.png",
    "stores.svg",
];

#[test]
fn help_names_every_flag_and_the_plan_subcommand() {
    let (code, out, _) = run(&["route", "--help"]);
    assert_eq!(code, 0);
    for want in [
        "qkdsim route [OPTIONS] <ROUTE.toml>",
        "qkdsim route <COMMAND>",
        "plan",
        "--duration-s",
        "--seed",
        "--threads",
        "--json",
        "--out",
        "stores.csv",
        "whole or not at all",
    ] {
        assert!(out.contains(want), "{want} missing in\n{out}");
    }
    let (code, out, _) = run(&["route", "plan", "--help"]);
    assert_eq!(code, 0);
    for want in ["--min-rate-bps", "exits 0", "\"route\": null", "plan.csv"] {
        assert!(out.contains(want), "{want} missing in\n{out}");
    }
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("route"), "{out}");
}

#[test]
fn bad_flags_and_missing_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let route = chain(dir.path());
    let route = s(&route);
    for (args, flag) in [
        (vec!["--duration-s", "-1"], "--duration-s"),
        (vec!["--duration-s", "0"], "--duration-s"),
        (vec!["--duration-s", "NaN"], "--duration-s"),
        (vec!["--duration-s", "inf"], "--duration-s"),
        (vec!["--duration-s", "soon"], "--duration-s"),
        (vec!["--seed", "-3"], "--seed"),
        (vec!["--seed", "1.5"], "--seed"),
        (vec!["--threads", "-1"], "--threads"),
        (vec!["--threads", "100000"], "--threads"),
    ] {
        let mut all = vec!["route", route];
        all.extend(&args);
        let (code, out, err) = run(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error:") && first.contains(flag),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A duration that is no whole number of pulses at 1 GHz, checked against the route.
    let (code, _, err) = run(&["route", route, "--duration-s", "1.5e-9"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--duration-s"), "{err}");
    assert!(err.contains("whole number of pulses"), "{err}");
    // Missing route file.
    let (code, _, err) = run(&["route", "no/such/route.toml"]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot read route file no/such/route.toml"),
        "{err}"
    );
    // No route file at all, and plan without its rate.
    let (code, _, err) = run(&["route"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["route", "plan", route]);
    assert_eq!(code, 2);
    assert!(err.contains("--min-rate-bps"), "{err}");
    for bad in ["0", "-5", "NaN", "fast"] {
        let (code, _, err) = run(&["route", "plan", route, "--min-rate-bps", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("--min-rate-bps"), "{bad}: {err}");
    }
}

#[test]
fn a_missing_base_is_named_by_its_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let route = dir.path().join("r.toml");
    std::fs::write(
        &route,
        "name = \"r\"\nbase = \"nowhere/base.toml\"\n[[nodes]]\nname = \"A\"\n[[nodes]]\nname = \"B\"\n\
         [[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 10.0\n",
    )
    .unwrap();
    let (code, _, err) = run(&["route", s(&route)]);
    assert_eq!(code, 2, "{err}");
    let resolved = dir.path().join("nowhere/base.toml");
    assert!(err.contains(s(&resolved)), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn json_has_the_contract_fields_and_no_other_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let route = chain(dir.path());
    let (code, out, err) = run(&["route", s(&route), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v = json_of(&out);
    for k in ["route", "spans", "demands", "timings"] {
        assert!(v.get(k).is_some(), "{k} missing");
    }
    assert_eq!(v["route"], "Test chain");
    let spans = v["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    for sp in spans {
        for k in [
            "index",
            "from",
            "to",
            "length_km",
            "loss_db",
            "qber_z",
            "secret_bits",
            "secret_key_rate_bps",
            "mean_latency_s",
            "bottleneck",
        ] {
            assert!(sp.get(k).is_some(), "spans.{k} missing in {sp}");
        }
        // A QBER is a number or null, never a made-up value.
        assert!(sp["qber_z"].is_null() || sp["qber_z"].is_f64(), "{sp}");
    }
    assert_eq!(spans[0]["from"], "Bayreuth");
    assert_eq!(spans[1]["to"], "Zwickau");
    let demands = v["demands"].as_array().unwrap();
    assert_eq!(demands.len(), 1);
    for k in [
        "from",
        "to",
        "path",
        "secret_key_rate_bps",
        "delivered_bits",
        "keys_match",
        "min_cut",
        "time_to_first_key_s",
        "outage_s",
        "availability",
    ] {
        assert!(demands[0].get(k).is_some(), "demands.{k} missing");
    }
    assert_eq!(
        demands[0]["path"],
        serde_json::json!(["Bayreuth", "Hof", "Zwickau"])
    );
    assert_eq!(demands[0]["keys_match"], true);
    // --seed and --duration-s reach the simulation.
    let (code, out, err) = run(&[
        "route",
        s(&route),
        "--json",
        "--seed",
        "99",
        "--duration-s",
        "0.02",
    ]);
    assert_eq!(code, 0, "{err}");
    let w = json_of(&out);
    assert_eq!(w["seed"], 99);
    assert_eq!(w["duration_s"], 0.02);
}

#[test]
fn out_writes_exactly_the_documented_files() {
    let dir = tempfile::tempdir().unwrap();
    let route = chain(dir.path());
    let out_dir = dir.path().join("out");
    let (code, stdout, err) = run(&["route", s(&route), "--out", s(&out_dir), "--json"]);
    assert_eq!(code, 0, "{err}");
    let want: BTreeSet<String> = ROUTE_FILES.iter().map(|f| f.to_string()).collect();
    assert_eq!(files_in(&out_dir), want);
    // results.json is the --json document.
    let file = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    assert_eq!(json_of(&file), json_of(&stdout));
    // results.csv: one row per span; demands.csv: one per demand; stores.csv: the levels.
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("index,from,to,length_km,loss_db,"), "{csv}");
    let demands = std::fs::read_to_string(out_dir.join("demands.csv")).unwrap();
    assert_eq!(demands.lines().count(), 2, "{demands}");
    assert!(demands.contains("Bayreuth>Hof>Zwickau"), "{demands}");
    let stores = std::fs::read_to_string(out_dir.join("stores.csv")).unwrap();
    assert_eq!(stores.lines().next(), Some("span,time_s,bits"));
    let svg = std::fs::read_to_string(out_dir.join("route.svg")).unwrap();
    assert!(svg.contains("Hof") && svg.contains("20 km"), "route.svg");
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for want in [
        "# Test chain",
        "## Spans",
        "## Demands",
        "Relay and authentication model",
        "(route.png)",
        "(stores.png)",
        "--out",
    ] {
        assert!(md.contains(want), "{want} missing in report.md");
    }
    // A second run replaces the set as a whole.
    let (code, _, err) = run(&["route", s(&route), "--out", s(&out_dir)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(files_in(&out_dir), want);
}

#[test]
fn out_writes_nothing_when_the_run_fails() {
    let dir = tempfile::tempdir().unwrap();
    let route = chain(dir.path());
    // The target is a file: refused before the simulation, the file untouched.
    let taken = dir.path().join("taken");
    std::fs::write(&taken, "mine").unwrap();
    let before = files_in(dir.path());
    let (code, out, err) = run(&["route", s(&route), "--out", s(&taken)]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("--out") && err.contains("not a directory"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "mine");
    assert_eq!(files_in(dir.path()), before, "temporaries left behind");
    // A bad flag value after a good --out: no directory appears.
    let fresh = dir.path().join("fresh");
    let (code, _, _) = run(&[
        "route",
        s(&route),
        "--out",
        s(&fresh),
        "--duration-s",
        "1.5e-9",
    ]);
    assert_eq!(code, 2);
    assert!(!fresh.exists());
    assert_eq!(files_in(dir.path()), before);
}

#[test]
fn the_table_reads_like_a_link_plan() {
    let dir = tempfile::tempdir().unwrap();
    let route = mesh(dir.path());
    let (code, out, err) = run(&["route", s(&route)]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "qkdsim route: Test mesh (seed 11",
        "4 nodes (2 trusted), 4 spans, 1 demand",
        "QBER Z",
        "key kbit/s",
        "A → R1",
        "R2 → B",
        "demand 0: A → B",
        "deliverable end-to-end rate (maximum flow)",
        "minimum cut: span",
        "keys match at both ends: yes",
        "availability",
        "longest outage",
        "would have covered the worst outage",
    ] {
        assert!(out.contains(want), "{want} missing in\n{out}");
    }
    // A demand asking for far more than the spans make has a minimum cut: the bottleneck.
    assert!(out.contains("◀ bottleneck"), "{out}");
    assert!(
        out.contains("bottleneck (minimum cut of a demand): span"),
        "{out}"
    );
    // Both paths are used towards a demand that always waits.
    assert!(out.contains("also relayed over:"), "{out}");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let route = mesh(dir.path());
    let doc = |threads: &str| {
        let (code, out, err) = run(&["route", s(&route), "--json", "--threads", threads]);
        assert_eq!(code, 0, "{err}");
        let mut v = json_of(&out);
        v.as_object_mut().unwrap().remove("timings");
        v
    };
    assert_eq!(doc("1"), doc("2"));
}

#[test]
fn plan_prints_the_chosen_nodes_then_the_simulated_route() {
    let dir = tempfile::tempdir().unwrap();
    let route = corridor(dir.path());
    let (code, out, err) = run(&["route", "plan", s(&route), "--min-rate-bps", "2e4"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "qkdsim route plan: Test corridor",
        "required rate 20 kbit/s",
        "candidate sites (fibre km from the start): A 0, B 60, C 120, D 180",
        "chosen nodes: A → ",
        " → D (",
        "theory ",
        "qkdsim route: Test corridor (planned",
    ] {
        assert!(out.contains(want), "{want} missing in\n{out}");
    }
    let (code, out, err) = run(&[
        "route",
        "plan",
        s(&route),
        "--min-rate-bps",
        "2e4",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json_of(&out);
    let chosen = v["plan"]["chosen"].as_array().unwrap();
    assert_eq!(chosen.first().unwrap(), "A");
    assert_eq!(chosen.last().unwrap(), "D");
    let hops = v["plan"]["hops"].as_array().unwrap();
    assert_eq!(hops.len(), chosen.len() - 1);
    for h in hops {
        assert!(
            h["theory_secret_key_rate_bps"].as_f64().unwrap() >= 2e4,
            "{h}"
        );
    }
    assert_eq!(v["route"]["spans"].as_array().unwrap().len(), hops.len());

    // With --out: the route set plus plan.csv.
    let out_dir = dir.path().join("plan-out");
    let (code, _, err) = run(&[
        "route",
        "plan",
        s(&route),
        "--min-rate-bps",
        "2e4",
        "--out",
        s(&out_dir),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut want: BTreeSet<String> = ROUTE_FILES.iter().map(|f| f.to_string()).collect();
    want.insert("plan.csv".into());
    assert_eq!(files_in(&out_dir), want);
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        md.contains("## Plan") && md.contains("Chosen nodes: A → "),
        "{md}"
    );
}

#[test]
fn an_infeasible_plan_is_an_answer_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let route = corridor(dir.path());
    let (code, out, err) = run(&["route", "plan", s(&route), "--min-rate-bps", "1e11"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("no placement reaches the required rate"),
        "{out}"
    );
    assert!(!out.contains("qkdsim route: "), "{out}");
    let (code, out, err) = run(&[
        "route",
        "plan",
        s(&route),
        "--min-rate-bps",
        "1e11",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json_of(&out);
    assert!(v["route"].is_null());
    assert!(v["plan"]["infeasible"].is_string());
    assert_eq!(v["plan"]["chosen"].as_array().unwrap().len(), 0);
    let out_dir = dir.path().join("none");
    let (code, _, err) = run(&[
        "route",
        "plan",
        s(&route),
        "--min-rate-bps",
        "1e11",
        "--out",
        s(&out_dir),
    ]);
    assert_eq!(code, 0, "{err}");
    let want: BTreeSet<String> = [".qkdsim-output", "plan.csv", "report.md", "results.json"]
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(files_in(&out_dir), want);
}
