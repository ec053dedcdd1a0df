//! Parameter estimation and security analysis: decoy-state bounds (asymptotic and
//! finite-key) turning observed counts into a secret key length.
//!
//! Must never depend on `protocol` internals, `postprocess` or `report`; it works on counts.
