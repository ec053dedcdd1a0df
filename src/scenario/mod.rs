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
mod spec;
mod validate;

pub use keys::{get_numeric, numeric_keys, with_value};
pub use spec::*;
pub use validate::{CASCADE_VARIANTS, ENGINES, MAX_PULSES};

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
    pub fn parse(text: &str, origin: &str) -> Result<Scenario> {
        let spec: ScenarioSpec = toml::from_str(text).map_err(|e| {
            Error::ScenarioSyntax(format!("{origin}: {}", e.to_string().trim_end()))
        })?;
        Scenario::from_spec(spec)
    }

    /// Validates a spec, reporting every violation with its key path.
    pub fn from_spec(spec: ScenarioSpec) -> Result<Scenario> {
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

    /// Number of pulses the run sends: `simulation.pulses`, or `duration_s * rep_rate_hz`.
    pub fn pulses(&self) -> u64 {
        let sim = &self.spec.simulation;
        match (sim.pulses, sim.duration_s) {
            (Some(p), _) => p.round() as u64,
            (None, Some(d)) => (d * self.spec.source.rep_rate_hz).round() as u64,
            (None, None) => DEFAULT_PULSES as u64,
        }
    }
}
