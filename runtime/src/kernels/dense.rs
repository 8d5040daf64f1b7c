//! Fully connected layers: `y = activation(x · W + b)` with `x: N × in`, `W: in × out`.

use super::activation::{bias_activation, Activation};
use super::conv::column_sums;
use super::gemm::gemm;
use super::{expect_shape, min_items, Result};
use crate::Float;
use ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Rows (examples) or columns (units) per parallel task.
const BLOCK: usize = 32;

/// `output = activation(input · kernel + bias)`, parallel over blocks of examples, or over
/// blocks of units when the batch is small. Either way each output is one dot product in a
/// fixed order. `activation` must not need its input for backward.
pub fn dense_forward<T: Float>(
    input: ArrayView2<T>,
    kernel: ArrayView2<T>,
    bias: Option<ArrayView1<T>>,
    activation: Activation,
    mut output: ArrayViewMut2<T>,
) -> Result<()> {
    let (n, units) = (input.nrows(), kernel.ncols());
    expect_shape("dense kernel", kernel.shape(), &[input.ncols(), units])?;
    expect_shape("dense output", output.shape(), &[n, units])?;
    if let Some(b) = &bias {
        expect_shape("dense bias", b.shape(), &[units])?;
    }
    if !output.is_standard_layout() {
        return Err(super::KernelError::Geometry(
            "dense output must be in standard layout".into(),
        ));
    }
    let bias: Option<Vec<T>> = bias.map(|b| b.to_vec());
    let finish = |mut block: ArrayViewMut2<T>, bias: Option<&[T]>| {
        for mut row in block.rows_mut() {
            let row = row.as_slice_mut().expect("output rows are contiguous");
            bias_activation(row, bias, activation);
        }
    };
    if n >= BLOCK * 2 || units < BLOCK * 2 {
        output
            .axis_chunks_iter_mut(Axis(0), BLOCK)
            .into_par_iter()
            .enumerate()
            .with_min_len(min_items(BLOCK * input.ncols() * units))
            .for_each(|(i, mut out)| {
                let rows = out.nrows();
                let x = input.slice(s![i * BLOCK..i * BLOCK + rows, ..]);
                gemm(T::one(), &x, &kernel, T::zero(), &mut out);
                finish(out, bias.as_deref());
            });
    } else {
        output
            .axis_chunks_iter_mut(Axis(1), BLOCK)
            .into_par_iter()
            .enumerate()
            .with_min_len(min_items(n * input.ncols() * BLOCK))
            .for_each(|(j, mut out)| {
                let cols = out.ncols();
                let range = j * BLOCK..j * BLOCK + cols;
                let k = kernel.slice(s![.., range.clone()]);
                gemm(T::one(), &input, &k, T::zero(), &mut out);
                finish(out, bias.as_ref().map(|b| &b[range]));
            });
    }
    Ok(())
}

/// Gradients of a dense layer given `grad_output` = ∂loss/∂(pre-activation output).
/// Overwrites `grad_kernel`, and `grad_bias` and `grad_input` when given.
pub fn dense_backward<T: Float>(
    input: ArrayView2<T>,
    kernel: ArrayView2<T>,
    grad_output: ArrayView2<T>,
    grad_input: Option<ArrayViewMut2<T>>,
    mut grad_kernel: ArrayViewMut2<T>,
    grad_bias: Option<ArrayViewMut1<T>>,
) -> Result<()> {
    let (n, units) = (input.nrows(), kernel.ncols());
    expect_shape("dense kernel", kernel.shape(), &[input.ncols(), units])?;
    expect_shape("dense output gradient", grad_output.shape(), &[n, units])?;
    expect_shape("dense kernel gradient", grad_kernel.shape(), kernel.shape())?;
    // dW = xᵀ · dy, split over blocks of units so that each sum over examples is whole.
    grad_kernel
        .axis_chunks_iter_mut(Axis(1), BLOCK)
        .into_par_iter()
        .enumerate()
        .with_min_len(min_items(n * input.ncols() * BLOCK))
        .for_each(|(j, mut dk)| {
            let cols = dk.ncols();
            let dy = grad_output.slice(s![.., j * BLOCK..j * BLOCK + cols]);
            gemm(T::one(), &input.t(), &dy, T::zero(), &mut dk);
        });
    if let Some(mut grad_bias) = grad_bias {
        expect_shape("dense bias gradient", grad_bias.shape(), &[units])?;
        column_sums(&grad_output, &mut grad_bias);
    }
    if let Some(mut grad_input) = grad_input {
        expect_shape("dense input gradient", grad_input.shape(), input.shape())?;
        grad_input
            .axis_chunks_iter_mut(Axis(0), BLOCK)
            .into_par_iter()
            .enumerate()
            .with_min_len(min_items(BLOCK * units * input.ncols()))
            .for_each(|(i, mut dx)| {
                let rows = dx.nrows();
                let dy = grad_output.slice(s![i * BLOCK..i * BLOCK + rows, ..]);
                gemm(T::one(), &dy, &kernel.t(), T::zero(), &mut dx);
            });
    }
    Ok(())
}
