//! `global_average_pooling2d`, `global_max_pooling2d` and their 1-D forms: one value per
//! channel.

use super::{as_image, single, single_shape, Layer};
use crate::kernels::pool::{global_pool_backward, global_pool_forward};
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::{Array2, ArrayD};

pub struct GlobalPool {
    pub max: bool,
    argmax: Option<Array2<u32>>,
}

impl GlobalPool {
    pub fn new(max: bool) -> Self {
        GlobalPool { max, argmax: None }
    }
}

impl<T: Float> Layer<T> for GlobalPool {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = single_shape(inputs)?;
        Ok(vec![*shape.last().ok_or_else(|| {
            KernelError::Geometry("global pooling of a scalar".into())
        })?])
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = as_image(single(inputs)?)?;
        let (n, _, _, c) = x.dim();
        let mut y = Array2::<T>::zeros((n, c));
        let mut argmax = Array2::<u32>::zeros((n, c));
        global_pool_forward(self.max, x, y.view_mut(), Some(argmax.view_mut()))?;
        self.argmax = Some(argmax);
        Ok(y.into_dyn())
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        _output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let input = single(inputs)?;
        let dims = as_image(input)?.dim();
        let mut dx = ArrayD::<T>::zeros(input.raw_dim());
        let dx4 = dx.view_mut().into_shape_with_order(dims)?;
        let dy = grad_output.view().into_dimensionality()?;
        global_pool_backward(self.max, self.argmax.as_ref().map(|a| a.view()), dy, dx4)?;
        Ok(vec![dx])
    }
}
