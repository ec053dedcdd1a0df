//! Detection records: what one click looked like, packed in 16 bytes, and the output of one
//! engine chunk. Both engines produce these; sifting consumes them.

use crate::physics::Basis;

/// One pulse that produced at least one click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// Global pulse (gate) index.
    pub pulse: u64,
    /// Intensity class index.
    pub intensity: u8,
    /// Bit flags, see the `FLAG_*` constants.
    pub flags: u8,
}

impl Detection {
    /// Alice prepared in X (else Z).
    pub const FLAG_ALICE_X: u8 = 1;
    /// Alice's bit is 1.
    pub const FLAG_ALICE_BIT: u8 = 1 << 1;
    /// Bob measured in X (else Z).
    pub const FLAG_BOB_X: u8 = 1 << 2;
    /// Bob's bit (after squashing double clicks) is 1.
    pub const FLAG_BOB_BIT: u8 = 1 << 3;
    /// Detector 0 clicked.
    pub const FLAG_CLICK0: u8 = 1 << 4;
    /// Detector 1 clicked.
    pub const FLAG_CLICK1: u8 = 1 << 5;
    /// At least one click was a released trapped carrier (an afterpulse).
    pub const FLAG_AFTERPULSE: u8 = 1 << 6;
    /// Eve knows Alice's bit of this pulse (once the bases are announced); set only by the
    /// attacked engines (`protocol::adversary`), never part of the counts' histogram.
    pub const FLAG_EVE_KNOWS: u8 = 1 << 7;

    /// Eve knows Alice's bit.
    pub fn eve_knows(&self) -> bool {
        self.flags & Self::FLAG_EVE_KNOWS != 0
    }
    /// Alice's basis.
    pub fn alice_basis(&self) -> Basis {
        if self.flags & Self::FLAG_ALICE_X != 0 {
            Basis::X
        } else {
            Basis::Z
        }
    }
    /// Alice's bit.
    pub fn alice_bit(&self) -> bool {
        self.flags & Self::FLAG_ALICE_BIT != 0
    }
    /// Bob's basis.
    pub fn bob_basis(&self) -> Basis {
        if self.flags & Self::FLAG_BOB_X != 0 {
            Basis::X
        } else {
            Basis::Z
        }
    }
    /// Bob's bit.
    pub fn bob_bit(&self) -> bool {
        self.flags & Self::FLAG_BOB_BIT != 0
    }
    /// Both detectors clicked.
    pub fn double_click(&self) -> bool {
        self.flags & (Self::FLAG_CLICK0 | Self::FLAG_CLICK1)
            == (Self::FLAG_CLICK0 | Self::FLAG_CLICK1)
    }
    /// Detector `j` clicked.
    pub fn clicked(&self, j: usize) -> bool {
        self.flags & (Self::FLAG_CLICK0 << j) != 0
    }
    /// Alice's and Bob's bases agree (the event survives sifting).
    pub fn sifted(&self) -> bool {
        (self.flags ^ (self.flags >> 2)) & 1 == 0
    }
    /// Sifted and Bob's bit differs from Alice's.
    pub fn error(&self) -> bool {
        self.sifted() && self.alice_bit() != self.bob_bit()
    }
}

/// Everything one chunk of pulses produced, in pulse order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkOutput {
    /// Chunk index.
    pub index: u64,
    /// Global index of its first pulse.
    pub first_pulse: u64,
    /// Number of pulses in it.
    pub pulses: u64,
    /// Pulses sent per intensity class.
    pub pulses_per_intensity: Vec<u64>,
    /// Every pulse with at least one click, ascending in `pulse`.
    pub detections: Vec<Detection>,
    /// The detections sifted on their own, when the run computed that in parallel
    /// ([`super::sifting::ChunkSift`]); `None` leaves all sifting to the sequential
    /// [`super::sifting::Sifter`].
    pub sift: Option<super::sifting::ChunkSift>,
}
