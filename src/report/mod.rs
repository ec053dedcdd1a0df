//! Reports: the JSON/CSV records of a run, a sweep and a route (`route`), and the human
//! summaries, as strings. Writing them to files is the binary's job; charts are drawn from
//! the same records.
//!
//! Must never depend on clap or touch the file system.

pub mod charts;
pub mod csv;
pub mod eve;
pub mod figures;
pub mod grid;
pub mod heatmap;
pub mod json;
pub mod markdown;
pub mod route;
pub mod table;

#[cfg(test)]
pub(crate) mod testing;

/// What tables and report.md show for a number that is undefined (a QBER over no bits, an
/// efficiency over zero entropy): an en dash, never a made-up 0.
pub const UNDEFINED: &str = "–";

/// `q` as a percentage with `decimals` decimals and a `%` sign, or [`UNDEFINED`].
pub fn percent(q: Option<f64>, decimals: usize) -> String {
    match q {
        Some(q) if q.is_finite() => format!("{:.decimals$}%", 100.0 * q),
        _ => UNDEFINED.to_string(),
    }
}
