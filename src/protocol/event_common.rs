//! The event engine's fast loop for receivers whose two detectors are live or blind
//! together: no detector memory at all, a *common* dead time, and afterpulsing with a
//! common dead time (or with none). One 64-bit ChaCha8 word per click decides both the
//! gap to the click and the click's whole outcome, half a word when the gap shortcut
//! applies; a dead time is crossed in one jump.
//!
//! # Half a word per click
//! When the per-link gap shortcut exists (click probability c >~ 1e-3, below), a click
//! takes 32 bits, each word split into two halves used by consecutive clicks: the low 16
//! bits are the top 16 of the gap's 52-bit field, the high 16 select one of 65,536
//! outcome cells. A decided gap cell needs nothing more; an undecided one (a few per
//! cent) takes the field's other 36 bits from the top of a fresh word, and a straddling
//! outcome cell takes 48 more bits likewise. Every bit read is a fresh fair bit used once,
//! so the gap's 52-bit field and the outcome's 64-bit point have exactly the laws of the
//! one-word layout below; only which stream bits feed them changes.
//!
//! # One word per click, split exactly
//! While the receiver is live and no trapped carrier is due, pulses are i.i.d. and pulse t
//! clicks with probability c (the both-live click probability of [`super::event`]). The
//! click-free pulses before the next click number G ~ Geometric(c), P(G >= n) = (1 - c)^n,
//! and the click's outcome is independent of G with the conditional law
//! P(k, c, s | click) (module doc of [`super::event`]). A word w has 64 independent fair
//! bits, so its top 12 bits and its low 52 bits are independent uniforms:
//! - the low 52 bits give u = (w_52 + 1/2) 2^-52 in (0, 1) and G = floor(ln u / ln(1 - c))
//!   (inversion: P(G >= n) = P(u <= (1 - c)^n) = (1 - c)^n up to u's 2^-52 grid;
//!   Devroye, *Non-Uniform Random Variate Generation*, 1986, Ch. X.2), the logarithm
//!   from [`super::unit_log`] (error bound and why it is f64 resolution there); when
//!   the click probability is high enough (c >~ 1e-3) a per-link table over the top 16
//!   of those 52 bits gives the gap without the logarithm for every cell whose uniforms
//!   all have the same gap (over 80 % of the cells, else the table is not built),
//!   provably the value the logarithm would give (`gap_cells`);
//! - the top 12 bits select one of 4096 cells of the outcome law laid out on [0, 2^64) as
//!   in the pulse engine ([`super::engine`], "Exactness with few random bits per pulse"):
//!   consecutive sub-intervals, one per outcome, of width its conditional probability
//!   rounded to 2^-64. A cell inside one sub-interval gives the outcome at once (a
//!   lookup); a cell that straddles a boundary (a few per cent of the draws) takes 52
//!   more bits from the next word and searches: exactly the outcome whose sub-interval
//!   holds the 64-bit point, as in the pulse engine's `refine`.
//!
//! The outcomes are (intensity k, configuration, click pattern), the double-click ones
//! halved for Bob's fair squashing bit (as in the pulse engine), and, when the detectors
//! afterpulse, each further split by whether each clicking detector traps a carrier:
//! independently with probability p_ap per clicking detector ([`crate::physics::detector`]),
//! so the split multiplies the sub-interval by (1 - p_ap) or p_ap per detector. The
//! release delay of a trapped carrier (rare) takes one more word.
//!
//! # Dead-time windows in one jump
//! In common mode a click at gate t blinds both detectors for gates t + 1 ..= t + D: no
//! click (photon, dark count or afterpulse) can register there, and a carrier released
//! there is lost ([`crate::physics::detector`]). Those D pulses are click-free and leave no
//! trace but their intensity, whose law given "blind" is the prior p_k (the no-click law
//! q(0) of mask "both blind"); they are added to the mask-0 count that the chunk's
//! multinomial split ([`super::event`]) turns into per-intensity counts. So the loop moves
//! from t straight to t + 1 + D, drops the carriers due inside the window, and draws the
//! next gap from there: the same law as stepping gate by gate, with no draw in between.
//!
//! # Released carriers
//! A carrier due at gate g while the receiver is live forces a click at g (module doc of
//! [`super::event`]): the gap is drawn only up to g (memoryless law: a gap reaching g is
//! discarded and the words after it are fresh), and gate g is simulated as the pulse
//! engine's `forced_gate` does it: intensity from the prior, configuration from its
//! weights, the released detector clicks, the other clicks with its marginal 1 - P(silent
//! | k, configuration), squashing bit for a double click, traps, dead time.
//!
//! Must never depend on `estimation`, `postprocess`, `analysis` or `report`; it reads
//! `physics` and the pulse engine's tables only.

use super::detection::Detection;
use super::engine::{DetectorState, MAX_INTENSITIES, PulseEngine, config_parts};
use super::random::U64Source;
use super::unit_log;
use crate::physics::{Basis, Detectors, LinkModel, Preparation};

/// Top bits of a click's word that select its outcome cell.
const CELL_BITS: u32 = 12;
/// Low bits of a click's word that make the gap's uniform.
const GAP_BITS: u32 = 64 - CELL_BITS;
const GAP_MASK: u64 = (1 << GAP_BITS) - 1;
/// Outcome cell bits when a click takes half a word (the other 16 are the gap's cell).
const HALF_CELL_BITS: u32 = 16;
/// A lookup entry that straddles a boundary; the low bits hold the first sub-interval.
const AMBIGUOUS: u16 = 0x8000;
/// Code bits: detector 0 / 1 traps a carrier at this click.
const TRAP0: u16 = 1 << 11;
const TRAP1: u16 = 1 << 12;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A probability as 0.64 fixed point, saturating at 1 - 2^-64 (as the pulse engine's).
fn fixed(p: f64) -> u64 {
    if p <= 0.0 {
        0
    } else if p >= 1.0 {
        u64::MAX
    } else {
        (p * TWO_POW_64) as u64
    }
}

/// Detection flags (the pulse engine's layout, [`Detection`]'s `FLAG_*`).
fn flags(prep: Preparation, bob: Basis, clicks: [bool; 2], bob_bit: bool, ap: bool) -> u8 {
    super::engine::detection_flags(prep, bob, clicks, bob_bit, ap)
}

/// The conditional law of a click's outcome (both detectors live) as sub-intervals of
/// [0, 2^64) with a lookup table over the top [`ClickLaw::cell_bits`] bits (12: 4096
/// cells beside a 52-bit gap in one word; 16: 65,536 cells from half a word, when the
/// gap comes from the gap shortcut).
#[derive(Debug, Clone)]
pub(crate) struct ClickLaw {
    /// Exclusive upper ends of the sub-intervals (the last one open).
    ends: Vec<u64>,
    /// Outcome code per sub-interval: detection flags in bits 0..8, intensity in 8..11,
    /// [`TRAP0`], [`TRAP1`].
    codes: Vec<u16>,
    /// Per cell: the code, or [`AMBIGUOUS`] | the first sub-interval meeting the cell.
    lut: Box<[u16]>,
    /// Bits of a cell index: the cell of point x is x >> (64 - cell_bits).
    cell_bits: u32,
}

impl ClickLaw {
    /// From the pulse engine's both-live cumulative weights `cond[k]` (per intensity, over
    /// configuration * 3 + pattern of w_c P(s | k, c)), the intensity probabilities and
    /// the trapping probability.
    pub(crate) fn new(
        cond: &[[f64; 24]],
        probability: &[f64],
        p_ap: f64,
        cell_bits: u32,
    ) -> ClickLaw {
        // (weight, code) of every outcome, in order.
        let mut parts: Vec<(f64, u16)> = Vec::new();
        // Per detector: the (factor, trapped) options, a single (1, no) unless it clicked
        // and the detectors afterpulse.
        let options = |clicked: bool| -> Vec<(f64, bool)> {
            if clicked && p_ap > 0.0 {
                vec![(1.0 - p_ap, false), (p_ap, true)]
            } else {
                vec![(1.0, false)]
            }
        };
        for (k, table) in cond.iter().enumerate() {
            for i in 0..24 {
                let w = probability[k] * (table[i] - if i == 0 { 0.0 } else { table[i - 1] });
                let (prep, bob) = config_parts(i / 3);
                let pattern = i % 3;
                let clicks = [pattern != 1, pattern != 0];
                // Bob's bit: the clicking detector's, a fair coin for a double click.
                let bits: &[(bool, f64)] = if pattern == 2 {
                    &[(false, 0.5), (true, 0.5)]
                } else {
                    &[(pattern == 1, 1.0)]
                };
                for &(bit, half) in bits {
                    let base = (k as u16) << 8 | flags(prep, bob, clicks, bit, false) as u16;
                    for (f0, t0) in options(clicks[0]) {
                        for (f1, t1) in options(clicks[1]) {
                            let code =
                                base | if t0 { TRAP0 } else { 0 } | if t1 { TRAP1 } else { 0 };
                            parts.push((w * half * f0 * f1, code));
                        }
                    }
                }
            }
        }
        let total: f64 = parts.iter().map(|p| p.0).sum();
        let mut ends = Vec::with_capacity(parts.len());
        let mut codes = Vec::with_capacity(parts.len());
        let mut acc = 0.0;
        for &(w, code) in &parts {
            acc += w;
            ends.push(if total > 0.0 { fixed(acc / total) } else { 0 });
            codes.push(code);
        }
        // The last sub-interval is open: it takes every point above the previous end.
        *ends.last_mut().expect("at least one outcome") = u64::MAX;
        for i in 1..ends.len() {
            ends[i] = ends[i].max(ends[i - 1]);
        }
        assert!(ends.len() < AMBIGUOUS as usize, "too many outcomes");
        let mut lut = vec![0u16; 1 << cell_bits].into_boxed_slice();
        let last = ends.len() - 1;
        let mut j = 0;
        let low_mask = u64::MAX >> cell_bits;
        for (cell, entry) in lut.iter_mut().enumerate() {
            let lo = (cell as u64) << (64 - cell_bits);
            let hi = lo | low_mask;
            while j < last && ends[j] <= lo {
                j += 1;
            }
            *entry = if j == last || ends[j] > hi {
                codes[j]
            } else {
                AMBIGUOUS | j as u16
            };
        }
        ClickLaw {
            ends,
            codes,
            lut,
            cell_bits,
        }
    }

    /// The outcome code of a click whose cell is the top `cell_bits` bits of `w` (the
    /// bits below are not read).
    #[inline(always)]
    fn outcome(&self, w: u64, src: &mut U64Source) -> u16 {
        let entry = self.lut[(w >> (64 - self.cell_bits)) as usize];
        if entry & AMBIGUOUS == 0 {
            entry
        } else {
            self.refine(w, entry, src)
        }
    }

    /// A straddling cell: the point (cell, next 64 - cell_bits bits) of [0, 2^64),
    /// located by a linear search from the first sub-interval meeting the cell.
    #[cold]
    #[inline(never)]
    fn refine(&self, w: u64, entry: u16, src: &mut U64Source) -> u16 {
        let point = (w & !(u64::MAX >> self.cell_bits)) | (src.next_u64() >> self.cell_bits);
        self.code_of(point, (entry & !AMBIGUOUS) as usize)
    }

    /// The code of the sub-interval holding `point`, searching from index `from`.
    fn code_of(&self, point: u64, from: usize) -> u16 {
        let last = self.ends.len() - 1;
        let mut i = from;
        while i < last && self.ends[i] <= point {
            i += 1;
        }
        self.codes[i]
    }
}

/// Everything the fast loop needs, built once per engine.
#[derive(Debug, Clone)]
pub(crate) struct CommonLoop {
    law: ClickLaw,
    /// 1 / ln(1 - c), c the both-live click probability (-inf when c = 0, -0 when c = 1).
    log_scale: f64,
    /// Gap shortcut: per value of the top 16 of the gap's 52 bits, the gap when every
    /// uniform of that cell gives the same one, else [`UNDECIDED`]; only built when at
    /// least [`MIN_DECIDED`] of the cells are decided (high click probabilities).
    /// Shared between the engines of a drifting run's segments when their click
    /// probability (hence the gap law) is the same: only the outcome tables change.
    gap_cells: Option<std::sync::Arc<[u32; GAP_CELLS]>>,
    dead: u64,
    detectors: Detectors,
    /// 1 / ln r of the afterpulse decay per gate r (NaN or >= 0 when r is 0 or 1: then the
    /// detector's own formula is used).
    inv_ln_decay: f64,
    nk: usize,
    /// Fixed-point starts of the intensity regions (prior p_k), for forced gates.
    intensity_start: [u64; MAX_INTENSITIES],
    /// Fixed-point cumulative configuration weights (last entry open), for forced gates.
    config_end: [u64; 8],
    /// Per intensity and configuration, each detector's probability of staying silent.
    silent: Vec<[[f64; 2]; 8]>,
}

impl CommonLoop {
    /// True when this loop simulates the link exactly: no memory, or a dead time common to
    /// both detectors, or no dead time (afterpulsing alone blinds nothing, so the mode is
    /// irrelevant).
    pub(crate) fn applies(model: &LinkModel) -> bool {
        let d = &model.detectors;
        d.memoryless() || d.common_dead_time() || d.dead_gates == 0
    }

    /// The loop of a link; `previous`, the loop of the same link under another channel,
    /// lends its gap table when the click probability is bit-for-bit the same.
    pub(crate) fn new(
        pulse: &PulseEngine,
        model: &LinkModel,
        click_probability: f64,
        previous: Option<&CommonLoop>,
    ) -> Self {
        let probability: Vec<f64> = model.intensities.iter().map(|i| i.probability).collect();
        let c = click_probability.clamp(0.0, 1.0);
        let nk = probability.len();
        let mut intensity_start = [u64::MAX; MAX_INTENSITIES];
        let mut acc = 0.0;
        for k in 0..nk {
            intensity_start[k] = if k == 0 { 0 } else { fixed(acc) };
            acc += probability[k];
        }
        let mut config_end = [u64::MAX; 8];
        let weights: Vec<f64> = (0..8)
            .map(|i| {
                let (prep, bob) = config_parts(i);
                model.configuration_probability(prep, bob)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        for i in 0..7 {
            acc += weights[i];
            config_end[i] = fixed(acc / total);
        }
        let silent = model
            .intensities
            .iter()
            .map(|class| {
                std::array::from_fn(|i| {
                    let (prep, bob) = config_parts(i);
                    std::array::from_fn(|j| model.silent_probability(class.photons, prep, bob, j))
                })
            })
            .collect();
        // With matched detectors a photon clicks whichever detector it reaches, so the
        // click probability does not depend on the channel's rotation: the same link under
        // another channel has the same c, up to the rounding of the sums that give it
        // (relative 1e-15 or so). Then the previous loop's scale and gap table are taken
        // as they are: both are roundings of the same number, and the table is not
        // rebuilt at every drift step.
        let own_scale = 1.0 / (-c).ln_1p();
        let matched = model.detectors.relative_efficiency()[1] == 1.0;
        let (log_scale, gap_cells) = match previous {
            Some(p) if matched && (p.log_scale - own_scale).abs() <= 1e-12 * own_scale.abs() => {
                (p.log_scale, p.gap_cells.clone())
            }
            _ => (own_scale, gap_cells(own_scale).map(std::sync::Arc::from)),
        };
        let law = ClickLaw::new(
            &pulse.masks[3].cond,
            &probability,
            model.detectors.afterpulse_probability,
            if gap_cells.is_some() {
                HALF_CELL_BITS
            } else {
                CELL_BITS
            },
        );
        CommonLoop {
            law,
            log_scale,
            gap_cells,
            dead: model.detectors.dead_gates,
            detectors: model.detectors,
            inv_ln_decay: 1.0 / model.detectors.afterpulse_decay_per_gate.ln(),
            nk,
            intensity_start,
            config_end,
            silent,
        }
    }

    /// Simulates gates `t0 .. end` from `state`, adding per-intensity counts of clicking
    /// and forced gates to `counts`, click-free pulses per mask to `click_free` (3: live,
    /// 0: blind) and the detections, in order, to `detections`. `MEMORY` is false exactly
    /// when the detectors are memoryless (then `state` is left alone).
    pub(crate) fn run<const MEMORY: bool>(
        &self,
        src: &mut U64Source,
        t0: u64,
        end: u64,
        state: &mut DetectorState,
        counts: &mut [u64; MAX_INTENSITIES],
        click_free: &mut [u64; 4],
        detections: &mut Vec<Detection>,
    ) {
        let log = unit_log::table();
        let scale = self.log_scale;
        let dead = self.dead;
        let mut t = t0;
        let mut live_from = 0;
        let mut next_release = u64::MAX;
        if MEMORY {
            live_from = state.live_from[0].max(state.live_from[1]);
            if live_from > t {
                let blind_end = live_from.min(end);
                click_free[0] += blind_end - t;
                t = blind_end;
            }
            next_release = drop_released_before(state, t);
        }
        // Whether a carrier may be pending (the lists are only looked at then).
        let mut carriers = next_release != u64::MAX;
        let (mut live, mut blind) = (0u64, 0u64);
        // The unused upper half of the last word split for a click (`HALF_VALID` set).
        let mut half = 0u64;
        loop {
            let limit = if MEMORY { next_release.min(end) } else { end };
            let (gap, w) = match &self.gap_cells {
                Some(cells) => {
                    // Half a word per click: 16 bits for the gap's cell, 16 for the
                    // outcome's; the gap's other 36 bits only when the cell is undecided.
                    let h = if half & HALF_VALID != 0 {
                        std::mem::take(&mut half)
                    } else {
                        let w = src.next_u64();
                        half = (w >> 32) | HALF_VALID;
                        w
                    };
                    let cell = (h & (GAP_CELLS as u64 - 1)) as usize;
                    let decided = cells[cell];
                    let gap = if decided != UNDECIDED {
                        decided as u64
                    } else {
                        let w52 = (cell as u64) << (GAP_BITS - GAP_CELL_BITS)
                            | src.next_u64() >> (64 - (GAP_BITS - GAP_CELL_BITS));
                        gap_of(log, w52, scale)
                    };
                    (gap, (h >> GAP_CELL_BITS) << (64 - HALF_CELL_BITS))
                }
                None => {
                    let w = src.next_u64();
                    (gap_of(log, w, scale), w)
                }
            };
            let remaining = limit - t;
            if gap >= remaining {
                live += remaining;
                t = limit;
                if !MEMORY || t >= end {
                    break;
                }
                // A carrier is released at gate t while the receiver is live.
                self.forced_gate(t, src, state, counts, detections);
                carriers = true;
                t += 1;
            } else {
                live += gap;
                let at = t + gap;
                let code = self.law.outcome(w, src);
                let k = ((code >> 8) & 7) as usize;
                counts[k] += 1;
                detections.push(Detection {
                    pulse: at,
                    intensity: k as u8,
                    flags: code as u8,
                });
                t = at + 1;
                if !MEMORY {
                    continue;
                }
                if code & (TRAP0 | TRAP1) != 0 {
                    self.trap(at, code, src, state);
                    carriers = true;
                }
            }
            // Dead time of the click at t - 1: gates t ..= t + D - 1 are blind.
            live_from = t + dead;
            let blind_end = live_from.min(end);
            blind += blind_end - t;
            t = blind_end;
            if carriers {
                next_release = drop_released_before(state, live_from);
                carriers = next_release != u64::MAX;
            }
            if t >= end {
                break;
            }
        }
        click_free[3] += live;
        click_free[0] += blind;
        if MEMORY {
            state.live_from = [live_from.max(state.live_from[0]); 2];
        }
    }

    /// [`Detectors::afterpulse_delay`] m = floor(ln u / ln r) with the table logarithm of
    /// [`super::unit_log`] and 1 / ln r computed once: the same inversion of the geometric
    /// law, its logarithm's error at f64 resolution (as for the gaps), about a third of
    /// the cost of two `f64::ln` per trapped carrier.
    #[inline]
    fn afterpulse_delay(&self, u: f64) -> u64 {
        if self.inv_ln_decay.is_nan() || self.inv_ln_decay >= 0.0 {
            return self.detectors.afterpulse_delay(u);
        }
        let m = (unit_log::table().ln(u) * self.inv_ln_decay).floor();
        if m.is_finite() && m < 1e15 {
            m as u64
        } else {
            u64::MAX / 4
        }
    }

    /// Traps the carriers that the click at gate `at` (outcome `code`) leaves.
    #[cold]
    #[inline(never)]
    fn trap(&self, at: u64, code: u16, src: &mut U64Source, state: &mut DetectorState) {
        for (j, bit) in [TRAP0, TRAP1].into_iter().enumerate() {
            if code & bit != 0 {
                let delay = self.afterpulse_delay(src.uniform_open0());
                insert(&mut state.pending[j], at + self.dead + 1 + delay);
            }
        }
    }

    /// Gate `t`, live, where a trapped carrier is released (the pulse engine's
    /// `forced_gate`, from this loop's words): intensity from the prior, configuration from
    /// its weights, the released detector(s) click, any other with its marginal law; then
    /// the squashing bit, traps and dead time of that click.
    #[cold]
    #[inline(never)]
    fn forced_gate(
        &self,
        t: u64,
        src: &mut U64Source,
        state: &mut DetectorState,
        counts: &mut [u64; MAX_INTENSITIES],
        detections: &mut Vec<Detection>,
    ) {
        let mut forced = [false; 2];
        for j in 0..2 {
            let p = &mut state.pending[j];
            let n = p.iter().take_while(|&&g| g <= t).count();
            forced[j] = p[..n].contains(&t);
            p.drain(..n);
        }
        let w = src.next_u64();
        let k = (1..self.nk)
            .filter(|&k| w >= self.intensity_start[k])
            .count();
        let w = src.next_u64();
        let config = self.config_end.iter().position(|&e| w < e).unwrap_or(7);
        let mut clicks = forced;
        for j in 0..2 {
            if !forced[j] {
                clicks[j] = src.uniform() >= self.silent[k][config][j];
            }
        }
        let bob_bit = if clicks[0] && clicks[1] {
            src.next_u64() & 1 == 1
        } else {
            clicks[1]
        };
        let (prep, bob) = config_parts(config);
        counts[k] += 1;
        detections.push(Detection {
            pulse: t,
            intensity: k as u8,
            flags: flags(prep, bob, clicks, bob_bit, true),
        });
        let p_ap = self.detectors.afterpulse_probability;
        for j in 0..2 {
            if clicks[j] && src.uniform() < p_ap {
                let delay = self.afterpulse_delay(src.uniform_open0());
                insert(&mut state.pending[j], t + self.dead + 1 + delay);
            }
        }
    }
}

/// Marks the stashed half word of [`CommonLoop::run`] as unused (bit 32 and up are free
/// once the half is shifted down).
const HALF_VALID: u64 = 1 << 32;

/// A [`CommonLoop::gap_cells`] entry whose cell holds more than one gap value.
const UNDECIDED: u32 = u32::MAX;
/// Fraction of decided cells below which the gap shortcut is not built (each undecided
/// draw costs a mispredicted branch on top of the logarithm).
const MIN_DECIDED: f64 = 0.8;
/// Top bits of the gap's 52 that index the gap shortcut (2^16 cells, 256 KiB: decided
/// for over 90 % of the draws from c ~ 1e-3 up).
const GAP_CELL_BITS: u32 = 16;
const GAP_CELLS: usize = 1 << GAP_CELL_BITS;

/// The gap of a click's word `w`: G = floor(ln u / ln(1 - c)) with u = (w_52 + 1/2)
/// 2^-52 from the word's low 52 bits and `scale` = 1 / ln(1 - c); u64::MAX when c = 0 (and
/// for a NaN, which cannot occur: ln u is finite and negative, the scale in [-inf, -0]).
#[inline(always)]
fn gap_of(log: &unit_log::LogTable, w: u64, scale: f64) -> u64 {
    let u = ((w & GAP_MASK) as f64 + 0.5) * (1.0 / (1u64 << GAP_BITS) as f64);
    let x = log.ln(u) * scale;
    // 0 <= x < 2^63: the i64 conversion is the floor.
    if x < 9.0e18 {
        x as i64 as u64
    } else {
        u64::MAX
    }
}

/// The gap shortcut of [`CommonLoop::gap_cells`]. Cell j holds the 52-bit gap fields
/// j 2^36 ..= (j + 1) 2^36 - 1, whose uniforms u run from u_lo to u_hi; x(u) = ln u /
/// ln(1 - c) decreases in u, so if n + d <= x(u_hi) and x(u_lo) < n + 1 - d, every
/// uniform of the cell has x in [n, n + 1) and gap n, and so does [`gap_of`], whose x
/// differs from the true one by less than d: the logarithm's error is below
/// 2^-53 (1 + |ln u|) ([`super::unit_log`]), scaled by |1 / ln(1 - c)|, plus the
/// product's rounding, and d = 2^-46 (|scale| (1 + |ln u_lo|) + x(u_lo)) exceeds that
/// (and `f64::ln`'s own error here) by a factor of over 64. The shortcut thus returns
/// exactly what [`gap_of`] would, with one table load instead of the logarithm.
fn gap_cells(scale: f64) -> Option<Box<[u32; GAP_CELLS]>> {
    if !scale.is_finite() || scale == 0.0 {
        return None;
    }
    let step = 1u64 << (GAP_BITS - GAP_CELL_BITS);
    let u_of = |w52: u64| (w52 as f64 + 0.5) * (1.0 / (1u64 << GAP_BITS) as f64);
    let mut cells: Box<[u32; GAP_CELLS]> = vec![UNDECIDED; GAP_CELLS]
        .into_boxed_slice()
        .try_into()
        .expect("GAP_CELLS entries");
    let mut decided = 0usize;
    for (j, cell) in cells.iter_mut().enumerate() {
        let (u_lo, u_hi) = (u_of(j as u64 * step), u_of((j as u64 + 1) * step - 1));
        let (x_lo, x_hi) = (u_lo.ln() * scale, u_hi.ln() * scale);
        let d = (scale.abs() * (1.0 - u_lo.ln()) + x_lo) * 2f64.powi(-46);
        let n = x_hi.floor();
        if n + d <= x_hi && x_lo < n + 1.0 - d && n < UNDECIDED as f64 {
            *cell = n as u32;
            decided += 1;
        }
    }
    (decided as f64 >= MIN_DECIDED * GAP_CELLS as f64).then_some(cells)
}

/// Inserts a release gate into a detector's ascending list.
fn insert(pending: &mut Vec<u64>, release: u64) {
    let at = pending.partition_point(|&g| g <= release);
    pending.insert(at, release);
}

/// Drops the carriers due before gate `from` (released while the receiver was blind, or
/// already handled) and returns the earliest release left (`u64::MAX` if none).
#[inline(always)]
fn drop_released_before(state: &mut DetectorState, from: u64) -> u64 {
    let mut next = u64::MAX;
    for p in &mut state.pending {
        if let Some(&first) = p.first() {
            if first < from {
                let n = p.partition_point(|&g| g < from);
                p.drain(..n);
            }
            if let Some(&first) = p.first() {
                next = next.min(first);
            }
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn model(body: &str) -> LinkModel {
        LinkModel::from_scenario(&Scenario::parse(body, "test").unwrap())
    }

    /// The outcome law written out independently of the table construction: per intensity,
    /// configuration and pattern from `click_pattern`, halves for the squashing bit and
    /// (1 - p_ap) / p_ap per clicking detector, normalised by the click probability.
    fn direct_law(m: &LinkModel) -> std::collections::HashMap<u16, f64> {
        let p_ap = m.detectors.afterpulse_probability;
        let mut law = std::collections::HashMap::new();
        let mut c = 0.0;
        for (k, class) in m.intensities.iter().enumerate() {
            for i in 0..8 {
                let (prep, bob) = config_parts(i);
                let w = class.probability * m.configuration_probability(prep, bob);
                let [none, only0, only1, both] =
                    m.click_pattern(class.photons, prep, bob, [true; 2]);
                c += w * (1.0 - none);
                for (clicks, bit, p) in [
                    ([true, false], false, only0),
                    ([false, true], true, only1),
                    ([true, true], false, both / 2.0),
                    ([true, true], true, both / 2.0),
                ] {
                    for t0 in [false, true] {
                        for t1 in [false, true] {
                            if (t0 && !clicks[0]) || (t1 && !clicks[1]) {
                                continue;
                            }
                            let mut q = w * p;
                            for (clicked, trapped) in [(clicks[0], t0), (clicks[1], t1)] {
                                if clicked {
                                    q *= if trapped { p_ap } else { 1.0 - p_ap };
                                }
                            }
                            let code = (k as u16) << 8
                                | flags(prep, bob, clicks, bit, false) as u16
                                | if t0 { TRAP0 } else { 0 }
                                | if t1 { TRAP1 } else { 0 };
                            *law.entry(code).or_insert(0.0) += q;
                        }
                    }
                }
            }
        }
        law.values_mut().for_each(|v| *v /= c);
        law
    }

    #[test]
    fn sub_intervals_have_the_conditional_click_law() {
        for body in [
            "[link]\nlength_km = 10.0\nmisalignment = 0.03\n[detector]\nefficiency = 0.3\n\
             dark_count_probability = 1e-3\nefficiency_mismatch = 0.7\n",
            "[link]\nlength_km = 50.0\n[detector]\nefficiency = 0.85\n\
             dark_count_probability = 1e-6\nafterpulse_probability = 0.02\ndead_time_ns = 20.0\n",
        ] {
            let m = model(body);
            let e = PulseEngine::new(&m, 1);
            let p: Vec<f64> = m.intensities.iter().map(|i| i.probability).collect();
            let law = ClickLaw::new(
                &e.masks[3].cond,
                &p,
                m.detectors.afterpulse_probability,
                CELL_BITS,
            );
            let mut got = std::collections::HashMap::<u16, f64>::new();
            let mut prev = 0u64;
            for (i, (&end, &code)) in law.ends.iter().zip(&law.codes).enumerate() {
                let end = if i == law.ends.len() - 1 {
                    u64::MAX
                } else {
                    end
                };
                *got.entry(code).or_default() += (end - prev) as f64 / TWO_POW_64;
                prev = end;
            }
            let want = direct_law(&m);
            for (code, &p) in &want {
                let g = got.get(code).copied().unwrap_or(0.0);
                assert!((g - p).abs() < 1e-14, "{body} code {code:#x}: {g} vs {p}");
            }
            assert!(got.keys().all(|c| want.contains_key(c)));
        }
    }

    #[test]
    fn gap_shortcut_returns_what_the_logarithm_returns() {
        // Every decided cell: the gap of the cell's two ends and of inner points (fixed
        // SplitMix64 sequence), computed with the table logarithm, equals the entry.
        let log = unit_log::table();
        let mut s = 99u64;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut built = 0;
        for c in [0.5f64, 0.1, 0.03, 0.012, 0.005, 1e-3] {
            let scale = 1.0 / (-c).ln_1p();
            let Some(cells) = gap_cells(scale) else {
                continue;
            };
            built += 1;
            let step = 1u64 << (GAP_BITS - GAP_CELL_BITS);
            for (j, &entry) in cells.iter().enumerate() {
                if entry == UNDECIDED {
                    continue;
                }
                let lo = j as u64 * step;
                for w52 in [
                    lo,
                    lo + step - 1,
                    lo + (next() & (step - 1)),
                    lo + (next() & (step - 1)),
                ] {
                    assert_eq!(gap_of(log, w52, scale), entry as u64, "c {c} cell {j}");
                }
            }
        }
        assert!(built == 6, "the shortcut is built from c = 1e-3 up");
        assert!(
            gap_cells(1.0 / (-1e-5f64).ln_1p()).is_none(),
            "too few decided cells"
        );
    }

    #[test]
    fn table_afterpulse_delay_is_the_detectors_delay() {
        // 10^6 uniforms in (0, 1] (SplitMix64 bits, as the engine forms them): the table
        // logarithm gives the same floor as f64::ln except where ln u / ln r lies within
        // f64 resolution of an integer, which these draws never hit.
        let m = model(
            "[link]\nlength_km = 50.0\n[detector]\nefficiency = 0.85\n\
             afterpulse_probability = 0.02\nafterpulse_decay_ns = 100.0\ndead_time_ns = 20.0\n",
        );
        let e = PulseEngine::new(&m, 1);
        let lp = CommonLoop::new(&e, &m, 0.01, None);
        assert!(lp.inv_ln_decay < 0.0);
        let mut s = 5u64;
        for _ in 0..1_000_000 {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let u = 1.0 - ((z ^ (z >> 31)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            assert_eq!(
                lp.afterpulse_delay(u),
                m.detectors.afterpulse_delay(u),
                "u {u}"
            );
        }
    }

    #[test]
    fn lookup_agrees_with_the_full_search_in_every_cell() {
        let m = model(
            "[link]\nlength_km = 25.0\n[detector]\nefficiency = 0.85\n\
             dark_count_probability = 1e-8\nafterpulse_probability = 0.02\ndead_time_ns = 20.0\n",
        );
        let e = PulseEngine::new(&m, 1);
        let p: Vec<f64> = m.intensities.iter().map(|i| i.probability).collect();
        for bits in [CELL_BITS, HALF_CELL_BITS] {
            let law = ClickLaw::new(&e.masks[3].cond, &p, 0.02, bits);
            let cells = 1u64 << bits;
            let low = u64::MAX >> bits;
            let mut ambiguous = 0;
            for cell in 0..cells {
                let lo = cell << (64 - bits);
                let hi = lo | low;
                let entry = law.lut[cell as usize];
                if entry & AMBIGUOUS == 0 {
                    assert_eq!(law.code_of(lo, 0), entry);
                    assert_eq!(law.code_of(hi, 0), entry);
                } else {
                    ambiguous += 1;
                    assert_ne!(law.code_of(lo, 0), law.code_of(hi, 0));
                    for point in [lo, lo + low / 3, hi] {
                        let from = (entry & !AMBIGUOUS) as usize;
                        assert_eq!(law.code_of(point, from), law.code_of(point, 0));
                    }
                }
            }
            assert!(
                ambiguous < cells / 10,
                "{ambiguous} straddling cells of {cells}"
            );
        }
    }
}
