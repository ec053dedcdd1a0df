//! The reference Monte Carlo pulse engine: every pulse of the run is simulated, in order,
//! with every effect of the physics model (intensity choice, photon statistics, loss,
//! misalignment, basis choices, detector efficiencies and their mismatch, dark counts,
//! dead time in either mode, afterpulsing, double clicks).
//!
//! # Exactness with few random bits per pulse
//! A pulse's whole fate (intensity class, whether it clicks, and for a click Alice's basis
//! and bit, Bob's basis, which detectors click and Bob's squashed bit) is decided by one
//! uniform U in [0, 2^64), read lazily. For the current set of live detectors, the unit
//! interval is cut into one region per intensity class k (width p_k), and each region into
//! consecutive *outcome sub-intervals*: first one per (configuration c, click pattern s)
//! of width p_k w_c P(s | k, c) (c: Alice's basis and bit and Bob's basis, weight w_c;
//! s: only detector 0, only detector 1, both; the "both" one halved for Bob's fair
//! squashing bit), then the no-click rest of the region. The boundaries are
//! start_k + fixed(p_k C_i), C_i the f64 cumulative weights and fixed() the rounding to
//! 0.64 fixed point, so every outcome has its model probability rounded to 2^-64 (the
//! squashing halves differ from 1/2 by at most 2^-64): as exact as the f64 probabilities
//! themselves. The pulse's outcome is the sub-interval that holds U.
//!
//! The hot loop reads only the top 16 bits u of U (one [`Word`] per pulse). Comparing u
//! with the top 16 bits of the click regions' ends flags the *candidates* (pulses whose
//! 2^-16 cell meets a click sub-interval or a class boundary); every other pulse is a
//! no-click pulse of the class its word's compares give, exactly. A candidate is decided
//! by a per-mask lookup table indexed by u: when the cell lies inside one sub-interval the
//! outcome is known without another bit (the low bits of U could not change it); only a
//! cell that straddles a boundary (at most one per boundary: about a hundred of the 65536
//! cells with three classes) draws the low 48 bits of U and finds the sub-interval by a
//! short search. Reading 16 rather than 32 bits per
//! pulse halves the ChaCha8 work, the floor of the loop at long distance; at metropolitan
//! distances a click costs one table load and one record.
//!
//! Candidates are collected from blocks of 64 words as one bit mask (vectorised compares)
//! and processed in pulse order, so the vectorised scan is not restarted per click
//! (without detector memory; with it, the scan stops after the first click, see below).
//!
//! # Detector memory
//! Dead time and afterpulses (see [`crate::physics::detector`]) make a click change later
//! gates: after a click the engine switches to the click table of the remaining live
//! detectors until the dead time ends, and handles a released trapped carrier as an event
//! at its gate (that detector clicks for sure if live; the other is sampled from its
//! marginal law for the same pulse).
//!
//! Both dead-time modes are exact with the same four tables, one per set of live
//! detectors (mask): the state carried from gate to gate is the first live gate of each
//! detector and the release gates of trapped carriers ([`DetectorState`]), and a gate's
//! law depends on that state only through its mask and the carriers due there. In
//! *independent* mode a click sets the first live gate of each detector that clicked to
//! t + 1 + D, so all four masks occur. In *common* mode any click (a photon, a dark count
//! or a released carrier, at either detector) sets both to t + 1 + D, so the two entries
//! are always equal and the state collapses to "live" (mask both) or "blind" (mask none):
//! the tables of the one-detector masks are built but never read. Either way, between two
//! changes of the state the pulses are independent and identically distributed under one
//! mask, and each is decided from its own uniform against that mask's exact outcome
//! sub-intervals (above), so the records have the model's law gate by gate. A carrier
//! released while the receiver (common) or its detector (independent) is blind is lost,
//! as the model says.
//!
//! An efficiency mismatch m needs nothing more: the tables come from
//! [`crate::physics::LinkModel::click_pattern`], where a photon reaching detector 1 is
//! registered with probability eta m, and the forced-gate marginals from
//! [`crate::physics::LinkModel::silent_probability`], with the same efficiencies.
//!
//! # Chunks, streams, threads
//! Pulses are cut into chunks of [`CHUNK_PULSES`]; chunk c reads only its own two ChaCha8
//! streams: the word stream (seed, c), exactly one word per scanned pulse, in pulse order,
//! and the auxiliary stream (seed, 2^62 + c) for everything else (the low bits of
//! boundary cells, forced afterpulse gates, trapping and release delays), drawn in the
//! order the engine needs them. A scan that stops after a click leaves the words after it
//! unread for the next pulses, so each word decides exactly one pulse and each auxiliary
//! draw is used once: the pulses stay independent and the law exact. Chunks run in
//! parallel (rayon) from a *quiet* detector state (all live, nothing trapped). Their
//! outputs are then taken in order: when the previous chunk really ended with a detector
//! still blind or a carrier still trapped, the chunk is run again, sequentially, from that
//! true state with the same streams. Detector memory thus crosses chunk boundaries
//! exactly, and the result is a function of (scenario, seed) alone, whatever the number of
//! threads.
//!
//! Must never depend on `estimation`, `postprocess`, `analysis` or `report`.

use super::detection::{ChunkOutput, Detection};
use super::random::{Uniforms, Word, WordSource};
use crate::physics::{Basis, Detectors, LinkModel, Preparation};
use crate::rng::{self, Purpose};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Pulses per engine chunk (2^22, about 4 ms of a 1 GHz link).
pub const CHUNK_PULSES: u64 = 1 << 22;
/// Most intensity classes the engine supports (the scenario validation enforces it).
pub const MAX_INTENSITIES: usize = 8;

const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
/// Bits below the hot loop's word: a 0.64 fixed-point threshold T is compared with a
/// word u as `u` against `T >> WORD_SHIFT`.
const WORD_SHIFT: u32 = 64 - Word::BITS;

/// A probability as a 0.64 fixed-point number, saturating at 1 - 2^-64.
fn fixed(p: f64) -> u64 {
    if p <= 0.0 {
        0
    } else if p >= 1.0 {
        u64::MAX
    } else {
        (p * TWO_POW_64) as u64
    }
}

/// Configuration index: preparation (0..4) * 2 + Bob's basis (0..2).
pub(crate) fn config_parts(c: usize) -> (Preparation, Basis) {
    (Preparation::ALL[c / 2], Basis::BOTH[c % 2])
}

/// Bit of a [`MaskTable::lut`] entry marking a cell that straddles a sub-interval boundary;
/// the other bits then hold the index of the first sub-interval the cell meets.
const AMBIGUOUS: u16 = 0x8000;
/// Flags of a detection with at least one click.
const CLICK_FLAGS: u8 = Detection::FLAG_CLICK0 | Detection::FLAG_CLICK1;
/// Entries of a [`MaskTable::lut`]: one per value of the hot loop's word.
const LUT_LEN: usize = 1 << Word::BITS;
/// First stream index of the pulse engine's auxiliary streams: chunk c draws its extra
/// bits from stream `AUX_STREAM_OFFSET + c` (disjoint from the word stream c and from the
/// event engine's streams `2^63 + c`).
const AUX_STREAM_OFFSET: u64 = 1 << 62;

/// Outcome code of a sub-interval: the detection flags in the low byte (no click flag set
/// means no click) and the intensity class in bits 8..11.
fn outcome_code(k: usize, flags: u8) -> u16 {
    (k as u16) << 8 | flags as u16
}

/// Per live-detector mask: click regions and the exact law of a clicking pulse.
///
/// The unit interval (as 0.64 fixed point) is cut into sub-intervals, one per outcome:
/// per intensity class k, in order, one per (configuration c, click pattern s) of width
/// p_k w_c P(s | k, c, mask) (cumulated in f64 and rounded to 2^-64 at each boundary),
/// the double-click one split in two halves for Bob's squashed bit, then the no-click
/// rest of the class region. A pulse's outcome is the sub-interval holding its uniform U.
#[derive(Debug, Clone)]
pub(crate) struct MaskTable {
    click_end_hi: [Word; MAX_INTENSITIES],
    /// Per intensity: cumulative weights over (configuration, pattern), 24 entries;
    /// pattern 0 = only detector 0, 1 = only detector 1, 2 = both.
    pub(crate) cond: Vec<[f64; 24]>,
    /// Exclusive upper ends of the sub-intervals, ascending; the last one is open (it
    /// takes every U above the previous end).
    ends: Vec<u64>,
    /// Outcome code of each sub-interval (see [`outcome_code`]).
    codes: Vec<u16>,
    /// Per top word u of U (the cell [u 2^48, (u + 1) 2^48)): the outcome code when the
    /// cell lies inside one sub-interval, else [`AMBIGUOUS`] | the index of the first
    /// sub-interval that meets the cell.
    lut: Box<[u16; LUT_LEN]>,
}

impl MaskTable {
    /// The outcome code of a pulse whose top word is `u` and whose table entry `entry`
    /// is ambiguous: the low 48 bits of U are drawn from `aux` and the sub-interval
    /// holding U is found by a linear search from the first one meeting the cell.
    #[cold]
    #[inline(never)]
    fn refine(&self, u: Word, entry: u16, aux: &mut WordSource) -> u16 {
        let full = (u as u64) << WORD_SHIFT | aux.next_u64() >> Word::BITS;
        let last = self.ends.len() - 1;
        let mut i = (entry & !AMBIGUOUS) as usize;
        while i < last && self.ends[i] <= full {
            i += 1;
        }
        self.codes[i]
    }
}

/// State of the two detectors carried from gate to gate (and chunk to chunk).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DetectorState {
    /// First gate at which detector j is live again.
    pub live_from: [u64; 2],
    /// Gates at which trapped carriers of detector j are released, ascending.
    pub pending: [Vec<u64>; 2],
}

impl DetectorState {
    /// Enters gate `t`: carriers due while their detector is blind are lost (and any due
    /// before `t`, which can no longer act); returns which detectors are live and which
    /// must click because a carrier is released now, and takes those carriers off the
    /// queue (two released in one gate give one click).
    pub(crate) fn enter_gate(&mut self, t: u64) -> ([bool; 2], [bool; 2]) {
        let live = [t >= self.live_from[0], t >= self.live_from[1]];
        let mut forced = [false; 2];
        for j in 0..2 {
            let pending = &mut self.pending[j];
            while pending
                .first()
                .is_some_and(|&g| g < t || (g == t && !live[j]))
            {
                pending.remove(0);
            }
            while pending.first() == Some(&t) {
                pending.remove(0);
                forced[j] = true;
            }
        }
        (live, forced)
    }

    /// The first gate after `t` (and at most `end`) where the detectors' law changes: a
    /// dead time ends or a carrier is released. Call after [`DetectorState::enter_gate`].
    pub(crate) fn next_change(&self, t: u64, end: u64) -> u64 {
        let mut gate = end;
        for j in 0..2 {
            if self.live_from[j] > t {
                gate = gate.min(self.live_from[j]);
            }
            if let Some(&g) = self.pending[j].first() {
                gate = gate.min(g.max(t + 1));
            }
        }
        gate
    }

    /// No memory of earlier clicks reaches gate `at` or later.
    pub fn is_quiet_at(&self, at: u64) -> bool {
        self.live_from.iter().all(|&l| l <= at) && self.pending.iter().all(|p| p.is_empty())
    }
}

/// Counters of an engine run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStats {
    /// Chunks simulated.
    pub chunks: u64,
    /// Chunks simulated a second time from the true detector state of the previous chunk.
    pub rerun_chunks: u64,
}

/// The pulse engine for one link model and seed.
#[derive(Debug, Clone)]
pub struct PulseEngine {
    model: LinkModel,
    pub(crate) seed: u64,
    pub(crate) n_intensities: usize,
    start: [u64; MAX_INTENSITIES],
    start_hi: [Word; MAX_INTENSITIES],
    pub(crate) masks: [MaskTable; 4],
    config_cum: [f64; 8],
    /// Per intensity, configuration, detector: probability the detector stays silent.
    silent: Vec<[[f64; 2]; 8]>,
}

impl PulseEngine {
    /// Precomputes the tables of a link.
    pub fn new(model: &LinkModel, seed: u64) -> PulseEngine {
        let nk = model.intensities.len();
        assert!(
            (1..=MAX_INTENSITIES).contains(&nk),
            "1..=8 intensity classes"
        );
        let mut start = [u64::MAX; MAX_INTENSITIES];
        let mut cum = 0.0;
        for (k, class) in model.intensities.iter().enumerate() {
            start[k] = if k == 0 { 0 } else { fixed(cum) };
            cum += class.probability;
        }
        let region_end = |k: usize| if k + 1 < nk { start[k + 1] } else { u64::MAX };
        let mut start_hi = [Word::MAX; MAX_INTENSITIES];
        for k in 0..nk {
            start_hi[k] = (start[k] >> WORD_SHIFT) as Word;
        }

        let weights: Vec<f64> = (0..8)
            .map(|c| {
                let (prep, bob) = config_parts(c);
                model.configuration_probability(prep, bob)
            })
            .collect();
        let mut config_cum = [0.0; 8];
        let mut acc = 0.0;
        for c in 0..8 {
            acc += weights[c];
            config_cum[c] = acc;
        }

        let masks = std::array::from_fn(|m| {
            let live = [m & 1 != 0, m & 2 != 0];
            let mut click_end_hi = [0 as Word; MAX_INTENSITIES];
            let mut cond = Vec::with_capacity(nk);
            let mut ends = Vec::with_capacity(nk * 33);
            let mut codes = Vec::with_capacity(nk * 33);
            for (k, class) in model.intensities.iter().enumerate() {
                let mut table = [0.0; 24];
                let mut acc = 0.0;
                for c in 0..8 {
                    let (prep, bob) = config_parts(c);
                    let [_, only0, only1, both] =
                        model.click_pattern(class.photons, prep, bob, live);
                    for (p, prob) in [only0, only1, both].into_iter().enumerate() {
                        acc += weights[c] * prob;
                        table[c * 3 + p] = acc;
                    }
                }
                // Sub-interval ends: start_k + fixed(p_k * cumulative weight), so each
                // outcome has probability p_k w_c P(s | k, c) rounded to 2^-64.
                let region = region_end(k);
                let mut prev = start[k];
                for (i, &w) in table.iter().enumerate() {
                    let end = start[k]
                        .saturating_add(fixed(class.probability * w))
                        .min(region)
                        .max(prev);
                    let (prep, bob) = config_parts(i / 3);
                    match i % 3 {
                        0 | 1 => {
                            let one = i % 3 == 1;
                            ends.push(end);
                            let flags = detection_flags(prep, bob, [!one, one], one, false);
                            codes.push(outcome_code(k, flags));
                        }
                        _ => {
                            // Both clicked: Bob's bit is a fair coin (squashing), the
                            // lower half of the sub-interval for 0, the upper for 1.
                            for (bit, e) in [(false, prev + (end - prev) / 2), (true, end)] {
                                ends.push(e);
                                let flags = detection_flags(prep, bob, [true, true], bit, false);
                                codes.push(outcome_code(k, flags));
                            }
                        }
                    }
                    prev = end;
                }
                click_end_hi[k] = (prev >> WORD_SHIFT) as Word;
                ends.push(region);
                codes.push(outcome_code(k, 0));
                cond.push(table);
            }
            let lut = build_lut(&ends, &codes);
            MaskTable {
                click_end_hi,
                cond,
                ends,
                codes,
                lut,
            }
        });

        let silent = model
            .intensities
            .iter()
            .map(|class| {
                std::array::from_fn(|c| {
                    let (prep, bob) = config_parts(c);
                    std::array::from_fn(|j| model.silent_probability(class.photons, prep, bob, j))
                })
            })
            .collect();

        PulseEngine {
            model: model.clone(),
            seed,
            n_intensities: nk,
            start,
            start_hi,
            masks,
            config_cum,
            silent,
        }
    }

    /// The link this engine simulates.
    pub fn model(&self) -> &LinkModel {
        &self.model
    }

    /// Simulates `total_pulses` pulses, handing each chunk's output to `sink` in pulse
    /// order, and calling `progress` with the number of pulses done so far.
    pub fn run(
        &self,
        total_pulses: u64,
        progress: &(dyn Fn(u64) + Sync),
        sink: impl FnMut(ChunkOutput),
    ) -> EngineStats {
        self.run_until(total_pulses, progress, None, sink)
    }

    /// [`PulseEngine::run`] that stops early, after the batch of chunks in progress, once
    /// `stop` is set (the caller then knows the output is incomplete: it set the flag).
    pub fn run_until(
        &self,
        total_pulses: u64,
        progress: &(dyn Fn(u64) + Sync),
        stop: Option<&AtomicBool>,
        sink: impl FnMut(ChunkOutput),
    ) -> EngineStats {
        run_stitched(
            total_pulses,
            CHUNK_PULSES,
            4,
            |c, p0, n, state| self.simulate_chunk(c, p0, n, state),
            progress,
            stop,
            sink,
        )
    }

    /// The word stream (one 16-bit word per pulse) and the auxiliary stream (refinement
    /// bits, afterpulse delays) of chunk `chunk`.
    fn chunk_streams(&self, chunk: u64) -> (WordSource, WordSource) {
        (
            WordSource::new(rng::stream(self.seed, Purpose::EngineChunk, chunk)),
            WordSource::new(rng::stream(
                self.seed,
                Purpose::EngineChunk,
                AUX_STREAM_OFFSET.wrapping_add(chunk),
            )),
        )
    }

    /// Simulates chunk `chunk` (pulses `first_pulse .. first_pulse + n_pulses`) from the
    /// detector state `state`; returns the output and the state after its last gate.
    pub fn simulate_chunk(
        &self,
        chunk: u64,
        first_pulse: u64,
        n_pulses: u64,
        mut state: DetectorState,
    ) -> (ChunkOutput, DetectorState) {
        let (mut src, mut aux) = self.chunk_streams(chunk);
        let mut counts = [0u64; MAX_INTENSITIES];
        let expected_clicks =
            (n_pulses as f64 * self.model.system_transmittance() * 0.6).min(n_pulses as f64);
        let mut detections = Vec::with_capacity(expected_clicks as usize + 16);
        let end = first_pulse + n_pulses;
        let dead = self.model.detectors.dead_gates;
        // Without detector memory a click changes nothing for later gates, so the scan
        // goes on through clicks; otherwise it stops after the first click.
        let memoryless = self.model.detectors.memoryless();
        let mut t = first_pulse;
        while t < end {
            let (live, forced) = state.enter_gate(t);
            if forced[0] || forced[1] {
                self.forced_gate(
                    t,
                    live,
                    forced,
                    &mut aux,
                    &mut counts,
                    &mut state,
                    &mut detections,
                    dead,
                );
                t += 1;
                continue;
            }
            let span_end = state.next_change(t, end);
            let mask = live[0] as usize | (live[1] as usize) << 1;
            let table = &self.masks[mask];
            let span_start = t;
            let processed = self.scan(
                &mut src,
                span_end - t,
                &table.click_end_hi,
                &mut counts,
                #[inline(always)]
                |offset, u| {
                    let entry = table.lut[u as usize];
                    let code = if entry & AMBIGUOUS == 0 {
                        entry
                    } else {
                        table.refine(u, entry, &mut aux)
                    };
                    let k = (code >> 8) as usize;
                    let flags = code as u8;
                    if flags & CLICK_FLAGS == 0 {
                        return (k, false);
                    }
                    let gate = span_start + offset;
                    detections.push(Detection {
                        pulse: gate,
                        intensity: k as u8,
                        flags,
                    });
                    if memoryless {
                        return (k, false);
                    }
                    let clicks = [
                        flags & Detection::FLAG_CLICK0 != 0,
                        flags & Detection::FLAG_CLICK1 != 0,
                    ];
                    self.after_click(gate, clicks, &mut aux, &mut state, dead);
                    (k, true)
                },
            );
            t += processed;
        }
        let out = ChunkOutput {
            index: chunk,
            first_pulse,
            pulses: n_pulses,
            pulses_per_intensity: counts[..self.n_intensities].to_vec(),
            detections,
            sift: None,
        };
        (out, state)
    }

    /// The intensity class whose region holds the full 64-bit uniform `u`.
    #[inline]
    pub(crate) fn intensity_of(&self, u: u64) -> usize {
        (1..self.n_intensities)
            .filter(|&k| u >= self.start[k])
            .count()
    }

    /// Scans up to `n` pulses, calling `on_candidate(offset, top_word)` for every pulse
    /// that may click; it returns that pulse's intensity class and whether to stop.
    /// Returns the number of pulses processed (all counted).
    #[inline]
    fn scan<F>(
        &self,
        src: &mut WordSource,
        n: u64,
        click_hi: &[Word; MAX_INTENSITIES],
        counts: &mut [u64; MAX_INTENSITIES],
        on_candidate: F,
    ) -> u64
    where
        F: FnMut(u64, Word) -> (usize, bool),
    {
        let s = &self.start_hi;
        match self.n_intensities {
            1 => scan_kernel::<0, F>(s, click_hi, src, n, counts, on_candidate),
            2 => scan_kernel::<1, F>(s, click_hi, src, n, counts, on_candidate),
            3 => scan_kernel::<2, F>(s, click_hi, src, n, counts, on_candidate),
            4 => scan_kernel::<3, F>(s, click_hi, src, n, counts, on_candidate),
            5 => scan_kernel::<4, F>(s, click_hi, src, n, counts, on_candidate),
            6 => scan_kernel::<5, F>(s, click_hi, src, n, counts, on_candidate),
            7 => scan_kernel::<6, F>(s, click_hi, src, n, counts, on_candidate),
            _ => scan_kernel::<7, F>(s, click_hi, src, n, counts, on_candidate),
        }
    }

    /// A gate at which a trapped carrier is released on a live detector (`forced`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forced_gate(
        &self,
        t: u64,
        live: [bool; 2],
        forced: [bool; 2],
        src: &mut WordSource,
        counts: &mut [u64; MAX_INTENSITIES],
        state: &mut DetectorState,
        detections: &mut Vec<Detection>,
        dead: u64,
    ) {
        let k = self.intensity_of(src.next_u64());
        counts[k] += 1;
        let r = src.uniform() * self.config_cum[7];
        let c = self.config_cum.iter().position(|&w| r < w).unwrap_or(7);
        let mut clicks = forced;
        for j in 0..2 {
            if live[j] && !forced[j] {
                clicks[j] = src.uniform() >= self.silent[k][c][j];
            }
        }
        self.record_click(t, k, c, clicks, true, src, state, detections, dead);
    }

    /// Records a click at gate `t` and updates dead times and trapped carriers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_click(
        &self,
        t: u64,
        k: usize,
        config: usize,
        clicks: [bool; 2],
        afterpulse: bool,
        src: &mut WordSource,
        state: &mut DetectorState,
        detections: &mut Vec<Detection>,
        dead: u64,
    ) {
        let (prep, bob) = config_parts(config);
        let bob_bit = if clicks[0] && clicks[1] {
            src.next_u32() & 1 == 1
        } else {
            clicks[1]
        };
        detections.push(Detection {
            pulse: t,
            intensity: k as u8,
            flags: detection_flags(prep, bob, clicks, bob_bit, afterpulse),
        });
        self.after_click(t, clicks, src, state, dead);
    }

    /// Dead time and trapped carriers after the clicks `clicks` at gate `t` ([`after_click`]).
    #[inline]
    fn after_click(
        &self,
        t: u64,
        clicks: [bool; 2],
        src: &mut WordSource,
        state: &mut DetectorState,
        dead: u64,
    ) {
        after_click(&self.model.detectors, t, clicks, src, state, dead);
    }
}

/// Dead time and trapped carriers after the clicks `clicks` at gate `t`: in common mode any
/// click blinds both detectors, in independent mode each detector that clicked; each
/// detector that clicked may trap a carrier.
#[inline]
pub(crate) fn after_click<S: Uniforms>(
    detectors: &Detectors,
    t: u64,
    clicks: [bool; 2],
    src: &mut S,
    state: &mut DetectorState,
    dead: u64,
) {
    if detectors.common_dead_time() {
        if clicks[0] || clicks[1] {
            state.live_from = [t + 1 + dead; 2];
        }
    } else {
        for j in 0..2 {
            if clicks[j] {
                state.live_from[j] = t + 1 + dead;
            }
        }
    }
    if detectors.afterpulse_probability > 0.0 {
        for j in 0..2 {
            if clicks[j] {
                maybe_trap(detectors, t, j, src, state, dead);
            }
        }
    }
}

/// With probability p_ap, a click of detector `j` at gate `t` traps a carrier; its release
/// gate joins the detector's pending list. Kept out of line so the logarithm of the delay
/// draw never runs on the common path.
#[cold]
#[inline(never)]
fn maybe_trap<S: Uniforms>(
    det: &Detectors,
    t: u64,
    j: usize,
    src: &mut S,
    state: &mut DetectorState,
    dead: u64,
) {
    if src.uniform() < det.afterpulse_probability {
        let release = t + dead + 1 + det.afterpulse_delay(src.uniform_open0());
        let pending = &mut state.pending[j];
        let at = pending.partition_point(|&g| g <= release);
        pending.insert(at, release);
    }
}

/// The flags of a detection record.
#[inline]
pub(crate) fn detection_flags(
    prep: Preparation,
    bob: Basis,
    clicks: [bool; 2],
    bob_bit: bool,
    afterpulse: bool,
) -> u8 {
    let mut flags = 0u8;
    if prep.basis == Basis::X {
        flags |= Detection::FLAG_ALICE_X;
    }
    if prep.bit {
        flags |= Detection::FLAG_ALICE_BIT;
    }
    if bob == Basis::X {
        flags |= Detection::FLAG_BOB_X;
    }
    if bob_bit {
        flags |= Detection::FLAG_BOB_BIT;
    }
    if clicks[0] {
        flags |= Detection::FLAG_CLICK0;
    }
    if clicks[1] {
        flags |= Detection::FLAG_CLICK1;
    }
    if afterpulse {
        flags |= Detection::FLAG_AFTERPULSE;
    }
    flags
}

/// The lookup table of a mask: for each top word u, the first sub-interval whose end lies
/// above the cell's start; the cell is decided when it ends inside that sub-interval (or
/// that sub-interval is the last, open one).
fn build_lut(ends: &[u64], codes: &[u16]) -> Box<[u16; LUT_LEN]> {
    let mut lut: Box<[u16; LUT_LEN]> = vec![0u16; LUT_LEN]
        .into_boxed_slice()
        .try_into()
        .expect("LUT_LEN entries");
    let last = ends.len() - 1;
    assert!(last < AMBIGUOUS as usize, "too many outcomes");
    let mut j = 0;
    for (u, entry) in lut.iter_mut().enumerate() {
        let lo = (u as u64) << WORD_SHIFT;
        let hi = lo | ((1u64 << WORD_SHIFT) - 1);
        while j < last && ends[j] <= lo {
            j += 1;
        }
        *entry = if j == last || ends[j] > hi {
            codes[j]
        } else {
            AMBIGUOUS | j as u16
        };
    }
    lut
}

/// The chunk scheme shared by both engines: chunks of `chunk_pulses` run in parallel
/// batches (`batch_per_thread` chunks per thread) from a quiet detector state; their
/// outputs are then taken in order, and a chunk whose predecessor did not end quiet is
/// simulated again, sequentially, from the true carried state with the same stream. The
/// result depends only on the chunk simulator, never on the thread count. Once `stop` is
/// set, no further batch starts (cancellation: the chunks handed to `sink` so far are
/// still the exact first chunks of the run).
pub(crate) fn run_stitched(
    total_pulses: u64,
    chunk_pulses: u64,
    batch_per_thread: u64,
    simulate: impl Fn(u64, u64, u64, DetectorState) -> (ChunkOutput, DetectorState) + Sync,
    progress: &(dyn Fn(u64) + Sync),
    stop: Option<&AtomicBool>,
    sink: impl FnMut(ChunkOutput),
) -> EngineStats {
    let simulate = |t: &ChunkTask, state| simulate(t.chunk, t.first_pulse, t.pulses, state);
    run_tasks(
        chunk_tasks(0, 0, total_pulses, chunk_pulses),
        batch_per_thread,
        simulate,
        |t, _quiet, carry| (simulate(t, carry.clone()), true),
        &|_| {},
        DetectorState::default(),
        progress,
        stop,
        sink,
    )
    .0
}

/// One chunk of a run: segment `segment`'s chunk `chunk` (its stream index within the
/// segment's engine), pulses `first_pulse .. first_pulse + pulses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkTask {
    pub segment: usize,
    pub chunk: u64,
    pub first_pulse: u64,
    pub pulses: u64,
}

/// The chunks of segment `segment`, pulses `first .. first + pulses`, cut at the
/// multiples of `chunk_pulses` from `first` (chunk c starts at first + c chunk_pulses).
pub(crate) fn chunk_tasks(
    segment: usize,
    first: u64,
    pulses: u64,
    chunk_pulses: u64,
) -> impl Iterator<Item = ChunkTask> {
    (0..pulses.div_ceil(chunk_pulses)).map(move |c| {
        let p0 = c * chunk_pulses;
        ChunkTask {
            segment,
            chunk: c,
            first_pulse: first + p0,
            pulses: chunk_pulses.min(pulses - p0),
        }
    })
}

/// [`run_stitched`] over any sequence of chunks in pulse order (pulse ranges ascending,
/// gaps allowed), taken lazily one batch at a time (a run of 10^15 pulses has 2^28
/// chunks: they are never all held), from the detector state `carry`; returns the statistics and the state after
/// the last chunk. `progress` receives the end pulse of the last chunk taken. Once `stop`
/// is set no further batch starts (cancellation).
///
/// A chunk whose carried state is not quiet at its first pulse goes to `resume(task,
/// quiet, carry)` with its output from the quiet state; `resume` returns the chunk's true
/// output and end state, and whether it simulated the chunk again (counted in
/// `rerun_chunks`). Simulating again from `carry` with the same stream is always exact;
/// an engine may reuse the quiet output where the law allows it (the event engine's
/// blind-start coupling, `event::EventEngine::resume_chunk`, which keeps the quiet
/// output's detections). `prepare` runs on every chunk's output in the parallel phase and
/// again on a chunk simulated again (the run's sifting of each chunk on its own, see
/// `sifting::ChunkSift`); it must depend on the detections only.
pub(crate) fn run_tasks(
    mut tasks: impl Iterator<Item = ChunkTask>,
    batch_per_thread: u64,
    simulate: impl Fn(&ChunkTask, DetectorState) -> (ChunkOutput, DetectorState) + Sync,
    resume: impl Fn(
        &ChunkTask,
        (ChunkOutput, DetectorState),
        &DetectorState,
    ) -> ((ChunkOutput, DetectorState), bool),
    prepare: &(dyn Fn(&mut ChunkOutput) + Sync),
    mut carry: DetectorState,
    progress: &(dyn Fn(u64) + Sync),
    stop: Option<&AtomicBool>,
    mut sink: impl FnMut(ChunkOutput),
) -> (EngineStats, DetectorState) {
    let batch =
        (batch_per_thread * rayon::current_num_threads() as u64).max(batch_per_thread) as usize;
    let mut stats = EngineStats::default();
    loop {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let group: Vec<ChunkTask> = tasks.by_ref().take(batch).collect();
        if group.is_empty() {
            break;
        }
        stats.chunks += group.len() as u64;
        let results: Vec<(ChunkOutput, DetectorState)> = group
            .par_iter()
            .map(|t| {
                let (mut out, state) = simulate(t, DetectorState::default());
                prepare(&mut out);
                (out, state)
            })
            .collect();
        for (t, (mut out, mut end_state)) in group.iter().zip(results) {
            if !carry.is_quiet_at(t.first_pulse) {
                let again;
                ((out, end_state), again) = resume(t, (out, end_state), &carry);
                stats.rerun_chunks += again as u64;
                if again {
                    prepare(&mut out);
                }
            }
            carry = end_state;
            sink(out);
        }
        if let Some(t) = group.last() {
            progress(t.first_pulse + t.pulses);
        }
    }
    (stats, carry)
}

/// The candidate flags (0 or 1 per byte, 8 words' worth per `u64`) of a block as a bit
/// mask, bit i for word i: the multiplication gathers the low bit of each byte into the top
/// byte without carries (the partial products land on distinct bits).
#[inline(always)]
fn pack_flags(flags: &[u8; BLOCK]) -> u64 {
    let mut mask = 0u64;
    for (g, bytes) in flags.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        mask |= (x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * g);
    }
    mask
}

/// Words per block of the hot loop (one bit each in the candidate mask).
const BLOCK: usize = 64;

/// The hot loop for `NB + 1` intensity classes, in blocks of up to [`BLOCK`] pulses so the
/// compiler can vectorise it: per pulse one 16-bit word; a pulse is a *candidate* when its
/// word lies in the top-word range of some click region, `start_hi[k] ..= click_hi[k]`
/// (this also catches every word in a boundary cell, so non-candidates are decided
/// exactly). Per block, one vectorised pass flags the candidates; they go, in order, to
/// `on_candidate` (which decides them exactly, with the lookup table and if need be more
/// bits from the auxiliary stream, never from this stream); every pulse is also counted by
/// its word's class compares (`NB` per pulse, vectorised), and the candidates are taken
/// off those counts again, as their class is the one `on_candidate` returns. When `on_candidate` asks to stop (a
/// click that changes the detectors' law), the block ends after that pulse: the words
/// after it stay unread for the next scan.
#[inline(always)]
fn scan_kernel<const NB: usize, F>(
    start_hi: &[Word; MAX_INTENSITIES],
    click_hi: &[Word; MAX_INTENSITIES],
    src: &mut WordSource,
    n: u64,
    counts: &mut [u64; MAX_INTENSITIES],
    mut on_candidate: F,
) -> u64
where
    F: FnMut(u64, Word) -> (usize, bool),
{
    let mut width = [0 as Word; MAX_INTENSITIES];
    for k in 0..=NB {
        width[k] = click_hi[k] - start_hi[k];
    }
    let is_candidate = |u: Word| {
        (0..=NB).fold(false, |hit, k| {
            hit | (u.wrapping_sub(start_hi[k]) <= width[k])
        })
    };
    let mut done = 0u64;
    let mut at_least = [0u64; NB];
    let mut candidates_by_class = [0u64; MAX_INTENSITIES];
    // Candidates among the pulses counted in at_least (taken off at the end).
    let mut candidate_above = [0u64; NB];
    let mut stopped = false;
    while done < n && !stopped {
        let avail = src.available();
        let take = (avail.len() as u64).min(n - done) as usize;
        let mut used = 0usize;
        for block in avail[..take].chunks(BLOCK) {
            let mut flags = [0u8; BLOCK];
            for (f, &u) in flags.iter_mut().zip(block) {
                *f = is_candidate(u) as u8;
            }
            let mut len = block.len();
            if flags.iter().fold(0u8, |a, &f| a | f) != 0 {
                let mut mask = pack_flags(&flags);
                let first = done + used as u64;
                while mask != 0 {
                    let i = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    let u = block[i];
                    for j in 0..NB {
                        candidate_above[j] += (u >= start_hi[j + 1]) as u64;
                    }
                    let (k, stop) = on_candidate(first + i as u64, u);
                    candidates_by_class[k] += 1;
                    if stop {
                        len = i + 1;
                        stopped = true;
                        break;
                    }
                }
            }
            for j in 0..NB {
                let s = start_hi[j + 1];
                let mut above = 0u16;
                for &u in &block[..len] {
                    above += (u >= s) as u16;
                }
                at_least[j] += above as u64;
            }
            used += len;
            if stopped {
                break;
            }
        }
        src.consume(used);
        done += used as u64;
    }
    for j in 0..NB {
        at_least[j] -= candidate_above[j];
    }
    // at_least[j] counts non-candidate pulses of class > j, so class k has
    // at_least[k-1] - at_least[k] of them; candidates were classified exactly.
    let mut above_prev = done - candidates_by_class.iter().sum::<u64>();
    for j in 0..NB {
        counts[j] += above_prev - at_least[j];
        above_prev = at_least[j];
    }
    counts[NB] += above_prev;
    for k in 0..=NB {
        counts[k] += candidates_by_class[k];
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;

    fn engine(body: &str) -> PulseEngine {
        let s = Scenario::parse(body, "test").expect("valid scenario");
        PulseEngine::new(&LinkModel::from_scenario(&s), 1)
    }

    /// The outcome code of U by a plain search over the sub-intervals.
    fn search(table: &MaskTable, full: u64) -> u16 {
        let last = table.ends.len() - 1;
        let i = table.ends[..last]
            .iter()
            .position(|&e| e > full)
            .unwrap_or(last);
        table.codes[i]
    }

    #[test]
    fn lookup_table_agrees_with_the_full_search() {
        for body in [
            "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.2\n",
            "[link]\nlength_km = 100.0\n",
            "[link]\nlength_km = 0.0\n[detector]\nefficiency = 1.0\n[[source.intensities]]\n\
             label = \"bright\"\nmean_photon_number = 3.0\nprobability = 1.0\n",
        ] {
            let e = engine(body);
            for table in &e.masks {
                assert!(table.ends.windows(2).all(|w| w[0] <= w[1]));
                for u in 0..LUT_LEN as u64 {
                    let lo = u << WORD_SHIFT;
                    let hi = lo | ((1 << WORD_SHIFT) - 1);
                    let entry = table.lut[u as usize];
                    if entry & AMBIGUOUS == 0 {
                        assert_eq!(search(table, lo), entry, "{body} word {u}");
                        assert_eq!(search(table, hi), entry, "{body} word {u}");
                    } else {
                        assert_ne!(search(table, lo), search(table, hi));
                        // The search from the entry's index finds the same as a full one.
                        let last = table.ends.len() - 1;
                        for full in [lo, lo + (hi - lo) / 3, hi] {
                            let mut i = (entry & !AMBIGUOUS) as usize;
                            while i < last && table.ends[i] <= full {
                                i += 1;
                            }
                            assert_eq!(table.codes[i], search(table, full));
                        }
                    }
                    // Non-candidate words are never a click and have the class of the
                    // top-word compare.
                    let w = u as Word;
                    let candidate = (0..e.n_intensities)
                        .any(|k| (e.start_hi[k]..=table.click_end_hi[k]).contains(&w));
                    if !candidate {
                        assert_eq!(entry & AMBIGUOUS, 0);
                        assert_eq!(entry as u8 & CLICK_FLAGS, 0);
                        let k = (1..e.n_intensities).filter(|&k| w >= e.start_hi[k]).count();
                        assert_eq!((entry >> 8) as usize, k);
                    }
                }
            }
        }
    }

    #[test]
    fn sub_intervals_have_the_exact_probabilities() {
        let e = engine(
            "[link]\nlength_km = 10.0\nmisalignment = 0.03\n[detector]\nefficiency = 0.3\n\
             dark_count_probability = 1e-3\nefficiency_mismatch = 0.7\n",
        );
        let model = e.model();
        for (m, table) in e.masks.iter().enumerate() {
            let live = [m & 1 != 0, m & 2 != 0];
            let mut prob = std::collections::HashMap::<u16, f64>::new();
            let mut prev = 0u64;
            for (&end, &code) in table.ends.iter().zip(&table.codes) {
                let end = if end == *table.ends.last().unwrap() {
                    u64::MAX
                } else {
                    end
                };
                *prob.entry(code).or_default() += (end - prev) as f64 / TWO_POW_64;
                prev = end;
            }
            for (k, class) in model.intensities.iter().enumerate() {
                for c in 0..8 {
                    let (prep, bob) = config_parts(c);
                    let w = class.probability * model.configuration_probability(prep, bob);
                    let [_, only0, only1, both] =
                        model.click_pattern(class.photons, prep, bob, live);
                    for (clicks, bit, p) in [
                        ([true, false], false, only0),
                        ([false, true], true, only1),
                        ([true, true], false, both / 2.0),
                        ([true, true], true, both / 2.0),
                    ] {
                        let code = outcome_code(k, detection_flags(prep, bob, clicks, bit, false));
                        let got = prob.get(&code).copied().unwrap_or(0.0);
                        assert!(
                            (got - w * p).abs() < 1e-15,
                            "mask {m} class {k} config {c}: {got} vs {}",
                            w * p
                        );
                    }
                }
            }
        }
    }

    /// The engine written plainly: pulse by pulse, one word each, the same streams.
    fn plain_chunk(
        e: &PulseEngine,
        chunk: u64,
        first_pulse: u64,
        n_pulses: u64,
        mut state: DetectorState,
    ) -> (ChunkOutput, DetectorState) {
        let (mut src, mut aux) = e.chunk_streams(chunk);
        let mut counts = [0u64; MAX_INTENSITIES];
        let mut detections = Vec::new();
        let dead = e.model.detectors.dead_gates;
        for t in first_pulse..first_pulse + n_pulses {
            let (live, forced) = state.enter_gate(t);
            if forced[0] || forced[1] {
                e.forced_gate(
                    t,
                    live,
                    forced,
                    &mut aux,
                    &mut counts,
                    &mut state,
                    &mut detections,
                    dead,
                );
                continue;
            }
            let table = &e.masks[live[0] as usize | (live[1] as usize) << 1];
            let u = src.next_word();
            let full = (u as u64) << WORD_SHIFT;
            let entry = table.lut[u as usize];
            let code = if entry & AMBIGUOUS == 0 {
                assert_eq!(search(table, full), entry);
                entry
            } else {
                table.refine(u, entry, &mut aux)
            };
            let k = (code >> 8) as usize;
            counts[k] += 1;
            let flags = code as u8;
            if flags & CLICK_FLAGS != 0 {
                detections.push(Detection {
                    pulse: t,
                    intensity: k as u8,
                    flags,
                });
                // Without memory the engine keeps no state (a click changes no later
                // gate, and live_from = t + 1 would be quiet anyway).
                if !e.model.detectors.memoryless() {
                    let clicks = [flags & 0x10 != 0, flags & 0x20 != 0];
                    e.after_click(t, clicks, &mut aux, &mut state, dead);
                }
            }
        }
        let out = ChunkOutput {
            index: chunk,
            first_pulse,
            pulses: n_pulses,
            pulses_per_intensity: counts[..e.n_intensities].to_vec(),
            detections,
            sift: None,
        };
        (out, state)
    }

    #[test]
    fn scan_gives_the_same_records_as_the_plain_engine() {
        let eight: String = (0..8)
            .map(|k| {
                format!(
                    "[[source.intensities]]\nlabel = \"i{k}\"\nmean_photon_number = {}\nprobability = 0.125\n",
                    0.1 * k as f64
                )
            })
            .collect();
        for body in [
            "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.2\n".to_string(),
            "[link]\nlength_km = 60.0\n[detector]\ndark_count_probability = 1e-3\n".to_string(),
            "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\ndead_time_ns = 20.0\n\
             afterpulse_probability = 0.1\n"
                .to_string(),
            "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\ndead_time_ns = 20.0\n\
             afterpulse_probability = 0.1\ndead_time_mode = \"independent\"\n\
             efficiency_mismatch = 0.6\n"
                .to_string(),
            format!("[link]\nlength_km = 5.0\n{eight}"),
            "[link]\nlength_km = 0.0\n[[source.intensities]]\nlabel = \"b\"\n\
             mean_photon_number = 3.0\nprobability = 1.0\n[detector]\nefficiency = 1.0\n"
                .to_string(),
        ] {
            let e = engine(&body);
            let mut state = DetectorState::default();
            let mut plain_state = DetectorState::default();
            for chunk in 0..3 {
                let (n, p0) = (100_003, chunk * 100_003);
                let (out, next) = e.simulate_chunk(chunk, p0, n, state);
                let (want, plain_next) = plain_chunk(&e, chunk, p0, n, plain_state);
                assert_eq!(out, want, "{body}");
                assert_eq!(next, plain_next);
                assert_eq!(out.pulses_per_intensity.iter().sum::<u64>(), n);
                assert!(!out.detections.is_empty());
                (state, plain_state) = (next, plain_next);
            }
        }
    }

    #[test]
    fn flags_pack_into_a_bit_mask() {
        let mut flags = [0u8; BLOCK];
        for i in [0, 1, 7, 8, 13, 31, 32, 55, 63] {
            flags[i] = 1;
        }
        let want = [0, 1, 7, 8, 13, 31, 32, 55, 63]
            .iter()
            .fold(0u64, |m, &i| m | 1 << i);
        assert_eq!(pack_flags(&flags), want);
        assert_eq!(pack_flags(&[1; BLOCK]), u64::MAX);
    }
}
