//! `batch_normalization` over the last axis: batch statistics in training (updating the
//! moving ones), moving statistics at inference.

use super::{fixed, fixed_mut, single, single_shape, Layer, Param};
use crate::kernels::norm::*;
use crate::kernels::{expect_shape, Result};
use crate::Float;
use ndarray::{ArrayD, Ix1};

pub struct BatchNorm<T> {
    pub epsilon: T,
    pub momentum: T,
    gamma: ArrayD<T>,
    beta: ArrayD<T>,
    moving_mean: ArrayD<T>,
    moving_variance: ArrayD<T>,
    gamma_grad: ArrayD<T>,
    beta_grad: ArrayD<T>,
    /// Moving statistics get no gradient; these stay zero.
    mean_grad: ArrayD<T>,
    variance_grad: ArrayD<T>,
    cache: Option<BatchNormCache<T>>,
    /// Whether `center` (β) and `scale` (γ) are learned; when not, they stay 0 and 1.
    center: bool,
    scale: bool,
}

impl<T: Float> BatchNorm<T> {
    /// A batch norm over `channels` with Keras' initial values (γ = 1, β = 0, moving mean
    /// 0, moving variance 1).
    pub fn new(channels: usize, epsilon: T, momentum: T, center: bool, scale: bool) -> Self {
        let ones = || ArrayD::from_elem(ndarray::IxDyn(&[channels]), T::one());
        let zeros = || ArrayD::zeros(ndarray::IxDyn(&[channels]));
        BatchNorm {
            epsilon,
            momentum,
            gamma: ones(),
            beta: zeros(),
            moving_mean: zeros(),
            moving_variance: ones(),
            gamma_grad: zeros(),
            beta_grad: zeros(),
            mean_grad: zeros(),
            variance_grad: zeros(),
            cache: None,
            center,
            scale,
        }
    }

    fn channels(&self) -> usize {
        self.gamma.len()
    }

    fn rows<'a>(&self, x: &'a ArrayD<T>) -> Result<ndarray::ArrayView2<'a, T>> {
        let c = self.channels();
        Ok(x.view().into_shape_with_order((x.len() / c.max(1), c))?)
    }
}

impl<T: Float> Layer<T> for BatchNorm<T> {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = single_shape(inputs)?;
        expect_shape(
            "batch norm channels",
            &shape[shape.len().saturating_sub(1)..],
            &[self.channels()],
        )?;
        Ok(shape.to_vec())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], training: bool) -> Result<ArrayD<T>> {
        let x = single(inputs)?;
        let mut y = ArrayD::zeros(x.raw_dim());
        let c = self.channels();
        let rows = x.len() / c.max(1);
        let y2 = y.view_mut().into_shape_with_order((rows, c))?;
        let gamma = fixed::<_, Ix1>(self.gamma.view())?;
        let beta = fixed::<_, Ix1>(self.beta.view())?;
        if training {
            let mean = fixed_mut::<_, Ix1>(self.moving_mean.view_mut())?;
            let variance = fixed_mut::<_, Ix1>(self.moving_variance.view_mut())?;
            let x2 = x.view().into_shape_with_order((rows, c))?;
            self.cache = Some(batch_norm_train_forward(
                x2,
                gamma,
                beta,
                self.epsilon,
                self.momentum,
                mean,
                variance,
                y2,
            )?);
        } else {
            let mean = fixed::<_, Ix1>(self.moving_mean.view())?;
            let variance = fixed::<_, Ix1>(self.moving_variance.view())?;
            batch_norm_inference_forward(
                self.rows(x)?,
                gamma,
                beta,
                self.epsilon,
                mean,
                variance,
                y2,
            )?;
            self.cache = None;
        }
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let c = self.channels();
        let rows = output.len() / c.max(1);
        let mut dx = ArrayD::zeros(output.raw_dim());
        let dx2 = dx.view_mut().into_shape_with_order((rows, c))?;
        let dy = grad_output.view().into_shape_with_order((rows, c))?;
        let gamma = fixed::<_, Ix1>(self.gamma.view())?;
        let dgamma = fixed_mut::<_, Ix1>(self.gamma_grad.view_mut())?;
        let dbeta = fixed_mut::<_, Ix1>(self.beta_grad.view_mut())?;
        match &self.cache {
            Some(cache) => batch_norm_train_backward(cache, gamma, dy, dx2, dgamma, dbeta)?,
            None => {
                let x = single(inputs)?.view().into_shape_with_order((rows, c))?;
                let mean = fixed::<_, Ix1>(self.moving_mean.view())?;
                let variance = fixed::<_, Ix1>(self.moving_variance.view())?;
                batch_norm_inference_backward(
                    x,
                    gamma,
                    self.epsilon,
                    mean,
                    variance,
                    dy,
                    dx2,
                    dgamma,
                    dbeta,
                )?;
            }
        }
        if !self.scale {
            self.gamma_grad.fill(T::zero());
        }
        if !self.center {
            self.beta_grad.fill(T::zero());
        }
        Ok(vec![dx])
    }

    /// `gamma` (when `scale`), `beta` (when `center`), `moving_mean`, `moving_variance`:
    /// the tensors Keras creates, so that counts and weight files agree with it.
    fn params(&mut self) -> Vec<Param<'_, T>> {
        let mut params = Vec::with_capacity(4);
        if self.scale {
            params.push(Param {
                name: "gamma",
                value: &mut self.gamma,
                grad: &mut self.gamma_grad,
                trainable: true,
            });
        }
        if self.center {
            params.push(Param {
                name: "beta",
                value: &mut self.beta,
                grad: &mut self.beta_grad,
                trainable: true,
            });
        }
        params.push(Param {
            name: "moving_mean",
            value: &mut self.moving_mean,
            grad: &mut self.mean_grad,
            trainable: false,
        });
        params.push(Param {
            name: "moving_variance",
            value: &mut self.moving_variance,
            grad: &mut self.variance_grad,
            trainable: false,
        });
        params
    }
}
