//! Thread-count determinism of every output document (issue 11, DESIGN §7): the same
//! scenario and seed give byte-identical `run --json`, `results.json`, `results.csv` and
//! `sweep --json` for 1, 2 and 4 threads, once the `timings` objects (and the CSV columns
//! that mirror them) are set aside. Nothing else may hold a wall-clock figure.
//!
//! The scenario is the InGaAs border link (dead time and afterpulsing, so engine chunks are
//! re-run from their predecessor's detector state) with small blocks, so that several
//! blocks are post-processed concurrently and finish in a thread-dependent order.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const THREADS: [&str; 3] = ["1", "2", "4"];

/// CSV columns that mirror `timings` (wall clock), the only ones allowed to differ.
const TIMING_COLUMNS: [&str; 7] = [
    "engine_s",
    "sifting_s",
    "estimation_s",
    "reconciliation_s",
    "verification_s",
    "privacy_amplification_s",
    "total_s",
];

fn qkdsim(args: &[&str]) -> Vec<u8> {
    let out = Command::cargo_bin("qkdsim")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "qkdsim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Hof–Plauen with 20,000-bit blocks, written into `dir`.
fn scenario_in(dir: &Path) -> String {
    let text = std::fs::read_to_string("scenarios/hof-plauen.toml").unwrap();
    assert!(text.contains("block_bits = 1000000"));
    let text = text.replace("block_bits = 1000000", "block_bits = 20000");
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Removes every `timings` object, at any depth, and counts them.
fn strip_timings(v: &mut Value) -> usize {
    match v {
        Value::Object(map) => {
            let mut n = usize::from(map.remove("timings").is_some());
            for child in map.values_mut() {
                n += strip_timings(child);
            }
            n
        }
        Value::Array(items) => items.iter_mut().map(strip_timings).sum(),
        _ => 0,
    }
}

fn json_without_timings(bytes: &[u8]) -> (Value, usize) {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    let n = strip_timings(&mut v);
    (v, n)
}

fn csv_without_timings(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    for name in TIMING_COLUMNS {
        assert!(header.iter().any(|h| h == name), "column {name} missing");
    }
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !TIMING_COLUMNS.contains(&header[i].as_str()))
        .collect();
    let mut rows = vec![keep.iter().map(|&i| header[i].clone()).collect()];
    for record in reader.records() {
        let record = record.unwrap();
        rows.push(keep.iter().map(|&i| record[i].to_string()).collect());
    }
    rows
}

#[test]
fn run_json_results_json_and_csv_are_identical_for_1_2_and_4_threads() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_in(dir.path());
    let mut documents = Vec::new();
    for threads in THREADS {
        let out = dir.path().join(format!("out-{threads}"));
        let stdout = qkdsim(&[
            "run",
            &scenario,
            "--pulses",
            "4e7",
            "--seed",
            "5",
            "--threads",
            threads,
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]);
        let (run, n_run) = json_without_timings(&stdout);
        let (results, n_results) =
            json_without_timings(&std::fs::read(out.join("results.json")).unwrap());
        let csv = csv_without_timings(&std::fs::read_to_string(out.join("results.csv")).unwrap());
        // The run's timings plus one per block: several blocks, so the comparison covers
        // blocks finishing out of order.
        let blocks = run["per_block"].as_array().unwrap().len();
        assert!(blocks >= 4, "want several blocks, got {blocks}");
        assert_eq!(n_run, blocks + 1);
        assert_eq!(n_results, blocks + 1);
        assert_eq!(run, results, "results.json differs from run --json");
        documents.push((threads, run, csv));
    }
    let (_, run_1, csv_1) = &documents[0];
    for (threads, run, csv) in &documents[1..] {
        assert_eq!(
            run, run_1,
            "run --json differs between 1 and {threads} threads"
        );
        assert_eq!(
            csv, csv_1,
            "results.csv differs between 1 and {threads} threads"
        );
    }
}

#[test]
fn sweep_json_is_identical_for_1_2_and_4_threads() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_in(dir.path());
    let documents: Vec<Value> = THREADS
        .iter()
        .map(|threads| {
            let stdout = qkdsim(&[
                "sweep",
                &scenario,
                "--param",
                "link.length_km",
                "--values",
                "10,40",
                "--pulses",
                "1e7",
                "--threads",
                threads,
                "--json",
            ]);
            let (v, n) = json_without_timings(&stdout);
            assert!(n >= 2, "each point has its timings");
            v
        })
        .collect();
    assert_eq!(documents[0]["points"].as_array().unwrap().len(), 2);
    for (threads, doc) in THREADS.iter().zip(&documents).skip(1) {
        assert_eq!(
            doc, &documents[0],
            "sweep --json differs between 1 and {threads} threads"
        );
    }
}

#[test]
fn reconcile_json_is_identical_for_1_2_and_4_threads() {
    // `seconds_mean` and `bits_per_second` are wall-clock contract fields (DESIGN §5) kept
    // at the top level and mirrored in `timings`; nothing else may differ.
    let documents: Vec<Value> = THREADS
        .iter()
        .map(|threads| {
            let stdout = qkdsim(&[
                "reconcile",
                "--bits",
                "5000",
                "--qber",
                "0.03",
                "--runs",
                "8",
                "--threads",
                threads,
                "--json",
            ]);
            let (mut v, n) = json_without_timings(&stdout);
            assert_eq!(n, 1);
            let map = v.as_object_mut().unwrap();
            assert!(map.remove("seconds_mean").is_some());
            assert!(map.remove("bits_per_second").is_some());
            v
        })
        .collect();
    for (threads, doc) in THREADS.iter().zip(&documents).skip(1) {
        assert_eq!(
            doc, &documents[0],
            "reconcile --json differs between 1 and {threads} threads"
        );
    }
}
