//! One `qkdsim run`: the engine, sifting into blocks, the per-block post-processing
//! pipeline (overlapping the simulation of later blocks), and the report record with the
//! closed-form expectation and the theory rates beside every simulated figure.
//!
//! Must never depend on `report` (it produces the record; rendering is elsewhere) or do I/O.

use super::pipeline::{BlockKeys, BlockReport, PipelineConfig, process_block};
use super::timeline::{CompensationReport, TimePlan, TimeWindow, assign_secret_bits, drive};
use crate::bits::BitVec;
use crate::estimation::assumptions::{SecurityWarning, security_warnings};
use crate::estimation::composed_epsilon;
use crate::estimation::{DetectorTheory, scenario_rates, scenario_rates_with};
use crate::physics::LinkModel;
use crate::physics::expected::{
    IntensityExpectation, expected_per_intensity, expected_with_detector_memory,
};
use crate::protocol::event::{Engine, EngineKind, choose_engine};
use crate::protocol::{SiftedBlock, Sifter};
use crate::scenario::Scenario;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Overrides of the scenario's `[simulation]` values (from the command line).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Engine instead of `simulation.engine`: `pulse`, `event` or `auto`.
    pub engine: Option<String>,
    /// Seed instead of `simulation.seed`.
    pub seed: Option<u64>,
    /// Pulses instead of `simulation.pulses` / `duration_s`.
    pub pulses: Option<u64>,
    /// Keep Alice's and Bob's final keys (for `--keys-out`).
    pub keep_keys: bool,
    /// Keep every block's final keys separately (for the route layer's key stores).
    pub keep_block_keys: bool,
    /// Cancellation: once another thread sets the flag, the engine starts no further
    /// batch of chunks, no further block is post-processed, and [`run`] returns
    /// [`crate::Error::Cancelled`] (after the blocks in flight finish).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl RunOptions {
    /// Whether the caller has asked the run to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Simulated and expected figures of one intensity class (DESIGN §5 `per_intensity`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
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
    /// errors_z / sifted_z; `None` (`null`) when sifted_z = 0, a rate over no bits being
    /// undefined.
    pub qber_z: Option<f64>,
    /// Sifted X bits.
    pub sifted_x: u64,
    /// Errors among them.
    pub errors_x: u64,
    /// errors_x / sifted_x; `None` (`null`) when sifted_x = 0.
    pub qber_x: Option<f64>,
    /// Closed-form expectation for this class, without detector memory (DESIGN §2).
    pub expected: IntensityExpectation,
    /// Expectation with dead time and afterpulsing in the stationary mean-field model
    /// ([`expected_with_detector_memory`]); `null` when the detectors have no memory.
    pub expected_detector_memory: Option<IntensityExpectation>,
}

/// Seconds spent per stage (DESIGN §5 `timings`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Seed of the run.
    pub seed: u64,
    /// Engine that simulated the pulses (`pulse` or `event`; `auto` resolved).
    pub engine: String,
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
    /// QBER of all sifted Z bits; `None` (`null`) when there are none.
    pub qber_z: Option<f64>,
    /// QBER of all sifted X bits; `None` (`null`) when there are none.
    pub qber_x: Option<f64>,
    /// Post-processing blocks formed (the last one may be partial).
    pub blocks: u64,
    /// Engine chunks, and how many were simulated again from the previous chunk's
    /// detector state (a chunk starting in a common dead time that the event engine's
    /// blind-start coupling settles without a second simulation is not counted).
    pub engine_chunks: u64,
    /// See `engine_chunks`.
    pub engine_rerun_chunks: u64,
    /// Error-correction totals.
    pub ec: EcSummary,
    /// Privacy-amplification totals.
    pub pa: PaSummary,
    /// Final secret key bits over all blocks.
    pub secret_bits: u64,
    /// secret_bits / pulses_sent.
    pub secret_bits_per_pulse: f64,
    /// secret_bits / link time, bits per second.
    pub secret_key_rate_bps: f64,
    /// Every produced final key pair was identical (vacuously true without key).
    pub final_keys_match: bool,
    /// Why the run produced no key (null when some block produced key).
    pub aborted: Option<String>,
    /// Every way the scenario leaves the assumptions of the key-length proof (Lim et al.
    /// 2014); keys are still produced but flagged. Empty when the proof covers the
    /// modelled receiver ([`security_warnings`]).
    pub security_warnings: Vec<SecurityWarning>,
    /// Composed security of every key of the run: blocks post-processed (aborted ones
    /// included) times (eps_sec + eps_cor), capped at 1 ([`composed_epsilon`]); channel
    /// authentication and the security warnings' departures are not covered.
    pub epsilon_total: f64,
    /// Blocks that produced no key.
    pub aborted_blocks: u64,
    /// Mean modelled latency from a block's last pulse to its final key, seconds (fibre
    /// delay and classical round trips; see `analysis::pipeline`; deterministic).
    pub mean_block_latency_s: f64,
    /// Theory for the same scenario.
    pub theory: TheoryBeside,
    /// Seconds per stage (`engine_s` and `total_s` wall time; the post-processing stages
    /// summed over blocks, which run in parallel with the engine).
    pub timings: Timings,
    /// One record per post-processing block, in order.
    pub per_block: Vec<BlockReport>,
    /// Share of link time producing key (up time / run time); present when the channel
    /// drifts, a compensation policy is set or windows are recorded (`analysis::timeline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability: Option<f64>,
    /// Realignments, time spent realigning and availability (same condition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compensation: Option<CompensationReport>,
    /// Per window of `simulation.window_s`: state, sifted bits, QBERs, secret bits
    /// (DESIGN §7 `time_series`); absent without windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_series: Vec<TimeWindow>,
    /// What Eve knows, summed over blocks (DESIGN §7 `eve`); present under an attack only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eve: Option<EveSummary>,
    /// Key the naive bound (every detection a single photon) would have produced, summed
    /// over blocks (DESIGN §7, "under attack"); present under an attack only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naive_secret_bits: Option<u64>,
}

/// What Eve knows of the whole run: the blocks' [`super::pipeline::EveReport`]s summed.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct EveSummary {
    /// The attack.
    pub attack: String,
    /// Share of pulses attacked (`adversary.fraction`).
    pub fraction: f64,
    /// Sifted Z bits whose value Eve knows.
    pub known_sifted_bits: u64,
    /// Sifted Z bits in all.
    pub sifted_bits: u64,
    /// Independent linear functions of the final key Eve can compute, summed over blocks;
    /// `null` when some block was too long for the exact count (`blocks_not_counted`).
    pub known_final_key_bits: Option<u64>,
    /// Final-key bits (the run's `secret_bits`).
    pub final_key_bits: u64,
    /// The naive bound's key (as `naive_secret_bits`).
    pub naive_secret_bits: u64,
    /// Eve's known functions of the naive key, summed; `null` as above.
    pub naive_known_final_key_bits: Option<u64>,
    /// Blocks whose final-key count was not computed (longer than `exact_limit_bits`).
    pub blocks_not_counted: u64,
    /// Longest block (sifted bits) for which the count runs
    /// ([`super::pipeline::EVE_COUNT_MAX_BITS`]).
    pub exact_limit_bits: u64,
    /// The PNS attack's tuning (PNS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pns: Option<crate::physics::PnsTuning>,
}

impl EveSummary {
    /// The sum of `blocks`' reports under `model`'s adversary; `None` without one.
    pub fn from_blocks(model: &LinkModel, blocks: &[BlockReport]) -> Option<EveSummary> {
        let adv = model.adversary.as_ref()?;
        let mut s = EveSummary {
            attack: adv.attack.as_str().into(),
            fraction: adv.fraction,
            known_final_key_bits: Some(0),
            naive_known_final_key_bits: Some(0),
            exact_limit_bits: super::pipeline::EVE_COUNT_MAX_BITS as u64,
            pns: adv.pns,
            ..EveSummary::default()
        };
        let add = |total: &mut Option<u64>, x: Option<u64>| {
            *total = total.zip(x).map(|(a, b)| a + b);
        };
        for b in blocks {
            let Some(e) = &b.eve else { continue };
            s.known_sifted_bits += e.known_sifted_bits;
            s.sifted_bits += b.sifted_bits;
            s.final_key_bits += e.final_key_bits;
            s.naive_secret_bits += e.naive_secret_bits;
            add(&mut s.known_final_key_bits, e.known_final_key_bits);
            add(
                &mut s.naive_known_final_key_bits,
                e.naive_known_final_key_bits,
            );
            s.blocks_not_counted += u64::from(
                e.known_final_key_bits.is_none() || e.naive_known_final_key_bits.is_none(),
            );
        }
        Some(s)
    }
}

/// A run's report and, if asked for, the final keys (all blocks concatenated).
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The record.
    pub report: RunReport,
    /// Alice's and Bob's final keys, when `RunOptions::keep_keys` was set.
    pub keys: Option<BlockKeys>,
    /// Per block, in the order of `report.per_block`, its final keys (`None` for a block
    /// without key), when `RunOptions::keep_block_keys` was set.
    pub block_keys: Option<Vec<Option<BlockKeys>>>,
}

/// Error-correction totals (DESIGN §5 `ec`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct EcSummary {
    /// Parity bits disclosed by Cascade over all blocks.
    pub leaked_bits: u64,
    /// leaked_bits / (input bits * h(qber_z)) over the reconciled blocks.
    pub efficiency: f64,
    /// Cascade round trips over all blocks.
    pub channel_uses: u64,
    /// Cascade messages over all blocks.
    pub messages: u64,
    /// Blocks with errors left after Cascade (all caught by verification).
    pub residual_error_blocks: u64,
    /// Blocks whose verification hashes agreed.
    pub verified_blocks: u64,
    /// Blocks reconciled.
    pub reconciled_blocks: u64,
    /// Sifted bits that went through Cascade.
    pub input_bits: u64,
    /// Verification tag bits disclosed over all blocks.
    pub verification_tag_bits: u64,
}

/// Privacy-amplification totals (DESIGN §5 `pa`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct PaSummary {
    /// Corrected bits hashed.
    pub input_bits: u64,
    /// Final key bits.
    pub output_bits: u64,
}

/// Theory for the same scenario, beside the simulation (DESIGN §5 `theory`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct TheoryBeside {
    /// Expected gain per intensity, in the detector model of `detector_model` (the
    /// closed form when the detectors have no memory).
    pub gain_per_intensity: Vec<f64>,
    /// Expected Z QBER per intensity, likewise.
    pub qber_z_per_intensity: Vec<f64>,
    /// How dead time and afterpulsing enter every theory figure here: `mean_field`, the
    /// stationary model of the run table (`per_intensity[].expected_detector_memory`).
    pub detector_model: String,
    /// Asymptotic decoy key rate (bits per pulse).
    pub secret_bits_per_pulse_asymptotic: f64,
    /// Finite-key rate at the scenario's block size (bits per pulse), with the assumed
    /// error-correction inefficiency `postprocessing.f_ec`.
    pub secret_bits_per_pulse_finite: f64,
    /// The same with the inefficiency Cascade measured in this run (`ec.efficiency`), so it
    /// compares like with like with `secret_bits_per_pulse`; null when nothing was
    /// reconciled.
    pub secret_bits_per_pulse_finite_measured_f: Option<f64>,
    /// PLOB bound of the channel (bits per pulse).
    pub plob_bits_per_pulse: Option<f64>,
    /// Which asymptotic method was used.
    pub asymptotic_method: String,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b > 0 { a as f64 / b as f64 } else { 0.0 }
}

/// An error rate a / b, undefined (`None`) over no bits (DESIGN §7: a QBER over zero bits
/// is `null`).
pub fn rate(errors: u64, bits: u64) -> Option<f64> {
    (bits > 0).then(|| errors as f64 / bits as f64)
}

/// The engine for a choice (`pulse`, `event`, or `auto`, which applies
/// [`choose_engine`]). Unknown names cannot reach here: scenario validation and the
/// command line only let the three through; anything else is treated as `auto`.
///
/// With an adversary, `auto` picks the event engine only where it simulates the attack
/// exactly (beam splitting of a Poisson source, [`crate::protocol::event::BeamTap`]) and
/// the `auto` rule would pick it anyway; otherwise the pulse engine.
pub fn engine_kind(choice: &str, model: &LinkModel) -> EngineKind {
    match choice {
        "pulse" => EngineKind::Pulse,
        "event" => EngineKind::Event,
        _ if model.adversary.is_some()
            && crate::protocol::event::BeamTap::for_link(model).is_none() =>
        {
            EngineKind::Pulse
        }
        _ => choose_engine(model),
    }
}

/// Runs the engine and sifting only (no post-processing); every block is handed to
/// `on_block` as soon as it exists, the final partial one last. The run follows the
/// scenario's drift, compensation and windows (`analysis::timeline`); an error when their
/// cut of the run is too fine ([`TimePlan::new`]).
pub fn simulate(
    scenario: &Scenario,
    options: &RunOptions,
    progress: &(dyn Fn(u64) + Sync),
    mut on_block: impl FnMut(SiftedBlock),
) -> crate::Result<RunReport> {
    let started = Instant::now();
    let seed = options.seed.unwrap_or(scenario.spec.simulation.seed);
    let pulses = options.pulses.unwrap_or_else(|| scenario.pulses());
    let model = LinkModel::from_scenario(scenario);
    let plan = TimePlan::new(scenario, pulses)?;
    let choice = options
        .engine
        .as_deref()
        .unwrap_or(&scenario.spec.simulation.engine);
    if let Some(adv) = &scenario.spec.adversary {
        crate::scenario::event_engine_attack(
            choice,
            &adv.attack,
            scenario.spec.source.single_photon,
        )
        .map_err(|e| {
            crate::Error::InvalidArgument(e.replacen(
                "simulation.engine:",
                "engine (simulation.engine or --engine):",
                1,
            ))
        })?;
    }
    let kind = engine_kind(choice, &model);
    let engine = Engine::new(kind, &model, seed);
    let mut sifter = Sifter::new(
        model.intensities.len(),
        scenario.spec.postprocessing.block_bits as usize,
    );
    let mut sifting_s = 0.0;
    let mut blocks = 0u64;
    let driven = drive(
        &plan,
        &model,
        &engine,
        seed,
        progress,
        options.cancel.as_deref(),
        |chunk| {
            let t = Instant::now();
            let done = sifter.push_chunk(chunk);
            sifting_s += t.elapsed().as_secs_f64();
            for b in done {
                blocks += 1;
                on_block(b);
            }
        },
    );
    let stats = &driven.stats;
    if let Some(b) = sifter.finish() {
        blocks += 1;
        on_block(b);
    }
    let total_s = started.elapsed().as_secs_f64();
    let expected = expected_per_intensity(&model);
    let with_memory = expected_with_detector_memory(&model);
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
                qber_z: rate(c.errors_z, c.sifted_z),
                sifted_x: c.sifted_x,
                errors_x: c.errors_x,
                qber_x: rate(c.errors_x, c.sifted_x),
                expected: expected[k].clone(),
                expected_detector_memory: with_memory.as_ref().map(|m| m[k].clone()),
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
    let beside = with_memory.as_ref().unwrap_or(&expected);
    let theory = TheoryBeside {
        gain_per_intensity: beside.iter().map(|e| e.gain).collect(),
        qber_z_per_intensity: beside.iter().map(|e| e.qber_z).collect(),
        detector_model: DetectorTheory::MeanField.as_str().into(),
        ..TheoryBeside::default()
    };
    let over_time = !plan.is_static();
    Ok(RunReport {
        scenario: scenario.spec.name.clone(),
        seed,
        engine: engine.kind().as_str().to_string(),
        pulses_sent: driven.pulses_sent,
        link_time_s: pulses as f64 / model.rep_rate_hz,
        detections: sum(|r| r.detections),
        per_intensity,
        sifted_bits_z: sz,
        sifted_bits_x: sx,
        qber_z: rate(ez, sz),
        qber_x: rate(ex, sx),
        blocks,
        engine_chunks: stats.chunks,
        engine_rerun_chunks: stats.rerun_chunks,
        ec: EcSummary::default(),
        pa: PaSummary::default(),
        secret_bits: 0,
        secret_bits_per_pulse: 0.0,
        secret_key_rate_bps: 0.0,
        final_keys_match: true,
        aborted: Some("post-processing not run".into()),
        security_warnings: security_warnings(scenario),
        epsilon_total: 0.0,
        aborted_blocks: 0,
        mean_block_latency_s: 0.0,
        theory,
        timings: Timings {
            engine_s: total_s - sifting_s,
            sifting_s,
            total_s,
            ..Timings::default()
        },
        per_block: Vec::new(),
        availability: over_time.then_some(driven.report.availability),
        compensation: over_time.then_some(driven.report),
        time_series: driven.windows,
        eve: None,
        naive_secret_bits: None,
    })
}

/// The whole run: simulation, sifting and, for every block, estimation, Cascade,
/// verification, key length and privacy amplification. Blocks are post-processed on the
/// thread pool while the engine goes on (at most two per thread wait at a time; beyond
/// that the engine processes a block itself before continuing), and every block's
/// result depends only on its own bits and streams, so the record is identical for any
/// thread count.
pub fn run(
    scenario: &Scenario,
    options: &RunOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> crate::Result<RunOutput> {
    let started = Instant::now();
    let seed = options.seed.unwrap_or(scenario.spec.simulation.seed);
    let cfg = PipelineConfig::from_scenario(scenario, seed)?;
    let rep_rate = scenario.spec.source.rep_rate_hz;
    let results: Mutex<Vec<(BlockReport, Option<BlockKeys>)>> = Mutex::new(Vec::new());
    let in_flight = AtomicUsize::new(0);
    let max_in_flight = 2 * rayon::current_num_threads();
    // Running X-basis counts: the public QBER estimate for each block (see `pipeline`).
    let mut x_sifted = 0u64;
    let mut x_errors = 0u64;
    let over_time = {
        let pulses = options.pulses.unwrap_or_else(|| scenario.pulses());
        !TimePlan::new(scenario, pulses)?.is_static()
    };
    let mut report = rayon::scope(|scope| {
        let (cfg, results, in_flight) = (&cfg, &results, &in_flight);
        simulate(scenario, options, progress, |block| {
            if options.cancelled() {
                return;
            }
            for c in &block.per_intensity {
                x_sifted += c.sifted_x;
                x_errors += c.errors_x;
            }
            // A static link: the run's X counts so far. A link over time (drift,
            // realignments): the larger of that and the block's own X estimate (public
            // like all test bits), so Cascade follows a rising QBER; the larger one, since
            // under a rotation the key basis can be worse than the test basis, and a
            // Cascade tuned for too low a QBER leaves errors that verification catches.
            let running = (x_errors as f64 + 1.0) / (x_sifted as f64 + 2.0);
            let estimate = if over_time {
                let (n, e) = block
                    .per_intensity
                    .iter()
                    .fold((0, 0), |(n, e), c| (n + c.sifted_x, e + c.errors_x));
                running.max((e as f64 + 1.0) / (n as f64 + 2.0))
            } else {
                running
            };
            let keep = options.keep_keys || options.keep_block_keys;
            let work = move |block: SiftedBlock| {
                let (r, keys) = process_block(&block, estimate, cfg, rep_rate);
                results
                    .lock()
                    .expect("no panics while holding the lock")
                    .push((r, if keep { keys } else { None }));
            };
            if in_flight.load(Ordering::SeqCst) >= max_in_flight {
                work(block);
            } else {
                in_flight.fetch_add(1, Ordering::SeqCst);
                scope.spawn(move |_| {
                    work(block);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            }
        })
    })?;
    if options.cancelled() {
        return Err(crate::Error::Cancelled);
    }
    let mut blocks = results
        .into_inner()
        .expect("no panics while holding the lock");
    blocks.sort_by_key(|(r, _)| r.index);

    let mut ec = EcSummary::default();
    let mut pa = PaSummary::default();
    let mut entropy_bits = 0.0;
    let mut keys = options.keep_keys.then(|| BlockKeys {
        alice: BitVec::new(),
        bob: BitVec::new(),
    });
    let t = &mut report.timings;
    for (b, block_keys) in &blocks {
        t.estimation_s += b.timings.estimation_s;
        t.reconciliation_s += b.timings.reconciliation_s;
        t.verification_s += b.timings.verification_s;
        t.privacy_amplification_s += b.timings.privacy_amplification_s;
        if b.channel_uses > 0 || b.leaked_bits > 0 {
            ec.reconciled_blocks += 1;
            ec.input_bits += b.sifted_bits;
            ec.leaked_bits += b.leaked_bits;
            ec.channel_uses += b.channel_uses;
            ec.messages += b.messages;
            ec.verification_tag_bits += b.verification_tag_bits as u64;
            ec.residual_error_blocks += (b.residual_errors > 0) as u64;
            ec.verified_blocks += b.verified as u64;
            entropy_bits +=
                b.sifted_bits as f64 * crate::estimation::binary_entropy(b.qber_z.unwrap_or(0.0));
        }
        if b.secret_bits > 0 {
            pa.input_bits += b.sifted_bits;
            pa.output_bits += b.secret_bits;
        }
        if let (Some(all), Some(k)) = (keys.as_mut(), block_keys) {
            all.alice.extend_from(&k.alice);
            all.bob.extend_from(&k.bob);
        }
    }
    ec.efficiency = if entropy_bits > 0.0 {
        ec.leaked_bits as f64 / entropy_bits
    } else {
        0.0
    };
    report.secret_bits = pa.output_bits;
    report.secret_bits_per_pulse = ratio(pa.output_bits, report.pulses_sent);
    report.secret_key_rate_bps = pa.output_bits as f64 / report.link_time_s.max(f64::MIN_POSITIVE);
    report.final_keys_match = blocks.iter().all(|(b, _)| b.final_keys_match);
    report.aborted_blocks = blocks.iter().filter(|(b, _)| b.secret_bits == 0).count() as u64;
    report.aborted = if pa.output_bits > 0 {
        None
    } else {
        Some(match blocks.iter().find_map(|(b, _)| b.aborted.clone()) {
            Some(reason) => format!("no block produced key; first reason: {reason}"),
            None => "no sifted key bits: not a single block was formed".into(),
        })
    };
    report.mean_block_latency_s = if blocks.is_empty() {
        0.0
    } else {
        blocks.iter().map(|(b, _)| b.latency_s).sum::<f64>() / blocks.len() as f64
    };
    report.ec = ec;
    report.pa = pa;
    report.epsilon_total = composed_epsilon(
        blocks.len() as u64,
        scenario.spec.postprocessing.epsilon_sec,
        scenario.spec.postprocessing.epsilon_cor,
    );
    let rates = scenario_rates(scenario);
    report.theory.secret_bits_per_pulse_asymptotic = rates.secret_bits_per_pulse_asymptotic;
    report.theory.secret_bits_per_pulse_finite = rates.secret_bits_per_pulse_finite;
    let f_measured = report.ec.efficiency;
    report.theory.secret_bits_per_pulse_finite_measured_f = (f_measured > 0.0).then(|| {
        scenario_rates_with(scenario, DetectorTheory::MeanField, Some(f_measured))
            .secret_bits_per_pulse_finite
    });
    report.theory.plob_bits_per_pulse = rates
        .plob_bits_per_pulse
        .is_finite()
        .then_some(rates.plob_bits_per_pulse);
    report.theory.asymptotic_method = rates.asymptotic_method;
    let mut block_keys = options.keep_block_keys.then(Vec::new);
    report.per_block = blocks
        .into_iter()
        .map(|(b, k)| {
            if let Some(all) = block_keys.as_mut() {
                all.push(k.filter(|_| b.secret_bits > 0));
            }
            b
        })
        .collect();
    report.eve = EveSummary::from_blocks(&LinkModel::from_scenario(scenario), &report.per_block);
    report.naive_secret_bits = report.eve.as_ref().map(|e| e.naive_secret_bits);
    if !report.time_series.is_empty() {
        let late = assign_secret_bits(
            &mut report.time_series,
            report
                .per_block
                .iter()
                .map(|b| (b.end_time_s + b.latency_s, b.secret_bits)),
        );
        if let Some(c) = report.compensation.as_mut() {
            c.secret_bits_after_last_window = late;
        }
    }
    report.timings.total_s = started.elapsed().as_secs_f64();
    Ok(RunOutput {
        report,
        keys,
        block_keys,
    })
}
