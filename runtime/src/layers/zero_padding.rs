//! `zero_padding2d`: zeros around each image.

use super::{single, single_shape, Layer};
use crate::kernels::conv::Padding2d;
use crate::kernels::shape_ops::{zero_pad2d_backward, zero_pad2d_forward};
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::{Array4, ArrayD, Ix4};

pub struct ZeroPadding2d {
    pub padding: Padding2d,
}

impl<T: Float> Layer<T> for ZeroPadding2d {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        match *single_shape(inputs)? {
            [h, w, c] => Ok(vec![
                h + self.padding.top + self.padding.bottom,
                w + self.padding.left + self.padding.right,
                c,
            ]),
            ref other => Err(KernelError::Geometry(format!(
                "zero padding needs images, got {other:?}"
            ))),
        }
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = single(inputs)?.view().into_dimensionality::<Ix4>()?;
        let (n, h, w, c) = x.dim();
        let p = self.padding;
        let mut y = Array4::<T>::zeros((n, h + p.top + p.bottom, w + p.left + p.right, c));
        zero_pad2d_forward(p, x, y.view_mut())?;
        Ok(y.into_dyn())
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        _output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let x = single(inputs)?;
        let mut dx = Array4::<T>::zeros(x.view().into_dimensionality::<Ix4>()?.raw_dim());
        let dy = grad_output.view().into_dimensionality::<Ix4>()?;
        zero_pad2d_backward(self.padding, dy, dx.view_mut())?;
        Ok(vec![dx.into_dyn()])
    }
}
