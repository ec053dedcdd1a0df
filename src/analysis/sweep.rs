//! Parameter sweeps: one full [`run`] per value of one numeric scenario key (a dotted path
//! such as `link.length_km`), or per point of the grid of two keys (a two-dimensional
//! sweep), the statistics for error bars, the theory beside every point (on a fine grid for
//! one axis, on the sweep's own grid for two), and the maximum distance when the fibre
//! length is swept alone.
//!
//! Determinism: point `i` runs with the seed `derive_seed(seed, SweepPoint, i)` (or, when
//! `simulation.seed` itself is swept, with the swept value), so its record depends only on
//! the scenario, the seed and its index. Points of a two-dimensional sweep are numbered
//! row-major, the second axis varying fastest: `i = i1 * n2 + i2`. Points run in parallel
//! on the current rayon pool and are collected in index order: the report is identical for
//! any thread count (wall clock timings aside), and for any way of cutting the points into
//! shards ([`Shard`]): [`run_points`] runs any subset, [`assemble`] builds the report from
//! all of them, and [`sweep`] is the two in one process.
//!
//! Error bars (one standard error each):
//! - secret key rate: the key of a run comes from whole post-processing blocks, so the
//!   run is treated as a sequence of blocks, each an independent sample of (key bits
//!   `s_i`, pulses `n_i`). The rate is the ratio estimator `R = sum s_i / sum n_i`, and its
//!   standard error is the usual ratio-estimator one,
//!   `SE(R)^2 = sum (s_i - R n_i)^2 / (m (m - 1) nbar^2)` over the `m` blocks
//!   (Cochran, *Sampling Techniques*, 3rd ed., Eq. 6.9), converted to bits per second with
//!   the pulse rate. It includes the block-to-block scatter of the finite-key length and
//!   of aborts, which a binomial argument on sifted counts would miss. With fewer than two
//!   blocks no error is claimed (`None`).
//! - QBER: binomial standard error `sqrt(q (1 - q) / n)` over the `n` sifted bits.
//!
//! Must never depend on `report`, clap or the terminal, and does no I/O.

use super::run::{RunOptions, RunReport, run};
use crate::error::{Error, Result};
use crate::estimation::assumptions::SecurityWarning;
use crate::estimation::{DetectorTheory, scenario_rates, scenario_rates_with, theory_curves};
use crate::physics::LinkModel;
use crate::physics::expected::{expected_per_intensity, expected_with_detector_memory};
use crate::rng::{Purpose, derive_seed};
use crate::scenario::{
    Scenario, SweepNames, SweepSpec, fmt_num, get_numeric, sweep_grid, sweep_values,
    sweep_violations, sweep2_violations, whole_rule, with_value, with_values,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Most points one sweep may have.
pub const MAX_POINTS: u64 = crate::scenario::MAX_SWEEP_POINTS;
/// Points of the fine grid on which the theory lines are evaluated.
pub const THEORY_GRID_POINTS: usize = 161;
/// Key of the fibre length; sweeping it adds the maximum distance to the report.
pub const LENGTH_KEY: &str = "link.length_km";

/// A checked sweep: the key and the values, in order (one axis of a [`PointGrid`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    /// Dotted scenario key.
    pub param: String,
    /// Values of the key, one point each.
    pub values: Vec<f64>,
    /// The grid is logarithmic (values > 0; charts use a log axis for the parameter).
    pub log: bool,
}

impl SweepPlan {
    /// Checks a `[sweep]` specification given by the flags and builds the list of values:
    /// either `values`, or `steps` values from `from` to `to` (both included), evenly
    /// spaced, or geometrically spaced with `log` (a grid over a whole-number key is rounded
    /// to whole numbers). Errors name the flag (`--from`, `--to`, …), the value and the
    /// allowed range; [`SweepPlan::from_spec_named`] names each field after where it came
    /// from.
    pub fn from_spec(spec: &SweepSpec) -> Result<SweepPlan> {
        SweepPlan::from_spec_named(spec, &SweepNames::flags())
    }

    /// [`SweepPlan::from_spec`] with each field named by `names` (the `[sweep]` table's keys,
    /// the flags, or a mix): the same checks `qkdsim check` applies to a `[sweep]` table.
    pub fn from_spec_named(spec: &SweepSpec, names: &SweepNames) -> Result<SweepPlan> {
        let values = sweep_values(spec, names)
            .map_err(|violations| Error::InvalidArgument(violations.join("\n")))?;
        Ok(SweepPlan {
            param: spec.param.trim().to_string(),
            values,
            log: spec.log,
        })
    }

    /// The scenario of every point (`scenario` with the key set to each value, validated
    /// again with the scenario file's checks). Fails with the list of numeric keys when
    /// `param` is not one of them, and with the scenario's own message (key, value, allowed
    /// range) for a value outside the key's range or a fraction for a whole-number key.
    pub fn scenarios(&self, scenario: &Scenario) -> Result<Vec<Scenario>> {
        get_numeric(scenario, &self.param)?;
        self.values
            .iter()
            .map(|&v| {
                with_value(scenario, &self.param, v).map_err(|e| {
                    Error::InvalidArgument(format!(
                        "sweep of {} at value {}: {}",
                        self.param,
                        fmt_num(v),
                        crate::scenario::inner(&e)
                    ))
                })
            })
            .collect()
    }
}

/// The points of a sweep: the values of one key, or the grid of two keys' values (a
/// two-dimensional sweep), numbered row-major with the second axis varying fastest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointGrid {
    /// The first axis (the only one of a one-dimensional sweep).
    pub first: SweepPlan,
    /// The second axis of a two-dimensional sweep.
    pub second: Option<SweepPlan>,
}

impl From<SweepPlan> for PointGrid {
    fn from(plan: SweepPlan) -> PointGrid {
        PointGrid {
            first: plan,
            second: None,
        }
    }
}

impl PointGrid {
    /// Checks a sweep specification with both axes (`param` …, `param2` …), each field
    /// named by `names` (first axis) or `names2` (second axis), and builds the grid. A
    /// specification without second-axis fields gives a one-axis grid.
    pub fn from_spec_named(
        spec: &SweepSpec,
        names: &SweepNames,
        names2: &SweepNames,
    ) -> Result<PointGrid> {
        let mut violations = sweep_violations(spec, names);
        violations.extend(sweep2_violations(spec, names, names2));
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations.join("\n")));
        }
        let first = SweepPlan::from_spec_named(spec, names)?;
        let second = match spec.axis2() {
            Some(axis2) => Some(SweepPlan::from_spec_named(&axis2, names2)?),
            None => None,
        };
        Ok(PointGrid { first, second })
    }

    /// Number of points (runs).
    pub fn len(&self) -> usize {
        self.first.values.len() * self.second.as_ref().map_or(1, |s| s.values.len())
    }

    /// True for a sweep without points (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for a two-dimensional sweep.
    pub fn is_2d(&self) -> bool {
        self.second.is_some()
    }

    /// The axis positions `(i1, i2)` of point `index` (`i2` is 0 for one axis).
    pub fn coords(&self, index: usize) -> (usize, usize) {
        match &self.second {
            Some(s) => (index / s.values.len(), index % s.values.len()),
            None => (index, 0),
        }
    }

    /// The swept keys and their values at point `index`.
    pub fn settings(&self, index: usize) -> Vec<(&str, f64)> {
        let (i1, i2) = self.coords(index);
        let mut out = vec![(self.first.param.as_str(), self.first.values[i1])];
        if let Some(s) = &self.second {
            out.push((s.param.as_str(), s.values[i2]));
        }
        out
    }

    /// Point `index` for messages: `link.length_km = 40` or
    /// `link.length_km = 40, detector.efficiency = 0.2`.
    pub fn describe(&self, index: usize) -> String {
        self.settings(index)
            .iter()
            .map(|(k, v)| format!("{k} = {}", fmt_num(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether `simulation.seed` is one of the swept keys (each point then runs with the
    /// seed it sets instead of a derived one).
    fn sweeps_seed(&self) -> bool {
        self.first.param == "simulation.seed"
            || self
                .second
                .as_ref()
                .is_some_and(|s| s.param == "simulation.seed")
    }

    /// Whether `simulation.pulses` is one of the swept keys.
    fn sweeps_pulses(&self) -> bool {
        self.first.param == "simulation.pulses"
            || self
                .second
                .as_ref()
                .is_some_and(|s| s.param == "simulation.pulses")
    }

    /// The scenario of point `index`, validated with both keys set. Errors name the keys
    /// and values.
    pub fn scenario_at(&self, scenario: &Scenario, index: usize) -> Result<Scenario> {
        let settings = self.settings(index);
        with_values(scenario, &settings).map_err(|e| {
            let at = match settings.as_slice() {
                [(k, v)] => format!("sweep of {k} at value {}", fmt_num(*v)),
                _ => format!("sweep point {}", self.describe(index)),
            };
            Error::InvalidArgument(format!("{at}: {}", crate::scenario::inner(&e)))
        })
    }

    /// The scenario of every point, in index order: each key must be a numeric key (else
    /// the list of numeric keys is given) and each point a valid scenario (else the
    /// scenario's own message, naming the keys and values).
    pub fn scenarios(&self, scenario: &Scenario) -> Result<Vec<Scenario>> {
        match &self.second {
            None => self.first.scenarios(scenario),
            Some(second) => {
                get_numeric(scenario, &self.first.param)?;
                get_numeric(scenario, &second.param)?;
                (0..self.len())
                    .map(|i| self.scenario_at(scenario, i))
                    .collect()
            }
        }
    }
}

/// A shard of a sweep: the `index`-th of `count` (1-based, as cargo-nextest and Playwright
/// number shards). Points are dealt round-robin with every round rotated by one: point
/// `p` (0-based, row-major) belongs to shard `1 + (p + floor(p / count)) mod count`. Each
/// round of `count` consecutive points gives every shard one of them, so shard sizes
/// differ by at most one and every shard gets points from the whole range of a one-axis
/// sweep (expensive ends are spread); the rotation keeps a shard from getting the same
/// column of a grid in every row when `count` divides the row length. The assignment
/// depends on `count` only, never on the seed, and a point's result never depends on its
/// shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based number of this shard.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

/// Most shards a sweep may be cut into (as many as a sweep may have points).
pub const MAX_SHARDS: u64 = MAX_POINTS;

impl Shard {
    /// Parses `I/N` (1 <= I <= N <= [`MAX_SHARDS`]); the message names the rule and the
    /// text (the caller adds the flag).
    pub fn parse(text: &str) -> std::result::Result<Shard, String> {
        let shown = crate::scenario::fmt_text(text);
        let (i, n) = text.trim().split_once('/').ok_or_else(|| {
            format!("must be I/N, such as 2/8 (shard I of N, 1-based), got {shown}")
        })?;
        let whole = |t: &str, what: &str| {
            t.trim().parse::<u64>().map_err(|_| {
                format!("{what} must be a whole number (I/N, such as 2/8), got {shown}")
            })
        };
        let (index, count) = (whole(i, "I")?, whole(n, "N")?);
        Shard::new(index, count)
    }

    /// A shard, checked: 1 <= `index` <= `count` <= [`MAX_SHARDS`].
    pub fn new(index: u64, count: u64) -> std::result::Result<Shard, String> {
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(format!(
                "N (the number of shards) must be in [1, {MAX_SHARDS}], got {index}/{count}"
            ));
        }
        if !(1..=count).contains(&index) {
            return Err(format!(
                "I must be in [1, N] (shards are numbered from 1), got {index}/{count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard (1-based) that point `point` belongs to when a sweep is cut into `count`.
    pub fn of(point: usize, count: u64) -> u64 {
        let (p, n) = (point as u64, count.max(1));
        1 + (p + p / n) % n
    }

    /// Whether this shard runs point `point`.
    pub fn owns(&self, point: usize) -> bool {
        Shard::of(point, self.count) == self.index
    }

    /// The points of a sweep of `points` points that this shard runs, in order.
    pub fn points(&self, points: usize) -> Vec<usize> {
        (0..points).filter(|&p| self.owns(p)).collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `steps` values from `from` to `to`, both included; geometric with `log`. Errors name the
/// flags (`--from`, `--to`, `--steps`, `--log`).
pub fn grid(from: f64, to: f64, steps: u64, log: bool) -> Result<Vec<f64>> {
    let spec = SweepSpec {
        param: "grid".into(),
        from: Some(from),
        to: Some(to),
        steps: Some(steps),
        values: None,
        log,
        ..SweepSpec::default()
    };
    let violations = sweep_violations(&spec, &SweepNames::flags());
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations.join("\n")));
    }
    Ok(sweep_grid(from, to, steps, log))
}

/// Error bars of one point (one standard error each; see the module doc).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PointStatistics {
    /// Standard error of `secret_key_rate_bps` from the spread over blocks (bits/s);
    /// null with fewer than two blocks.
    pub secret_key_rate_bps_stderr: Option<f64>,
    /// Binomial standard error of `qber_z`; null when `qber_z` is (no sifted Z bits).
    pub qber_z_stderr: Option<f64>,
    /// Binomial standard error of `qber_x`; null when `qber_x` is (no sifted X bits).
    pub qber_x_stderr: Option<f64>,
    /// Bits left after error correction: reconciled bits minus the parity and verification
    /// bits disclosed (the funnel's third stage).
    pub bits_after_ec: u64,
}

/// One point of a sweep: the swept value and the full run record (DESIGN §5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepPoint {
    /// Value of the swept key as the run used it (integer keys rounded).
    pub value: f64,
    /// Value of the second swept key (two-dimensional sweeps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value2: Option<f64>,
    /// The run at this value (its fields appear at the top level of the point in JSON;
    /// under an attack they include the point's `eve` and `naive_secret_bits`, so part
    /// files and merged sweeps carry them like every other field).
    #[serde(flatten)]
    pub run: RunReport,
    /// Error bars.
    pub statistics: PointStatistics,
}

/// Theory at one value of the fine grid (closed form, same settings as the runs).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TheoryPoint {
    /// Value of the swept key.
    pub value: f64,
    /// Value of the second swept key (two-dimensional sweeps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value2: Option<f64>,
    /// Finite-key secret key rate at the scenario's block size, bits/s, with the assumed
    /// error-correction inefficiency `postprocessing.f_ec`.
    pub finite_bps: f64,
    /// The same with the inefficiency Cascade measured over the sweep's runs
    /// (`SweepReport::f_ec_measured`), so that the line beside the simulated points
    /// assumes what the simulation did; null when no block was reconciled.
    pub finite_bps_measured_f: Option<f64>,
    /// Asymptotic decoy secret key rate, bits/s.
    pub asymptotic_bps: f64,
    /// PLOB bound, bits/s (null at zero loss).
    pub plob_bps: Option<f64>,
    /// Expected QBER of sifted Z bits, all intensities (null when none is expected).
    pub qber_z: Option<f64>,
    /// Expected QBER of sifted X bits, all intensities (null when none is expected).
    pub qber_x: Option<f64>,
}

/// Maximum fibre length with key, when `link.length_km` is swept.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MaxDistance {
    /// Where the simulated key ends: the midpoint between the last length with key (all
    /// shorter swept lengths had key too) and the next swept length, which had none; the
    /// zero lies in that interval, half its width is the resolution. Null if every point
    /// has key or none has.
    pub simulated_km: Option<f64>,
    /// Every point up to this length produced key (the largest such length).
    pub last_with_key_km: Option<f64>,
    /// Finite-key theory at the scenario's block size (null if no cutoff up to 10000 km).
    pub theory_finite_km: Option<f64>,
    /// Asymptotic decoy theory (the finite-key analysis for an infinite block).
    pub theory_asymptotic_km: Option<f64>,
}

/// A whole sweep (`sweep --json`: `{points: [...]}` plus context fields).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SweepReport {
    /// Scenario name.
    pub scenario: String,
    /// Swept key.
    pub param: String,
    /// Log spacing.
    pub log: bool,
    /// Second swept key (two-dimensional sweeps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param2: Option<String>,
    /// Log spacing of the second axis (two-dimensional sweeps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log2: Option<bool>,
    /// The values of both axes, as the runs used them (two-dimensional sweeps only; point
    /// `i1 * values2.len() + i2` is at `(values[i1], values2[i2])`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid: Option<GridValues>,
    /// Master seed (point seeds derive from it).
    pub seed: u64,
    /// One record per value (per grid point, row-major), in order.
    pub points: Vec<SweepPoint>,
    /// Theory on a fine grid between the smallest and largest value, or at every grid point
    /// of a two-dimensional sweep (detector model: the stationary mean-field model with
    /// dead time and afterpulsing, as in the run table).
    pub theory: Vec<TheoryPoint>,
    /// Cascade's error-correction inefficiency measured over every reconciled block of the
    /// sweep (disclosed bits / sum of n h(Q)); null when no block was reconciled.
    pub f_ec_measured: Option<f64>,
    /// The inefficiency the theory assumes (`postprocessing.f_ec`).
    pub f_ec_assumed: f64,
    /// With `link.length_km` swept: where the key ends.
    pub max_distance: Option<MaxDistance>,
    /// The security warnings of every point, each distinct one once, in point order
    /// (each point also carries its own).
    pub security_warnings: Vec<SecurityWarning>,
}

/// The values of both axes of a two-dimensional sweep, as the runs used them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GridValues {
    /// First axis (rows of the grid).
    pub values: Vec<f64>,
    /// Second axis (columns; varies fastest in the point order).
    pub values2: Vec<f64>,
}

/// One point of a sweep with its index (the record of a shard's part file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PointRecord {
    /// Index of the point in the sweep (row-major for two axes).
    pub index: usize,
    /// The point.
    pub point: SweepPoint,
}

/// Runs the sweep. `options.seed` (or `simulation.seed`) is the master seed;
/// `options.pulses` applies to every point (it may not be combined with sweeping
/// `simulation.pulses`). `progress(pulses_done, points_done)` is called from the worker
/// threads as the runs go on.
pub fn sweep(
    scenario: &Scenario,
    plan: &SweepPlan,
    options: &RunOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<SweepReport> {
    sweep_grid_points(scenario, &PointGrid::from(plan.clone()), options, progress)
}

/// [`sweep`] over a [`PointGrid`] (one axis or two): every point with [`run_points`], then
/// [`assemble`].
pub fn sweep_grid_points(
    scenario: &Scenario,
    grid: &PointGrid,
    options: &RunOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<SweepReport> {
    let all: Vec<usize> = (0..grid.len()).collect();
    let records = run_points(scenario, grid, options, &all, progress, &|_| Ok(()))?;
    let seed = options.seed.unwrap_or(scenario.spec.simulation.seed);
    assemble(
        scenario,
        grid,
        seed,
        records.into_iter().map(|r| r.point).collect(),
    )
}

/// Runs the points `indices` of the sweep (any subset, e.g. a [`Shard`]'s), in parallel on
/// the current rayon pool; each point's record depends only on the scenario, the master
/// seed and its index. `on_point` is called from the worker threads with each finished
/// point (a shard appends it to its journal); if it fails, points not yet started are
/// skipped and its error is returned. Returns the records in the order of `indices`.
pub fn run_points(
    scenario: &Scenario,
    grid: &PointGrid,
    options: &RunOptions,
    indices: &[usize],
    progress: &(dyn Fn(u64, u64) + Sync),
    on_point: &(dyn Fn(&PointRecord) -> Result<()> + Sync),
) -> Result<Vec<PointRecord>> {
    if grid.sweeps_pulses() && options.pulses.is_some() {
        return Err(Error::InvalidArgument(
            "--pulses cannot be combined with sweeping simulation.pulses: the swept value is the pulse count".into(),
        ));
    }
    if let Some(&bad) = indices.iter().find(|&&i| i >= grid.len()) {
        return Err(Error::InvalidArgument(format!(
            "sweep point {bad} does not exist: the sweep has {} points",
            grid.len()
        )));
    }
    let scenarios: Vec<Scenario> = indices
        .iter()
        .map(|&i| grid.scenario_at(scenario, i))
        .collect::<Result<_>>()?;
    let seed = options.seed.unwrap_or(scenario.spec.simulation.seed);
    let pulses_done = AtomicU64::new(0);
    let points_done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let record_error: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    let positions: Vec<AtomicU64> = scenarios.iter().map(|_| AtomicU64::new(0)).collect();
    let runs: Vec<Option<Result<PointRecord>>> = scenarios
        .par_iter()
        .zip(indices.par_iter())
        .enumerate()
        .map(|(slot, (point_scenario, &index))| {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let point_seed = if grid.sweeps_seed() {
                point_scenario.spec.simulation.seed
            } else {
                derive_seed(seed, Purpose::SweepPoint, index as u64)
            };
            let point_options = RunOptions {
                engine: options.engine.clone(),
                seed: Some(point_seed),
                pulses: options.pulses,
                keep_keys: false,
                cancel: options.cancel.clone(),
                ..RunOptions::default()
            };
            // Runs report their own cumulative progress, possibly out of order from several
            // threads: keep the maximum per point and add only what is new.
            let on_progress = |done: u64| {
                let before = positions[slot].fetch_max(done, Ordering::Relaxed);
                if done > before {
                    let total = pulses_done.fetch_add(done - before, Ordering::Relaxed);
                    progress(total + done - before, points_done.load(Ordering::Relaxed));
                }
            };
            let result = run(point_scenario, &point_options, &on_progress).map(|output| {
                let record = PointRecord {
                    index,
                    point: sweep_point(grid, point_scenario, index, output.report),
                };
                if let Err(e) = on_point(&record) {
                    stop.store(true, Ordering::Relaxed);
                    let mut first = record_error.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(e);
                }
                record
            });
            let finished = points_done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(pulses_done.load(Ordering::Relaxed), finished);
            Some(result)
        })
        .collect();
    if let Some(e) = record_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut records = Vec::with_capacity(runs.len());
    for (&index, result) in indices.iter().zip(runs) {
        match result {
            Some(Ok(record)) => records.push(record),
            Some(Err(Error::Cancelled)) => return Err(Error::Cancelled),
            Some(Err(e)) => {
                return Err(Error::InvalidArgument(
                    match grid.settings(index).as_slice() {
                        [(k, v)] => format!(
                            "sweep of {k} at value {}: {e}",
                            grid.scenario_at(scenario, index)
                                .ok()
                                .and_then(|s| get_numeric(&s, k).ok())
                                .unwrap_or(*v)
                        ),
                        _ => format!("sweep point {}: {e}", grid.describe(index)),
                    },
                ));
            }
            // Only a failed `on_point` skips points, and its error was returned above.
            None => {
                return Err(Error::InvalidArgument(format!(
                    "sweep point {} was skipped",
                    grid.describe(index)
                )));
            }
        }
    }
    Ok(records)
}

/// The [`SweepPoint`] of a finished run: the values the run used (integer keys such as
/// the block size rounded) and its error bars.
fn sweep_point(
    grid: &PointGrid,
    point_scenario: &Scenario,
    index: usize,
    report: RunReport,
) -> SweepPoint {
    let settings = grid.settings(index);
    let used = |k: usize| {
        settings
            .get(k)
            .map(|&(key, v)| get_numeric(point_scenario, key).unwrap_or(v))
    };
    let rep_rate = report.pulses_sent as f64 / report.link_time_s.max(f64::MIN_POSITIVE);
    SweepPoint {
        value: used(0).unwrap_or(f64::NAN),
        value2: used(1),
        statistics: statistics(&report, rep_rate),
        run: report,
    }
}

/// The sweep's report from the records of all its points, in index order (from one
/// process, or from the part files of its shards): error-correction inefficiency over all
/// points, the security warnings, the theory and, for a fibre length sweep, the maximum
/// distance. `seed` is the master seed the points derived theirs from.
pub fn assemble(
    scenario: &Scenario,
    grid: &PointGrid,
    seed: u64,
    points: Vec<SweepPoint>,
) -> Result<SweepReport> {
    if points.len() != grid.len() {
        return Err(Error::InvalidArgument(format!(
            "a sweep of {} points cannot be assembled from {} records",
            grid.len(),
            points.len()
        )));
    }
    let f_ec_measured = measured_f_ec(points.iter().map(|p| &p.run));
    let mut security_warnings: Vec<SecurityWarning> = Vec::new();
    for w in points.iter().flat_map(|p| &p.run.security_warnings) {
        if !security_warnings.contains(w) {
            security_warnings.push(w.clone());
        }
    }
    let plan = &grid.first;
    let (theory, max_distance, grid_values) = match &grid.second {
        None => {
            let theory = theory_grid(scenario, plan, f_ec_measured);
            let max_distance = if plan.param == LENGTH_KEY {
                Some(max_distance(scenario, &points)?)
            } else {
                None
            };
            (theory, max_distance, None)
        }
        Some(second) => {
            let n2 = second.values.len();
            let values = points.iter().step_by(n2).map(|p| p.value).collect();
            let values2 = points
                .iter()
                .take(n2)
                .map(|p| p.value2.unwrap_or(f64::NAN))
                .collect();
            let theory = theory_grid_2d(scenario, grid, f_ec_measured);
            (theory, None, Some(GridValues { values, values2 }))
        }
    };
    Ok(SweepReport {
        scenario: scenario.spec.name.clone(),
        param: plan.param.clone(),
        log: plan.log,
        param2: grid.second.as_ref().map(|s| s.param.clone()),
        log2: grid.second.as_ref().map(|s| s.log),
        grid: grid_values,
        seed,
        points,
        theory,
        f_ec_measured,
        f_ec_assumed: scenario.spec.postprocessing.f_ec,
        max_distance,
        security_warnings,
    })
}

/// Cascade's inefficiency over the reconciled blocks of several runs: their disclosed
/// parity bits over the sum of n h(Q) (each run's `ec.efficiency` is that ratio for the
/// run, so its denominator is leaked / efficiency).
pub fn measured_f_ec<'a>(runs: impl Iterator<Item = &'a RunReport>) -> Option<f64> {
    let (leaked, entropy) = runs
        .filter(|r| r.ec.efficiency > 0.0 && r.ec.leaked_bits > 0)
        .fold((0.0, 0.0), |(l, h), r| {
            let leaked = r.ec.leaked_bits as f64;
            (l + leaked, h + leaked / r.ec.efficiency)
        });
    (entropy > 0.0).then(|| leaked / entropy)
}

/// Error bars of one run (see the module doc); `rep_rate_hz` converts per-pulse to per-second.
pub fn statistics(report: &RunReport, rep_rate_hz: f64) -> PointStatistics {
    let binomial = |q: Option<f64>, n: u64| {
        q.filter(|_| n > 0)
            .map(|q| (q * (1.0 - q) / n as f64).sqrt())
    };
    let blocks = &report.per_block;
    let rate_stderr = if blocks.len() >= 2 {
        let m = blocks.len() as f64;
        let pulses: Vec<f64> = blocks
            .iter()
            .map(|b| (b.end_pulse - b.first_pulse) as f64)
            .collect();
        let total_pulses: f64 = pulses.iter().sum();
        if total_pulses > 0.0 {
            let key: f64 = blocks.iter().map(|b| b.secret_bits as f64).sum();
            let r = key / total_pulses;
            let nbar = total_pulses / m;
            let ss: f64 = blocks
                .iter()
                .zip(&pulses)
                .map(|(b, n)| (b.secret_bits as f64 - r * n).powi(2))
                .sum();
            Some((ss / (m * (m - 1.0))).sqrt() / nbar * rep_rate_hz)
        } else {
            None
        }
    } else {
        None
    };
    let ec = &report.ec;
    PointStatistics {
        secret_key_rate_bps_stderr: rate_stderr,
        qber_z_stderr: binomial(report.qber_z, report.sifted_bits_z),
        qber_x_stderr: binomial(report.qber_x, report.sifted_bits_x),
        bits_after_ec: ec
            .input_bits
            .saturating_sub(ec.leaked_bits + ec.verification_tag_bits),
    }
}

/// The fine grid of the theory lines: [`THEORY_GRID_POINTS`] values between the smallest
/// and largest swept value, geometric for a log sweep, plus the swept values themselves.
/// Integer keys (block size) are evaluated at rounded values.
pub fn theory_values(plan: &SweepPlan) -> Vec<f64> {
    let lo = plan.values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = plan
        .values
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let mut values = plan.values.clone();
    if hi > lo {
        let n = (THEORY_GRID_POINTS - 1) as f64;
        values.extend((0..THEORY_GRID_POINTS).map(|i| {
            let t = i as f64 / n;
            if plan.log && lo > 0.0 {
                (lo.ln() + (hi.ln() - lo.ln()) * t).exp()
            } else {
                lo + (hi - lo) * t
            }
        }));
    }
    values.sort_by(f64::total_cmp);
    values.dedup();
    values
}

/// The theory at every point of a two-dimensional grid, in point order.
fn theory_grid_2d(
    scenario: &Scenario,
    grid: &PointGrid,
    f_ec_measured: Option<f64>,
) -> Vec<TheoryPoint> {
    (0..grid.len())
        .into_par_iter()
        .filter_map(|index| {
            let settings = grid.settings(index);
            let s = with_values(scenario, &settings).ok()?;
            let mut t = theory_point(&s, settings[0].1, f_ec_measured);
            t.value2 = settings.get(1).map(|&(_, v)| v);
            Some(t)
        })
        .collect()
}

fn theory_grid(
    scenario: &Scenario,
    plan: &SweepPlan,
    f_ec_measured: Option<f64>,
) -> Vec<TheoryPoint> {
    theory_values(plan)
        .par_iter()
        .filter_map(|&value| {
            // A value between two valid ones can still be invalid for coupled constraints
            // (probabilities that must sum to one); such grid points are left out.
            // Whole-number keys (block size) are evaluated at whole values.
            let value = if whole_rule(&plan.param).is_some() {
                value.round()
            } else {
                value
            };
            let s = with_value(scenario, &plan.param, value).ok()?;
            Some(theory_point(&s, value, f_ec_measured))
        })
        .collect()
}

/// The theory of one scenario as a [`TheoryPoint`] labelled `value`, with the mean-field
/// detector model (dead time and afterpulsing as in the run table); the finite-key rate
/// also with `f_ec_measured` when given.
pub fn theory_point(scenario: &Scenario, value: f64, f_ec_measured: Option<f64>) -> TheoryPoint {
    let rates = scenario_rates(scenario);
    let f = scenario.spec.source.rep_rate_hz;
    let model = LinkModel::from_scenario(scenario);
    let expected =
        expected_with_detector_memory(&model).unwrap_or_else(|| expected_per_intensity(&model));
    let (sz, ez, sx, ex) = expected.iter().zip(&model.intensities).fold(
        (0.0, 0.0, 0.0, 0.0),
        |(sz, ez, sx, ex), (e, class)| {
            let p = class.probability;
            (
                sz + p * e.sifted_z_per_pulse,
                ez + p * e.errors_z_per_pulse,
                sx + p * e.sifted_x_per_pulse,
                ex + p * e.errors_x_per_pulse,
            )
        },
    );
    TheoryPoint {
        value,
        value2: None,
        finite_bps: rates.secret_bits_per_pulse_finite * f,
        finite_bps_measured_f: f_ec_measured.map(|f_ec| {
            scenario_rates_with(scenario, DetectorTheory::MeanField, Some(f_ec))
                .secret_bits_per_pulse_finite
                * f
        }),
        asymptotic_bps: rates.secret_bits_per_pulse_asymptotic * f,
        plob_bps: rates
            .plob_bits_per_pulse
            .is_finite()
            .then_some(rates.plob_bits_per_pulse * f),
        qber_z: (sz > 0.0).then(|| ez / sz),
        qber_x: (sx > 0.0).then(|| ex / sx),
    }
}

fn max_distance(scenario: &Scenario, points: &[SweepPoint]) -> Result<MaxDistance> {
    let mut sorted: Vec<(f64, bool)> = points
        .iter()
        .map(|p| (p.value, p.run.secret_bits > 0))
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let first_without = sorted.iter().position(|(_, key)| !key);
    let last_with_key_km = match first_without {
        Some(0) => None,
        Some(i) => Some(sorted[i - 1].0),
        None => sorted.last().map(|p| p.0),
    };
    let simulated_km = match first_without {
        Some(i) if i > 0 => Some(0.5 * (sorted[i - 1].0 + sorted[i].0)),
        _ => None,
    };
    // Grid from 0 km: `max_distance_km` is searched upwards from the first grid point.
    let theory = theory_curves(scenario, &[0.0], false)?;
    let curve_max = |name: &str| {
        theory
            .curves
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.max_distance_km)
    };
    Ok(MaxDistance {
        simulated_km,
        last_with_key_km,
        theory_finite_km: curve_max("finite_key"),
        theory_asymptotic_km: curve_max("finite_key_asymptotic"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_log_grids_hit_both_ends() {
        let g = grid(0.0, 10.0, 6, false).unwrap();
        assert_eq!(g, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let g = grid(1e-8, 1e-4, 5, true).unwrap();
        assert_eq!(g.len(), 5);
        assert_eq!(g[0], 1e-8);
        assert_eq!(g[4], 1e-4);
        assert_eq!(g[2], 1e-6);
    }

    #[test]
    fn bad_grids_are_rejected_with_the_flag_name() {
        let msg = |r: Result<Vec<f64>>| r.unwrap_err().to_string();
        assert!(msg(grid(5.0, 1.0, 3, false)).contains("--from (5) must not exceed --to (1)"));
        assert!(msg(grid(0.0, 1.0, 0, false)).contains("--steps"));
        assert!(msg(grid(0.0, 1.0, 3, true)).contains("needs values > 0"));
        assert!(msg(grid(1.0, 2.0, 1, false)).contains("single point"));
    }
}
