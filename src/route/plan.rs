//! Choosing trusted-node sites along a corridor (`qkdsim route plan`).
//!
//! The route file describes a corridor: its spans must form one chain (a path graph)
//! whose nodes are the candidate sites, each at its fibre kilometre from the chain's start
//! (the sum of the span lengths before it). A planned hop from candidate i to candidate
//! j > i covers the segments between them, so its length is the sum of theirs, and it
//! uses the equipment of its first segment (the base scenario with that span's overrides)
//! at that length. Its rate is the finite-key theory of `estimation::theory`
//! (`secret_bits_per_pulse_finite` at the span's block size, Lim et al., PRA 89, 022307,
//! 2014, on the expected counts) times the repetition rate.
//!
//! The ends of the chain are always kept; an inner candidate may be chosen only if it is
//! trusted. Among the placements whose every hop reaches `min_rate_bps`, the plan takes
//! the fewest nodes, then the largest smallest hop rate ("best placement"), then the
//! earliest nodes (so ties break deterministically). Dynamic programming over the
//! candidates in corridor order: for every candidate, the best (hops, smallest rate)
//! lexicographic label over its admissible predecessors; O(n^2) theory evaluations.
//!
//! Must never depend on `report`, clap or the file system.

use super::{Demand, Node, Route, Span};
use crate::estimation::scenario_rates;
use crate::scenario::{fmt_num, with_value};
use serde::Serialize;

/// One hop of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedHop {
    /// Node name at the hop's start.
    pub from: String,
    /// Node name at its end.
    pub to: String,
    /// Fibre length, the sum of the corridor's segments it covers.
    pub length_km: f64,
    /// Finite-key theory rate of the hop at its block size, bits per second.
    pub theory_secret_key_rate_bps: f64,
}

/// The chosen placement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The required rate per hop.
    pub min_rate_bps: f64,
    /// Candidate sites in corridor order (node names, ends included) with their fibre
    /// kilometre from the start.
    pub candidates: Vec<(String, f64)>,
    /// Chosen nodes, ends included, in corridor order.
    pub chosen: Vec<String>,
    /// The hops between them.
    pub hops: Vec<PlannedHop>,
    /// Why no placement exists, if none does (`chosen` and `hops` are then empty).
    pub infeasible: Option<String>,
}

/// The corridor's nodes in order from one end, with the span joining each to the next.
/// Errors when the spans do not form a single chain.
fn corridor(route: &Route) -> crate::Result<(Vec<usize>, Vec<usize>)> {
    let n = route.nodes.len();
    let mut degree = vec![0usize; n];
    for s in &route.spans {
        degree[s.from] += 1;
        degree[s.to] += 1;
    }
    let not_chain = |why: String| {
        crate::Error::InvalidArgument(format!(
            "route plan needs a corridor: the spans of route {:?} must form a single chain \
             of candidate sites ({why})",
            route.name
        ))
    };
    if let Some(v) = (0..n).find(|&v| degree[v] > 2) {
        return Err(not_chain(format!(
            "node {:?} joins {} spans",
            route.nodes[v].name, degree[v]
        )));
    }
    if route.spans.len() + 1 != n || (0..n).any(|v| degree[v] == 0) {
        return Err(not_chain(format!(
            "{} nodes and {} spans; a chain of n sites has n - 1 spans and no isolated site",
            n,
            route.spans.len()
        )));
    }
    // Start at the first demand's end if it is a chain end, else at the first chain end.
    let ends: Vec<usize> = (0..n).filter(|&v| degree[v] == 1).collect();
    let start = route
        .demands
        .first()
        .map(|d| d.from)
        .filter(|v| ends.contains(v))
        .unwrap_or(ends[0]);
    let mut order = vec![start];
    let mut via = Vec::new();
    let mut used = vec![false; route.spans.len()];
    while order.len() < n {
        let here = *order.last().expect("starts non-empty");
        let Some(s) = route
            .spans
            .iter()
            .find(|s| !used[s.index] && (s.from == here || s.to == here))
        else {
            return Err(not_chain("the spans do not connect every site".into()));
        };
        used[s.index] = true;
        via.push(s.index);
        order.push(if s.from == here { s.to } else { s.from });
    }
    Ok((order, via))
}

/// Chooses the fewest trusted nodes along the corridor, then the placement with the
/// largest smallest hop rate, such that every hop reaches `min_rate_bps`; returns the plan
/// and the route made of the chosen hops (to simulate), or `None` when infeasible.
pub fn plan(route: &Route, min_rate_bps: f64) -> crate::Result<(Plan, Option<Route>)> {
    if !(min_rate_bps.is_finite() && min_rate_bps > 0.0) {
        return Err(crate::Error::InvalidArgument(format!(
            "--min-rate-bps: must be a finite rate > 0 bit/s, got {}",
            fmt_num(min_rate_bps)
        )));
    }
    let (order, via) = corridor(route)?;
    let n = order.len();
    let mut km = vec![0.0; n];
    for i in 1..n {
        km[i] = km[i - 1] + route.spans[via[i - 1]].length_km;
    }
    // The hop i -> j: equipment of segment via[i], length km[j] - km[i].
    let hop = |i: usize, j: usize| -> crate::Result<(crate::Scenario, f64)> {
        let length = km[j] - km[i];
        let s = with_value(&route.spans[via[i]].scenario, "link.length_km", length)?;
        let rate = scenario_rates(&s).secret_bits_per_pulse_finite * s.spec.source.rep_rate_hz;
        Ok((s, rate))
    };
    // best[j] = (hops, smallest hop rate, predecessor).
    let mut best: Vec<Option<(usize, f64, usize)>> = vec![None; n];
    for j in 1..n {
        for i in 0..j {
            if i > 0 && (best[i].is_none() || !route.nodes[order[i]].trusted) {
                continue;
            }
            let r = hop(i, j)?.1;
            if r < min_rate_bps {
                continue;
            }
            let (hops, smallest) = match best[i] {
                None => (1, r),
                Some((h, m, _)) => (h + 1, m.min(r)),
            };
            let better = match best[j] {
                None => true,
                Some((h, m, _)) => hops < h || (hops == h && smallest > m),
            };
            if better {
                best[j] = Some((hops, smallest, i));
            }
        }
    }
    let candidates: Vec<(String, f64)> = order
        .iter()
        .zip(&km)
        .map(|(&v, &k)| (route.nodes[v].name.clone(), k))
        .collect();
    let Some(_) = best[n - 1] else {
        // The weakest segment between adjacent candidates, evaluated here (the search may
        // not have reached every pair).
        let mut weakest = f64::INFINITY;
        for j in 1..n {
            weakest = weakest.min(hop(j - 1, j)?.1);
        }
        let reason = format!(
            "no placement gives every hop {} bit/s in the finite-key theory (the weakest \
             segment between adjacent candidates reaches {} bit/s; untrusted inner sites \
             cannot be chosen)",
            fmt_num(min_rate_bps),
            fmt_num(weakest)
        );
        let plan = Plan {
            min_rate_bps,
            candidates,
            chosen: Vec::new(),
            hops: Vec::new(),
            infeasible: Some(reason),
        };
        return Ok((plan, None));
    };
    let mut chain = vec![n - 1];
    while let Some((_, _, i)) = best[*chain.last().expect("non-empty")] {
        chain.push(i);
        if i == 0 {
            break;
        }
    }
    chain.reverse();

    // The planned route: chosen nodes, one span per hop, demands between chosen nodes.
    let mut nodes: Vec<Node> = Vec::new();
    let mut new_index = vec![usize::MAX; route.nodes.len()];
    for &c in &chain {
        new_index[order[c]] = nodes.len();
        nodes.push(route.nodes[order[c]].clone());
    }
    let mut spans = Vec::new();
    let mut hops = Vec::new();
    for (k, w) in chain.windows(2).enumerate() {
        let (i, j) = (w[0], w[1]);
        let (mut scenario, rate) = hop(i, j)?;
        scenario.spec.name = format!(
            "{}: planned hop {} ({} – {})",
            route.name, k, route.nodes[order[i]].name, route.nodes[order[j]].name
        );
        hops.push(PlannedHop {
            from: route.nodes[order[i]].name.clone(),
            to: route.nodes[order[j]].name.clone(),
            length_km: km[j] - km[i],
            theory_secret_key_rate_bps: rate,
        });
        spans.push(Span {
            index: k,
            from: k,
            to: k + 1,
            length_km: km[j] - km[i],
            scenario,
        });
    }
    let demands: Vec<Demand> = route
        .demands
        .iter()
        .filter(|d| new_index[d.from] != usize::MAX && new_index[d.to] != usize::MAX)
        .enumerate()
        .map(|(k, d)| Demand {
            index: k,
            from: new_index[d.from],
            to: new_index[d.to],
            rate_bps: d.rate_bps,
        })
        .collect();
    let planned = Route {
        name: format!(
            "{} (planned, every hop ≥ {} bit/s)",
            route.name,
            fmt_num(min_rate_bps)
        ),
        description: route.description.clone(),
        nodes,
        spans,
        demands,
        duration_s: route.duration_s,
        seed: route.seed,
        relay: route.relay,
    };
    let plan = Plan {
        min_rate_bps,
        candidates,
        chosen: chain
            .iter()
            .map(|&c| route.nodes[order[c]].name.clone())
            .collect(),
        hops,
        infeasible: None,
    };
    Ok((plan, Some(planned)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;
    use crate::route::RelayParams;

    const BASE: &str = include_str!("../../scenarios/bayreuth-zwickau.toml");

    fn corridor_route(segments: &[f64], trusted: &[bool]) -> Route {
        let base = Scenario::parse(BASE, "bayreuth-zwickau.toml").unwrap();
        let nodes = (0..=segments.len())
            .map(|i| Node {
                name: format!("N{i}"),
                lat: None,
                lon: None,
                trusted: trusted[i],
            })
            .collect();
        let spans = segments
            .iter()
            .enumerate()
            .map(|(i, &l)| Span {
                index: i,
                from: i,
                to: i + 1,
                length_km: l,
                scenario: with_value(&base, "link.length_km", l).unwrap(),
            })
            .collect();
        Route {
            name: "corridor".into(),
            description: String::new(),
            nodes,
            spans,
            demands: vec![Demand {
                index: 0,
                from: 0,
                to: segments.len(),
                rate_bps: 256.0,
            }],
            duration_s: 0.01,
            seed: 1,
            relay: RelayParams::default(),
        }
    }

    /// The theory rate of the base equipment at `km`, evaluated here directly.
    fn rate_at(km: f64) -> f64 {
        let base = Scenario::parse(BASE, "b").unwrap();
        let s = with_value(&base, "link.length_km", km).unwrap();
        scenario_rates(&s).secret_bits_per_pulse_finite * s.spec.source.rep_rate_hz
    }

    #[test]
    fn fewest_nodes_then_the_most_even_placement() {
        // Four 30 km segments; a rate between the 120 km and 90 km figures admits hops of
        // up to 90 km and rules out the direct 120 km hop.
        let (r60, r90, r120) = (rate_at(60.0), rate_at(90.0), rate_at(120.0));
        assert!(r60 > r90 && r90 > r120 && r120 > 0.0, "{r60} {r90} {r120}");
        let route = corridor_route(&[30.0; 4], &[false, true, true, true, false]);
        let (plan, planned) = plan(&route, 0.5 * (r90 + r120)).unwrap();
        // One relay suffices (120 km direct does not); of N1 (30+90), N2 (60+60) and N3
        // (90+30), N2 has the largest smallest hop rate.
        assert_eq!(plan.chosen, vec!["N0", "N2", "N4"]);
        assert_eq!(plan.hops.len(), 2);
        assert!((plan.hops[0].theory_secret_key_rate_bps - r60).abs() <= 1e-9 * r60);
        let planned = planned.unwrap();
        assert_eq!(planned.spans.len(), 2);
        assert_eq!(planned.spans[1].scenario.spec.link.length_km, 60.0);
        assert_eq!((planned.demands[0].from, planned.demands[0].to), (0, 2));
    }

    #[test]
    fn a_rate_above_the_shortest_hop_is_infeasible_and_untrusted_sites_are_skipped() {
        let route = corridor_route(&[30.0; 4], &[false, true, true, true, false]);
        let (first, planned) = plan(&route, 2.0 * rate_at(30.0)).unwrap();
        assert!(planned.is_none());
        let why = first.infeasible.unwrap();
        assert!(why.contains(&fmt_num(rate_at(30.0))), "{why}");
        // N2 untrusted: with hops up to 90 km the plan must use N1 or N3.
        let route = corridor_route(&[30.0; 4], &[false, true, false, true, false]);
        let (second, _) = super::plan(&route, 0.5 * (rate_at(90.0) + rate_at(120.0))).unwrap();
        assert_eq!(second.chosen.len(), 3);
        assert_ne!(second.chosen[1], "N2");
    }

    #[test]
    fn a_mesh_is_not_a_corridor() {
        let mut route = corridor_route(&[30.0; 3], &[false, true, true, false]);
        let mut extra = route.spans[0].clone();
        extra.index = 3;
        extra.from = 0;
        extra.to = 2;
        route.spans.push(extra);
        let e = plan(&route, 1.0).unwrap_err().to_string();
        assert!(e.contains("corridor"), "{e}");
    }
}
