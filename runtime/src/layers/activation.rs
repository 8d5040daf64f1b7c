//! Activation layers (`relu()`, `activation(tanh)` …) and the softmax layer.

use super::{single, single_shape, Layer};
use crate::kernels::activation::{forward_in_place, pre_activation_grad, Activation};
use crate::kernels::loss::{softmax_rows, softmax_rows_backward};
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::ArrayD;

/// An element-wise activation as a layer of its own.
pub struct ActivationLayer {
    pub activation: Activation,
}

impl<T: Float> Layer<T> for ActivationLayer {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(single_shape(inputs)?.to_vec())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let mut y = single(inputs)?.clone();
        forward_in_place(self.activation, y.view_mut());
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let x = single(inputs)?;
        let (dx, _) = pre_activation_grad(self.activation, x, output, grad_output, None);
        Ok(vec![dx])
    }
}

/// Softmax over the last axis.
pub struct Softmax;

fn as_rows<T: Float>(x: &ArrayD<T>) -> Result<ndarray::ArrayView2<'_, T>> {
    let last = *x.shape().last().unwrap_or(&1);
    x.view()
        .into_shape_with_order((x.len() / last.max(1), last))
        .map_err(|e| KernelError::Geometry(e.to_string()))
}

impl<T: Float> Layer<T> for Softmax {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(single_shape(inputs)?.to_vec())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = single(inputs)?;
        let mut y = ArrayD::zeros(x.raw_dim());
        let last = *x.shape().last().unwrap_or(&1);
        let rows = y
            .view_mut()
            .into_shape_with_order((x.len() / last.max(1), last))?;
        softmax_rows(as_rows(x)?, rows)?;
        Ok(y)
    }

    fn backward(
        &mut self,
        _inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let mut dx = ArrayD::zeros(output.raw_dim());
        let last = *output.shape().last().unwrap_or(&1);
        let rows = dx
            .view_mut()
            .into_shape_with_order((output.len() / last.max(1), last))?;
        softmax_rows_backward(as_rows(output)?, as_rows(grad_output)?, rows)?;
        Ok(vec![dx])
    }
}
