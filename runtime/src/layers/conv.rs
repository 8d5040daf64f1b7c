//! `conv2d`, `conv1d` and `depthwise_conv2d`: `y = f(x ⊛ k + b)`.
//!
//! A 1-D convolution runs as a 2-D one on `N × 1 × L × C`; a depthwise convolution is the
//! grouped one with `groups = C` and `C · depth_multiplier` filters. The activation is fused
//! into the kernel's epilogue when its derivative can be taken from the output; GELU and
//! swish keep the pre-activation instead.

use super::{as_image, batched, single, single_shape, Layer, Param};
use crate::kernels::activation::{backward_in_place, forward_in_place, Activation};
use crate::kernels::conv::{conv2d_backward, conv2d_forward, Conv2dGeometry, Padding2d};
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::{Array4, ArrayD, Ix1, Ix4};

pub struct Conv2d<T> {
    /// Per-example input `[h, w, c]` (`[1, l, c]` for 1-D) and everything else.
    geometry: Conv2dGeometry,
    /// Whether examples are sequences (`L × C`) rather than images.
    sequence: bool,
    activation: Activation,
    kernel: ArrayD<T>,
    bias: Option<ArrayD<T>>,
    kernel_grad: ArrayD<T>,
    bias_grad: Option<ArrayD<T>>,
    /// The pre-activation output, kept only for activations that need it.
    preactivation: Option<ArrayD<T>>,
}

/// How a convolution slides, pads and activates; `Default` is Keras' defaults with no
/// padding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2dConfig {
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub padding: Padding2d,
    pub groups: usize,
    pub activation: Activation,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: [1, 1],
            dilation: [1, 1],
            padding: Padding2d::default(),
            groups: 1,
            activation: Activation::Linear,
        }
    }
}

impl<T: Float> Conv2d<T> {
    /// A convolution over examples of shape `input` (`[h, w, c]`, or `[l, c]` for 1-D), with
    /// a kernel of shape `(kh, kw, c / groups, filters)` and an optional bias.
    pub fn new(
        input: &[usize],
        kernel: ArrayD<T>,
        bias: Option<ArrayD<T>>,
        config: Conv2dConfig,
    ) -> Result<Self> {
        let Conv2dConfig {
            stride,
            dilation,
            padding,
            groups,
            activation,
        } = config;
        let sequence = input.len() == 2;
        let hwc = match *input {
            [h, w, c] => [h, w, c],
            [l, c] => [1, l, c],
            _ => {
                return Err(KernelError::Geometry(format!(
                    "convolution input {input:?} is not an image or a sequence"
                )))
            }
        };
        let k = kernel.shape();
        if k.len() != 4 {
            return Err(KernelError::Geometry(format!(
                "convolution kernel {k:?} is not 4-D"
            )));
        }
        let geometry =
            Conv2dGeometry::new(hwc, k[3], [k[0], k[1]], stride, dilation, padding, groups)?;
        if let Some(b) = &bias {
            super::super::kernels::expect_shape("convolution bias", b.shape(), &[k[3]])?;
        }
        Ok(Conv2d {
            geometry,
            sequence,
            activation,
            kernel_grad: ArrayD::zeros(kernel.raw_dim()),
            bias_grad: bias.as_ref().map(|b| ArrayD::zeros(b.raw_dim())),
            kernel,
            bias,
            preactivation: None,
        })
    }

    fn example_shape(&self) -> Vec<usize> {
        let g = &self.geometry;
        if self.sequence {
            vec![g.out_w, g.filters]
        } else {
            vec![g.out_h, g.out_w, g.filters]
        }
    }
}

impl<T: Float> Layer<T> for Conv2d<T> {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        single_shape(inputs)?;
        Ok(self.example_shape())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], _training: bool) -> Result<ArrayD<T>> {
        let x = as_image(single(inputs)?)?;
        let g = self.geometry;
        let n = x.shape()[0];
        let mut y = Array4::<T>::zeros((n, g.out_h, g.out_w, g.filters));
        let kernel = self
            .kernel
            .view()
            .into_dimensionality::<Ix4>()
            .map_err(|e| KernelError::Geometry(e.to_string()))?;
        let bias = match &self.bias {
            Some(b) => Some(
                b.view()
                    .into_dimensionality::<Ix1>()
                    .map_err(|e| KernelError::Geometry(e.to_string()))?,
            ),
            None => None,
        };
        let fused = if self.activation.needs_input() {
            Activation::Linear
        } else {
            self.activation
        };
        conv2d_forward(&g, x, kernel, bias, fused, y.view_mut())?;
        let mut y = y
            .into_dyn()
            .into_shape_with_order(batched(n, &self.example_shape()))
            .map_err(|e| KernelError::Geometry(e.to_string()))?;
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
        let x = as_image(input)?;
        let mut dy = grad_output.clone();
        let pre = self.preactivation.as_ref().unwrap_or(output);
        backward_in_place(self.activation, pre.view(), output.view(), dy.view_mut());
        let dy4 = as_image(&dy)?;
        let mut dx = ArrayD::<T>::zeros(input.raw_dim());
        let dx_dims = x.dim();
        let dx4 = dx
            .view_mut()
            .into_shape_with_order(dx_dims)
            .map_err(|e| KernelError::Geometry(e.to_string()))?;
        let kernel = self
            .kernel
            .view()
            .into_dimensionality::<Ix4>()
            .map_err(|e| KernelError::Geometry(e.to_string()))?;
        let kernel_grad = self
            .kernel_grad
            .view_mut()
            .into_dimensionality::<Ix4>()
            .map_err(|e| KernelError::Geometry(e.to_string()))?;
        let bias_grad = match &mut self.bias_grad {
            Some(b) => Some(
                b.view_mut()
                    .into_dimensionality::<Ix1>()
                    .map_err(|e| KernelError::Geometry(e.to_string()))?,
            ),
            None => None,
        };
        conv2d_backward(
            &self.geometry,
            x,
            kernel,
            dy4,
            Some(dx4),
            kernel_grad,
            bias_grad,
        )?;
        Ok(vec![dx])
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
