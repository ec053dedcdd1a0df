//! Checks of the Python arguments, with the rules and messages of the command-line flags
//! they mirror (`--pulses`, `--seed`, `--threads`, `--engine`, `reconcile --bits`, …): a
//! wrong value is a `ValueError` naming the argument, the value and the allowed range; a
//! wrong type is a `TypeError`.
//!
//! Holds no rule of its own: ranges come from the library (`qkdsim::scenario` rules,
//! `qkdsim::analysis::max_threads`), so the bindings and the command line cannot drift.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};
use qkdsim::scenario::{ENGINES, MAX_PULSES, PULSES, SEED, WholeRule, fmt_text};

/// A whole number under `rule` (`rule.key` names the argument): a Python `int`, or a float
/// holding a whole number (`1e9`), as the command line accepts.
pub fn whole(obj: &Bound<'_, PyAny>, rule: &WholeRule) -> PyResult<u64> {
    let name = rule.key;
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{name}: must be a whole number in {} ({}), got a bool",
            rule.range_text(),
            rule.what
        )));
    }
    let checked = if obj.is_instance_of::<PyInt>() {
        match obj.extract::<u64>() {
            Ok(n) => rule.check_u64(name, n),
            // Negative or beyond 2^64: the float check names the value and the range.
            Err(_) => {
                let v = obj.extract::<f64>().unwrap_or(f64::INFINITY);
                rule.check(name, v)
            }
        }
    } else if obj.is_instance_of::<PyFloat>() || obj.hasattr("__float__")? {
        let v: f64 = obj.extract().map_err(|_| type_error(obj, name, rule))?;
        rule.check(name, v)
    } else {
        return Err(type_error(obj, name, rule));
    };
    checked.map_err(PyValueError::new_err)
}

fn type_error(obj: &Bound<'_, PyAny>, name: &str, rule: &WholeRule) -> PyErr {
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!(
        "{name}: must be a whole number in {} ({}), got a {type_name}",
        rule.range_text(),
        rule.what
    ))
}

/// `pulses=`: the rule of `--pulses` (a count in [1, 1e15]).
pub fn pulses(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    const RULE: WholeRule = WholeRule {
        key: "pulses",
        ..PULSES
    };
    debug_assert_eq!(RULE.max, MAX_PULSES as u64);
    obj.map(|o| whole(o, &RULE)).transpose()
}

/// `seed=`: the rule of `--seed` and `simulation.seed`.
pub fn seed(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    const RULE: WholeRule = WholeRule {
        key: "seed",
        ..SEED
    };
    obj.map(|o| whole(o, &RULE)).transpose()
}

/// `threads=`: `None` or 0 for one worker per core, else 1 to [`qkdsim::analysis::max_threads`].
pub fn threads(obj: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let Some(obj) = obj else { return Ok(0) };
    let max = qkdsim::analysis::max_threads();
    let rule = WholeRule {
        key: "threads",
        min: 0,
        max: max as u64,
        what: "worker threads; 0 or None: one per core; each worker is an OS thread \
               started before any work, and results do not depend on the count",
    };
    Ok(whole(obj, &rule)? as usize)
}

/// `engine=`: `pulse`, `event` or `auto` (`None`: the scenario's `simulation.engine`).
pub fn engine(name: Option<String>) -> PyResult<Option<String>> {
    match name {
        Some(e) if !ENGINES.contains(&e.as_str()) => Err(PyValueError::new_err(format!(
            "engine: must be one of {}, got {}",
            ENGINES.join(", "),
            fmt_text(&e)
        ))),
        other => Ok(other),
    }
}
