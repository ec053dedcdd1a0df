//! Test fixtures for the report modules: a real (tiny) run record to hang synthetic time
//! series on, so every renderer is tested on the record type it gets in production.

use crate::analysis::run::{RunOptions, RunReport, simulate};
use crate::analysis::timeline::{CompensationReport, LinkState, TimeWindow};
use crate::scenario::Scenario;

/// The record of a 1000-pulse static run (engine and sifting only).
pub fn static_report() -> RunReport {
    let s = Scenario::parse(
        "name = \"Report test link\"\n[link]\nlength_km = 10.0\n",
        "report test",
    )
    .expect("valid scenario");
    simulate(
        &s,
        &RunOptions {
            pulses: Some(1000),
            ..RunOptions::default()
        },
        &|_| {},
        |_| {},
    )
    .expect("a run")
}

/// `n` one-second entries; every `realign_every`-th (if any) is a realignment; up windows
/// carry 1000 Z and 100 X bits with error counts that vary with the index (the X errors
/// of window i are i % 13), and 50 secret bits every third window.
pub fn series(n: usize, realign_every: Option<usize>) -> Vec<TimeWindow> {
    (0..n)
        .map(|i| {
            let realigning = realign_every.is_some_and(|k| i % k == k - 1);
            let (sz, ez, sx, ex) = if realigning {
                (0, 0, 0, 0)
            } else {
                (1000, (i % 50) as u64, 100, (i % 13) as u64)
            };
            TimeWindow {
                start_s: i as f64,
                end_s: (i + 1) as f64,
                state: if realigning {
                    LinkState::Realigning
                } else {
                    LinkState::Up
                },
                sifted_bits_z: sz,
                errors_z: ez,
                qber_z: crate::analysis::run::rate(ez, sz),
                sifted_bits_x: sx,
                errors_x: ex,
                qber_x: crate::analysis::run::rate(ex, sx),
                secret_bits: if i % 3 == 0 { 50 } else { 0 },
            }
        })
        .collect()
}

/// A run record over link time: the static record with `series` and a compensation
/// summary of `policy` (threshold 0.05 for "threshold", interval 100 s for "periodic").
pub fn report_over_time(series: Vec<TimeWindow>, policy: &str) -> RunReport {
    let mut r = static_report();
    let n = series.len();
    let realigning = series
        .iter()
        .filter(|w| w.state == LinkState::Realigning)
        .map(|w| w.end_s - w.start_s)
        .sum::<f64>();
    r.link_time_s = series.last().map_or(0.0, |w| w.end_s);
    let c = CompensationReport {
        policy: policy.into(),
        realignments: series
            .iter()
            .filter(|w| w.state == LinkState::Realigning)
            .count() as u64,
        realigning_s: realigning,
        availability: 1.0 - realigning / (n.max(1) as f64),
        drift_rad2_per_s: 1e-3,
        secret_bits_after_last_window: 7,
        window_s: Some(1.0),
        drift_step_s: Some(1.0),
        interval_s: (policy == "periodic").then_some(100.0),
        qber_threshold: (policy == "threshold").then_some(0.05),
        realign_s: 1.0,
        residual_misalignment: 0.01,
    };
    r.availability = Some(c.availability);
    r.compensation = Some(c);
    r.time_series = series;
    r
}
