//! The CPU runtime for cnn models: kernels over ndarray views, parallel with rayon.
//!
//! # Tensor layout
//!
//! Activations are `NHWC` (batch, height, width, channels) in row-major order, and
//! sequences `NLC` (stored as `N × 1 × L × C`). This is the layout Keras prints and the
//! `.cnn` language writes, so shapes read the same everywhere, and it is the layout in which
//! a convolution is one matrix product: the `kh·kw·c` values under a window are contiguous
//! runs of channels, so building the patch matrix copies runs of `c` floats, and the product
//! with the kernel writes each output pixel's channels contiguously, where the bias and
//! activation are applied while still in cache. Kernels are Keras' `(kh, kw, in, out)`,
//! which is already the `K × F` matrix the product needs; dense kernels are `(in, out)`.
//!
//! # Kernels
//!
//! Every kernel is a free function over ndarray views with an explicit output, generic over
//! [`Float`] (f32 for speed, f64 for gradient checks). The parallel split lives inside the
//! kernel (rayon, over disjoint output chunks) and every reduction has a fixed order, so
//! results are bit-identical whatever the number of threads. The runtime knows nothing of
//! the `.cnn` language; `cnnc` builds runtime models from checked ones.

pub mod checkpoint;
pub mod data;
pub mod float;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod memory;
pub mod model;
pub mod optim;
pub mod train;

pub use float::Float;
