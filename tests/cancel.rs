//! Cancellation flags (`RunOptions::cancel`, `RouteOptions::cancel`,
//! `run_experiment_until`): a set flag stops the call with `Error::Cancelled`, soon after it
//! is set, and an unset flag changes nothing. The Python bindings rely on these to turn
//! Ctrl-C into KeyboardInterrupt.

use qkdsim::Scenario;
use qkdsim::analysis::run::{RunOptions, run};
use qkdsim::analysis::sweep::{SweepPlan, sweep};
use qkdsim::postprocess::cascade::{
    CascadeVariant, ErrorModel, ExperimentConfig, run_experiment, run_experiment_until,
};
use qkdsim::route::simulate::{RouteOptions, simulate_route};
use qkdsim::route::spec::parse_route;
use qkdsim::scenario::SweepSpec;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn lab() -> Scenario {
    Scenario::parse(
        "name = \"lab\"\n[link]\nlength_km = 10.0\n[postprocessing]\nblock_bits = 100000\n",
        "lab",
    )
    .unwrap()
}

fn flag(set: bool) -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(set))
}

/// Sets `flag` after `delay` on another thread.
fn set_later(flag: &Arc<AtomicBool>, delay: Duration) -> std::thread::JoinHandle<()> {
    let flag = flag.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        flag.store(true, Ordering::Relaxed);
    })
}

#[test]
fn a_set_flag_stops_a_run_before_any_work() {
    let options = RunOptions {
        pulses: Some(1_000_000_000_000),
        cancel: Some(flag(true)),
        ..RunOptions::default()
    };
    let started = Instant::now();
    let e = run(&lab(), &options, &|_| {}).unwrap_err();
    assert!(matches!(e, qkdsim::Error::Cancelled), "{e}");
    // 1e12 pulses would take minutes; a run that starts no batch returns at once. The
    // bound only tells "no batch ran" from "the run ran" (orders of magnitude apart).
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_flag_set_during_a_long_run_stops_it_soon() {
    for engine in ["pulse", "event"] {
        let cancel = flag(false);
        let options = RunOptions {
            engine: Some(engine.into()),
            pulses: Some(1_000_000_000_000),
            cancel: Some(cancel.clone()),
            ..RunOptions::default()
        };
        let setter = set_later(&cancel, Duration::from_millis(300));
        let started = Instant::now();
        let e = run(&lab(), &options, &|_| {}).unwrap_err();
        setter.join().unwrap();
        assert!(matches!(e, qkdsim::Error::Cancelled), "{engine}: {e}");
        // The whole run would take many minutes on any machine; stopping within seconds of
        // the flag shows the engine checked it between batches.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{engine}: took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn an_unset_flag_changes_nothing() {
    let base = RunOptions {
        seed: Some(5),
        pulses: Some(20_000_000),
        ..RunOptions::default()
    };
    let with_flag = RunOptions {
        cancel: Some(flag(false)),
        ..base.clone()
    };
    let mut a = run(&lab(), &base, &|_| {}).unwrap().report;
    let mut b = run(&lab(), &with_flag, &|_| {}).unwrap().report;
    a.timings = Default::default();
    b.timings = Default::default();
    for blk in a.per_block.iter_mut().chain(b.per_block.iter_mut()) {
        blk.timings = Default::default();
    }
    assert_eq!(a, b);
}

#[test]
fn a_sweep_passes_the_flag_to_every_point() {
    let plan = SweepPlan::from_spec(&SweepSpec {
        param: "link.length_km".into(),
        from: None,
        to: None,
        steps: None,
        values: Some(vec![5.0, 10.0, 20.0]),
        log: false,
        ..SweepSpec::default()
    })
    .unwrap();
    let options = RunOptions {
        pulses: Some(1_000_000_000_000),
        cancel: Some(flag(true)),
        ..RunOptions::default()
    };
    let e = sweep(&lab(), &plan, &options, &|_, _| {}).unwrap_err();
    assert!(matches!(e, qkdsim::Error::Cancelled), "{e}");
}

#[test]
fn a_route_passes_the_flag_to_every_span() {
    let text = r#"
name = "two spans"
[base.link]
length_km = 10.0
[[nodes]]
name = "A"
[[nodes]]
name = "B"
trusted = true
[[nodes]]
name = "C"
[[spans]]
from = "A"
to = "B"
length_km = 10.0
[[spans]]
from = "B"
to = "C"
length_km = 20.0
[[demands]]
from = "A"
to = "C"
rate_bps = 100.0
[simulation]
duration_s = 0.01
"#;
    let route = parse_route(text, "two spans", &|_| Err("no files".into())).unwrap();
    let options = RouteOptions {
        duration_s: Some(100.0),
        cancel: Some(flag(true)),
        ..RouteOptions::default()
    };
    let e = simulate_route(&route, &options, &|_, _| {}).unwrap_err();
    assert!(matches!(e, qkdsim::Error::Cancelled), "{e}");
}

#[test]
fn the_reconcile_experiment_stops_between_runs() {
    let config = ExperimentConfig {
        bits: 100_000,
        qber: 0.03,
        variant: CascadeVariant::YanEtAl,
        runs: 1_000_000,
        seed: 1,
        error_model: ErrorModel::Exact,
        epsilon_cor: 1e-15,
    };
    let cancel = flag(false);
    let setter = set_later(&cancel, Duration::from_millis(200));
    let started = Instant::now();
    let e = run_experiment_until(&config, Some(&cancel)).unwrap_err();
    setter.join().unwrap();
    assert!(matches!(e, qkdsim::Error::Cancelled), "{e}");
    // A million runs take hours; the runs in progress (one per thread, milliseconds each)
    // finish and no further one starts.
    assert!(started.elapsed() < Duration::from_secs(20));

    // An unset flag gives the summary of run_experiment.
    let small = ExperimentConfig { runs: 3, ..config };
    let mut a = run_experiment(&small).unwrap();
    let b = run_experiment_until(&small, Some(&flag(false))).unwrap();
    a.timings = b.timings.clone();
    (a.seconds_mean, a.bits_per_second) = (b.seconds_mean, b.bits_per_second);
    assert_eq!(a, b);
}

#[test]
fn theory_stops_when_the_flag_is_set() {
    use qkdsim::estimation::{DetectorTheory, theory_curves_until, theory_curves_with};
    let s = lab();
    let distances = [0.0, 20.0, 40.0];
    let e = theory_curves_until(
        &s,
        &distances,
        true,
        DetectorTheory::MeanField,
        Some(&flag(true)),
    )
    .unwrap_err();
    assert!(matches!(e, qkdsim::Error::Cancelled), "{e}");
    let a = theory_curves_with(&s, &distances, false, DetectorTheory::MeanField).unwrap();
    let b = theory_curves_until(
        &s,
        &distances,
        false,
        DetectorTheory::MeanField,
        Some(&flag(false)),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}
