//! A buffered source of 16-bit uniform words over one ChaCha8 stream, for the engines' hot
//! loops: the pulse engine reads one word per pulse from one source and takes any further
//! bits from a second, auxiliary source.

use crate::rng::ChaCha8Rng;
use rand::RngExt;

const BUF_WORDS: usize = 1024;

/// The word the hot loops read per pulse.
pub type Word = u16;

/// Buffered 16-bit words from a ChaCha8 stream, consumed in order.
pub struct WordSource {
    rng: ChaCha8Rng,
    buf: Box<[Word; BUF_WORDS]>,
    pos: usize,
}

impl WordSource {
    /// Wraps a stream.
    pub fn new(rng: ChaCha8Rng) -> WordSource {
        WordSource {
            rng,
            buf: Box::new([0; BUF_WORDS]),
            pos: BUF_WORDS,
        }
    }

    fn refill(&mut self) {
        // Little-endian words of the byte stream, filled in place.
        self.rng.fill(&mut self.buf[..]);
        self.pos = 0;
    }

    /// The unread words of the buffer (refilled when empty); mark them used with
    /// [`WordSource::consume`].
    #[inline]
    pub fn available(&mut self) -> &[Word] {
        if self.pos == BUF_WORDS {
            self.refill();
        }
        &self.buf[self.pos..]
    }

    /// Marks `n` words of [`WordSource::available`] as used.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    /// One word.
    #[inline]
    pub fn next_word(&mut self) -> Word {
        if self.pos == BUF_WORDS {
            self.refill();
        }
        let w = self.buf[self.pos];
        self.pos += 1;
        w
    }

    /// 32 bits from two words (high word first).
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        let hi = self.next_word() as u32;
        (hi << 16) | self.next_word() as u32
    }

    /// 64 bits from four words (high word first).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        (hi << 32) | self.next_u32() as u64
    }

    /// A uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform in (0, 1], for logarithms.
    #[inline]
    pub fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }
}

/// Uniform draws from either source: what the detector-memory updates
/// ([`crate::protocol::engine`]'s trapping and release delays) need, so the engines share
/// one implementation of them.
pub trait Uniforms {
    /// A uniform in [0, 1) with 53 random bits.
    fn uniform(&mut self) -> f64;
    /// A uniform in (0, 1], for logarithms.
    fn uniform_open0(&mut self) -> f64;
}

impl Uniforms for WordSource {
    #[inline]
    fn uniform(&mut self) -> f64 {
        WordSource::uniform(self)
    }
    #[inline]
    fn uniform_open0(&mut self) -> f64 {
        WordSource::uniform_open0(self)
    }
}

impl Uniforms for U64Source {
    #[inline]
    fn uniform(&mut self) -> f64 {
        U64Source::uniform(self)
    }
    #[inline]
    fn uniform_open0(&mut self) -> f64 {
        U64Source::uniform_open0(self)
    }
}

/// Buffered 64-bit words of a ChaCha8 stream, consumed in order: the event engine's source
/// (one word per click in its hot loop). The buffer is filled from the stream's bytes
/// (little-endian words), so the words are those of the stream read 8 bytes at a time.
pub struct U64Source {
    rng: ChaCha8Rng,
    buf: Box<[u64; U64_BUF]>,
    pos: usize,
}

/// Words per refill of a [`U64Source`] (a power of two: the index is masked, not checked).
const U64_BUF: usize = 512;

impl U64Source {
    /// Wraps a stream.
    pub fn new(rng: ChaCha8Rng) -> U64Source {
        U64Source {
            rng,
            buf: Box::new([0; U64_BUF]),
            pos: U64_BUF,
        }
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self) {
        self.rng.fill(&mut self.buf[..]);
        self.pos = 0;
    }

    /// One word.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        if self.pos >= U64_BUF {
            self.refill();
        }
        let w = self.buf[self.pos & (U64_BUF - 1)];
        self.pos += 1;
        w
    }

    /// A uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform in (0, 1], for logarithms.
    #[inline]
    pub fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }
}
