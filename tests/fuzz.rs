//! Fuzzing on stable (issue 12): proptest generators over the scenario parser and
//! validator, the dotted-key setter and the sweep plan. cargo-fuzz needs nightly, which CI
//! lacks; these run as ordinary tests with a fixed case count (a few seconds in the test
//! profile) and ten times more with `QKDSIM_LONG_TESTS=1`.
//!
//! Properties: nothing panics, every rejection names a key path (or, for TOML syntax, the
//! line), no message carries a raw control character, and whatever is accepted round-trips
//! through its own TOML. Cases found by these generators are committed as fixtures under
//! `tests/fixtures/bad/`, each with its expected message.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use qkdsim::analysis::sweep::SweepPlan;
use qkdsim::scenario::{SweepSpec, numeric_keys, with_value};
use qkdsim::{Error, Scenario};
use std::path::Path;

fn cases(short: u32) -> Config {
    let long = std::env::var("QKDSIM_LONG_TESTS").is_ok_and(|v| v == "1");
    Config {
        cases: if long { short * 10 } else { short },
        failure_persistence: None,
        ..Config::default()
    }
}

fn shipped() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["scenarios", "scenarios/sweeps"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        out.extend(files.iter().map(|f| std::fs::read_to_string(f).unwrap()));
    }
    out
}

/// Values a tester tries for any key.
const NASTY: &[&str] = &[
    "nan",
    "+nan",
    "-nan",
    "inf",
    "-inf",
    "-0.0",
    "0",
    "-0",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "5e-324",
    "1e-300",
    "99999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
    "1.5",
    "-1",
    "1e6",
    "0.5",
    "\"text\"",
    "\"\"",
    "\"\\u001b[31m\"",
    "\"a\\nb\"",
    "true",
    "[]",
    "[1.0, nan]",
    "{ a = 1 }",
    "1979-05-27T07:32:00Z",
];

const SECTIONS: &[&str] = &[
    "name",
    "description",
    "sites",
    "source",
    "link",
    "receiver",
    "detector",
    "postprocessing",
    "simulation",
    "sweep",
];

fn names_a_key(line: &str) -> bool {
    // `some.key.path: …` (an unknown key's own path counts), or a section's key inside.
    let head = line.split(": ").next().unwrap_or("");
    if line.contains(": ") && !head.is_empty() && !head.contains(' ') {
        return true;
    }
    SECTIONS.iter().any(|s| {
        line.contains(&format!("{s}."))
            || line.contains(&format!("{s}:"))
            || line.contains(&format!("{s} "))
    })
}

fn no_raw_controls(msg: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !msg.chars().any(|c| c.is_control() && c != '\n'),
        "raw control character in {msg:?}"
    );
    Ok(())
}

/// The property every parse result must have.
fn check_parse(text: &str) -> Result<(), TestCaseError> {
    match Scenario::parse(text, "fuzz.toml") {
        Ok(s) => {
            let again = Scenario::parse(&s.to_toml(), "round trip");
            prop_assert!(again.is_ok(), "{:?}\n{}", again.err(), s.to_toml());
            let _ = s.pulses();
            let _ = numeric_keys(&s);
            let _ = qkdsim::physics::LinkModel::from_scenario(&s);
        }
        Err(Error::ScenarioSyntax(m)) => {
            no_raw_controls(&m)?;
            prop_assert!(
                m.contains("line ") || names_a_key(&m),
                "syntax error without position or key: {m}"
            );
        }
        Err(Error::ScenarioInvalid(v)) => {
            prop_assert!(!v.is_empty());
            for line in &v {
                no_raw_controls(line)?;
                prop_assert!(names_a_key(line), "no key path in {line:?}\n{text}");
            }
        }
        Err(e) => prop_assert!(false, "unexpected error kind: {e}"),
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    ReplaceValue(usize, usize),
    InsertBytes(usize, Vec<u8>),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        (any::<usize>(), 0..NASTY.len()).prop_map(|(l, v)| Mutation::ReplaceValue(l, v)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..6))
            .prop_map(|(p, b)| Mutation::InsertBytes(p, b)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % lines.len());
            }
            Mutation::ReplaceValue(i, v) => {
                // Prefer `key = value` lines: search from i for one.
                let n = lines.len();
                if let Some(j) = (0..n).map(|k| (i + k) % n).find(|&j| {
                    let l = lines[j].trim_start();
                    l.contains('=') && !l.starts_with('#')
                }) {
                    let key = lines[j].split('=').next().unwrap().to_string();
                    lines[j] = format!("{key}= {}", NASTY[*v]);
                }
            }
            Mutation::InsertBytes(p, bytes) => {
                let mut joined = lines.join("\n").into_bytes();
                let at = p % (joined.len() + 1);
                joined.splice(at..at, bytes.iter().copied());
                lines = String::from_utf8_lossy(&joined)
                    .lines()
                    .map(str::to_string)
                    .collect();
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % lines.len()].clone();
                lines.insert(i % lines.len(), l);
            }
        }
    }
    lines.join("\n")
}

#[test]
fn mutated_shipped_scenarios_never_panic_and_name_a_key() {
    let files = shipped();
    let mut runner = TestRunner::new(cases(400));
    runner
        .run(
            &(0..files.len(), proptest::collection::vec(mutation(), 1..5)),
            |(f, ms)| check_parse(&mutate(&files[f], &ms)),
        )
        .unwrap();
}

#[test]
fn every_nasty_value_for_every_key_of_every_shipped_scenario_is_handled() {
    // Exhaustive rather than random: each `key = value` line of each shipped scenario with
    // each nasty value (the bad inputs the tester tried, and more).
    let mut tried = 0;
    for text in shipped() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.contains('=') || l.trim_start().starts_with('#') {
                continue;
            }
            for v in 0..NASTY.len() {
                let mutated = mutate(&text, &[Mutation::ReplaceValue(i, v)]);
                check_parse(&mutated).unwrap();
                tried += 1;
            }
        }
    }
    assert!(tried > 1000, "{tried}");
}

fn base() -> Scenario {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bayreuth-zwickau.toml"),
    )
    .unwrap();
    Scenario::parse(&text, "bayreuth-zwickau.toml").unwrap()
}

fn nasty_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        Just(1e308),
        Just(-1e308),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(9_007_199_254_740_993.0),
        Just(1.8446744073709552e19),
        Just(0.5),
        Just(1.5),
        Just(64.0),
        (-1e3..1e3f64),
        (0.0..1.0f64),
        any::<f64>(),
    ]
}

#[test]
fn with_value_never_panics_and_names_the_key() {
    let s = base();
    let keys = numeric_keys(&s);
    let mut runner = TestRunner::new(cases(600));
    runner
        .run(&(0..keys.len(), nasty_f64()), |(k, v)| {
            let key = &keys[k];
            match with_value(&s, key, v) {
                Ok(t) => {
                    prop_assert!(Scenario::from_spec(t.spec.clone()).is_ok());
                    let _ = t.pulses();
                }
                Err(e) => {
                    let m = e.to_string();
                    no_raw_controls(&m)?;
                    prop_assert!(m.contains(key.as_str()), "{key} = {v}: {m}");
                }
            }
            Ok(())
        })
        .unwrap();
    // Unknown and odd key paths are errors that list the valid keys, never panics.
    for key in [
        "",
        ".",
        "..",
        "link.",
        ".link",
        "link..length_km",
        "source.intensities.99.probability",
        "source.intensities.-1.probability",
        "source.intensities.0",
        "sweep.steps",
        "name",
        "link.length_km.x",
        "\u{1b}[31m",
    ] {
        let err = with_value(&s, key, 1.0).unwrap_err().to_string();
        assert!(err.contains("link.length_km"), "{key:?}: {err}");
    }
}

fn sweep_spec() -> impl Strategy<Value = SweepSpec> {
    let keys = numeric_keys(&base());
    let param = prop_oneof![
        proptest::sample::select(keys),
        Just(String::new()),
        Just("name".to_string()),
        Just("link.lenght_km".to_string()),
        "[a-z._0-9]{0,12}",
    ];
    let steps = prop_oneof![Just(0u64), Just(10_001), Just(u64::MAX), 1u64..40,];
    (
        param,
        proptest::option::of(nasty_f64()),
        proptest::option::of(nasty_f64()),
        proptest::option::of(steps),
        proptest::option::of(proptest::collection::vec(nasty_f64(), 0..6)),
        any::<bool>(),
    )
        .prop_map(|(param, from, to, steps, values, log)| SweepSpec {
            param,
            from,
            to,
            steps,
            values,
            log,
            ..SweepSpec::default()
        })
}

#[test]
fn sweep_plans_never_panic_and_name_the_field() {
    let s = base();
    let mut runner = TestRunner::new(cases(400));
    runner
        .run(&sweep_spec(), |spec| {
            match SweepPlan::from_spec(&spec) {
                Ok(plan) => {
                    prop_assert!(!plan.values.is_empty());
                    if let Err(e) = plan.scenarios(&s) {
                        let m = e.to_string();
                        no_raw_controls(&m)?;
                        prop_assert!(m.contains(plan.param.as_str()), "{m}");
                    }
                }
                Err(e) => {
                    let m = e.to_string();
                    no_raw_controls(&m)?;
                    prop_assert!(m.contains("--") || m.contains("sweep"), "{spec:?}: {m}");
                }
            }
            // The same table in a scenario file: `check` gives sweep.* names.
            let mut spec_in_file = s.spec.clone();
            spec_in_file.sweep = Some(spec.clone());
            if let Err(e) = Scenario::from_spec(spec_in_file) {
                let m = e.to_string();
                no_raw_controls(&m)?;
                prop_assert!(m.contains("sweep"), "{spec:?}: {m}");
                prop_assert!(!m.contains("--"), "file table blamed on a flag: {m}");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_text_never_panics() {
    let mut runner = TestRunner::new(cases(300));
    runner
        .run(&"(?s).{0,200}", |text| check_parse(&text))
        .unwrap();
    let mut runner = TestRunner::new(cases(300));
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..200), |bytes| {
            check_parse(&String::from_utf8_lossy(&bytes))
        })
        .unwrap();
}
