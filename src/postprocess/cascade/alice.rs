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
use super::shuffle::{FEW_BLOCKS, Shuffle, ShuffleScratch};

/// Alice: answers parity queries about her key under the announced shuffles.
#[derive(Debug)]
pub(crate) struct Alice<'a> {
    key: &'a BitVec,
    /// Each announced pass: its shuffle and her key in its shuffled order, built at the
    /// first sub-block query when the pass has at most [`FEW_BLOCKS`] blocks (their
    /// parities come from [`Shuffle::block_parities`]), else at once.
    passes: Vec<(Shuffle, Option<BitVec>)>,
    /// Buffers for applying the shuffles.
    scratch: ShuffleScratch,
    /// Scratch of [`block_parities`].
    prefix: Vec<u64>,
}

impl<'a> Alice<'a> {
    pub(crate) fn new(key: &'a BitVec) -> Alice<'a> {
        Alice {
            key,
            passes: Vec::new(),
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
        if shuffle.len().div_ceil(block_size) <= FEW_BLOCKS {
            let parities =
                shuffle.block_parities(self.key, block_size, asked_blocks, &mut self.scratch);
            self.passes.push((shuffle.clone(), None));
            return Ok(parities);
        }
        let shuffled = shuffle.apply_with(self.key, &mut self.scratch);
        let parities = block_parities(&shuffled, block_size, asked_blocks, &mut self.prefix);
        self.passes.push((shuffle.clone(), Some(shuffled)));
        Ok(parities)
    }

    /// Parity of shuffled positions `start..end` of pass `pass`.
    #[inline]
    fn sub_block_parity(&mut self, pass: u32, start: usize, end: usize) -> Result<bool> {
        let (shuffle, shuffled) = &mut self.passes[pass as usize];
        let shuffled =
            shuffled.get_or_insert_with(|| shuffle.apply_with(self.key, &mut self.scratch));
        Ok(parity(shuffled, start, end))
    }
}
