//! The training loss on a model's last output, fused with the model's softmax head where it
//! can be.

use crate::kernels::loss::{
    binary_cross_entropy, mean_absolute_error, mean_squared_error, softmax_cross_entropy,
    softmax_rows, softmax_rows_backward,
};
use crate::kernels::Result;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};

/// What turns the last layer's output into predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// The output is the prediction.
    Identity,
    /// The output holds logits; predictions are their softmax.
    Softmax,
}

/// A loss, with Keras' arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    CategoricalCrossentropy {
        from_logits: bool,
        label_smoothing: f64,
    },
    SparseCategoricalCrossentropy {
        from_logits: bool,
    },
    BinaryCrossentropy {
        from_logits: bool,
        label_smoothing: f64,
    },
    MeanSquaredError,
    MeanAbsoluteError,
}

/// Keras' clipping of probabilities before a logarithm.
const EPSILON: f32 = 1e-7;

/// A batch's loss, its gradient with respect to the last layer's output, and the
/// predictions (probabilities for a softmax head).
pub struct LossOutput {
    pub loss: f32,
    pub grad: Array2<f32>,
    pub predictions: Array2<f32>,
}

impl Loss {
    /// Computes the loss of `outputs` (`N × K`) against integer `labels`.
    pub fn compute(
        self,
        head: Head,
        outputs: ArrayView2<f32>,
        labels: &[usize],
    ) -> Result<LossOutput> {
        let (n, k) = outputs.dim();
        let mut grad = Array2::zeros((n, k));
        let predictions = match head {
            Head::Softmax => {
                let mut p = Array2::zeros((n, k));
                softmax_rows(outputs, p.view_mut())?;
                p
            }
            Head::Identity => outputs.to_owned(),
        };
        let (smoothing, from_logits) = match self {
            Loss::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
            }
            | Loss::BinaryCrossentropy {
                from_logits,
                label_smoothing,
            } => (label_smoothing, from_logits),
            Loss::SparseCategoricalCrossentropy { from_logits } => (0.0, from_logits),
            _ => (0.0, false),
        };
        let targets = one_hot(labels, k, smoothing as f32);
        let is_categorical = matches!(
            self,
            Loss::CategoricalCrossentropy { .. } | Loss::SparseCategoricalCrossentropy { .. }
        );
        // Softmax head + cross-entropy on probabilities is cross-entropy on the logits.
        if is_categorical && head == Head::Softmax && !from_logits {
            let loss = softmax_cross_entropy(outputs, targets.view(), grad.view_mut())?;
            return Ok(LossOutput {
                loss,
                grad,
                predictions,
            });
        }
        // Otherwise the loss sees the predictions, and the head's backward follows.
        let mut grad_predictions = Array2::zeros((n, k));
        let loss = match self {
            _ if is_categorical && from_logits => softmax_cross_entropy(
                predictions.view(),
                targets.view(),
                grad_predictions.view_mut(),
            )?,
            _ if is_categorical => cross_entropy_on_probabilities(
                predictions.view(),
                targets.view(),
                grad_predictions.view_mut(),
            ),
            Loss::BinaryCrossentropy { from_logits, .. } => binary_cross_entropy(
                predictions.view(),
                targets.view(),
                from_logits,
                grad_predictions.view_mut(),
            )?,
            Loss::MeanSquaredError => mean_squared_error(
                predictions.view(),
                targets.view(),
                grad_predictions.view_mut(),
            )?,
            _ => mean_absolute_error(
                predictions.view(),
                targets.view(),
                grad_predictions.view_mut(),
            )?,
        };
        match head {
            Head::Softmax => {
                softmax_rows_backward(predictions.view(), grad_predictions.view(), grad.view_mut())?
            }
            Head::Identity => grad = grad_predictions,
        }
        let predictions = if is_categorical && from_logits && head == Head::Identity {
            let mut p = Array2::zeros((n, k));
            softmax_rows(outputs, p.view_mut())?;
            p
        } else {
            predictions
        };
        Ok(LossOutput {
            loss,
            grad,
            predictions,
        })
    }
}

/// One-hot rows, smoothed as Keras does: `y · (1 − s) + s / K`.
pub fn one_hot(labels: &[usize], classes: usize, smoothing: f32) -> Array2<f32> {
    let mut targets = Array2::from_elem((labels.len(), classes), smoothing / classes as f32);
    for (row, &label) in labels.iter().enumerate() {
        if label < classes {
            targets[[row, label]] += 1.0 - smoothing;
        }
    }
    targets
}

/// `−Σ y log p` per row, mean over rows, on probabilities clipped to `[ε, 1 − ε]` (a model
/// whose last layer is not a softmax but whose loss is a cross-entropy on probabilities).
fn cross_entropy_on_probabilities(
    p: ArrayView2<f32>,
    y: ArrayView2<f32>,
    mut grad: ArrayViewMut2<f32>,
) -> f32 {
    let n = p.nrows().max(1) as f32;
    let mut total = 0.0f64;
    Zip::from(&mut grad).and(&p).and(&y).for_each(|g, &p, &y| {
        let clipped = p.clamp(EPSILON, 1.0 - EPSILON);
        total -= (y * clipped.ln()) as f64;
        *g = if p == clipped { -y / (p * n) } else { 0.0 };
    });
    (total / n as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The fused path and the general path (softmax, loss on probabilities, softmax
    /// backward) agree.
    #[test]
    fn fused_softmax_cross_entropy_matches_the_composition() {
        let logits = array![[1.0f32, -0.5, 2.0], [0.1, 0.2, 0.3]];
        let labels = [2, 0];
        let fused = Loss::CategoricalCrossentropy {
            from_logits: false,
            label_smoothing: 0.0,
        }
        .compute(Head::Softmax, logits.view(), &labels)
        .unwrap();
        let mut p = Array2::zeros((2, 3));
        softmax_rows(logits.view(), p.view_mut()).unwrap();
        let composed = Loss::CategoricalCrossentropy {
            from_logits: false,
            label_smoothing: 0.0,
        }
        .compute(Head::Identity, p.view(), &labels)
        .unwrap();
        assert!((fused.loss - composed.loss).abs() < 1e-5);
        let mut via_softmax = Array2::zeros((2, 3));
        softmax_rows_backward(p.view(), composed.grad.view(), via_softmax.view_mut()).unwrap();
        for (a, b) in fused.grad.iter().zip(via_softmax.iter()) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(fused.predictions, p);
    }

    #[test]
    fn smoothing_spreads_the_target() {
        let t = one_hot(&[1], 4, 0.2);
        assert_eq!(t, array![[0.05, 0.85, 0.05, 0.05]]);
    }
}
