//! The type pass: checks the parsed TOML against the schema of [`ScenarioSpec`] before
//! serde sees it, so that a wrong type, an unknown key or a missing key is reported like a
//! range violation: with its dotted key path, the value found and what is allowed.
//!
//! The schema is not written twice: it is [`ScenarioSpec`]'s own serialisation with every
//! optional field set ([`exemplar`]), so a field added to the spec is known here at once.
//! Integer fields (`postprocessing.block_bits`, `simulation.seed`, `sweep.steps`) accept
//! a float that is a whole number (`block_bits = 1e6`), as `simulation.pulses` and the
//! count flags do; any other float is rejected with the nearest allowed whole numbers.
//! A value with the wrong type is replaced by the schema's default so that the range
//! checks still run on the rest of the file: every violation is reported at once.

use super::spec::ScenarioSpec;
use super::validate::{escape_controls, fmt_num, fmt_text, violations, whole_rule};
use toml::{Table, Value};

/// Keys that have no default (a missing one is an error).
const REQUIRED: &[&str] = &[
    "link.length_km",
    "sweep.param",
    "source.intensities.N.label",
    "source.intensities.N.mean_photon_number",
    "source.intensities.N.probability",
];

/// The spec with every optional field present: the shape and types of every key.
pub(crate) fn exemplar() -> Value {
    let mut spec: ScenarioSpec = toml::from_str("[link]\nlength_km = 0.0\n")
        .expect("the minimal scenario parses with its defaults");
    spec.simulation.pulses = Some(1.0);
    spec.simulation.duration_s = Some(1.0);
    spec.simulation.window_s = Some(1.0);
    spec.compensation = Some(super::spec::CompensationSpec {
        policy: "none".into(),
        interval_s: Some(1.0),
        qber_threshold: Some(0.1),
        realign_s: 0.0,
        residual_misalignment: Some(0.0),
    });
    spec.adversary = Some(super::spec::AdversarySpec {
        attack: "none".into(),
        fraction: 1.0,
    });
    spec.sweep = Some(super::spec::SweepSpec {
        param: "link.length_km".into(),
        from: Some(0.0),
        to: Some(0.0),
        steps: Some(1),
        values: Some(vec![0.0]),
        log: false,
        param2: Some("link.misalignment".into()),
        from2: Some(0.0),
        to2: Some(0.0),
        steps2: Some(1),
        values2: Some(vec![0.0]),
        log2: true,
    });
    Value::try_from(&spec).expect("a scenario spec always serialises to TOML")
}

/// Checks and normalises the types of `table` in place. Returns the violations and the
/// key paths whose values were replaced by a placeholder (range checks on those are
/// dropped: they would be about the placeholder).
pub(crate) fn check_types(table: &mut Table) -> (Vec<String>, Vec<String>) {
    let schema = exemplar();
    let schema = schema.as_table().expect("the spec is a table");
    let mut pass = Pass {
        out: Vec::new(),
        replaced: Vec::new(),
    };
    pass.table("", table, schema);
    (pass.out, pass.replaced)
}

struct Pass {
    out: Vec<String>,
    replaced: Vec<String>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// `source.intensities.3.label` -> `source.intensities.N.label`.
fn generic(path: &str) -> String {
    path.split('.')
        .map(|p| if p.parse::<usize>().is_ok() { "N" } else { p })
        .collect::<Vec<_>>()
        .join(".")
}

/// The value as serde names it in its messages (`string "fifty"`, `boolean `true``).
fn serde_found(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string {}", fmt_text(s)),
        Value::Integer(i) => format!("integer `{i}`"),
        Value::Float(f) => format!("floating point `{}`", fmt_num(*f)),
        Value::Boolean(b) => format!("boolean `{b}`"),
        Value::Datetime(d) => format!("datetime `{d}`"),
        Value::Array(_) => "sequence".into(),
        Value::Table(_) => "map".into(),
    }
}

fn serde_expected(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "u64",
        Value::Float(_) => "f64",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "a sequence",
        Value::Table(_) => "a table",
    }
}

/// What a key allows, in words, taken from the range checker itself: the key is set to
/// values outside every range and the checker's rule text is read back.
fn allowed(path: &str, schema_value: &Value) -> String {
    let kind = match schema_value {
        Value::Float(_) => "a number",
        Value::Integer(_) => "a whole number",
        Value::String(_) => "a string",
        Value::Boolean(_) => return "true or false".into(),
        Value::Array(a) if matches!(a.first(), Some(Value::Table(_))) => {
            return "an array of tables ([[...]])".into();
        }
        Value::Array(_) => return "an array of numbers, e.g. [1.0, 2.0]".into(),
        Value::Table(_) => return "a table ([...])".into(),
        Value::Datetime(_) => "a date-time",
    };
    if let Some(rule) = whole_rule(path) {
        return format!("a whole number in {} ({})", rule.range_text(), rule.what);
    }
    let probes: &[Value] = match schema_value {
        Value::Float(_) => &[Value::Float(-1e300), Value::Float(1e300)],
        Value::String(_) => &[Value::String("?".into())],
        _ => &[],
    };
    // Intensity classes are probed on class 0 of the defaults.
    let probe_path = path
        .split('.')
        .map(|p| if p.parse::<usize>().is_ok() { "0" } else { p })
        .collect::<Vec<_>>()
        .join(".");
    let prefix = format!("{probe_path}: must be ");
    for probe in probes {
        let mut root = exemplar();
        if let Some(t) = root.as_table_mut() {
            // Without the optional keys, so that they do not conflict with each other.
            t.remove("sweep");
            // Each compensation key under the policy that uses it (the others would add
            // "only the ... policy uses it" messages instead of the range).
            if let Some(Value::Table(c)) = t.get_mut("compensation") {
                let (policy, keep) = match probe_path.as_str() {
                    "compensation.interval_s" => ("periodic", "interval_s"),
                    "compensation.qber_threshold" => ("threshold", "qber_threshold"),
                    _ => ("none", ""),
                };
                c.insert("policy".into(), Value::String(policy.into()));
                for key in ["interval_s", "qber_threshold"] {
                    if key != keep {
                        c.remove(key);
                    }
                }
            }
            if let Some(Value::Table(sim)) = t.get_mut("simulation") {
                sim.remove("duration_s");
                if probe_path != "simulation.duration_s" {
                    sim.remove("pulses");
                } else {
                    sim.remove("pulses");
                    sim.insert("duration_s".into(), Value::Float(1.0));
                }
            }
        }
        let Some(slot) = super::keys::lookup(&mut root, &probe_path) else {
            continue;
        };
        *slot = probe.clone();
        let Ok(spec) = root.try_into::<ScenarioSpec>() else {
            continue;
        };
        for v in violations(&spec) {
            if let Some(rest) = v.strip_prefix(&prefix) {
                let rule = rest.split(", got").next().unwrap_or(rest);
                return if kind == "a number" {
                    format!("a number {rule}")
                } else {
                    rule.to_string()
                };
            }
        }
    }
    kind.to_string()
}

impl Pass {
    fn type_error(&mut self, path: &str, found: &Value, schema_value: &Value) {
        self.out.push(format!(
            "{path}: must be {}, got {} (invalid type: {}, expected {})",
            allowed(path, schema_value),
            shown(found),
            serde_found(found),
            serde_expected(schema_value)
        ));
        self.replaced.push(path.to_string());
    }

    fn table(&mut self, prefix: &str, table: &mut Table, schema: &Table) {
        let keys: Vec<String> = table.keys().cloned().collect();
        for key in keys {
            let path = join(prefix, &key);
            let Some(schema_value) = schema.get(&key) else {
                let mut known: Vec<&str> = schema.keys().map(String::as_str).collect();
                known.sort_unstable();
                self.out.push(format!(
                    "{}: unknown field `{}`, expected one of {} (unknown keys are errors: check \
                     the spelling and the table it is in)",
                    escape_controls(&path),
                    escape_controls(&key),
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                table.remove(&key);
                continue;
            };
            let value = table.get_mut(&key).expect("key listed above");
            if !self.value(&path, value, schema_value) {
                *value = schema_value.clone();
            }
        }
        // Required keys of this table; a missing `[link]` is an empty one.
        if prefix.is_empty() && !table.contains_key("link") {
            table.insert("link".into(), Value::Table(Table::new()));
            if let (Some(Value::Table(link)), Some(Value::Table(sub))) =
                (table.get_mut("link"), schema.get("link"))
            {
                self.table("link", link, sub);
            }
        }
        let generic_prefix = generic(prefix);
        for (field, schema_value) in schema {
            if table.contains_key(field)
                || !REQUIRED.contains(&join(&generic_prefix, field).as_str())
            {
                continue;
            }
            let path = join(prefix, field);
            self.out.push(format!(
                "{path}: missing field `{field}` (required, no default: {})",
                allowed(&path, schema_value)
            ));
            self.replaced.push(path);
            table.insert(field.clone(), schema_value.clone());
        }
    }

    /// Checks one value; false when it had to be replaced.
    fn value(&mut self, path: &str, value: &mut Value, schema_value: &Value) -> bool {
        match (schema_value, &*value) {
            (Value::Float(_), Value::Float(_)) => true,
            (Value::Float(_), Value::Integer(i)) => {
                *value = Value::Float(*i as f64);
                true
            }
            (Value::Integer(_), Value::Integer(i)) => {
                if *i >= 0 {
                    return true;
                }
                let msg = match whole_rule(path) {
                    Some(rule) => rule.check_integer(path, *i).err(),
                    None => None,
                }
                .unwrap_or_else(|| format!("{path}: must be a whole number >= 0, got {i}"));
                self.out.push(msg);
                self.replaced.push(path.to_string());
                false
            }
            (Value::Integer(_), Value::Float(f)) => {
                let f = *f;
                let ok = f.is_finite()
                    && f.fract() == 0.0
                    && (0.0..=super::validate::MAX_EXACT_FLOAT_INTEGER).contains(&f);
                if ok {
                    *value = Value::Integer(f as i64);
                    return true;
                }
                let msg = match whole_rule(path) {
                    Some(rule) => rule.check(path, f).err(),
                    None => None,
                }
                .unwrap_or_else(|| {
                    format!("{path}: must be a whole number >= 0, got {}", fmt_num(f))
                });
                self.out.push(msg);
                self.replaced.push(path.to_string());
                false
            }
            (Value::String(_), Value::String(_)) | (Value::Boolean(_), Value::Boolean(_)) => true,
            (Value::Table(schema), Value::Table(_)) => {
                if let Value::Table(t) = value {
                    self.table(path, t, schema);
                }
                true
            }
            (Value::Array(schema), Value::Array(_)) => {
                let element = schema.first().cloned().unwrap_or(Value::Float(0.0));
                if let Value::Array(items) = value {
                    for (i, item) in items.iter_mut().enumerate() {
                        let item_path = format!("{path}.{i}");
                        if !self.value(&item_path, item, &element) {
                            *item = element.clone();
                        }
                    }
                }
                true
            }
            _ => {
                self.type_error(path, value, schema_value);
                false
            }
        }
    }
}

/// A value as the user wrote it, for `got …`.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{} (a string)", fmt_text(s)),
        Value::Integer(i) => format!("{i} (an integer)"),
        Value::Float(f) => format!("{} (a float)", fmt_num(*f)),
        Value::Boolean(b) => format!("{b} (a boolean)"),
        Value::Datetime(d) => format!("{d} (a date-time)"),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Table(_) => "a table".into(),
    }
}
