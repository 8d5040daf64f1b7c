//! `prelu`: `y = x` for `x ≥ 0`, `α x` otherwise, with a learned `α` per element of an
//! example (size 1 along shared axes).

use super::{single, single_shape, Layer, Param};
use crate::kernels::shape_ops::{prelu_backward, prelu_forward};
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::ArrayD;

pub struct PRelu<T> {
    alpha: ArrayD<T>,
    alpha_grad: ArrayD<T>,
}

impl<T: Float> PRelu<T> {
    /// `alpha` has an example's shape, with 1 along shared axes.
    pub fn new(alpha: ArrayD<T>) -> Self {
        PRelu {
            alpha_grad: ArrayD::zeros(alpha.raw_dim()),
            alpha,
        }
    }
}

impl<T: Float> Layer<T> for PRelu<T> {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = single_shape(inputs)?;
        let fits = shape.len() == self.alpha.ndim()
            && shape
                .iter()
                .zip(self.alpha.shape())
                .all(|(s, a)| *a == 1 || a == s);
        if !fits {
            return Err(KernelError::Geometry(format!(
                "prelu alpha {:?} does not fit input {shape:?}",
                self.alpha.shape()
            )));
        }
        Ok(shape.to_vec())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = single(inputs)?;
        let mut y = ArrayD::zeros(x.raw_dim());
        prelu_forward(self.alpha.view(), x.view(), y.view_mut())?;
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        _output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let x = single(inputs)?;
        let mut dx = ArrayD::zeros(x.raw_dim());
        prelu_backward(
            self.alpha.view(),
            x.view(),
            grad_output.view(),
            dx.view_mut(),
            self.alpha_grad.view_mut(),
        )?;
        Ok(vec![dx])
    }

    fn params(&mut self) -> Vec<super::Param<'_, T>> {
        vec![Param {
            name: "alpha",
            value: &mut self.alpha,
            grad: &mut self.alpha_grad,
            trainable: true,
        }]
    }
}
