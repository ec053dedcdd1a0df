//! Running every span of a route and assembling the [`RouteReport`].
//!
//! Every span runs the whole link pipeline (`analysis::run`: engine, sifting, estimation,
//! Cascade, verification, finite-key length, privacy amplification, keys compared) for the
//! route's duration, with the run seed `rng::derive_seed(route seed, Purpose::RouteSpan,
//! span index)`; spans run in parallel on the rayon pool, and each run is itself identical
//! for any thread count, so the report is too (outside `timings`).
//!
//! Each block's final key enters its span's store at `end_time_s + latency_s` (the block's
//! last pulse plus the modelled latency of `analysis::pipeline`). Authentication of the
//! span's own post-processing (`relay.link_auth`):
//! - `per_block` (default): each party authenticates its whole transcript of the block
//!   (sifting, Cascade, verification, PA seed) with one Wegman–Carter tag at the end, before
//!   the key is used — two tags per block, `2 × auth_tag_bits` bits. A polynomial-hash tag
//!   of t bits over a transcript of L t-bit words forges with probability at most L / 2^t
//!   (Wegman & Carter, J. Comput. Syst. Sci. 22, 265, 1981; delayed authentication of the
//!   post-processing as in Fung, Ma & Chau, PRA 81, 012318, 2010, and Kiktenko et al.,
//!   IEEE Trans. Inf. Theory 66, 2020): with 64-bit tags and transcripts of a few Mbit, below
//!   1e-13 per tag.
//! - `per_message`: every message carries its own tag: each classical round trip of the
//!   block (sifting, every round trip on Cascade's critical path, verification, PA seed) is
//!   two messages, so `2 × classical_round_trips × auth_tag_bits` bits. Cascade's hundreds
//!   of round trips per block make this cost more than small blocks produce.
//!
//! The cost is paid from the store when the block's key arrives (see `relay`).
//!
//! The deliverable end-to-end rate of a demand is the maximum flow ([`graph::max_flow`])
//! over span capacities in bits over the duration: a span's net key (arrived, plus the
//! pre-shared key that paid authentication when the store was empty, less that
//! authentication) times c / (c + t) (c = `chunk_bits`, t = `auth_tag_bits`), since a
//! relayed chunk spends c bits on its first hop and c + t on every further hop (the relay
//! message's tag). Paths are simple, so a span touching the demand's source can only be a
//! first hop and keeps its whole net key, and any other span can only be a later hop:
//! the capacities are exact per demand. Demands are flowed one at a time (each as if
//! alone); the simulated relay shares the stores between them.
//!
//! Must never depend on `report`, clap or the file system.

use super::graph::{self, Topology};
use super::relay::{self, KeyBlock, Path};
use super::{DemandReport, Route, RouteReport, RouteTimings, SpanReport};
use crate::analysis::run::{RunOptions, RunOutput, run};
use crate::bits::BitVec;
use crate::estimation::assumptions::SecurityWarning;
use crate::estimation::scenario_rates;
use crate::physics::channel::Channel;
use crate::rng::{Purpose, derive_seed};
use crate::scenario::{duration_pulses, fmt_num};
use rayon::prelude::*;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// At most this many paths per demand are tried for relay (shortest first).
pub const MAX_PATHS_PER_DEMAND: usize = 16;

/// Largest expected memory for the spans' final keys (both ends' copies are held until
/// the relay runs), bytes: 4 GiB. A longer route run is refused before it starts rather
/// than aborted by the allocator hours in.
pub const MAX_KEY_MEMORY_BYTES: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;

/// Expected bytes of final key the spans hold over `duration_s`: the finite-key theory
/// rate of every span, two copies, one bit each.
pub fn expected_key_memory_bytes(route: &Route, duration_s: f64) -> f64 {
    route
        .spans
        .iter()
        .map(|s| {
            let rate = scenario_rates(&s.scenario).secret_bits_per_pulse_finite
                * s.scenario.spec.source.rep_rate_hz;
            2.0 * rate * duration_s / 8.0
        })
        .sum()
}

/// Overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct RouteOptions {
    /// Link time instead of the route's `simulation.duration_s`.
    pub duration_s: Option<f64>,
    /// Seed instead of the route's `simulation.seed`.
    pub seed: Option<u64>,
    /// Keep the delivered end-to-end keys (tests).
    pub keep_keys: bool,
    /// Cancellation flag handed to every span's run (`RunOptions::cancel`): once set,
    /// [`simulate_route`] returns [`crate::Error::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

/// A route's report and, if asked for, every demand's delivered keys: (the key at the
/// demand's `from` end, the key recovered at its `to` end).
#[derive(Debug, Clone)]
pub struct RouteOutput {
    /// The record.
    pub report: RouteReport,
    /// Per demand, when `RouteOptions::keep_keys` was set.
    pub keys: Option<Vec<(BitVec, BitVec)>>,
}

/// The pulses every span sends in `duration_s`, or an error naming the duration, the span
/// and what is allowed.
pub fn span_pulses(route: &Route, duration_s: f64) -> crate::Result<Vec<u64>> {
    route
        .spans
        .iter()
        .map(|span| {
            let rep = span.scenario.spec.source.rep_rate_hz;
            duration_pulses(duration_s, rep)
                .map(|p| p.max(1))
                .map_err(|why| {
                    crate::Error::InvalidArgument(format!(
                        "duration {} s for span {} ({}, {} Hz): {why}",
                        fmt_num(duration_s),
                        span.index,
                        route.span_label(span.index),
                        fmt_num(rep)
                    ))
                })
        })
        .collect()
}

/// Simulates every span in parallel, relays the keys and reports. `progress(span,
/// pulses_done)` is called from worker threads as spans advance.
pub fn simulate_route(
    route: &Route,
    options: &RouteOptions,
    progress: &(dyn Fn(usize, u64) + Sync),
) -> crate::Result<RouteOutput> {
    let started = Instant::now();
    let duration_s = options.duration_s.unwrap_or(route.duration_s);
    let seed = options.seed.unwrap_or(route.seed);
    let pulses = span_pulses(route, duration_s)?;
    let memory = expected_key_memory_bytes(route, duration_s);
    if memory > MAX_KEY_MEMORY_BYTES {
        return Err(crate::Error::InvalidArgument(format!(
            "duration {} s: the spans would make about {:.1} GiB of final key (both ends' \
             copies, held until the relay runs), more than the {:.0} GiB allowed; at most \
             about {} s fits",
            fmt_num(duration_s),
            memory / 1024f64.powi(3),
            MAX_KEY_MEMORY_BYTES / 1024f64.powi(3),
            fmt_num((duration_s * MAX_KEY_MEMORY_BYTES / memory).floor())
        )));
    }
    let params = route.relay;

    let runs: Vec<crate::Result<(RunOutput, f64)>> = route
        .spans
        .par_iter()
        .map(|span| {
            let t = Instant::now();
            let opts = RunOptions {
                seed: Some(derive_seed(seed, Purpose::RouteSpan, span.index as u64)),
                pulses: Some(pulses[span.index]),
                keep_block_keys: true,
                cancel: options.cancel.clone(),
                ..RunOptions::default()
            };
            let out = run(&span.scenario, &opts, &|p| progress(span.index, p))?;
            Ok((out, t.elapsed().as_secs_f64()))
        })
        .collect();
    let mut outputs = Vec::with_capacity(runs.len());
    for r in runs {
        outputs.push(r?);
    }
    let spans_s = started.elapsed().as_secs_f64();

    // Key blocks, with their arrival times and authentication cost.
    let relay_started = Instant::now();
    let mut blocks: Vec<KeyBlock> = Vec::new();
    let mut first_key: Vec<Option<f64>> = vec![None; route.spans.len()];
    for (i, (out, _)) in outputs.iter_mut().enumerate() {
        let keys = out.block_keys.take().unwrap_or_default();
        for (b, k) in out.report.per_block.iter().zip(keys) {
            let arrival_s = b.end_time_s + b.latency_s;
            let (alice, bob) = match k {
                Some(k) => (k.alice, k.bob),
                None => (BitVec::new(), BitVec::new()),
            };
            if !alice.is_empty() && arrival_s <= duration_s {
                first_key[i] = Some(first_key[i].map_or(arrival_s, |f: f64| f.min(arrival_s)));
            }
            blocks.push(KeyBlock {
                span: i,
                index: b.index,
                arrival_s,
                alice,
                bob,
                auth_bits: params.link_auth.messages(b.classical_round_trips)
                    * params.auth_tag_bits,
            });
        }
    }

    let topo = Topology::of(route);
    let lengths: Vec<f64> = route.spans.iter().map(|s| s.length_km).collect();
    let paths: Vec<Vec<Path>> = route
        .demands
        .iter()
        .map(|d| graph::trusted_paths(&topo, &lengths, d.from, d.to, MAX_PATHS_PER_DEMAND))
        .collect();
    let outcome = relay::relay(
        route.spans.len(),
        &route.demands,
        &paths,
        blocks,
        duration_s,
        params,
        options.keep_keys,
    );

    // Capacities (bits over the duration) and maximum flows, per demand: a span at the
    // demand's source end can only be a path's first hop (paths are simple), which pays
    // the chunk alone; every other span can only be a later hop, which also pays a tag.
    let (c, t) = (params.chunk_bits as f64, params.auth_tag_bits as f64);
    let net: Vec<f64> = outcome
        .spans
        .iter()
        .map(|s| (s.arrived_bits + s.preshared_bits).saturating_sub(s.link_auth_bits) as f64)
        .collect();
    let flows: Vec<graph::MaxFlow> = route
        .demands
        .iter()
        .map(|d| {
            let capacity: Vec<u64> = route
                .spans
                .iter()
                .map(|s| {
                    let first_hop = s.from == d.from || s.to == d.from;
                    let share = if first_hop { 1.0 } else { c / (c + t) };
                    (net[s.index] * share).floor() as u64
                })
                .collect();
            graph::max_flow(&topo, &capacity, d.from, d.to)
        })
        .collect();
    let mut bottleneck = vec![false; route.spans.len()];
    for f in &flows {
        for &i in &f.min_cut {
            bottleneck[i] = true;
        }
    }

    let names = |nodes: &[usize]| -> Vec<String> {
        nodes.iter().map(|&n| route.nodes[n].name.clone()).collect()
    };
    let spans: Vec<SpanReport> = route
        .spans
        .iter()
        .zip(&outputs)
        .zip(&outcome.spans)
        .map(|((span, (out, _)), store)| {
            let r = &out.report;
            let l = &span.scenario.spec.link;
            let rep = span.scenario.spec.source.rep_rate_hz;
            let net =
                (store.arrived_bits + store.preshared_bits).saturating_sub(store.link_auth_bits);
            SpanReport {
                index: span.index,
                from: route.nodes[span.from].name.clone(),
                to: route.nodes[span.to].name.clone(),
                length_km: span.length_km,
                loss_db: Channel::new(l.length_km, l.attenuation_db_per_km, l.extra_loss_db)
                    .loss_db(),
                seed: r.seed,
                engine: r.engine.clone(),
                pulses_sent: r.pulses_sent,
                sifted_bits_z: r.sifted_bits_z,
                qber_z: r.qber_z,
                qber_x: r.qber_x,
                blocks: r.blocks,
                aborted_blocks: r.aborted_blocks,
                secret_bits: r.secret_bits,
                secret_key_rate_bps: r.secret_bits as f64 / duration_s,
                net_key_rate_bps: net as f64 / duration_s,
                theory_secret_key_rate_bps: scenario_rates(&span.scenario)
                    .secret_bits_per_pulse_finite
                    * rep,
                mean_latency_s: r.mean_block_latency_s,
                first_key_s: first_key[span.index],
                final_keys_match: r.final_keys_match,
                aborted: r.aborted.clone(),
                arrived_bits: store.arrived_bits,
                link_auth_bits: store.link_auth_bits,
                preshared_auth_bits: store.preshared_bits,
                relay_bits: store.relay_bits,
                relay_auth_bits: store.relay_auth_bits,
                late_bits: store.late_bits,
                store_final_bits: store.final_bits,
                store_max_bits: store.max_bits,
                bottleneck: bottleneck[span.index],
                security_warnings: r.security_warnings.clone(),
                epsilon_total: r.epsilon_total,
            }
        })
        .collect();

    let demands: Vec<DemandReport> = route
        .demands
        .iter()
        .zip(&outcome.demands)
        .zip(&paths)
        .zip(&flows)
        .map(|(((d, o), ps), f)| {
            let mut on_paths: Vec<usize> = ps
                .iter()
                .flat_map(|p| p.hops.iter().map(|h| h.span))
                .collect();
            on_paths.sort_unstable();
            on_paths.dedup();
            DemandReport {
                index: d.index,
                from: route.nodes[d.from].name.clone(),
                to: route.nodes[d.to].name.clone(),
                rate_bps: d.rate_bps,
                path: ps.first().map(|p| names(&p.nodes)).unwrap_or_default(),
                paths: ps.iter().map(|p| names(&p.nodes)).collect(),
                secret_key_rate_bps: f.value as f64 / duration_s,
                requested_bits: o.requested_bits,
                delivered_bits: o.delivered_bits,
                delivered_rate_bps: o.delivered_bits as f64 / duration_s,
                keys_match: o.keys_match,
                min_cut: f.min_cut.clone(),
                time_to_first_key_s: o.time_to_first_key_s,
                outage_s: o.outage_s,
                availability: (1.0 - o.outage_s / duration_s).clamp(0.0, 1.0),
                longest_outage_s: o.longest_outage_s,
                store_bits_to_cover_worst_outage: o.store_bits_to_cover_worst_outage,
                relay_bits: o.relay_bits,
                relay_auth_bits: o.relay_auth_bits,
                epsilon_total: on_paths
                    .iter()
                    .map(|&i| spans[i].epsilon_total)
                    .sum::<f64>()
                    .min(1.0),
            }
        })
        .collect();

    let keys = options.keep_keys.then(|| {
        outcome
            .demands
            .iter()
            .map(|o| o.keys.clone().unwrap_or_default())
            .collect()
    });
    let relay_s = relay_started.elapsed().as_secs_f64();
    let report = RouteReport {
        route: route.name.clone(),
        description: route.description.clone(),
        seed,
        duration_s,
        relay: params,
        nodes: route.nodes.clone(),
        security_warnings: merged_warnings(route, &spans),
        spans,
        demands,
        stores: outcome.spans.iter().map(|s| s.series.clone()).collect(),
        timings: RouteTimings {
            spans_s,
            per_span_s: outputs.iter().map(|(_, s)| *s).collect(),
            relay_s,
            total_s: started.elapsed().as_secs_f64(),
        },
    };
    Ok(RouteOutput { report, keys })
}

/// One warning per code, naming every span that raises it (spans share most equipment,
/// so the same paragraph would otherwise repeat once per span).
fn merged_warnings(route: &Route, spans: &[SpanReport]) -> Vec<SecurityWarning> {
    let mut merged: Vec<(SecurityWarning, Vec<usize>)> = Vec::new();
    for s in spans {
        for w in &s.security_warnings {
            match merged.iter_mut().find(|(m, _)| m.code == w.code) {
                Some((_, who)) => who.push(s.index),
                None => merged.push((w.clone(), vec![s.index])),
            }
        }
    }
    merged
        .into_iter()
        .map(|(mut w, who)| {
            let list: Vec<String> = who
                .iter()
                .map(|&i| format!("{} ({})", i, route.span_label(i)))
                .collect();
            let label = if who.len() == 1 { "span" } else { "spans" };
            w.message = format!("{label} {}: {}", list.join(", "), w.message);
            w
        })
        .collect()
}
