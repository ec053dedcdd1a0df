//! Dotted key paths (`link.length_km`, `source.intensities.0.mean_photon_number`) for
//! reading and changing one numeric scenario value; used by sweeps.

use super::validate::{fmt_num, whole_rule};
use super::{Scenario, ScenarioSpec};
use crate::error::{Error, Result};
use toml::Value;

fn to_value(spec: &ScenarioSpec) -> Value {
    Value::try_from(spec).expect("a scenario spec always serialises to TOML")
}

fn collect(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Integer(_) | Value::Float(_) => out.push(prefix.to_string()),
        Value::Table(t) => {
            for (k, v) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect(&p, v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                collect(&format!("{prefix}.{i}"), v, out);
            }
        }
        _ => {}
    }
}

/// Every numeric key of the effective scenario (defaults filled in), as dotted paths.
/// `simulation.pulses` is listed too when the scenario gives `duration_s`.
pub fn numeric_keys(scenario: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    let mut spec = scenario.spec.clone();
    spec.sweep = None;
    collect("", &to_value(&spec), &mut out);
    if !out.iter().any(|k| k == "simulation.pulses") {
        out.push("simulation.pulses".into());
    }
    out.sort();
    out
}

fn unknown(path: &str, scenario: &Scenario) -> Error {
    Error::UnknownKey(format!(
        "unknown or non-numeric scenario key \"{path}\"; numeric keys are: {}",
        numeric_keys(scenario).join(", ")
    ))
}

pub(crate) fn lookup<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut cur = root;
    for part in path.split('.') {
        cur = match cur {
            Value::Table(t) => t.get_mut(part)?,
            Value::Array(a) => a.get_mut(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The value of a numeric key.
pub fn get_numeric(scenario: &Scenario, path: &str) -> Result<f64> {
    if path == "simulation.pulses" {
        return Ok(scenario.pulses() as f64);
    }
    let mut spec = scenario.spec.clone();
    spec.sweep = None;
    let mut root = to_value(&spec);
    match lookup(&mut root, path) {
        Some(Value::Float(f)) => Ok(*f),
        Some(Value::Integer(i)) => Ok(*i as f64),
        _ => Err(unknown(path, scenario)),
    }
}

/// A copy of `scenario` with one numeric key set to `value`, validated again with the
/// same checks as the scenario file. Whole-number keys (`postprocessing.block_bits`,
/// `simulation.seed`, `simulation.pulses`) take only whole numbers: `1e5` is fine, `1000.5`
/// is an error naming the key, the value and the range, as it is in the file.
///
/// ```
/// use qkdsim::Scenario;
/// use qkdsim::scenario::with_value;
///
/// let s = Scenario::parse("[link]\nlength_km = 50.0\n", "example")?;
/// let longer = with_value(&s, "link.length_km", 80.0)?;
/// assert_eq!(longer.spec.link.length_km, 80.0);
/// assert!(with_value(&s, "link.misalignment", 0.7).is_err()); // outside [0, 0.5]
/// assert!(with_value(&s, "postprocessing.block_bits", 1000.5).is_err()); // not whole
/// # Ok::<(), qkdsim::Error>(())
/// ```
pub fn with_value(scenario: &Scenario, path: &str, value: f64) -> Result<Scenario> {
    with_values(scenario, &[(path, value)])
}

/// A copy of `scenario` with several numeric keys set (a point of a two-dimensional
/// sweep), validated once with all of them in place, so that values which only make sense
/// together (two probabilities that must sum to one) are accepted. Each key follows the
/// rules of [`with_value`]; a violation that names none of the keys is prefixed with all
/// of them.
pub fn with_values(scenario: &Scenario, settings: &[(&str, f64)]) -> Result<Scenario> {
    let mut spec = scenario.spec.clone();
    for &(path, value) in settings {
        spec = set_value(scenario, spec, path, value)?;
    }
    Scenario::from_spec_without_sweep(spec).map_err(|e| named_all(e, settings))
}

/// One key of [`with_values`] set in `spec` (not validated yet).
fn set_value(
    scenario: &Scenario,
    spec: ScenarioSpec,
    path: &str,
    value: f64,
) -> Result<ScenarioSpec> {
    let mut spec = spec;
    if let Some(rule) = whole_rule(path).filter(|r| !r.key.starts_with("sweep.")) {
        rule.check(path, value)
            .map_err(|e| Error::ScenarioInvalid(vec![e]))?;
    }
    if path == "simulation.pulses" {
        spec.simulation.pulses = Some(value);
        spec.simulation.duration_s = None;
        return Ok(spec);
    }
    let mut root = to_value(&spec);
    match lookup(&mut root, path) {
        Some(slot @ Value::Float(_)) => *slot = Value::Float(value),
        Some(slot @ Value::Integer(_)) => {
            if !(value.is_finite()
                && value >= 0.0
                && value.fract() == 0.0
                && value <= i64::MAX as f64)
            {
                return Err(Error::ScenarioInvalid(vec![format!(
                    "{path}: must be a whole number >= 0, got {}",
                    fmt_num(value)
                )]));
            }
            *slot = Value::Integer(value as i64)
        }
        _ => return Err(unknown(path, scenario)),
    }
    if path.starts_with("sweep.") {
        return Err(unknown(path, scenario));
    }
    root.try_into()
        .map_err(|e: toml::de::Error| Error::ScenarioSyntax(format!("{path}: {e}")))
}

/// A violation that names none of the keys set (a coupled rule: the probabilities of the
/// intensity classes must sum to 1) is prefixed with them, so the message says which
/// values broke the rule.
fn named_all(e: Error, settings: &[(&str, f64)]) -> Error {
    match e {
        Error::ScenarioInvalid(v) => Error::ScenarioInvalid(
            v.into_iter()
                .map(|line| {
                    if settings.iter().any(|(path, _)| line.contains(path)) {
                        line
                    } else {
                        let set: Vec<String> = settings
                            .iter()
                            .map(|(path, value)| format!("{path} = {}", fmt_num(*value)))
                            .collect();
                        format!("{}: {line}", set.join(", "))
                    }
                })
                .collect(),
        ),
        e => e,
    }
}
