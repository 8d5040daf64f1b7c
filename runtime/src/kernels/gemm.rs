//! Matrix products for the kernels.
//!
//! They go through ndarray's `general_mat_mul`, which runs `matrixmultiply`'s packed,
//! vectorised sgemm/dgemm (AVX2/FMA when the CPU has them) on any strides. Each call is
//! single-threaded: the kernels split work over disjoint output blocks with rayon, so an
//! element's sum over `k` always runs in the same order, whatever the thread count.

use crate::Float;
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `c = alpha · a · b + beta · c`.
#[inline]
pub(crate) fn gemm<T: Float>(
    alpha: T,
    a: &ArrayView2<T>,
    b: &ArrayView2<T>,
    beta: T,
    c: &mut ArrayViewMut2<T>,
) {
    general_mat_mul(alpha, a, b, beta, c);
}
