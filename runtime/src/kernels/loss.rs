//! Losses and weight penalties, each returning the loss and writing its gradient.
//!
//! Reductions follow Keras: a per-example loss (summed over classes for cross-entropies,
//! averaged over the last axis for the others), then the mean over the batch. Predictions
//! and targets are `N × K` matrices.
//!
//! The cross-entropies take logits and apply softmax (or sigmoid) themselves: fused, the
//! gradient is simply `(p − y) / N`, which is both cheaper and exact where a separate softmax
//! followed by `log` would lose precision. A model whose last layer is a softmax hands the
//! loss that layer's input instead.

use super::{expect_shape, Result};
use crate::Float;
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

/// Keras' clipping of probabilities in `binary_crossentropy` on probabilities.
const PROBABILITY_EPSILON: f64 = 1e-7;

/// Softmax of each row of `logits` into `probabilities`, stable for large logits.
pub fn softmax_rows<T: Float>(
    logits: ArrayView2<T>,
    mut probabilities: ArrayViewMut2<T>,
) -> Result<()> {
    expect_shape("softmax output", probabilities.shape(), logits.shape())?;
    Zip::from(probabilities.rows_mut())
        .and(logits.rows())
        .par_for_each(|mut p, z| {
            let max = z.iter().cloned().fold(T::neg_infinity(), T::max);
            let mut sum = T::zero();
            Zip::from(&mut p).and(&z).for_each(|p, &z| {
                *p = (z - max).exp();
                sum += *p;
            });
            p.mapv_inplace(|v| v / sum);
        });
    Ok(())
}

/// `ln Σ exp(z)`, shifted by the maximum so that it cannot overflow.
fn log_sum_exp<T: Float>(z: ArrayView1<T>) -> T {
    let max = z.iter().cloned().fold(T::neg_infinity(), T::max);
    z.iter().map(|&v| (v - max).exp()).sum::<T>().ln() + max
}

/// Backward of a standalone softmax: `dz = p ⊙ (dp − Σ dp ⊙ p)` per row.
pub fn softmax_rows_backward<T: Float>(
    probabilities: ArrayView2<T>,
    grad: ArrayView2<T>,
    mut grad_logits: ArrayViewMut2<T>,
) -> Result<()> {
    expect_shape("softmax gradient", grad.shape(), probabilities.shape())?;
    expect_shape(
        "softmax input gradient",
        grad_logits.shape(),
        probabilities.shape(),
    )?;
    Zip::from(grad_logits.rows_mut())
        .and(probabilities.rows())
        .and(grad.rows())
        .par_for_each(|mut dz, p, dp| {
            let dot: T = Zip::from(&p)
                .and(&dp)
                .fold(T::zero(), |acc, &p, &d| acc + p * d);
            Zip::from(&mut dz)
                .and(&p)
                .and(&dp)
                .for_each(|z, &p, &d| *z = p * (d - dot));
        });
    Ok(())
}

/// Categorical cross-entropy of softmax(`logits`) against target distributions (one-hot or
/// smoothed), mean over the batch. Writes `∂L/∂logits`.
pub fn softmax_cross_entropy<T: Float>(
    logits: ArrayView2<T>,
    targets: ArrayView2<T>,
    mut grad: ArrayViewMut2<T>,
) -> Result<T> {
    expect_shape("targets", targets.shape(), logits.shape())?;
    expect_shape("loss gradient", grad.shape(), logits.shape())?;
    let n = T::lit(logits.nrows().max(1) as f64);
    softmax_rows(logits, grad.view_mut())?;
    let mut total = T::zero();
    for ((z, y), mut g) in logits
        .rows()
        .into_iter()
        .zip(targets.rows())
        .zip(grad.rows_mut())
    {
        let log_sum = log_sum_exp(z);
        total += Zip::from(&z)
            .and(&y)
            .fold(T::zero(), |acc, &z, &y| acc + y * (log_sum - z));
        Zip::from(&mut g)
            .and(&y)
            .for_each(|g, &y| *g = (*g - y) / n);
    }
    Ok(total / n)
}

/// Sparse categorical cross-entropy: targets are class indices. Writes `∂L/∂logits`.
pub fn sparse_softmax_cross_entropy<T: Float>(
    logits: ArrayView2<T>,
    labels: &[usize],
    mut grad: ArrayViewMut2<T>,
) -> Result<T> {
    expect_shape("labels", &[labels.len()], &[logits.nrows()])?;
    expect_shape("loss gradient", grad.shape(), logits.shape())?;
    if let Some(&bad) = labels.iter().find(|&&l| l >= logits.ncols()) {
        return Err(super::KernelError::Geometry(format!(
            "label {bad} is not below {} classes",
            logits.ncols()
        )));
    }
    let n = T::lit(logits.nrows().max(1) as f64);
    softmax_rows(logits, grad.view_mut())?;
    let mut total = T::zero();
    for ((z, &label), mut g) in logits.rows().into_iter().zip(labels).zip(grad.rows_mut()) {
        let log_sum = log_sum_exp(z);
        total += log_sum - z[label];
        g[label] -= T::one();
        g.mapv_inplace(|v| v / n);
    }
    Ok(total / n)
}

/// A loss that is the mean over every element of `per_element(input, target)`, which
/// gives the element's loss and its derivative; writes `∂L/∂input`.
fn mean_over_elements<T: Float>(
    input: ArrayView2<T>,
    targets: ArrayView2<T>,
    mut grad: ArrayViewMut2<T>,
    per_element: impl Fn(T, T) -> (T, T),
) -> Result<T> {
    expect_shape("targets", targets.shape(), input.shape())?;
    expect_shape("loss gradient", grad.shape(), input.shape())?;
    let count = T::lit(input.len().max(1) as f64);
    let mut total = T::zero();
    Zip::from(&mut grad)
        .and(&input)
        .and(&targets)
        .for_each(|g, &x, &y| {
            let (loss, derivative) = per_element(x, y);
            total += loss;
            *g = derivative / count;
        });
    Ok(total / count)
}

/// Binary cross-entropy, on logits (`from_logits`, fused with the sigmoid) or on
/// probabilities (clipped to `[ε, 1 − ε]` as Keras does). Mean over all elements.
/// Writes `∂L/∂input`.
pub fn binary_cross_entropy<T: Float>(
    input: ArrayView2<T>,
    targets: ArrayView2<T>,
    from_logits: bool,
    grad: ArrayViewMut2<T>,
) -> Result<T> {
    let eps = T::lit(PROBABILITY_EPSILON);
    let one = T::one();
    mean_over_elements(input, targets, grad, |x, y| {
        if from_logits {
            // max(x, 0) − x·y + ln(1 + e^−|x|), and its derivative σ(x) − y.
            let loss = x.max(T::zero()) - x * y + (-x.abs()).exp().ln_1p();
            (loss, one / (one + (-x).exp()) - y)
        } else {
            let p = x.max(eps).min(one - eps);
            let loss = -(y * p.ln() + (one - y) * (one - p).ln());
            let inside = x > eps && x < one - eps;
            (
                loss,
                if inside {
                    (p - y) / (p * (one - p))
                } else {
                    T::zero()
                },
            )
        }
    })
}

/// Mean squared error over all elements. Writes `∂L/∂predictions`.
pub fn mean_squared_error<T: Float>(
    predictions: ArrayView2<T>,
    targets: ArrayView2<T>,
    grad: ArrayViewMut2<T>,
) -> Result<T> {
    mean_over_elements(predictions, targets, grad, |p, y| {
        ((p - y) * (p - y), T::lit(2.0) * (p - y))
    })
}

/// Mean absolute error over all elements; the gradient at 0 is 0. Writes `∂L/∂predictions`.
pub fn mean_absolute_error<T: Float>(
    predictions: ArrayView2<T>,
    targets: ArrayView2<T>,
    grad: ArrayViewMut2<T>,
) -> Result<T> {
    mean_over_elements(predictions, targets, grad, |p, y| {
        let sign = if p > y {
            T::one()
        } else if p < y {
            -T::one()
        } else {
            T::zero()
        };
        ((p - y).abs(), sign)
    })
}

/// Returns Keras' penalty `l1 · Σ|w| + l2 · Σw²` and adds its gradient
/// `l1 · sign(w) + 2 · l2 · w` to `grad`.
pub fn weight_penalty<T: Float>(
    weights: ArrayView1<T>,
    l1: T,
    l2: T,
    mut grad: ArrayViewMut1<T>,
) -> Result<T> {
    expect_shape("penalty gradient", grad.shape(), weights.shape())?;
    let mut total = T::zero();
    Zip::from(&mut grad).and(&weights).for_each(|g, &w| {
        total += l1 * w.abs() + l2 * w * w;
        let sign = if w > T::zero() {
            T::one()
        } else if w < T::zero() {
            -T::one()
        } else {
            T::zero()
        };
        *g += l1 * sign + T::lit(2.0) * l2 * w;
    });
    Ok(total)
}

/// The index of the largest value of each row (the predicted class).
pub fn argmax_rows<T: Float>(scores: ArrayView2<T>) -> Vec<usize> {
    scores
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}
