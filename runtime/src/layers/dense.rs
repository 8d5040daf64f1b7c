//! `dense`: `y = f(x · W + b)` on flat examples.

use super::{single, single_shape, Layer, Param};
use crate::kernels::activation::{backward_in_place, forward_in_place, Activation};
use crate::kernels::dense::{dense_backward, dense_forward};
use crate::kernels::{expect_shape, KernelError, Result};
use crate::Float;
use ndarray::{Array2, ArrayD, Ix1, Ix2};

pub struct Dense<T> {
    activation: Activation,
    kernel: ArrayD<T>,
    bias: Option<ArrayD<T>>,
    kernel_grad: ArrayD<T>,
    bias_grad: Option<ArrayD<T>>,
    preactivation: Option<ArrayD<T>>,
}

fn err(e: impl ToString) -> KernelError {
    KernelError::Geometry(e.to_string())
}

impl<T: Float> Dense<T> {
    /// A dense layer with an `(in, out)` kernel and an optional `(out)` bias.
    pub fn new(kernel: ArrayD<T>, bias: Option<ArrayD<T>>, activation: Activation) -> Result<Self> {
        if kernel.ndim() != 2 {
            return Err(err(format!("dense kernel {:?} is not 2-D", kernel.shape())));
        }
        if let Some(b) = &bias {
            expect_shape("dense bias", b.shape(), &[kernel.shape()[1]])?;
        }
        Ok(Dense {
            activation,
            kernel_grad: ArrayD::zeros(kernel.raw_dim()),
            bias_grad: bias.as_ref().map(|b| ArrayD::zeros(b.raw_dim())),
            kernel,
            bias,
            preactivation: None,
        })
    }

    fn units(&self) -> usize {
        self.kernel.shape()[1]
    }
}

impl<T: Float> Layer<T> for Dense<T> {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        expect_shape(
            "dense input",
            single_shape(inputs)?,
            &[self.kernel.shape()[0]],
        )?;
        Ok(vec![self.units()])
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = single(inputs)?
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(err)?;
        let mut y = Array2::<T>::zeros((x.nrows(), self.units()));
        let bias = match &self.bias {
            Some(b) => Some(b.view().into_dimensionality::<Ix1>().map_err(err)?),
            None => None,
        };
        let fused = if self.activation.needs_input() {
            Activation::Linear
        } else {
            self.activation
        };
        let kernel = self
            .kernel
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(err)?;
        dense_forward(x, kernel, bias, fused, y.view_mut())?;
        let mut y = y.into_dyn();
        if self.activation.needs_input() {
            self.preactivation = Some(y.clone());
            forward_in_place(self.activation, y.view_mut());
        }
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let input = single(inputs)?;
        let x = input.view().into_dimensionality::<Ix2>().map_err(err)?;
        let mut dy = grad_output.clone();
        let pre = self.preactivation.as_ref().unwrap_or(output);
        backward_in_place(self.activation, pre.view(), output.view(), dy.view_mut());
        let dy = dy.into_dimensionality::<Ix2>().map_err(err)?;
        let mut dx = Array2::<T>::zeros(x.raw_dim());
        let kernel = self
            .kernel
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(err)?;
        let kernel_grad = self
            .kernel_grad
            .view_mut()
            .into_dimensionality::<Ix2>()
            .map_err(err)?;
        let bias_grad = match &mut self.bias_grad {
            Some(b) => Some(b.view_mut().into_dimensionality::<Ix1>().map_err(err)?),
            None => None,
        };
        dense_backward(
            x,
            kernel,
            dy.view(),
            Some(dx.view_mut()),
            kernel_grad,
            bias_grad,
        )?;
        Ok(vec![dx.into_dyn()])
    }

    fn params(&mut self) -> Vec<Param<'_, T>> {
        let mut params = vec![Param {
            name: "kernel",
            value: &mut self.kernel,
            grad: &mut self.kernel_grad,
            trainable: true,
        }];
        if let (Some(value), Some(grad)) = (self.bias.as_mut(), self.bias_grad.as_mut()) {
            params.push(Param {
                name: "bias",
                value,
                grad,
                trainable: true,
            });
        }
        params
    }
}
