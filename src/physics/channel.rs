//! The fibre: attenuation and lumped extra loss.
//!
//! eta_ch = 10^(-(alpha L + extra_loss_db)/10) (Lo, Ma, Chen, PRL 94, 230504, 2005,
//! Eq. 6, with the lumped loss added in dB). Must never depend on anything but `units`.

use crate::units::db_to_transmittance;

/// A fibre of given length, attenuation and extra loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Channel {
    /// Length L in km.
    pub length_km: f64,
    /// Attenuation alpha in dB/km.
    pub attenuation_db_per_km: f64,
    /// Extra (connector, splice, attenuator) loss in dB.
    pub extra_loss_db: f64,
}

impl Channel {
    /// A fibre.
    pub fn new(length_km: f64, attenuation_db_per_km: f64, extra_loss_db: f64) -> Channel {
        Channel {
            length_km,
            attenuation_db_per_km,
            extra_loss_db,
        }
    }

    /// Total loss in dB.
    pub fn loss_db(&self) -> f64 {
        self.attenuation_db_per_km * self.length_km + self.extra_loss_db
    }

    /// Power transmittance eta_ch.
    pub fn transmittance(&self) -> f64 {
        db_to_transmittance(self.loss_db())
    }

    /// The same fibre at another length.
    pub fn with_length(&self, length_km: f64) -> Channel {
        Channel { length_km, ..*self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hundred_km_at_point_two_db() {
        // 20 dB -> 1e-2 exactly.
        let c = Channel::new(100.0, 0.2, 0.0);
        assert!((c.transmittance() - 1e-2).abs() < 1e-16);
        assert!((Channel::new(50.0, 0.2, 3.0).loss_db() - 13.0).abs() < 1e-12);
    }
}
