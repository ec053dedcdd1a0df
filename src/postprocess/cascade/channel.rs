//! The modelled classical channel between Bob (who drives Cascade) and Alice (who answers).
//!
//! Every query and every reply passes through [`Channel`], which counts messages, round trips
//! and the parity bits Alice discloses, and can keep a log of every message so tests can
//! recount the leakage independently. No sockets: the parties are objects that see only what
//! the channel hands them. Must never depend on Bob's key or the error pattern.

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
    },
    /// Bob to Alice: send the parity of shuffled positions `start..end` of pass `pass`.
    SubBlockQuery {
        /// Pass index.
        pass: u32,
        /// First shuffled position.
        start: u32,
        /// One past the last shuffled position.
        end: u32,
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
    /// Messages sent in either direction.
    pub messages: u64,
    /// Query-reply round trips (the latency-relevant count, "channel uses").
    pub round_trips: u64,
    /// Parity bits Alice sent: the information leaked to an eavesdropper.
    pub disclosed_bits: u64,
}

/// The classical channel: the only way Bob learns anything about Alice's key.
#[derive(Debug, Default)]
pub struct Channel {
    stats: ChannelStats,
    log: Option<Vec<Message>>,
}

impl Channel {
    /// A channel that counts, and logs every message when `keep_log` is set.
    pub fn new(keep_log: bool) -> Channel {
        Channel {
            stats: ChannelStats::default(),
            log: keep_log.then(Vec::new),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ChannelStats {
        self.stats
    }

    /// Takes the message log (None when logging was off).
    pub fn take_log(&mut self) -> Option<Vec<Message>> {
        self.log.take()
    }

    fn record(&mut self, m: Message) {
        self.stats.messages += 1;
        if let Message::Parities { bits } = m {
            self.stats.disclosed_bits += u64::from(bits);
        }
        if let Some(log) = &mut self.log {
            log.push(m);
        }
    }

    /// Bob announces a pass (shuffle and block size) and asks for the first `asked_blocks`
    /// top-level parities. With nothing asked it is a one-way notice, not a round trip.
    pub(crate) fn start_pass(
        &mut self,
        alice: &mut Alice<'_>,
        pass: u32,
        shuffle: &Shuffle,
        source_table: &[u32],
        block_size: usize,
        asked_blocks: usize,
    ) -> BitVec {
        self.record(Message::PassStart {
            pass,
            block_size: block_size as u32,
            asked_blocks: asked_blocks as u32,
        });
        let parities = alice.on_pass_start(shuffle, source_table, block_size, asked_blocks);
        if asked_blocks > 0 {
            self.record(Message::Parities {
                bits: asked_blocks as u32,
            });
            self.stats.round_trips += 1;
        }
        parities
    }

    /// Bob lends Alice the full source table of pass `pass`. It is public (Alice can compute
    /// it from the pass announcement), so it is neither a message nor a disclosure: lending
    /// it only spares the simulation computing it twice.
    pub(crate) fn lend_source_table(
        &mut self,
        alice: &mut Alice<'_>,
        pass: u32,
        source_table: &[u32],
    ) {
        alice.on_source_table(pass as usize, source_table);
    }

    /// Bob asks for the parity of shuffled positions `start..end` of pass `pass`.
    pub(crate) fn sub_block_parity(
        &mut self,
        alice: &mut Alice<'_>,
        pass: u32,
        start: usize,
        end: usize,
    ) -> bool {
        self.record(Message::SubBlockQuery {
            pass,
            start: start as u32,
            end: end as u32,
        });
        let parity = alice.on_sub_block_query(pass as usize, start, end);
        self.record(Message::Parities { bits: 1 });
        self.stats.round_trips += 1;
        parity
    }
}
