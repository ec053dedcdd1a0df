//! `qkdsim.Scenario`: a validated scenario (DESIGN §4), built from a file, TOML text or a
//! Python dict, changed by dotted keys with the command line's checks.
//!
//! Every path into a scenario goes through the library's own validation
//! (`Scenario::parse`, `Scenario::from_table`, `scenario::with_value`), so a value is
//! accepted or refused, with the same message, whichever way it arrives. Must never
//! validate anything itself beyond converting Python values to TOML values.

use crate::errors::{scenario_error, to_py_err};
use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use qkdsim::scenario::{fmt_text, get_numeric, numeric_keys, with_value};

/// A validated QKD link scenario (the scenario file of DESIGN §4, defaults filled in).
///
/// Build one with `Scenario.from_file(path)`, `Scenario.from_toml(text)` or
/// `Scenario.from_dict(d)`; change it with `set("link.length_km", 50.0)`. Every
/// constructor and `set` apply the scenario file's checks: a bad value raises
/// `qkdsim.ScenarioError` naming the key path, the value and the allowed range.
#[pyclass(module = "qkdsim._qkdsim", name = "Scenario")]
#[derive(Clone)]
pub struct PyScenario {
    /// The validated scenario.
    pub inner: qkdsim::Scenario,
}

/// Reads a file for a Python call, with the command line's message; `OSError` (or the
/// subclass for its cause, such as `FileNotFoundError`) on failure.
pub fn read_file(path: &std::path::Path, what: &str) -> PyResult<String> {
    std::fs::read_to_string(path).map_err(|e| {
        let message = format!("cannot read {what} {}: {e}", path.display());
        let err: PyErr = e.into();
        Python::attach(|py| {
            // Keep the subclass std::io::Error maps to, with our message.
            let class = err.get_type(py);
            class
                .call1((message.clone(),))
                .map(PyErr::from_value)
                .unwrap_or_else(|_| PyOSError::new_err(message))
        })
    })
}

impl PyScenario {
    fn from_text(
        py: Python<'_>,
        text: &str,
        origin: &str,
        context: Option<&str>,
    ) -> PyResult<Self> {
        qkdsim::Scenario::parse(text, origin)
            .map(|inner| PyScenario { inner })
            .map_err(|e| to_py_err(py, e, context))
    }
}

#[pymethods]
impl PyScenario {
    /// Reads and validates a scenario file (TOML). Errors name the file.
    #[classmethod]
    fn from_file(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        path: std::path::PathBuf,
    ) -> PyResult<Self> {
        let text = read_file(&path, "scenario file")?;
        let origin = path.display().to_string();
        PyScenario::from_text(
            py,
            &text,
            &origin,
            Some(&format!("in scenario file {origin}")),
        )
    }

    /// Parses and validates scenario TOML text; `origin` names it in messages.
    #[classmethod]
    #[pyo3(signature = (text, origin = "<string>"))]
    fn from_toml(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        text: &str,
        origin: &str,
    ) -> PyResult<Self> {
        PyScenario::from_text(py, text, origin, None)
    }

    /// Validates a scenario given as nested dicts and lists, the shape of the TOML file
    /// (and of `to_dict()`): `{"link": {"length_km": 50.0}, "source": {"intensities":
    /// [{...}, ...]}}`. `None` values count as absent.
    #[classmethod]
    fn from_dict(_cls: &Bound<'_, PyType>, py: Python<'_>, d: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut problems = Vec::new();
        let table = match to_toml(d, "", &mut problems) {
            Some(toml::Value::Table(t)) => t,
            _ if !problems.is_empty() => toml::Table::new(),
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "from_dict: expected a dict (the scenario's tables), got a {}",
                    type_name(d)
                )));
            }
        };
        if !problems.is_empty() {
            let message = format!(
                "invalid scenario:\n{}",
                problems
                    .iter()
                    .map(|p| format!("  - {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            return Err(scenario_error(py, &message, &problems));
        }
        qkdsim::Scenario::from_table(table)
            .map(|inner| PyScenario { inner })
            .map_err(|e| to_py_err(py, e, None))
    }

    /// Sets one value by its dotted key and validates the scenario again, in place;
    /// returns the scenario (for chaining). Numbers go through the command line's
    /// dotted-key setter (`sweep --param`), with its checks: whole-number keys take only
    /// whole numbers, every key its range. Strings and booleans (`simulation.engine`,
    /// `detector.dead_time_mode`, …) are checked like the same value in the file. On error
    /// the scenario is unchanged and `ScenarioError` names the key, the value and the
    /// allowed range.
    fn set<'py>(
        mut slf: PyRefMut<'py, Self>,
        key: &str,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let py = slf.py();
        let numeric = !value.is_instance_of::<PyBool>()
            && (value.is_instance_of::<PyInt>()
                || value.is_instance_of::<PyFloat>()
                || (!value.is_instance_of::<PyString>() && value.extract::<f64>().is_ok()));
        let updated = if numeric {
            let v: f64 = value.extract()?;
            with_value(&slf.inner, key, v).map_err(|e| to_py_err(py, e, None))?
        } else {
            set_text_or_bool(py, &slf.inner, key, value)?
        };
        slf.inner = updated;
        Ok(slf)
    }

    /// The value of a key: a number for numeric keys (the `set`/sweep keys), else the
    /// value as `to_dict()` holds it.
    fn get(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        if let Ok(v) = get_numeric(&self.inner, key) {
            // Whole-number keys read back as ints, as the file holds them.
            let d = self.to_dict(py)?;
            if let Some(found) = lookup(d.bind(py), key)? {
                return Ok(found.unbind());
            }
            return Ok(v.into_pyobject(py)?.into_any().unbind());
        }
        let d = self.to_dict(py)?;
        match lookup(d.bind(py), key)? {
            Some(v) => Ok(v.unbind()),
            None => {
                let message = format!(
                    "unknown scenario key {}; numeric keys are: {}",
                    fmt_text(key),
                    numeric_keys(&self.inner).join(", ")
                );
                Err(scenario_error(py, &message, &[format!("{key}: {message}")]))
            }
        }
    }

    /// Every numeric dotted key (the keys `set` takes numbers for and `sweep` can sweep).
    fn numeric_keys(&self) -> Vec<String> {
        numeric_keys(&self.inner)
    }

    /// The effective scenario (defaults filled in) as nested dicts and lists, the shape of
    /// the TOML file; `Scenario.from_dict(s.to_dict()) == s`.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let text = serde_json::to_string(&self.inner.spec)
            .map_err(|e| PyTypeError::new_err(format!("cannot convert the scenario: {e}")))?;
        Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
    }

    /// The effective scenario as TOML text (what `qkdsim check` prints).
    fn to_toml(&self) -> String {
        self.inner.to_toml()
    }

    /// A copy (`set` changes a scenario in place).
    fn copy(&self) -> Self {
        self.clone()
    }

    fn __copy__(&self) -> Self {
        self.clone()
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        self.clone()
    }

    /// The scenario's `name`.
    #[getter]
    fn name(&self) -> String {
        self.inner.spec.name.clone()
    }

    /// Pulses a run sends by default: `simulation.pulses`, or `duration_s` times the
    /// repetition rate.
    #[getter]
    fn pulses(&self) -> u64 {
        self.inner.pulses()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .extract::<PyRef<'_, PyScenario>>()
            .is_ok_and(|o| o.inner == self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "Scenario(name={}, link.length_km={}, pulses={})",
            fmt_text(&self.inner.spec.name),
            self.inner.spec.link.length_km,
            self.inner.pulses()
        )
    }

    /// Pickling: the scenario travels as its TOML text.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let from_toml = slf.get_type().getattr("from_toml")?;
        Ok((from_toml, (slf.borrow().inner.to_toml(),)))
    }
}

/// The value at a dotted path in nested dicts/lists, if any.
fn lookup<'py>(root: &Bound<'py, PyAny>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut cur = root.clone();
    for part in key.split('.') {
        let next = if let Ok(d) = cur.cast::<PyDict>() {
            d.get_item(part)?
        } else if let Ok(l) = cur.cast::<PyList>() {
            match part.parse::<usize>() {
                Ok(i) if i < l.len() => Some(l.get_item(i)?),
                _ => None,
            }
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// Sets a string or boolean value at an existing dotted key and validates the whole
/// scenario again, as the file would be.
fn set_text_or_bool(
    py: Python<'_>,
    scenario: &qkdsim::Scenario,
    key: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<qkdsim::Scenario> {
    let new = if value.is_instance_of::<PyBool>() {
        toml::Value::Boolean(value.extract()?)
    } else if let Ok(s) = value.cast::<PyString>() {
        toml::Value::String(s.extract::<String>()?)
    } else {
        return Err(PyTypeError::new_err(format!(
            "{key}: a value must be a number, a string or a bool, got a {}",
            type_name(value)
        )));
    };
    let mut root = toml::Value::try_from(&scenario.spec)
        .map_err(|e| PyTypeError::new_err(format!("cannot convert the scenario: {e}")))?;
    let mut slot = Some(&mut root);
    for part in key.split('.') {
        slot = match slot {
            Some(toml::Value::Table(t)) => t.get_mut(part),
            Some(toml::Value::Array(a)) => part.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
    }
    match slot {
        Some(s) if !s.is_table() && !s.is_array() => *s = new,
        _ => {
            let message = format!(
                "unknown scenario key {} (a string or bool can be set only at an existing \
                 key of the effective scenario; see Scenario.to_dict())",
                fmt_text(key)
            );
            return Err(scenario_error(py, &message, &[format!("{key}: {message}")]));
        }
    }
    let toml::Value::Table(table) = root else {
        unreachable!("a scenario serialises to a table")
    };
    qkdsim::Scenario::from_table(table).map_err(|e| to_py_err(py, e, None))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A Python value as a TOML value; what cannot be one is reported in `problems` with its
/// key path. `None` (absent) gives `None`.
fn to_toml(obj: &Bound<'_, PyAny>, path: &str, problems: &mut Vec<String>) -> Option<toml::Value> {
    let at = |p: &str| {
        if p.is_empty() {
            "(top level)".to_string()
        } else {
            p.to_string()
        }
    };
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    if obj.is_none() {
        return None;
    }
    if obj.is_instance_of::<PyBool>() {
        return obj.extract().ok().map(toml::Value::Boolean);
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Some(toml::Value::Integer(i)),
            Err(_) => {
                problems.push(format!(
                    "{}: must fit in a TOML integer [-9223372036854775808, 9223372036854775807], got {}",
                    at(path),
                    obj.str().map(|s| s.to_string()).unwrap_or_default()
                ));
                None
            }
        };
    }
    if obj.is_instance_of::<PyFloat>() {
        return obj.extract().ok().map(toml::Value::Float);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.extract::<String>().ok().map(toml::Value::String);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut table = toml::Table::new();
        for (k, v) in d.iter() {
            let Ok(k) = k.extract::<String>() else {
                problems.push(format!(
                    "{}: table keys must be strings, got a {}",
                    at(path),
                    type_name(&k)
                ));
                continue;
            };
            if let Some(v) = to_toml(&v, &join(&k), problems) {
                table.insert(k, v);
            }
        }
        return Some(toml::Value::Table(table));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, v) in obj.try_iter().ok()?.enumerate() {
            let v = v.ok()?;
            if let Some(v) = to_toml(&v, &join(&i.to_string()), problems) {
                items.push(v);
            }
        }
        return Some(toml::Value::Array(items));
    }
    // numpy scalars and other numbers: integers through __index__, else __float__.
    if obj.hasattr("__index__").unwrap_or(false)
        && let Ok(i) = obj.extract::<i64>()
    {
        return Some(toml::Value::Integer(i));
    }
    if let Ok(f) = obj.extract::<f64>() {
        return Some(toml::Value::Float(f));
    }
    problems.push(format!(
        "{}: must be a number, string, bool, dict or list (a TOML value), got a {}",
        at(path),
        type_name(obj)
    ));
    None
}
