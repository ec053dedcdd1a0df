//! Alice: holds the reference key and only answers parity queries, as the [`Responder`]
//! behind the [`super::Channel`].
//!
//! Her fields are private to this module, so Bob (module `bob`) cannot read her key even by
//! accident: Rust's privacy is per module, and Bob only ever holds a channel, never Alice.
//! Must never depend on Bob, the error pattern, or anything outside `bits` and this module's
//! siblings `parity` and `shuffle`.

use crate::bits::BitVec;
use crate::error::Result;

use super::channel::Responder;
use super::parity::{block_parities, parity};
use super::shuffle::{Shuffle, ShuffleScratch};

/// Alice: answers parity queries about her key under the announced shuffles.
#[derive(Debug)]
pub(crate) struct Alice<'a> {
    key: &'a BitVec,
    /// Her key in the shuffled order of each announced pass.
    shuffled: Vec<BitVec>,
    /// Buffers for applying the shuffles.
    scratch: ShuffleScratch,
    /// Scratch of [`block_parities`].
    prefix: Vec<u64>,
}

impl<'a> Alice<'a> {
    pub(crate) fn new(key: &'a BitVec) -> Alice<'a> {
        Alice {
            key,
            shuffled: Vec::new(),
            scratch: ShuffleScratch::default(),
            prefix: Vec::new(),
        }
    }
}

impl Responder for Alice<'_> {
    /// A new pass with public shuffle `shuffle`: the parities of the first `asked_blocks`
    /// top-level blocks of `block_size` bits, from her key in shuffled order.
    fn pass_parities(
        &mut self,
        _pass: u32,
        shuffle: &Shuffle,
        block_size: usize,
        asked_blocks: usize,
    ) -> Result<BitVec> {
        let shuffled = shuffle.apply_with(self.key, &mut self.scratch);
        let parities = block_parities(&shuffled, block_size, asked_blocks, &mut self.prefix);
        self.shuffled.push(shuffled);
        Ok(parities)
    }

    /// Parity of shuffled positions `start..end` of pass `pass`.
    #[inline]
    fn sub_block_parity(&mut self, pass: u32, start: usize, end: usize) -> Result<bool> {
        Ok(parity(&self.shuffled[pass as usize], start, end))
    }
}
