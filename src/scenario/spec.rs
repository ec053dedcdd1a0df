//! The serde mirror of the scenario file (DESIGN §4). Field names are the file's keys;
//! units are in the names. Defaults live in the `default_*` functions and the `Default`
//! impls, so `qkdsim check` can print them.

use serde::{Deserialize, Serialize};

/// Pulses sent when neither `simulation.pulses` nor `simulation.duration_s` is given.
pub const DEFAULT_PULSES: f64 = 1.0e9;

/// The whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Free text naming the scenario; used in report titles.
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The two ends of the link (free text).
    #[serde(default)]
    pub sites: SitesSpec,
    /// Alice's transmitter.
    #[serde(default)]
    pub source: SourceSpec,
    /// The fibre between the sites. `length_km` has no default.
    pub link: LinkSpec,
    /// Bob's optics and basis choice.
    #[serde(default)]
    pub receiver: ReceiverSpec,
    /// Bob's single-photon detectors (two, identical).
    #[serde(default)]
    pub detector: DetectorSpec,
    /// Classical post-processing and security parameters.
    #[serde(default)]
    pub postprocessing: PostprocessingSpec,
    /// Seed, length and engine of the Monte Carlo run.
    #[serde(default)]
    pub simulation: SimulationSpec,
    /// Polarisation compensation (realignment) policy; absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<CompensationSpec>,
    /// A simulated eavesdropper on the link; absent = none (`attack = "none"` likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversary: Option<AdversarySpec>,
    /// An optional parameter sweep (command-line flags win).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSpec>,
}

/// `[sites]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SitesSpec {
    /// Where Alice (the transmitter) sits.
    #[serde(default = "default_alice")]
    pub alice: String,
    /// Where Bob (the receiver) sits.
    #[serde(default = "default_bob")]
    pub bob: String,
}

fn default_alice() -> String {
    "Alice".into()
}
fn default_bob() -> String {
    "Bob".into()
}

impl Default for SitesSpec {
    fn default() -> Self {
        SitesSpec {
            alice: default_alice(),
            bob: default_bob(),
        }
    }
}

/// `[source]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Pulse (gate) repetition rate in Hz; also the detectors' gate rate.
    #[serde(default = "default_rep_rate")]
    pub rep_rate_hz: f64,
    /// Probability that Alice prepares a pulse in the Z basis (p_Z; efficient BB84).
    #[serde(default = "half")]
    pub basis_z_probability: f64,
    /// An ideal single-photon source instead of phase-randomised weak coherent pulses:
    /// every pulse then carries exactly one photon and `mean_photon_number` is ignored.
    #[serde(default)]
    pub single_photon: bool,
    /// The intensity classes (signal, decoys, vacuum), one `[[source.intensities]]` each.
    #[serde(default = "default_intensities")]
    pub intensities: Vec<IntensitySpec>,
}

fn default_rep_rate() -> f64 {
    1.0e9
}
fn half() -> f64 {
    0.5
}

/// The default three-intensity set (signal, weak decoy, vacuum), in the range that Lim et
/// al. (PRA 89, 022307, 2014) find optimal for metropolitan distances.
pub fn default_intensities() -> Vec<IntensitySpec> {
    vec![
        IntensitySpec {
            label: "signal".into(),
            mean_photon_number: 0.5,
            probability: 0.7,
        },
        IntensitySpec {
            label: "decoy".into(),
            mean_photon_number: 0.1,
            probability: 0.2,
        },
        IntensitySpec {
            label: "vacuum".into(),
            mean_photon_number: 0.0,
            probability: 0.1,
        },
    ]
}

impl Default for SourceSpec {
    fn default() -> Self {
        SourceSpec {
            rep_rate_hz: default_rep_rate(),
            basis_z_probability: half(),
            single_photon: false,
            intensities: default_intensities(),
        }
    }
}

/// One `[[source.intensities]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntensitySpec {
    /// Name used in reports (`signal`, `decoy`, `vacuum`, …).
    pub label: String,
    /// Mean photon number mu_k of the phase-randomised coherent pulse.
    pub mean_photon_number: f64,
    /// Probability p_k that a pulse has this intensity; the p_k sum to 1.
    pub probability: f64,
}

/// `[link]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Fibre length L in km (required).
    pub length_km: f64,
    /// Fibre attenuation alpha in dB/km.
    #[serde(default = "default_attenuation")]
    pub attenuation_db_per_km: f64,
    /// Lumped extra loss (connectors, splices, patch panels, attenuators) in dB.
    #[serde(default)]
    pub extra_loss_db: f64,
    /// e_d: probability that a photon measured in its preparation basis reaches the wrong
    /// detector (polarisation misalignment of the channel).
    #[serde(default = "default_misalignment")]
    pub misalignment: f64,
    /// How `misalignment` acts: `"rotation"` (one SU(2) rotation, the default; biases the
    /// discarded mismatched-basis outcomes) or `"depolarizing"` (each photon's polarisation
    /// is replaced by a random one with probability 2 e_d; mismatched outcomes stay 1/2).
    #[serde(default = "default_misalignment_model")]
    pub misalignment_model: String,
    /// Polarisation drift: variance per second (rad^2/s) of each of the three Gaussian
    /// rotation angles of the channel's random walk on the Poincaré sphere; 0 = static.
    #[serde(default)]
    pub drift_rad2_per_s: f64,
    /// Time step of the drift walk in seconds; within a step the rotation is constant.
    #[serde(default = "default_drift_step")]
    pub drift_step_s: f64,
}

/// Values of `link.misalignment_model`.
pub const MISALIGNMENT_MODELS: &[&str] = &["rotation", "depolarizing"];

fn default_misalignment_model() -> String {
    "rotation".into()
}
fn default_drift_step() -> f64 {
    1.0
}

fn default_attenuation() -> f64 {
    0.2
}
fn default_misalignment() -> f64 {
    0.01
}

/// `[receiver]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSpec {
    /// Transmittance of Bob's optics before the detectors (eta_Bob without the detector).
    #[serde(default = "one")]
    pub transmittance: f64,
    /// Probability q_Z that Bob's active basis choice is Z.
    #[serde(default = "half")]
    pub basis_z_probability: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for ReceiverSpec {
    fn default() -> Self {
        ReceiverSpec {
            transmittance: 1.0,
            basis_z_probability: 0.5,
        }
    }
}

/// `[detector]`: two gated threshold detectors, identical but for `efficiency_mismatch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSpec {
    /// Quantum efficiency eta_D of detector 0 (detector 1 has `efficiency *
    /// efficiency_mismatch`).
    #[serde(default = "default_efficiency")]
    pub efficiency: f64,
    /// Dark-count probability per gate and detector (p_dc; Y0 is about 2 p_dc).
    #[serde(default = "default_dark")]
    pub dark_count_probability: f64,
    /// p_ap: probability that a click leaves a trapped carrier whose release causes one
    /// afterpulse later (the first-order afterpulse probability of Lim et al. 2014).
    #[serde(default)]
    pub afterpulse_probability: f64,
    /// Mean release delay of a trapped carrier, counted from the end of the dead time, in ns
    /// (exponential distribution of the trap lifetime).
    #[serde(default = "default_afterpulse_decay")]
    pub afterpulse_decay_ns: f64,
    /// Dead time in ns. A gate is blind when it starts before the dead time ends: with
    /// x = dead_time_ns * rep_rate_hz * 1e-9 gate periods, the ceil(x) - 1 gates after a
    /// click are blind (`units::dead_time_gates`).
    #[serde(default)]
    pub dead_time_ns: f64,
    /// Which detectors a click blinds: `"common"` (a click of either detector, dark counts
    /// and afterpulses included, blinds both for the dead time; the countermeasure to the
    /// dead-time attack of Weier et al., New J. Phys. 13, 073024, 2011, and what the
    /// security proof covers) or `"independent"` (only the detector that clicked).
    #[serde(default = "default_dead_time_mode")]
    pub dead_time_mode: String,
    /// Efficiency of detector 1 relative to detector 0's, in (0, 1]: a photon reaching
    /// detector 1 is detected with probability `efficiency * efficiency_mismatch`.
    #[serde(default = "one")]
    pub efficiency_mismatch: f64,
}

/// Names accepted by `detector.dead_time_mode`.
pub const DEAD_TIME_MODES: &[&str] = &["common", "independent"];

fn default_dead_time_mode() -> String {
    "common".into()
}

fn default_efficiency() -> f64 {
    0.1
}
fn default_dark() -> f64 {
    1.0e-6
}
fn default_afterpulse_decay() -> f64 {
    100.0
}

impl Default for DetectorSpec {
    fn default() -> Self {
        DetectorSpec {
            efficiency: default_efficiency(),
            dark_count_probability: default_dark(),
            afterpulse_probability: 0.0,
            afterpulse_decay_ns: default_afterpulse_decay(),
            dead_time_ns: 0.0,
            dead_time_mode: default_dead_time_mode(),
            efficiency_mismatch: one(),
        }
    }
}

/// `[postprocessing]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostprocessingSpec {
    /// Sifted Z bits per post-processing block (n_X of Lim et al.).
    #[serde(default = "default_block_bits")]
    pub block_bits: u64,
    /// Reconciliation method; only `"cascade"` exists.
    #[serde(default = "default_reconciliation")]
    pub reconciliation: String,
    /// Cascade variant: `original`, `biconf`, `yanetal`, `option7`, `option8`.
    #[serde(default = "default_cascade_variant")]
    pub cascade_variant: String,
    /// Secrecy parameter epsilon_sec.
    #[serde(default = "default_eps_sec")]
    pub epsilon_sec: f64,
    /// Correctness parameter epsilon_cor (sets the verification tag length).
    #[serde(default = "default_eps_cor")]
    pub epsilon_cor: f64,
    /// A block whose estimated QBER exceeds this is aborted.
    #[serde(default = "default_qber_abort")]
    pub qber_abort: f64,
    /// Error-correction inefficiency f_EC assumed by the theory curves only.
    #[serde(default = "default_f_ec")]
    pub f_ec: f64,
    /// Fixed cost of one classical round trip besides the fibre's propagation delay
    /// (network stack, authentication), in microseconds.
    #[serde(default = "default_message_overhead")]
    pub message_overhead_us: f64,
}

fn default_block_bits() -> u64 {
    1_000_000
}
fn default_reconciliation() -> String {
    "cascade".into()
}
fn default_cascade_variant() -> String {
    "yanetal".into()
}
fn default_eps_sec() -> f64 {
    1.0e-9
}
fn default_eps_cor() -> f64 {
    1.0e-15
}
fn default_qber_abort() -> f64 {
    0.11
}
fn default_f_ec() -> f64 {
    1.16
}
fn default_message_overhead() -> f64 {
    50.0
}

impl Default for PostprocessingSpec {
    fn default() -> Self {
        PostprocessingSpec {
            block_bits: default_block_bits(),
            reconciliation: default_reconciliation(),
            cascade_variant: default_cascade_variant(),
            epsilon_sec: default_eps_sec(),
            epsilon_cor: default_eps_cor(),
            qber_abort: default_qber_abort(),
            f_ec: default_f_ec(),
            message_overhead_us: default_message_overhead(),
        }
    }
}

/// `[simulation]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSpec {
    /// Seed of every random stream of the run.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Number of pulses to send (a float so that `1.0e10` can be written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulses: Option<f64>,
    /// Link time to simulate in seconds (alternative to `pulses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Engine: `"pulse"` (reference), `"event"`, `"auto"`.
    #[serde(default = "default_engine")]
    pub engine: String,
    /// Length in seconds of the windows of the run's time series (link time); none = no
    /// time series. The threshold compensation policy judges each window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
}

fn default_seed() -> u64 {
    1
}
fn default_engine() -> String {
    "auto".into()
}

impl Default for SimulationSpec {
    fn default() -> Self {
        SimulationSpec {
            seed: default_seed(),
            pulses: None,
            duration_s: None,
            engine: default_engine(),
            window_s: None,
        }
    }
}

/// `[compensation]`: when and how the receiver realigns the polarisation reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompensationSpec {
    /// `"none"`, `"periodic"` (every `interval_s` of link time) or `"threshold"` (after a
    /// window whose public test-basis QBER exceeds `qber_threshold`).
    #[serde(default = "default_policy")]
    pub policy: String,
    /// Period of the periodic policy in seconds (realignments start at its multiples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// QBER of the window's X-basis (test) bits above which the threshold policy realigns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qber_threshold: Option<f64>,
    /// Seconds one realignment takes; the link sends no pulses and makes no key meanwhile.
    #[serde(default)]
    pub realign_s: f64,
    /// e_d left after a realignment; defaults to `link.misalignment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual_misalignment: Option<f64>,
}

/// `[adversary]`: the attack Eve mounts on the quantum channel (`physics::adversary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdversarySpec {
    /// `"none"`, `"intercept_resend"`, `"pns"` (photon-number splitting) or
    /// `"beam_splitting"`.
    #[serde(default = "default_attack")]
    pub attack: String,
    /// Share of pulses Eve attacks, each pulse independently, in [0, 1] (default 1).
    #[serde(default = "default_fraction")]
    pub fraction: f64,
}

/// Values of `adversary.attack`.
pub const ATTACKS: &[&str] = &["none", "intercept_resend", "pns", "beam_splitting"];

fn default_attack() -> String {
    "none".into()
}
fn default_fraction() -> f64 {
    1.0
}

/// Values of `compensation.policy`.
pub const COMPENSATION_POLICIES: &[&str] = &["none", "periodic", "threshold"];

fn default_policy() -> String {
    "none".into()
}

/// `[sweep]`: same fields as the `sweep` command's flags. The `*2` fields add a second
/// axis (a two-dimensional sweep: one run per grid point); they are absent from a 1-D sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Dotted scenario key, e.g. `link.length_km`.
    pub param: String,
    /// First value (with `to` and `steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<f64>,
    /// Last value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<f64>,
    /// Number of points from `from` to `to`, both included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Explicit values instead of `from`/`to`/`steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// Logarithmic spacing between `from` and `to`.
    #[serde(default)]
    pub log: bool,
    /// Dotted scenario key of the second axis (a two-dimensional sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param2: Option<String>,
    /// First value of the second axis (with `to2` and `steps2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from2: Option<f64>,
    /// Last value of the second axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to2: Option<f64>,
    /// Number of points of the second axis from `from2` to `to2`, both included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps2: Option<u64>,
    /// Explicit values of the second axis instead of `from2`/`to2`/`steps2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values2: Option<Vec<f64>>,
    /// Logarithmic spacing of the second axis.
    #[serde(default, skip_serializing_if = "is_false")]
    pub log2: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl SweepSpec {
    /// Whether any field of the second axis is given (a two-dimensional sweep, or a
    /// second axis that validation will reject as incomplete).
    pub fn has_axis2(&self) -> bool {
        self.param2.is_some()
            || self.from2.is_some()
            || self.to2.is_some()
            || self.steps2.is_some()
            || self.values2.is_some()
            || self.log2
    }

    /// The second axis as a one-axis specification (`param2` as `param`, `from2` as
    /// `from`, …), so that it is checked and expanded by the same code as the first; `None`
    /// when no field of the second axis is given. A missing `param2` becomes an empty key.
    pub fn axis2(&self) -> Option<SweepSpec> {
        self.has_axis2().then(|| SweepSpec {
            param: self.param2.clone().unwrap_or_default(),
            from: self.from2,
            to: self.to2,
            steps: self.steps2,
            values: self.values2.clone(),
            log: self.log2,
            ..SweepSpec::default()
        })
    }
}
