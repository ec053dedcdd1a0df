//! Scenario files: every shipped scenario is valid; every bad fixture under
//! `tests/fixtures/bad/` is rejected with the messages its `# expect:` lines carry.
//! Adding a validation case needs no code: drop a file with its expected message.

use qkdsim::Scenario;
use std::path::Path;

fn toml_files(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn shipped_scenarios_are_valid() {
    let files = toml_files("scenarios");
    assert!(
        files.len() >= 4,
        "expected the shipped scenarios, found {files:?}"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if let Err(e) = Scenario::parse(&text, &f.display().to_string()) {
            panic!("{} is invalid: {e}", f.display());
        }
    }
}

#[test]
fn bad_fixtures_are_rejected_with_their_messages() {
    let files = toml_files("tests/fixtures/bad");
    assert!(files.len() >= 10);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            f.display()
        );
        let err = match Scenario::parse(&text, &f.display().to_string()) {
            Ok(_) => panic!("{} was accepted", f.display()),
            Err(e) => e.to_string(),
        };
        for want in expected {
            assert!(
                err.contains(want),
                "{}: error\n{err}\ndoes not contain\n{want}",
                f.display()
            );
        }
    }
}

#[test]
fn defaults_fill_everything_but_the_length() {
    let s = Scenario::parse("[link]\nlength_km = 42.0\n", "inline").unwrap();
    assert_eq!(s.spec.source.intensities.len(), 3);
    assert_eq!(s.spec.postprocessing.block_bits, 1_000_000);
    assert_eq!(s.pulses(), 1_000_000_000);
    // The effective scenario round-trips through its own TOML.
    let again = Scenario::parse(&s.to_toml(), "round trip").unwrap();
    assert_eq!(again, s);
}

#[test]
fn dotted_keys_read_and_write_numbers() {
    let s = Scenario::parse("[link]\nlength_km = 42.0\n", "inline").unwrap();
    let keys = qkdsim::scenario::numeric_keys(&s);
    assert!(keys.contains(&"link.length_km".to_string()));
    assert!(keys.contains(&"source.intensities.0.mean_photon_number".to_string()));
    let t =
        qkdsim::scenario::with_value(&s, "source.intensities.1.mean_photon_number", 0.2).unwrap();
    assert_eq!(t.spec.source.intensities[1].mean_photon_number, 0.2);
    let b = qkdsim::scenario::with_value(&s, "postprocessing.block_bits", 1e5).unwrap();
    assert_eq!(b.spec.postprocessing.block_bits, 100_000);
    let err = qkdsim::scenario::with_value(&s, "link.lenght_km", 1.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("link.length_km"), "{err}");
    let err = qkdsim::scenario::with_value(&s, "link.misalignment", 0.9)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("link.misalignment: must be in [0, 0.5], got 0.9"),
        "{err}"
    );
}

#[test]
fn receiver_keys_default_to_the_receiver_the_proof_covers() {
    let s = Scenario::parse("[link]\nlength_km = 42.0\n", "inline").unwrap();
    assert_eq!(s.spec.detector.dead_time_mode, "common");
    assert_eq!(s.spec.detector.efficiency_mismatch, 1.0);
    // The effective scenario shows them (what `qkdsim check` prints).
    let text = s.to_toml();
    assert!(text.contains("dead_time_mode = \"common\""), "{text}");
    assert!(text.contains("efficiency_mismatch = 1.0"), "{text}");
    // The mismatch is a numeric dotted key (sweepable), checked like any other.
    let m = qkdsim::scenario::with_value(&s, "detector.efficiency_mismatch", 0.8).unwrap();
    assert_eq!(m.spec.detector.efficiency_mismatch, 0.8);
    let err = qkdsim::scenario::with_value(&s, "detector.efficiency_mismatch", 1.5)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("detector.efficiency_mismatch: must be in (0, 1], got 1.5"),
        "{err}"
    );
}

#[test]
fn shipped_scenarios_run_a_common_dead_time_and_say_what_the_proof_does_not_cover() {
    use qkdsim::estimation::assumptions::security_warnings;
    use qkdsim::physics::LinkModel;
    let load = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name);
        Scenario::parse(&std::fs::read_to_string(&path).unwrap(), name).unwrap()
    };
    for f in toml_files("scenarios")
        .into_iter()
        .chain(toml_files("scenarios/sweeps"))
    {
        let text = std::fs::read_to_string(&f).unwrap();
        let s = Scenario::parse(&text, &f.display().to_string()).unwrap();
        assert_eq!(s.spec.detector.dead_time_mode, "common", "{}", f.display());
        let codes: Vec<String> = security_warnings(&s).into_iter().map(|w| w.code).collect();
        assert!(
            !codes.contains(&"independent_dead_time".to_string()),
            "{}",
            f.display()
        );
    }
    // SNSPD pilot link: 20 ns at 1 GHz is 19 blind gates, common; nothing to flag.
    let snspd = load("bayreuth-zwickau.toml");
    assert_eq!(LinkModel::from_scenario(&snspd).detectors.dead_gates, 19);
    assert!(security_warnings(&snspd).is_empty());
    // InGaAs segment: 10 ns at 1 GHz is 9 blind gates, common; afterpulsing is flagged.
    let ingaas = load("hof-plauen.toml");
    assert_eq!(LinkModel::from_scenario(&ingaas).detectors.dead_gates, 9);
    let codes: Vec<String> = security_warnings(&ingaas)
        .into_iter()
        .map(|w| w.code)
        .collect();
    assert_eq!(codes, ["afterpulsing"]);
}
