//! `max_pooling2d`, `average_pooling2d` and their 1-D forms (on `N × 1 × L × C`).

use super::{as_image, batched, single, single_shape, Layer};
use crate::kernels::activation::{forward_in_place, pre_activation_grad, Activation};
use crate::kernels::conv::Padding2d;
use crate::kernels::pool::*;
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::{Array4, ArrayD};

/// Max, or average dividing by the real cells (TensorFlow's `same`) or the whole window
/// (PyTorch's explicit padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    Max,
    Average { count_padding: bool },
}

pub struct Pool {
    geometry: Pool2dGeometry,
    mode: PoolMode,
    sequence: bool,
    argmax: Option<Array4<u32>>,
    /// An activation applied after max pooling instead of before it (see
    /// [`Pool::with_activation`]).
    activation: Activation,
}

impl Pool {
    /// Pooling over examples of shape `input` (`[h, w, c]` or `[l, c]`).
    pub fn new(
        input: &[usize],
        mode: PoolMode,
        pool: [usize; 2],
        stride: [usize; 2],
        padding: Padding2d,
    ) -> Result<Self> {
        let (hwc, sequence) = match *input {
            [h, w, c] => ([h, w, c], false),
            [l, c] => ([1, l, c], true),
            _ => {
                return Err(KernelError::Geometry(format!(
                    "pooling input {input:?} is not an image or a sequence"
                )))
            }
        };
        Ok(Pool {
            geometry: Pool2dGeometry::new(hwc, pool, stride, padding)?,
            mode,
            sequence,
            argmax: None,
            activation: Activation::Linear,
        })
    }

    /// Max pooling that applies a monotone `activation` to its output: `max(f(x)) = f(max(x))`
    /// for a non-decreasing `f`, so a convolution followed by `f` and max pooling can skip `f`
    /// and leave it to the pool, which applies it to a quarter of the values (for 2×2) and
    /// makes no pass of its own over the convolution's output.
    pub fn with_activation(mut self, activation: Activation) -> Result<Self> {
        if self.mode != PoolMode::Max || !activation.is_monotone() {
            return Err(KernelError::Geometry(format!(
                "only max pooling commutes with an activation, and only a monotone one ({activation:?})"
            )));
        }
        self.activation = activation;
        Ok(self)
    }

    fn example_shape(&self) -> Vec<usize> {
        let g = &self.geometry;
        if self.sequence {
            vec![g.out_w, g.channels]
        } else {
            vec![g.out_h, g.out_w, g.channels]
        }
    }
}

impl<T: Float> Layer<T> for Pool {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        single_shape(inputs)?;
        Ok(self.example_shape())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = as_image(single(inputs)?)?;
        let g = self.geometry;
        let n = x.shape()[0];
        let mut y = Array4::<T>::zeros((n, g.out_h, g.out_w, g.channels));
        match self.mode {
            PoolMode::Max => {
                let mut argmax = Array4::<u32>::zeros(y.raw_dim());
                max_pool2d_forward(&g, x, y.view_mut(), argmax.view_mut())?;
                self.argmax = Some(argmax);
            }
            PoolMode::Average { count_padding } => {
                avg_pool2d_forward(&g, count_padding, x, y.view_mut())?
            }
        }
        let mut y = y
            .into_dyn()
            .into_shape_with_order(batched(n, &self.example_shape()))?;
        forward_in_place(self.activation, y.view_mut());
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let grad_pooled;
        let grad_output = if self.activation == Activation::Linear {
            grad_output
        } else {
            // A monotone activation's derivative can be taken from its output.
            let (g, _) = pre_activation_grad(self.activation, output, output, grad_output, None);
            grad_pooled = g;
            &grad_pooled
        };
        let input = single(inputs)?;
        let dims = as_image(input)?.dim();
        let mut dx = ArrayD::<T>::zeros(input.raw_dim());
        let dx4 = dx.view_mut().into_shape_with_order(dims)?;
        let dy = as_image(grad_output)?;
        match self.mode {
            PoolMode::Max => {
                let argmax = self
                    .argmax
                    .as_ref()
                    .ok_or_else(|| KernelError::Geometry("backward before forward".into()))?;
                max_pool2d_backward(&self.geometry, argmax.view(), dy, dx4)?;
            }
            PoolMode::Average { count_padding } => {
                avg_pool2d_backward(&self.geometry, count_padding, dy, dx4)?
            }
        }
        Ok(vec![dx])
    }
}
