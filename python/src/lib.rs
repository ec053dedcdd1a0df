//! `qkdsim._qkdsim`: the PyO3 extension under the Python package `qkdsim` (python/qkdsim/).
//!
//! A thin layer over the library: it reads files (the library does no I/O), checks the
//! Python arguments with the command line's rules (`args`), runs every long call on its own
//! thread with the GIL released and Ctrl-C turned into a cancellation (`errors`), and hands
//! back the very JSON documents the command line prints (`qkdsim::report::json`,
//! `qkdsim::report::route::route_json`), which the Python package parses, so that
//! `to_dict()` equals `qkdsim … --json` by construction. Must never be depended on by the
//! library: the library knows nothing of Python.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use qkdsim::analysis::run::{RunOptions, run as run_scenario};
use qkdsim::analysis::sweep::{SweepPlan, sweep as run_sweep};
use qkdsim::estimation::{DetectorTheory, distance_grid, theory_curves_until};
use qkdsim::postprocess::cascade::{
    CascadeVariant, ErrorModel, ExperimentConfig, MAX_KEY_BITS, run_experiment_until,
};
use qkdsim::report::json::{reconcile_json, run_json, sweep_json, theory_json};
use qkdsim::scenario::{SweepNames, SweepSpec, WholeRule, fmt_num, with_value};
use std::path::{Path, PathBuf};

mod args;
mod errors;
mod scenario;

use errors::{run_detached, scenario_error, to_py_err};
use scenario::{PyScenario, read_file};

/// Fails with the command line's message when `QKDSIM_PA_BACKEND` names a backend that
/// does not exist or that this CPU lacks (checked before any work, as the CLI does).
fn check_environment(py: Python<'_>) -> PyResult<()> {
    qkdsim::postprocess::privacy::selected_backend()
        .map(|_| ())
        .map_err(|e| to_py_err(py, e, None))
}

/// One bit per byte (0 or 1), bit i of the key at index i.
fn unpacked(key: &qkdsim::bits::BitVec) -> Vec<u8> {
    let words = key.words();
    (0..key.len())
        .map(|i| ((words[i / 64] >> (i % 64)) & 1) as u8)
        .collect()
}

/// Runs a scenario end to end (`qkdsim run`); returns the `run --json` text and, with
/// `keep_keys`, Alice's and Bob's final keys as bytes of one bit each.
#[pyfunction]
#[pyo3(signature = (scenario, pulses=None, seed=None, threads=None, engine=None, keep_keys=false))]
#[allow(clippy::type_complexity)]
fn run<'py>(
    py: Python<'py>,
    scenario: PyRef<'py, PyScenario>,
    pulses: Option<&Bound<'py, PyAny>>,
    seed: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    engine: Option<String>,
    keep_keys: bool,
) -> PyResult<(String, Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>)> {
    let options = RunOptions {
        engine: args::engine(engine)?,
        seed: args::seed(seed)?,
        pulses: args::pulses(pulses)?,
        keep_keys,
        ..RunOptions::default()
    };
    let threads = args::threads(threads)?;
    check_environment(py)?;
    let scenario = scenario.inner.clone();
    let output = run_detached(py, threads, move |cancel| {
        let options = RunOptions {
            cancel: Some(cancel),
            ..options
        };
        run_scenario(&scenario, &options, &|_| {})
    })?
    .map_err(|e| to_py_err(py, e, None))?;
    let json = run_json(&output.report);
    let keys = output.keys.map(|k| {
        (
            PyBytes::new(py, &unpacked(&k.alice)),
            PyBytes::new(py, &unpacked(&k.bob)),
        )
    });
    Ok((json, keys))
}

/// One run per value of a numeric key (`qkdsim sweep --param KEY --values ...`); returns
/// the `sweep --json` text.
#[pyfunction]
#[pyo3(signature = (scenario, param, values, pulses=None, seed=None, threads=None, engine=None))]
#[allow(clippy::too_many_arguments)]
fn sweep<'py>(
    py: Python<'py>,
    scenario: PyRef<'py, PyScenario>,
    param: String,
    values: Vec<f64>,
    pulses: Option<&Bound<'py, PyAny>>,
    seed: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
    engine: Option<String>,
) -> PyResult<String> {
    let options = RunOptions {
        seed: args::seed(seed)?,
        pulses: args::pulses(pulses)?,
        ..RunOptions::default()
    };
    let engine = args::engine(engine)?;
    let threads = args::threads(threads)?;
    // As `qkdsim sweep --engine`: the engine becomes the scenario's.
    let mut base = scenario.inner.clone();
    if let Some(engine) = engine {
        let mut spec = base.spec.clone();
        spec.simulation.engine = engine;
        base = qkdsim::Scenario::from_spec(spec).map_err(|e| to_py_err(py, e, None))?;
    }
    let names = SweepNames {
        param: "param".into(),
        from: "from".into(),
        to: "to".into(),
        steps: "steps".into(),
        values: "values".into(),
        log: "log".into(),
        values_indexed: true,
    };
    let spec = SweepSpec {
        param: param.clone(),
        from: None,
        to: None,
        steps: None,
        values: Some(values),
        log: false,
        ..SweepSpec::default()
    };
    let plan = SweepPlan::from_spec_named(&spec, &names).map_err(|e| to_py_err(py, e, None))?;
    // Every value checked before any simulation, each wrong one named by its index with
    // the scenario file's message for the key (ScenarioError: key, value, range).
    qkdsim::scenario::get_numeric(&base, plan.param.as_str())
        .map_err(|e| to_py_err(py, e, None))?;
    let bad: Vec<String> = plan
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, &v)| {
            with_value(&base, &plan.param, v).err().map(|e| {
                let inner = match e {
                    qkdsim::Error::ScenarioInvalid(lines) => lines.join("; "),
                    e => e.to_string(),
                };
                format!("{} = {}: {inner}", names.value_item(i), fmt_num(v))
            })
        })
        .collect();
    if !bad.is_empty() {
        let message = format!(
            "invalid sweep of {}:\n{}",
            plan.param,
            bad.iter()
                .map(|b| format!("  - {b}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        return Err(scenario_error(py, &message, &bad));
    }
    check_environment(py)?;
    let report = run_detached(py, threads, move |cancel| {
        let options = RunOptions {
            cancel: Some(cancel),
            ..options
        };
        run_sweep(&base, &plan, &options, &|_, _| {})
    })?
    .map_err(|e| to_py_err(py, e, None))?;
    Ok(sweep_json(&report))
}

/// Closed-form key rates and bounds versus distance (`qkdsim theory`); returns the
/// `theory --json` text. Either `distances_km` or the grid `from_km`, `to_km`, `steps`.
#[pyfunction]
#[pyo3(signature = (scenario, from_km=None, to_km=None, steps=None, distances_km=None, optimize=false, detector_model="mean_field"))]
#[allow(clippy::too_many_arguments)]
fn theory<'py>(
    py: Python<'py>,
    scenario: PyRef<'py, PyScenario>,
    from_km: Option<f64>,
    to_km: Option<f64>,
    steps: Option<&Bound<'py, PyAny>>,
    distances_km: Option<Vec<f64>>,
    optimize: bool,
    detector_model: &str,
) -> PyResult<String> {
    let model: DetectorTheory = detector_model
        .parse()
        .map_err(|e: qkdsim::Error| PyValueError::new_err(format!("detector_model: {e}")))?;
    let distances = match distances_km {
        Some(d) => {
            if from_km.is_some() || to_km.is_some() || steps.is_some() {
                return Err(PyValueError::new_err(
                    "give either distances_km or from_km/to_km/steps, not both",
                ));
            }
            d
        }
        None => {
            const STEPS: WholeRule = WholeRule {
                key: "steps",
                min: 1,
                max: qkdsim::estimation::MAX_DISTANCE_STEPS,
                what: "a count of fibre lengths",
            };
            let steps = steps.map(|s| args::whole(s, &STEPS)).transpose()?;
            distance_grid(
                from_km.unwrap_or(0.0),
                to_km.unwrap_or(200.0),
                steps.unwrap_or(21),
                ["from_km", "to_km", "steps"],
            )
            .map_err(|e| to_py_err(py, e, None))?
        }
    };
    let scenario = scenario.inner.clone();
    let report = run_detached(py, 0, move |cancel| {
        theory_curves_until(&scenario, &distances, optimize, model, Some(&cancel))
    })?
    .map_err(|e| to_py_err(py, e, None))?;
    Ok(theory_json(&report))
}

/// Bytes this process can still allocate, as the command line reads them (the smaller of
/// `MemAvailable` and half the room under `ulimit -v`), or `None` where /proc is missing.
fn available_memory() -> Option<(u64, &'static str)> {
    let kib = |text: &str, key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        let value = line[key.len()..].split_whitespace().next()?;
        value.parse::<u64>().ok().map(|k| k.saturating_mul(1024))
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let mut best = (
        kib(&meminfo, "MemAvailable:")?,
        "MemAvailable in /proc/meminfo",
    );
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max address space"))?;
            line["Max address space".len()..]
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        });
    let used = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| kib(&text, "VmSize:"));
    if let (Some(limit), Some(used)) = (limit, used) {
        let room = limit.saturating_sub(used) / 2;
        if room < best.0 {
            best = (
                room,
                "half the room left under the address-space limit, ulimit -v",
            );
        }
    }
    Some(best)
}

/// Cascade on random keys with planted errors (`qkdsim reconcile`); returns the
/// `reconcile --json` text.
#[pyfunction]
#[pyo3(signature = (bits, qber, variant="yanetal", runs=None, seed=None, binomial=false, epsilon_cor=1e-15, threads=None))]
#[allow(clippy::too_many_arguments)]
fn reconcile<'py>(
    py: Python<'py>,
    bits: &Bound<'py, PyAny>,
    qber: f64,
    variant: &str,
    runs: Option<&Bound<'py, PyAny>>,
    seed: Option<&Bound<'py, PyAny>>,
    binomial: bool,
    epsilon_cor: f64,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<String> {
    const BITS: WholeRule = WholeRule {
        key: "bits",
        min: 1,
        max: MAX_KEY_BITS as u64,
        what: "a key length in bits",
    };
    const RUNS: WholeRule = WholeRule {
        key: "runs",
        min: 1,
        max: 1_000_000_000,
        what: "a count of independent runs",
    };
    let bits = args::whole(bits, &BITS)?;
    let runs = runs
        .map(|r| args::whole(r, &RUNS))
        .transpose()?
        .unwrap_or(20);
    let seed = args::seed(seed)?.unwrap_or(1);
    let variant: CascadeVariant = variant
        .parse()
        .map_err(|e: qkdsim::Error| PyValueError::new_err(format!("variant: {e}")))?;
    let threads = args::threads(threads)?;
    let config = ExperimentConfig {
        bits: usize::try_from(bits)
            .map_err(|_| PyValueError::new_err("bits: does not fit in memory on this machine"))?,
        qber,
        variant,
        runs: usize::try_from(runs)
            .map_err(|_| PyValueError::new_err("runs: does not fit in memory on this machine"))?,
        seed,
        error_model: if binomial {
            ErrorModel::Binomial
        } else {
            ErrorModel::Exact
        },
        epsilon_cor,
    };
    config.validate().map_err(|e| to_py_err(py, e, None))?;
    let workers = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    if let Some((available, source)) = available_memory() {
        config
            .check_memory(workers, available, source)
            .map_err(|e| to_py_err(py, e, None))?;
    }
    let summary = run_detached(py, threads, move |cancel| {
        run_experiment_until(&config, Some(&cancel))
    })?
    .map_err(|e| to_py_err(py, e, None))?;
    Ok(reconcile_json(&summary))
}

/// Reads a route: from the file `path` (its `base` relative to the file's folder) or from
/// `text` (its `base` relative to the current directory), as `qkdsim route` does.
fn load_route(
    py: Python<'_>,
    path: Option<PathBuf>,
    text: Option<String>,
) -> PyResult<qkdsim::route::Route> {
    let (text, origin, folder) = match (path, text) {
        (Some(p), _) => {
            let text = read_file(&p, "route file")?;
            let folder = p
                .parent()
                .filter(|f| !f.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            (text, p.display().to_string(), folder)
        }
        (None, Some(t)) => (t, "<string>".to_string(), PathBuf::from(".")),
        (None, None) => return Err(PyValueError::new_err("give a route file or its text")),
    };
    let load_base = move |base: &str| -> Result<String, String> {
        let resolved = folder.join(base);
        std::fs::read_to_string(&resolved)
            .map_err(|e| format!("cannot read scenario file {}: {e}", resolved.display()))
    };
    qkdsim::route::spec::parse_route(&text, &origin, &load_base).map_err(|e| {
        let context = match e {
            qkdsim::Error::RouteInvalid(_) => Some(format!("in route file {origin}")),
            _ => None,
        };
        to_py_err(py, e, context.as_deref())
    })
}

/// Simulates a route through trusted nodes (`qkdsim route`); returns the `route --json`
/// text. Exactly one of `path` and `text`.
#[pyfunction]
#[pyo3(signature = (path=None, text=None, duration_s=None, seed=None, threads=None))]
fn route<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    text: Option<String>,
    duration_s: Option<f64>,
    seed: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<String> {
    if let Some(d) = duration_s
        && !(d.is_finite() && d > 0.0)
    {
        return Err(PyValueError::new_err(format!(
            "duration_s: must be a finite number of seconds > 0, got {}",
            fmt_num(d)
        )));
    }
    let seed = args::seed(seed)?;
    let threads = args::threads(threads)?;
    let route = load_route(py, path, text)?;
    check_environment(py)?;
    let options = qkdsim::route::simulate::RouteOptions {
        duration_s,
        seed,
        ..Default::default()
    };
    let output = run_detached(py, threads, move |cancel| {
        let options = qkdsim::route::simulate::RouteOptions {
            cancel: Some(cancel),
            ..options
        };
        qkdsim::route::simulate::simulate_route(&route, &options, &|_, _| {})
    })?
    .map_err(|e| to_py_err(py, e, None))?;
    Ok(qkdsim::report::route::route_json(&output.report))
}

/// `steps` values from `start` to `stop`, both included, evenly or (`log`) geometrically
/// spaced: the grid of `qkdsim sweep --from --to --steps [--log]`.
#[pyfunction]
#[pyo3(signature = (start, stop, steps, log=false))]
fn grid(
    py: Python<'_>,
    start: f64,
    stop: f64,
    steps: &Bound<'_, PyAny>,
    log: bool,
) -> PyResult<Vec<f64>> {
    let steps = args::whole(
        steps,
        &WholeRule {
            key: "steps",
            ..qkdsim::scenario::SWEEP_STEPS
        },
    )?;
    let names = SweepNames {
        param: "param".into(),
        from: "start".into(),
        to: "stop".into(),
        steps: "steps".into(),
        values: "values".into(),
        log: "log".into(),
        values_indexed: true,
    };
    let spec = SweepSpec {
        param: "grid".into(),
        from: Some(start),
        to: Some(stop),
        steps: Some(steps),
        values: None,
        log,
        ..SweepSpec::default()
    };
    let violations = qkdsim::scenario::sweep_violations(&spec, &names);
    if !violations.is_empty() {
        let _ = py;
        return Err(PyValueError::new_err(violations.join("\n")));
    }
    Ok(qkdsim::scenario::sweep_grid(start, stop, steps, log))
}

/// The largest `threads=` this machine accepts.
#[pyfunction]
fn max_threads() -> usize {
    qkdsim::analysis::max_threads()
}

/// The extension module.
#[pymodule]
fn _qkdsim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyScenario>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(theory, m)?)?;
    m.add_function(wrap_pyfunction!(reconcile, m)?)?;
    m.add_function(wrap_pyfunction!(route, m)?)?;
    m.add_function(wrap_pyfunction!(grid, m)?)?;
    m.add_function(wrap_pyfunction!(max_threads, m)?)?;
    Ok(())
}
