//! `dense`: `y = f(x · W + b)` on flat examples.

use super::weights::{FusedActivation, Weights};
use super::{fixed, fixed_mut, single, single_shape, Layer, Param};
use crate::kernels::activation::Activation;
use crate::kernels::dense::{dense_backward, dense_forward};
use crate::kernels::{expect_shape, KernelError, Result};
use crate::Float;
use ndarray::{Array2, ArrayD, Ix1, Ix2};

pub struct Dense<T> {
    weights: Weights<T>,
    activation: FusedActivation<T>,
}

impl<T: Float> Dense<T> {
    /// A dense layer with an `(in, out)` kernel and an optional `(out)` bias.
    pub fn new(kernel: ArrayD<T>, bias: Option<ArrayD<T>>, activation: Activation) -> Result<Self> {
        if kernel.ndim() != 2 {
            return Err(KernelError::Geometry(format!(
                "dense kernel {:?} is not 2-D",
                kernel.shape()
            )));
        }
        if let Some(b) = &bias {
            expect_shape("dense bias", b.shape(), &[kernel.shape()[1]])?;
        }
        Ok(Dense {
            weights: Weights::new(kernel, bias),
            activation: FusedActivation::new(activation),
        })
    }

    fn units(&self) -> usize {
        self.weights.kernel.shape()[1]
    }
}

impl<T: Float> Dense<T> {
    /// The kernel and bias gradients, and the input gradient into `dx` if asked for.
    fn backward_into(
        &mut self,
        input: &ArrayD<T>,
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
        dx: Option<&mut ArrayD<T>>,
    ) -> Result<()> {
        let x = fixed::<_, Ix2>(input.view())?;
        let w = &mut self.weights;
        let (dy, bias_summed) = self
            .activation
            .backward(output, grad_output, w.bias_grad.as_mut());
        let dy = fixed::<_, Ix2>(dy.view())?;
        let dx = dx
            .map(|dx| fixed_mut::<_, Ix2>(dx.view_mut()))
            .transpose()?;
        let kernel = fixed::<_, Ix2>(w.kernel.view())?;
        let kernel_grad = fixed_mut::<_, Ix2>(w.kernel_grad.view_mut())?;
        let bias_grad = w
            .bias_grad
            .as_mut()
            .filter(|_| !bias_summed)
            .map(|b| fixed_mut::<_, Ix1>(b.view_mut()))
            .transpose()?;
        dense_backward(x, kernel, dy, dx, kernel_grad, bias_grad)
    }
}

impl<T: Float> Layer<T> for Dense<T> {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        expect_shape(
            "dense input",
            single_shape(inputs)?,
            &[self.weights.kernel.shape()[0]],
        )?;
        Ok(vec![self.units()])
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = fixed::<_, Ix2>(single(inputs)?.view())?;
        let mut y = Array2::<T>::zeros((x.nrows(), self.units()));
        let kernel = fixed::<_, Ix2>(self.weights.kernel.view())?;
        let bias = self
            .weights
            .bias
            .as_ref()
            .map(|b| fixed::<_, Ix1>(b.view()))
            .transpose()?;
        dense_forward(x, kernel, bias, self.activation.in_epilogue(), y.view_mut())?;
        let mut y = y.into_dyn();
        self.activation.finish(&mut y);
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let x = single(inputs)?;
        let mut dx = ArrayD::<T>::zeros(x.raw_dim());
        self.backward_into(x, output, grad_output, Some(&mut dx))?;
        Ok(vec![dx])
    }

    fn backward_params_only(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<()> {
        self.backward_into(single(inputs)?, output, grad_output, None)
    }

    fn params(&mut self) -> Vec<Param<'_, T>> {
        self.weights.params()
    }
}
