//! The BB84 protocol as it runs on the link: the Monte Carlo pulse engine that produces
//! detection records, and sifting into bit-packed blocks.
//!
//! Must never depend on `estimation`, `postprocess`, `analysis` or `report`.
