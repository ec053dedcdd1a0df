//! Physics of the link: the source's photon statistics, fibre loss, the polarisation
//! channel and Bob's detectors, as numbers derived from a validated scenario.
//!
//! Must never depend on `protocol`, `estimation`, `postprocess` or anything about bases as
//! key material, sifting or keys: it only says what happens to light.
