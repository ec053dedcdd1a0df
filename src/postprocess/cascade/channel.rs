//! The modelled classical channel between Bob (who drives Cascade) and Alice (who answers).
//!
//! Every query and every reply passes through [`Channel`], which counts messages, round trips
//! and the parity bits Alice discloses, and can keep a log of every message so tests can
//! recount the leakage independently. No sockets: the parties are objects that see only what
//! the channel hands them. Must never depend on Bob's key or the error pattern.
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

use super::parties::Alice;
use super::shuffle::Shuffle;

/// One message on the classical channel, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Alice to Bob: `bits` parity bits, each one disclosed information about the key.
    Parities {
        /// Number of parity bits carried.
        bits: u32,
    },
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

/// The classical channel: the only way Bob learns anything about Alice's key.
#[derive(Debug, Default)]
pub struct Channel {
    stats: ChannelStats,
    /// Per round number, which directions carry a message (`FROM_BOB | FROM_ALICE` bits).
    rounds: Vec<u8>,
    log: Option<Vec<Message>>,
}

impl Channel {
    /// A channel that counts, and logs every message when `keep_log` is set.
    pub fn new(keep_log: bool) -> Channel {
        Channel {
            stats: ChannelStats::default(),
            rounds: Vec::new(),
            log: keep_log.then(Vec::new),
        }
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

    fn record(&mut self, m: Message) {
        self.stats.sequential_messages += 1;
        if let Message::Parities { bits } = m {
            self.stats.disclosed_bits += u64::from(bits);
        }
        if let Some(log) = &mut self.log {
            log.push(m);
        }
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
    /// round trip.
    pub(crate) fn start_pass(
        &mut self,
        alice: &mut Alice<'_>,
        pass: u32,
        shuffle: &Shuffle,
        block_size: usize,
        asked_blocks: usize,
        round: u32,
    ) -> BitVec {
        self.record(Message::PassStart {
            pass,
            block_size: block_size as u32,
            asked_blocks: asked_blocks as u32,
            round,
        });
        let parities = alice.on_pass_start(shuffle, block_size, asked_blocks);
        if asked_blocks > 0 {
            self.record(Message::Parities {
                bits: asked_blocks as u32,
            });
            self.stats.sequential_round_trips += 1;
        }
        self.mark(round, asked_blocks > 0);
        parities
    }

    /// Bob asks, in round `round`, for the parity of shuffled positions `start..end` of pass
    /// `pass`.
    pub(crate) fn sub_block_parity(
        &mut self,
        alice: &mut Alice<'_>,
        pass: u32,
        start: usize,
        end: usize,
        round: u32,
    ) -> bool {
        self.record(Message::SubBlockQuery {
            pass,
            start: start as u32,
            end: end as u32,
            round,
        });
        let parity = alice.on_sub_block_query(pass as usize, start, end);
        self.record(Message::Parities { bits: 1 });
        self.stats.sequential_round_trips += 1;
        self.mark(round, true);
        parity
    }
}
