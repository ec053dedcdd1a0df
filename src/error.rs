//! The library's error type: one enum, a full sentence per variant.
//!
//! Must never depend on the binary (no clap, no anyhow) and never print.

use thiserror::Error as ThisError;

/// Everything the library reports as a failure. Messages name the key, the value found and
/// what is allowed, so a user can fix the input without reading the code.
#[derive(Debug, ThisError)]
pub enum Error {
    /// The scenario text is not valid TOML or does not match the schema (unknown key, wrong type).
    #[error("{0}")]
    ScenarioSyntax(String),
    /// One or more scenario values are outside their allowed range; one line per violation.
    #[error("invalid scenario:\n{}", .0.iter().map(|v| format!("  - {v}")).collect::<Vec<_>>().join("\n"))]
    ScenarioInvalid(Vec<String>),
    /// The route file is not valid TOML, or its base scenario file cannot be read.
    #[error("{0}")]
    RouteSyntax(String),
    /// One or more route values are wrong (schema, ranges, graph); one line per violation,
    /// each starting with its key path (e.g. `spans[2].link.length_km`).
    #[error("invalid route:\n{}", .0.iter().map(|v| format!("  - {v}")).collect::<Vec<_>>().join("\n"))]
    RouteInvalid(Vec<String>),
    /// A dotted key path (for sweeps) that does not name a numeric scenario value.
    #[error("{0}")]
    UnknownKey(String),
    /// An argument to a library routine is outside its allowed range.
    #[error("{0}")]
    InvalidArgument(String),
    /// An environment variable the library reads (`QKDSIM_PA_BACKEND`) has a value it does
    /// not accept; the message names the variable, the value and the allowed values.
    #[error("{0}")]
    Environment(String),
    /// The caller set the cancellation flag of a long call (`RunOptions::cancel`, the
    /// sweep's, the route's or the reconcile experiment's) and the call stopped early; its
    /// partial results are dropped.
    #[error("cancelled: the caller asked the computation to stop")]
    Cancelled,
}

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
