//! `conv2d`, `conv1d` and `depthwise_conv2d`: `y = f(x ⊛ k + b)`.
//!
//! A 1-D convolution runs as a 2-D one on `N × 1 × L × C`; a depthwise convolution is the
//! grouped one with `groups = C` and `C · depth_multiplier` filters. The activation is fused
//! into the kernel's epilogue when its derivative can be taken from the output; GELU and
//! swish keep the pre-activation instead.

use super::weights::{FusedActivation, Weights};
use super::{as_image, batched, fixed, fixed_mut, single, single_shape, Layer, Param};
use crate::kernels::activation::Activation;
use crate::kernels::conv::{
    conv2d_backward_with_patches, conv2d_forward, conv2d_forward_keeping_patches, Conv2dGeometry,
    Padding2d,
};
use crate::kernels::{KernelError, Result};
use crate::Float;
use ndarray::{Array4, ArrayD, Ix1, Ix4};

pub struct Conv2d<T> {
    /// Per-example input `[h, w, c]` (`[1, l, c]` for 1-D) and everything else.
    geometry: Conv2dGeometry,
    /// Whether examples are sequences (`L × C`) rather than images.
    sequence: bool,
    weights: Weights<T>,
    activation: FusedActivation<T>,
    /// The last training forward's patch matrix, which the kernel gradient reuses.
    patches: Vec<T>,
    patches_kept: bool,
}

/// The largest patch matrix a layer keeps between forward and backward (64 MiB of f32);
/// beyond it, backward builds the matrix again rather than hold the memory.
const MAX_KEPT_PATCHES: usize = 16 << 20;

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
            weights: Weights::new(kernel, bias),
            activation: FusedActivation::new(activation),
            patches: Vec::new(),
            patches_kept: false,
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

impl<T: Float> Conv2d<T> {
    /// The kernel and bias gradients, and the input gradient into `dx` if asked for.
    fn backward_into(
        &mut self,
        input: &ArrayD<T>,
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
        dx: Option<&mut ArrayD<T>>,
    ) -> Result<()> {
        let x = as_image(input)?;
        let w = &mut self.weights;
        let (dy, bias_summed) = self
            .activation
            .backward(output, grad_output, w.bias_grad.as_mut());
        let dx4 = match dx {
            Some(dx) => Some(dx.view_mut().into_shape_with_order(x.dim())?),
            None => None,
        };
        let kernel = fixed::<_, Ix4>(w.kernel.view())?;
        let kernel_grad = fixed_mut::<_, Ix4>(w.kernel_grad.view_mut())?;
        let bias_grad = w
            .bias_grad
            .as_mut()
            .filter(|_| !bias_summed)
            .map(|b| fixed_mut::<_, Ix1>(b.view_mut()))
            .transpose()?;
        let patches = self.patches_kept.then_some(self.patches.as_slice());
        let dy4 = as_image(&dy)?;
        conv2d_backward_with_patches(
            &self.geometry,
            x,
            kernel,
            dy4,
            dx4,
            kernel_grad,
            bias_grad,
            patches,
        )
    }
}

impl<T: Float> Layer<T> for Conv2d<T> {
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        single_shape(inputs)?;
        Ok(self.example_shape())
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>], training: bool) -> Result<ArrayD<T>> {
        let x = as_image(single(inputs)?)?;
        let g = self.geometry;
        let n = x.shape()[0];
        let mut y = Array4::<T>::zeros((n, g.out_h, g.out_w, g.filters));
        let kernel = fixed::<_, Ix4>(self.weights.kernel.view())?;
        let bias = self
            .weights
            .bias
            .as_ref()
            .map(|b| fixed::<_, Ix1>(b.view()))
            .transpose()?;
        let activation = self.activation.in_epilogue();
        self.patches_kept = false;
        if training && n * g.pixels_per_image() * g.patch_len() <= MAX_KEPT_PATCHES {
            let patches = &mut self.patches;
            self.patches_kept = conv2d_forward_keeping_patches(
                &g,
                x,
                kernel,
                bias,
                activation,
                y.view_mut(),
                patches,
            )?;
        } else {
            conv2d_forward(&g, x, kernel, bias, activation, y.view_mut())?;
        }
        let mut y = y
            .into_dyn()
            .into_shape_with_order(batched(n, &self.example_shape()))?;
        self.activation.finish(&mut y);
        Ok(y)
    }

    fn backward(
        &mut self,
        inputs: &[&ArrayD<T>],
        output: &ArrayD<T>,
        grad_output: &ArrayD<T>,
    ) -> Result<Vec<ArrayD<T>>> {
        let input = single(inputs)?;
        let mut dx = ArrayD::<T>::zeros(input.raw_dim());
        self.backward_into(input, output, grad_output, Some(&mut dx))?;
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
