//! One `qkdsim run`: the engine, sifting into blocks, and the report record with the
//! closed-form expectation beside every simulated figure.
//!
//! Must never depend on `report` (it produces the record; rendering is elsewhere) or do I/O.

use super::expected::{IntensityExpectation, expected_per_intensity};
use crate::physics::LinkModel;
use crate::protocol::{PulseEngine, SiftedBlock, Sifter};
use crate::scenario::Scenario;
use serde::Serialize;
use std::time::Instant;

/// Overrides of the scenario's `[simulation]` values (from the command line).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Seed instead of `simulation.seed`.
    pub seed: Option<u64>,
    /// Pulses instead of `simulation.pulses` / `duration_s`.
    pub pulses: Option<u64>,
}

/// Simulated and expected figures of one intensity class (DESIGN §5 `per_intensity`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntensityReport {
    /// Label.
    pub label: String,
    /// mu_k.
    pub mean_photon_number: f64,
    /// Pulses sent with this intensity.
    pub pulses: u64,
    /// Pulses with at least one click.
    pub detections: u64,
    /// detections / pulses.
    pub gain: f64,
    /// Double clicks.
    pub double_clicks: u64,
    /// Sifted Z bits.
    pub sifted_z: u64,
    /// Errors among them.
    pub errors_z: u64,
    /// errors_z / sifted_z.
    pub qber_z: f64,
    /// Sifted X bits.
    pub sifted_x: u64,
    /// Errors among them.
    pub errors_x: u64,
    /// errors_x / sifted_x.
    pub qber_x: f64,
    /// Closed-form expectation for this class.
    pub expected: IntensityExpectation,
}

/// Seconds spent per stage (DESIGN §5 `timings`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Timings {
    /// Pulse engine (wall time of the parallel simulation).
    pub engine_s: f64,
    /// Sifting into blocks.
    pub sifting_s: f64,
    /// Parameter estimation.
    pub estimation_s: f64,
    /// Cascade.
    pub reconciliation_s: f64,
    /// Verification hash.
    pub verification_s: f64,
    /// Toeplitz hashing.
    pub privacy_amplification_s: f64,
    /// Whole run.
    pub total_s: f64,
}

/// The record of one run (DESIGN §5, `run --json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Seed of the run.
    pub seed: u64,
    /// Pulses sent.
    pub pulses_sent: u64,
    /// Link time those pulses take, in seconds.
    pub link_time_s: f64,
    /// Pulses with at least one click.
    pub detections: u64,
    /// Per intensity class.
    pub per_intensity: Vec<IntensityReport>,
    /// Sifted Z bits (key basis), all intensities.
    pub sifted_bits_z: u64,
    /// Sifted X bits.
    pub sifted_bits_x: u64,
    /// QBER of all sifted Z bits.
    pub qber_z: f64,
    /// QBER of all sifted X bits.
    pub qber_x: f64,
    /// Post-processing blocks formed (the last one may be partial).
    pub blocks: u64,
    /// Engine chunks, and how many were re-run from the previous chunk's detector state.
    pub engine_chunks: u64,
    /// See `engine_chunks`.
    pub engine_rerun_chunks: u64,
    /// Seconds per stage.
    pub timings: Timings,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b > 0 { a as f64 / b as f64 } else { 0.0 }
}

/// Runs the engine and sifting for a scenario; every completed block is handed to
/// `on_block` as soon as it exists (the caller post-processes it), the final partial one
/// last. `progress` receives the number of pulses simulated so far.
pub fn simulate(
    scenario: &Scenario,
    options: &RunOptions,
    progress: &(dyn Fn(u64) + Sync),
    mut on_block: impl FnMut(SiftedBlock),
) -> RunReport {
    let started = Instant::now();
    let seed = options.seed.unwrap_or(scenario.spec.simulation.seed);
    let pulses = options.pulses.unwrap_or_else(|| scenario.pulses());
    let model = LinkModel::from_scenario(scenario);
    let engine = PulseEngine::new(&model, seed);
    let mut sifter = Sifter::new(
        model.intensities.len(),
        scenario.spec.postprocessing.block_bits as usize,
    );
    let mut sifting_s = 0.0;
    let mut blocks = 0u64;
    let stats = engine.run(pulses, progress, |chunk| {
        let t = Instant::now();
        let done = sifter.push_chunk(&chunk);
        sifting_s += t.elapsed().as_secs_f64();
        for b in done {
            blocks += 1;
            on_block(b);
        }
    });
    if let Some(b) = sifter.finish() {
        blocks += 1;
        on_block(b);
    }
    let total_s = started.elapsed().as_secs_f64();
    let expected = expected_per_intensity(&model);
    let per_intensity: Vec<IntensityReport> = model
        .intensities
        .iter()
        .enumerate()
        .map(|(k, class)| {
            let c = &sifter.totals[k];
            let n = sifter.pulses_per_intensity[k];
            IntensityReport {
                label: class.label.clone(),
                mean_photon_number: class.mean_photon_number,
                pulses: n,
                detections: c.detections,
                gain: ratio(c.detections, n),
                double_clicks: c.double_clicks,
                sifted_z: c.sifted_z,
                errors_z: c.errors_z,
                qber_z: ratio(c.errors_z, c.sifted_z),
                sifted_x: c.sifted_x,
                errors_x: c.errors_x,
                qber_x: ratio(c.errors_x, c.sifted_x),
                expected: expected[k].clone(),
            }
        })
        .collect();
    let sum = |f: fn(&IntensityReport) -> u64| per_intensity.iter().map(f).sum::<u64>();
    let (sz, ez, sx, ex) = (
        sum(|r| r.sifted_z),
        sum(|r| r.errors_z),
        sum(|r| r.sifted_x),
        sum(|r| r.errors_x),
    );
    RunReport {
        scenario: scenario.spec.name.clone(),
        seed,
        pulses_sent: pulses,
        link_time_s: pulses as f64 / model.rep_rate_hz,
        detections: sum(|r| r.detections),
        per_intensity,
        sifted_bits_z: sz,
        sifted_bits_x: sx,
        qber_z: ratio(ez, sz),
        qber_x: ratio(ex, sx),
        blocks,
        engine_chunks: stats.chunks,
        engine_rerun_chunks: stats.rerun_chunks,
        timings: Timings {
            engine_s: total_s - sifting_s,
            sifting_s,
            total_s,
            ..Timings::default()
        },
    }
}
