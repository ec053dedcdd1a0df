//! Scenario files: the TOML schema (DESIGN §4, a contract), its defaults, and validation.
//!
//! Parsing happens in two phases. [`ScenarioSpec`] mirrors the file with serde
//! (`deny_unknown_fields`, defaults for everything but `link.length_km`); [`Scenario`] is
//! only ever built by [`Scenario::from_spec`], which checks every value and reports *all*
//! violations at once, each with its dotted key path, the value found and the allowed range.
//!
//! Must never depend on the physics, protocol or any later stage: everything downstream
//! depends on this module, never the other way round. No file I/O here: the caller passes
//! text in.

mod keys;
mod schema;
mod spec;
mod validate;

pub use keys::{get_numeric, numeric_keys, with_value, with_values};
pub use spec::*;
pub use validate::{
    BLOCK_BITS, CASCADE_VARIANTS, ENGINES, MAX_PULSES, MAX_SWEEP_POINTS, PULSES, SEED, SWEEP_STEPS,
    SWEEP_STEPS2, SweepNames, WholeRule, duration_pulses, escape_controls, event_engine_attack,
    fmt_num, fmt_text, sweep_grid, sweep_values, sweep_violations, sweep2_violations, whole_rule,
};

use crate::error::{Error, Result};

/// A validated scenario. Every field holds a value inside its documented range; build it
/// with [`Scenario::parse`] or [`Scenario::from_spec`]. If you change a field by hand, call
/// [`Scenario::from_spec`] on the result again (or use [`with_value`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The validated scenario values, with defaults filled in.
    pub spec: ScenarioSpec,
}

impl Scenario {
    /// Parses TOML text and validates it. `origin` (usually the file name) is used in messages.
    ///
    /// Three steps, every one naming the key path of what it rejects: TOML syntax; the type
    /// pass (`schema`: unknown keys, wrong types, missing required keys, whole numbers
    /// written as floats); the range checks (`validate`), which also see the values the
    /// type pass could keep, so that every violation is reported at once.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            Error::ScenarioSyntax(format!(
                "{origin}: {}",
                escape_terminal(e.to_string().trim_end())
            ))
        })?;
        Scenario::from_table(table)
    }

    /// Validates a scenario already parsed as a TOML table (the steps of [`Scenario::parse`]
    /// after the syntax: the type pass, then the range checks, every violation reported
    /// with its key path as [`Error::ScenarioInvalid`]). Used for scenarios that are not a
    /// file of their own, such as the spans of a route.
    pub fn from_table(mut table: toml::Table) -> Result<Scenario> {
        let (mut found, replaced) = schema::check_types(&mut table);
        let spec: ScenarioSpec = toml::Value::Table(table).try_into().map_err(|e| {
            // The type pass leaves nothing serde can reject; this is a safety net.
            let mut all = found.clone();
            all.push(escape_terminal(e.to_string().trim_end()));
            Error::ScenarioInvalid(all)
        })?;
        if found.is_empty() {
            return Scenario::from_spec(spec);
        }
        // Range checks on the rest, without the ones about placeholders.
        let about_placeholder = |v: &String| {
            replaced
                .iter()
                .any(|p| v.starts_with(&format!("{p}:")) || v.starts_with(&format!("{p} ")))
        };
        match Scenario::from_spec(spec) {
            Ok(_) => {}
            Err(Error::ScenarioInvalid(more)) => {
                found.extend(more.into_iter().filter(|v| !about_placeholder(v)))
            }
            Err(e) => found.push(e.to_string()),
        }
        Err(Error::ScenarioInvalid(found))
    }

    /// Validates a spec, reporting every violation with its key path. A `[sweep]` table is
    /// checked in full: its fields, its key (a numeric scenario key) and every value it
    /// gives that key, with the messages the scenario file would give.
    pub fn from_spec(spec: ScenarioSpec) -> Result<Scenario> {
        let mut violations = validate::violations(&spec);
        if violations.is_empty()
            && let Some(sweep) = &spec.sweep
        {
            violations.extend(sweep_point_violations(&spec, sweep));
            if violations.is_empty() {
                violations.extend(sweep2_point_violations(&spec, sweep));
            }
        }
        if violations.is_empty() {
            Ok(Scenario { spec })
        } else {
            Err(Error::ScenarioInvalid(violations))
        }
    }

    /// [`Scenario::from_spec`] without the checks of the `[sweep]` values (used by
    /// [`with_value`], whose scenario had its sweep checked already).
    pub(crate) fn from_spec_without_sweep(spec: ScenarioSpec) -> Result<Scenario> {
        let violations = validate::violations(&spec);
        if violations.is_empty() {
            Ok(Scenario { spec })
        } else {
            Err(Error::ScenarioInvalid(violations))
        }
    }

    /// The effective scenario, defaults filled in, as TOML text (what `qkdsim check` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.spec)
            .unwrap_or_else(|e| format!("# cannot render scenario: {e}\n"))
    }

    /// Number of pulses the run sends: `simulation.pulses`, or `duration_s * rep_rate_hz`
    /// (a whole number: validation rejects a duration that is not a whole number of pulses).
    pub fn pulses(&self) -> u64 {
        let sim = &self.spec.simulation;
        match (sim.pulses, sim.duration_s) {
            (Some(p), _) => p.round() as u64,
            (None, Some(d)) => (d * self.spec.source.rep_rate_hz).round() as u64,
            (None, None) => DEFAULT_PULSES as u64,
        }
    }
}

/// Text from outside (a TOML error quoting the file) with control characters other than
/// line feeds escaped, so that a message cannot act on the terminal.
pub(crate) fn escape_terminal(s: &str) -> String {
    s.split('\n')
        .map(escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Most point violations of a `[sweep]` reported (a list of 10000 bad values is no help).
const MAX_POINT_VIOLATIONS: usize = 10;

/// Whether the `[sweep]` table's key is a numeric key and each of its values is valid for
/// it: the same checks (and messages) as a value written in the file.
fn sweep_point_violations(spec: &ScenarioSpec, sweep: &SweepSpec) -> Vec<String> {
    axis_point_violations(spec, sweep, &SweepNames::TABLE)
}

/// [`sweep_point_violations`] for one axis whose fields are named by `names` (the first
/// axis: `sweep.param`, …; the second: `sweep.param2`, …).
fn axis_point_violations(
    spec: &ScenarioSpec,
    sweep: &SweepSpec,
    names: &SweepNames,
) -> Vec<String> {
    let values = match validate::sweep_values(sweep, names) {
        Ok(values) => values,
        Err(v) => return v,
    };
    let mut base_spec = spec.clone();
    base_spec.sweep = None;
    let base = Scenario { spec: base_spec };
    let param = sweep.param.trim();
    if get_numeric(&base, param).is_err() {
        return vec![format!(
            "{}: must be a numeric scenario key, got {}; numeric keys are: {}",
            names.param(),
            fmt_text(param),
            numeric_keys(&base).join(", ")
        )];
    }
    let explicit = sweep.values.is_some();
    let mut out = Vec::new();
    let mut bad = 0;
    for (i, &v) in values.iter().enumerate() {
        if let Err(e) = with_value(&base, param, v) {
            bad += 1;
            if bad > MAX_POINT_VIOLATIONS {
                continue;
            }
            let at = if explicit {
                names.value_item(i)
            } else {
                let axis = if names.param() == "sweep.param" {
                    "sweep"
                } else {
                    "sweep axis 2"
                };
                format!(
                    "{axis} point {i} (from {}, {}, {})",
                    names.from(),
                    names.to(),
                    names.steps()
                )
            };
            out.push(format!("{at} = {}: {}", fmt_num(v), inner(&e)));
        }
    }
    if bad > MAX_POINT_VIOLATIONS {
        out.push(format!(
            "sweep: {} more values are invalid for {param}",
            bad - MAX_POINT_VIOLATIONS
        ));
    }
    out
}

/// The second axis of a `[sweep]` table (when it has one): its key is a numeric key, each
/// of its values is valid for it, and every grid point (both keys set) is a valid
/// scenario, with the messages the scenario file would give.
fn sweep2_point_violations(spec: &ScenarioSpec, sweep: &SweepSpec) -> Vec<String> {
    let (Some(axis2), Some(_)) = (sweep.axis2(), &sweep.param2) else {
        return Vec::new();
    };
    let names2 = SweepNames::table2();
    let mut base_spec = spec.clone();
    base_spec.sweep = None;
    let base = Scenario { spec: base_spec };
    let mut out = axis_point_violations(&base.spec, &axis2, &names2);
    if !out.is_empty() {
        return out;
    }
    let (Ok(v1), Ok(v2)) = (
        validate::sweep_values(sweep, &SweepNames::TABLE),
        validate::sweep_values(&axis2, &names2),
    ) else {
        return out;
    };
    let (p1, p2) = (sweep.param.trim(), axis2.param.trim());
    let mut bad = 0;
    for (i, &a) in v1.iter().enumerate() {
        for (j, &b) in v2.iter().enumerate() {
            if let Err(e) = with_values(&base, &[(p1, a), (p2, b)]) {
                bad += 1;
                if bad <= MAX_POINT_VIOLATIONS {
                    out.push(format!(
                        "sweep grid point ({i}, {j}) = ({p1} = {}, {p2} = {}): {}",
                        fmt_num(a),
                        fmt_num(b),
                        inner(&e)
                    ));
                }
            }
        }
    }
    if bad > MAX_POINT_VIOLATIONS {
        out.push(format!(
            "sweep: {} more grid points are invalid",
            bad - MAX_POINT_VIOLATIONS
        ));
    }
    out
}

/// The message of an error without the "invalid scenario:" heading.
pub(crate) fn inner(e: &Error) -> String {
    match e {
        Error::ScenarioInvalid(v) => v.join("; "),
        e => e.to_string(),
    }
}
