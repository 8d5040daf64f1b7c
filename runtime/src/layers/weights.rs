//! What `conv*` and `dense` layers share: a kernel and an optional bias with their
//! gradients, and an activation fused into the kernel's epilogue.

use super::Param;
use crate::kernels::activation::{forward_in_place, pre_activation_grad, Activation};
use crate::Float;
use ndarray::ArrayD;
use std::borrow::Cow;

/// A kernel and an optional bias, with the gradients of the last backward pass.
pub(crate) struct Weights<T> {
    pub kernel: ArrayD<T>,
    pub bias: Option<ArrayD<T>>,
    pub kernel_grad: ArrayD<T>,
    pub bias_grad: Option<ArrayD<T>>,
}

impl<T: Float> Weights<T> {
    pub fn new(kernel: ArrayD<T>, bias: Option<ArrayD<T>>) -> Self {
        Weights {
            kernel_grad: ArrayD::zeros(kernel.raw_dim()),
            bias_grad: bias.as_ref().map(|b| ArrayD::zeros(b.raw_dim())),
            kernel,
            bias,
        }
    }

    /// `kernel`, then `bias` if there is one.
    pub fn params(&mut self) -> Vec<Param<'_, T>> {
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

/// An activation applied in a kernel's epilogue when its derivative can be taken from the
/// output; GELU and swish, which need their input, run as a separate pass that keeps it.
pub(crate) struct FusedActivation<T> {
    pub activation: Activation,
    preactivation: Option<ArrayD<T>>,
}

impl<T: Float> FusedActivation<T> {
    pub fn new(activation: Activation) -> Self {
        FusedActivation {
            activation,
            preactivation: None,
        }
    }

    /// The activation to hand the kernel's epilogue.
    pub fn in_epilogue(&self) -> Activation {
        if self.activation.needs_input() {
            Activation::Linear
        } else {
            self.activation
        }
    }

    /// Finishes a forward pass whose kernel applied [`Self::in_epilogue`].
    pub fn finish(&mut self, output: &mut ArrayD<T>) {
        if self.activation.needs_input() {
            self.preactivation = Some(output.clone());
            forward_in_place(self.activation, output.view_mut());
        }
    }

    /// `∂L/∂(pre-activation)` from `∂L/∂output`, borrowed as it is for a linear layer.
    ///
    /// With an activation, the derivative is applied on the way into the kernel's backward,
    /// in the pass that also sums the bias gradient into `bias_grad` (whose last axis is the
    /// channels); the second value says whether it did, so the kernel need not sum again.
    pub fn backward<'a>(
        &self,
        output: &ArrayD<T>,
        grad_output: &'a ArrayD<T>,
        bias_grad: Option<&mut ArrayD<T>>,
    ) -> (Cow<'a, ArrayD<T>>, bool) {
        if self.activation == Activation::Linear {
            return (Cow::Borrowed(grad_output), false);
        }
        let input = self.preactivation.as_ref().unwrap_or(output);
        let sums = bias_grad.and_then(|b| b.as_slice_mut());
        let (grad, summed) = pre_activation_grad(self.activation, input, output, grad_output, sums);
        (Cow::Owned(grad), summed)
    }
}
