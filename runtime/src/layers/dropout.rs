//! `dropout`: in training, zeroes each value with probability `rate` and scales the rest by
//! `1 / (1 − rate)`; at inference, the identity.

use super::{single, single_shape, Layer};
use crate::kernels::shape_ops::{dropout_forward, mask_backward};
use crate::kernels::Result;
use crate::Float;
use ndarray::ArrayD;

pub struct Dropout<T> {
    pub rate: f64,
    /// The mask of step `k` is drawn from seed `seed + k`, so runs repeat exactly.
    seed: u64,
    step: u64,
    mask: Option<ArrayD<T>>,
}

impl<T: Float> Dropout<T> {
    pub fn new(rate: f64, seed: u64) -> Self {
        Dropout {
            rate,
            seed,
            step: 0,
            mask: None,
        }
    }
}

impl<T: Float> Layer<T> for Dropout<T> {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(single_shape(inputs)?.to_vec())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], training: bool) -> Result<ArrayD<T>> {
        let x = single(inputs)?;
        if !training || self.rate == 0.0 {
            self.mask = None;
            return Ok(x.clone());
        }
        let mut mask = ArrayD::zeros(x.raw_dim());
        let mut y = ArrayD::zeros(x.raw_dim());
        dropout_forward(
            self.rate,
            self.seed.wrapping_add(self.step),
            x.view(),
            mask.view_mut(),
            y.view_mut(),
        )?;
        self.step += 1;
        self.mask = Some(mask);
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
        match &self.mask {
            Some(mask) => {
                let mut dx = ArrayD::zeros(grad_output.raw_dim());
                mask_backward(mask.view(), grad_output.view(), dx.view_mut())?;
                Ok(vec![dx])
            }
            None => Ok(vec![grad_output.clone()]),
        }
    }
}
