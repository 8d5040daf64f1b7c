//! `concatenate { … }`: branches joined along the channels (the last axis).

use super::Layer;
use crate::kernels::shape_ops::{concat_channels_backward, concat_channels_forward};
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::{ArrayD, IxDyn};

pub struct Concatenate;

impl<T: Float> Layer<T> for Concatenate {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let first = inputs
            .first()
            .ok_or_else(|| KernelError::Geometry("concatenate needs inputs".into()))?;
        let (spatial, _) = first.split_at(first.len().saturating_sub(1));
        let mut channels = 0;
        for shape in inputs {
            if shape.len() != first.len() || &shape[..spatial.len()] != spatial {
                return Err(KernelError::Geometry(format!(
                    "concatenate inputs differ: {inputs:?}"
                )));
            }
            channels += shape.last().copied().unwrap_or(0);
        }
        let mut out = spatial.to_vec();
        out.push(channels);
        Ok(out)
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|x| &x.shape()[1..]).collect();
        let n = inputs.first().map_or(0, |x| x.shape()[0]);
        let example = <Self as Layer<T>>::output_shape(self, &shapes)?;
        let mut dims = vec![n];
        dims.extend(&example);
        let mut y = ArrayD::zeros(IxDyn(&dims));
        let views: Vec<_> = inputs.iter().map(|x| x.view()).collect();
        concat_channels_forward(&views, y.view_mut())?;
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        _output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let mut grads: Vec<ArrayD<T>> = inputs.iter().map(|x| ArrayD::zeros(x.raw_dim())).collect();
        let mut views: Vec<_> = grads.iter_mut().map(|g| g.view_mut()).collect();
        concat_channels_backward(grad_output.view(), &mut views)?;
        Ok(grads)
    }
}
