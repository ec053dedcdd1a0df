//! Key stores over time and one-time-pad relay through trusted nodes, with the real bits.
//!
//! Given every span's final-key blocks (with the time each block's key exists), the
//! demands and their paths, [`relay`] runs one key store per span over `[0, duration_s]`,
//! serves the demands' requests from the stores by one-time-pad relay through the trusted
//! nodes of their paths, XORing the real key bits, and compares both ends' keys bit for
//! bit. Everything is deterministic: there is no random number anywhere in this module.
//!
//! # Key stores
//!
//! Each span has one store: a first-in first-out queue of key bits held as two copies, the
//! copy at the span's `from` node (Alice's final key) and the copy at its `to` node (Bob's
//! final key). Both copies are always consumed together, at the same positions. A block
//! whose two copies differ in length (never from the pipeline) enters with the shorter
//! length. Consumed bits are not kept: a block leaves the queue as soon as its last bit is
//! used.
//!
//! Blocks ([`KeyBlock`]) are processed in order of (`arrival_s`, span, index), whatever
//! order the caller gives them in. A block with `arrival_s > duration_s` (or a NaN time)
//! never enters its store: its key bits count as `late_bits`, and its authentication cost
//! is not counted (it falls after the simulated duration).
//!
//! # Authentication of a span's own post-processing
//!
//! The classical messages of a span's post-processing (sifting, Cascade, verification,
//! privacy-amplification seed) are authenticated by the Wegman-Carter scheme: a universal
//! hash of the message, its tag one-time padded with fresh key (Wegman & Carter, J. Comput.
//! Syst. Sci. 22 (1981) 265). The hash key is recycled and only the pad of each tag is spent
//! (Portmann, IEEE Trans. Inf. Theory 60 (2014) 4383, key recycling), so the caller gives
//! the cost of each block as [`KeyBlock::auth_bits`]. When a block arrives, its key enters
//! the store and then `auth_bits` are spent from the front of the store (discarded from
//! both copies); a block without key (empty copies) still pays. If the store holds fewer
//! bits than needed, the store goes to zero and the rest is paid from a pre-shared key,
//! counted in `preshared_bits` (the initial authentication key every QKD link needs).
//!
//! # Demands and relay
//!
//! Demand `d` with rate `r` bit/s asks for one chunk of `chunk_bits` at the times
//! `t_j = j * chunk_bits / r`, `j = 0, 1, ...`, while `t_j < duration_s` (the first request
//! at `t = 0`; no request at all unless `r`, `chunk_bits` and `duration_s` are positive and
//! finite). A demand's requests are served first in, first out. At every event time (a
//! block arrival or a request time), after the blocks arriving at that time are stored,
//! the pending requests are served in order of (request time, demand index), as many as
//! the stores allow; a demand whose oldest pending request cannot be served waits for the
//! next arrival (stores only shrink between arrivals) without holding up other demands.
//!
//! A request is served over the first path of the demand (in the order given) on which
//! every hop's store holds enough key: hop 1 needs `chunk_bits`, every further hop
//! `chunk_bits + auth_tag_bits`. For the path `n0 -> n1 -> ... -> nk` with hops
//! `h1 ... hk` (hop `hj` joins `n(j-1)` and `nj`; [`Hop::forward`] says that `n(j-1)` is
//! the span's `from` side), one chunk is taken from the front of every hop's store:
//! `x_j` is `n(j-1)`'s copy, `y_j` is `nj`'s. The key at the demand's `from` end is
//! `K = x_1`. Every relay node `nj` (`1 <= j < k`) publishes `c_j = y_j XOR x_(j+1)`, the
//! next hop's key one-time padded with the previous hop's (Shannon, Bell Syst. Tech. J. 28
//! (1949) 656). The messages travel down the path hop by hop: hop `j >= 2` carries one
//! authenticated message with every `c` so far, which spends one tag of `auth_tag_bits`
//! from hop `j`'s store (taken just after that hop's chunk). The far end recovers
//! `K' = y_k XOR c_(k-1) XOR ... XOR c_1`, which equals `K` exactly when every hop's two
//! copies agree; `K` and `K'` are compared bit for bit for every chunk (`keys_match`).
//! This is trusted-node relay as in the SECOQC network (Peev et al., New J. Phys. 11
//! (2009) 075001; security: Salvail et al., J. Comput. Secur. 18 (2010) 61). Per delivered
//! chunk, `relay_bits` grows by `chunk_bits` on every hop of the path and
//! `relay_auth_bits` by `auth_tag_bits` on hops 2 to k.
//!
//! A path with no hops, or naming a span index out of range, is a programming error of
//! the caller: it is never used (debug builds assert). `Path::nodes` is not consulted.
//!
//! # Outage
//!
//! A demand is in outage while it has a request that is due and not yet served: `outage_s`
//! is the measure of the union of `[t_j, served_j)` (a request never served: up to
//! `duration_s`), `longest_outage_s` its longest maximal interval. A request served at its
//! own time adds nothing. `store_bits_to_cover_worst_outage` is `chunk_bits` times the
//! largest number of due, unserved requests at any moment of `[0, duration_s)` (requests
//! served at the instant they fall due never count). `keys_match` is true when every
//! delivered chunk matched (so also when none was delivered).
//!
//! # Store levels over time
//!
//! The level of every span's store is recorded after each block's arrival (key in,
//! authentication out) and after the service at each event time at which the span lent
//! key. `max_bits` is the exact maximum of these levels. The series is downsampled
//! deterministically: `[0, duration_s]` is cut into [`SERIES_BUCKETS`] equal buckets
//! (earlier times fall in the first) and every bucket keeps its highest level and its last
//! level (the first of equal highest; both in time order, one point if they coincide), so
//! a series has at most `2 * SERIES_BUCKETS` points. The store is empty before its first
//! point.
//!
//! # Conservation
//!
//! For every span, `arrived_bits + preshared_bits = link_auth_bits + relay_bits +
//! relay_auth_bits + final_bits`.
//!
//! # Cost
//!
//! Chunks are copied a word at a time ([`BitVec::extend_range`]); the event loop does
//! `O(log D)` work per request event of a demand that is keeping up, tries a waiting demand
//! only at block arrivals, and otherwise costs `O(hops)` per path tried and per chunk
//! served.
//!
//! Must never depend on `report`, `simulate`, clap or the file system: it sees key blocks,
//! paths and parameters only.

use super::{Demand, RelayParams, StoreSeries};
use crate::bits::BitVec;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

/// Number of time buckets a store series is downsampled to (each keeps at most two
/// points).
pub const SERIES_BUCKETS: usize = 1000;

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
    /// Bits spent authenticating the span's own post-processing messages (from the store
    /// and from the pre-shared key).
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

/// A time as a totally ordered key (times in the event loop are never NaN).
#[derive(Debug, Clone, Copy)]
struct Time(f64);

impl PartialEq for Time {
    fn eq(&self, other: &Time) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Time) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Time) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One block still (partly) in a store: the `from` and `to` copies, equal lengths.
#[derive(Debug)]
struct Stored {
    from: BitVec,
    to: BitVec,
}

/// A span's store: the queue, the read position in its front block, and bookkeeping.
#[derive(Debug)]
struct Store {
    queue: VecDeque<Stored>,
    /// Bits of the front block already consumed.
    pos: usize,
    level: u64,
    out: SpanStore,
    sampler: Sampler,
}

impl Store {
    fn new(span: usize) -> Store {
        Store {
            queue: VecDeque::new(),
            pos: 0,
            level: 0,
            out: SpanStore {
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
            },
            sampler: Sampler::default(),
        }
    }

    /// Adds a block's key (the shorter copy's length) and pays its authentication.
    fn arrive(&mut self, mut from: BitVec, mut to: BitVec, auth_bits: u64) {
        let n = from.len().min(to.len());
        from.truncate(n);
        to.truncate(n);
        if n > 0 {
            self.queue.push_back(Stored { from, to });
            self.level += n as u64;
            self.out.arrived_bits += n as u64;
        }
        let paid = self.discard(auth_bits);
        self.out.link_auth_bits += auth_bits;
        self.out.preshared_bits += auth_bits - paid;
    }

    /// Drops up to `n` bits from the front of both copies; returns how many were dropped.
    fn discard(&mut self, n: u64) -> u64 {
        let n = n.min(self.level);
        let mut left = n;
        while left > 0 {
            let Some(front) = self.queue.front() else {
                break;
            };
            let avail = (front.from.len() - self.pos) as u64;
            if left >= avail {
                left -= avail;
                self.queue.pop_front();
                self.pos = 0;
            } else {
                self.pos += left as usize;
                left = 0;
            }
        }
        self.level -= n - left;
        n - left
    }

    /// Appends the next `n` bits of the `from` copy to `from` and of the `to` copy to `to`,
    /// consuming them. Requires `n <= level`.
    fn take(&mut self, n: u64, from: &mut BitVec, to: &mut BitVec) {
        debug_assert!(n <= self.level);
        let mut left = n.min(self.level) as usize;
        while left > 0 {
            let Some(front) = self.queue.front() else {
                break;
            };
            let m = (front.from.len() - self.pos).min(left);
            from.extend_range(&front.from, self.pos, m);
            to.extend_range(&front.to, self.pos, m);
            self.pos += m;
            left -= m;
            if self.pos == front.from.len() {
                self.queue.pop_front();
                self.pos = 0;
            }
        }
        self.level -= n.min(self.level);
    }

    /// Records the current level at `t`.
    fn record(&mut self, t: f64, bucket: usize) {
        self.out.max_bits = self.out.max_bits.max(self.level);
        self.sampler
            .push(t, self.level, bucket, &mut self.out.series);
    }
}

/// Streaming downsampler of one store series: per time bucket, the first highest point
/// and the last point.
#[derive(Debug, Default)]
struct Sampler {
    bucket: Option<usize>,
    /// (time, bits, sequence number within the bucket).
    max: (f64, u64, u64),
    last: (f64, u64, u64),
    seq: u64,
}

impl Sampler {
    fn push(&mut self, t: f64, bits: u64, bucket: usize, series: &mut StoreSeries) {
        if self.bucket != Some(bucket) {
            self.flush(series);
            self.bucket = Some(bucket);
            self.seq = 0;
            self.max = (t, bits, 0);
        } else if bits > self.max.1 {
            self.max = (t, bits, self.seq);
        }
        self.last = (t, bits, self.seq);
        self.seq += 1;
    }

    fn flush(&mut self, series: &mut StoreSeries) {
        if self.bucket.take().is_some() {
            if self.max.2 != self.last.2 {
                series.time_s.push(self.max.0);
                series.bits.push(self.max.1);
            }
            series.time_s.push(self.last.0);
            series.bits.push(self.last.1);
        }
    }
}

/// The request schedule of one demand: `t_j = j * chunk / rate` for `j < count`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    chunk: f64,
    rate: f64,
    count: u64,
}

impl Schedule {
    fn new(chunk_bits: u64, rate: f64, duration_s: f64) -> Schedule {
        let chunk = chunk_bits as f64;
        let mut s = Schedule {
            chunk,
            rate,
            count: 0,
        };
        let valid = chunk_bits > 0
            && rate > 0.0
            && rate.is_finite()
            && duration_s > 0.0
            && duration_s.is_finite();
        if valid {
            s.count = s.count_where(|t| t < duration_s, duration_s, u64::MAX);
        }
        s
    }

    fn time(&self, j: u64) -> f64 {
        j as f64 * self.chunk / self.rate
    }

    /// Number of `j` in `0..limit` with `pred(t_j)`, `pred` true on a prefix; `t` is the
    /// threshold the prefix ends near (for the first estimate).
    fn count_where(&self, pred: impl Fn(f64) -> bool, t: f64, limit: u64) -> u64 {
        // `as` saturates (NaN and negative give 0).
        let mut n = ((t * self.rate / self.chunk).floor() as u64)
            .saturating_add(1)
            .min(limit);
        while n > 0 && !pred(self.time(n - 1)) {
            n -= 1;
        }
        while n < limit && pred(self.time(n)) {
            n += 1;
        }
        n
    }

    /// Requests due at `t` (`t_j <= t`).
    fn due(&self, t: f64) -> u64 {
        self.count_where(|x| x <= t, t, self.count)
    }

    /// Requests due strictly before `t`.
    fn due_before(&self, t: f64) -> u64 {
        self.count_where(|x| x < t, t, self.count)
    }
}

/// A usable path, checked once: its hops and the key it needs from each distinct span.
#[derive(Debug)]
struct Route {
    /// Index in the demand's `paths`.
    index: usize,
    hops: Vec<Hop>,
    /// (span, bits needed per chunk), each span once.
    needs: Vec<(usize, u64)>,
}

/// Running state of one demand.
#[derive(Debug)]
struct DemandState {
    schedule: Schedule,
    routes: Vec<Route>,
    served: u64,
    /// Waiting for the next arrival (its oldest due request could not be served).
    blocked: bool,
    outage_s: f64,
    longest_s: f64,
    /// Current maximal outage stretch, `[start, end)`.
    stretch: Option<(f64, f64)>,
    max_backlog: u64,
    out: DemandOutcome,
}

impl DemandState {
    /// Adds the outage interval `[a, b)` (intervals come in order of `a`, ends
    /// non-decreasing).
    fn add_outage(&mut self, a: f64, b: f64) {
        if a >= b {
            return;
        }
        match &mut self.stretch {
            Some((_, end)) if a <= *end => *end = end.max(b),
            _ => {
                self.close_stretch();
                self.stretch = Some((a, b));
            }
        }
    }

    fn close_stretch(&mut self) {
        if let Some((a, b)) = self.stretch.take() {
            self.outage_s += b - a;
            self.longest_s = self.longest_s.max(b - a);
        }
    }
}

/// Scratch buffers for one relay: per hop, the chunk as seen by the hop's near node (`x`)
/// and far node (`y`).
#[derive(Debug, Default)]
struct Scratch {
    x: Vec<BitVec>,
    y: Vec<BitVec>,
    c: BitVec,
    k_far: BitVec,
}

/// Runs the stores and the relay over `[0, duration_s]`.
///
/// `paths[d]` are the paths of demand `d` in the order they are tried (a demand without an
/// entry has no path); `blocks` in any order. With `keep_keys`, every demand's delivered
/// keys are returned. Semantics in the [module documentation](self).
pub fn relay(
    spans: usize,
    demands: &[Demand],
    paths: &[Vec<Path>],
    blocks: Vec<KeyBlock>,
    duration_s: f64,
    params: RelayParams,
    keep_keys: bool,
) -> RelayOutcome {
    let chunk = params.chunk_bits;
    let tag = params.auth_tag_bits;
    let mut stores: Vec<Store> = (0..spans).map(Store::new).collect();
    let bucket_of = |t: f64| -> usize {
        if duration_s > 0.0 && duration_s.is_finite() {
            // `as` saturates: negative times and NaN fall in bucket 0.
            ((t / duration_s * SERIES_BUCKETS as f64) as usize).min(SERIES_BUCKETS - 1)
        } else {
            0
        }
    };

    // Blocks: late ones counted, the rest in (arrival, span, index) order.
    let mut arrivals: Vec<KeyBlock> = Vec::with_capacity(blocks.len());
    for b in blocks {
        if b.span >= spans {
            debug_assert!(false, "key block of span {} of {spans}", b.span);
            continue;
        }
        if b.arrival_s <= duration_s {
            arrivals.push(b);
        } else {
            let n = b.alice.len().min(b.bob.len()) as u64;
            stores[b.span].out.late_bits += n;
        }
    }
    arrivals.sort_by(|a, b| {
        a.arrival_s
            .total_cmp(&b.arrival_s)
            .then(a.span.cmp(&b.span))
            .then(a.index.cmp(&b.index))
    });
    let mut arrivals = arrivals.into_iter().peekable();

    // Demands and their usable paths.
    let mut states: Vec<DemandState> = demands
        .iter()
        .enumerate()
        .map(|(d, demand)| {
            let given = paths.get(d).map(Vec::as_slice).unwrap_or(&[]);
            let routes = given
                .iter()
                .enumerate()
                .filter_map(|(index, p)| usable_route(index, p, spans, chunk, tag))
                .collect();
            let schedule = Schedule::new(chunk, demand.rate_bps, duration_s);
            DemandState {
                schedule,
                routes,
                served: 0,
                blocked: false,
                outage_s: 0.0,
                longest_s: 0.0,
                stretch: None,
                max_backlog: 0,
                out: DemandOutcome {
                    requested_bits: schedule.count.saturating_mul(chunk),
                    delivered_bits: 0,
                    keys_match: true,
                    time_to_first_key_s: None,
                    outage_s: 0.0,
                    longest_outage_s: 0.0,
                    store_bits_to_cover_worst_outage: 0,
                    relay_bits: 0,
                    relay_auth_bits: 0,
                    chunks_per_path: vec![0; given.len()],
                    keys: keep_keys.then(|| (BitVec::new(), BitVec::new())),
                },
            }
        })
        .collect();

    // Next request times of demands keeping up (no pending request); waiting demands are
    // listed in `blocked` and tried again at the next arrival. A demand without a usable
    // path is never scheduled: all its requests stay unserved.
    let mut upcoming: BinaryHeap<Reverse<(Time, usize)>> = BinaryHeap::new();
    for (d, s) in states.iter().enumerate() {
        if s.schedule.count > 0 && !s.routes.is_empty() {
            upcoming.push(Reverse((Time(s.schedule.time(0)), d)));
        }
    }
    let mut blocked: Vec<usize> = Vec::new();
    let mut candidates: Vec<usize> = Vec::new();
    let mut due_now: Vec<u64> = vec![0; states.len()];
    let mut queue: BinaryHeap<Reverse<(Time, usize)>> = BinaryHeap::new();
    let mut touched = vec![false; spans];
    let mut touched_list: Vec<usize> = Vec::new();
    let mut scratch = Scratch::default();

    loop {
        let next_arrival = arrivals.peek().map(|b| b.arrival_s);
        let next_request = upcoming.peek().map(|Reverse((t, _))| t.0);
        let now = match (next_arrival, next_request) {
            (Some(a), Some(r)) => a.min(r),
            (Some(a), None) => a,
            (None, Some(r)) => r,
            (None, None) => break,
        };
        candidates.clear();
        if next_arrival == Some(now) {
            while let Some(b) = arrivals.next_if(|b| b.arrival_s == now) {
                let store = &mut stores[b.span];
                store.arrive(b.alice, b.bob, b.auth_bits);
                store.record(now, bucket_of(now));
            }
            for d in blocked.drain(..) {
                states[d].blocked = false;
                candidates.push(d);
            }
        }
        while let Some(&Reverse((t, d))) = upcoming.peek() {
            if t.0 > now {
                break;
            }
            upcoming.pop();
            candidates.push(d);
        }
        if candidates.is_empty() {
            continue;
        }

        // Serve in order of (request time, demand index), each demand as far as it can.
        queue.clear();
        for &d in &candidates {
            let s = &mut states[d];
            let due = s.schedule.due(now);
            due_now[d] = due;
            // Backlog just before `now` (the left limit: nothing is served in between).
            let before = s.schedule.due_before(now).saturating_sub(s.served);
            s.max_backlog = s.max_backlog.max(before);
            if s.served < due {
                queue.push(Reverse((Time(s.schedule.time(s.served)), d)));
            }
        }
        while let Some(Reverse((Time(t_req), d))) = queue.pop() {
            let s = &mut states[d];
            let Some(r) = s.routes.iter().position(|r| {
                r.needs
                    .iter()
                    .all(|&(span, need)| stores[span].level >= need)
            }) else {
                s.blocked = true;
                continue;
            };
            let route = &s.routes[r];
            let ok = relay_chunk(
                &route.hops,
                &mut stores,
                chunk,
                tag,
                &mut scratch,
                s.out.keys.as_mut(),
            );
            for h in &route.hops {
                if !touched[h.span] {
                    touched[h.span] = true;
                    touched_list.push(h.span);
                }
            }
            let k = route.hops.len() as u64;
            s.out.chunks_per_path[route.index] += 1;
            s.out.keys_match &= ok;
            s.out.delivered_bits += chunk;
            s.out.relay_bits += chunk * k;
            s.out.relay_auth_bits += tag * (k - 1);
            s.out.time_to_first_key_s.get_or_insert(now);
            s.add_outage(t_req, now);
            s.served += 1;
            if s.served < due_now[d] {
                queue.push(Reverse((Time(s.schedule.time(s.served)), d)));
            }
        }
        for &d in &candidates {
            let s = &mut states[d];
            let after = due_now[d] - s.served;
            s.max_backlog = s.max_backlog.max(after);
            if s.blocked {
                blocked.push(d);
            } else if s.served < s.schedule.count {
                upcoming.push(Reverse((Time(s.schedule.time(s.served)), d)));
            }
        }
        touched_list.sort_unstable();
        for &span in &touched_list {
            touched[span] = false;
            stores[span].record(now, bucket_of(now));
        }
        touched_list.clear();
    }

    let demands_out = states
        .into_iter()
        .map(|mut s| {
            let count = s.schedule.count;
            if s.served < count {
                s.add_outage(s.schedule.time(s.served), duration_s);
            }
            s.close_stretch();
            s.max_backlog = s.max_backlog.max(count - s.served);
            s.out.outage_s = s.outage_s;
            s.out.longest_outage_s = s.longest_s;
            s.out.store_bits_to_cover_worst_outage = s.max_backlog.saturating_mul(chunk);
            s.out
        })
        .collect();
    let spans_out = stores
        .into_iter()
        .map(|mut st| {
            st.sampler.flush(&mut st.out.series);
            st.out.final_bits = st.level;
            st.out
        })
        .collect();
    RelayOutcome {
        spans: spans_out,
        demands: demands_out,
    }
}

/// The path as a [`Route`], or `None` if it has no hop or names a span out of range.
fn usable_route(index: usize, p: &Path, spans: usize, chunk: u64, tag: u64) -> Option<Route> {
    let in_range = p.hops.iter().all(|h| h.span < spans);
    debug_assert!(
        in_range && !p.hops.is_empty(),
        "path {index} has no hop or a span out of range ({spans} spans)"
    );
    if !in_range || p.hops.is_empty() {
        return None;
    }
    let mut needs: Vec<(usize, u64)> = Vec::with_capacity(p.hops.len());
    for (j, h) in p.hops.iter().enumerate() {
        let need = if j == 0 {
            chunk
        } else {
            chunk.saturating_add(tag)
        };
        match needs.iter_mut().find(|(s, _)| *s == h.span) {
            Some((_, n)) => *n = n.saturating_add(need),
            None => needs.push((h.span, need)),
        }
    }
    Some(Route {
        index,
        hops: p.hops.clone(),
        needs,
    })
}

/// Relays one chunk over `hops` (every store holds enough): takes the chunk and the relay
/// tags, computes the published messages and the far end's key, appends both ends' keys to
/// `keys` if given. Returns whether the two ends' keys are equal.
fn relay_chunk(
    hops: &[Hop],
    stores: &mut [Store],
    chunk: u64,
    tag: u64,
    scratch: &mut Scratch,
    keys: Option<&mut (BitVec, BitVec)>,
) -> bool {
    let k = hops.len();
    if scratch.x.len() < k {
        scratch.x.resize_with(k, BitVec::new);
        scratch.y.resize_with(k, BitVec::new);
    }
    for (j, h) in hops.iter().enumerate() {
        let (x, y) = (&mut scratch.x[j], &mut scratch.y[j]);
        x.clear();
        y.clear();
        let store = &mut stores[h.span];
        // `x` is the near node's copy: the span's `from` copy when traversed forward.
        if h.forward {
            store.take(chunk, x, y);
        } else {
            store.take(chunk, y, x);
        }
        store.out.relay_bits += chunk;
        if j > 0 {
            // One authenticated relay message on this hop: its tag's one-time pad.
            store.discard(tag);
            store.out.relay_auth_bits += tag;
        }
    }
    // Far end: K' = y_k XOR c_(k-1) XOR ... XOR c_1, with c_j = y_j XOR x_(j+1).
    let Scratch { x, y, c, k_far, .. } = scratch;
    k_far.clear();
    k_far.extend_from(&y[k - 1]);
    for j in 0..k - 1 {
        c.clear();
        c.extend_from(&y[j]);
        c.xor_assign(&x[j + 1]);
        k_far.xor_assign(c);
    }
    let near = &x[0];
    if let Some((a, b)) = keys {
        a.extend_from(near);
        b.extend_from(k_far);
    }
    *near == *k_far
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(span: usize, index: u64, t: f64, bits: usize, auth: u64) -> KeyBlock {
        let words: Vec<u64> = (0..bits.div_ceil(64) as u64)
            .map(|w| (w + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index << 32) ^ span as u64)
            .collect();
        let key = BitVec::from_words(words, bits);
        KeyBlock {
            span,
            index,
            arrival_s: t,
            alice: key.clone(),
            bob: key,
            auth_bits: auth,
        }
    }

    #[test]
    fn store_takes_across_blocks_in_order() {
        let mut st = Store::new(0);
        let a = block(0, 0, 0.0, 100, 0);
        let b = block(0, 1, 0.0, 70, 0);
        let mut all = a.alice.clone();
        all.extend_from(&b.alice);
        st.arrive(a.alice, a.bob, 10);
        st.arrive(b.alice, b.bob, 0);
        assert_eq!(st.level, 160);
        let (mut x, mut y) = (BitVec::new(), BitVec::new());
        st.take(120, &mut x, &mut y);
        assert_eq!(x, all.slice(10, 120));
        assert_eq!(x, y);
        assert_eq!(st.queue.len(), 1, "the consumed block is dropped");
        assert_eq!(st.discard(100), 40);
        assert_eq!((st.level, st.queue.len(), st.pos), (0, 0, 0));
    }

    #[test]
    fn schedule_counts_requests_before_the_end() {
        // 256 bit/s, 256-bit chunks, 5 s: requests at 0, 1, 2, 3, 4.
        let s = Schedule::new(256, 256.0, 5.0);
        assert_eq!(s.count, 5);
        assert_eq!((s.due(0.0), s.due_before(0.0)), (1, 0));
        assert_eq!((s.due(1.0), s.due_before(1.0)), (2, 1));
        assert_eq!((s.due(1.5), s.due_before(1.5)), (2, 2));
        assert_eq!(s.due(100.0), 5);
        assert_eq!(Schedule::new(256, 0.0, 5.0).count, 0);
        assert_eq!(Schedule::new(256, f64::NAN, 5.0).count, 0);
        assert_eq!(Schedule::new(0, 1.0, 5.0).count, 0);
        assert_eq!(Schedule::new(256, 1.0, f64::INFINITY).count, 0);
        // 1000 bit/s, 3-bit chunks, 1 s: t_j = 3j/1000 < 1 for j <= 333.
        assert_eq!(Schedule::new(3, 1000.0, 1.0).count, 334);
    }

    #[test]
    fn sampler_keeps_at_most_two_points_per_bucket() {
        let mut st = Store::new(0);
        for i in 0..10_000u64 {
            st.level = i % 37;
            let t = i as f64 / 10_000.0;
            st.record(t, (t * SERIES_BUCKETS as f64) as usize);
        }
        st.sampler.flush(&mut st.out.series);
        let s = &st.out.series;
        assert!(s.time_s.len() <= 2 * SERIES_BUCKETS);
        assert_eq!(s.time_s.len(), s.bits.len());
        assert!(s.time_s.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(st.out.max_bits, 36);
        assert_eq!(s.bits.iter().max(), Some(&36));
        assert_eq!(*s.bits.last().unwrap(), 9_999 % 37);
    }
}
