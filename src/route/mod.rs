//! Routes through trusted nodes (DESIGN §6): a layer above `analysis`, below `report`.
//!
//! A route file names nodes, spans between them (each span a scenario: the route's base
//! equipment with the span's overrides and its length), the users' key demands and the
//! simulated duration. Every span runs the whole link pipeline of `analysis::run` for
//! `duration_s` of link time, seeded by (route seed, span index), spans in parallel
//! ([`simulate`]). Their final keys, block by block at the time each block's key exists,
//! fill per-span key stores; demands draw from them by one-time-pad relay through the
//! trusted nodes of their paths, with the real bits, and both ends' keys are compared bit
//! for bit ([`relay`]). The deliverable rate over several paths is a maximum flow over the
//! spans' net key rates, and the spans of a minimum cut are the bottleneck ([`graph`]).
//! [`plan`] chooses trusted-node sites along a corridor from the finite-key theory.
//!
//! Submodules: [`spec`] (the route file: strict key-by-key checks, key paths in every message, the base
//! scenario merged with span overrides), [`graph`] (paths through trusted nodes, maximum
//! flow, minimum cut; petgraph), [`simulate`] (span runs, the [`RouteReport`]),
//! [`relay`] (key stores over time, one-time-pad relay, authentication cost, outages),
//! [`plan`] (node placement).
//!
//! Nothing in the link pipeline knows about routes. Must never depend on `report`, clap or
//! the file system: the caller reads the route file and its base scenario and passes the
//! text in.

pub mod graph;
pub mod plan;
pub mod relay;
pub mod simulate;
pub mod spec;

use crate::estimation::assumptions::SecurityWarning;
use crate::scenario::Scenario;
use serde::Serialize;

pub use simulate::{RouteOptions, simulate_route};

/// A node of the route: a site where QKD equipment stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Unique name.
    pub name: String,
    /// Latitude in degrees (for the route chart), if given.
    pub lat: Option<f64>,
    /// Longitude in degrees, if given.
    pub lon: Option<f64>,
    /// A trusted node may relay keys; an untrusted one can only be a demand's endpoint.
    pub trusted: bool,
}

/// A span: one QKD link between two nodes, Alice at `from`, Bob at `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Position in the route file's `[[spans]]`, from 0 (also the seed index).
    pub index: usize,
    /// Index of the node where Alice (the transmitter) stands.
    pub from: usize,
    /// Index of the node where Bob (the receiver) stands.
    pub to: usize,
    /// Fibre length (equal to `scenario.spec.link.length_km`).
    pub length_km: f64,
    /// The validated scenario of this span: base, overrides, length and the route's
    /// duration. Its `simulation.seed` is not used: span seeds come from the route seed.
    pub scenario: Scenario,
}

/// Users at `from` and `to` consuming key at `rate_bps`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Demand {
    /// Position in `[[demands]]`, from 0.
    pub index: usize,
    /// Node index of one end (the end whose copy of the key is the reference).
    pub from: usize,
    /// Node index of the other end.
    pub to: usize,
    /// Key consumed, bits per second.
    pub rate_bps: f64,
}

/// How relay and authentication spend key (route file `[relay]`, documented in
/// [`relay`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RelayParams {
    /// Bits delivered per relay request: a demand asks for `chunk_bits` every
    /// `chunk_bits / rate_bps` seconds (default 256, one AES-256 key).
    pub chunk_bits: u64,
    /// Length of one Wegman-Carter authentication tag; each tag spends this many fresh key
    /// bits of the span that carries the message (default 64).
    pub auth_tag_bits: u64,
    /// How a span authenticates its own post-processing messages (default `per_block`;
    /// see `simulate`).
    pub link_auth: LinkAuth,
}

/// How a span authenticates its post-processing transcript (route file
/// `relay.link_auth`; the costs are derived in `route::simulate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAuth {
    /// One tag per party per block over the whole transcript (delayed authentication).
    PerBlock,
    /// One tag per message, two messages per classical round trip.
    PerMessage,
}

impl LinkAuth {
    /// The names accepted in route files.
    pub const NAMES: [&'static str; 2] = ["per_block", "per_message"];

    /// Tags a block with `round_trips` classical round trips spends.
    pub fn messages(self, round_trips: u64) -> u64 {
        match self {
            LinkAuth::PerBlock => 2,
            LinkAuth::PerMessage => 2 * round_trips,
        }
    }

    /// Parses a route file value.
    pub fn parse(name: &str) -> Option<LinkAuth> {
        match name {
            "per_block" => Some(LinkAuth::PerBlock),
            "per_message" => Some(LinkAuth::PerMessage),
            _ => None,
        }
    }
}

impl Default for RelayParams {
    fn default() -> RelayParams {
        RelayParams {
            chunk_bits: 256,
            auth_tag_bits: 64,
            link_auth: LinkAuth::PerBlock,
        }
    }
}

/// A validated route. Build it with [`spec::parse_route`].
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Route name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Nodes, in file order.
    pub nodes: Vec<Node>,
    /// Spans, in file order.
    pub spans: Vec<Span>,
    /// Demands, in file order.
    pub demands: Vec<Demand>,
    /// Link time every span simulates, seconds.
    pub duration_s: f64,
    /// Route seed; span `i` runs with `rng::derive_seed(seed, Purpose::RouteSpan, i)`.
    pub seed: u64,
    /// Relay and authentication parameters.
    pub relay: RelayParams,
}

impl Route {
    /// `"from – to"` with node names, for span `i`.
    pub fn span_label(&self, i: usize) -> String {
        let s = &self.spans[i];
        format!("{} – {}", self.nodes[s.from].name, self.nodes[s.to].name)
    }
}

/// One span's results (DESIGN §7 route `spans`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanReport {
    /// Span index.
    pub index: usize,
    /// Node name at Alice's end.
    pub from: String,
    /// Node name at Bob's end.
    pub to: String,
    /// Fibre length.
    pub length_km: f64,
    /// Fibre plus extra loss, dB.
    pub loss_db: f64,
    /// Seed the span ran with.
    pub seed: u64,
    /// Engine used.
    pub engine: String,
    /// Pulses sent.
    pub pulses_sent: u64,
    /// Sifted Z bits.
    pub sifted_bits_z: u64,
    /// QBER of the sifted Z bits; null without bits.
    pub qber_z: Option<f64>,
    /// QBER of the sifted X bits; null without bits.
    pub qber_x: Option<f64>,
    /// Post-processing blocks.
    pub blocks: u64,
    /// Blocks without key.
    pub aborted_blocks: u64,
    /// Final key bits the span produced over the duration.
    pub secret_bits: u64,
    /// secret_bits / duration.
    pub secret_key_rate_bps: f64,
    /// Key left for relay per second: (arrived bits + pre-shared authentication bits -
    /// link authentication bits) / duration, where arrived bits exclude blocks finishing
    /// after the duration.
    pub net_key_rate_bps: f64,
    /// Finite-key theory at the span's block size (bits per second), beside the simulation.
    pub theory_secret_key_rate_bps: f64,
    /// Mean modelled latency from a block's last pulse to its final key, seconds.
    pub mean_latency_s: f64,
    /// Link time when the span's first final key existed; null if it made none.
    pub first_key_s: Option<f64>,
    /// Every block's final keys matched.
    pub final_keys_match: bool,
    /// Why the span produced no key, if it produced none.
    pub aborted: Option<String>,
    /// Final key bits that entered the store (blocks finished within the duration).
    pub arrived_bits: u64,
    /// Key bits spent authenticating the span's post-processing messages.
    pub link_auth_bits: u64,
    /// The part of `link_auth_bits` that found the store empty and came from the
    /// pre-shared key (the bootstrap every QKD link needs before its first block).
    pub preshared_auth_bits: u64,
    /// Key bits spent as one-time pads of relayed key.
    pub relay_bits: u64,
    /// Key bits spent authenticating relay messages carried on this span.
    pub relay_auth_bits: u64,
    /// Key bits whose block finished after the simulated duration (not in the store).
    pub late_bits: u64,
    /// Bits left in the store at the end.
    pub store_final_bits: u64,
    /// Largest store level reached.
    pub store_max_bits: u64,
    /// The span is in the minimum cut of some demand (a bottleneck).
    pub bottleneck: bool,
    /// The span scenario's departures from the proof's assumptions.
    pub security_warnings: Vec<SecurityWarning>,
    /// Composed epsilon of the span's keys.
    pub epsilon_total: f64,
}

/// One demand's results (DESIGN §7 route `demands`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemandReport {
    /// Demand index.
    pub index: usize,
    /// Node name of the reference end.
    pub from: String,
    /// Node name of the other end.
    pub to: String,
    /// Requested key rate, bits per second.
    pub rate_bps: f64,
    /// The shortest path through trusted nodes (node names), the one tried first.
    pub path: Vec<String>,
    /// Every path used for relay, in the order tried (node names).
    pub paths: Vec<Vec<String>>,
    /// Deliverable end-to-end key rate: the maximum flow over the spans' relay capacities
    /// (net key rate over one plus the relay tag overhead per bit), bits per second.
    pub secret_key_rate_bps: f64,
    /// Bits requested over the duration.
    pub requested_bits: u64,
    /// Bits delivered to both ends.
    pub delivered_bits: u64,
    /// delivered_bits / duration.
    pub delivered_rate_bps: f64,
    /// The key recovered at `to` equals the key at `from`, bit for bit, for every chunk.
    pub keys_match: bool,
    /// Span indices of a minimum cut (the bottleneck of the maximum flow).
    pub min_cut: Vec<usize>,
    /// Link time of the first delivered chunk; null if none was delivered.
    pub time_to_first_key_s: Option<f64>,
    /// Time during which a requested chunk was due and not yet delivered, seconds.
    pub outage_s: f64,
    /// 1 - outage_s / duration.
    pub availability: f64,
    /// Longest single outage, seconds.
    pub longest_outage_s: f64,
    /// The largest backlog of requested, undelivered bits: a store pre-filled with this
    /// many bits on every hop would have covered the worst outage.
    pub store_bits_to_cover_worst_outage: u64,
    /// Key bits spent as one-time pads over all hops (hops × delivered bits).
    pub relay_bits: u64,
    /// Key bits spent authenticating relay messages.
    pub relay_auth_bits: u64,
    /// Sum of the composed epsilons of every span on the demand's paths (one-time-pad
    /// relay adds nothing; the security of relayed key composes additively).
    pub epsilon_total: f64,
}

/// Key store level of one span over time (for the store chart and `stores.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreSeries {
    /// Span index.
    pub span: usize,
    /// Link times, seconds (at most a few thousand points, every change kept up to that).
    pub time_s: Vec<f64>,
    /// Bits in the store just after each time.
    pub bits: Vec<u64>,
}

/// Host seconds (wall clock; the only machine-dependent part of a route report).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteTimings {
    /// All span simulations (in parallel).
    pub spans_s: f64,
    /// Each span's own run, seconds.
    pub per_span_s: Vec<f64>,
    /// Relay and store bookkeeping.
    pub relay_s: f64,
    /// Whole route.
    pub total_s: f64,
}

/// The record of one `qkdsim route` (DESIGN §7 route JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteReport {
    /// Route name.
    pub route: String,
    /// Free text.
    pub description: String,
    /// Route seed.
    pub seed: u64,
    /// Simulated link time, seconds.
    pub duration_s: f64,
    /// Relay parameters.
    pub relay: RelayParams,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Per span.
    pub spans: Vec<SpanReport>,
    /// Per demand.
    pub demands: Vec<DemandReport>,
    /// Store levels per span.
    pub stores: Vec<StoreSeries>,
    /// Security warnings of any span, each message prefixed with the span.
    pub security_warnings: Vec<SecurityWarning>,
    /// Wall-clock seconds.
    pub timings: RouteTimings,
}
