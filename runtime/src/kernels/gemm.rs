//! Matrix products for the kernels.
//!
//! They run the `gemm` crate's packed, vectorised kernels on any strides, single-threaded:
//! the kernels split work over disjoint output blocks with rayon, so the split never depends
//! on the thread count. The crate picks its kernels when the program starts: AVX-512 where the
//! CPU has it (the workspace turns on its `x86-v4` feature, without which it stops at AVX2),
//! else AVX2 and FMA, else SSE; NEON on ARM.
//!
//! Measured on this project's shapes against `matrixmultiply` (what ndarray's `dot` runs),
//! single-threaded, with `cargo bench -p cnn-runtime --bench gemm`, on the two machines the
//! project has run on (both 2-core AMD EPYC; one-core fp32 peak measured by `bench/peak.c`):
//!
//! | M × K · K × N | AVX2 (peak 39.9 GFLOP/s): matrixmultiply | gemm | AVX-512 (peak 273 GFLOP/s): matrixmultiply | gemm |
//! | --- | --- | --- | --- | --- |
//! | 512 × 576 · 576 × 64 (VGG-style conv block) | 27.8 GFLOP/s | 35.2 GFLOP/s | 102 GFLOP/s | 266 GFLOP/s |
//! | 512 × 150 · 150 × 16 (LeNet-5 conv2 block) | 23.5 GFLOP/s | 35.8 GFLOP/s | 79 GFLOP/s | 142 GFLOP/s |
//! | 64 × 400 · 400 × 120 (dense, batch 64) | 32.8 GFLOP/s | 35.6 GFLOP/s | 107 GFLOP/s | 234 GFLOP/s |
//! | 256 × 256 · 256 × 256 | 35.0 GFLOP/s | 37.6 GFLOP/s | 115 GFLOP/s | 264 GFLOP/s |

use crate::Float;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `c = alpha · a · b + beta · c` for matrices of any strides.
#[inline]
pub(crate) fn gemm<T: Float>(
    alpha: T,
    a: &ArrayView2<T>,
    b: &ArrayView2<T>,
    beta: T,
    c: &mut ArrayViewMut2<T>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert!(
        b.nrows() == k && c.dim() == (m, n),
        "gemm: {m}x{k} · {:?} into {:?}",
        b.dim(),
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.mapv_inplace(|v| {
            if beta == T::zero() {
                T::zero()
            } else {
                v * beta
            }
        });
        return;
    }
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    let read_c = beta != T::zero();
    // SAFETY: the pointers and strides come from live ndarray views whose shapes were just
    // checked to be m × k, k × n and m × n, so every element gemm reads or writes is inside
    // them; `c` is borrowed mutably, so it cannot alias `a` or `b`. gemm computes
    // `dst = alpha · dst + beta · lhs · rhs` (reading dst only when asked), hence the swap.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            read_c,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
