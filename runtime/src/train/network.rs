//! A runtime model with what training adds to it: the head that turns its output into
//! predictions, and the weight penalties of its layers.

use super::loss::{Head, Loss};
use crate::data::Dataset;
use crate::kernels::loss::{argmax_rows, softmax_rows, weight_penalty};
use crate::kernels::{KernelError, Result};
use crate::model::Model;
use crate::optim::Optimizer;
use ndarray::{s, Array2, Array4, Axis};

/// An L1/L2 penalty on one parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Penalty {
    pub layer: String,
    pub param: &'static str,
    pub l1: f32,
    pub l2: f32,
}

/// A model ready to train and predict.
pub struct Network {
    pub model: Model<f32>,
    pub head: Head,
    pub penalties: Vec<Penalty>,
}

/// What one training step did.
pub enum StepResult {
    /// The batch's loss (penalties included) and how many examples it classified right.
    Done { loss: f32, correct: usize },
    /// The loss was NaN or infinite; nothing was updated.
    NonFinite(f32),
}

/// Loss and accuracy over a data set.
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    /// `N × K` class probabilities.
    pub predictions: Array2<f32>,
}

/// Examples per batch when evaluating (memory only; results do not depend on it beyond
/// rounding of the mean loss).
pub const EVAL_BATCH: usize = 500;

impl Network {
    /// The model's output for a batch, as an `N × K` matrix.
    fn outputs(&mut self, images: Array4<f32>, training: bool) -> Result<Array2<f32>> {
        let out = self.model.forward(images.into_dyn(), training)?;
        let n = out.shape()[0];
        let k = out.len() / n.max(1);
        out.view()
            .into_shape_with_order((n, k))
            .map(|v| v.to_owned())
            .map_err(|e| KernelError::Geometry(e.to_string()))
    }

    /// Class probabilities for `images`, in batches.
    pub fn predict(&mut self, images: &Array4<f32>) -> Result<Array2<f32>> {
        let n = images.len_of(Axis(0));
        let mut all: Option<Array2<f32>> = None;
        for start in (0..n).step_by(EVAL_BATCH) {
            let end = (start + EVAL_BATCH).min(n);
            let batch = images.slice(s![start..end, .., .., ..]).to_owned();
            let mut out = self.outputs(batch, false)?;
            if self.head == Head::Softmax {
                let logits = out.clone();
                softmax_rows(logits.view(), out.view_mut())?;
            }
            let all = all.get_or_insert_with(|| Array2::zeros((n, out.ncols())));
            all.slice_mut(s![start..end, ..]).assign(&out);
        }
        Ok(all.unwrap_or_else(|| Array2::zeros((0, 0))))
    }

    /// Loss (penalties included, as Keras reports it) and accuracy on `data`.
    pub fn evaluate(&mut self, data: &Dataset, loss: Loss) -> Result<Evaluation> {
        let n = data.len();
        let mut total = 0.0f64;
        let mut correct = 0usize;
        let mut predictions: Option<Array2<f32>> = None;
        for start in (0..n).step_by(EVAL_BATCH) {
            let end = (start + EVAL_BATCH).min(n);
            let batch = data.images.slice(s![start..end, .., .., ..]).to_owned();
            let labels = &data.labels[start..end];
            let out = self.outputs(batch, false)?;
            let result = loss.compute(self.head, out.view(), labels)?;
            total += result.loss as f64 * (end - start) as f64;
            correct += count_correct(&result.predictions, labels);
            let all = predictions.get_or_insert_with(|| Array2::zeros((n, out.ncols())));
            all.slice_mut(s![start..end, ..])
                .assign(&result.predictions);
        }
        let n = n.max(1) as f64;
        Ok(Evaluation {
            loss: total / n + self.penalty_total() as f64,
            accuracy: correct as f64 / n,
            predictions: predictions.unwrap_or_else(|| Array2::zeros((0, 0))),
        })
    }

    /// One step of gradient descent on a batch; `step` numbers it for random layers.
    pub fn train_step(
        &mut self,
        images: Array4<f32>,
        labels: &[usize],
        loss: Loss,
        optimizer: &mut Optimizer<f32>,
        step: u64,
    ) -> Result<StepResult> {
        self.model.set_step(step);
        let out = self.outputs(images, true)?;
        let result = loss.compute(self.head, out.view(), labels)?;
        let correct = count_correct(&result.predictions, labels);
        let mut total = result.loss;
        if !total.is_finite() {
            return Ok(StepResult::NonFinite(total));
        }
        let grad = result.grad.into_dyn();
        self.model.backward_params(grad)?;
        let mut params = Vec::new();
        for (layer, param) in self.model.params() {
            if let Some(p) = self
                .penalties
                .iter()
                .find(|p| p.layer == layer && p.param == param.name)
            {
                let flat_len = param.value.len();
                let w = param
                    .value
                    .view()
                    .into_shape_with_order(flat_len)
                    .map_err(|e| KernelError::Geometry(e.to_string()))?;
                let g = param
                    .grad
                    .view_mut()
                    .into_shape_with_order(flat_len)
                    .map_err(|e| KernelError::Geometry(e.to_string()))?;
                total += weight_penalty(w, p.l1, p.l2, g)?;
            }
            params.push(param);
        }
        if !total.is_finite() {
            return Ok(StepResult::NonFinite(total));
        }
        optimizer.step(&mut params);
        Ok(StepResult::Done {
            loss: total,
            correct,
        })
    }

    /// The current value of every penalty.
    pub fn penalty_total(&mut self) -> f32 {
        let penalties = self.penalties.clone();
        let mut total = 0.0;
        for (layer, param) in self.model.params() {
            for p in penalties
                .iter()
                .filter(|p| p.layer == layer && p.param == param.name)
            {
                total += param
                    .value
                    .iter()
                    .map(|&w| p.l1 * w.abs() + p.l2 * w * w)
                    .sum::<f32>();
            }
        }
        total
    }
}

/// How many rows of `predictions` have their largest value at the label.
pub fn count_correct(predictions: &Array2<f32>, labels: &[usize]) -> usize {
    argmax_rows(predictions.view())
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count()
}
