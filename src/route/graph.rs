//! The route as a graph: paths through trusted nodes, and the maximum flow of key between
//! two nodes with the spans of a minimum cut.
//!
//! Nodes are sites, spans are undirected edges (key made on a span is shared by both of
//! its ends, so it can carry relayed key either way). A path may pass only through trusted
//! nodes; an untrusted node can only be a path's end. The maximum flow uses petgraph's
//! Dinic algorithm on integer capacities (bits, so the cut is exact); the minimum cut is
//! read from the residual graph: the spans joining the nodes still reachable from the
//! source to the rest (max-flow min-cut theorem, Ford & Fulkerson 1956).
//!
//! Must never depend on `simulate`, `relay`'s internals, `report` or the file system.

use super::relay::{Hop, Path};
use petgraph::algo::dinics;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// The ends of every span, `(from, to)` by node index, and which nodes may relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Number of nodes.
    pub nodes: usize,
    /// Per span, `(from, to)`.
    pub spans: Vec<(usize, usize)>,
    /// Per node, whether it is a trusted relay.
    pub trusted: Vec<bool>,
}

impl Topology {
    /// The topology of a validated route.
    pub fn of(route: &super::Route) -> Topology {
        Topology {
            nodes: route.nodes.len(),
            spans: route.spans.iter().map(|s| (s.from, s.to)).collect(),
            trusted: route.nodes.iter().map(|n| n.trusted).collect(),
        }
    }

    /// May node `n` be on a path from `from` to `to`?
    fn usable(&self, n: usize, from: usize, to: usize) -> bool {
        n == from || n == to || self.trusted[n]
    }
}

/// Every simple path from `from` to `to` whose inner nodes are trusted, at most `limit` of
/// them, ordered by number of hops, then by the sum of `lengths[span]`, then by span
/// indices (so the order is deterministic). Parallel spans give distinct paths.
pub fn trusted_paths(
    topo: &Topology,
    lengths: &[f64],
    from: usize,
    to: usize,
    limit: usize,
) -> Vec<Path> {
    let mut found: Vec<Path> = Vec::new();
    if from == to || from >= topo.nodes || to >= topo.nodes {
        return found;
    }
    // Depth-first search over spans; visited nodes kept on the stack. The search is
    // bounded by `limit` complete paths and by a budget of steps, so a dense graph cannot
    // make it run for long.
    let mut adjacency: Vec<Vec<Hop>> = vec![Vec::new(); topo.nodes];
    for (i, &(a, b)) in topo.spans.iter().enumerate() {
        if a == b {
            continue;
        }
        adjacency[a].push(Hop {
            span: i,
            forward: true,
        });
        adjacency[b].push(Hop {
            span: i,
            forward: false,
        });
    }
    let mut on_path = vec![false; topo.nodes];
    let mut nodes = vec![from];
    let mut hops: Vec<Hop> = Vec::new();
    let mut budget = 1_000_000u64;
    fn far(topo: &Topology, h: Hop) -> usize {
        let (a, b) = topo.spans[h.span];
        if h.forward { b } else { a }
    }
    fn walk(
        topo: &Topology,
        adjacency: &[Vec<Hop>],
        to: usize,
        from: usize,
        on_path: &mut [bool],
        nodes: &mut Vec<usize>,
        hops: &mut Vec<Hop>,
        found: &mut Vec<Path>,
        budget: &mut u64,
        collect_limit: usize,
    ) {
        let here = *nodes.last().expect("path starts with its source");
        if here == to {
            found.push(Path {
                nodes: nodes.clone(),
                hops: hops.clone(),
            });
            return;
        }
        on_path[here] = true;
        for &h in &adjacency[here] {
            if found.len() >= collect_limit || *budget == 0 {
                break;
            }
            *budget -= 1;
            let next = far(topo, h);
            if on_path[next] || !topo.usable(next, from, to) {
                continue;
            }
            nodes.push(next);
            hops.push(h);
            walk(
                topo,
                adjacency,
                to,
                from,
                on_path,
                nodes,
                hops,
                found,
                budget,
                collect_limit,
            );
            nodes.pop();
            hops.pop();
        }
        on_path[here] = false;
    }
    // Collect generously, then keep the `limit` best by the documented order.
    let collect_limit = limit.saturating_mul(16).max(limit);
    walk(
        topo,
        &adjacency,
        to,
        from,
        &mut on_path,
        &mut nodes,
        &mut hops,
        &mut found,
        &mut budget,
        collect_limit,
    );
    let length = |p: &Path| p.hops.iter().map(|h| lengths[h.span]).sum::<f64>();
    found.sort_by(|a, b| {
        a.hops
            .len()
            .cmp(&b.hops.len())
            .then(length(a).total_cmp(&length(b)))
            .then_with(|| {
                let ka: Vec<usize> = a.hops.iter().map(|h| h.span).collect();
                let kb: Vec<usize> = b.hops.iter().map(|h| h.span).collect();
                ka.cmp(&kb)
            })
    });
    found.truncate(limit);
    found
}

/// Is there any path from `from` to `to` through trusted nodes?
pub fn connected(topo: &Topology, from: usize, to: usize) -> bool {
    if from == to || from >= topo.nodes || to >= topo.nodes {
        return false;
    }
    let mut seen = vec![false; topo.nodes];
    let mut stack = vec![from];
    seen[from] = true;
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if n != from && !topo.trusted[n] {
            continue; // an untrusted node other than the source relays nothing
        }
        for &(a, b) in &topo.spans {
            let next = if a == n {
                b
            } else if b == n {
                a
            } else {
                continue;
            };
            if !seen[next] && topo.usable(next, from, to) {
                seen[next] = true;
                stack.push(next);
            }
        }
    }
    false
}

/// A maximum flow and a minimum cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxFlow {
    /// The flow value, in the capacities' unit.
    pub value: u64,
    /// Span indices of a minimum cut: spans with one end reachable from the source in the
    /// residual graph and the other not, in increasing order. Their capacities sum to
    /// `value`.
    pub min_cut: Vec<usize>,
}

/// Maximum flow from `from` to `to` when span `i` can carry `capacity[i]` in either
/// direction (shared between the two directions, as a span's key is one store), through
/// trusted nodes only.
///
/// An undirected edge of capacity c is modelled as two opposite arcs of capacity c each;
/// a maximum flow never needs to use both at once (cancelling the smaller flow leaves a
/// flow of the same value), so the value is that of the undirected network.
pub fn max_flow(topo: &Topology, capacity: &[u64], from: usize, to: usize) -> MaxFlow {
    let mut g: DiGraph<(), u64> = DiGraph::new();
    let ids: Vec<NodeIndex> = (0..topo.nodes).map(|_| g.add_node(())).collect();
    // Arc index -> span index.
    let mut arc_span: Vec<usize> = Vec::new();
    for (i, &(a, b)) in topo.spans.iter().enumerate() {
        if a == b || !topo.usable(a, from, to) || !topo.usable(b, from, to) {
            continue;
        }
        g.add_edge(ids[a], ids[b], capacity[i]);
        g.add_edge(ids[b], ids[a], capacity[i]);
        arc_span.push(i);
        arc_span.push(i);
    }
    if from == to || from >= topo.nodes || to >= topo.nodes {
        return MaxFlow {
            value: 0,
            min_cut: Vec::new(),
        };
    }
    let (value, flows) = dinics(&g, ids[from], ids[to]);
    // Residual reachability from the source. An untrusted node other than the source
    // cannot pass flow on, so the search does not continue through it (its arcs were
    // never added unless it is an end, see above).
    let mut reach = vec![false; topo.nodes];
    reach[from] = true;
    let mut stack = vec![from];
    while let Some(n) = stack.pop() {
        for e in g.edges_directed(ids[n], petgraph::Direction::Outgoing) {
            let m = e.target().index();
            let residual = *e.weight() - flows[e.id().index()];
            if residual > 0 && !reach[m] {
                reach[m] = true;
                stack.push(m);
            }
        }
        // Flow into n along an arc can be pushed back: reverse residual.
        for e in g.edges_directed(ids[n], petgraph::Direction::Incoming) {
            let m = e.source().index();
            if flows[e.id().index()] > 0 && !reach[m] {
                reach[m] = true;
                stack.push(m);
            }
        }
    }
    let mut min_cut: Vec<usize> = arc_span
        .iter()
        .copied()
        .filter(|&i| {
            let (a, b) = topo.spans[i];
            reach[a] != reach[b]
        })
        .collect();
    min_cut.sort_unstable();
    min_cut.dedup();
    MaxFlow { value, min_cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(nodes: usize, spans: &[(usize, usize)], untrusted: &[usize]) -> Topology {
        Topology {
            nodes,
            spans: spans.to_vec(),
            trusted: (0..nodes).map(|n| !untrusted.contains(&n)).collect(),
        }
    }

    #[test]
    fn chain_flow_is_its_weakest_span() {
        let t = topo(4, &[(0, 1), (1, 2), (3, 2)], &[0, 3]);
        let f = max_flow(&t, &[50, 20, 70], 0, 3);
        assert_eq!(
            f,
            MaxFlow {
                value: 20,
                min_cut: vec![1]
            }
        );
        let p = trusted_paths(&t, &[1.0, 1.0, 1.0], 0, 3, 8);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].nodes, vec![0, 1, 2, 3]);
        assert!(
            !p[0].hops[2].forward,
            "span 2 runs 3 -> 2, traversed backwards"
        );
    }

    #[test]
    fn two_disjoint_paths_add_up_and_the_cut_names_both_bottlenecks() {
        // 0 - 1 - 3 and 0 - 2 - 3: flows 30 and 40 (bottlenecks spans 1 and 2).
        let t = topo(4, &[(0, 1), (1, 3), (0, 2), (2, 3)], &[0, 3]);
        let f = max_flow(&t, &[100, 30, 40, 90], 0, 3);
        assert_eq!(f.value, 70);
        assert_eq!(f.min_cut, vec![1, 2]);
        let p = trusted_paths(&t, &[10.0, 10.0, 5.0, 5.0], 0, 3, 8);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].nodes, vec![0, 2, 3], "the shorter path comes first");
    }

    #[test]
    fn untrusted_nodes_do_not_relay() {
        // 0 - 1 - 2 with node 1 untrusted: no path, no flow.
        let t = topo(3, &[(0, 1), (1, 2)], &[1]);
        assert!(!connected(&t, 0, 2));
        assert!(trusted_paths(&t, &[1.0, 1.0], 0, 2, 8).is_empty());
        assert_eq!(max_flow(&t, &[10, 10], 0, 2).value, 0);
        // ... but it can be an end.
        assert!(connected(&t, 0, 1));
    }

    #[test]
    fn cut_capacity_equals_flow_on_a_mesh() {
        // A 5-node mesh with a cross link: check max-flow = min-cut capacity.
        let spans = [
            (0, 1),
            (0, 2),
            (1, 2),
            (1, 3),
            (2, 4),
            (3, 4),
            (3, 5),
            (4, 5),
        ];
        let t = topo(6, &spans, &[]);
        let cap = [16, 13, 4, 12, 14, 7, 20, 4];
        let f = max_flow(&t, &cap, 0, 5);
        let cut: u64 = f.min_cut.iter().map(|&i| cap[i]).sum();
        assert_eq!(cut, f.value);
        // Independent check: the smallest capacity over all 2^4 source/sink partitions of
        // the inner nodes (max-flow min-cut theorem).
        let brute = (0u32..16)
            .map(|mask| {
                let side = |n: usize| n == 0 || (n != 5 && mask >> (n - 1) & 1 == 1);
                spans
                    .iter()
                    .zip(cap)
                    .filter(|((a, b), _)| side(*a) != side(*b))
                    .map(|(_, c)| c)
                    .sum::<u64>()
            })
            .min()
            .unwrap();
        assert_eq!(f.value, brute);
    }
}
