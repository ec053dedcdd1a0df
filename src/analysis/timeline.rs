//! The run over link time: the polarisation drift stepped through the run, the
//! compensation policy's realignments, and the time series of windows.
//!
//! # How a run is cut
//! A static link with no compensation is one segment (pulses 0 .. N with the run's
//! engine and seed), exactly the run it always was. Otherwise the run is cut into
//! *segments* within which the channel is constant: at every drift step boundary (the
//! multiples of `link.drift_step_s` from the first pulse), at every realignment, and, for
//! the threshold policy, at every window end (its decisions are taken there). Each segment
//! gets an engine built for its channel ([`LinkModel::with_channel`]: static error of the
//! last alignment, then the walk since it) and seeded by `(seed, EngineSegment, first
//! pulse)` (the segment at pulse 0 keeps the run's seed), and [`Engine::run_segments`]
//! simulates them in parallel batches with the detector state carried exactly across
//! their boundaries. The walk's increments come from one stream (`Purpose::Drift`), the
//! k-th draw always for the k-th step boundary, whatever the policy did, so two policies
//! face the same fibre.
//!
//! # Compensation (`[compensation]`)
//! - `none`: the walk goes on for the whole run.
//! - `periodic`: realignments start at the multiples of `interval_s`.
//! - `threshold`: at the end of every window the receiver compares the window's public
//!   test-basis bits: in decoy BB84 every X-basis (test) bit is announced for parameter
//!   estimation, so the X errors of the window are public, while the Z (key) errors are
//!   known to nobody before error correction. When the X QBER of the window exceeds
//!   `qber_threshold` (a window without X bits decides nothing) a realignment starts.
//!   The decision is a function of the X counts only ([`ThresholdPolicy::realign`]).
//!
//! A realignment lasts `realign_s`: no pulses are sent (the engine skips them), no key is
//! made; afterwards the channel is the static error `residual_misalignment` (default
//! `link.misalignment`) with the walk restarted from the identity. The walk's increments
//! due during the realignment are drawn and dropped.
//!
//! # Windows (`simulation.window_s`, `run --window-s`)
//! Every period of operation ("up") is cut into windows of `window_s` from its start (the
//! last one shorter if a realignment or the run's end comes first); each realignment is
//! one entry of its own ("realigning"). A window counts the sifted bits of the pulses in
//! it, and the secret bits of the blocks whose final key exists in it: the block's last
//! pulse plus its modelled latency (fibre delay and classical round trips, see
//! `pipeline`). Key finished after the run's last window is counted in
//! `secret_bits_after_last_window`. Availability is the share of link time the link was up
//! (producing key), up time / run time.
//!
//! Must never depend on `report` or do I/O.

use crate::error::{Error, Result};
use crate::physics::LinkModel;
use crate::protocol::event::{Engine, Segment};
use crate::protocol::sifting::ChunkSift;
use crate::protocol::{ChunkOutput, DetectorState, EngineStats};
use crate::rng::{self, Purpose};
use crate::scenario::Scenario;
use nalgebra::Matrix2;
use num_complex::Complex64;
use serde::Serialize;

/// Most drift steps, windows or realignments one run may have: each costs a table build
/// or a record, so a run of 10^7 of them would take hours and gigabytes.
pub const MAX_TIME_STEPS: u64 = 10_000_000;

/// Segments simulated per batch (their engines are built together, in parallel).
const SEGMENTS_PER_BATCH: usize = 64;

/// Whether the link was producing key in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Sending pulses and making key.
    Up,
    /// Realigning the polarisation reference: nothing sent.
    Realigning,
}

/// One entry of the time series (DESIGN §7 `time_series`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TimeWindow {
    /// Link time of the window's first pulse, seconds from the run's first pulse.
    pub start_s: f64,
    /// Link time of its end.
    pub end_s: f64,
    /// "up" or "realigning".
    pub state: LinkState,
    /// Sifted Z (key) bits from the window's pulses.
    pub sifted_bits_z: u64,
    /// Errors among them (known to the simulator, not to the receiver).
    pub errors_z: u64,
    /// errors_z / sifted_bits_z (`null` over no bits).
    pub qber_z: Option<f64>,
    /// Sifted X (test) bits.
    pub sifted_bits_x: u64,
    /// Errors among them (public: the test bits are announced).
    pub errors_x: u64,
    /// errors_x / sifted_bits_x (`null` over no bits).
    pub qber_x: Option<f64>,
    /// Secret bits of the blocks whose final key exists in this window.
    pub secret_bits: u64,
}

/// Run-level figures of the link over time (present when the run drifts, compensates or
/// records windows).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CompensationReport {
    /// `compensation.policy` ("none" without a `[compensation]` table).
    pub policy: String,
    /// Realignments started during the run.
    pub realignments: u64,
    /// Link time spent realigning, seconds.
    pub realigning_s: f64,
    /// Share of link time the link was up (producing key): up time / run time.
    pub availability: f64,
    /// Drift of the run, rad^2/s (0 for a static channel).
    pub drift_rad2_per_s: f64,
    /// Secret bits of blocks whose final key exists only after the last window ended (0
    /// without windows).
    pub secret_bits_after_last_window: u64,
    /// Window length as simulated (whole pulses), seconds; absent without windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
    /// Drift step as simulated (whole pulses), seconds; absent for a static channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_step_s: Option<f64>,
    /// `compensation.interval_s` as simulated (periodic policy only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// `compensation.qber_threshold` (threshold policy only), judged on the public X QBER
    /// of each window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qber_threshold: Option<f64>,
    /// Length of one realignment as simulated (whole pulses), seconds.
    pub realign_s: f64,
    /// e_d after a realignment.
    pub residual_misalignment: f64,
}

/// The threshold policy's rule, a function of the public test-basis counts only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdPolicy {
    /// `compensation.qber_threshold`.
    pub qber_threshold: f64,
}

impl ThresholdPolicy {
    /// Realign after a window whose announced X bits show `errors_x` errors among
    /// `sifted_x`: when errors_x / sifted_x exceeds the threshold; a window without test
    /// bits decides nothing.
    pub fn realign(&self, sifted_x: u64, errors_x: u64) -> bool {
        sifted_x > 0 && errors_x as f64 > self.qber_threshold * sifted_x as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Policy {
    None,
    Periodic { interval: u64 },
    Threshold(ThresholdPolicy),
}

/// What [`drive`] needs besides the link model: the run's cut in pulses.
#[derive(Debug, Clone, PartialEq)]
pub struct TimePlan {
    /// Pulse slots of the run (sent or not).
    pub total_pulses: u64,
    /// Gate rate, Hz.
    pub rep_rate_hz: f64,
    /// Window length in pulses, if windows are recorded.
    pub window_pulses: Option<u64>,
    /// Drift step in pulses, if the channel drifts.
    pub step_pulses: Option<u64>,
    policy: Policy,
    /// Realignment length in pulses.
    pub realign_pulses: u64,
    /// e_d after a realignment.
    pub residual_misalignment: f64,
    policy_name: String,
}

fn pulses_of(seconds: f64, rate: f64) -> u64 {
    ((seconds * rate).round() as u64).max(1)
}

impl TimePlan {
    /// The plan of a validated scenario run for `total_pulses` pulse slots; an error when
    /// the run would need more than [`MAX_TIME_STEPS`] steps, windows or realignments.
    pub fn new(scenario: &Scenario, total_pulses: u64) -> Result<TimePlan> {
        let s = &scenario.spec;
        let rate = s.source.rep_rate_hz;
        let run_s = total_pulses as f64 / rate;
        let too_many = |key: &str, value: f64, what: &str| -> Error {
            Error::ScenarioInvalid(vec![format!(
                "{key}: {value} s gives {} {what} over the run's {run_s} s; at most {} are \
                 simulated (give at least {} s)",
                (run_s / value).ceil(),
                MAX_TIME_STEPS,
                run_s / MAX_TIME_STEPS as f64
            )])
        };
        let window_pulses = s.simulation.window_s.map(|w| pulses_of(w, rate));
        if let Some(w) = s.simulation.window_s
            && run_s / w > MAX_TIME_STEPS as f64
        {
            return Err(too_many("simulation.window_s", w, "windows"));
        }
        let step_pulses = if s.link.drift_rad2_per_s > 0.0 {
            let d = s.link.drift_step_s;
            if run_s / d > MAX_TIME_STEPS as f64 {
                return Err(too_many("link.drift_step_s", d, "drift steps"));
            }
            Some(pulses_of(d, rate))
        } else {
            None
        };
        let comp = s.compensation.as_ref();
        let policy = match comp.map(|c| c.policy.as_str()) {
            Some("periodic") => {
                let i = comp.and_then(|c| c.interval_s).unwrap_or(f64::INFINITY);
                if run_s / i > MAX_TIME_STEPS as f64 {
                    return Err(too_many("compensation.interval_s", i, "realignments"));
                }
                Policy::Periodic {
                    interval: pulses_of(i, rate),
                }
            }
            Some("threshold") => Policy::Threshold(ThresholdPolicy {
                qber_threshold: comp.and_then(|c| c.qber_threshold).unwrap_or(0.5),
            }),
            _ => Policy::None,
        };
        if matches!(policy, Policy::Threshold(_)) && window_pulses.is_none() {
            return Err(Error::ScenarioInvalid(vec![
                "compensation.policy: \"threshold\" judges the public QBER of each time \
                 window: set simulation.window_s (or run --window-s)"
                    .into(),
            ]));
        }
        let realign_s = comp.map(|c| c.realign_s).unwrap_or(0.0);
        Ok(TimePlan {
            total_pulses,
            rep_rate_hz: rate,
            window_pulses,
            step_pulses,
            policy,
            realign_pulses: (realign_s * rate).round() as u64,
            residual_misalignment: comp
                .and_then(|c| c.residual_misalignment)
                .unwrap_or(s.link.misalignment),
            policy_name: comp
                .map(|c| c.policy.clone())
                .unwrap_or_else(|| "none".into()),
        })
    }

    /// The run is one static segment without windows: nothing of this module applies.
    pub fn is_static(&self) -> bool {
        self.window_pulses.is_none()
            && self.step_pulses.is_none()
            && matches!(self.policy, Policy::None)
    }
}

/// Counts of one window while it fills.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    sz: u64,
    ez: u64,
    sx: u64,
    ex: u64,
}

/// The outcome of [`drive`].
#[derive(Debug, Clone)]
pub struct Driven {
    /// Engine counters summed over the segments.
    pub stats: EngineStats,
    /// The time series (empty without windows).
    pub windows: Vec<TimeWindow>,
    /// Realignments and up time.
    pub report: CompensationReport,
    /// Pulses actually sent.
    pub pulses_sent: u64,
}

/// Simulates the run of `plan` on `model` with engines like `base` seeded from `seed`,
/// handing every chunk to `sink` in pulse order; `progress` receives the pulse reached.
/// A static plan runs `base` (the run's engine) once over all pulses. Once `cancel` is set
/// no further batch of chunks starts (the caller, who set it, discards the output).
pub fn drive(
    plan: &TimePlan,
    model: &LinkModel,
    base: &Engine,
    seed: u64,
    progress: &(dyn Fn(u64) + Sync),
    cancel: Option<&std::sync::atomic::AtomicBool>,
    mut sink: impl FnMut(&ChunkOutput),
) -> Driven {
    let total = plan.total_pulses;
    let mut stats = EngineStats::default();
    let mut carry = DetectorState::default();
    let mut windows: Vec<TimeWindow> = Vec::new();
    let mut realignments = 0u64;
    let mut realigning_pulses = 0u64;
    let mut sent = 0u64;

    let mut walk_rng = rng::stream(seed, Purpose::Drift, 0);
    let mut walk: Matrix2<Complex64> = Matrix2::identity();
    // Step boundaries whose increment has been drawn: 1 ..= steps_drawn.
    let mut steps_drawn = 0u64;
    let mut e_base = model.misalignment;
    let mut pos = 0u64;
    let mut up_start = 0u64;
    let mut up_counts: Vec<Counts> = Vec::new();
    let mut next_periodic = match plan.policy {
        Policy::Periodic { interval } => interval,
        _ => u64::MAX,
    };

    let seconds = |p: u64| p as f64 / plan.rep_rate_hz;
    let close_up = |windows: &mut Vec<TimeWindow>, counts: &mut Vec<Counts>, from: u64, to: u64| {
        let Some(w) = plan.window_pulses else {
            counts.clear();
            return;
        };
        let n = (to - from).div_ceil(w);
        for j in 0..n {
            let c = counts.get(j as usize).copied().unwrap_or_default();
            let a = from + j * w;
            windows.push(TimeWindow {
                start_s: seconds(a),
                end_s: seconds((a + w).min(to)),
                state: LinkState::Up,
                sifted_bits_z: c.sz,
                errors_z: c.ez,
                qber_z: super::run::rate(c.ez, c.sz),
                sifted_bits_x: c.sx,
                errors_x: c.ex,
                qber_x: super::run::rate(c.ex, c.sx),
                secret_bits: 0,
            });
        }
        counts.clear();
    };

    // Each chunk sifted on its own on the engine's parallel tasks (`ChunkSift`).
    let presift = |c: &mut ChunkOutput| c.sift = Some(ChunkSift::of(c));
    let stopped = || cancel.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed));
    while pos < total && !stopped() {
        // The next point where something is decided: a window end (threshold), a
        // periodic realignment, or the end of the run.
        let stop = match (plan.policy, plan.window_pulses) {
            (Policy::Threshold(_), Some(w)) => {
                (up_start + ((pos - up_start) / w + 1) * w).min(total)
            }
            (Policy::Periodic { .. }, _) => next_periodic.min(total),
            _ => total,
        };
        // Segments of [pos, stop) at the drift step boundaries.
        let mut cuts = vec![pos];
        if let Some(sp) = plan.step_pulses {
            let mut b = (pos / sp + 1) * sp;
            while b < stop {
                cuts.push(b);
                b += sp;
            }
        }
        cuts.push(stop);
        let ranges: Vec<(u64, u64)> = cuts.windows(2).map(|c| (c[0], c[1])).collect();
        for batch in ranges.chunks(SEGMENTS_PER_BATCH) {
            // The channel of each segment: the walk after every boundary up to its start.
            let mut channels = Vec::with_capacity(batch.len());
            for &(a, _) in batch {
                if let (Some(sp), Some(drift)) = (plan.step_pulses, model.drift) {
                    while (steps_drawn + 1) * sp <= a {
                        steps_drawn += 1;
                        walk = drift.increment(&mut walk_rng) * walk;
                    }
                }
                channels.push(walk);
            }
            let engines: Vec<Option<Engine>> = if plan.is_static() {
                vec![None]
            } else {
                use rayon::prelude::*;
                batch
                    .par_iter()
                    .zip(channels.par_iter())
                    .map(|(&(a, _), w)| {
                        let seg_seed = if a == 0 {
                            seed
                        } else {
                            rng::derive_seed(seed, Purpose::EngineSegment, a)
                        };
                        let unchanged = model.drift.is_none() && e_base == model.misalignment;
                        match (unchanged, a) {
                            (true, 0) => None,
                            (true, _) => Some(base.with_seed(seg_seed)),
                            (false, _) => {
                                Some(base.for_channel(&model.with_channel(e_base, w), seg_seed))
                            }
                        }
                    })
                    .collect()
            };
            let segments: Vec<Segment<'_>> = batch
                .iter()
                .zip(&engines)
                .map(|(&(a, b), e)| Segment {
                    engine: e.as_ref().unwrap_or(base),
                    first_pulse: a,
                    pulses: b - a,
                })
                .collect();
            let (st, end_state) =
                Engine::run_segments(&segments, carry, progress, cancel, &presift, |chunk| {
                    if let Some(w) = plan.window_pulses {
                        for d in &chunk.detections {
                            if !d.sifted() {
                                continue;
                            }
                            let j = ((d.pulse - up_start) / w) as usize;
                            if up_counts.len() <= j {
                                up_counts.resize(j + 1, Counts::default());
                            }
                            let c = &mut up_counts[j];
                            let err = d.error() as u64;
                            if d.bob_basis() == crate::physics::Basis::Z {
                                c.sz += 1;
                                c.ez += err;
                            } else {
                                c.sx += 1;
                                c.ex += err;
                            }
                        }
                    }
                    sent += chunk.pulses;
                    sink(&chunk);
                    base.recycle(chunk.detections);
                });
            carry = end_state;
            stats.chunks += st.chunks;
            stats.rerun_chunks += st.rerun_chunks;
        }
        pos = stop;
        if pos >= total {
            break;
        }
        let realign = match plan.policy {
            Policy::Periodic { interval } => {
                next_periodic = next_periodic.saturating_add(interval);
                true
            }
            Policy::Threshold(rule) => {
                let w = plan.window_pulses.expect("checked in TimePlan::new");
                let j = ((pos - 1 - up_start) / w) as usize;
                let c = up_counts.get(j).copied().unwrap_or_default();
                rule.realign(c.sx, c.ex)
            }
            Policy::None => false,
        };
        if realign {
            close_up(&mut windows, &mut up_counts, up_start, pos);
            let end = pos.saturating_add(plan.realign_pulses).min(total);
            realignments += 1;
            realigning_pulses += end - pos;
            if end > pos && plan.window_pulses.is_some() {
                windows.push(TimeWindow {
                    start_s: seconds(pos),
                    end_s: seconds(end),
                    state: LinkState::Realigning,
                    sifted_bits_z: 0,
                    errors_z: 0,
                    qber_z: None,
                    sifted_bits_x: 0,
                    errors_x: 0,
                    qber_x: None,
                    secret_bits: 0,
                });
            }
            // The walk's increments due while realigning are drawn and dropped, so the
            // k-th draw always belongs to the k-th step boundary.
            if let (Some(sp), Some(drift)) = (plan.step_pulses, model.drift) {
                while (steps_drawn + 1) * sp <= end {
                    steps_drawn += 1;
                    let _ = drift.increment(&mut walk_rng);
                }
            }
            walk = Matrix2::identity();
            e_base = plan.residual_misalignment;
            pos = end;
            up_start = end;
            if let Policy::Periodic { interval } = plan.policy {
                while next_periodic <= pos {
                    next_periodic = next_periodic.saturating_add(interval);
                }
            }
        }
    }
    if up_start < total {
        close_up(&mut windows, &mut up_counts, up_start, total);
    }
    Driven {
        stats,
        windows,
        report: CompensationReport {
            policy: plan.policy_name.clone(),
            realignments,
            realigning_s: seconds(realigning_pulses),
            availability: if total > 0 {
                (total - realigning_pulses) as f64 / total as f64
            } else {
                0.0
            },
            drift_rad2_per_s: model.drift.map_or(0.0, |d| d.rad2_per_s),
            secret_bits_after_last_window: 0,
            window_s: plan.window_pulses.map(seconds),
            drift_step_s: plan.step_pulses.map(seconds),
            interval_s: match plan.policy {
                Policy::Periodic { interval } => Some(seconds(interval)),
                _ => None,
            },
            qber_threshold: match plan.policy {
                Policy::Threshold(rule) => Some(rule.qber_threshold),
                _ => None,
            },
            realign_s: seconds(plan.realign_pulses),
            residual_misalignment: plan.residual_misalignment,
        },
        pulses_sent: sent,
    }
}

/// Adds each block's secret bits to the window in which its final key exists (last pulse
/// plus modelled latency, `at_s`); returns the bits that exist only after the last window.
pub fn assign_secret_bits(
    windows: &mut [TimeWindow],
    blocks: impl Iterator<Item = (f64, u64)>,
) -> u64 {
    let mut late = 0;
    for (at_s, bits) in blocks {
        if bits == 0 {
            continue;
        }
        // Windows are contiguous and ascending: the first whose end lies past at_s.
        let i = windows.partition_point(|w| w.end_s <= at_s);
        match windows.get_mut(i) {
            Some(w) => w.secret_bits += bits,
            None => late += bits,
        }
    }
    late
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_rule_reads_only_the_test_bits() {
        let r = ThresholdPolicy {
            qber_threshold: 0.09,
        };
        assert!(!r.realign(0, 0));
        assert!(!r.realign(1000, 90));
        assert!(r.realign(1000, 91));
    }

    #[test]
    fn secret_bits_land_in_the_window_holding_their_time() {
        let w = |a: f64, b: f64| TimeWindow {
            start_s: a,
            end_s: b,
            state: LinkState::Up,
            sifted_bits_z: 0,
            errors_z: 0,
            qber_z: None,
            sifted_bits_x: 0,
            errors_x: 0,
            qber_x: None,
            secret_bits: 0,
        };
        let mut ws = vec![w(0.0, 1.0), w(1.0, 2.0), w(2.0, 2.5)];
        let late = assign_secret_bits(
            &mut ws,
            [(0.5, 10), (1.0, 20), (2.4999, 30), (2.5, 40), (9.0, 1)].into_iter(),
        );
        assert_eq!(
            ws.iter().map(|w| w.secret_bits).collect::<Vec<_>>(),
            vec![10, 20, 30]
        );
        assert_eq!(late, 41);
    }
}
