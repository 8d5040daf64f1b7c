//! Forward and backward kernels: free functions over ndarray views with explicit outputs.
//!
//! Shapes are checked once, up front, and reported as [`KernelError`]; inside, kernels
//! assume them. Parallel work is split over disjoint output chunks, and every reduction has
//! a fixed order, so results do not depend on the number of threads.

pub mod activation;
pub mod conv;
pub mod dense;
mod gemm;
pub mod loss;
pub mod norm;
pub mod pool;
pub mod shape_ops;
pub(crate) mod simd;

pub use activation::Activation;

/// Work (multiply-accumulates, or comparable element operations) below which a parallel
/// task is not split off: waking another thread costs microseconds, which small layers at
/// batch 1 would otherwise pay many times over.
pub(crate) const MIN_TASK_WORK: usize = 1 << 18;

/// The fewest items of `work_per_item` that one parallel task takes.
pub(crate) fn min_items(work_per_item: usize) -> usize {
    (MIN_TASK_WORK / work_per_item.max(1)).max(1)
}

/// A kernel was called with shapes that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("{what} has shape {got:?}, expected {expected:?}")]
    Shape {
        what: &'static str,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    #[error("invalid geometry: {0}")]
    Geometry(String),
}

pub type Result<T> = std::result::Result<T, KernelError>;

/// An ndarray reshape that does not fit is a geometry error like any other.
impl From<ndarray::ShapeError> for KernelError {
    fn from(error: ndarray::ShapeError) -> Self {
        KernelError::Geometry(error.to_string())
    }
}

/// Checks that `got` is `expected`, naming the tensor in the error.
pub(crate) fn expect_shape(what: &'static str, got: &[usize], expected: &[usize]) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(KernelError::Shape {
            what,
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}
