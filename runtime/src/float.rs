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
}

impl Float for f32 {
    fn lit(value: f64) -> Self {
        value as f32
    }
    fn to_f64_lossy(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    fn lit(value: f64) -> Self {
        value
    }
    fn to_f64_lossy(self) -> f64 {
        self
    }
}
