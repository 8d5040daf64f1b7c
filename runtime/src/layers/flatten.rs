//! `flatten`: an example's values in row-major (h, w, c) order, as Keras flattens NHWC.

use super::{single, single_shape, Layer};
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::{ArrayD, IxDyn};

pub struct Flatten;

impl<T: Float> Layer<T> for Flatten {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(vec![single_shape(inputs)?.iter().product()])
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = single(inputs)?;
        let n = x.shape().first().copied().unwrap_or(0);
        let per = x.len() / n.max(1);
        x.to_shape(IxDyn(&[n, per]))
            .map(|v| v.into_owned())
            .map_err(|e| KernelError::Geometry(e.to_string()))
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        _output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let x = single(inputs)?;
        let dx = grad_output.to_shape(x.raw_dim())?;
        Ok(vec![dx.into_owned()])
    }
}
