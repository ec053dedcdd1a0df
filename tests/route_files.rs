//! Route files: every shipped route under `scenarios/routes/` is valid; every bad fixture
//! under `tests/fixtures/bad_routes/` is rejected with the messages its `# expect:` lines
//! carry (bases are read relative to the fixture's folder, as the CLI reads them relative
//! to the route file's). Adding a validation case needs no code: drop a file with its
//! expected messages. Also: how span overrides merge into the base scenario.

use qkdsim::Error;
use qkdsim::route::Route;
use qkdsim::route::spec::parse_route;
use std::path::{Path, PathBuf};

fn toml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Parses a route file, reading its base relative to the file's folder.
fn parse_file(path: &Path) -> qkdsim::Result<Route> {
    let text = std::fs::read_to_string(path).unwrap();
    let folder = path.parent().unwrap().to_path_buf();
    let load = move |base: &str| {
        let p = folder.join(base);
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    parse_route(&text, &path.display().to_string(), &load)
}

/// Parses route text whose base is given inline or is `scenarios/bayreuth-zwickau.toml`.
fn parse_text(text: &str) -> qkdsim::Result<Route> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/routes");
    let load = move |base: &str| {
        let p = folder.join(base);
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    parse_route(text, "test.toml", &load)
}

fn violations(text: &str) -> Vec<String> {
    match parse_text(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(Error::RouteInvalid(v)) => v,
        Err(e) => panic!("not a RouteInvalid: {e}"),
    }
}

#[test]
fn shipped_routes_are_valid() {
    let files = toml_files("scenarios/routes");
    assert!(
        files.len() >= 4,
        "expected the shipped routes, found {files:?}"
    );
    for f in files {
        let route = parse_file(&f).unwrap_or_else(|e| panic!("{} is invalid: {e}", f.display()));
        assert!(!route.spans.is_empty());
        assert!(!route.demands.is_empty(), "{}", f.display());
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains("ILLUSTRATIVE"), "{}", f.display());
        for (i, s) in route.spans.iter().enumerate() {
            assert_eq!(s.index, i);
            assert_eq!(s.scenario.spec.link.length_km, s.length_km);
            assert_eq!(
                s.scenario.spec.simulation.duration_s,
                Some(route.duration_s)
            );
            assert_eq!(s.scenario.spec.simulation.pulses, None);
            assert_eq!(s.scenario.spec.simulation.seed, route.seed);
            assert_eq!(
                s.scenario.spec.name,
                format!("{}: span {i} ({})", route.name, route.span_label(i))
            );
            assert_eq!(s.scenario.spec.sites.alice, route.nodes[s.from].name);
            assert_eq!(s.scenario.spec.sites.bob, route.nodes[s.to].name);
        }
    }
}

#[test]
fn the_pilot_line_has_its_nodes_lengths_and_demands() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/routes/munich-dresden.toml");
    let route = parse_file(&path).unwrap();
    let names: Vec<&str> = route.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"Staatskanzlei München"));
    assert_eq!(names.last(), Some(&"Staatskanzlei Dresden"));
    assert!(!route.nodes[0].trusted && !route.nodes[names.len() - 1].trusted);
    assert!(route.nodes[1..names.len() - 1].iter().all(|n| n.trusted));
    assert!(
        route
            .nodes
            .iter()
            .all(|n| n.lat.is_some() && n.lon.is_some())
    );
    let total: f64 = route.spans.iter().map(|s| s.length_km).sum();
    assert!((470.0..=680.0).contains(&total), "{total} km");
    // Every span has the base's SNSPD receiver and extra loss.
    for s in &route.spans {
        assert_eq!(s.scenario.spec.detector.efficiency, 0.85);
        assert_eq!(s.scenario.spec.postprocessing.block_bits, 1_000_000);
    }
    assert!(
        route
            .spans
            .iter()
            .all(|s| s.scenario.spec.link.extra_loss_db == 3.0)
    );
    assert_eq!(total, 524.0);
    assert_eq!(route.spans.len(), 8);
    assert_eq!(route.demands[0].rate_bps, 256.0);
    assert_eq!(route.relay.chunk_bits, 256);
}

#[test]
fn bad_route_fixtures_are_rejected_with_their_messages() {
    let files = toml_files("tests/fixtures/bad_routes");
    assert!(files.len() >= 20, "{files:?}");
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        if expected.is_empty() {
            // A base scenario used by other fixtures.
            assert!(
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("base-")),
                "{} has no `# expect:` line",
                f.display()
            );
            continue;
        }
        let err = match parse_file(&f) {
            Ok(_) => {
                failures.push(format!("{} was accepted", f.display()));
                continue;
            }
            Err(e) => e.to_string(),
        };
        for want in expected {
            if !err.contains(want) {
                failures.push(format!(
                    "{}: error\n{err}\ndoes not contain\n{want}",
                    f.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const INLINE: &str = r#"
name = "t"
[base]
link.extra_loss_db = 1.0
detector.efficiency = 0.5
[simulation]
duration_s = 0.001
[[nodes]]
name = "A"
[[nodes]]
name = "B"
"#;

#[test]
fn nested_tables_and_dotted_keys_give_the_same_span() {
    let dotted = format!(
        "{INLINE}[[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 10\n\
         link.extra_loss_db = 4.0\ndetector.dark_count_probability = 1e-7\n"
    );
    let nested = format!(
        "{INLINE}[[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 10\n\
         link = {{ extra_loss_db = 4.0 }}\ndetector = {{ dark_count_probability = 1e-7 }}\n"
    );
    let sub = format!(
        "{INLINE}[[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 10\n\
         [spans.link]\nextra_loss_db = 4.0\n[spans.detector]\ndark_count_probability = 1e-7\n"
    );
    let a = parse_text(&dotted).unwrap();
    let b = parse_text(&nested).unwrap();
    let c = parse_text(&sub).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    let spec = &a.spans[0].scenario.spec;
    assert_eq!(spec.link.extra_loss_db, 4.0);
    assert_eq!(spec.link.length_km, 10.0);
    // The base's other keys in the same tables are kept.
    assert_eq!(spec.detector.efficiency, 0.5);
    assert_eq!(spec.detector.dark_count_probability, 1e-7);
    assert_eq!(spec.simulation.duration_s, Some(0.001));
    assert_eq!(spec.simulation.seed, 1);
    assert_eq!(a.seed, 1);
    assert_eq!(a.relay, qkdsim::route::RelayParams::default());
    assert_eq!(a.spans[0].scenario.pulses(), 1_000_000);
}

#[test]
fn arrays_replace_the_base_and_engines_may_differ() {
    let text = r#"
name = "t"
base = "../bayreuth-zwickau.toml"
[simulation]
duration_s = 1.0
seed = 7
[[nodes]]
name = "A"
[[nodes]]
name = "B"
[[spans]]
from = "A"
to = "B"
length_km = 5
simulation.engine = "pulse"
[[spans.source.intensities]]
label = "only"
mean_photon_number = 0.4
probability = 1.0
[[spans]]
from = "B"
to = "A"
length_km = 6
"#;
    let r = parse_text(text).unwrap();
    let one = &r.spans[0].scenario.spec;
    assert_eq!(one.source.intensities.len(), 1);
    assert_eq!(one.source.intensities[0].label, "only");
    assert_eq!(one.simulation.engine, "pulse");
    // The rest of [source] comes from the base.
    assert_eq!(one.source.basis_z_probability, 0.81);
    let two = &r.spans[1].scenario.spec;
    assert_eq!(two.source.intensities.len(), 3);
    assert_eq!(two.simulation.engine, "auto");
    // The base's pulses are replaced by the route's duration, its seed by the route's.
    assert_eq!(two.simulation.pulses, None);
    assert_eq!(two.simulation.seed, 7);
    assert_eq!(r.spans[1].scenario.pulses(), 1_000_000_000);
    assert_eq!((r.spans[1].from, r.spans[1].to), (1, 0));
    assert!(r.demands.is_empty());
}

#[test]
fn base_problems_are_reported_once_not_per_span() {
    let text = format!(
        "{}{}",
        INLINE.replace("detector.efficiency = 0.5", "detector.efficiency = 2.0"),
        "[[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 1\n\
         [[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 2\n\
         [[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 3\ndetector.efficiency = 3.0\n"
    );
    let v = violations(&text);
    let about: Vec<&String> = v
        .iter()
        .filter(|m| m.contains("detector.efficiency"))
        .collect();
    assert_eq!(
        about,
        [
            "base.detector.efficiency: must be in [0, 1], got 2",
            "spans[2].detector.efficiency: must be in [0, 1], got 3",
        ],
        "{v:#?}"
    );
}

#[test]
fn a_span_with_another_rep_rate_gets_its_own_duration_message() {
    let text = format!(
        "{}{}",
        INLINE.replace("duration_s = 0.001", "duration_s = 0.0015"),
        "[[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 1\n\
         [[spans]]\nfrom = \"A\"\nto = \"B\"\nlength_km = 2\nsource.rep_rate_hz = 1e3\n"
    );
    let v = violations(&text);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].starts_with(
            "spans[1].simulation.duration_s: must give a whole number of pulses at \
             source.rep_rate_hz = 1000 Hz, got 0.0015 s = 1.5 pulses"
        ),
        "{v:#?}"
    );
    assert!(!v[0].contains("simulation.pulses"), "{v:#?}");
}

#[test]
fn hostile_input_never_panics() {
    let cases = [
        "",
        "name = 5\nbase = 5\nsimulation = 5\nrelay = 5\nnodes = 5\nspans = 5\ndemands = 5\n",
        "nodes = [1, \"x\", []]\nspans = [1]\ndemands = [true]\n",
        "[base]\nlink = 5\nsource = []\n[simulation]\nduration_s = inf\nseed = -1\n",
        "base = \"\"\n[simulation]\nduration_s = nan\n[[nodes]]\nname = \"\\u001b[31m\"\n",
        "[[spans]]\nfrom = 1\nto = []\nlength_km = {}\nlink = 3\nsimulation = \"x\"\n",
        "[[spans]]\nsources.x = 1\n\"\\u0007\" = 2\n[relay]\nchunk_bits = 1e300\n",
        "[[demands]]\nrate_bps = -inf\nfrom = \"\"\nto = \"\"\n",
        "[base.sweep]\nparam = \"x\"\n[[nodes]]\nlat = 1e308\nlon = -1e308\ntrusted = 1\n",
    ];
    for text in cases {
        match parse_text(text) {
            Ok(r) => panic!("accepted {text:?}: {r:?}"),
            Err(Error::RouteInvalid(v)) => {
                assert!(!v.is_empty());
                for m in &v {
                    assert!(!m.chars().any(|c| c.is_control()), "{m:?}");
                }
            }
            Err(e) => panic!("{text:?}: {e}"),
        }
    }
}

#[test]
fn an_unreadable_base_is_a_syntax_error_naming_the_file() {
    let text = INLINE.replace(
        "[base]\nlink.extra_loss_db = 1.0\ndetector.efficiency = 0.5\n",
        "base = \"nowhere.toml\"\n",
    );
    let load = |_: &str| Err("no such file".to_string());
    match parse_route(&text, "r.toml", &load) {
        Err(Error::RouteSyntax(m)) => {
            assert_eq!(
                m,
                "r.toml: base = \"nowhere.toml\": cannot read the base scenario: no such file"
            );
        }
        other => panic!("{other:?}"),
    }
    let load = |_: &str| Ok("[link\n".to_string());
    match parse_route(&text, "r.toml", &load) {
        Err(Error::RouteSyntax(m)) => {
            assert!(
                m.starts_with("r.toml: base scenario \"nowhere.toml\": "),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
}
