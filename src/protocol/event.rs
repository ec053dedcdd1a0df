//! The exact event-driven engine: it jumps from click to click instead of visiting every
//! pulse, and gives the same *distribution* of detection records as the reference
//! [`PulseEngine`] (not the same bits).
//!
//! # Why jumping is exact
//! Let m be the set of live detectors (a mask, 0..4). While m does not change and no
//! trapped carrier is due, pulses are independent and identically distributed: pulse t
//! clicks with probability
//!
//! c_m = sum_k p_k T_k(m),   T_k(m) = sum_c w_c (1 - P(no click | k, c, m)),
//!
//! p_k the intensity probabilities, w_c the weights of the 8 configurations (Alice's basis
//! and bit, Bob's basis) and the click patterns from [`crate::physics::click_pattern`].
//! The number G of click-free pulses before the next click is then geometric,
//! P(G >= n) = (1 - c_m)^n. It is drawn as G = floor(E / lambda_m) with
//! lambda_m = -ln(1 - c_m) and E ~ Exp(1), since
//! P(G >= n) = P(E >= n lambda_m) = exp(-n lambda_m) = (1 - c_m)^n
//! (Devroye, *Non-Uniform Random Variate Generation*, 1986, Ch. X.2). With E = -ln U for
//! a uniform U this is the inversion G = floor(ln U / ln(1 - c_m)). `ln(1 - c)` is
//! computed as `ln_1p(-c)` so tiny c keep their precision; c_m = 0 (both detectors
//! blind, no darks) never clicks.
//!
//! # Two loops
//! When the two detectors are always live or blind together (no detector memory, a
//! *common* dead time, or afterpulsing without dead time) the chunk runs in the one-word
//! loop of `event_common`: one ChaCha8 `u64` per click, its low 52 bits inverted into the
//! gap by a table-driven logarithm (`unit_log`, error below the uniform's resolution;
//! skipped through a table of decided cells for most draws when c >~ 1e-3)
//! and its top 12 bits giving the click's whole outcome (intensity, configuration,
//! pattern, squashing bit, trapped carriers) from a 4096-cell lookup over the exact
//! conditional law; a dead time is crossed in one jump (its pulses are blind, counted
//! under mask 0). See that module for why each step is exact. With *independent* dead
//! times all four masks occur and the general loop below runs, drawing E with the
//! ziggurat of `rand_distr::Exp1` (Marsaglia and Tsang 2000; exact) and the click from
//! a guide table.
//!
//! The jump stops at the next *gate* where the law changes: the end of a dead time, the
//! release gate of a trapped carrier, or the end of the chunk. If G reaches past the gate,
//! the engine moves to the gate and draws afresh; the geometric law is memoryless,
//! P(G >= n + j | G >= n) = P(G >= j), so this is exact. A carrier released on a live
//! detector forces that gate to click; that gate is simulated exactly as the pulse engine
//! does it (same code). A click starts a dead time and may trap a carrier (again the pulse
//! engine's own code, `after_click`), after which the mask and gates are recomputed: the
//! detector memory is thus followed event by event, never approximated.
//!
//! # Both dead-time modes
//! The argument above holds for any sequence of masks, so both modes are exact with the
//! same tables; they differ only in which detectors a click blinds (the shared
//! `after_click`). In *independent* mode the detector(s) that clicked go blind and the
//! other keeps its mask entry, so all four masks occur. In *common* mode every click
//! (photon, dark count or afterpulse, at either detector) makes both detectors blind until
//! the same gate t + 1 + D, so only the masks "both live" and "both blind" occur: while
//! the receiver is blind c_0 = 0, the gap is infinite and the engine jumps straight to the
//! end of the dead time, or first to a carrier release due inside it, which
//! `DetectorState::enter_gate` then drops (the receiver is blind). The blind gates are
//! counted as click-free pulses under mask 0, whose no-click law q(0) is just the
//! intensity probabilities p_k. Released
//! carriers are handled at their gates in both modes, and a release in a live gate is a
//! click like any other (it starts the dead time of both detectors in common mode).
//! An efficiency mismatch enters through the click tables (shared with the pulse engine,
//! built from [`crate::physics::LinkModel::click_pattern`]) and the forced-gate marginals.
//!
//! # The click pulse and the skipped pulses
//! At the click pulse, intensity k, configuration c and click pattern s (only 0, only 1,
//! both) are drawn together from their exact conditional law given a click,
//! P(k, c, s | click) = p_k w_c P(s | k, c, m) / c_m: one uniform against the cumulative
//! table of the 8 x 3 x (number of intensities) products, searched through a guide table
//! (Chen and Asau 1974) so that the result is the same as a linear inverse-CDF search.
//!
//! The skipped pulses only need to be counted per intensity. Given that a pulse under mask
//! m did not click, its intensity is k with probability
//! q_k(m) = p_k (1 - T_k(m)) / (1 - c_m) (Bayes), independently of every other pulse: a
//! click-free pulse leaves no trace in the detectors. So the per-intensity counts of the
//! N_m click-free pulses seen under mask m in a chunk are Multinomial(N_m, q(m)); the
//! engine sums N_m over the chunk and draws one multinomial per mask at the end of the
//! chunk, as a chain of binomials, X_k ~ Binomial(N_m - X_0 - ... - X_{k-1},
//! q_k / (q_k + ... + q_{K-1})) (the conditional-binomial method; Davis, "The computer
//! generation of multinomial random variates", Comput. Stat. Data Anal. 16, 1993), with
//! `rand_distr::Binomial`, an exact sampler.
//!
//! # Same distribution, not the same bits
//! The two engines consume their random words differently (the pulse engine spends one
//! word per pulse, this one one uniform per gap and per click), and this engine reads its
//! own streams: chunk c uses `rng::stream(seed, Purpose::EngineChunk, EVENT_STREAM_OFFSET
//! + c)`, disjoint from the pulse engine's stream c. So for a given seed the records
//! differ, while their joint law is the same up to the f64 rounding of the probabilities
//! (the pulse engine rounds them to 2^-64, this engine's uniforms have 2^-53 resolution).
//! The pulse engine stays the reference; `tests/event_engine.rs` checks the equivalence.
//!
//! # Chunks, streams, threads
//! The scheme of the pulse engine (chunks in parallel from a quiet detector state,
//! re-run sequentially from the true carried state when the previous chunk did not end
//! quiet), so results depend on (scenario, seed) only, never on the number of threads;
//! except that a chunk starting inside a common dead time keeps its quiet run when that
//! run has no click before the dead time ends (exact by the geometric law's lack of
//! memory, see `EventEngine::resume_chunk`), so few chunks are simulated twice.
//! Chunks are longer: [`CHUNK_PULSES`] times the largest power of two (at most 2^12) that
//! keeps the expected number of clicks per chunk at or below [`TARGET_CLICKS_PER_CHUNK`],
//! a function of the link model alone.
//!
//! Must never depend on `estimation`, `postprocess`, `analysis` or `report`.

use super::adversary::AdversaryEngine;
use super::detection::{ChunkOutput, Detection};
use super::engine::{
    CHUNK_PULSES, ChunkTask, DetectorState, EngineStats, MAX_INTENSITIES, PulseEngine, chunk_tasks,
    config_parts, run_tasks,
};
use super::event_common::CommonLoop;
use super::random::{U64Source, WordSource};
use crate::physics::LinkModel;
use crate::rng::{self, Purpose};
use rand::TryRng;
use rand_distr::{Binomial, Distribution, Exp1};
use std::convert::Infallible;
use std::sync::atomic::AtomicBool;

/// Chunk c of the event engine reads stream `EVENT_STREAM_OFFSET + c` of
/// `Purpose::EngineChunk`, so it never shares random words with the pulse engine's chunk c.
pub const EVENT_STREAM_OFFSET: u64 = 1 << 63;

/// Expected clicks per event-engine chunk that the chunk length aims at (bounds the memory
/// of one chunk's records to a few MB while keeping per-chunk overhead negligible).
pub const TARGET_CLICKS_PER_CHUNK: f64 = (1u64 << 18) as f64;

/// Longest event-engine chunk: `CHUNK_PULSES << MAX_CHUNK_SHIFT` pulses (2^34).
pub const MAX_CHUNK_SHIFT: u32 = 12;

/// `auto` picks the event engine for a memoryless link (no dead time, no afterpulsing)
/// when the per-pulse click probability with both detectors live, c = sum_k p_k Q_k, is at
/// most this, and always when the detectors have memory.
///
/// Measured (`cargo bench --bench pulse_engine -- --noplot crossover`, group
/// `crossover_0km`, engines alone, one thread, shared 2-core machine, 23 November 2026,
/// after the pulse engine's lookup-table rewrite): the event engine costs a roughly
/// constant ~50-70 ns per click and nothing per silent pulse, the pulse engine ~1.5 ns per
/// pulse plus ~8 ns per click. Without detector memory, pulses per second pulse / event:
/// c = 0.012: 647 M / 1.79 G; 0.018: 646 M / 1.18 G; 0.029: 718 M / 850 M; 0.045: 682 M /
/// 545 M; 0.071: 653 M / 361 M; 0.165: 539 M / 133 M; 0.95: 82 M / 20 M. The engines
/// cross between c = 0.029 and 0.045 (a second run: 692 M / 757 M at 0.029, 616 M /
/// 517 M at 0.045); the threshold sits on the event engine's side, where it was 1.09x and
/// 1.18x faster in the two runs. With a 50 ns dead time the pulse engine stops
/// its scan at every click and the event engine wins everywhere measured: c = 0.071: 259 M
/// / 699 M; 0.29: 175 M / 630 M; 0.95: 247 M / 363 M (independent dead times, then the
/// only mode). Re-measured with the common dead time (now the default; 49 blind gates,
/// `--quick`, same machine, 2 cores shared): c = 0.071: 281 M / 1.04 G; 0.29: 227 M /
/// 810 M; 0.95: 379 M / 502 M, so the rule holds in both modes.
pub const AUTO_EVENT_MAX_CLICK_PROBABILITY: f64 = 0.03;

/// Which engine simulates the pulses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// The reference engine: every pulse visited ([`PulseEngine`]).
    Pulse,
    /// The event-driven engine: jumps from click to click ([`EventEngine`]).
    Event,
}

impl EngineKind {
    /// The name used in scenarios and on the command line (`pulse`, `event`).
    pub fn as_str(&self) -> &'static str {
        match self {
            EngineKind::Pulse => "pulse",
            EngineKind::Event => "event",
        }
    }
}

/// The `auto` rule: the event engine when the detectors have memory (dead time or
/// afterpulsing) or when the click probability per pulse with both detectors live is at
/// most [`AUTO_EVENT_MAX_CLICK_PROBABILITY`]; else the pulse engine.
pub fn choose_engine(model: &LinkModel) -> EngineKind {
    if !model.detectors.memoryless()
        || all_live_click_probability(model) <= AUTO_EVENT_MAX_CLICK_PROBABILITY
    {
        EngineKind::Event
    } else {
        EngineKind::Pulse
    }
}

/// Probability that a pulse gives any click when both detectors are live,
/// c = sum_k p_k sum_c w_c (1 - P(no click | k, c)): the overall gain of the link.
pub fn all_live_click_probability(model: &LinkModel) -> f64 {
    let mut c = 0.0;
    for class in &model.intensities {
        for config in 0..8 {
            let (prep, bob) = config_parts(config);
            let none = model.click_pattern(class.photons, prep, bob, [true, true])[0];
            c += class.probability * model.configuration_probability(prep, bob) * (1.0 - none);
        }
    }
    c
}

/// Either engine behind one `run`, for callers that choose at run time.
#[derive(Debug, Clone)]
pub enum Engine {
    /// The reference pulse engine.
    Pulse(Box<PulseEngine>),
    /// The event-driven engine.
    Event(Box<EventEngine>),
    /// The pulse engine under attack (reported as `pulse`): every pulse photon by photon.
    Adversary(Box<AdversaryEngine>),
    /// The event-driven engine with Eve's beam-splitting tap added to its records (exact
    /// for Poisson sources, see [`BeamTap`]).
    Tapped(Box<EventEngine>, BeamTap),
}

/// Eve's knowledge under beam splitting added to an honest engine's records: for a Poisson
/// source the photons Eve keeps from the fibre's loss are independent of those reaching
/// Bob (`physics::adversary`), so each detection of class k gets her knowledge with
/// probability q_k = f (1 - exp(-mu_k (1 - eta_ch))), one uniform per detection in record
/// order from the stream (engine seed, `Purpose::Adversary`, 2^62 + chunk).
#[derive(Debug, Clone, PartialEq)]
pub struct BeamTap {
    /// q_k per intensity class.
    pub knows: Vec<f64>,
}

impl BeamTap {
    /// The tap of `model`'s adversary, when it is beam splitting of a Poisson source.
    pub fn for_link(model: &LinkModel) -> Option<BeamTap> {
        let adv = model.adversary.as_ref()?;
        if adv.attack != crate::physics::Attack::BeamSplitting {
            return None;
        }
        let eta = model.channel.transmittance();
        let knows = model
            .intensities
            .iter()
            .map(|c| adv.beam_splitting_knowledge(c.photons, eta))
            .collect::<Option<Vec<f64>>>()?;
        Some(BeamTap { knows })
    }

    /// Marks the detections of `out` (chunk `chunk` of an engine seeded `seed`).
    pub fn apply(&self, seed: u64, chunk: u64, out: &mut ChunkOutput) {
        let mut src = U64Source::new(rng::stream(
            seed,
            Purpose::Adversary,
            (1u64 << 62).wrapping_add(chunk),
        ));
        for d in &mut out.detections {
            if src.uniform() < self.knows[d.intensity as usize] {
                d.flags |= Detection::FLAG_EVE_KNOWS;
            }
        }
    }
}

impl Engine {
    /// The engine of the given kind for a link and seed.
    ///
    /// With an adversary on the link, `Pulse` is the attacked pulse engine and `Event` the
    /// event engine with the beam-splitting tap; the caller checks first that the event
    /// engine can simulate the attack (`scenario::event_engine_attack`).
    ///
    /// # Panics
    /// For `Event` with an attack the event engine cannot simulate exactly.
    pub fn new(kind: EngineKind, model: &LinkModel, seed: u64) -> Engine {
        match (kind, &model.adversary) {
            (EngineKind::Pulse, None) => Engine::Pulse(Box::new(PulseEngine::new(model, seed))),
            (EngineKind::Event, None) => Engine::Event(Box::new(EventEngine::new(model, seed))),
            (EngineKind::Pulse, Some(_)) => {
                Engine::Adversary(Box::new(AdversaryEngine::new(model, seed)))
            }
            (EngineKind::Event, Some(_)) => Engine::Tapped(
                Box::new(EventEngine::new(model, seed)),
                BeamTap::for_link(model)
                    .expect("the event engine runs only attacks it simulates exactly"),
            ),
        }
    }

    /// Which engine this is.
    pub fn kind(&self) -> EngineKind {
        match self {
            Engine::Pulse(_) | Engine::Adversary(_) => EngineKind::Pulse,
            Engine::Event(_) | Engine::Tapped(..) => EngineKind::Event,
        }
    }

    /// Same contract as [`PulseEngine::run`].
    pub fn run(
        &self,
        total_pulses: u64,
        progress: &(dyn Fn(u64) + Sync),
        sink: impl FnMut(ChunkOutput),
    ) -> EngineStats {
        self.run_until(total_pulses, progress, None, sink)
    }

    /// Same contract as [`PulseEngine::run_until`]: stops after the batch in progress once
    /// `stop` is set.
    pub fn run_until(
        &self,
        total_pulses: u64,
        progress: &(dyn Fn(u64) + Sync),
        stop: Option<&AtomicBool>,
        sink: impl FnMut(ChunkOutput),
    ) -> EngineStats {
        match self {
            Engine::Pulse(e) => e.run_until(total_pulses, progress, stop, sink),
            Engine::Event(e) => e.run_until(total_pulses, progress, stop, sink),
            Engine::Adversary(e) => e.run_until(total_pulses, progress, stop, sink),
            Engine::Tapped(e, tap) => {
                let mut sink = sink;
                e.run_until(total_pulses, progress, stop, |mut out| {
                    tap.apply(e.seed, out.index, &mut out);
                    sink(out)
                })
            }
        }
    }
}

/// A stretch of pulses simulated with one engine (one channel state and one seed): the
/// pieces of a run whose polarisation drifts or is realigned ([`Engine::run_segments`]).
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// The engine, built for the segment's channel, seeded for the segment.
    pub engine: &'a Engine,
    /// First pulse (global index).
    pub first_pulse: u64,
    /// Pulses in the segment.
    pub pulses: u64,
}

impl Engine {
    /// An engine of the same kind for `model` (the same link under another channel, e.g.
    /// one drift step) and `seed`, reusing this engine's channel-independent tables.
    pub fn for_channel(&self, model: &LinkModel, seed: u64) -> Engine {
        match self {
            Engine::Pulse(_) => Engine::Pulse(Box::new(PulseEngine::new(model, seed))),
            Engine::Event(e) => {
                Engine::Event(Box::new(EventEngine::new_after(model, seed, Some(e))))
            }
            Engine::Adversary(_) => Engine::Adversary(Box::new(AdversaryEngine::new(model, seed))),
            Engine::Tapped(e, tap) => Engine::Tapped(
                Box::new(EventEngine::new_after(model, seed, Some(e))),
                tap.clone(),
            ),
        }
    }

    /// Hands a sifted chunk's detection buffer back to the engine that may reuse it
    /// ([`EventEngine::recycle`]; the other engines drop it).
    pub fn recycle(&self, detections: Vec<Detection>) {
        if let Engine::Event(e) | Engine::Tapped(e, _) = self {
            e.recycle(detections);
        }
    }

    /// The same engine (same tables) reading the streams of another seed.
    pub fn with_seed(&self, seed: u64) -> Engine {
        match self {
            Engine::Pulse(e) => {
                let mut e = e.clone();
                e.seed = seed;
                Engine::Pulse(e)
            }
            Engine::Event(e) => {
                let mut e = e.clone();
                e.seed = seed;
                e.pulse.seed = seed;
                Engine::Event(e)
            }
            Engine::Adversary(e) => {
                let mut e = e.clone();
                e.seed = seed;
                Engine::Adversary(e)
            }
            Engine::Tapped(e, tap) => {
                let mut e = e.clone();
                e.seed = seed;
                e.pulse.seed = seed;
                Engine::Tapped(e, tap.clone())
            }
        }
    }

    /// Pulses per chunk of this engine.
    pub fn chunk_pulses(&self) -> u64 {
        match self {
            Engine::Pulse(_) | Engine::Adversary(_) => CHUNK_PULSES,
            Engine::Event(e) | Engine::Tapped(e, _) => e.chunk_pulses(),
        }
    }

    /// Simulates `segments` (ascending, non-overlapping; gaps are pulses not sent) from the
    /// detector state `carry`, each cut into its engine's chunks from its own first pulse
    /// (chunk c of a segment reads its engine's stream c), with the chunk scheme of
    /// [`Engine::run`]: parallel from a quiet state, re-run from the true carried state
    /// when needed, so the output depends only on the segments, never on the thread
    /// count. Returns the statistics and the detector state after the last chunk.
    /// One segment from pulse 0 with the run's engine is exactly [`Engine::run`].
    pub fn run_segments(
        segments: &[Segment<'_>],
        carry: DetectorState,
        progress: &(dyn Fn(u64) + Sync),
        stop: Option<&AtomicBool>,
        prepare: &(dyn Fn(&mut ChunkOutput) + Sync),
        sink: impl FnMut(ChunkOutput),
    ) -> (EngineStats, DetectorState) {
        let tasks = segments
            .iter()
            .enumerate()
            .flat_map(|(i, s)| chunk_tasks(i, s.first_pulse, s.pulses, s.engine.chunk_pulses()));
        let batch = match segments.first().map(|s| s.engine) {
            Some(Engine::Event(_) | Engine::Tapped(..) | Engine::Adversary(_)) => 2,
            _ => 4,
        };
        let simulate = |t: &ChunkTask, state| match segments[t.segment].engine {
            Engine::Pulse(e) => e.simulate_chunk(t.chunk, t.first_pulse, t.pulses, state),
            Engine::Event(e) => e.simulate_chunk(t.chunk, t.first_pulse, t.pulses, state),
            Engine::Adversary(e) => e.simulate_chunk(t.chunk, t.first_pulse, t.pulses, state),
            Engine::Tapped(e, tap) => {
                let (mut out, state) = e.simulate_chunk(t.chunk, t.first_pulse, t.pulses, state);
                tap.apply(e.seed, t.chunk, &mut out);
                (out, state)
            }
        };
        run_tasks(
            tasks,
            batch,
            simulate,
            |t, quiet, carry| match segments[t.segment].engine {
                Engine::Event(e) => e.resume_chunk(t, quiet, carry),
                _ => (simulate(t, carry.clone()), true),
            },
            prepare,
            carry,
            progress,
            stop,
            sink,
        )
    }
}

/// Per live-detector mask: the click probability, the joint conditional law of a click
/// and the no-click law of the intensities.
#[derive(Debug, Clone)]
struct EventMask {
    /// c_m, the probability that a pulse clicks (the last entry of `joint`).
    click_probability: f64,
    /// 1 / lambda_m with lambda_m = -ln(1 - c_m), for the geometric gap.
    inv_rate: f64,
    /// Cumulative p_k w_c P(s | k, c, m) over index k * 24 + c * 3 + s.
    joint: Vec<f64>,
    /// guide[g]: the first index whose cumulative weight exceeds (g / len) c_m.
    guide: Vec<u16>,
    /// Binomial-chain probabilities q_k / (q_k + ... + q_{K-1}) of the no-click law.
    chain: [f64; MAX_INTENSITIES],
}

impl EventMask {
    fn new(engine: &PulseEngine, model: &LinkModel, mask: usize) -> EventMask {
        let nk = model.intensities.len();
        let cond = &engine.masks[mask].cond;
        let mut joint = Vec::with_capacity(nk * 24);
        let mut acc = 0.0;
        let mut no_click = [0.0; MAX_INTENSITIES];
        for (k, class) in model.intensities.iter().enumerate() {
            let p = class.probability;
            for i in 0..24 {
                let w = cond[k][i] - if i == 0 { 0.0 } else { cond[k][i - 1] };
                acc += p * w;
                joint.push(acc);
            }
            no_click[k] = p * (1.0 - cond[k][23]).max(0.0);
        }
        let total = acc;
        let len = (2 * joint.len()).next_power_of_two();
        let last = joint.len() - 1;
        // (g / len) is exact (len a power of two), so for a draw u with g = floor(u len),
        // (g / len) total <= u total after rounding and the search from guide[g] can only
        // start at or before the answer of a full linear search.
        let guide = (0..len)
            .map(|g| {
                let x = (g as f64 / len as f64) * total;
                joint.iter().position(|&w| w > x).unwrap_or(last) as u16
            })
            .collect();
        let mut chain = [0.0; MAX_INTENSITIES];
        let mut tail = 0.0;
        for k in (0..nk).rev() {
            tail += no_click[k];
            chain[k] = if tail > 0.0 {
                (no_click[k] / tail).clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
        EventMask {
            click_probability: total,
            inv_rate: -1.0 / (-total).ln_1p(),
            joint,
            guide,
            chain,
        }
    }

    /// Click-free pulses before the next click, G = floor(E / lambda_m) with E ~ Exp(1)
    /// (see the module doc), returned before the floor, as f64 >= 0: +inf when this
    /// mask cannot click. For an integer n, G < n exactly when the returned value is < n,
    /// and truncation by `as u64` is the floor of a non-negative value.
    #[inline]
    fn gap(&self, src: &mut WordSource) -> f64 {
        if self.click_probability <= 0.0 {
            return f64::INFINITY;
        }
        if self.click_probability >= 1.0 {
            return 0.0;
        }
        let e: f64 = Exp1.sample(&mut WordRng(src));
        e * self.inv_rate
    }

    /// (intensity, configuration * 3 + pattern) of a click, from the joint conditional law.
    #[inline]
    fn sample_click(&self, src: &mut WordSource) -> (usize, usize) {
        let u = src.uniform();
        let r = u * self.click_probability;
        let g = (u * self.guide.len() as f64) as usize;
        let mut i = self.guide[g] as usize;
        let last = self.joint.len() - 1;
        while i < last && self.joint[i] <= r {
            i += 1;
        }
        (i / 24, i % 24)
    }

    /// Adds Multinomial(n, q(m)) to `counts` by the binomial chain.
    fn split_click_free<R: rand::Rng>(
        &self,
        n: u64,
        nk: usize,
        counts: &mut [u64; MAX_INTENSITIES],
        rng: &mut R,
    ) {
        let mut rest = n;
        for k in 0..nk - 1 {
            if rest == 0 {
                return;
            }
            let x = Binomial::new(rest, self.chain[k])
                .expect("chain probabilities lie in [0, 1]")
                .sample(rng);
            counts[k] += x;
            rest -= x;
        }
        counts[nk - 1] += rest;
    }
}

/// A [`WordSource`] seen as a `rand` generator, for `rand_distr` samplers.
struct WordRng<'a>(&'a mut WordSource);

impl TryRng for WordRng<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for part in dst.chunks_mut(4) {
            let word = self.0.next_u32().to_le_bytes();
            part.copy_from_slice(&word[..part.len()]);
        }
        Ok(())
    }
}

/// A [`U64Source`] seen as a `rand` generator, for `rand_distr` samplers.
struct U64Rng<'a>(&'a mut U64Source);

impl TryRng for U64Rng<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.0.next_u64() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for part in dst.chunks_mut(8) {
            let word = self.0.next_u64().to_le_bytes();
            part.copy_from_slice(&word[..part.len()]);
        }
        Ok(())
    }
}

/// The event-driven engine for one link model and seed.
#[derive(Debug, Clone)]
pub struct EventEngine {
    /// The reference engine, whose tables and click/forced-gate code this one shares.
    pulse: PulseEngine,
    seed: u64,
    chunk_pulses: u64,
    masks: [EventMask; 4],
    /// The one-word-per-click loop, for receivers whose detectors are live or blind
    /// together (`event_common`); `None` for independent dead times.
    fast: Option<CommonLoop>,
    /// Detection buffers handed back by the run once a chunk is sifted
    /// ([`EventEngine::recycle`]), shared with the engines derived from this one: a chunk's
    /// records (a few MB) then land in memory already mapped instead of fresh pages.
    /// Only capacity is reused, never content, so results do not depend on it.
    buffers: std::sync::Arc<std::sync::Mutex<Vec<Vec<Detection>>>>,
}

/// Most detection buffers an engine keeps for reuse (a batch of chunks in flight on a
/// few threads needs no more).
const MAX_POOLED_BUFFERS: usize = 16;

impl EventEngine {
    /// Precomputes the tables of a link.
    pub fn new(model: &LinkModel, seed: u64) -> EventEngine {
        EventEngine::new_after(model, seed, None)
    }

    /// [`EventEngine::new`], reusing what `previous` (the engine of the same link under
    /// another channel) computed that does not depend on the channel.
    fn new_after(model: &LinkModel, seed: u64, previous: Option<&EventEngine>) -> EventEngine {
        let pulse = PulseEngine::new(model, seed);
        let masks = std::array::from_fn(|m| EventMask::new(&pulse, model, m));
        let c = masks[3].click_probability;
        let mut shift = 0;
        while shift < MAX_CHUNK_SHIFT
            && ((CHUNK_PULSES << (shift + 1)) as f64) * c <= TARGET_CLICKS_PER_CHUNK
        {
            shift += 1;
        }
        let fast = CommonLoop::applies(model)
            .then(|| CommonLoop::new(&pulse, model, c, previous.and_then(|p| p.fast.as_ref())));
        EventEngine {
            pulse,
            seed,
            chunk_pulses: CHUNK_PULSES << shift,
            masks,
            fast,
            buffers: previous.map(|p| p.buffers.clone()).unwrap_or_default(),
        }
    }

    /// Takes back a chunk's detection buffer for reuse by later chunks (its content is
    /// dropped; only its capacity is kept).
    pub fn recycle(&self, mut detections: Vec<Detection>) {
        detections.clear();
        if let Ok(mut pool) = self.buffers.lock()
            && pool.len() < MAX_POOLED_BUFFERS
        {
            pool.push(detections);
        }
    }

    /// An empty detection buffer with room for `capacity` records.
    fn buffer(&self, capacity: usize) -> Vec<Detection> {
        let reused = self.buffers.lock().ok().and_then(|mut p| p.pop());
        let mut v = reused.unwrap_or_default();
        v.reserve(capacity);
        v
    }

    /// The link this engine simulates.
    pub fn model(&self) -> &LinkModel {
        self.pulse.model()
    }

    /// Pulses per chunk (a power of two, from [`CHUNK_PULSES`] to `CHUNK_PULSES << 12`).
    pub fn chunk_pulses(&self) -> u64 {
        self.chunk_pulses
    }

    /// Simulates `total_pulses` pulses, handing each chunk's output to `sink` in pulse
    /// order, and calling `progress` with the number of pulses done so far (same contract
    /// as [`PulseEngine::run`]).
    pub fn run(
        &self,
        total_pulses: u64,
        progress: &(dyn Fn(u64) + Sync),
        sink: impl FnMut(ChunkOutput),
    ) -> EngineStats {
        self.run_until(total_pulses, progress, None, sink)
    }

    /// [`EventEngine::run`] that stops after the batch in progress once `stop` is set
    /// (same contract as [`PulseEngine::run_until`]).
    pub fn run_until(
        &self,
        total_pulses: u64,
        progress: &(dyn Fn(u64) + Sync),
        stop: Option<&AtomicBool>,
        sink: impl FnMut(ChunkOutput),
    ) -> EngineStats {
        run_tasks(
            chunk_tasks(0, 0, total_pulses, self.chunk_pulses),
            2,
            |t, state| self.simulate_chunk(t.chunk, t.first_pulse, t.pulses, state),
            |t, quiet, carry| self.resume_chunk(t, quiet, carry),
            &|_| {},
            DetectorState::default(),
            progress,
            stop,
            sink,
        )
        .0
    }

    /// The true output of chunk `task` from the carried state `carry`, which is not quiet
    /// at the chunk's first pulse, given `quiet`, the chunk simulated from a quiet state
    /// (the `resume` of [`run_tasks`]); the flag says whether the chunk was simulated
    /// again.
    ///
    /// # Blind-start coupling (common dead time, no carrier pending)
    /// Then `carry` only says that both detectors are blind until gate L > t0 (the chunk's
    /// first gate). From it, the true chunk is: gates t0 .. L blind (click-free, their
    /// intensities from the prior), then the chain from a quiet state at L. The quiet run
    /// X started at t0 draws its first gap G1 from its first word; on the event A = {no
    /// click of X before L} = {G1 >= L - t0}, X after L is, by the geometric law's lack of
    /// memory (P(G1 >= L - t0 + j | A) = (1 - c)^j) and the independence of the later
    /// words, distributed exactly as the chain from a quiet state at L, and X before L has
    /// no click. So the output is taken as
    /// - on A: X's clicks and end state as they are (the end state's `live_from` raised to
    ///   L if X never clicked), with the click-free pulses split again among the
    ///   intensities: the L - t0 gates moved from X's live count to the blind count (the
    ///   intensity law differs: prior when blind, no-click law when live), the split drawn
    ///   from the chunk's own stream of `Purpose::EngineCarry`;
    /// - off A: a fresh simulation from `carry` on that same `EngineCarry` stream,
    ///   independent of X.
    ///
    /// The output then has exactly the true law: P(out in S) = P(A) P(true in S) +
    /// P(not A) P(true in S), since X given A has the true law and the fresh run is
    /// independent of A. Off A happens with probability about (L - t0) c (a few per cent
    /// of the non-quiet chunks); before this coupling every non-quiet chunk (about D c of
    /// all chunks, 16 % at 50 km with the SNSPD's 19 blind gates) was simulated again, in
    /// the sequential part of the run.
    ///
    /// Otherwise (carriers pending, independent dead times, memoryless engines cannot get
    /// here) the chunk is simulated again from `carry` with its own stream, which is exact
    /// by construction.
    pub(crate) fn resume_chunk(
        &self,
        task: &ChunkTask,
        quiet: (ChunkOutput, DetectorState),
        carry: &DetectorState,
    ) -> ((ChunkOutput, DetectorState), bool) {
        let (t0, n) = (task.first_pulse, task.pulses);
        let end = t0 + n;
        let blind_start = self.fast.is_some()
            && carry.pending.iter().all(|p| p.is_empty())
            && carry.live_from[0] == carry.live_from[1];
        if !blind_start {
            return (self.simulate_chunk(task.chunk, t0, n, carry.clone()), true);
        }
        let live_at = carry.live_from[0];
        let carry_stream = rng::stream(
            self.seed,
            Purpose::EngineCarry,
            EVENT_STREAM_OFFSET.wrapping_add(task.chunk),
        );
        let (out, mut state) = quiet;
        if out.detections.first().is_some_and(|d| d.pulse < live_at) {
            let fresh = self.simulate_chunk_from(carry_stream, task.chunk, t0, n, carry.clone());
            return (fresh, true);
        }
        // On A: the same clicks; the click-free pulses counted again.
        let dead = self.pulse.model().detectors.dead_gates;
        let mut counts = [0u64; MAX_INTENSITIES];
        let mut blind = live_at.min(end) - t0;
        for d in &out.detections {
            counts[d.intensity as usize] += 1;
            blind += dead.min(end - d.pulse - 1);
        }
        let clicks = out.detections.len() as u64;
        let click_free = [blind, 0, 0, n - clicks - blind];
        let mut src = U64Source::new(carry_stream);
        let out = self.finish_chunk(
            (task.chunk, t0, n),
            &click_free,
            counts,
            out.detections,
            &mut U64Rng(&mut src),
        );
        for j in 0..2 {
            state.live_from[j] = state.live_from[j].max(live_at);
        }
        ((out, state), false)
    }

    /// The chunk's output once its clicks are drawn: the click-free pulses of each mask
    /// split among the intensity classes (both loops end here).
    fn finish_chunk<R: rand::Rng>(
        &self,
        (chunk, first_pulse, n_pulses): (u64, u64, u64),
        click_free: &[u64; 4],
        mut counts: [u64; MAX_INTENSITIES],
        detections: Vec<Detection>,
        rng: &mut R,
    ) -> ChunkOutput {
        let nk = self.pulse.n_intensities;
        for (mask, &n) in click_free.iter().enumerate() {
            if n > 0 {
                self.masks[mask].split_click_free(n, nk, &mut counts, rng);
            }
        }
        ChunkOutput {
            index: chunk,
            first_pulse,
            pulses: n_pulses,
            pulses_per_intensity: counts[..nk].to_vec(),
            detections,
            sift: None,
        }
    }

    /// Simulates chunk `chunk` (pulses `first_pulse .. first_pulse + n_pulses`) from the
    /// detector state `state`; returns the output and the state after its last gate.
    pub fn simulate_chunk(
        &self,
        chunk: u64,
        first_pulse: u64,
        n_pulses: u64,
        state: DetectorState,
    ) -> (ChunkOutput, DetectorState) {
        let stream = rng::stream(
            self.seed,
            Purpose::EngineChunk,
            EVENT_STREAM_OFFSET.wrapping_add(chunk),
        );
        self.simulate_chunk_from(stream, chunk, first_pulse, n_pulses, state)
    }

    /// [`EventEngine::simulate_chunk`] reading the stream `stream`.
    fn simulate_chunk_from(
        &self,
        stream: rng::ChaCha8Rng,
        chunk: u64,
        first_pulse: u64,
        n_pulses: u64,
        mut state: DetectorState,
    ) -> (ChunkOutput, DetectorState) {
        let mut counts = [0u64; MAX_INTENSITIES];
        let mut click_free = [0u64; 4];
        let expected = n_pulses as f64 * self.masks[3].click_probability * 1.05;
        let mut detections = self.buffer(expected.min(n_pulses as f64) as usize + 16);
        let end = first_pulse + n_pulses;
        if let Some(fast) = &self.fast {
            let mut src = U64Source::new(stream);
            if self.pulse.model().detectors.memoryless() {
                fast.run::<false>(
                    &mut src,
                    first_pulse,
                    end,
                    &mut state,
                    &mut counts,
                    &mut click_free,
                    &mut detections,
                );
            } else {
                fast.run::<true>(
                    &mut src,
                    first_pulse,
                    end,
                    &mut state,
                    &mut counts,
                    &mut click_free,
                    &mut detections,
                );
            }
            let out = self.finish_chunk(
                (chunk, first_pulse, n_pulses),
                &click_free,
                counts,
                detections,
                &mut U64Rng(&mut src),
            );
            return (out, state);
        }
        let mut src = WordSource::new(stream);
        let dead = self.pulse.model().detectors.dead_gates;
        let mut t = first_pulse;
        while t < end {
            let (live, forced) = state.enter_gate(t);
            if forced[0] || forced[1] {
                self.pulse.forced_gate(
                    t,
                    live,
                    forced,
                    &mut src,
                    &mut counts,
                    &mut state,
                    &mut detections,
                    dead,
                );
                t += 1;
                continue;
            }
            // The next gate where the law changes.
            let gate = state.next_change(t, end);
            let mask = live[0] as usize | (live[1] as usize) << 1;
            let table = &self.masks[mask];
            let remaining = gate - t;
            let gap = table.gap(&mut src);
            // A NaN (0 * inf for a click probability below 1e-308) must not jam the loop.
            if gap.is_nan() || gap >= remaining as f64 {
                click_free[mask] += remaining;
                t = gate;
                continue;
            }
            let gap = gap as u64;
            click_free[mask] += gap;
            let at = t + gap;
            let (k, idx) = table.sample_click(&mut src);
            counts[k] += 1;
            let pattern = idx % 3;
            self.pulse.record_click(
                at,
                k,
                idx / 3,
                [pattern != 1, pattern != 0],
                false,
                &mut src,
                &mut state,
                &mut detections,
                dead,
            );
            t = at + 1;
        }
        let out = self.finish_chunk(
            (chunk, first_pulse, n_pulses),
            &click_free,
            counts,
            detections,
            &mut WordRng(&mut src),
        );
        (out, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn model(body: &str) -> LinkModel {
        LinkModel::from_scenario(&Scenario::parse(body, "test").unwrap())
    }

    #[test]
    fn geometric_gap_has_mean_and_tail_of_the_law() {
        // G ~ Geometric(c) on {0, 1, ...}: mean (1 - c) / c, P(G >= n) = (1 - c)^n.
        let m = model("[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.2\n");
        let e = EventEngine::new(&m, 1);
        let table = &e.masks[3];
        let c = table.click_probability;
        let mut src = WordSource::new(rng::stream(3, Purpose::Auxiliary, 0));
        let n = 400_000;
        let draws: Vec<f64> = (0..n).map(|_| table.gap(&mut src).floor()).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let expect = (1.0 - c) / c;
        // Standard error of the mean: sqrt(1 - c) / c / sqrt(n).
        let se = (1.0 - c).sqrt() / c / (n as f64).sqrt();
        assert!((mean - expect).abs() < 5.0 * se, "mean {mean} vs {expect}");
        let at = (1.0 / c).round();
        let tail = draws.iter().filter(|&&g| g >= at).count() as f64 / n as f64;
        let p = (1.0 - c).powf(at);
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!((tail - p).abs() < 5.0 * se, "tail {tail} vs {p}");
    }

    #[test]
    fn guide_search_equals_linear_search() {
        let m = model("[link]\nlength_km = 30.0\n[detector]\ndark_count_probability = 1e-4\n");
        let e = EventEngine::new(&m, 1);
        for table in &e.masks[1..] {
            let mut src = WordSource::new(rng::stream(4, Purpose::Auxiliary, 0));
            let mut copy = WordSource::new(rng::stream(4, Purpose::Auxiliary, 0));
            for _ in 0..100_000 {
                let (k, idx) = table.sample_click(&mut src);
                let r = copy.uniform() * table.click_probability;
                let linear = table
                    .joint
                    .iter()
                    .position(|&w| r < w)
                    .unwrap_or(table.joint.len() - 1);
                assert_eq!(k * 24 + idx, linear);
            }
        }
    }

    /// Mean and standard error of the mean.
    fn mean_se(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, (var / n).sqrt())
    }

    /// The blind-start coupling of `resume_chunk` against the chunk simulated from the
    /// carried state itself (exact by construction), over 20,000 short chunks each: mean
    /// clicks, first click, pulses of the bright class and the end state agree within 5
    /// standard errors of their difference. The link clicks often (c ~ 0.3), so the
    /// intensity law of a live click-free pulse (mostly the dim class) differs much from
    /// the prior of a blind one: reusing the quiet run's split unchanged moves the bright
    /// class's mean by ~0.6 pulses, over 20 standard errors, which the test also checks,
    /// so it can fail.
    #[test]
    fn blind_start_coupling_has_the_law_of_a_run_from_the_carried_state() {
        let m = model(
            "[[source.intensities]]\nlabel = \"bright\"\nmean_photon_number = 1.0\n\
             probability = 0.5\n[[source.intensities]]\nlabel = \"dim\"\n\
             mean_photon_number = 0.0002\nprobability = 0.5\n[link]\nlength_km = 0.0\n\
             [detector]\nefficiency = 1.0\ndead_time_ns = 5.0\ndead_time_mode = \"common\"\n",
        );
        let coupled_engine = EventEngine::new(&m, 5);
        let direct_engine = EventEngine::new(&m, 6);
        assert!(coupled_engine.fast.is_some());
        let (t0, n, blind) = (1000u64, 30u64, 3u64);
        let carry = DetectorState {
            live_from: [t0 + blind; 2],
            pending: Default::default(),
        };
        let runs = 20_000u64;
        let (mut coupled, mut direct, mut unsplit) =
            (vec![Vec::new(); 4], vec![Vec::new(); 4], Vec::new());
        let (mut on_a, mut again) = (0u64, 0u64);
        for c in 0..runs {
            let task = ChunkTask {
                segment: 0,
                chunk: c,
                first_pulse: t0,
                pulses: n,
            };
            let quiet = coupled_engine.simulate_chunk(c, t0, n, DetectorState::default());
            let quiet_bright = quiet.0.pulses_per_intensity[0] as f64;
            let ((out, end), fresh) = coupled_engine.resume_chunk(&task, quiet, &carry);
            again += fresh as u64;
            on_a += !fresh as u64;
            let (want, want_end) = direct_engine.simulate_chunk(c, t0, n, carry.clone());
            for (v, (o, e)) in [
                (&mut coupled, (&out, &end)),
                (&mut direct, (&want, &want_end)),
            ] {
                assert_eq!(o.pulses_per_intensity.iter().sum::<u64>(), n);
                assert!(o.detections.iter().all(|d| d.pulse >= t0 + blind));
                v[0].push(o.detections.len() as f64);
                v[1].push(o.detections.first().map_or(n, |d| d.pulse - t0) as f64);
                v[2].push(o.pulses_per_intensity[0] as f64);
                v[3].push(e.live_from[0] as f64);
            }
            unsplit.push(if fresh {
                out.pulses_per_intensity[0] as f64
            } else {
                quiet_bright
            });
        }
        // Both branches are exercised: P(A) = (1 - c)^3 ~ 0.3.
        assert!(
            on_a > runs / 10 && again > runs / 10,
            "on A {on_a}, again {again}"
        );
        for (i, what) in ["clicks", "first click", "bright pulses", "live_from"]
            .iter()
            .enumerate()
        {
            let (a, sa) = mean_se(&coupled[i]);
            let (b, sb) = mean_se(&direct[i]);
            let se = sa.hypot(sb);
            assert!(
                (a - b).abs() < 5.0 * se,
                "{what}: coupled {a} vs direct {b} (se {se})"
            );
        }
        let (a, sa) = mean_se(&unsplit);
        let (b, sb) = mean_se(&direct[2]);
        let se = sa.hypot(sb);
        assert!(
            (a - b).abs() > 5.0 * se,
            "the split matters: {a} vs {b} (se {se})"
        );
    }

    #[test]
    fn both_blind_never_clicks_and_chunks_count_every_pulse() {
        let m = model(
            "[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\ndead_time_ns = 50.0\n\
             afterpulse_probability = 0.2\n",
        );
        let e = EventEngine::new(&m, 9);
        assert_eq!(e.masks[0].click_probability, 0.0);
        let (out, _) = e.simulate_chunk(0, 0, 1 << 20, DetectorState::default());
        assert_eq!(out.pulses_per_intensity.iter().sum::<u64>(), 1 << 20);
        assert!(out.detections.windows(2).all(|w| w[0].pulse < w[1].pulse));
    }

    #[test]
    fn auto_rule_picks_event_for_long_links_and_pulse_for_short_ones() {
        let far = model("[link]\nlength_km = 100.0\n");
        let mid = model("[link]\nlength_km = 30.0\n[detector]\nefficiency = 0.2\n");
        let near = model("[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\n");
        let bright = "[link]\nlength_km = 0.0\n[[source.intensities]]\nlabel = \"b\"\n\
                      mean_photon_number = 3.0\nprobability = 1.0\n[detector]\nefficiency = 1.0\n";
        assert_eq!(choose_engine(&far), EngineKind::Event);
        assert_eq!(choose_engine(&mid), EngineKind::Event);
        assert_eq!(choose_engine(&near), EngineKind::Pulse);
        let near_dead =
            model("[link]\nlength_km = 0.0\n[detector]\nefficiency = 0.5\ndead_time_ns = 20.0\n");
        assert_eq!(choose_engine(&near_dead), EngineKind::Event);
        assert_eq!(choose_engine(&model(bright)), EngineKind::Pulse);
        let with_dead_time = format!("{bright}dead_time_ns = 50.0\n");
        assert_eq!(choose_engine(&model(&with_dead_time)), EngineKind::Event);
        let e = EventEngine::new(&far, 1);
        let c = all_live_click_probability(&far);
        assert!((e.masks[3].click_probability - c).abs() <= 1e-12 * c);
    }
}
