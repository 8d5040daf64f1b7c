//! Layers: each holds its configuration and parameters and runs its kernels forward and
//! backward on batched tensors (`N × …`, channels last). One file per layer.
//!
//! The model keeps every layer's input and output between forward and backward and hands
//! them back to [`Layer::backward`], so layers cache only what their kernels need besides
//! (max-pooling positions, dropout masks, batch statistics).

mod activation;
mod add;
mod batch_norm;
mod concatenate;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod gaussian_noise;
mod global_pool;
mod pool;
mod prelu;
mod weights;
mod zero_padding;

pub use activation::{ActivationLayer, Softmax};
pub use add::Add;
pub use batch_norm::BatchNorm;
pub use concatenate::Concatenate;
pub use conv::{Conv2d, Conv2dConfig};
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use gaussian_noise::GaussianNoise;
pub use global_pool::GlobalPool;
pub use pool::{Pool, PoolMode};
pub use prelu::PRelu;
pub use zero_padding::ZeroPadding2d;

use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::{ArrayD, IxDyn};

/// A learned tensor and its gradient.
pub struct Param<'a, T> {
    /// The name within its layer: `kernel`, `bias`, `gamma`, `beta`, `moving_mean`,
    /// `moving_variance`, `alpha`.
    pub name: &'static str,
    pub value: &'a mut ArrayD<T>,
    /// The gradient of the last backward pass (zeros for non-trainable parameters).
    pub grad: &'a mut ArrayD<T>,
    /// Moving statistics are parameters that optimizers leave alone.
    pub trainable: bool,
}

/// One step of a network.
pub trait Layer<T: Float>: Send {
    /// The shape of one output example, given the shapes of one example of each input.
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>>;

    /// Computes the output for a batch. `training` switches dropout, noise and batch
    /// statistics on.
    fn forward(&mut self, inputs: &[&ArrayD<T>], training: bool) -> Result<ArrayD<T>>;

    /// Given the inputs and output of the last forward pass and `∂L/∂output`, stores the
    /// parameters' gradients and returns `∂L/∂input` for each input.
    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>>;

    /// [`Self::backward`] for a layer whose input needs no gradient (it reads the model's
    /// input): stores the parameters' gradients only. Layers whose input gradient costs
    /// real work (convolution, dense) skip it.
    fn backward_params_only(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<()> {
        self.backward(inputs, output, grad_output).map(drop)
    }

    /// The layer's parameters, in a fixed order.
    fn params(&mut self) -> Vec<Param<'_, T>> {
        Vec::new()
    }

    /// Tells a random layer (dropout, noise) which training step comes next, so that its
    /// draws depend on the step alone and a resumed run repeats the original exactly.
    fn set_step(&mut self, _step: u64) {}
}

/// The only input of a single-input layer.
pub(crate) fn single<'a, T>(inputs: &[&'a ArrayD<T>]) -> Result<&'a ArrayD<T>> {
    match inputs {
        [one] => Ok(one),
        _ => Err(KernelError::Geometry(format!(
            "expected one input, got {}",
            inputs.len()
        ))),
    }
}

/// The only input shape of a single-input layer.
pub(crate) fn single_shape<'a>(inputs: &[&'a [usize]]) -> Result<&'a [usize]> {
    match inputs {
        [one] => Ok(one),
        _ => Err(KernelError::Geometry(format!(
            "expected one input, got {}",
            inputs.len()
        ))),
    }
}

/// A batched shape: `n` followed by an example's shape.
pub(crate) fn batched(n: usize, example: &[usize]) -> IxDyn {
    let mut dims = Vec::with_capacity(example.len() + 1);
    dims.push(n);
    dims.extend_from_slice(example);
    IxDyn(&dims)
}

/// Views an `N × H × W × C` or `N × L × C` tensor as 4-D (`N × 1 × L × C` for sequences).
pub(crate) fn as_image<T: Float>(x: &ArrayD<T>) -> Result<ndarray::ArrayView4<'_, T>> {
    let s = x.shape();
    let dims = match s.len() {
        4 => (s[0], s[1], s[2], s[3]),
        3 => (s[0], 1, s[1], s[2]),
        _ => {
            return Err(KernelError::Geometry(format!(
                "expected an image or a sequence batch, got shape {s:?}"
            )))
        }
    };
    x.view()
        .into_shape_with_order(dims)
        .map_err(|e| KernelError::Geometry(e.to_string()))
}

/// A dynamic-rank view as a fixed-rank one, or a shape error.
pub(crate) fn fixed<T, D: ndarray::Dimension>(
    view: ndarray::ArrayViewD<'_, T>,
) -> Result<ndarray::ArrayView<'_, T, D>> {
    view.into_dimensionality::<D>()
        .map_err(|e| KernelError::Geometry(e.to_string()))
}

/// A mutable dynamic-rank view as a fixed-rank one, or a shape error.
pub(crate) fn fixed_mut<T, D: ndarray::Dimension>(
    view: ndarray::ArrayViewMutD<'_, T>,
) -> Result<ndarray::ArrayViewMut<'_, T, D>> {
    view.into_dimensionality::<D>()
        .map_err(|e| KernelError::Geometry(e.to_string()))
}
