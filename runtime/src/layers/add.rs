//! `add { … }`: the sum of its branches.

use super::Layer;
use crate::kernels::shape_ops::add_forward;
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::ArrayD;

pub struct Add;

impl<T: Float> Layer<T> for Add {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let first = inputs
            .first()
            .ok_or_else(|| KernelError::Geometry("add needs inputs".into()))?;
        if inputs.iter().any(|s| s != first) {
            return Err(KernelError::Geometry(format!(
                "add inputs differ: {inputs:?}"
            )));
        }
        Ok(first.to_vec())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let first = inputs
            .first()
            .ok_or_else(|| KernelError::Geometry("add needs inputs".into()))?;
        let mut y = ArrayD::zeros(first.raw_dim());
        let views: Vec<_> = inputs.iter().map(|x| x.view()).collect();
        add_forward(&views, y.view_mut())?;
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        _output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        Ok(inputs.iter().map(|_| grad_output.clone()).collect())
    }
}
