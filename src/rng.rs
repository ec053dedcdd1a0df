//! Deterministic random streams. Every random number in the library comes from a ChaCha8
//! stream derived from (seed, purpose, index): work is cut into numbered pieces (engine
//! chunks, post-processing blocks, sweep points), and each piece owns its own stream, so
//! results do not depend on how many threads run the pieces or in what order.
//!
//! There is no global or thread-local generator anywhere in the library. Must never
//! depend on any other module of the crate.

use rand::SeedableRng;
pub use rand::rngs::ChaCha8Rng;

/// What a stream is used for; keeps the streams of different stages disjoint even when
/// their indices coincide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Pulse-engine chunk `index`.
    EngineChunk = 1,
    /// Reconciliation (Cascade shuffles) of block `index`.
    Reconciliation = 2,
    /// Verification hash of block `index`.
    Verification = 3,
    /// Privacy-amplification seed of block `index`.
    PrivacyAmplification = 4,
    /// Sweep point `index` (its run seed).
    SweepPoint = 5,
    /// Anything a test or tool needs (e.g. `qkdsim reconcile` keys).
    Auxiliary = 6,
    /// Span `index` of a route (its run seed).
    RouteSpan = 7,
    /// The polarisation drift walk of a run (one stream, index 0).
    Drift = 8,
    /// The engine seed of the run segment that starts at pulse `index` (segments after
    /// the first, when drift or realignment cut the run; see `analysis::timeline`).
    EngineSegment = 9,
    /// Eve: chunk `index` of the attacked pulse engine; `2^62 + index` the beam-splitting
    /// tap on the event engine's chunk `index`; `2^63 + index` the hypothetical
    /// privacy amplification of block `index` under the naive bound.
    Adversary = 10,
    /// Event-engine chunk `2^63 + index` whose carried detector state was blind at its
    /// start: the split of its click-free pulses, or its fresh simulation from that state
    /// (`protocol::event`, `EventEngine::resume_chunk`).
    EngineCarry = 11,
}

/// The ChaCha8 stream for (`seed`, `purpose`, `index`).
///
/// The 64-bit seed is expanded by SplitMix-style mixing with the purpose into the 256-bit
/// ChaCha key, and `index` selects the 64-bit stream (nonce), so up to 2^64 independent
/// streams per purpose exist for one seed.
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> ChaCha8Rng {
    let key_seed = seed ^ (purpose as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = ChaCha8Rng::seed_from_u64(key_seed);
    rng.set_stream(index);
    rng
}

/// A derived 64-bit seed for (`seed`, `purpose`, `index`), e.g. the run seed of a sweep point.
pub fn derive_seed(seed: u64, purpose: Purpose, index: u64) -> u64 {
    use rand::Rng;
    stream(seed, purpose, index).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, Purpose::EngineChunk, 3), |r, _: u64| {
                Some(r.next_u64())
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, Purpose::EngineChunk, 3), |r, _: u64| {
                Some(r.next_u64())
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(stream(7, Purpose::EngineChunk, 4).next_u64(), a[0]);
        assert_ne!(stream(7, Purpose::Reconciliation, 3).next_u64(), a[0]);
        assert_ne!(stream(8, Purpose::EngineChunk, 3).next_u64(), a[0]);
    }
}
