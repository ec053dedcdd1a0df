//! A table-driven natural logarithm for the event engine's geometric gaps: ln u for a
//! uniform u in (0, 1), several times cheaper than the C library's `log` here, with an
//! error bound (tested against `f64::ln`) that keeps the gap law at f64 resolution.
//!
//! # Method
//! The classic table method (Tang, "Table-driven implementation of the logarithm function
//! in IEEE floating-point arithmetic", ACM TOMS 16, 1990; the same reduction as the ARM
//! optimized-routines `log` that glibc 2.28+ ships): write u = 2^k z with z in
//! [0.6875, 1.375) (k <= 0 for u < 1), pick the table interval i of z (1024 intervals of
//! equal width in z's bit pattern), whose exactly representable centre c_i has a stored
//! reciprocal 1/c_i and logarithm ln c_i, and use
//!
//! ln u = k ln 2 + ln c_i + ln(1 + r),   r = (z - c_i) / c_i,
//!
//! with ln(1 + r) = r - r^2/2 + r^3/3 - r^4/4 + R (Taylor). z - c_i is
//! exact (Sterbenz: c_i / 2 <= z <= 2 c_i), so r carries only the rounding of one product.
//! k ln 2 is split into a high part with 11 trailing zero bits (k ln2_hi is exact for
//! |k| < 2^11) and a low part, as in Tang's method, and the sum is compensated.
//!
//! # Error bound
//! |r| <= 2^-11 (half an interval: 2^-12 in [0.6875, 1), 2^-11 in [1, 1.375), over c_i >=
//! 0.6875 resp. >= 1), so the truncation error |R| <= |r|^5 / 5 / (1 - |r|) < 2^-57. The
//! stored ln c_i come from `f64::ln` (within 1 ulp of values below 0.38 in magnitude:
//! < 2^-54), r's rounding contributes < 2^-61, and the final additions about half an ulp
//! of the result. Hence |computed - ln u| <= 2^-53 (1 + |ln u|) with margin, which the
//! tests check against `f64::ln` over every table interval and 10^6 random arguments
//! with the looser bound 2^-52 (1 + |ln u|) (allowing for `f64::ln`'s own error).
//!
//! # Why that is f64 resolution for the gap law
//! The event engine's gap is G = floor(ln u / ln(1 - c)), and G >= n exactly when u <=
//! (1 - c)^n = b_n. An absolute error d in ln u moves the boundary b_n by at most
//! b_n |d| (1 + |d|), i.e. changes P(G >= n) by at most b_n 2^-53 (1 + |ln b_n|) (1 + ..)
//! <= 2^-53 (b_n + 1/e) < 2^-52: below the resolution of the uniform itself (2^-52, the
//! engine's u has 52 random bits) and of the f64 probabilities the law is built from.
//!
//! Must never depend on anything outside `std`.

use std::sync::LazyLock;

/// Table intervals (2^10; 24 KiB of table).
const N: usize = 1024;
/// Bits of z's pattern below the table index.
const SHIFT: u32 = 52 - N.trailing_zeros();
/// Bit pattern of 0.6875, the low end of the reduced range [0.6875, 1.375).
const OFF: u64 = 0x3fe6_0000_0000_0000;
/// ln 2 rounded to 42 significant bits (11 trailing zero bits): k ln2_hi is exact for
/// |k| < 2^11 (Tang 1990; the same split as the ARM optimized-routines `log`).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fefa_3800);
/// ln 2 - LN2_HI, rounded.
const LN2_LO: f64 = f64::from_bits(0x3d2e_f357_93c7_6730);

/// Per interval: centre c_i, 1 / c_i and ln c_i.
#[derive(Debug)]
pub struct LogTable {
    entries: [[f64; 3]; N],
}

static TABLE: LazyLock<LogTable> = LazyLock::new(|| {
    let mut entries = [[0.0; 3]; N];
    for (i, e) in entries.iter_mut().enumerate() {
        let lo = f64::from_bits(OFF + ((i as u64) << SHIFT));
        let hi = f64::from_bits(OFF + ((i as u64 + 1) << SHIFT));
        // lo and hi share their binade (or hi is its upper end) and have few significant
        // bits, so the centre is exact.
        let c = 0.5 * (lo + hi);
        *e = [c, 1.0 / c, c.ln()];
    }
    LogTable { entries }
});

/// The shared table (built on first use).
pub fn table() -> &'static LogTable {
    &TABLE
}

impl LogTable {
    /// ln u for a normal, positive u below 2 (the engine passes u in (0, 1)); see the
    /// module doc for the method and the error bound.
    #[inline(always)]
    pub fn ln(&self, u: f64) -> f64 {
        let bits = u.to_bits();
        let tmp = bits.wrapping_sub(OFF);
        let i = ((tmp >> SHIFT) as usize) & (N - 1);
        let k = (tmp as i64) >> 52;
        let z = f64::from_bits(bits.wrapping_sub(tmp & (0xfff << 52)));
        let [c, inv_c, ln_c] = self.entries[i];
        let r = (z - c) * inv_c;
        let kd = k as f64;
        let w = kd * LN2_HI + ln_c;
        let hi = w + r;
        let lo = w - hi + r + kd * LN2_LO;
        let r2 = r * r;
        let p = r2 * ((-0.5 + r * (1.0 / 3.0)) + r2 * -0.25);
        hi + (lo + p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(u: f64) {
        let got = table().ln(u);
        let want = u.ln();
        let bound = f64::EPSILON * (1.0 + want.abs());
        assert!(
            (got - want).abs() <= bound,
            "u = {u:e}: {got:e} vs {want:e}, error {:e} > {bound:e}",
            (got - want).abs()
        );
    }

    #[test]
    fn split_of_ln2_is_exact_enough() {
        assert_eq!(LN2_HI.to_bits() & 0x7ff, 0, "11 trailing zero bits");
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
        assert!(LN2_LO.abs() < 1e-12);
    }

    #[test]
    fn table_intervals_are_centred_and_cover_the_reduced_range() {
        let t = table();
        for i in 0..N {
            let lo = f64::from_bits(OFF + ((i as u64) << SHIFT));
            let hi = f64::from_bits(OFF + ((i as u64 + 1) << SHIFT));
            let [c, _, _] = t.entries[i];
            assert!(lo < c && c < hi && c - lo == hi - c);
            assert!((hi - lo) / 2.0 / c <= 1.0 / 2048.0, "|r| <= 2^-11");
        }
        assert_eq!(f64::from_bits(OFF), 0.6875);
        assert_eq!(f64::from_bits(OFF + ((N as u64) << SHIFT)), 1.375);
    }

    #[test]
    fn agrees_with_std_ln_at_every_interval_edge_and_binade() {
        for i in 0..=N as u64 {
            let edge = OFF + (i << SHIFT);
            for b in [edge - 1, edge, edge + 1, edge + (1 << (SHIFT - 1))] {
                let z = f64::from_bits(b);
                for k in 0..60 {
                    let u = z * 2f64.powi(-k);
                    if u < 1.0 && u > 0.0 {
                        check(u);
                    }
                }
            }
        }
        for u in [
            f64::MIN_POSITIVE,
            2f64.powi(-53),
            0.5,
            0.75,
            1.0 - f64::EPSILON / 2.0,
            1.0 - 2f64.powi(-30),
        ] {
            check(u);
        }
    }

    #[test]
    fn agrees_with_std_ln_on_random_engine_uniforms() {
        // The engine's uniforms: (w + 1/2) 2^-52 for a 52-bit w, from a fixed generator
        // (SplitMix64) over the whole range, and clustered near 1 and near 0.
        let mut s = 0x1234_5678u64;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for n in 0..1_000_000 {
            let w = next() & ((1 << 52) - 1);
            let w = match n % 3 {
                0 => w,
                1 => (1 << 52) - 1 - (w >> (n % 50)),
                _ => w >> (n % 52),
            };
            check((w as f64 + 0.5) * (1.0 / (1u64 << 52) as f64));
        }
    }
}
