//! The per-block post-processing pipeline, run on the actual simulated bits:
//! parameter estimation -> Cascade -> verification hash -> finite-key length with the bits
//! Cascade really disclosed -> Toeplitz privacy amplification -> Alice's and Bob's final
//! keys compared bit for bit.
//!
//! QBER estimate given to Cascade: what a real receiver knows before error correction,
//! namely the X-basis (test-basis) bits disclosed so far. For block k it is the
//! Laplace-smoothed error rate (m + 1)/(n + 2) of all X-basis sifted bits up to the end of
//! block k, never the true Z error count. It is fixed when the block is cut, so blocks can
//! be processed in parallel and in any order with identical results.
//!
//! Aborts: a block whose QBER estimate, or whose Z error rate measured by Cascade (the
//! number of bits Bob corrected), exceeds `postprocessing.qber_abort` is aborted with that
//! reason; a block the finite-key bound gives no key is reported with the bound's reason;
//! a block that fails verification is flagged and its key discarded.
//!
//! Leakage: `leaked_bits` counts the parity bits Cascade disclosed (lambda_EC of Lim et
//! al., PRA 89, 022307, 2014, Eq. 1); the verification tag (ceil(log2(1/eps_cor)) bits) is
//! paid for by the log2(2/eps_cor) term of the same equation, so it is reported separately
//! and not subtracted twice.
//!
//! Latency per block, as modelled (deterministic, never this host's computing time): the
//! block's last pulse reaches Bob after the one-way fibre delay L n_g / c (group index
//! n_g = 1.468 of standard single-mode fibre at 1550 nm, so about 4.9 us per km); then
//! the sifting exchange (basis announcement), every Cascade round trip on the critical
//! path, the verification exchange and the privacy-amplification seed announcement each
//! cost one fibre round trip 2 L n_g / c plus `postprocessing.message_overhead_us`. The
//! host's computing time per stage is measured separately, in the block's `timings`.
//!
//! Must never depend on `report`, clap or the file system.

use crate::bits::BitVec;
use crate::estimation::{
    BasisCounts, FiniteKeyResult, IntensityCounts, SecurityParameters, finite_key_length,
    single_photon_key_length,
};
use crate::postprocess::cascade::{
    CascadeVariant, ReconcileOptions, efficiency, reconcile, reconcile_disclosing,
};
use crate::postprocess::leakage::known_final_key_functions;
use crate::postprocess::privacy::{ToeplitzHasher, toeplitz_seed};
use crate::postprocess::verify::verify_disclosing;
use crate::protocol::{SiftCounts, SiftedBlock};
use crate::rng::{self, Purpose};
use crate::scenario::Scenario;
use serde::Serialize;
use std::time::Instant;

/// Group index of standard single-mode fibre at 1550 nm (ITU-T G.652 typical value).
pub const FIBRE_GROUP_INDEX: f64 = 1.468;
/// Speed of light in vacuum, m/s.
pub const SPEED_OF_LIGHT_M_PER_S: f64 = 299_792_458.0;

/// Everything the pipeline needs from the scenario.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Cascade variant.
    pub variant: CascadeVariant,
    /// Security parameters for the finite-key bound.
    pub security: SecurityParameters,
    /// (mu_k, p_k) per intensity class.
    pub intensities: Vec<(f64, f64)>,
    /// Abort threshold on the QBER.
    pub qber_abort: f64,
    /// Seconds per classical round trip (fibre delay plus fixed overhead).
    pub round_trip_s: f64,
    /// One-way fibre delay of the quantum signal, seconds.
    pub propagation_s: f64,
    /// Seed of the run (streams for Cascade, verification and PA derive from it).
    pub seed: u64,
    /// Ideal single-photon source: the key length comes from
    /// [`single_photon_key_length`] instead of the decoy-state bound.
    pub single_photon: bool,
    /// The attack Eve mounts (`adversary.attack`), or none: then every block reports what
    /// she knows ([`EveReport`]).
    pub adversary: Option<String>,
}

impl PipelineConfig {
    /// The configuration of a scenario run with `seed`.
    pub fn from_scenario(scenario: &Scenario, seed: u64) -> crate::Result<PipelineConfig> {
        let s = &scenario.spec;
        let variant: CascadeVariant = s.postprocessing.cascade_variant.parse()?;
        let one_way = s.link.length_km * 1e3 * FIBRE_GROUP_INDEX / SPEED_OF_LIGHT_M_PER_S;
        let fibre_rtt = 2.0 * one_way;
        Ok(PipelineConfig {
            variant,
            security: SecurityParameters {
                epsilon_sec: s.postprocessing.epsilon_sec,
                epsilon_cor: s.postprocessing.epsilon_cor,
                basis_z_probability_alice: s.source.basis_z_probability,
                basis_z_probability_bob: s.receiver.basis_z_probability,
            },
            intensities: s
                .source
                .intensities
                .iter()
                .map(|k| (k.mean_photon_number, k.probability))
                .collect(),
            qber_abort: s.postprocessing.qber_abort,
            round_trip_s: fibre_rtt + s.postprocessing.message_overhead_us * 1e-6,
            propagation_s: one_way,
            seed,
            single_photon: s.source.single_photon,
            adversary: s
                .adversary
                .as_ref()
                .filter(|a| a.attack != "none")
                .map(|a| a.attack.clone()),
        })
    }
}

/// What happened to one block.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct BlockReport {
    /// Block number.
    pub index: u64,
    /// First pulse of the block.
    pub first_pulse: u64,
    /// One past its last pulse.
    pub end_pulse: u64,
    /// The run's last, shorter block.
    pub partial: bool,
    /// Link time at the block's last pulse, seconds from the start of the run.
    pub end_time_s: f64,
    /// Sifted Z bits (Cascade input).
    pub sifted_bits: u64,
    /// True Z error rate before error correction (known to the simulation only); `None`
    /// (`null`) for a block without bits.
    pub qber_z: Option<f64>,
    /// X-basis error rate of this block (public); `None` (`null`) when the block has no
    /// X bits.
    pub qber_x: Option<f64>,
    /// QBER estimate given to Cascade.
    pub qber_estimate: f64,
    /// Parity bits Cascade disclosed.
    pub leaked_bits: u64,
    /// Cascade round trips.
    pub channel_uses: u64,
    /// Cascade messages.
    pub messages: u64,
    /// leaked / (n h(qber_z)).
    pub ec_efficiency: f64,
    /// Bits Bob flipped.
    pub corrections: u64,
    /// Errors left after Cascade (known to the simulation only).
    pub residual_errors: u64,
    /// Verification tag length.
    pub verification_tag_bits: u32,
    /// The verification hashes agreed.
    pub verified: bool,
    /// Final key length l.
    pub secret_bits: u64,
    /// Alice's and Bob's final keys are identical (vacuously true without a key).
    pub final_keys_match: bool,
    /// Why the block gave no key, if it gave none.
    pub aborted: Option<String>,
    /// Modelled latency from the block's last pulse to its final key, seconds: the one-way
    /// fibre delay plus `channel_latency_s` (see the module doc; deterministic).
    pub latency_s: f64,
    /// The classical-channel part of `latency_s`: `classical_round_trips` times (fibre
    /// round trip + `postprocessing.message_overhead_us`).
    pub channel_latency_s: f64,
    /// Classical round trips of the block: sifting, Cascade's critical path,
    /// verification and the privacy-amplification seed, as far as the block got.
    pub classical_round_trips: u64,
    /// This host's computing time per stage (wall clock; the only field of a block that
    /// depends on the machine and the thread count).
    pub timings: BlockTimings,
    /// The block's counts per intensity class (what the estimation saw, plus the true Z
    /// errors the simulation knows).
    pub per_intensity: Vec<SiftCounts>,
    /// Every intermediate bound of the finite-key analysis.
    pub finite_key: Option<FiniteKeyResult>,
    /// What Eve knows of this block (under an attack only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eve: Option<EveReport>,
}

/// Longest block (sifted bits) for which Eve's knowledge of the final key is counted
/// exactly ([`crate::postprocess::leakage::MAX_EXACT_BITS`]).
pub const EVE_COUNT_MAX_BITS: usize = crate::postprocess::leakage::MAX_EXACT_BITS;

/// What Eve knows of a block's keys (DESIGN §7 `eve`), counted from the simulation, never
/// assumed: her known sifted bits come from the engine's records, her knowledge of the
/// final key from the rows she holds (`postprocess::leakage`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct EveReport {
    /// The attack (`adversary.attack`).
    pub attack: String,
    /// Sifted Z bits whose value Eve knows (after the basis announcement).
    pub known_sifted_bits: u64,
    /// Independent linear functions of the final key Eve can compute from her known bits,
    /// every parity Cascade disclosed and the verification tag; `null` when the block is
    /// longer than the exact count allows ([`EVE_COUNT_MAX_BITS`]).
    pub known_final_key_bits: Option<u64>,
    /// Final-key length l of the block.
    pub final_key_bits: u64,
    /// Key length the naive bound gives: every detection treated as a single-photon event
    /// (the ideal-source bound, [`single_photon_key_length`], on the same counts and
    /// leakage), i.e. the key a system without decoy states would have produced.
    pub naive_secret_bits: u64,
    /// Independent linear functions of that naive key Eve could compute, had the block
    /// been hashed to `naive_secret_bits` (a Toeplitz seed of its own); `null` as above.
    pub naive_known_final_key_bits: Option<u64>,
}

/// Seconds this host spent on one block, per stage (wall clock, DESIGN §7: every
/// wall-clock figure lives in a `timings` object).
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct BlockTimings {
    /// Parameter estimation and the finite-key length.
    pub estimation_s: f64,
    /// Cascade.
    pub reconciliation_s: f64,
    /// Verification hash.
    pub verification_s: f64,
    /// Toeplitz hashing of both keys.
    pub privacy_amplification_s: f64,
    /// The whole block.
    pub total_s: f64,
    /// Counting Eve's knowledge of the final and the naive key (under an attack only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eve_s: Option<f64>,
}

/// Final keys of one block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockKeys {
    /// Alice's final key.
    pub alice: BitVec,
    /// Bob's final key.
    pub bob: BitVec,
}

/// Counts per intensity class in the estimator's form (Z key basis, X test basis), with
/// (mu_k, p_k) per class. Pulses per intensity are not tracked per block (blocks end
/// mid-chunk), so these counts cannot feed the GLLP bound, which needs them.
pub fn intensity_counts(
    per_intensity: &[SiftCounts],
    intensities: &[(f64, f64)],
) -> Vec<IntensityCounts> {
    per_intensity
        .iter()
        .zip(intensities)
        .map(|(c, &(mu, p))| IntensityCounts {
            mean_photon_number: mu,
            probability: p,
            z: BasisCounts {
                sifted: c.sifted_z,
                errors: c.errors_z,
            },
            x: BasisCounts {
                sifted: c.sifted_x,
                errors: c.errors_x,
            },
        })
        .collect()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b > 0 { a as f64 / b as f64 } else { 0.0 }
}

/// Post-processes one block with QBER estimate `qber_estimate`; returns its report and,
/// when a key was produced, the final keys.
pub fn process_block(
    block: &SiftedBlock,
    qber_estimate: f64,
    cfg: &PipelineConfig,
    rep_rate_hz: f64,
) -> (BlockReport, Option<BlockKeys>) {
    let n = block.alice.len();
    let errors_z: u64 = block.per_intensity.iter().map(|c| c.errors_z).sum();
    let (sx, ex) = block
        .per_intensity
        .iter()
        .fold((0, 0), |(s, e), c| (s + c.sifted_x, e + c.errors_x));
    let mut report = BlockReport {
        index: block.index,
        first_pulse: block.first_pulse,
        end_pulse: block.end_pulse,
        partial: block.partial,
        end_time_s: block.end_pulse as f64 / rep_rate_hz,
        sifted_bits: n as u64,
        qber_z: crate::analysis::run::rate(errors_z, n as u64),
        qber_x: crate::analysis::run::rate(ex, sx),
        qber_estimate,
        leaked_bits: 0,
        channel_uses: 0,
        messages: 0,
        ec_efficiency: 0.0,
        corrections: 0,
        residual_errors: errors_z,
        verification_tag_bits: 0,
        verified: false,
        secret_bits: 0,
        final_keys_match: true,
        aborted: None,
        latency_s: 0.0,
        channel_latency_s: 0.0,
        classical_round_trips: 0,
        timings: BlockTimings::default(),
        per_intensity: block.per_intensity.clone(),
        finite_key: None,
        eve: cfg.adversary.as_ref().map(|attack| EveReport {
            attack: attack.clone(),
            known_sifted_bits: block.eve.count_ones() as u64,
            known_final_key_bits: Some(0),
            naive_known_final_key_bits: Some(0),
            ..EveReport::default()
        }),
    };
    let started = Instant::now();
    let finish = |mut r: BlockReport, keys: Option<BlockKeys>| {
        // Sifting (one exchange), Cascade's critical path, verification, PA seed.
        let classical =
            1 + r.channel_uses + u64::from(r.verification_tag_bits > 0) + u64::from(keys.is_some());
        r.classical_round_trips = classical;
        r.channel_latency_s = classical as f64 * cfg.round_trip_s;
        r.latency_s = cfg.propagation_s + r.channel_latency_s;
        r.timings.total_s = started.elapsed().as_secs_f64();
        (r, keys)
    };
    if qber_estimate > cfg.qber_abort {
        report.aborted = Some(format!(
            "estimated QBER {:.2}% (X basis) is above qber_abort {:.2}%",
            100.0 * qber_estimate,
            100.0 * cfg.qber_abort
        ));
        return finish(report, None);
    }

    // Error correction on the real bits.
    let t = Instant::now();
    let mut rng_ec = rng::stream(cfg.seed, Purpose::Reconciliation, block.index);
    // Under an attack Cascade also records every parity Alice disclosed, as the key
    // positions it covers (the same outcome and draws).
    let (ec, disclosed) = if cfg.adversary.is_some() {
        match reconcile_disclosing(
            &block.alice,
            &block.bob,
            qber_estimate,
            cfg.variant,
            &mut rng_ec,
            ReconcileOptions::default(),
        ) {
            Ok((ec, d)) => (ec, Some(d)),
            Err(e) => {
                report.aborted = Some(format!("error correction: {e}"));
                return finish(report, None);
            }
        }
    } else {
        let ec = reconcile(
            &block.alice,
            &block.bob,
            qber_estimate,
            cfg.variant,
            &mut rng_ec,
        );
        (ec, None)
    };
    report.timings.reconciliation_s = t.elapsed().as_secs_f64();
    report.leaked_bits = ec.leaked_bits;
    report.channel_uses = ec.channel_uses;
    report.messages = ec.messages;
    report.corrections = ec.corrections;
    report.ec_efficiency = efficiency(ec.leaked_bits, n, report.qber_z.unwrap_or(0.0));
    report.residual_errors = block.alice.hamming_distance(&ec.corrected) as u64;

    // Verification.
    let t = Instant::now();
    let mut rng_ver = rng::stream(cfg.seed, Purpose::Verification, block.index);
    // The tag's public seed is kept for Eve's count (same outcome and draws as `verify`).
    let verified = verify_disclosing(
        &block.alice,
        &ec.corrected,
        cfg.security.epsilon_cor,
        &mut rng_ver,
    );
    let (ver, tag_seed) = match verified.map(|(v, seed)| (v, disclosed.is_some().then_some(seed))) {
        Ok(v) => v,
        Err(e) => {
            report.aborted = Some(format!("verification: {e}"));
            return finish(report, None);
        }
    };
    report.timings.verification_s = t.elapsed().as_secs_f64();
    report.verification_tag_bits = ver.tag_bits;
    report.verified = ver.keys_match;

    let measured_qber = ratio(ec.corrections, n as u64);
    if measured_qber > cfg.qber_abort {
        report.aborted = Some(format!(
            "QBER measured by error correction {:.2}% is above qber_abort {:.2}%",
            100.0 * measured_qber,
            100.0 * cfg.qber_abort
        ));
        return finish(report, None);
    }
    if !ver.keys_match {
        report.aborted =
            Some("verification failed: keys differ after error correction; block discarded".into());
        return finish(report, None);
    }

    // Key length from the block's own counts and the bits actually disclosed.
    let t = Instant::now();
    let counts = intensity_counts(&block.per_intensity, &cfg.intensities);
    let fk = if cfg.single_photon {
        single_photon_key_length(&counts, ec.leaked_bits as f64, &cfg.security, true)
    } else {
        finite_key_length(&counts, ec.leaked_bits as f64, &cfg.security)
    };
    if let Some(eve) = report.eve.as_mut() {
        eve.naive_secret_bits =
            single_photon_key_length(&counts, ec.leaked_bits as f64, &cfg.security, true)
                .key_bits
                .min(n as u64);
    }
    report.timings.estimation_s = t.elapsed().as_secs_f64();
    // What Eve can compute of a final key of `len` bits hashed with `seed`: the exact count
    // from her known bits, the disclosed parities and the tag; `None` above the size the
    // exact count allows (or, never expected, inputs of different lengths).
    let eve_started = Instant::now();
    let eve_count = |seed: &BitVec, len: usize| -> Option<u64> {
        let d = disclosed.as_ref()?;
        known_final_key_functions(&block.eve, d, tag_seed.as_ref(), seed, len)
            .ok()
            .flatten()
            .map(|k| k.known)
    };
    if let Some(eve) = report.eve.as_mut()
        && eve.naive_secret_bits > 0
    {
        // The naive key, had it been made: its own Toeplitz seed (stream (seed,
        // Adversary, 2^63 + block)), so nothing of the real run changes.
        let mut rng_naive = rng::stream(
            cfg.seed,
            Purpose::Adversary,
            (1u64 << 63).wrapping_add(block.index),
        );
        let len = eve.naive_secret_bits as usize;
        let naive_seed = toeplitz_seed(n, len, &mut rng_naive);
        eve.naive_known_final_key_bits = eve_count(&naive_seed, len);
    }
    if report.eve.is_some() {
        report.timings.eve_s = Some(eve_started.elapsed().as_secs_f64());
    }
    let l = fk.key_bits.min(n as u64) as usize;
    let rejected = fk.rejected.clone();
    report.finite_key = Some(fk);
    if l == 0 {
        report.aborted = Some(rejected.unwrap_or_else(|| "finite-key bound gives no key".into()));
        return finish(report, None);
    }

    // Privacy amplification of both parties' corrected keys with one public seed.
    let t = Instant::now();
    let mut rng_pa = rng::stream(cfg.seed, Purpose::PrivacyAmplification, block.index);
    let seed = toeplitz_seed(n, l, &mut rng_pa);
    let mut hasher = ToeplitzHasher::new();
    let hashed = hasher
        .hash(&block.alice, &seed, l)
        .and_then(|a| Ok((a, hasher.hash(&ec.corrected, &seed, l)?)));
    report.timings.privacy_amplification_s = t.elapsed().as_secs_f64();
    match hashed {
        Ok((alice, bob)) => {
            report.secret_bits = l as u64;
            if let Some(eve) = report.eve.as_mut() {
                let t = Instant::now();
                eve.final_key_bits = l as u64;
                eve.known_final_key_bits = eve_count(&seed, l);
                let naive_s = report.timings.eve_s.unwrap_or(0.0);
                report.timings.eve_s = Some(naive_s + t.elapsed().as_secs_f64());
            }
            report.final_keys_match = alice == bob;
            finish(report, Some(BlockKeys { alice, bob }))
        }
        Err(e) => {
            report.aborted = Some(format!("privacy amplification failed: {e}"));
            finish(report, None)
        }
    }
}
