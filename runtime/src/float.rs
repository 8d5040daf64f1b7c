//! The scalar types kernels run on: `f32` for speed, `f64` for gradient checks.

use ndarray::{LinalgScalar, ScalarOperand};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point element type for tensors and kernels.
pub trait Float:
    num_traits::Float
    + LinalgScalar
    + ScalarOperand
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// Converts a constant; exact for the constants kernels use.
    fn lit(value: f64) -> Self;
    /// Converts to f64, for tests and reporting.
    fn to_f64_lossy(self) -> f64;

    /// `tanh(x)`. f64 uses the library's; f32 a branch-free approximation that vectorises,
    /// accurate to a few units in the last place (see [`tanh_f32`]).
    #[inline(always)]
    fn fast_tanh(self) -> Self {
        self.tanh()
    }

    /// An integer that orders as the value does, for branch-free maxima.
    type OrderKey: Copy + Ord + Send + Sync;

    /// The value's [`Self::OrderKey`]: larger numbers have larger keys (−0 just below +0),
    /// and every NaN the largest key, so a maximum over keys propagates NaN. Compilers turn
    /// a select on a float comparison into a jump when they do not vectorise the loop (and
    /// on activations the jump is mispredicted half the time); on integers it stays a
    /// conditional move.
    fn order_key(self) -> Self::OrderKey;

    /// The value whose key is `key` (a NaN for the key of NaN).
    fn from_order_key(key: Self::OrderKey) -> Self;
}

impl Float for f32 {
    fn lit(value: f64) -> Self {
        value as f32
    }
    fn to_f64_lossy(self) -> f64 {
        self as f64
    }
    type OrderKey = i32;
    #[inline(always)]
    fn order_key(self) -> i32 {
        // Negative numbers have their magnitude bits flipped, so they order backwards.
        let bits = self.to_bits() as i32;
        let key = bits ^ ((bits >> 31) as u32 >> 1) as i32;
        if self.is_nan() {
            i32::MAX
        } else {
            key
        }
    }
    #[inline(always)]
    fn from_order_key(key: i32) -> f32 {
        f32::from_bits((key ^ ((key >> 31) as u32 >> 1) as i32) as u32)
    }
    #[inline(always)]
    fn fast_tanh(self) -> Self {
        tanh_f32(self)
    }
}

/// `tanh(x)` as the rational function `x · P(x²) / Q(x²)` that Lambert's continued fraction
/// `x / (1 + x²/(3 + x²/(5 + …)))` gives when truncated after twelve terms (degree 6 in x²
/// above and below, scaled so that both start at 1), on `x` clamped to `[−9, 9]` where
/// `tanh` is within 3·10⁻⁸ of ±1. The truncation error is below 4·10⁻⁸ relative; evaluated
/// in f32 the result is within 4·10⁻⁷ of `tanh`. Unlike libm's `tanhf` it has no branches
/// and one division, so a loop over a tensor vectorises.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub fn tanh_f32(x: f32) -> f32 {
    const P: [f32; 7] = [
        1.0,
        0.146_666_67,
        5.217_391_3e-3,
        6.625_259e-5,
        3.228_683_7e-7,
        5.179_706_4e-10,
        1.264_885_6e-13,
    ];
    const Q: [f32; 7] = [
        1.0,
        0.48,
        3.188_405_8e-2,
        6.625_259e-4,
        5.230_467_5e-6,
        1.519_380_5e-8,
        1.151_045_9e-11,
    ];
    let x = x.clamp(-9.0, 9.0);
    let y = x * x;
    let p = ((((((P[6] * y + P[5]) * y + P[4]) * y + P[3]) * y + P[2]) * y + P[1]) * y) + P[0];
    let q = ((((((Q[6] * y + Q[5]) * y + Q[4]) * y + Q[3]) * y + Q[2]) * y + Q[1]) * y) + Q[0];
    // Rounding can step just past ±1 near the clamp; tanh never does.
    (x * p / q).clamp(-1.0, 1.0)
}

impl Float for f64 {
    fn lit(value: f64) -> Self {
        value
    }
    fn to_f64_lossy(self) -> f64 {
        self
    }
    type OrderKey = i64;
    #[inline(always)]
    fn order_key(self) -> i64 {
        let bits = self.to_bits() as i64;
        let key = bits ^ ((bits >> 63) as u64 >> 1) as i64;
        if self.is_nan() {
            i64::MAX
        } else {
            key
        }
    }
    #[inline(always)]
    fn from_order_key(key: i64) -> f64 {
        f64::from_bits((key ^ ((key >> 63) as u64 >> 1) as i64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::{tanh_f32, Float};

    #[test]
    fn order_keys_order_as_the_values_and_put_nan_on_top() {
        let values = [
            f32::NEG_INFINITY,
            -3.5,
            -1e-30,
            -0.0,
            0.0,
            1e-40,
            2.0,
            f32::MAX,
            f32::INFINITY,
        ];
        for pair in values.windows(2) {
            assert!(pair[0].order_key() < pair[1].order_key(), "{pair:?}");
            assert!((pair[0] as f64).order_key() < (pair[1] as f64).order_key());
        }
        for v in values {
            assert_eq!(f32::from_order_key(v.order_key()).to_bits(), v.to_bits());
            assert!(f32::NAN.order_key() > v.order_key());
            assert!((-f32::NAN).order_key() > v.order_key());
            assert!(f64::NAN.order_key() > (v as f64).order_key());
        }
        assert!(f32::from_order_key(f32::NAN.order_key()).is_nan());
        assert!(f64::from_order_key(f64::NAN.order_key()).is_nan());
    }

    #[test]
    fn fast_tanh_is_close_to_tanh() {
        let mut worst = 0.0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3;
            let exact = (x as f64).tanh();
            let error = (tanh_f32(x) as f64 - exact).abs() / exact.abs().max(1e-30);
            worst = worst.max(if x == 0.0 { 0.0 } else { error });
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(tanh_f32(0.0), 0.0);
        assert_eq!(tanh_f32(100.0), tanh_f32(9.0));
        assert!((-1.0..=1.0).contains(&tanh_f32(-9.0)));
        assert!(tanh_f32(f32::NAN).is_nan());
    }
}
