//! Routes end to end: every span's real keys relayed through trusted nodes. The checks
//! recompute what the relay must deliver from the span records alone (independently of
//! the relay's own bookkeeping): a chain delivers the minimum of its hops' net keys over
//! their per-chunk cost, two disjoint paths the sum of theirs; one-time pads spend exactly
//! the delivered bits on every hop; stores conserve bits; both ends hold identical keys;
//! the report is identical for any thread count; every shipped route relays matching keys.

use qkdsim::route::simulate::{RouteOptions, RouteOutput, simulate_route};
use qkdsim::route::spec::parse_route;
use qkdsim::route::{Route, RouteReport};
use std::path::Path;

fn scenarios_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Parses a route whose `base` names a file in `dir`.
fn parse_in(text: &str, dir: &Path) -> Route {
    let dir = dir.to_path_buf();
    parse_route(text, "test route", &move |base: &str| {
        std::fs::read_to_string(dir.join(base)).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|e| panic!("test route is invalid: {e}"))
}

fn route(text: &str) -> Route {
    parse_in(text, &scenarios_dir())
}

fn simulate(route: &Route, keep_keys: bool) -> RouteOutput {
    simulate_route(
        route,
        &RouteOptions {
            keep_keys,
            ..RouteOptions::default()
        },
        &|_, _| {},
    )
    .unwrap_or_else(|e| panic!("route run failed: {e}"))
}

/// Bits a store can spend on relay: what arrived, plus the pre-shared key that paid
/// authentication when the store was empty, minus that authentication.
fn net_bits(r: &RouteReport, span: usize) -> u64 {
    let s = &r.spans[span];
    s.arrived_bits + s.preshared_auth_bits - s.link_auth_bits
}

/// Chunks a path can deliver when its demand always waits: every hop must pay the chunk,
/// and every hop after the first also one relay tag.
fn path_chunks(r: &RouteReport, hops: &[usize]) -> u64 {
    let (c, t) = (r.relay.chunk_bits, r.relay.auth_tag_bits);
    hops.iter()
        .enumerate()
        .map(|(j, &span)| net_bits(r, span) / if j == 0 { c } else { c + t })
        .min()
        .unwrap()
}

fn conservation(r: &RouteReport) {
    for s in &r.spans {
        assert_eq!(
            s.secret_bits,
            s.arrived_bits + s.late_bits,
            "span {}: produced = arrived + late",
            s.index
        );
        assert_eq!(
            s.arrived_bits + s.preshared_auth_bits,
            s.link_auth_bits + s.relay_bits + s.relay_auth_bits + s.store_final_bits,
            "span {}: store inflow = outflow + what is left",
            s.index
        );
    }
}

/// Long enough for blocks of 1e5 bits to finish post-processing (the modelled latency of
/// a block is about 0.2 s here, mostly Cascade's round trips).
const SHORT: &str = r#"
[simulation]
duration_s = 0.4
seed = 11
"#;

/// 1e5-bit blocks, with a basis bias at which blocks that small give key, so that short
/// runs make many blocks.
const SMALL_BLOCKS: &str = "postprocessing.block_bits = 1e5
source.basis_z_probability = 0.7
receiver.basis_z_probability = 0.7";

#[test]
fn a_chain_delivers_the_minimum_of_its_hops_less_authentication() {
    let r = route(&format!(
        r#"
name = "chain"
base = "bayreuth-zwickau.toml"
{SHORT}
[[nodes]]
name = "A"
trusted = false
[[nodes]]
name = "R"
[[nodes]]
name = "B"
trusted = false
[[spans]]
from = "A"
to = "R"
length_km = 20.0
{SMALL_BLOCKS}
[[spans]]
from = "B"
to = "R"
length_km = 35.0
{SMALL_BLOCKS}
[[demands]]
from = "A"
to = "B"
rate_bps = 1e9
"#
    ));
    let out = simulate(&r, true);
    let rep = &out.report;
    conservation(rep);
    let d = &rep.demands[0];
    assert!(
        d.delivered_bits > 0,
        "the chain delivered nothing: {d:?}\n{:#?}",
        rep.spans
    );
    assert_eq!(d.path, vec!["A", "R", "B"]);
    // The demand always waits, so it takes everything the weaker hop can give.
    let chunks = path_chunks(rep, &[0, 1]);
    assert_eq!(d.delivered_bits, chunks * rep.relay.chunk_bits);
    // One-time pads: exactly the delivered bits on every hop; one tag on the second hop
    // per chunk, none on the first.
    for s in &rep.spans {
        assert_eq!(s.relay_bits, d.delivered_bits, "span {}", s.index);
    }
    assert_eq!(rep.spans[0].relay_auth_bits, 0);
    assert_eq!(
        rep.spans[1].relay_auth_bits,
        chunks * rep.relay.auth_tag_bits
    );
    assert_eq!(d.relay_bits, 2 * d.delivered_bits);
    // Real keys, bit for bit.
    assert!(d.keys_match && rep.spans.iter().all(|s| s.final_keys_match));
    let (a, b) = &out.keys.as_ref().unwrap()[0];
    assert_eq!(a.len() as u64, d.delivered_bits);
    assert_eq!(a, b);
    // A link authenticates its own post-processing: two tags per classical round trip.
    assert!(rep.spans.iter().all(|s| s.link_auth_bits > 0));
    // The bottleneck is the longer hop; the maximum flow is the chain's delivery up to
    // the floor of a chunk.
    assert_eq!(d.min_cut, vec![1]);
    let flow_bits = d.secret_key_rate_bps * rep.duration_s;
    assert!((flow_bits - d.delivered_bits as f64).abs() <= rep.relay.chunk_bits as f64 + 2.0);
    assert!(rep.spans[1].bottleneck && !rep.spans[0].bottleneck);
    // Demand above supply: outage almost all the time after the first key.
    assert!(d.availability < 0.5, "{d:?}");
}

#[test]
fn a_mesh_delivers_its_maximum_flow_over_two_disjoint_paths() {
    let r = route(&format!(
        r#"
name = "mesh"
base = "bayreuth-zwickau.toml"
{SHORT}
[[nodes]]
name = "S"
trusted = false
[[nodes]]
name = "P"
[[nodes]]
name = "Q"
[[nodes]]
name = "T"
trusted = false
[[spans]]
from = "S"
to = "P"
length_km = 20.0
{SMALL_BLOCKS}
[[spans]]
from = "P"
to = "T"
length_km = 30.0
{SMALL_BLOCKS}
[[spans]]
from = "S"
to = "Q"
length_km = 25.0
{SMALL_BLOCKS}
[[spans]]
from = "Q"
to = "T"
length_km = 35.0
{SMALL_BLOCKS}
[[demands]]
from = "S"
to = "T"
rate_bps = 1e9
"#
    ));
    let out = simulate(&r, true);
    let rep = &out.report;
    conservation(rep);
    let d = &rep.demands[0];
    assert_eq!(d.paths.len(), 2);
    let via_p = path_chunks(rep, &[0, 1]);
    let via_q = path_chunks(rep, &[2, 3]);
    assert!(via_p > 0 && via_q > 0);
    assert_eq!(d.delivered_bits, (via_p + via_q) * rep.relay.chunk_bits);
    assert!(d.keys_match);
    let (a, b) = &out.keys.as_ref().unwrap()[0];
    assert_eq!(a, b);
    // The maximum flow (a rate) is what the relay delivers, up to the floors of whole
    // chunks (less than one chunk per path, plus one bit per span from capacities in
    // whole bits), and beats either path alone.
    let c = rep.relay.chunk_bits as f64;
    let flow_bits = d.secret_key_rate_bps * rep.duration_s;
    let delivered = d.delivered_bits as f64;
    assert!(
        (flow_bits - delivered).abs() <= 2.0 * c + 4.0,
        "{flow_bits} vs {delivered}"
    );
    let best_single = via_p.max(via_q) as f64 * c;
    assert!(
        flow_bits > best_single + c,
        "flow {flow_bits}, best path {best_single}"
    );
    assert_eq!(
        d.min_cut.len(),
        2,
        "one bottleneck per path: {:?}",
        d.min_cut
    );
}

#[test]
fn a_route_is_identical_for_any_thread_count() {
    let r = route(&format!(
        r#"
name = "threads"
base = "bayreuth-zwickau.toml"
{SHORT}
[[nodes]]
name = "A"
[[nodes]]
name = "B"
[[nodes]]
name = "C"
[[spans]]
from = "A"
to = "B"
length_km = 25.0
{SMALL_BLOCKS}
[[spans]]
from = "B"
to = "C"
length_km = 30.0
{SMALL_BLOCKS}
[[demands]]
from = "A"
to = "C"
rate_bps = 20000.0
"#
    ));
    let doc = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut v = serde_json::to_value(pool.install(|| simulate(&r, false)).report).unwrap();
        v.as_object_mut().unwrap().remove("timings");
        v
    };
    let one = doc(1);
    assert_eq!(one, doc(2));
    assert_eq!(one, doc(4));
}

#[test]
fn every_shipped_route_relays_identical_keys() {
    let dir = scenarios_dir().join("routes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "shipped routes: {files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut r = parse_in(&text, f.parent().unwrap());
        // Short runs with small blocks, so every span makes key in a test's time.
        for s in &mut r.spans {
            for (key, value) in [
                ("postprocessing.block_bits", 1e5),
                ("source.basis_z_probability", 0.7),
                ("receiver.basis_z_probability", 0.7),
            ] {
                s.scenario = qkdsim::scenario::with_value(&s.scenario, key, value).unwrap();
            }
        }
        // A 120 km span needs seconds to fill a block; its few clicks cost little.
        let longest = r.spans.iter().map(|s| s.length_km).fold(0.0, f64::max);
        r.duration_s = if longest > 100.0 {
            4.0
        } else if longest > 75.0 {
            1.5
        } else {
            0.5
        };
        let out = simulate(&r, true);
        let rep = &out.report;
        conservation(rep);
        for (d, (a, b)) in rep.demands.iter().zip(out.keys.as_ref().unwrap()) {
            assert!(d.keys_match, "{}: demand {}", f.display(), d.index);
            assert_eq!(a, b, "{}: demand {}", f.display(), d.index);
            assert_eq!(a.len() as u64, d.delivered_bits);
            assert!(
                d.delivered_bits > 0,
                "{}: demand {} got no key in {} s",
                f.display(),
                d.index,
                r.duration_s
            );
        }
        assert!(rep.spans.iter().all(|s| s.final_keys_match));
    }
}

#[test]
fn a_run_whose_keys_would_not_fit_in_memory_is_refused_before_it_starts() {
    let dir = scenarios_dir().join("routes");
    let text = std::fs::read_to_string(dir.join("munich-dresden.toml")).unwrap();
    let r = parse_in(&text, &dir);
    let started = std::time::Instant::now();
    let e = simulate_route(
        &r,
        &RouteOptions {
            duration_s: Some(3600.0),
            ..RouteOptions::default()
        },
        &|_, _| {},
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(e.contains("GiB") && e.contains("3600 s"), "{e}");
    // Refused up front (an hour of the pilot line would take many minutes to simulate).
    assert!(started.elapsed().as_secs() < 30);
}
