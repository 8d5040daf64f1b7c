//! Kernels that move or mask values: `add`, `concatenate`, zero padding, dropout, PReLU
//! and Gaussian noise.

use super::conv::Padding2d;
use super::{expect_shape, KernelError, Result};
use crate::Float;
use ndarray::{s, ArrayView4, ArrayViewD, ArrayViewMut4, ArrayViewMutD, Axis, Slice, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// `output = Σ inputs`, in input order.
pub fn add_forward<T: Float>(inputs: &[ArrayViewD<T>], mut output: ArrayViewMutD<T>) -> Result<()> {
    let Some(first) = inputs.first() else {
        return Err(KernelError::Geometry("add needs at least one input".into()));
    };
    for input in inputs {
        expect_shape("add input", input.shape(), output.shape())?;
    }
    output.assign(first);
    for input in &inputs[1..] {
        output += input;
    }
    Ok(())
}

/// Joins tensors along their last axis (channels), in input order; every other axis must
/// agree. Works for images, sequences and flat vectors alike.
pub fn concat_channels_forward<T: Float>(
    inputs: &[ArrayViewD<T>],
    mut output: ArrayViewMutD<T>,
) -> Result<()> {
    let last = output
        .ndim()
        .checked_sub(1)
        .ok_or_else(|| KernelError::Geometry("concatenate of scalars".into()))?;
    let mut c0 = 0;
    for input in inputs {
        let c = input.shape().get(last).copied().unwrap_or(0);
        let fits = input.ndim() == output.ndim() && input.shape()[..last] == output.shape()[..last];
        if !fits || c0 + c > output.shape()[last] {
            let mut expected = output.shape().to_vec();
            expected[last] = output.shape()[last].saturating_sub(c0);
            return Err(KernelError::Shape {
                what: "concatenate input",
                expected,
                got: input.shape().to_vec(),
            });
        }
        output
            .slice_axis_mut(Axis(last), Slice::from(c0..c0 + c))
            .assign(input);
        c0 += c;
    }
    expect_shape(
        "concatenate output channels",
        &[c0],
        &[output.shape()[last]],
    )
}

/// Splits the output gradient of a concatenation back into its inputs' gradients.
pub fn concat_channels_backward<T: Float>(
    grad_output: ArrayViewD<T>,
    grad_inputs: &mut [ArrayViewMutD<T>],
) -> Result<()> {
    let last = grad_output
        .ndim()
        .checked_sub(1)
        .ok_or_else(|| KernelError::Geometry("concatenate of scalars".into()))?;
    let mut c0 = 0;
    for grad in grad_inputs.iter_mut() {
        let c = grad.shape().get(last).copied().unwrap_or(0);
        if grad.ndim() != grad_output.ndim() || c0 + c > grad_output.shape()[last] {
            return Err(KernelError::Geometry(
                "concatenate gradients do not fit the output".into(),
            ));
        }
        grad.assign(&grad_output.slice_axis(Axis(last), Slice::from(c0..c0 + c)));
        c0 += c;
    }
    Ok(())
}

/// Copies `input` into the middle of `output`, zeros around it.
pub fn zero_pad2d_forward<T: Float>(
    padding: Padding2d,
    input: ArrayView4<T>,
    mut output: ArrayViewMut4<T>,
) -> Result<()> {
    let (n, h, w, c) = input.dim();
    expect_shape(
        "padded output",
        output.shape(),
        &[
            n,
            h + padding.top + padding.bottom,
            w + padding.left + padding.right,
            c,
        ],
    )?;
    output.fill(T::zero());
    output
        .slice_mut(s![
            ..,
            padding.top..padding.top + h,
            padding.left..padding.left + w,
            ..
        ])
        .assign(&input);
    Ok(())
}

/// The middle of the padded gradient.
pub fn zero_pad2d_backward<T: Float>(
    padding: Padding2d,
    grad_output: ArrayView4<T>,
    mut grad_input: ArrayViewMut4<T>,
) -> Result<()> {
    let (n, h, w, c) = grad_input.dim();
    expect_shape(
        "padded gradient",
        grad_output.shape(),
        &[
            n,
            h + padding.top + padding.bottom,
            w + padding.left + padding.right,
            c,
        ],
    )?;
    grad_input.assign(&grad_output.slice(s![
        ..,
        padding.top..padding.top + h,
        padding.left..padding.left + w,
        ..
    ]));
    Ok(())
}

/// Inverted dropout: keeps each value with probability `1 − rate`, scaled by
/// `1 / (1 − rate)`, and writes the applied factor (0 or the scale) into `mask` for backward.
/// The mask comes from a ChaCha8 stream seeded by `seed`, drawn in element order, so it is
/// the same on every machine and thread count.
pub fn dropout_forward<T: Float>(
    rate: f64,
    seed: u64,
    input: ArrayViewD<T>,
    mut mask: ArrayViewMutD<T>,
    mut output: ArrayViewMutD<T>,
) -> Result<()> {
    expect_shape("dropout mask", mask.shape(), input.shape())?;
    expect_shape("dropout output", output.shape(), input.shape())?;
    if !(0.0..1.0).contains(&rate) {
        return Err(KernelError::Geometry(format!(
            "dropout rate {rate} is not in [0, 1)"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scale = T::lit(1.0 / (1.0 - rate));
    for m in mask.iter_mut() {
        *m = if rng.random::<f64>() < rate {
            T::zero()
        } else {
            scale
        };
    }
    Zip::from(&mut output)
        .and(&input)
        .and(&mask)
        .par_for_each(|y, &x, &m| *y = x * m);
    Ok(())
}

/// `grad_input = grad_output ⊙ mask` (also the backward of Gaussian noise's identity).
pub fn mask_backward<T: Float>(
    mask: ArrayViewD<T>,
    grad_output: ArrayViewD<T>,
    mut grad_input: ArrayViewMutD<T>,
) -> Result<()> {
    expect_shape("mask", mask.shape(), grad_output.shape())?;
    expect_shape("masked gradient", grad_input.shape(), grad_output.shape())?;
    Zip::from(&mut grad_input)
        .and(&grad_output)
        .and(&mask)
        .par_for_each(|dx, &dy, &m| *dx = dy * m);
    Ok(())
}

/// Adds zero-mean Gaussian noise of standard deviation `stddev`, seeded as dropout is.
pub fn gaussian_noise_forward<T: Float>(
    stddev: f64,
    seed: u64,
    input: ArrayViewD<T>,
    mut output: ArrayViewMutD<T>,
) -> Result<()> {
    expect_shape("noise output", output.shape(), input.shape())?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Zip::from(&mut output).and(&input).for_each(|y, &x| {
        *y = x + {
            let z: f64 = StandardNormal.sample(&mut rng);
            T::lit(stddev * z)
        }
    });
    Ok(())
}

/// PReLU: `y = x` for `x ≥ 0`, `α x` otherwise, where `alpha` has the shape of one example
/// with shared axes of size 1 (broadcast). `input` is `N × …`.
pub fn prelu_forward<T: Float>(
    alpha: ArrayViewD<T>,
    input: ArrayViewD<T>,
    mut output: ArrayViewMutD<T>,
) -> Result<()> {
    expect_shape("prelu output", output.shape(), input.shape())?;
    for (mut out, example) in output.axis_iter_mut(Axis(0)).zip(input.axis_iter(Axis(0))) {
        let alpha = alpha
            .broadcast(example.raw_dim())
            .ok_or_else(|| KernelError::Shape {
                what: "prelu alpha",
                expected: example.shape().to_vec(),
                got: alpha.shape().to_vec(),
            })?;
        Zip::from(&mut out)
            .and(&example)
            .and(&alpha)
            .for_each(|y, &x, &a| *y = if x >= T::zero() { x } else { a * x });
    }
    Ok(())
}

/// PReLU backward: writes `∂L/∂x` and `∂L/∂α` (summed over examples and shared axes, in
/// element order).
pub fn prelu_backward<T: Float>(
    alpha: ArrayViewD<T>,
    input: ArrayViewD<T>,
    grad_output: ArrayViewD<T>,
    mut grad_input: ArrayViewMutD<T>,
    mut grad_alpha: ArrayViewMutD<T>,
) -> Result<()> {
    expect_shape("prelu gradient", grad_output.shape(), input.shape())?;
    expect_shape("prelu input gradient", grad_input.shape(), input.shape())?;
    expect_shape("prelu alpha gradient", grad_alpha.shape(), alpha.shape())?;
    grad_alpha.fill(T::zero());
    for ((mut dx, x), dy) in grad_input
        .axis_iter_mut(Axis(0))
        .zip(input.axis_iter(Axis(0)))
        .zip(grad_output.axis_iter(Axis(0)))
    {
        let a = alpha
            .broadcast(x.raw_dim())
            .ok_or_else(|| KernelError::Geometry("prelu alpha does not broadcast".into()))?;
        Zip::from(&mut dx)
            .and(&x)
            .and(&dy)
            .and(&a)
            .for_each(|dx, &x, &dy, &a| *dx = if x >= T::zero() { dy } else { a * dy });
        // Accumulate ∂α through the broadcast: walk every element and add into its α.
        for ((index, &xv), &dyv) in x.indexed_iter().zip(dy.iter()) {
            if xv < T::zero() {
                let mut target = index.clone();
                for (axis, &len) in alpha.shape().iter().enumerate() {
                    if len == 1 {
                        target[axis] = 0;
                    }
                }
                grad_alpha[target] += xv * dyv;
            }
        }
    }
    Ok(())
}
