//! The Cascade variants and their block-size schedules, named as in Martinez-Mateo, Pacher,
//! Peev, Ciurana and Martin, "Demystifying the information reconciliation protocol Cascade",
//! QIC 15 (2015) 453 ("Demystifying" below).
//!
//! Pure parameter arithmetic: must never depend on keys, channels or any other module.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A Cascade variant: block sizes, number of passes, and whether sub-block parities are reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CascadeVariant {
    /// Brassard and Salvail 1993: 4 passes, k1 = 0.73/Q, k_i = 2 k_{i-1}.
    Original,
    /// Cascade followed by BICONF (Buttler et al. 2003; "Cascade mod. (1)" in Demystifying):
    /// 2 passes with k1 = 0.92/Q, k2 = 3 k1, then BICONF rounds until 10 in a row find no
    /// error.
    Biconf,
    /// Yan et al. 2008 ("Cascade opt. (2)" in Demystifying): 10 passes, k1 = 0.8/Q,
    /// k2 = 5 k1, k_i = n/2 for i >= 3.
    YanEtAl,
    /// Demystifying "Cascade opt. (7)": 14 passes, k1 = 2^ceil(log2(1/Q)), k2 = 4 k1,
    /// k_i = n/2 for i >= 3, with sub-block reuse.
    Option7,
    /// Demystifying "Cascade opt. (8)": 14 passes, with a = log2(1/Q) - 1/2:
    /// k1 = 2^ceil(a), k2 = 2^ceil((a + 12)/2), k3 = 4096, k_i = n/2 for i >= 4,
    /// with sub-block reuse.
    Option8,
}

impl CascadeVariant {
    /// Every variant, in the order of the documentation.
    pub const ALL: [CascadeVariant; 5] = [
        CascadeVariant::Original,
        CascadeVariant::Biconf,
        CascadeVariant::YanEtAl,
        CascadeVariant::Option7,
        CascadeVariant::Option8,
    ];

    /// The command-line and scenario name of the variant.
    pub fn name(&self) -> &'static str {
        match self {
            CascadeVariant::Original => "original",
            CascadeVariant::Biconf => "biconf",
            CascadeVariant::YanEtAl => "yanetal",
            CascadeVariant::Option7 => "option7",
            CascadeVariant::Option8 => "option8",
        }
    }

    /// The allowed names, comma separated (for error messages).
    pub fn allowed_names() -> String {
        CascadeVariant::ALL
            .iter()
            .map(|v| v.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The block-size schedule of this variant for `n` bits and QBER estimate `qber`.
    pub fn schedule(&self, qber: f64, n: usize) -> Schedule {
        // Demystifying (and every implementation we know of) needs a positive estimate; a
        // run that observed no errors still gets finite blocks. 1e-5 keeps k1 <= 1e5.
        let q = if qber.is_finite() {
            qber.clamp(MIN_QBER_ESTIMATE, 0.5)
        } else {
            0.5
        };
        let half = n.div_ceil(2);
        let (sizes, biconf, reuse): (Vec<usize>, Option<BiconfRule>, bool) = match self {
            CascadeVariant::Original => {
                // Brassard-Salvail 1993, sec. 4: k1 ~ 0.73/p, doubling each pass, 4 passes.
                let k1 = ceil_ratio(0.73, q);
                (vec![k1, 2 * k1, 4 * k1, 8 * k1], None, false)
            }
            CascadeVariant::Biconf => {
                // Demystifying sec. 4, "Cascade mod. (1)": k1 = 0.92/p, k2 = 3 k1, then
                // BICONF (Buttler et al. 2003) until a streak of 10 error-free rounds.
                let k1 = ceil_ratio(0.92, q);
                let rule = BiconfRule {
                    error_free_streak: 10,
                    max_rounds: 64,
                };
                (vec![k1, 3 * k1], Some(rule), false)
            }
            CascadeVariant::YanEtAl => {
                // Yan et al. 2008: k1 = 0.8/p, k2 = 5 k1, then n/2 for passes 3..10.
                let k1 = ceil_ratio(0.8, q);
                let mut s = vec![k1, 5 * k1];
                s.extend(std::iter::repeat_n(half, 8));
                (s, None, false)
            }
            CascadeVariant::Option7 => {
                // Demystifying sec. 5, option (7): powers of two, 14 passes, reuse.
                let k1 = pow2_ceil((1.0 / q).log2());
                let mut s = vec![k1, 4 * k1];
                s.extend(std::iter::repeat_n(half, 12));
                (s, None, true)
            }
            CascadeVariant::Option8 => {
                // Demystifying sec. 5, option (8): a = log2(1/p) - 1/2, k1 = 2^ceil(a),
                // k2 = 2^ceil((a + 12)/2), k3 = 2^12, then n/2; 14 passes, reuse.
                let a = (1.0 / q).log2() - 0.5;
                let mut s = vec![pow2_ceil(a), pow2_ceil((a + 12.0) / 2.0), 4096];
                s.extend(std::iter::repeat_n(half, 11));
                (s, None, true)
            }
        };
        let block_sizes = sizes.into_iter().map(|k| k.clamp(1, n.max(1))).collect();
        Schedule {
            block_sizes,
            biconf,
            sub_block_reuse: reuse,
        }
    }
}

/// Smallest QBER estimate used to size blocks (below it the first block would exceed any
/// realistic key).
pub const MIN_QBER_ESTIMATE: f64 = 1e-5;

/// ceil(c / q) as a block size; the small slack keeps float noise (0.8 / 0.02 =
/// 40.000000000000004) from adding a bit to a block that the paper's formula makes exact.
fn ceil_ratio(c: f64, q: f64) -> usize {
    ((c / q) * (1.0 - 1e-12)).ceil().max(1.0) as usize
}

/// 2^ceil(x) as a block size (at least 1).
fn pow2_ceil(x: f64) -> usize {
    let e = x.ceil().clamp(0.0, 62.0) as u32;
    1usize << e
}

impl fmt::Display for CascadeVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CascadeVariant {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        CascadeVariant::ALL
            .into_iter()
            .find(|v| v.name() == wanted)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown Cascade variant '{s}'; allowed: {}",
                    CascadeVariant::allowed_names()
                ))
            })
    }
}

/// When the BICONF rounds of the `biconf` variant stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BiconfRule {
    /// Stop after this many consecutive rounds that found no error.
    pub error_free_streak: u32,
    /// Hard cap on BICONF rounds, so a pathological key cannot loop for long.
    pub max_rounds: u32,
}

/// The block sizes of the Cascade passes and the extra rules of a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Top-level block size of each normal pass, already clamped to `1..=n`.
    pub block_sizes: Vec<usize>,
    /// BICONF rounds after the normal passes, if any.
    pub biconf: Option<BiconfRule>,
    /// Whether every disclosed sub-block parity is kept as a check in its own right
    /// (Demystifying sec. 5, "reuse of sub-block parities"), so the cascade effect can start
    /// a search in a sub-block whose top-level block has even errors.
    pub sub_block_reuse: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_errors_list_allowed() {
        for v in CascadeVariant::ALL {
            assert_eq!(v.name().parse::<CascadeVariant>().unwrap(), v);
        }
        let e = "nope".parse::<CascadeVariant>().unwrap_err().to_string();
        assert!(
            e.contains("original, biconf, yanetal, option7, option8"),
            "{e}"
        );
    }

    #[test]
    fn schedules_match_the_papers() {
        let n = 100_000;
        let s = CascadeVariant::Original.schedule(0.02, n);
        assert_eq!(s.block_sizes, vec![37, 74, 148, 296]);
        let s = CascadeVariant::YanEtAl.schedule(0.02, n);
        assert_eq!(s.block_sizes.len(), 10);
        assert_eq!(&s.block_sizes[..3], &[40, 200, 50_000]);
        let s = CascadeVariant::Option7.schedule(0.02, n);
        assert_eq!(&s.block_sizes[..3], &[64, 256, 50_000]);
        assert_eq!(s.block_sizes.len(), 14);
        // a = log2(50) - 0.5 = 5.14: k1 = 2^6, k2 = 2^ceil(8.57) = 2^9.
        let s = CascadeVariant::Option8.schedule(0.02, n);
        assert_eq!(&s.block_sizes[..4], &[64, 512, 4096, 50_000]);
        let s = CascadeVariant::Biconf.schedule(0.02, n);
        assert_eq!(s.block_sizes, vec![46, 138]);
        assert!(s.biconf.is_some());
        // Tiny keys: every block size is clamped into 1..=n.
        let s = CascadeVariant::Option8.schedule(0.01, 3);
        assert!(s.block_sizes.iter().all(|&k| (1..=3).contains(&k)));
    }
}
