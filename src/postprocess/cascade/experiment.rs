//! The `qkdsim reconcile` experiment as a library call: random keys, planted errors, Cascade
//! and verification, repeated over independent runs in parallel, summarised.
//!
//! Run `i` draws its keys from `rng::stream(seed, Auxiliary, i)`, its shuffles from
//! `stream(seed, Reconciliation, i)` and its hash seed from `stream(seed, Verification, i)`,
//! and the summary folds the runs in index order, so every figure except the timings is
//! identical for any number of threads. Must never print, parse command lines or depend on
//! `physics`, `protocol` or `report`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::{Rng, RngExt};
use rayon::prelude::*;
use serde::Serialize;

use super::{CascadeVariant, MAX_KEY_BITS, ReconcileOptions, efficiency, reconcile_with};
use crate::bits::BitVec;
use crate::error::{Error, Result};
use crate::postprocess::verify;
use crate::rng::{Purpose, stream};

/// How errors are planted in Bob's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorModel {
    /// Exactly round(Q n) errors at uniformly random distinct positions.
    Exact,
    /// Each bit flipped independently with probability Q.
    Binomial,
}

/// Parameters of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentConfig {
    /// Key length n in bits, at least 1.
    pub bits: usize,
    /// QBER Q in (0, 0.5): planted error rate, and the estimate handed to Cascade.
    pub qber: f64,
    /// Cascade variant.
    pub variant: CascadeVariant,
    /// Number of independent runs, at least 1.
    pub runs: usize,
    /// Master seed.
    pub seed: u64,
    /// How errors are planted.
    pub error_model: ErrorModel,
    /// Correctness parameter of the verification hash.
    pub epsilon_cor: f64,
}

impl ExperimentConfig {
    /// A configuration with exact errors, 100 runs, seed 1 and eps_cor = 1e-15.
    pub fn new(bits: usize, qber: f64, variant: CascadeVariant) -> ExperimentConfig {
        ExperimentConfig {
            bits,
            qber,
            variant,
            runs: 100,
            seed: 1,
            error_model: ErrorModel::Exact,
            epsilon_cor: 1e-15,
        }
    }

    /// Checks every parameter; the message lists what is allowed.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.bits == 0 || self.bits > MAX_KEY_BITS {
            problems.push(format!(
                "bits must be in 1..={MAX_KEY_BITS}, got {}",
                self.bits
            ));
        }
        if !(self.qber > 0.0 && self.qber < 0.5) {
            problems.push(format!(
                "qber must be in the open interval (0, 0.5), got {}",
                self.qber
            ));
        }
        if self.runs == 0 {
            problems.push("runs must be at least 1, got 0".to_string());
        }
        if !(self.epsilon_cor > 0.0 && self.epsilon_cor < 1.0) {
            problems.push(format!(
                "epsilon_cor must be in (0, 1), got {}",
                self.epsilon_cor
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(problems.join("; ")))
        }
    }
}

impl ExperimentConfig {
    /// Estimated peak heap bytes per key bit of one run at this QBER: Alice's and Bob's
    /// keys, Cascade's shuffled copies, parity prefixes and block trees, and the binary
    /// searches' bookkeeping, which grows with the number of errors. Peak resident memory
    /// measured on 2^22-bit keys (all five variants, the largest shown; linear in the key
    /// length, checked at 2^24): 5.3 bytes per bit at Q = 0.001, 16.1 at 0.05, 34.6 at 0.2,
    /// 52.9 at 0.45. The estimate 20 + 120 Q lies above every measurement (by 24 % at
    /// Q = 0.05).
    pub fn estimated_bytes_per_bit(&self) -> f64 {
        20.0 + 120.0 * self.qber.clamp(0.0, 0.5)
    }

    /// Estimated peak heap bytes of one run ([`ExperimentConfig::estimated_bytes_per_bit`]
    /// times the key length, plus 16 MiB); runs on different threads each need this much
    /// at once.
    pub fn estimated_run_bytes(&self) -> f64 {
        self.estimated_bytes_per_bit() * self.bits as f64 + 16.0 * 1024.0 * 1024.0
    }

    /// Refuses, before any work, an experiment whose estimated memory
    /// ([`ExperimentConfig::estimated_run_bytes`] for each run in progress at once, one per
    /// thread of `threads`) exceeds `available` bytes; `source` says where that figure
    /// comes from (the caller reads it: the library does no I/O). The message names the
    /// arguments (`--bits`, `--threads`, as the command line spells them) and the largest
    /// key that fits.
    pub fn check_memory(&self, threads: usize, available: u64, source: &str) -> Result<()> {
        let at_once = self.runs.min(threads.max(1));
        let per_run = self.estimated_run_bytes();
        let needed = per_run * at_once as f64;
        if needed <= available as f64 {
            return Ok(());
        }
        let per_bit = self.estimated_bytes_per_bit();
        let room = (available as f64 / at_once as f64 - 16.0 * 1024.0 * 1024.0).max(0.0);
        let fit = ((room / per_bit).floor() as u64).min(MAX_KEY_BITS as u64);
        let runs_word = |n: usize| {
            if n == 1 {
                "1 run".to_string()
            } else {
                format!("{n} runs")
            }
        };
        let gib = |bytes: f64| format!("{:.2} GiB", bytes / (1024.0 * 1024.0 * 1024.0));
        Err(Error::InvalidArgument(format!(
            "--bits {} at --qber {} needs about {} per run (an estimated {:.0} bytes per key \
             bit: the two keys, Cascade's shuffled copies and parity trees, its binary \
             searches), {} for the {} at once (one per thread), but this process can use {} \
             ({}); at most {} bits fit with {} at once: lower --bits, or --threads to run \
             fewer at once",
            self.bits,
            self.qber,
            gib(per_run),
            per_bit,
            gib(needed),
            runs_word(at_once),
            gib(available as f64),
            source,
            fit,
            runs_word(at_once)
        )))
    }
}

/// Figures of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    /// Errors planted.
    pub planted_errors: u64,
    /// Parity bits disclosed by Cascade (the verification tag not included).
    pub leaked_bits: u64,
    /// Efficiency leaked / (n h(e)) with e the planted error fraction of this run; `None`
    /// (`null`) when no error was planted (h(0) = 0: a ratio over zero entropy is undefined).
    pub efficiency: Option<f64>,
    /// Round trips, independent queries batched.
    pub channel_uses: u64,
    /// Round trips with one query per round trip (the count before batching).
    pub sequential_round_trips: u64,
    /// Messages, batched per round.
    pub messages: u64,
    /// Errors left in Bob's key after Cascade (known only to the simulation).
    pub residual_errors: u64,
    /// Whether the verification tags agreed.
    pub verified: bool,
    /// Tag bits disclosed by verification.
    pub tag_bits: u32,
    /// Seconds spent in Cascade.
    pub seconds: f64,
}

/// Summary of the experiment. The first eleven fields are the `reconcile --json` contract
/// (DESIGN section 5); the rest are additions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentSummary {
    /// Key length n.
    pub bits: usize,
    /// QBER Q.
    pub qber: f64,
    /// Variant name.
    pub variant: String,
    /// Number of runs.
    pub runs: usize,
    /// Mean efficiency f = leaked / (n h(e)) over the runs where it is defined (at least one
    /// error planted, `efficiency_runs` of them); null if there are none, e.g. when
    /// round(Q n) = 0.
    pub efficiency_mean: Option<f64>,
    /// Sample standard deviation of the efficiency over the same runs (0 for one run).
    pub efficiency_std: Option<f64>,
    /// Mean round trips per run, independent queries batched into one exchange per round.
    pub channel_uses_mean: f64,
    /// Mean disclosed parity bits per run (Cascade only).
    pub leaked_bits_mean: f64,
    /// Runs whose corrected key still differs from Alice's.
    pub residual_error_runs: usize,
    /// Mean seconds of Cascade per run (one core each). Wall clock: a DESIGN §5 contract
    /// field kept at the top level, mirrored in `timings`.
    pub seconds_mean: f64,
    /// Throughput: bits x runs / wall-clock seconds of the whole parallel experiment.
    /// Wall clock, like `seconds_mean`: mirrored in `timings`.
    pub bits_per_second: f64,
    /// Runs over which `efficiency_mean` is taken: those with at least one planted error.
    pub efficiency_runs: usize,
    /// Sample standard deviation of the round trips.
    pub channel_uses_std: f64,
    /// Sample standard deviation of the disclosed bits.
    pub leaked_bits_std: f64,
    /// Mean messages per run (batched: one per direction per round).
    pub messages_mean: f64,
    /// Mean round trips per run with one query per round trip (the count before batching).
    pub sequential_round_trips_mean: f64,
    /// Largest number of round trips of any run.
    pub channel_uses_max: u64,
    /// residual_error_runs / runs.
    pub frame_error_rate: f64,
    /// Runs whose verification tags disagreed (flagged blocks).
    pub verification_failures: usize,
    /// Runs with a residual error that verification passed (should never happen).
    pub undetected_errors: usize,
    /// Tag length of the verification hash.
    pub tag_bits: u32,
    /// Mean bits disclosed in all: Cascade's parities plus the verification tag.
    pub disclosed_bits_mean: f64,
    /// How errors were planted.
    pub error_model: ErrorModel,
    /// Master seed.
    pub seed: u64,
    /// This host's figures (wall clock and worker threads): the only fields besides the
    /// two mirrored contract fields above that differ between machines and thread counts.
    pub timings: ExperimentTimings,
}

/// Wall-clock figures of an experiment (DESIGN §7: every wall-clock figure lives in a
/// `timings` object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentTimings {
    /// Mean seconds of Cascade per run.
    pub seconds_mean: f64,
    /// Bits x runs / wall-clock seconds of the whole experiment.
    pub bits_per_second: f64,
    /// Wall-clock seconds of the whole experiment.
    pub wall_seconds: f64,
    /// Worker threads available.
    pub threads: usize,
}

/// Runs the experiment on the current rayon pool.
pub fn run_experiment(config: &ExperimentConfig) -> Result<ExperimentSummary> {
    run_experiment_until(config, None)
}

/// [`run_experiment`] with a cancellation flag: once `stop` is set no further run starts,
/// and the call returns [`Error::Cancelled`] when the runs in progress end.
pub fn run_experiment_until(
    config: &ExperimentConfig,
    stop: Option<&AtomicBool>,
) -> Result<ExperimentSummary> {
    config.validate()?;
    let stopped = || stop.is_some_and(|s| s.load(Ordering::Relaxed));
    let started = Instant::now();
    let results: Vec<RunResult> = (0..config.runs)
        .into_par_iter()
        .map(|i| {
            if stopped() {
                return Err(Error::Cancelled);
            }
            run_one(config, i as u64)
        })
        .collect::<Result<_>>()?;
    if stopped() {
        return Err(Error::Cancelled);
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    Ok(summarise(config, &results, wall_seconds))
}

/// One run: keys from `stream(seed, Auxiliary, run_idx)`, then Cascade and verification.
pub fn run_one(config: &ExperimentConfig, run_idx: u64) -> Result<RunResult> {
    let n = config.bits;
    let mut key_rng = stream(config.seed, Purpose::Auxiliary, run_idx);
    let alice = random_key(n, &mut key_rng);
    let mut bob = alice.clone();
    let planted = plant_errors(&mut bob, config.qber, config.error_model, &mut key_rng);
    let mut cascade_rng = stream(config.seed, Purpose::Reconciliation, run_idx);
    let started = Instant::now();
    let outcome = reconcile_with(
        &alice,
        &bob,
        config.qber,
        config.variant,
        &mut cascade_rng,
        ReconcileOptions::default(),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let mut verify_rng = stream(config.seed, Purpose::Verification, run_idx);
    let check = verify::try_verify(
        &alice,
        &outcome.corrected,
        config.epsilon_cor,
        &mut verify_rng,
    )?;
    let residual = alice.hamming_distance(&outcome.corrected) as u64;
    Ok(RunResult {
        planted_errors: planted,
        leaked_bits: outcome.leaked_bits,
        efficiency: (planted > 0)
            .then(|| efficiency(outcome.leaked_bits, n, planted as f64 / n as f64)),
        channel_uses: outcome.channel_uses,
        sequential_round_trips: outcome.sequential_round_trips,
        messages: outcome.messages,
        residual_errors: residual,
        verified: check.keys_match,
        tag_bits: check.tag_bits,
        seconds,
    })
}

/// `n` uniform random bits.
pub fn random_key<R: Rng + ?Sized>(n: usize, rng: &mut R) -> BitVec {
    let words = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
    BitVec::from_words(words, n)
}

/// Flips bits of `key` per `model` at rate `qber`; returns how many were flipped.
pub fn plant_errors<R: Rng + ?Sized>(
    key: &mut BitVec,
    qber: f64,
    model: ErrorModel,
    rng: &mut R,
) -> u64 {
    let n = key.len();
    if n == 0 {
        return 0;
    }
    match model {
        ErrorModel::Exact => {
            let target = ((qber * n as f64).round() as usize).min(n);
            // Rejection on a bitmap of chosen positions: for target <= n/2 the expected
            // number of draws is below 1.4 x target, and the chosen set is uniform.
            let mut chosen = BitVec::zeros(n);
            let mut count = 0;
            while count < target {
                let i = rng.random_range(0..n);
                if !chosen.get(i) {
                    chosen.set(i, true);
                    count += 1;
                }
            }
            for (k, c) in key.words_mut().iter_mut().zip(chosen.words()) {
                *k ^= c;
            }
            target as u64
        }
        ErrorModel::Binomial => {
            // Gaps between errors are geometric; drawing them by inversion of one uniform
            // costs one draw per error instead of one per bit.
            if qber <= 0.0 {
                return 0;
            }
            let log_keep = (1.0 - qber).ln();
            let mut count = 0;
            let mut i = 0usize;
            loop {
                let u: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
                let gap = (u.ln() / log_keep).floor();
                if !gap.is_finite() || gap >= (n - i) as f64 {
                    break;
                }
                i += gap as usize;
                key.flip(i);
                count += 1;
                i += 1;
                if i >= n {
                    break;
                }
            }
            count
        }
    }
}

fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.clone().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let var = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

fn summarise(
    config: &ExperimentConfig,
    results: &[RunResult],
    wall_seconds: f64,
) -> ExperimentSummary {
    let defined: Vec<f64> = results.iter().filter_map(|r| r.efficiency).collect();
    let efficiency_runs = defined.len();
    let (efficiency_mean, efficiency_std) = if defined.is_empty() {
        (None, None)
    } else {
        let (m, s) = mean_std(defined.iter().copied());
        (Some(m), Some(s))
    };
    let (channel_uses_mean, channel_uses_std) =
        mean_std(results.iter().map(|r| r.channel_uses as f64));
    let (leaked_bits_mean, leaked_bits_std) =
        mean_std(results.iter().map(|r| r.leaked_bits as f64));
    let (messages_mean, _) = mean_std(results.iter().map(|r| r.messages as f64));
    let (sequential_round_trips_mean, _) =
        mean_std(results.iter().map(|r| r.sequential_round_trips as f64));
    let channel_uses_max = results.iter().map(|r| r.channel_uses).max().unwrap_or(0);
    let (seconds_mean, _) = mean_std(results.iter().map(|r| r.seconds));
    let residual_error_runs = results.iter().filter(|r| r.residual_errors > 0).count();
    let verification_failures = results.iter().filter(|r| !r.verified).count();
    let undetected_errors = results
        .iter()
        .filter(|r| r.residual_errors > 0 && r.verified)
        .count();
    let total_bits = config.bits as f64 * results.len() as f64;
    let bits_per_second = if wall_seconds > 0.0 {
        total_bits / wall_seconds
    } else {
        f64::INFINITY
    };
    ExperimentSummary {
        bits: config.bits,
        qber: config.qber,
        variant: config.variant.name().to_string(),
        runs: results.len(),
        efficiency_mean,
        efficiency_std,
        efficiency_runs,
        channel_uses_mean,
        leaked_bits_mean,
        residual_error_runs,
        seconds_mean,
        bits_per_second,
        channel_uses_std,
        leaked_bits_std,
        messages_mean,
        sequential_round_trips_mean,
        channel_uses_max,
        frame_error_rate: residual_error_runs as f64 / results.len().max(1) as f64,
        verification_failures,
        undetected_errors,
        tag_bits: results.first().map_or(0, |r| r.tag_bits),
        disclosed_bits_mean: leaked_bits_mean
            + f64::from(results.first().map_or(0, |r| r.tag_bits)),
        error_model: config.error_model,
        seed: config.seed,
        timings: ExperimentTimings {
            seconds_mean,
            bits_per_second,
            wall_seconds,
            threads: rayon::current_num_threads(),
        },
    }
}
