//! The epoch loop: seeded shuffling, augmentation, validation, early stopping, checkpoints,
//! interruption and non-finite losses.
//!
//! Everything a run depends on is a function of the seed and the position (epoch, step), so
//! a run resumed from a checkpoint continues exactly as if it had not stopped.

use super::history::EpochRecord;
use super::loss::Loss;
use super::network::{Network, StepResult};
use super::plateau::{PlateauState, ReduceLrOnPlateau};
use crate::checkpoint::{self, model_tensors, tensor_name, CheckpointError, TensorFile};
use crate::data::{Augmenter, Dataset};
use crate::init::tensor_rng;
use crate::kernels::KernelError;
use crate::optim::Optimizer;
use ndarray::{ArrayD, Axis};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Keras' `EarlyStopping`.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    /// `loss`, `accuracy`, `val_loss` or `val_accuracy`.
    pub monitor: String,
    pub min_delta: f64,
    pub patience: u64,
    /// Whether larger is better (`mode: max`, or `auto` on an accuracy).
    pub maximize: bool,
    pub restore_best_weights: bool,
    pub start_from_epoch: u64,
}

/// How to train.
#[derive(Clone, Debug)]
pub struct FitConfig {
    pub epochs: u64,
    /// Examples per step; `None` is the whole training set (batch gradient descent).
    pub batch_size: Option<usize>,
    pub shuffle: bool,
    pub seed: u64,
    pub early_stopping: Option<EarlyStopping>,
    pub reduce_lr: Option<ReduceLrOnPlateau>,
    pub augment: Augmenter,
    /// Where to write a checkpoint after every epoch and on interruption.
    pub checkpoint: Option<PathBuf>,
    /// Extra metadata for checkpoints (the model, learned preprocessing…).
    pub metadata: BTreeMap<String, String>,
}

/// Where a run is, saved in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The epoch under way (0-based).
    pub epoch: u64,
    /// Steps done in that epoch.
    pub step: u64,
    /// Steps done in all.
    pub global_step: u64,
    /// Running sums of the epoch so far.
    pub loss_sum: f64,
    pub correct: u64,
    pub seen: u64,
    pub history: Vec<EpochRecord>,
    /// Early stopping's best value, its epoch, and epochs waited since.
    pub best: Option<f64>,
    pub best_epoch: Option<u64>,
    pub wait: u64,
    pub finished: bool,
    /// `reduce_lr_on_plateau`'s counters and rate (absent in checkpoints from before it).
    #[serde(default)]
    pub plateau: PlateauState,
}

/// A run's position and the best weights early stopping has kept.
#[derive(Clone, Debug, Default)]
pub struct TrainState {
    pub position: Position,
    pub best_weights: Option<BTreeMap<String, ArrayD<f32>>>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum FitOutcome {
    /// Every epoch ran.
    Finished,
    /// Early stopping ended training after this epoch (1-based).
    StoppedEarly { epoch: u64 },
    /// The stop flag was raised (Ctrl-C); a checkpoint holds the position.
    Interrupted,
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("the loss became {loss} at epoch {epoch}, step {step} (examples {first} to {last} of the shuffled epoch); training stopped, the last checkpoint is intact")]
    NonFinite {
        loss: f32,
        epoch: u64,
        step: u64,
        first: usize,
        last: usize,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Reports progress; every method has a do-nothing default.
pub trait Observer {
    fn epoch_started(&mut self, _epoch: u64, _epochs: u64, _steps: u64) {}
    fn step_done(&mut self, _step: u64, _steps: u64, _loss: f64, _accuracy: f64) {}
    fn epoch_done(&mut self, _record: &EpochRecord) {}
    fn note(&mut self, _message: &str) {}
}

/// A stream key for shuffling that no other draw uses.
const SHUFFLE_STREAM: u64 = 1 << 61;

/// The order of the training examples in `epoch`.
fn permutation(n: usize, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        order.shuffle(&mut tensor_rng(seed, SHUFFLE_STREAM + epoch));
    }
    order
}

/// Trains `net` from `state` until the configured epochs are done, early stopping ends
/// it, `stop` is raised, or the loss stops being finite.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    net: &mut Network,
    optimizer: &mut Optimizer<f32>,
    loss: Loss,
    train: &Dataset,
    validation: Option<&Dataset>,
    config: &FitConfig,
    state: &mut TrainState,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<FitOutcome, FitError> {
    if train.is_empty() {
        return Err(FitError::Invalid("there are no training examples".into()));
    }
    let n = train.len();
    let batch = config.batch_size.unwrap_or(n).clamp(1, n);
    let steps = n.div_ceil(batch) as u64;
    if let Some(rate) = state.position.plateau.learning_rate {
        optimizer.set_learning_rate(rate);
    }
    while state.position.epoch < config.epochs && !state.position.finished {
        let epoch = state.position.epoch;
        let started = Instant::now();
        let order = permutation(n, config.seed, epoch, config.shuffle);
        observer.epoch_started(epoch, config.epochs, steps);
        while state.position.step < steps {
            let step = state.position.step;
            let first = step as usize * batch;
            let last = (first + batch).min(n);
            let indices = &order[first..last];
            let mut images = train.images.select(Axis(0), indices);
            config.augment.apply(&mut images, epoch, first);
            let labels: Vec<usize> = indices.iter().map(|&i| train.labels[i]).collect();
            match net.train_step(images, &labels, loss, optimizer, state.position.global_step)? {
                StepResult::NonFinite(value) => {
                    return Err(FitError::NonFinite {
                        loss: value,
                        epoch: epoch + 1,
                        step: step + 1,
                        first,
                        last: last - 1,
                    })
                }
                StepResult::Done { loss, correct } => {
                    let p = &mut state.position;
                    p.loss_sum += loss as f64 * labels.len() as f64;
                    p.correct += correct as u64;
                    p.seen += labels.len() as u64;
                    p.step += 1;
                    p.global_step += 1;
                    observer.step_done(
                        p.step,
                        steps,
                        p.loss_sum / p.seen as f64,
                        p.correct as f64 / p.seen as f64,
                    );
                }
            }
            if stop.load(Ordering::SeqCst) {
                if let Some(path) = &config.checkpoint {
                    write_checkpoint(path, net, optimizer, state, &config.metadata)?;
                }
                return Ok(FitOutcome::Interrupted);
            }
        }
        let mut record = EpochRecord {
            epoch: epoch + 1,
            loss: state.position.loss_sum / state.position.seen.max(1) as f64,
            accuracy: state.position.correct as f64 / state.position.seen.max(1) as f64,
            val_loss: None,
            val_accuracy: None,
            seconds: 0.0,
        };
        if let Some(validation) = validation.filter(|v| !v.is_empty()) {
            let evaluation = net.evaluate(validation, loss)?;
            record.val_loss = Some(evaluation.loss);
            record.val_accuracy = Some(evaluation.accuracy);
        }
        record.seconds = started.elapsed().as_secs_f64();
        let stop_early = config
            .early_stopping
            .as_ref()
            .map(|es| early_stopping_update(es, &record, net, state, observer))
            .transpose()?
            .unwrap_or(false);
        let p = &mut state.position;
        p.history.push(record.clone());
        p.epoch += 1;
        p.step = 0;
        p.loss_sum = 0.0;
        p.correct = 0;
        p.seen = 0;
        p.finished = stop_early || p.epoch >= config.epochs;
        observer.epoch_done(&record);
        if let Some(reduce) = &config.reduce_lr {
            reduce_lr_update(reduce, &record, optimizer, state, observer);
        }
        if stop_early {
            observer.note(&format!(
                "early stopping after epoch {}: `{}` has not improved for {} epochs",
                record.epoch,
                config
                    .early_stopping
                    .as_ref()
                    .map_or("", |e| e.monitor.as_str()),
                state.position.wait
            ));
        }
        if let Some(path) = &config.checkpoint {
            write_checkpoint(path, net, optimizer, state, &config.metadata)?;
        }
        if stop_early {
            return Ok(FitOutcome::StoppedEarly {
                epoch: record.epoch,
            });
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(FitOutcome::Interrupted);
        }
    }
    Ok(FitOutcome::Finished)
}

/// Keras' rule: an improvement is `current − min_delta < best` (or `+ min_delta >` when
/// maximising); training stops once `patience` epochs pass without one.
fn early_stopping_update(
    es: &EarlyStopping,
    record: &EpochRecord,
    net: &mut Network,
    state: &mut TrainState,
    observer: &mut dyn Observer,
) -> Result<bool, FitError> {
    let epoch = record.epoch - 1;
    if epoch < es.start_from_epoch {
        return Ok(false);
    }
    let Some(current) = record.monitored(&es.monitor) else {
        observer.note(&format!(
            "early stopping watches `{}`, which this run does not measure (set validation_split)",
            es.monitor
        ));
        return Ok(false);
    };
    let p = &mut state.position;
    p.wait += 1;
    let improved = match p.best {
        None => true,
        Some(best) if es.maximize => current - es.min_delta > best,
        Some(best) => current + es.min_delta < best,
    };
    if improved {
        p.best = Some(current);
        p.best_epoch = Some(epoch);
        p.wait = 0;
        if es.restore_best_weights {
            state.best_weights = Some(model_tensors(&mut net.model, ""));
        }
        return Ok(false);
    }
    Ok(p.wait >= es.patience && epoch > 0)
}

/// Lowers the learning rate when `reduce_lr_on_plateau` says so.
fn reduce_lr_update(
    reduce: &ReduceLrOnPlateau,
    record: &EpochRecord,
    optimizer: &mut Optimizer<f32>,
    state: &mut TrainState,
    observer: &mut dyn Observer,
) {
    let Some(current) = record.monitored(&reduce.monitor) else {
        observer.note(&format!(
            "reduce_lr_on_plateau watches `{}`, which this run does not measure (set validation_split)",
            reduce.monitor
        ));
        return;
    };
    let rate = optimizer.config().learning_rate;
    if let Some(reduced) = reduce.update(&mut state.position.plateau, current, rate) {
        optimizer.set_learning_rate(reduced);
        observer.note(&format!(
            "epoch {}: `{}` has not improved for {} epochs; learning rate {rate:.3e} → {reduced:.3e}",
            record.epoch, reduce.monitor, reduce.patience
        ));
    }
}

/// Restores the best weights early stopping kept, if it kept any.
pub fn restore_best(net: &mut Network, state: &TrainState) -> bool {
    let Some(best) = &state.best_weights else {
        return false;
    };
    for (layer, p) in net.model.params() {
        if let Some(t) = best.get(&tensor_name(layer, p.name)) {
            p.value.assign(t);
        }
    }
    true
}

/// Metadata key of the training position (JSON).
const POSITION_KEY: &str = "cnn.position";
/// Metadata key of the optimizer's step count.
const ITERATIONS_KEY: &str = "cnn.optimizer_iterations";

/// Writes the weights, the optimizer's state, the best weights and the position.
pub fn write_checkpoint(
    path: &Path,
    net: &mut Network,
    optimizer: &Optimizer<f32>,
    state: &TrainState,
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let mut file = TensorFile {
        tensors: model_tensors(&mut net.model, ""),
        metadata: metadata.clone(),
    };
    let trainable: Vec<String> = net
        .model
        .params()
        .into_iter()
        .filter(|(_, p)| p.trainable)
        .map(|(layer, p)| tensor_name(layer, p.name))
        .collect();
    let (iterations, slots) = optimizer.state();
    for (index, slot, tensor) in slots {
        file.tensors.insert(
            format!("optimizer/{}/{slot}", trainable[index]),
            tensor.clone(),
        );
    }
    if let Some(best) = &state.best_weights {
        for (name, t) in best {
            file.tensors.insert(format!("best/{name}"), t.clone());
        }
    }
    file.metadata.insert(
        POSITION_KEY.into(),
        serde_json::to_string(&state.position).expect("positions serialise"),
    );
    file.metadata
        .insert(ITERATIONS_KEY.into(), iterations.to_string());
    checkpoint::save(path, &file)
}

/// Loads a checkpoint into `net` and `optimizer` and returns where the run was.
pub fn read_checkpoint(
    path: &Path,
    net: &mut Network,
    optimizer: &mut Optimizer<f32>,
) -> Result<TrainState, CheckpointError> {
    let file = checkpoint::load(path)?;
    let mismatch = |problem: String| CheckpointError::Mismatch {
        path: path.to_path_buf(),
        problems: vec![format!("  {problem}")],
    };
    let position: Position = file
        .metadata
        .get(POSITION_KEY)
        .ok_or_else(|| mismatch("it holds weights only, not a training checkpoint".into()))
        .and_then(|json| {
            serde_json::from_str(json).map_err(|e| mismatch(format!("bad position: {e}")))
        })?;
    let iterations: u64 = file
        .metadata
        .get(ITERATIONS_KEY)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| mismatch("the optimizer's step count is missing".into()))?;
    checkpoint::load_into_model(&mut net.model, &file, "", path)?;
    let trainable: Vec<(String, Vec<usize>)> = net
        .model
        .params()
        .into_iter()
        .filter(|(_, p)| p.trainable)
        .map(|(layer, p)| (tensor_name(layer, p.name), p.value.shape().to_vec()))
        .collect();
    if iterations > 0 {
        let mut slots = Vec::new();
        for (name, shape) in &trainable {
            let mut these = Vec::new();
            for slot in optimizer.slot_names() {
                let key = format!("optimizer/{name}/{slot}");
                match file.tensors.get(&key) {
                    Some(t) if t.shape() == shape.as_slice() => these.push(t.clone()),
                    Some(t) => {
                        return Err(mismatch(format!(
                            "`{key}` has shape {:?}, expected {shape:?}",
                            t.shape()
                        )))
                    }
                    None => {
                        return Err(mismatch(format!(
                            "`{key}` is missing: was the checkpoint written with another optimizer?"
                        )))
                    }
                }
            }
            slots.push(these);
        }
        optimizer
            .restore(iterations, slots)
            .map_err(|e| mismatch(e.to_string()))?;
    }
    let best: BTreeMap<String, ArrayD<f32>> = file
        .tensors
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("best/").map(|k| (k.to_string(), v.clone())))
        .collect();
    Ok(TrainState {
        position,
        best_weights: (!best.is_empty()).then_some(best),
    })
}
