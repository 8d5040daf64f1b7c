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
}

impl Float for f32 {
    fn lit(value: f64) -> Self {
        value as f32
    }
    fn to_f64_lossy(self) -> f64 {
        self as f64
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
}

#[cfg(test)]
mod tests {
    use super::tanh_f32;

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
