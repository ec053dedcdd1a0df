//! Expected-value theory for a scenario: secret bits per pulse and per second versus
//! distance for GLLP without decoys, vacuum + weak decoy, infinite decoy and the finite-key
//! bound, beside the repeaterless bounds of the channel (DESIGN §2, §5: `theory --json`).
//!
//! Inputs are the closed-form gains and errors of [`crate::physics::expected`] (two
//! threshold detectors, squashing). Dead time and afterpulsing enter by one of two
//! detector models ([`DetectorTheory`]):
//! - [`DetectorTheory::MeanField`] (the default): the stationary mean-field expectation
//!   with dead time and afterpulsing ([`expected_with_detector_memory`]), the same model
//!   the run table prints beside the simulated figures, so a theory line beside simulated
//!   points compares like with like. Without detector memory it is the memoryless closed
//!   form.
//! - [`DetectorTheory::Lim2014`]: afterpulsing to first order as in Lim, Curty, Walenta,
//!   Xu, Zbinden, PRA 89, 022307 (2014), Sec. IV: every detection rate D_k becomes
//!   R_k = D_k (1 + p_ap) and every error rate gains p_ap D_k / 2 (an afterpulse lands on a
//!   random detector); dead time left out. This is the convention of the paper's figures,
//!   used to reproduce them.
//!
//! Reading of Lim et al.'s printed Sec. IV model, which has known misprints: the
//! misalignment term e_mis [1 - exp(-eta k)] is taken with the *system* transmittance
//! eta_sys = eta_ch eta_Bob (printed: eta_ch), which is what the closed form does exactly,
//! and lambda_EC = n_X f_EC h(e_obs) (printed per bit, without the block length n_X).
//!
//! Dark counts: `detector.dark_count_probability` is per detector, so the total dark yield
//! is Y0 = 1 - (1 - p_dc)^2 ~ 2 p_dc; published figures quoting Y0 (e.g. GYS, Y0 = 1.7e-6)
//! map to p_dc = Y0 / 2 (8.5e-7).
//!
//! Choices, stated once:
//! - lambda_EC = f_EC h(E) per sifted key bit (`postprocessing.f_ec`); the finite-key curve
//!   uses the QBER of all key bits together (Lim's e_obs), the asymptotic ones the signal's.
//! - The finite-key curve is Lim's bound at the scenario's block: n_Z =
//!   `postprocessing.block_bits` sifted Z bits (Lim's n_X) from all intensities; the rate is
//!   l / N with N = n_Z / (expected sifted Z bits per pulse) the pulses needed to fill it.
//! - Two key conventions, named in every curve's `key_from` field: the asymptotic curves
//!   `gllp_no_decoy`, `decoy_vacuum_weak`, `decoy_infinite` are the
//!   published formulas (key from the signal class only, no vacuum term, see
//!   [`super::asymptotic`]), so that they reproduce the published GYS figures. The extra
//!   curve `finite_key_asymptotic` is Lim's analysis for an infinite block (key from all
//!   classes, vacuum events credited, no statistical terms): the limit `finite_key`
//!   approaches as the block grows. Because it credits the decoys' and vacuum's key bits,
//!   it (and, for very large blocks, `finite_key`) can lie above `decoy_vacuum_weak` and
//!   reach a few km further than `decoy_infinite`.
//! - The bounds use the channel transmittance alone (fibre plus `link.extra_loss_db`).
//! - With `optimize`, every protocol curve maximises its rate over mu1, mu2 (decoy
//!   methods), the class probabilities and the basis bias p_Z = q_Z (Alice and Bob alike,
//!   in [0.01, 0.995]), mu3 fixed at the scenario's weakest class, as Lim et al. do for the
//!   finite key. The asymptotic formulas take the key from the signal alone and always
//!   favour p_signal -> 1 and p_Z -> 1 (decoys and test bits cost nothing for an infinite
//!   key), so there every class keeps a probability of at least 0.01 and the optimum sits
//!   on that edge and on p_Z = 0.995. The maximum distance and the optimal intensities do
//!   not depend on these prefactors.
//!   The search is the Nelder-Mead simplex of [`super::optimize`], started from the
//!   scenario's settings, from the optimum at the previous distance, and from a generic
//!   point (plus a small fixed lattice of starts for the finite key when those find no
//!   key); the best result is kept.
//!
//! Must never depend on `protocol`, `postprocess` or `report`; does no I/O.

use super::asymptotic::{
    AsymptoticInputs, ClassRates, gllp_no_decoy_rate, infinite_decoy_rate, vacuum_weak_decoy_rate,
};
use super::bounds::{plob_bits_per_pulse, tgw_bits_per_pulse};
use super::decoy::select_intensities;
use super::entropy::binary_entropy;
use super::finite::{ClassCounts, FiniteKeyResult, key_length, single_photon_length};
use super::optimize::{NelderMead, logistic, logit};
use crate::error::{Error, Result};
use crate::physics::expected::{expected_per_intensity, expected_with_detector_memory};
use crate::physics::{IntensityClass, LinkModel, PhotonStatistics};
use crate::scenario::Scenario;
use serde::{Serialize, Serializer};
use std::sync::atomic::{AtomicBool, Ordering};

/// Curve names of `theory --json`, in output order. The first six are the contract of
/// DESIGN §5; `finite_key_asymptotic` is an addition: the finite-key analysis in the limit
/// of an infinite block (the curve `finite_key` rises towards as `block_bits` grows).
pub const CURVE_NAMES: [&str; 7] = [
    "gllp_no_decoy",
    "decoy_vacuum_weak",
    "decoy_infinite",
    "finite_key",
    "plob",
    "tgw",
    "finite_key_asymptotic",
];

/// Longest distance searched for a curve's cutoff (the scenario's own limit on `link.length_km`).
pub const MAX_SEARCH_KM: f64 = 10_000.0;

/// One intensity class of a setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntensitySetting {
    /// Label from the scenario.
    pub label: String,
    /// mu_k.
    pub mean_photon_number: f64,
    /// p_k.
    pub probability: f64,
}

/// Source and receiver settings a curve point was computed with (the optimum with
/// `--optimize`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolSettings {
    /// Intensity classes in scenario order.
    pub intensities: Vec<IntensitySetting>,
    /// Alice's probability of Z.
    pub basis_z_probability_alice: f64,
    /// Bob's probability of Z.
    pub basis_z_probability_bob: f64,
}

/// How dead time and afterpulsing enter the theory (module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorTheory {
    /// The stationary mean-field model of dead time and afterpulsing, as in the run table.
    #[default]
    MeanField,
    /// Lim et al. 2014, Sec. IV: afterpulsing to first order, no dead time.
    Lim2014,
}

impl DetectorTheory {
    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorTheory::MeanField => "mean_field",
            DetectorTheory::Lim2014 => "lim2014",
        }
    }
}

impl std::str::FromStr for DetectorTheory {
    type Err = Error;
    fn from_str(s: &str) -> Result<DetectorTheory> {
        match s {
            "mean_field" | "mean-field" => Ok(DetectorTheory::MeanField),
            "lim2014" => Ok(DetectorTheory::Lim2014),
            other => Err(Error::InvalidArgument(format!(
                "detector model: must be \"mean_field\" or \"lim2014\", got \"{other}\""
            ))),
        }
    }
}

/// Which pulses a curve takes key from; the two conventions give different numbers for
/// the same link, so every curve says which it uses (`theory --json`, legends).
pub fn key_convention(curve_name: &str) -> Option<&'static str> {
    match curve_name {
        "gllp_no_decoy" | "decoy_vacuum_weak" | "decoy_infinite" => {
            Some("signal class only (Lo, Ma, Chen 2005; Ma et al. 2005)")
        }
        "finite_key" | "finite_key_asymptotic" => Some("every intensity class (Lim et al. 2014)"),
        _ => None,
    }
}

/// One curve of `theory --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// One of [`CURVE_NAMES`].
    pub name: String,
    /// Fibre lengths in km.
    pub distance_km: Vec<f64>,
    /// Secret bits per pulse sent (for the bounds: per channel use); +infinity (written as
    /// null in JSON) for a bound at zero loss.
    #[serde(serialize_with = "finite_or_null")]
    pub bits_per_pulse: Vec<f64>,
    /// `bits_per_pulse` times `source.rep_rate_hz`.
    #[serde(serialize_with = "finite_or_null")]
    pub bits_per_second: Vec<f64>,
    /// Fibre length where the rate first reaches zero, found by bisection between the grid
    /// points (searched beyond the grid up to [`MAX_SEARCH_KM`]); null for the bounds, for a
    /// curve that does not apply, or when the rate stays positive up to [`MAX_SEARCH_KM`].
    pub max_distance_km: Option<f64>,
    /// Why the curve is zero everywhere or has no cutoff, when it does not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// With `--optimize`: the optimal settings at each distance (null where no key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Vec<Option<ProtocolSettings>>>,
    /// Which pulses the curve takes key from ([`key_convention`]); absent for the bounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_from: Option<String>,
}

/// The `theory --json` document: `{scenario, curves: [...]}` plus context fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TheoryReport {
    /// Scenario name.
    pub scenario: String,
    /// Pulse rate used for bits per second.
    pub rep_rate_hz: f64,
    /// Block size n_Z of the finite-key curve (sifted Z bits).
    pub block_bits: u64,
    /// Whether the protocol settings were optimised at each distance.
    pub optimized: bool,
    /// How dead time and afterpulsing enter ([`DetectorTheory`]).
    pub detector_model: DetectorTheory,
    /// Why curves of the two key conventions differ, for the reader of the numbers.
    pub key_convention_note: String,
    /// The curves, in [`CURVE_NAMES`] order.
    pub curves: Vec<Curve>,
}

/// Per-pulse theory figures for one scenario at its own length (`run --json`'s `theory`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioRates {
    /// Asymptotic secret bits per pulse: the limit of the finite-key analysis for an
    /// infinite block with the same settings (key from all intensities, vacuum + weak decoy
    /// estimates, lambda_EC = f_EC h(E)) when three suitable intensity classes exist,
    /// otherwise GLLP without decoys (see `asymptotic_method`).
    pub secret_bits_per_pulse_asymptotic: f64,
    /// Which analysis gave `secret_bits_per_pulse_asymptotic`: `"decoy_limit"` or `"gllp_no_decoy"`.
    pub asymptotic_method: String,
    /// Finite-key secret bits per pulse at `postprocessing.block_bits` (0 if none).
    pub secret_bits_per_pulse_finite: f64,
    /// PLOB bound of the channel, bits per pulse (+infinity, written null, at zero loss).
    #[serde(serialize_with = "finite_or_null_scalar")]
    pub plob_bits_per_pulse: f64,
    /// TGW bound of the channel, bits per pulse.
    #[serde(serialize_with = "finite_or_null_scalar")]
    pub tgw_bits_per_pulse: f64,
    /// Expected pulses to fill one block of `block_bits` sifted Z bits (0 if never).
    pub pulses_per_block: f64,
    /// The finite-key bound's intermediates on the expected counts of one block.
    pub finite_key: FiniteKeyResult,
}

fn finite_or_null<S: Serializer>(values: &[f64], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(
        values
            .iter()
            .map(|v| if v.is_finite() { Some(*v) } else { None }),
    )
}

fn finite_or_null_scalar<S: Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_some(v)
    } else {
        s.serialize_none()
    }
}

/// What [`TheoryReport::key_convention_note`] says.
pub const KEY_CONVENTION_NOTE: &str = "gllp_no_decoy, decoy_vacuum_weak and decoy_infinite take key from the signal class only \
(the published formulas); finite_key and finite_key_asymptotic take it from every intensity class (Lim et al. 2014), \
so at short distance the finite-key rate can exceed the signal-only asymptotic rates";

/// Most fibre lengths one call of [`distance_grid`] may ask for.
pub const MAX_DISTANCE_STEPS: u64 = 10_000;

/// `steps` fibre lengths from `from_km` to `to_km`, both included, evenly spaced (the grid
/// of `qkdsim theory --from --to --steps`). Each end must be in [0, [`MAX_SEARCH_KM`]],
/// `from_km <= to_km`, `steps` in [1, [`MAX_DISTANCE_STEPS`]], and one step means
/// `from_km == to_km`. Errors name the arguments by `names` (`["--from", "--to",
/// "--steps"]` on the command line), the value and the allowed range.
pub fn distance_grid(from_km: f64, to_km: f64, steps: u64, names: [&str; 3]) -> Result<Vec<f64>> {
    let [from_name, to_name, steps_name] = names;
    let bad = |m: String| Err(Error::InvalidArgument(m));
    for (name, v) in [(from_name, from_km), (to_name, to_km)] {
        if !(v.is_finite() && (0.0..=MAX_SEARCH_KM).contains(&v)) {
            return bad(format!(
                "{name}: must be a fibre length in [0, {MAX_SEARCH_KM}] km, got {v}"
            ));
        }
    }
    if from_km > to_km {
        return bad(format!(
            "{from_name} ({from_km}) must not exceed {to_name} ({to_km})"
        ));
    }
    if !(1..=MAX_DISTANCE_STEPS).contains(&steps) {
        return bad(format!(
            "{steps_name}: must be in [1, {MAX_DISTANCE_STEPS}], got {steps}"
        ));
    }
    if steps == 1 {
        if from_km != to_km {
            return bad(format!(
                "{steps_name} 1 gives a single distance: set {from_name} equal to {to_name} \
                 (got {from_km} and {to_km})"
            ));
        }
        return Ok(vec![from_km]);
    }
    if from_km == to_km {
        return bad(format!(
            "{from_name} and {to_name} are both {from_km}: use {steps_name} 1 for a single distance"
        ));
    }
    let n = steps - 1;
    Ok((0..=n)
        .map(|i| from_km + (to_km - from_km) * i as f64 / n as f64)
        .collect())
}

/// Theory curves of `scenario` at the given fibre lengths (km) with the mean-field
/// detector model; see the module doc. Fails when `distances_km` is empty or holds a value
/// outside [0, 10000].
pub fn theory_curves(
    scenario: &Scenario,
    distances_km: &[f64],
    optimize: bool,
) -> Result<TheoryReport> {
    theory_curves_with(scenario, distances_km, optimize, DetectorTheory::MeanField)
}

/// [`theory_curves`] with a chosen detector model.
pub fn theory_curves_with(
    scenario: &Scenario,
    distances_km: &[f64],
    optimize: bool,
    detector_model: DetectorTheory,
) -> Result<TheoryReport> {
    theory_curves_until(scenario, distances_km, optimize, detector_model, None)
}

/// [`theory_curves_with`] with a cancellation flag: once `stop` is set no further
/// distance is evaluated and the call returns [`Error::Cancelled`] (an optimised curve
/// over a long grid takes minutes).
pub fn theory_curves_until(
    scenario: &Scenario,
    distances_km: &[f64],
    optimize: bool,
    detector_model: DetectorTheory,
    stop: Option<&AtomicBool>,
) -> Result<TheoryReport> {
    if distances_km.is_empty() {
        return Err(Error::InvalidArgument(
            "distance_km: give at least one distance".into(),
        ));
    }
    if let Some(bad) = distances_km
        .iter()
        .find(|d| !(d.is_finite() && (0.0..=MAX_SEARCH_KM).contains(*d)))
    {
        return Err(Error::InvalidArgument(format!(
            "distance_km: must be in [0, {MAX_SEARCH_KM}], got {bad}"
        )));
    }
    let setup = Setup::new(scenario, detector_model);
    let mut curves = Vec::with_capacity(CURVE_NAMES.len());
    for method in [
        Method::Gllp,
        Method::VacuumWeak,
        Method::Infinite,
        Method::Finite,
    ] {
        curves.push(protocol_curve(&setup, method, distances_km, optimize, stop));
    }
    for (name, bound) in [
        ("plob", plob_bits_per_pulse as fn(f64) -> f64),
        ("tgw", tgw_bits_per_pulse),
    ] {
        let bits: Vec<f64> = distances_km
            .iter()
            .map(|&d| bound(setup.model.channel.with_length(d).transmittance()))
            .collect();
        curves.push(Curve {
            name: name.into(),
            distance_km: distances_km.to_vec(),
            bits_per_second: bits.iter().map(|b| b * setup.rep_rate_hz).collect(),
            bits_per_pulse: bits,
            max_distance_km: None,
            note: None,
            settings: None,
            key_from: None,
        });
    }
    curves.push(protocol_curve(
        &setup,
        Method::FiniteLimit,
        distances_km,
        optimize,
        stop,
    ));
    if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
        return Err(Error::Cancelled);
    }
    Ok(TheoryReport {
        scenario: scenario.spec.name.clone(),
        rep_rate_hz: setup.rep_rate_hz,
        block_bits: scenario.spec.postprocessing.block_bits,
        optimized: optimize,
        detector_model,
        key_convention_note: KEY_CONVENTION_NOTE.into(),
        curves,
    })
}

/// The theory figures of `scenario` at its own `link.length_km` and settings (no
/// optimisation): what `run --json` reports beside the simulated key.
pub fn scenario_rates(scenario: &Scenario) -> ScenarioRates {
    scenario_rates_with(scenario, DetectorTheory::MeanField, None)
}

/// [`scenario_rates`] with a chosen detector model and, optionally, an error-correction
/// inefficiency other than `postprocessing.f_ec` (e.g. the one Cascade measured in a run,
/// so that a finite-key line beside simulated points assumes what the simulation did).
pub fn scenario_rates_with(
    scenario: &Scenario,
    detector_model: DetectorTheory,
    f_ec: Option<f64>,
) -> ScenarioRates {
    let mut setup = Setup::new(scenario, detector_model);
    if let Some(f) = f_ec {
        setup.f_ec = f;
    }
    let model = &setup.model;
    let eta = model.channel.transmittance();
    let (finite_key, pulses) = setup.finite_key(model);
    let finite_rate = if pulses > 0.0 {
        finite_key.key_bits as f64 / pulses
    } else {
        0.0
    };
    let (asymptotic, method) = match setup.decoy_limit(model) {
        Some(r) => (r, "decoy_limit"),
        None => (setup.rate(model, Method::Gllp).max(0.0), "gllp_no_decoy"),
    };
    ScenarioRates {
        secret_bits_per_pulse_asymptotic: asymptotic,
        asymptotic_method: method.into(),
        secret_bits_per_pulse_finite: finite_rate,
        plob_bits_per_pulse: plob_bits_per_pulse(eta),
        tgw_bits_per_pulse: tgw_bits_per_pulse(eta),
        pulses_per_block: pulses,
        finite_key,
    }
}

/// The four protocol curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Gllp,
    VacuumWeak,
    Infinite,
    Finite,
    FiniteLimit,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Gllp => "gllp_no_decoy",
            Method::VacuumWeak => "decoy_vacuum_weak",
            Method::Infinite => "decoy_infinite",
            Method::Finite => "finite_key",
            Method::FiniteLimit => "finite_key_asymptotic",
        }
    }
}

/// What stays fixed while distance and settings vary.
struct Setup {
    model: LinkModel,
    detector_model: DetectorTheory,
    afterpulse: f64,
    f_ec: f64,
    block_bits: f64,
    epsilon_sec: f64,
    epsilon_cor: f64,
    rep_rate_hz: f64,
    single_photon: bool,
    /// The scenario's signal class (largest mean photon number); the optimiser keeps it so.
    signal: usize,
}

impl Setup {
    fn new(scenario: &Scenario, detector_model: DetectorTheory) -> Setup {
        let s = &scenario.spec;
        let mut model = LinkModel::from_scenario(scenario);
        if s.source.single_photon {
            // Every class of an ideal single-photon source sends the same state, so all
            // pulses are key pulses: one class with probability 1 (the labels' mean photon
            // numbers mean nothing here, and picking one class as "signal" would count
            // only its share of the pulses).
            model.intensities = vec![IntensityClass {
                label: "single photon".into(),
                probability: 1.0,
                mean_photon_number: 1.0,
                photons: PhotonStatistics::SinglePhoton,
            }];
        }
        Setup {
            signal: signal_index(&model),
            model,
            detector_model,
            afterpulse: s.detector.afterpulse_probability,
            f_ec: s.postprocessing.f_ec,
            block_bits: s.postprocessing.block_bits as f64,
            epsilon_sec: s.postprocessing.epsilon_sec,
            epsilon_cor: s.postprocessing.epsilon_cor,
            rep_rate_hz: s.source.rep_rate_hz,
            single_photon: s.source.single_photon,
        }
    }

    fn at_distance(&self, km: f64) -> LinkModel {
        let mut m = self.model.clone();
        m.channel = m.channel.with_length(km);
        m
    }

    /// Expected per-pulse rates of each class: with [`DetectorTheory::MeanField`] the
    /// mean-field expectation with dead time and afterpulsing; with
    /// [`DetectorTheory::Lim2014`] afterpulsing to first order (Lim et al. 2014, Sec. IV:
    /// R_k = D_k (1 + p_ap), errors + p_ap D_k / 2).
    fn class_rates(&self, model: &LinkModel) -> Vec<ClassRates> {
        if self.detector_model == DetectorTheory::MeanField {
            let expected = expected_with_detector_memory(model)
                .unwrap_or_else(|| expected_per_intensity(model));
            return expected
                .iter()
                .zip(&model.intensities)
                .map(|(e, class)| ClassRates {
                    mean_photon_number: e.mean_photon_number,
                    probability: class.probability,
                    sifted_z: e.sifted_z_per_pulse,
                    errors_z: e.errors_z_per_pulse,
                    sifted_x: e.sifted_x_per_pulse,
                    errors_x: e.errors_x_per_pulse,
                })
                .collect();
        }
        let ap = self.afterpulse;
        expected_per_intensity(model)
            .iter()
            .zip(&model.intensities)
            .map(|(e, class)| ClassRates {
                mean_photon_number: e.mean_photon_number,
                probability: class.probability,
                sifted_z: e.sifted_z_per_pulse * (1.0 + ap),
                errors_z: e.errors_z_per_pulse + ap * e.sifted_z_per_pulse / 2.0,
                sifted_x: e.sifted_x_per_pulse * (1.0 + ap),
                errors_x: e.errors_x_per_pulse + ap * e.sifted_x_per_pulse / 2.0,
            })
            .collect()
    }

    fn inputs(&self, model: &LinkModel) -> AsymptoticInputs {
        let (pz, qz) = (model.alice_z_probability, model.bob_z_probability);
        AsymptoticInputs {
            classes: self.class_rates(model),
            f_ec: self.f_ec,
            both_z_probability: pz * qz,
            both_x_probability: (1.0 - pz) * (1.0 - qz),
            signal: self.signal,
        }
    }

    /// Why `method` does not apply to this scenario's source, if it does not.
    fn not_applicable(&self, method: Method) -> Option<String> {
        if method == Method::Gllp {
            return None;
        }
        if self.single_photon {
            // The finite-key bound and its limit take the exact single-photon counts
            // (`single_photon_key_length`); the decoy analyses have nothing to estimate.
            return match method {
                Method::Finite | Method::FiniteLimit => None,
                _ => Some(
                    "the source is an ideal single-photon source (source.single_photon = true): decoy-state analyses do \
                     not apply; gllp_no_decoy is exact for it"
                        .into(),
                ),
            };
        }
        let mus: Vec<f64> = self
            .model
            .intensities
            .iter()
            .map(|c| c.mean_photon_number)
            .collect();
        match method {
            Method::Infinite if mus.len() < 2 => Some(
                "a decoy-state analysis needs at least one decoy intensity class besides the signal; the scenario has one class"
                    .into(),
            ),
            Method::VacuumWeak | Method::Finite | Method::FiniteLimit => select_intensities(&mus).err().map(|reason| {
                format!("not applicable to this scenario's intensity classes: {reason}")
            }),
            _ => None,
        }
    }

    /// Raw (possibly negative) per-pulse rate of an asymptotic method, or the finite-key
    /// bound's l / N.
    fn rate(&self, model: &LinkModel, method: Method) -> f64 {
        match method {
            Method::Gllp => {
                let p = model.intensities[self.signal].photons;
                let multi = (1.0 - p.probability(0) - p.probability(1)).max(0.0);
                gllp_no_decoy_rate(&self.inputs(model), multi)
            }
            Method::VacuumWeak => vacuum_weak_decoy_rate(&self.inputs(model)).unwrap_or(0.0),
            Method::Infinite => {
                infinite_decoy_rate(&self.inputs(model), &self.single_photon_rates(model))
            }
            Method::Finite => {
                // Where no key exists, the shortfall per block bit (not per pulse: dividing
                // a negative bound by N would reward settings that fill the block slowly).
                let (r, pulses) = self.finite_key(model);
                if pulses <= 0.0 {
                    -1.0
                } else if r.key_length_bound > 0.0 {
                    r.key_length_bound / pulses
                } else {
                    r.key_length_bound / self.block_bits
                }
            }
            Method::FiniteLimit => self.decoy_limit_raw(model),
        }
    }

    /// The clipped rate a curve shows (for the finite key: whole key bits per pulse).
    fn shown_rate(&self, model: &LinkModel, method: Method) -> f64 {
        match method {
            Method::Finite => {
                let (r, pulses) = self.finite_key(model);
                if pulses > 0.0 {
                    r.key_bits as f64 / pulses
                } else {
                    0.0
                }
            }
            Method::FiniteLimit => self.decoy_limit(model).unwrap_or(0.0),
            _ => self.rate(model, method).max(0.0),
        }
    }

    /// Rates of a pulse carrying exactly one photon (for the infinite-decoy limit).
    /// The detectors' memory state is set by the real traffic, so the single-photon class
    /// is appended with probability 0: it is evaluated in that state without changing it.
    fn single_photon_rates(&self, model: &LinkModel) -> ClassRates {
        let mut m = model.clone();
        m.intensities.push(IntensityClass {
            label: "single photon".into(),
            probability: 0.0,
            mean_photon_number: 1.0,
            photons: PhotonStatistics::SinglePhoton,
        });
        *self.class_rates(&m).last().expect("one class was pushed")
    }

    /// Expected counts of one block of `block_bits` sifted Z bits: (classes, pulses N, leak).
    fn block_counts(&self, model: &LinkModel, block_bits: f64) -> (Vec<ClassCounts>, f64, f64) {
        let rates = self.class_rates(model);
        let per_pulse: f64 = rates.iter().map(|c| c.probability * c.sifted_z).sum();
        if per_pulse.is_nan() || per_pulse <= 0.0 {
            return (Vec::new(), 0.0, 0.0);
        }
        let pulses = block_bits / per_pulse;
        let classes: Vec<ClassCounts> = rates
            .iter()
            .map(|c| {
                let n = pulses * c.probability;
                ClassCounts {
                    mu: c.mean_photon_number,
                    probability: c.probability,
                    n_z: n * c.sifted_z,
                    m_z: n * c.errors_z,
                    n_x: n * c.sifted_x,
                    m_x: n * c.errors_x,
                }
            })
            .collect();
        let errors: f64 = classes.iter().map(|c| c.m_z).sum();
        let leak = self.f_ec * block_bits * binary_entropy((errors / block_bits).min(0.5));
        (classes, pulses, leak)
    }

    /// Lim et al.'s finite-key bound on the expected counts of one block, and N.
    fn finite_key(&self, model: &LinkModel) -> (FiniteKeyResult, f64) {
        if let Some(reason) = self.not_applicable(Method::Finite) {
            return (
                FiniteKeyResult {
                    finite_size: true,
                    rejected: Some(reason),
                    ..Default::default()
                },
                0.0,
            );
        }
        let (classes, pulses, leak) = self.block_counts(model, self.block_bits);
        if pulses <= 0.0 {
            let reason =
                "no sifted Z bits are expected at this loss: the block never fills".to_string();
            return (
                FiniteKeyResult {
                    finite_size: true,
                    rejected: Some(reason),
                    ..Default::default()
                },
                0.0,
            );
        }
        (self.length(&classes, leak, true), pulses)
    }

    /// The key length of the finite-key analysis (or its limit, `finite = false`) on
    /// expected counts, for this setup's source.
    fn length(&self, classes: &[ClassCounts], leak: f64, finite: bool) -> FiniteKeyResult {
        let (eps_sec, eps_cor) = if finite {
            (self.epsilon_sec, self.epsilon_cor)
        } else {
            (0.5, 0.5)
        };
        if self.single_photon {
            single_photon_length(classes, leak, eps_sec, eps_cor, finite)
        } else {
            key_length(classes, leak, eps_sec, eps_cor, finite)
        }
    }

    /// The asymptotic limit of the finite-key analysis with these settings, per pulse
    /// (None when the decoy bounds do not apply).
    fn decoy_limit(&self, model: &LinkModel) -> Option<f64> {
        if self.not_applicable(Method::Finite).is_some() {
            return None;
        }
        let (classes, pulses, leak) = self.block_counts(model, 1.0);
        if pulses <= 0.0 {
            return Some(0.0);
        }
        let r = self.length(&classes, leak, false);
        Some(if r.rejected.is_none() {
            r.key_length_bound.max(0.0) / pulses
        } else {
            0.0
        })
    }

    /// [`Setup::decoy_limit`] before clipping (negative where no key: a slope for the
    /// optimiser).
    fn decoy_limit_raw(&self, model: &LinkModel) -> f64 {
        let (classes, pulses, leak) = self.block_counts(model, 1.0);
        if pulses <= 0.0 {
            return -1.0;
        }
        self.length(&classes, leak, false).key_length_bound / pulses
    }
}

fn signal_index(model: &LinkModel) -> usize {
    (0..model.intensities.len())
        .max_by(|&a, &b| {
            model.intensities[a]
                .mean_photon_number
                .total_cmp(&model.intensities[b].mean_photon_number)
        })
        .unwrap_or(0)
}

/// Smallest and largest signal intensity the optimiser may choose.
const MU_MIN: f64 = 1e-4;
const MU_MAX: f64 = 1.5;
/// Smallest gap the optimiser keeps between mu2 and mu3 and between mu1 and mu2 + mu3:
/// asymptotically the vacuum + weak estimate improves as mu2 -> mu3, but below this gap
/// the difference of the two classes' rates is lost in floating-point rounding (and no
/// modulator resolves it), so the bound would turn into noise.
const DECOY_GAP_MIN: f64 = 1e-3;
/// Range of the basis bias p_Z = q_Z the optimiser may choose.
const BASIS_MIN: f64 = 0.01;
const BASIS_MAX: f64 = 0.995;
/// Smallest probability the asymptotic optimisations give any class: their formulas take
/// the key from the signal alone and so always favour p_signal -> 1 (decoys are free in
/// the infinite-key limit); the floor keeps the decoys in the protocol.
const ASYMPTOTIC_PROBABILITY_FLOOR: f64 = 0.01;

/// Maps unconstrained coordinates onto allowed settings for `method` (see module doc).
/// Coordinates: [mu1, mu2 (decoy methods), one weight per shared class but the last,
/// basis bias].
struct Parameterisation {
    /// The signal class.
    signal: usize,
    /// (weak decoy, vacuum) classes of the decoy-state methods.
    decoy: Option<(usize, usize)>,
    /// Classes whose probabilities the optimiser shares out (the rest keep theirs).
    shared: Vec<usize>,
    /// Their total probability in the scenario.
    mass: f64,
    /// Smallest probability of a shared class.
    floor: f64,
}

impl Parameterisation {
    fn new(setup: &Setup, method: Method) -> Option<Parameterisation> {
        let c = &setup.model.intensities;
        let mus: Vec<f64> = c.iter().map(|c| c.mean_photon_number).collect();
        let (signal, decoy, shared) = match method {
            Method::Gllp | Method::Infinite => {
                let mut shared = vec![setup.signal];
                shared.extend((0..c.len()).filter(|&i| i != setup.signal));
                (setup.signal, None, shared)
            }
            Method::VacuumWeak | Method::Finite | Method::FiniteLimit => {
                let [i1, i2, i3] = select_intensities(&mus).ok()?;
                (i1, Some((i2, i3)), vec![i1, i2, i3])
            }
        };
        let mass: f64 = shared.iter().map(|&i| c[i].probability).sum();
        let floor = if method == Method::Finite {
            0.0
        } else {
            ASYMPTOTIC_PROBABILITY_FLOOR
        };
        let floor = if mass > 2.0 * floor * shared.len() as f64 {
            floor
        } else {
            0.0
        };
        Some(Parameterisation {
            signal,
            decoy,
            shared,
            mass,
            floor,
        })
    }

    fn mu_floor(&self, model: &LinkModel) -> f64 {
        match self.decoy {
            Some((_, i3)) => {
                (2.0 * model.intensities[i3].mean_photon_number + 2.0 * DECOY_GAP_MIN).max(MU_MIN)
            }
            None => MU_MIN,
        }
    }

    fn gap(mu1: f64, mu3: f64) -> f64 {
        DECOY_GAP_MIN.min(0.25 * (mu1 - 2.0 * mu3)).max(0.0)
    }

    /// Applies coordinates `u` to a copy of `model`.
    fn apply(&self, model: &LinkModel, u: &[f64]) -> LinkModel {
        let mut m = model.clone();
        let lo = self.mu_floor(model).ln();
        let mu1 = (lo + (MU_MAX.ln() - lo) * logistic(u[0])).exp();
        set_mu(&mut m.intensities[self.signal], mu1);
        let mut next = 1;
        if let Some((i2, i3)) = self.decoy {
            let mu3 = m.intensities[i3].mean_photon_number;
            let gap = Self::gap(mu1, mu3);
            set_mu(
                &mut m.intensities[i2],
                mu3 + gap + (mu1 - 2.0 * mu3 - 2.0 * gap) * logistic(u[1]),
            );
            next = 2;
        }
        let k = self.shared.len();
        let weights: Vec<f64> = (0..k)
            .map(|j| if j + 1 < k { u[next + j].exp() } else { 1.0 })
            .collect();
        let total: f64 = weights.iter().sum();
        let free = self.mass - self.floor * k as f64;
        for (&i, w) in self.shared.iter().zip(&weights) {
            m.intensities[i].probability = self.floor + free * w / total;
        }
        next += k - 1;
        let basis = BASIS_MIN + (BASIS_MAX - BASIS_MIN) * logistic(u[next]);
        m.alice_z_probability = basis;
        m.bob_z_probability = basis;
        m
    }

    /// Coordinates reproducing `model`'s own settings (clamped into the allowed region).
    fn coordinates_of(&self, model: &LinkModel) -> Vec<f64> {
        let c = &model.intensities;
        let lo = self.mu_floor(model).ln();
        let mu1 = c[self.signal].mean_photon_number.clamp(lo.exp(), MU_MAX);
        let mut u = vec![logit((mu1.ln() - lo) / (MU_MAX.ln() - lo))];
        if let Some((i2, i3)) = self.decoy {
            let mu3 = c[i3].mean_photon_number;
            let gap = Self::gap(mu1, mu3);
            u.push(logit(
                (c[i2].mean_photon_number - mu3 - gap) / (mu1 - 2.0 * mu3 - 2.0 * gap),
            ));
        }
        let excess = |i: usize| (c[i].probability - self.floor).max(1e-9);
        let last = excess(self.shared[self.shared.len() - 1]);
        for &i in &self.shared[..self.shared.len() - 1] {
            u.push((excess(i) / last).ln());
        }
        let basis = model.alice_z_probability.clamp(BASIS_MIN, BASIS_MAX);
        u.push(logit((basis - BASIS_MIN) / (BASIS_MAX - BASIS_MIN)));
        u
    }

    /// `model` with the signal at `mu1`, the decoy at `mu2_fraction * mu1`, the signal at
    /// probability `p1` (decoy and vacuum sharing the rest 60:40) and basis bias `basis`.
    fn start(
        &self,
        model: &LinkModel,
        mu1: f64,
        mu2_fraction: f64,
        p1: f64,
        basis: f64,
    ) -> Vec<f64> {
        let mut m = model.clone();
        set_mu(&mut m.intensities[self.signal], mu1);
        if let Some((i2, i3)) = self.decoy {
            let mu3 = m.intensities[i3].mean_photon_number;
            set_mu(
                &mut m.intensities[i2],
                (mu2_fraction * mu1).max(1.5 * mu3 + DECOY_GAP_MIN),
            );
            m.intensities[self.signal].probability = p1 * self.mass;
            m.intensities[i2].probability = 0.6 * (1.0 - p1) * self.mass;
            m.intensities[i3].probability = 0.4 * (1.0 - p1) * self.mass;
        }
        m.alice_z_probability = basis;
        self.coordinates_of(&m)
    }

    /// A generic start: mu1 0.5, mu2 0.1, p_mu1 0.6, p_Z 0.8.
    fn generic_start(&self, model: &LinkModel) -> Vec<f64> {
        self.start(model, 0.5, 0.2, 0.6, 0.8)
    }

    /// Further starts for the finite key: mu1 in {0.25, 0.6}, mu2 = 0.3 mu1, p_mu1 in
    /// {0.15, 0.5}, p_Z in {0.5, 0.8}.
    fn lattice_starts(&self, model: &LinkModel) -> Vec<Vec<f64>> {
        let mut out = Vec::new();
        for mu1 in [0.25, 0.6] {
            for p1 in [0.15, 0.5] {
                for basis in [0.5, 0.8] {
                    out.push(self.start(model, mu1, 0.3, p1, basis));
                }
            }
        }
        out
    }
}

fn set_mu(class: &mut IntensityClass, mu: f64) {
    class.mean_photon_number = mu;
    class.photons = PhotonStatistics::Poisson { mean: mu };
}

fn settings_of(model: &LinkModel) -> ProtocolSettings {
    ProtocolSettings {
        intensities: model
            .intensities
            .iter()
            .map(|c| IntensitySetting {
                label: c.label.clone(),
                mean_photon_number: c.mean_photon_number,
                probability: c.probability,
            })
            .collect(),
        basis_z_probability_alice: model.alice_z_probability,
        basis_z_probability_bob: model.bob_z_probability,
    }
}

/// One evaluated point: shown rate, optimal coordinates and settings.
struct Point {
    rate: f64,
    coordinates: Option<Vec<f64>>,
    settings: Option<ProtocolSettings>,
}

fn evaluate(setup: &Setup, method: Method, km: f64, optimize: bool, warm: Option<&[f64]>) -> Point {
    let model = setup.at_distance(km);
    let param = if optimize && !setup.single_photon {
        Parameterisation::new(setup, method)
    } else {
        None
    };
    let Some(param) = param else {
        return Point {
            rate: setup.shown_rate(&model, method),
            coordinates: None,
            settings: None,
        };
    };
    let mut starts = vec![param.coordinates_of(&model), param.generic_start(&model)];
    if let Some(w) = warm {
        starts.insert(0, w.to_vec());
    }
    let nm = NelderMead::default();
    let mut best: Option<(Vec<f64>, f64)> = None;
    for start in starts {
        let (u, v) = nm.maximize(&start, |u| setup.rate(&param.apply(&model, u), method));
        if best.as_ref().is_none_or(|(_, bv)| v > *bv) {
            best = Some((u, v));
        }
    }
    // Where the usual starts find no key (small blocks, long fibres), try a small fixed
    // lattice of further starts before concluding that there is none.
    if best.as_ref().is_none_or(|(_, v)| *v <= 0.0)
        && param.decoy.is_some()
        && matches!(method, Method::Finite | Method::FiniteLimit)
    {
        for start in param.lattice_starts(&model) {
            let (u, v) = nm.maximize(&start, |u| setup.rate(&param.apply(&model, u), method));
            if best.as_ref().is_none_or(|(_, bv)| v > *bv) {
                best = Some((u, v));
            }
            if v > 0.0 {
                break;
            }
        }
    }
    let (u, _) = best.unwrap_or_default();
    let optimum = param.apply(&model, &u);
    let rate = setup.shown_rate(&optimum, method);
    Point {
        rate,
        settings: (rate > 0.0).then(|| settings_of(&optimum)),
        coordinates: Some(u),
    }
}

fn protocol_curve(
    setup: &Setup,
    method: Method,
    distances: &[f64],
    optimize: bool,
    stop: Option<&AtomicBool>,
) -> Curve {
    let mut curve = Curve {
        name: method.name().into(),
        distance_km: distances.to_vec(),
        bits_per_pulse: vec![0.0; distances.len()],
        bits_per_second: vec![0.0; distances.len()],
        max_distance_km: None,
        note: None,
        settings: None,
        key_from: key_convention(method.name()).map(str::to_string),
    };
    if let Some(reason) = setup.not_applicable(method) {
        curve.note = Some(reason);
        return curve;
    }
    let mut settings = Vec::with_capacity(distances.len());
    let mut warm: Option<Vec<f64>> = None;
    let mut last_positive: Option<(f64, Option<Vec<f64>>)> = None;
    let mut first_zero: Option<f64> = None;
    for (i, &km) in distances.iter().enumerate() {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            // The caller discards the curve (theory_curves_until returns Cancelled).
            return curve;
        }
        let p = evaluate(setup, method, km, optimize, warm.as_deref());
        curve.bits_per_pulse[i] = p.rate;
        curve.bits_per_second[i] = p.rate * setup.rep_rate_hz;
        settings.push(p.settings);
        if p.rate > 0.0 {
            warm = p.coordinates.clone();
            if first_zero.is_none() {
                last_positive = Some((km, p.coordinates));
            }
        } else if first_zero.is_none() {
            first_zero = Some(km);
        }
    }
    if optimize {
        curve.settings = Some(settings);
    }
    curve.max_distance_km = cutoff(setup, method, optimize, last_positive, first_zero);
    match curve.max_distance_km {
        None => curve.note = Some(format!("the rate stays positive up to {MAX_SEARCH_KM} km")),
        Some(km) if km <= 0.0 => {
            curve.note = Some("no positive rate at any distance, not even at 0 km".into())
        }
        Some(_) => {}
    }
    curve
}

/// The fibre length where the rate first reaches zero: bisection between the last positive
/// and the first zero point (searching beyond the grid when it never reaches zero there,
/// and between 0 km and the first point when the grid starts past the cutoff). 0 when
/// there is no key even back to back.
fn cutoff(
    setup: &Setup,
    method: Method,
    optimize: bool,
    last_positive: Option<(f64, Option<Vec<f64>>)>,
    first_zero: Option<f64>,
) -> Option<f64> {
    let Some((mut lo, mut warm)) = last_positive else {
        // Zero from the first grid point on: the cutoff lies below the grid, between 0 km
        // and that point, unless there is no key even back to back.
        let z = first_zero?;
        let origin = evaluate(setup, method, 0.0, optimize, None);
        if z <= 0.0 || origin.rate <= 0.0 {
            return Some(0.0);
        }
        return Some(bisect(setup, method, optimize, 0.0, z, origin.coordinates));
    };
    let hi = match first_zero {
        Some(z) if z > lo => z,
        Some(_) => return Some(lo),
        None => {
            let mut step = 10.0;
            loop {
                let probe = (lo + step).min(MAX_SEARCH_KM);
                let p = evaluate(setup, method, probe, optimize, warm.as_deref());
                if p.rate <= 0.0 {
                    break probe;
                }
                if probe >= MAX_SEARCH_KM {
                    return None;
                }
                lo = probe;
                warm = p.coordinates.or(warm);
                step *= 2.0;
            }
        }
    };
    Some(bisect(setup, method, optimize, lo, hi, warm))
}

/// Bisection for the zero of the rate between `lo` (positive rate, optimiser warm start
/// `warm`) and `hi` (zero rate), to 1 m.
fn bisect(
    setup: &Setup,
    method: Method,
    optimize: bool,
    mut lo: f64,
    mut hi: f64,
    mut warm: Option<Vec<f64>>,
) -> f64 {
    for _ in 0..40 {
        if hi - lo < 1e-3 {
            break;
        }
        let mid = 0.5 * (lo + hi);
        let p = evaluate(setup, method, mid, optimize, warm.as_deref());
        if p.rate > 0.0 {
            lo = mid;
            warm = p.coordinates.or(warm);
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}
