//! The CPU runtime for cnn models: kernels (ndarray + rayon), layers, initializers,
//! optimizers, data loading and the training loop.
//!
//! It is being built (issue 3); nothing is exported yet, so nothing pretends to work.
//! It knows nothing of the `.cnn` language: `cnnc` bridges the two.
