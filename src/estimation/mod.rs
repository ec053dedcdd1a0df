//! Parameter estimation and security analysis: decoy-state bounds (asymptotic and
//! finite-key) turning observed counts into a secret key length.
//!
//! Must never depend on `protocol` internals, `postprocess` or `report`; it works on counts.
//! It does no I/O and never prints. The closed-form expectations it evaluates for the
//! theory curves come from `physics` and `analysis::expected` (which depends on `physics`
//! only).
//!
//! Basis convention: this project's key basis is **Z** (sifted Z bits form the key) and X
//! is the test basis that bounds the phase error. Lim, Curty, Walenta, Xu, Zbinden (PRA 89,
//! 022307, 2014) use the opposite names (key basis X, test basis Z); every formula here is
//! theirs with X and Z swapped, and each doc comment says so where it matters.
//!
//! Submodules, in the order data flows through them:
//! - [`entropy`]: the binary entropy h(x);
//! - [`decoy`]: the decoy-state linear bounds on vacuum and single-photon events and on
//!   single-photon errors (Lim et al. 2014, Eqs. 2-4), shared by the finite-key and the
//!   asymptotic analyses;
//! - [`finite`]: key length from observed counts (finite-key, Lim et al. 2014 Eq. 1, its
//!   asymptotic limit, and GLLP without decoys for runs with fewer than three classes), and
//!   the composed epsilon of a run's blocks;
//! - [`asymptotic`]: per-pulse asymptotic key rates of GLLP without decoys, vacuum + weak
//!   decoy (Ma, Qi, Zhao, Lo 2005) and infinite decoy (Lo, Ma, Chen 2005);
//! - [`bounds`]: the repeaterless capacities of the lossy channel (PLOB, TGW);
//! - [`optimize`]: a bounded Nelder-Mead simplex search (derivative-free);
//! - [`theory`]: expected-value curves versus distance for a scenario (`qkdsim theory`).

pub mod assumptions;
pub mod asymptotic;
pub mod bounds;
pub mod decoy;
pub mod entropy;
pub mod finite;
pub mod optimize;
pub mod theory;

pub use asymptotic::{
    AsymptoticInputs, ClassRates, gllp_no_decoy_rate, infinite_decoy_rate, vacuum_weak_decoy_rate,
};
pub use bounds::{plob_bits_per_pulse, tgw_bits_per_pulse};
pub use entropy::binary_entropy;
pub use finite::{
    AsymptoticKeyResult, BasisCounts, FiniteKeyResult, IntensityCounts, PhaseErrorTerm,
    SecurityParameters, SentIntensityCounts, asymptotic_key_length, composed_epsilon,
    finite_key_length, gllp_key_length, single_photon_key_length,
};
pub use theory::{
    Curve, DetectorTheory, KEY_CONVENTION_NOTE, MAX_DISTANCE_STEPS, ProtocolSettings,
    ScenarioRates, TheoryReport, distance_grid, key_convention, scenario_rates,
    scenario_rates_with, theory_curves, theory_curves_until, theory_curves_with,
};
