//! The modelled classical channel between Bob (who drives Cascade) and Alice (who answers).
//!
//! Every query and every reply passes through [`Channel`], which counts messages, round trips
//! and the parity bits Alice discloses, and can keep a log of every message, the disclosed
//! parity values included, so tests can recount the leakage and replay Bob from the log
//! alone. No sockets: the parties are objects that see only what the channel hands them.
//! The answering side is any [`Responder`]: Alice in a reconciliation, a replay of her logged
//! answers in an audit (`tests/cascade_replay.rs`). Bob holds the channel, never the
//! responder, and receives exactly the bits the channel counts. Must never depend on Bob's
//! key or the error pattern.
//!
//! # Round-trip model (batched exchanges)
//!
//! The simulation runs one binary search at a time, but a real link does not wait for one
//! search to end before starting the next: every query that can be sent is sent, and all
//! queries ready at the same moment travel in one message (Bob to Alice) whose reply carries
//! all their parities (Alice to Bob). What bounds the number of exchanges is therefore the
//! longest chain of queries that each need the answer of the one before, not the number of
//! queries. Bob gives every exchange a *round number* along that causal chain:
//!
//! - A pass starts once the previous pass has settled (its searches and their cascade
//!   effect), as in Brassard and Salvail's protocol: its top-level parities are one exchange,
//!   in the round after the latest round so far. When Bob asks nothing (a single block whose
//!   parity follows from Alice's total parity) the announcement is a one-way notice that
//!   travels with the next round's queries.
//! - Bob knows whether a range is odd once he has Alice's parity of it *and* every correction
//!   inside it; each known range records that round (the later of the two).
//! - A bisection query goes in the round after the range it splits became known; its answer
//!   arrives in the same round (a round is one query message and its reply), and makes both
//!   halves known (the right half is inferred). A search walking through halves known from
//!   an earlier search asks nothing and waits only for those halves.
//! - A bit found at round r is flipped at r; every known range holding it (in every pass)
//!   becomes known no earlier than r, so a search the cascade effect starts there sends its
//!   first query at r + 1 or later. BICONF rounds are passes and follow the same rules.
//!
//! Queries with the same round number depend on no answer of that round, so they can share
//! its message exchange. [`ChannelStats::round_trips`] (the outcome's `channel_uses`, used
//! for the latency of the classical channel) is the length of this critical path: the
//! largest round number. [`ChannelStats::messages`] counts one message per direction per
//! round used. Because the rounds are attached to the very queries the sequential simulation
//! makes, which parities are disclosed does not change: leakage, corrections and keys are the
//! same as with one query per round trip, whose counts are kept as
//! [`ChannelStats::sequential_round_trips`] and [`ChannelStats::sequential_messages`].
//!
//! The model is conservative in two ways: a search waits for every correction the
//! simulation made inside its range before it, even one a fully parallel implementation
//! would have made later (the disclosed parities would otherwise differ), and a new pass
//! waits for the previous one to settle although Alice could send the top-level parities of
//! all passes up front (that would save at most one round per pass). With b passes the count
//! is about b (1 + log2 k) for blocks of k bits plus the rounds of the cascade effect,
//! instead of one round trip per disclosed parity.

use crate::bits::BitVec;
use crate::error::{Error, Result};

use super::disclosure::DisclosedParities;
use super::shuffle::Shuffle;

/// The side that answers Bob's parity queries: Alice in a reconciliation, or anything that
/// stands in for her (a replay of her logged answers in an audit). Implementations see Bob's
/// queries exactly as the channel logs them; whatever they return is all Bob learns.
pub trait Responder {
    /// Pass `pass` (0 based; BICONF rounds continue the numbering) starts with the public
    /// `shuffle` and top-level blocks of `block_size` bits: return the parities of the first
    /// `asked_blocks` blocks of the responder's key in shuffled order, `asked_blocks` bits.
    /// Called for every pass, also with `asked_blocks` = 0.
    fn pass_parities(
        &mut self,
        pass: u32,
        shuffle: &Shuffle,
        block_size: usize,
        asked_blocks: usize,
    ) -> Result<BitVec>;

    /// The parity of shuffled positions `start..end` of pass `pass`.
    fn sub_block_parity(&mut self, pass: u32, start: usize, end: usize) -> Result<bool>;
}

/// One message on the classical channel, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Bob to Alice: pass `pass` starts with a fresh public shuffle and top-level blocks of
    /// `block_size` bits; Alice, send the parities of the first `asked_blocks` blocks (Bob
    /// infers the others, see [`super::ReconcileOutcome`]).
    PassStart {
        /// Pass index, 0 based (BICONF rounds continue the numbering).
        pass: u32,
        /// Top-level block size of the pass.
        block_size: u32,
        /// Number of leading blocks whose parity Alice must send.
        asked_blocks: u32,
        /// Round of the batched exchange carrying it (see the module documentation). With
        /// nothing asked it is a one-way notice riding with this round's queries, and the
        /// top-level parities are known from the round before.
        round: u32,
        /// The public shuffle of the pass, as its round keys ([`Shuffle::round_keys`]).
        shuffle: [u32; 3],
    },
    /// Bob to Alice: send the parity of shuffled positions `start..end` of pass `pass`.
    SubBlockQuery {
        /// Pass index.
        pass: u32,
        /// First shuffled position.
        start: u32,
        /// One past the last shuffled position.
        end: u32,
        /// Round of the batched exchange carrying the query and its answer.
        round: u32,
    },
    /// Alice to Bob: parity bits, each one disclosed information about the key. The values
    /// are exactly what Bob received.
    Parities {
        /// The parity values, in the order asked.
        values: BitVec,
    },
}

impl Message {
    /// Parity bits this message discloses (zero for Bob's messages).
    pub fn disclosed_bits(&self) -> u64 {
        match self {
            Message::Parities { values } => values.len() as u64,
            _ => 0,
        }
    }
}

/// Counters of the channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Messages with queries batched per round: one per direction per round used.
    pub messages: u64,
    /// Round trips with independent queries batched: the length of the critical path of
    /// query-answer dependencies (the latency-relevant count, "channel uses").
    pub round_trips: u64,
    /// Parity bits Alice sent: the information leaked to an eavesdropper.
    pub disclosed_bits: u64,
    /// Messages if every query and every reply travelled alone.
    pub sequential_messages: u64,
    /// Round trips if every query waited for the previous one's reply.
    pub sequential_round_trips: u64,
}

/// Round `r` carries a message from Bob.
const FROM_BOB: u8 = 1;
/// Round `r` carries a reply from Alice.
const FROM_ALICE: u8 = 2;

/// The classical channel: the only way Bob learns anything about Alice's key. It owns the
/// borrow of the [`Responder`]; Bob gets the channel, so every bit he receives is counted
/// here first.
#[derive(Debug)]
pub struct Channel<'r, R: Responder + ?Sized> {
    responder: &'r mut R,
    stats: ChannelStats,
    /// Per round number, which directions carry a message (`FROM_BOB | FROM_ALICE` bits).
    rounds: Vec<u8>,
    log: Option<Vec<Message>>,
    /// Every disclosed parity as a range of a pass's shuffled key, when recording is on.
    disclosed: Option<DisclosedParities>,
    /// The first error a responder reported (or a reply of the wrong length); Bob is then
    /// handed zeros, and the reconciliation reports this error at the end.
    failure: Option<Error>,
}

impl<'r, R: Responder + ?Sized> Channel<'r, R> {
    /// A channel to `responder` that counts, and logs every message when `keep_log` is set.
    pub fn new(responder: &'r mut R, keep_log: bool) -> Channel<'r, R> {
        Channel {
            responder,
            stats: ChannelStats::default(),
            rounds: Vec::new(),
            log: keep_log.then(Vec::new),
            disclosed: None,
            failure: None,
        }
    }

    /// From now on, records every parity bit handed to Bob as the range of a pass's shuffled
    /// key of `key_bits` bits it covers (see [`DisclosedParities`]). Recording changes
    /// nothing Bob sees or the channel counts. Call before the first pass.
    pub(crate) fn record_disclosures(&mut self, key_bits: usize) {
        self.disclosed = Some(DisclosedParities::new(key_bits));
    }

    /// Takes the record of disclosed parities (None when recording was off).
    pub(crate) fn take_disclosures(&mut self) -> Option<DisclosedParities> {
        self.disclosed.take()
    }

    /// The counters so far.
    pub fn stats(&self) -> ChannelStats {
        let mut stats = self.stats;
        stats.messages = self
            .rounds
            .iter()
            .map(|&f| u64::from(f & FROM_BOB != 0) + u64::from(f & FROM_ALICE != 0))
            .sum();
        stats
    }

    /// The latest round with an exchange so far (0 before the first).
    pub(crate) fn last_round(&self) -> u32 {
        self.stats.round_trips as u32
    }

    /// Takes the message log (None when logging was off).
    pub fn take_log(&mut self) -> Option<Vec<Message>> {
        self.log.take()
    }

    /// Takes the first failure of the responder, if any.
    pub fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }

    /// Counts and logs Bob's message `m`.
    fn record_query(&mut self, m: Message) {
        self.stats.sequential_messages += 1;
        self.log_query(m);
    }

    /// Logs Bob's message `m` without counting it.
    #[inline]
    fn log_query(&mut self, m: Message) {
        if let Some(log) = &mut self.log {
            log.push(m);
        }
    }

    /// Counts and logs the parities handed to Bob.
    fn record_reply(&mut self, values: &BitVec) {
        self.stats.sequential_messages += 1;
        self.stats.sequential_round_trips += 1;
        self.stats.disclosed_bits += values.len() as u64;
        if let Some(log) = &mut self.log {
            log.push(Message::Parities {
                values: values.clone(),
            });
        }
    }

    /// Records `e` as the channel's failure unless one is recorded already (the first
    /// failure is the one reported).
    pub(crate) fn report(&mut self, e: Error) {
        if self.failure.is_none() {
            self.failure = Some(e);
        }
    }

    /// Whether the responder failed (or Bob found its answers inconsistent).
    pub(crate) fn failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Marks round `round` as carrying a message from Bob and, with `reply`, Alice's answer.
    fn mark(&mut self, round: u32, reply: bool) {
        let r = round as usize;
        if self.rounds.len() <= r {
            self.rounds.resize(r + 1, 0);
        }
        self.rounds[r] |= FROM_BOB;
        if reply {
            self.rounds[r] |= FROM_ALICE;
            self.stats.round_trips = self.stats.round_trips.max(u64::from(round));
        }
    }

    /// Bob announces a pass (shuffle and block size) in round `round` and asks for the first
    /// `asked_blocks` top-level parities. With nothing asked it is a one-way notice, not a
    /// round trip. The reply Bob gets has exactly `asked_blocks` bits, all counted.
    pub(crate) fn start_pass(
        &mut self,
        pass: u32,
        shuffle: &Shuffle,
        block_size: usize,
        asked_blocks: usize,
        round: u32,
    ) -> BitVec {
        self.record_query(Message::PassStart {
            pass,
            block_size: block_size as u32,
            asked_blocks: asked_blocks as u32,
            round,
            shuffle: shuffle.round_keys(),
        });
        let reply = match self
            .responder
            .pass_parities(pass, shuffle, block_size, asked_blocks)
        {
            Ok(reply) if reply.len() == asked_blocks => reply,
            Ok(reply) => {
                self.report(Error::InvalidArgument(format!(
                    "Cascade responder sent {} parities for pass {pass}, {asked_blocks} asked",
                    reply.len()
                )));
                BitVec::zeros(asked_blocks)
            }
            Err(e) => {
                self.report(e);
                BitVec::zeros(asked_blocks)
            }
        };
        if let Some(d) = &mut self.disclosed {
            d.start_pass(pass, shuffle);
            let n = shuffle.len();
            for b in 0..asked_blocks {
                d.push(pass, b * block_size, ((b + 1) * block_size).min(n));
            }
        }
        if asked_blocks > 0 {
            self.record_reply(&reply);
        }
        self.mark(round, asked_blocks > 0);
        reply
    }

    /// Bob asks, in round `round`, for the parity of shuffled positions `start..end` of pass
    /// `pass`.
    pub(crate) fn sub_block_parity(
        &mut self,
        pass: u32,
        start: usize,
        end: usize,
        round: u32,
    ) -> bool {
        self.log_query(Message::SubBlockQuery {
            pass,
            start: start as u32,
            end: end as u32,
            round,
        });
        let parity = match self.responder.sub_block_parity(pass, start, end) {
            Ok(p) => p,
            Err(e) => {
                self.report(e);
                false
            }
        };
        // The query and its reply, counted in one place: split between two places, the
        // compiler fused neighbouring counters into one wide load that read a counter just
        // stored alone (a store-forwarding stall on every query).
        self.stats.sequential_messages += 2;
        self.stats.sequential_round_trips += 1;
        self.stats.disclosed_bits += 1;
        if let Some(d) = &mut self.disclosed {
            d.push(pass, start, end);
        }
        if let Some(log) = &mut self.log {
            log.push(Message::Parities {
                values: BitVec::from_bools(&[parity]),
            });
        }
        self.mark(round, true);
        parity
    }
}
