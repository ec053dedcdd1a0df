//! Key stores over time and one-time-pad relay through trusted nodes, with the real bits.
//!
//! (Interface fixed; implementation in progress.)
//!
//! Must never depend on `report`, `simulate`, clap or the file system: it sees key blocks,
//! paths and parameters only.

use super::{Demand, RelayParams, StoreSeries};
use crate::bits::BitVec;

/// One block of final key of one span, as it enters the span's store.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBlock {
    /// Span index.
    pub span: usize,
    /// Block index within the span.
    pub index: u64,
    /// Link time at which the block's final key exists (last pulse plus modelled latency).
    pub arrival_s: f64,
    /// Final key held at the span's `from` node (Alice); empty for a block without key.
    pub alice: BitVec,
    /// Final key held at the span's `to` node (Bob).
    pub bob: BitVec,
    /// Key bits spent authenticating this block's classical messages (paid on arrival).
    pub auth_bits: u64,
}

/// One hop of a path: a span, traversed from its `from` node to its `to` node (`forward`)
/// or the other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// Span index.
    pub span: usize,
    /// True when the path goes from the span's `from` (Alice) to its `to` (Bob).
    pub forward: bool,
}

/// A path from a demand's `from` node to its `to` node through trusted nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Node indices, from the demand's `from` to its `to`.
    pub nodes: Vec<usize>,
    /// The hops between consecutive nodes (`nodes.len() - 1` of them).
    pub hops: Vec<Hop>,
}

/// What happened in one span's store.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanStore {
    /// Final key bits that arrived within the duration.
    pub arrived_bits: u64,
    /// Final key bits of blocks that finished after the duration (never stored).
    pub late_bits: u64,
    /// Bits spent authenticating the span's own post-processing messages.
    pub link_auth_bits: u64,
    /// Bits spent as one-time pads of relayed key.
    pub relay_bits: u64,
    /// Bits spent authenticating relay messages on this span.
    pub relay_auth_bits: u64,
    /// Authentication bits that found the store empty and came from the pre-shared key.
    pub preshared_bits: u64,
    /// Bits left at the end.
    pub final_bits: u64,
    /// Largest level reached.
    pub max_bits: u64,
    /// Level over time.
    pub series: StoreSeries,
}

/// What one demand received.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandOutcome {
    /// Bits requested over the duration.
    pub requested_bits: u64,
    /// Bits delivered.
    pub delivered_bits: u64,
    /// Both ends' keys identical for every delivered chunk.
    pub keys_match: bool,
    /// Link time of the first delivered chunk.
    pub time_to_first_key_s: Option<f64>,
    /// Total time with a due, undelivered chunk.
    pub outage_s: f64,
    /// Longest such stretch.
    pub longest_outage_s: f64,
    /// Largest backlog of due, undelivered bits.
    pub store_bits_to_cover_worst_outage: u64,
    /// One-time-pad bits spent over all hops.
    pub relay_bits: u64,
    /// Authentication bits spent on relay messages.
    pub relay_auth_bits: u64,
    /// Chunks delivered over each path, in the order of the paths given.
    pub chunks_per_path: Vec<u64>,
    /// The delivered key at the `from` end and as recovered at the `to` end, when asked for.
    pub keys: Option<(BitVec, BitVec)>,
}

/// Stores and demands after the whole duration.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayOutcome {
    /// Per span, in span order.
    pub spans: Vec<SpanStore>,
    /// Per demand, in demand order.
    pub demands: Vec<DemandOutcome>,
}

/// Runs the stores and the relay over `[0, duration_s]`.
///
/// `paths[d]` are the paths of demand `d` in the order they are tried; `blocks` in any
/// order. With `keep_keys`, every demand's delivered keys are returned.
pub fn relay(
    spans: usize,
    demands: &[Demand],
    paths: &[Vec<Path>],
    blocks: Vec<KeyBlock>,
    duration_s: f64,
    params: RelayParams,
    keep_keys: bool,
) -> RelayOutcome {
    let _ = (demands, paths, blocks, duration_s, params, keep_keys);
    RelayOutcome {
        spans: (0..spans)
            .map(|span| SpanStore {
                arrived_bits: 0,
                late_bits: 0,
                link_auth_bits: 0,
                relay_bits: 0,
                relay_auth_bits: 0,
                preshared_bits: 0,
                final_bits: 0,
                max_bits: 0,
                series: StoreSeries {
                    span,
                    time_s: Vec::new(),
                    bits: Vec::new(),
                },
            })
            .collect(),
        demands: Vec::new(),
    }
}
