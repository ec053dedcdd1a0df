//! The pulse engine under attack: every pulse simulated photon by photon, with Eve's
//! attack (`physics::adversary`) acting on the photons between Alice and the fibre, and
//! what Eve learns recorded per detection ([`Detection::FLAG_EVE_KNOWS`]).
//!
//! Per pulse, from the chunk's own ChaCha8 stream (seed, `Purpose::Adversary`, chunk), in
//! this order: the intensity class and the photon number together (one uniform against
//! the cumulative joint law p_k P(n | k), its cells ordered by decreasing probability so
//! the search is short; photon numbers up to `physics::adversary::photon_number_cutoff`,
//! the tail beyond below 1e-60), the
//! configuration (Alice's basis and bit, Bob's basis: one uniform against the cumulative
//! weights; drawn only when the pulse holds a photon or a detector clicks, since an empty
//! pulse's configuration touches nothing else), whether Eve attacks this pulse (one
//! uniform, only when 0 < fraction < 1 and the pulse holds a photon), Eve's own draws (her
//! basis and measurement outcomes for intercept-resend, her blocking decision for PNS),
//! then one uniform per photon entering the fibre or Eve's lossless line, deciding between
//! detector 0, detector 1, loss in Bob's receiver and loss in the fibre (thresholds s r_0,
//! s (r_0 + r_1) and s, with s = eta_ch for the fibre and 1 for Eve's lossless line, r_j
//! the registration probability of a photon entering Bob's receiver in its polarisation
//! state, `physics::adversary`), and a fair coin for the squashed bit of a double click.
//! Dark counts, independent Bernoulli(d) per gate and detector, are drawn as geometric
//! gaps (gate of the next dark count of each detector, floor(ln u / ln(1 - d)) gates
//! on), one draw per dark count rather than per gate; a dark count at a blind gate is
//! lost. Photons are independent (beam-splitter model), so the law of every pulse is the
//! physics model's law exactly, with the only rounding that of 53-bit uniforms.
//!
//! Detector memory (dead time, afterpulses) is the reference pulse engine's, gate by
//! gate ([`DetectorState`], the shared `after_click`), and the chunk scheme is the same
//! (`run_stitched`): chunks from a quiet state in parallel, re-run from the carried state
//! when needed, so the output is a function of (scenario, seed) for any thread count.
//! Without an attack (fraction 0) this engine samples the honest link's law, by a
//! different route than [`crate::protocol::PulseEngine`]: the tests compare the two.
//!
//! Must never depend on `estimation`, `postprocess`, `analysis` or `report`.

use super::detection::{ChunkOutput, Detection};
use super::engine::{
    CHUNK_PULSES, DetectorState, EngineStats, after_click, config_parts, detection_flags,
    run_stitched,
};
use super::random::U64Source;
use crate::physics::adversary::{photon_number_cutoff, registration_probability};
use crate::physics::{Adversary, Attack, Basis, LinkModel, Preparation};
use crate::rng::{self, Purpose};
use std::sync::atomic::AtomicBool;

/// The attacked pulse engine for one link (with its adversary) and seed.
#[derive(Debug, Clone)]
pub struct AdversaryEngine {
    model: LinkModel,
    adversary: Adversary,
    pub(crate) seed: u64,
    /// Cumulative joint law of (class, photon number), most probable cell first.
    joint_cum: Vec<f64>,
    /// The (class, photon number) of each cell of `joint_cum`.
    joint_cell: Vec<(usize, u32)>,
    config_cum: [f64; 8],
    /// Per (preparation index, Bob's basis index): r_0 and r_0 + r_1.
    registration: [[[f64; 2]; 2]; 4],
    eta_ch: f64,
}

impl AdversaryEngine {
    /// The engine for `model`, which must carry an adversary.
    pub fn new(model: &LinkModel, seed: u64) -> AdversaryEngine {
        let adversary = model
            .adversary
            .clone()
            .expect("the adversary engine runs only on a link with an adversary");
        let mut cells: Vec<(f64, usize, u32)> = Vec::new();
        for (k, c) in model.intensities.iter().enumerate() {
            for n in 0..=photon_number_cutoff(c.photons.mean()) {
                let p = c.probability * c.photons.probability(n);
                if p > 0.0 {
                    cells.push((p, k, n));
                }
            }
        }
        cells.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut acc = 0.0;
        let joint_cum = cells
            .iter()
            .map(|c| {
                acc += c.0;
                acc
            })
            .collect();
        let joint_cell = cells.iter().map(|c| (c.1, c.2)).collect();
        let mut config_cum = [0.0; 8];
        let mut acc = 0.0;
        for (c, cum) in config_cum.iter_mut().enumerate() {
            let (prep, bob) = config_parts(c);
            acc += model.configuration_probability(prep, bob);
            *cum = acc;
        }
        let mut registration = [[[0.0; 2]; 2]; 4];
        for prep in Preparation::ALL {
            for bob in Basis::BOTH {
                let r = registration_probability(model, prep, bob);
                registration[prep.index()][bob.index()] = [r[0], r[0] + r[1]];
            }
        }
        AdversaryEngine {
            model: model.clone(),
            adversary,
            seed,
            joint_cum,
            joint_cell,
            config_cum,
            registration,
            eta_ch: model.channel.transmittance(),
        }
    }

    /// Simulates `total_pulses` pulses (see [`crate::protocol::PulseEngine::run_until`]).
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
            2,
            |c, p0, n, state| self.simulate_chunk(c, p0, n, state),
            progress,
            stop,
            sink,
        )
    }

    /// The index of the cumulative table entry that holds `u`.
    #[inline]
    fn pick(cum: &[f64], u: f64) -> usize {
        cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1)
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
        let mut src = U64Source::new(rng::stream(self.seed, Purpose::Adversary, chunk));
        let nk = self.model.intensities.len();
        let mut counts = vec![0u64; nk];
        let mut detections = Vec::new();
        let det = &self.model.detectors;
        let dead = det.dead_gates;
        let dark = det.dark_count_probability;
        let memoryless = det.memoryless();
        let fraction = self.adversary.fraction;
        let end = first_pulse + n_pulses;
        // Gate of the next dark count of each detector (geometric gaps; `end` = none).
        let ln_no_dark = (-dark).ln_1p();
        let dark_gap = |src: &mut U64Source| -> u64 {
            if dark <= 0.0 {
                return u64::MAX;
            }
            let g = (src.uniform_open0().ln() / ln_no_dark).floor();
            if g < 1e18 { g as u64 } else { u64::MAX / 2 }
        };
        let mut next_dark = [
            first_pulse.saturating_add(dark_gap(&mut src)),
            first_pulse.saturating_add(dark_gap(&mut src)),
        ];
        for t in first_pulse..end {
            let (live, forced) = if memoryless {
                ([true; 2], [false; 2])
            } else {
                state.enter_gate(t)
            };
            let (k, n) = self.joint_cell[Self::pick(&self.joint_cum, src.uniform())];
            counts[k] += 1;
            let mut dark_clicks = [false; 2];
            for j in 0..2 {
                if next_dark[j] == t {
                    dark_clicks[j] = live[j];
                    next_dark[j] = t.saturating_add(1).saturating_add(dark_gap(&mut src));
                }
            }
            if n == 0 && !(dark_clicks[0] || dark_clicks[1] || forced[0] || forced[1]) {
                continue;
            }
            let c = Self::pick(&self.config_cum, src.uniform());
            let (prep, bob) = config_parts(c);
            let attacked =
                n > 0 && (fraction >= 1.0 || (fraction > 0.0 && src.uniform() < fraction));
            let light = if attacked {
                self.attack(prep, n, &mut src)
            } else {
                Light::honest(prep, n)
            };
            // Bob's receiver: each photon independently.
            let r = self.registration[light.state.index()][bob.index()];
            let s = if light.lossless { 1.0 } else { self.eta_ch };
            let mut registered = [false; 2];
            let mut fibre_lost = 0u32;
            for _ in 0..light.photons {
                let v = src.uniform();
                if v < s * r[0] {
                    registered[0] = true;
                } else if v < s * r[1] {
                    registered[1] = true;
                } else if v >= s {
                    fibre_lost += 1;
                }
            }
            let knows = light.eve_knows
                || (attacked && self.adversary.attack == Attack::BeamSplitting && fibre_lost > 0);
            let mut clicks = [false; 2];
            for j in 0..2 {
                if live[j] {
                    clicks[j] = registered[j] || dark_clicks[j] || forced[j];
                }
            }
            if !(clicks[0] || clicks[1]) {
                continue;
            }
            let bob_bit = if clicks[0] && clicks[1] {
                src.next_u64() >> 63 == 1
            } else {
                clicks[1]
            };
            let mut flags = detection_flags(prep, bob, clicks, bob_bit, forced[0] || forced[1]);
            if knows {
                flags |= Detection::FLAG_EVE_KNOWS;
            }
            detections.push(Detection {
                pulse: t,
                intensity: k as u8,
                flags,
            });
            if !memoryless {
                after_click(det, t, clicks, &mut src, &mut state, dead);
            }
        }
        let out = ChunkOutput {
            index: chunk,
            first_pulse,
            pulses: n_pulses,
            pulses_per_intensity: counts,
            detections,
            sift: None,
        };
        (out, state)
    }

    /// Eve's action on an attacked pulse of `n` photons prepared as `prep`.
    #[inline]
    fn attack(&self, prep: Preparation, n: u32, src: &mut U64Source) -> Light {
        match self.adversary.attack {
            Attack::InterceptResend => {
                if n == 0 {
                    return Light::honest(prep, 0);
                }
                let basis = if src.next_u64() >> 63 == 0 {
                    Basis::Z
                } else {
                    Basis::X
                };
                let bit = if basis == prep.basis {
                    prep.bit
                } else {
                    // Each photon a fair coin; disagreeing outcomes squashed to a coin.
                    let ones = (0..n).filter(|_| src.next_u64() >> 63 == 1).count() as u32;
                    match ones {
                        0 => false,
                        o if o == n => true,
                        _ => src.next_u64() >> 63 == 1,
                    }
                };
                Light {
                    state: Preparation { basis, bit },
                    photons: n,
                    lossless: false,
                    eve_knows: basis == prep.basis,
                }
            }
            Attack::PhotonNumberSplitting => {
                let t = self
                    .adversary
                    .pns
                    .expect("a PNS adversary carries its tuning");
                let (block, forwarded, knows) = match n {
                    0 => (false, 0, false),
                    1 => {
                        let block = src.uniform() < t.block_single;
                        (block, 1, block)
                    }
                    _ => (src.uniform() < t.block_multi, n - 1, true),
                };
                Light {
                    state: prep,
                    photons: if block { 0 } else { forwarded },
                    lossless: true,
                    eve_knows: knows,
                }
            }
            // The photons the fibre loses are Eve's: decided photon by photon in
            // `simulate_chunk`, where they are counted.
            Attack::BeamSplitting => Light::honest(prep, n),
        }
    }
}

/// The light that goes on to Bob after Eve.
struct Light {
    /// Its polarisation state.
    state: Preparation,
    /// Photons sent on.
    photons: u32,
    /// Over Eve's lossless line instead of the fibre.
    lossless: bool,
    /// Eve knows Alice's bit (after the basis announcement) whatever Bob sees.
    eve_knows: bool,
}

impl Light {
    fn honest(prep: Preparation, photons: u32) -> Light {
        Light {
            state: prep,
            photons,
            lossless: false,
            eve_knows: false,
        }
    }
}
