//! `gaussian_noise`: adds `N(0, stddev²)` noise in training; the identity at inference.

use super::{single, single_shape, Layer};
use crate::kernels::shape_ops::gaussian_noise_forward;
use crate::kernels::Result;
use crate::Float;
use ndarray::ArrayD;

pub struct GaussianNoise {
    pub stddev: f64,
    seed: u64,
    step: u64,
}

impl GaussianNoise {
    pub fn new(stddev: f64, seed: u64) -> Self {
        GaussianNoise {
            stddev,
            seed,
            step: 0,
        }
    }
}

impl<T: Float> Layer<T> for GaussianNoise {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(single_shape(inputs)?.to_vec())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], training: bool) -> Result<ArrayD<T>> {
        let x = single(inputs)?;
        if !training {
            return Ok(x.clone());
        }
        let mut y = ArrayD::zeros(x.raw_dim());
        gaussian_noise_forward(
            self.stddev,
            self.seed.wrapping_add(self.step),
            x.view(),
            y.view_mut(),
        )?;
        self.step += 1;
        Ok(y)
    }

    fn set_step(&mut self, step: u64) {
        self.step = step;
    }

    fn backward(
        &mut self,
        _inputs: &[&ArrayD<T>],
        _output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        Ok(vec![grad_output.clone()])
    }
}
