//! Batch normalisation over every axis but the last (channels), as Keras' default `axis=-1`.
//!
//! Training: `x̂ = (x − μ_B) / √(σ²_B + ε)`, `y = γ x̂ + β`, with the batch's mean and biased
//! variance, and the moving statistics updated as Keras does:
//! `moving = momentum · moving + (1 − momentum) · batch` (Keras 3 uses the biased batch
//! variance here too; PyTorch uses the unbiased one). Inference uses the moving statistics.
//!
//! Inputs are seen as `rows × C` matrices (`rows = N·H·W`). Sums over rows run in fixed
//! blocks of rows, added in block order, so they do not depend on the thread count.

use super::{expect_shape, Result};
use crate::Float;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};
use rayon::prelude::*;

/// Rows per block of a reduction.
const ROWS_PER_BLOCK: usize = 256;

/// Per-channel sums over `rows` rows, where `add(i, sums)` adds row `i`'s contribution;
/// rows are taken in fixed blocks and the blocks' sums added in order.
fn channel_sums<T: Float>(
    rows: usize,
    channels: usize,
    add: impl Fn(usize, &mut Array1<T>) + Sync,
) -> Array1<T> {
    let partials: Vec<Array1<T>> = (0..rows.div_ceil(ROWS_PER_BLOCK))
        .into_par_iter()
        .map(|block| {
            let mut sum = Array1::zeros(channels);
            for i in block * ROWS_PER_BLOCK..((block + 1) * ROWS_PER_BLOCK).min(rows) {
                add(i, &mut sum);
            }
            sum
        })
        .collect();
    let mut total = Array1::zeros(channels);
    for p in &partials {
        total += p;
    }
    total
}

/// What training-mode forward keeps for backward.
pub struct BatchNormCache<T> {
    /// The normalised input `x̂`, `rows × C`.
    pub normalized: Array2<T>,
    /// `1 / √(σ²_B + ε)` per channel.
    pub inv_std: Array1<T>,
}

/// Training-mode forward: normalises with the batch's statistics, writes `y`, updates the
/// moving statistics, and returns what backward needs.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_train_forward<T: Float>(
    x: ArrayView2<T>,
    gamma: ArrayView1<T>,
    beta: ArrayView1<T>,
    epsilon: T,
    momentum: T,
    mut moving_mean: ArrayViewMut1<T>,
    mut moving_variance: ArrayViewMut1<T>,
    mut y: ArrayViewMut2<T>,
) -> Result<BatchNormCache<T>> {
    let c = x.ncols();
    for (what, v) in [
        ("gamma", gamma.len()),
        ("beta", beta.len()),
        ("moving mean", moving_mean.len()),
        ("moving variance", moving_variance.len()),
    ] {
        expect_shape(what, &[v], &[c])?;
    }
    expect_shape("batch norm output", y.shape(), x.shape())?;
    let rows = T::lit(x.nrows().max(1) as f64);
    let mean: Array1<T> = channel_sums(x.nrows(), c, |i, sum| *sum += &x.row(i)) / rows;
    let variance: Array1<T> = channel_sums(x.nrows(), c, |i, sum| {
        Zip::from(sum)
            .and(x.row(i))
            .and(&mean)
            .for_each(|s, &v, &m| *s += (v - m) * (v - m))
    }) / rows;
    let inv_std = variance.mapv(|v| T::one() / (v + epsilon).sqrt());
    let mut normalized = Array2::zeros(x.raw_dim());
    Zip::from(normalized.rows_mut())
        .and(y.rows_mut())
        .and(x.rows())
        .par_for_each(|mut n, mut out, row| {
            for ch in 0..c {
                let v = (row[ch] - mean[ch]) * inv_std[ch];
                n[ch] = v;
                out[ch] = gamma[ch] * v + beta[ch];
            }
        });
    let keep = T::one() - momentum;
    Zip::from(&mut moving_mean)
        .and(&mean)
        .for_each(|m, &b| *m = momentum * *m + keep * b);
    Zip::from(&mut moving_variance)
        .and(&variance)
        .for_each(|m, &b| *m = momentum * *m + keep * b);
    Ok(BatchNormCache {
        normalized,
        inv_std,
    })
}

/// Inference-mode forward with the moving statistics.
pub fn batch_norm_inference_forward<T: Float>(
    x: ArrayView2<T>,
    gamma: ArrayView1<T>,
    beta: ArrayView1<T>,
    epsilon: T,
    moving_mean: ArrayView1<T>,
    moving_variance: ArrayView1<T>,
    mut y: ArrayViewMut2<T>,
) -> Result<()> {
    let c = x.ncols();
    expect_shape("batch norm output", y.shape(), x.shape())?;
    for (what, v) in [
        ("gamma", gamma.len()),
        ("beta", beta.len()),
        ("moving mean", moving_mean.len()),
        ("moving variance", moving_variance.len()),
    ] {
        expect_shape(what, &[v], &[c])?;
    }
    let scale: Array1<T> = Zip::from(&gamma)
        .and(&moving_variance)
        .map_collect(|&g, &v| g / (v + epsilon).sqrt());
    let shift: Array1<T> = Zip::from(&beta)
        .and(&moving_mean)
        .and(&scale)
        .map_collect(|&b, &m, &s| b - m * s);
    Zip::from(y.rows_mut())
        .and(x.rows())
        .par_for_each(|mut out, row| {
            for ch in 0..c {
                out[ch] = row[ch] * scale[ch] + shift[ch];
            }
        });
    Ok(())
}

/// Training-mode backward: writes `∂L/∂x`, `∂L/∂γ` and `∂L/∂β`.
/// `dx = γ · inv_std / m · (m · dy − Σdy − x̂ · Σ(dy · x̂))` with `m` rows.
pub fn batch_norm_train_backward<T: Float>(
    cache: &BatchNormCache<T>,
    gamma: ArrayView1<T>,
    dy: ArrayView2<T>,
    mut dx: ArrayViewMut2<T>,
    mut dgamma: ArrayViewMut1<T>,
    mut dbeta: ArrayViewMut1<T>,
) -> Result<()> {
    let c = dy.ncols();
    expect_shape(
        "batch norm output gradient",
        dy.shape(),
        cache.normalized.shape(),
    )?;
    expect_shape("batch norm input gradient", dx.shape(), dy.shape())?;
    let rows = dy.nrows();
    let sum_dy = channel_sums(rows, c, |i, sum| *sum += &dy.row(i));
    let sum_dy_xhat = channel_sums(rows, c, |i, sum| {
        Zip::from(sum)
            .and(dy.row(i))
            .and(cache.normalized.row(i))
            .for_each(|s, &d, &n| *s += d * n)
    });
    let m = T::lit(dy.nrows().max(1) as f64);
    Zip::from(dx.rows_mut())
        .and(dy.rows())
        .and(cache.normalized.rows())
        .par_for_each(|mut out, d, n| {
            for ch in 0..c {
                out[ch] = gamma[ch] * cache.inv_std[ch] / m
                    * (m * d[ch] - sum_dy[ch] - n[ch] * sum_dy_xhat[ch]);
            }
        });
    dgamma.assign(&sum_dy_xhat);
    dbeta.assign(&sum_dy);
    Ok(())
}

/// Inference-mode backward (statistics fixed): `dx = dy · γ / √(moving_var + ε)`,
/// `dγ = Σ dy · x̂` and `dβ = Σ dy` with `x̂` from the moving statistics.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_inference_backward<T: Float>(
    x: ArrayView2<T>,
    gamma: ArrayView1<T>,
    epsilon: T,
    moving_mean: ArrayView1<T>,
    moving_variance: ArrayView1<T>,
    dy: ArrayView2<T>,
    mut dx: ArrayViewMut2<T>,
    mut dgamma: ArrayViewMut1<T>,
    mut dbeta: ArrayViewMut1<T>,
) -> Result<()> {
    let c = x.ncols();
    expect_shape("batch norm output gradient", dy.shape(), x.shape())?;
    expect_shape("batch norm input gradient", dx.shape(), dy.shape())?;
    let inv_std: Array1<T> = moving_variance.mapv(|v| T::one() / (v + epsilon).sqrt());
    Zip::from(dx.rows_mut())
        .and(dy.rows())
        .par_for_each(|mut out, d| {
            for ch in 0..c {
                out[ch] = d[ch] * gamma[ch] * inv_std[ch];
            }
        });
    let rows = x.nrows();
    let sum_dy = channel_sums(rows, c, |i, sum| *sum += &dy.row(i));
    let sum_dy_xhat = channel_sums(rows, c, |i, sum| {
        for ch in 0..c {
            sum[ch] += dy[[i, ch]] * (x[[i, ch]] - moving_mean[ch]) * inv_std[ch];
        }
    });
    dgamma.assign(&sum_dy_xhat);
    dbeta.assign(&sum_dy);
    Ok(())
}
