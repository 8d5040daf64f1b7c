//! Optimizers, with Keras' update rules, arguments and defaults.
//!
//! Each step follows Keras 3 (`keras/src/optimizers/*.py`): gradients are clipped (per
//! tensor, `clipnorm` then `clipvalue`), decoupled weight decay shrinks every trainable
//! tensor by `lr · weight_decay`, then the optimizer's own rule runs with
//! `t = iterations + 1`. Where Keras and PyTorch differ, we follow Keras:
//!
//! | optimizer | Keras (followed) | PyTorch |
//! | --- | --- | --- |
//! | sgd + momentum | `v ← μv − lr·g; w ← w + v` (Nesterov: `w ← w + μv − lr·g`) | `b ← μb + g; w ← w − lr·b`: the same trajectory for a constant lr |
//! | adam, adamw | `w ← w − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε)` | `ε` is added to the bias-corrected `√v̂`, so Keras' ε is PyTorch's `ε·√(1−β₂ᵗ)` |
//! | rmsprop | `w ← w − lr·g / √(v + ε)`, ε inside the root | `√v + ε`, ε outside |
//! | adagrad | accumulator starts at 0.1, ε inside the root | starts at 0, ε outside |
//! | adadelta | `Δ = −√(u + ε)/√(a + ε) · g`, ε inside both roots | the same |
//!
//! Two defaults are not Keras 3's, because with them a network barely moves in an epoch:
//! `adagrad`'s learning rate is 0.01 (Keras 2's and PyTorch's, not 0.001) and `adadelta`'s
//! is 1.0 (Zeiler's method has none; Keras 2 and PyTorch use 1.0, Keras 3 0.001). The
//! defaults live in the language's function tables; this module takes every value given.
//! | nadam | Keras' momentum schedule `μₜ = β₁(1 − ½·0.96ᵗ)` | `0.96^(0.004·t)` |
//! | adamw | default weight decay 0.004, applied as `w ← w − lr·λ·w` | default 0.01, same rule |
//!
//! The state (every slot tensor and the step count) is plain data, so checkpoints can
//! save and restore it exactly ([`Optimizer::state`], [`Optimizer::restore`]).

use crate::kernels::{KernelError, Result};
use crate::layers::Param;
use crate::Float;
use ndarray::{ArrayD, Zip};

/// An optimizer's rule and its own hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    Sgd {
        momentum: f64,
        nesterov: bool,
    },
    Adagrad {
        initial_accumulator_value: f64,
        epsilon: f64,
    },
    Adadelta {
        rho: f64,
        epsilon: f64,
    },
    RmsProp {
        rho: f64,
        momentum: f64,
        epsilon: f64,
        centered: bool,
    },
    /// Adam and AdamW (which only changes the weight decay default).
    Adam {
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
        amsgrad: bool,
    },
    Adamax {
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
    },
    Nadam {
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
    },
}

/// What every optimizer shares: the learning rate, decoupled weight decay and clipping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimizerConfig {
    pub rule: Rule,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub clipnorm: Option<f64>,
    pub clipvalue: Option<f64>,
}

impl Rule {
    /// Slot tensors kept per parameter, with their names in checkpoints and first values.
    fn slots(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Rule::Sgd { momentum, .. } if momentum > 0.0 => vec![("momentum", 0.0)],
            Rule::Sgd { .. } => vec![],
            Rule::Adagrad {
                initial_accumulator_value,
                ..
            } => vec![("accumulator", initial_accumulator_value)],
            Rule::Adadelta { .. } => vec![("accumulated_grad", 0.0), ("accumulated_delta", 0.0)],
            Rule::RmsProp {
                momentum, centered, ..
            } => {
                let mut slots = vec![("velocity", 0.0)];
                if momentum > 0.0 {
                    slots.push(("momentum", 0.0));
                }
                if centered {
                    slots.push(("average_gradient", 0.0));
                }
                slots
            }
            Rule::Adam { amsgrad, .. } => {
                let mut slots = vec![("momentum", 0.0), ("velocity", 0.0)];
                if amsgrad {
                    slots.push(("velocity_hat", 0.0));
                }
                slots
            }
            Rule::Adamax { .. } => vec![("momentum", 0.0), ("norm", 0.0)],
            Rule::Nadam { .. } => vec![("momentum", 0.0), ("velocity", 0.0)],
        }
    }
}

/// The slots of one parameter tensor.
struct ParamState<T> {
    slots: Vec<ArrayD<T>>,
}

/// An optimizer and its state for one model's trainable parameters.
pub struct Optimizer<T> {
    config: OptimizerConfig,
    /// Steps taken so far (Keras' `iterations`).
    iterations: u64,
    /// Nadam's running product of momentum-schedule values (1 for the others).
    u_product: f64,
    state: Vec<ParamState<T>>,
}

/// One saved slot tensor: `(parameter index, slot name, values)`.
pub type SlotTensor<'a, T> = (usize, &'static str, &'a ArrayD<T>);

impl<T: Float> Optimizer<T> {
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            iterations: 0,
            u_product: 1.0,
            state: Vec::new(),
        }
    }

    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Changes the learning rate from the next step on (the state is kept).
    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        self.config.learning_rate = learning_rate;
    }

    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// Updates every trainable parameter from its gradient; non-trainable ones (moving
    /// statistics) are left alone.
    pub fn step(&mut self, params: &mut [Param<'_, T>]) {
        let trainable: Vec<&mut Param<'_, T>> = params.iter_mut().filter(|p| p.trainable).collect();
        if self.state.len() != trainable.len() {
            self.state = trainable
                .iter()
                .map(|p| ParamState {
                    slots: self
                        .config
                        .rule
                        .slots()
                        .iter()
                        .map(|&(_, v)| ArrayD::from_elem(p.value.raw_dim(), T::lit(v)))
                        .collect(),
                })
                .collect();
        }
        let t = (self.iterations + 1) as f64;
        if let Rule::Nadam { beta_1, .. } = self.config.rule {
            self.u_product *= beta_1 * (1.0 - 0.5 * 0.96f64.powf(t));
        }
        for (param, state) in trainable.into_iter().zip(&mut self.state) {
            let mut grad = param.grad.clone();
            clip(&mut grad, self.config.clipnorm, self.config.clipvalue);
            if self.config.weight_decay > 0.0 {
                let shrink = T::lit(1.0 - self.config.learning_rate * self.config.weight_decay);
                param.value.mapv_inplace(|w| w * shrink);
            }
            update(
                &self.config,
                t,
                self.u_product,
                param.value,
                &grad,
                &mut state.slots,
            );
        }
        self.iterations += 1;
    }

    /// The step count and every slot tensor, for a checkpoint.
    pub fn state(&self) -> (u64, Vec<SlotTensor<'_, T>>) {
        let names = self.config.rule.slots();
        let slots = self
            .state
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.slots
                    .iter()
                    .zip(&names)
                    .map(move |(tensor, (name, _))| (i, *name, tensor))
            })
            .collect();
        (self.iterations, slots)
    }

    /// The slot names kept per parameter, in the order [`Self::state`] gives them.
    pub fn slot_names(&self) -> Vec<&'static str> {
        self.config
            .rule
            .slots()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// Restores a saved state: `slots[i]` holds parameter `i`'s slots in
    /// [`Self::slot_names`] order. Nadam's schedule product is recomputed from the step count.
    pub fn restore(&mut self, iterations: u64, slots: Vec<Vec<ArrayD<T>>>) -> Result<()> {
        let expected = self.config.rule.slots().len();
        if let Some(bad) = slots.iter().find(|s| s.len() != expected) {
            return Err(KernelError::Geometry(format!(
                "the optimizer keeps {expected} slot tensors per parameter, the saved state has {}",
                bad.len()
            )));
        }
        self.iterations = iterations;
        self.u_product = 1.0;
        if let Rule::Nadam { beta_1, .. } = self.config.rule {
            for step in 1..=iterations {
                self.u_product *= beta_1 * (1.0 - 0.5 * 0.96f64.powf(step as f64));
            }
        }
        self.state = slots
            .into_iter()
            .map(|slots| ParamState { slots })
            .collect();
        Ok(())
    }
}

/// Keras' per-tensor clipping: scale to norm `clipnorm`, then clamp to `±clipvalue`.
fn clip<T: Float>(grad: &mut ArrayD<T>, clipnorm: Option<f64>, clipvalue: Option<f64>) {
    if let Some(max_norm) = clipnorm {
        let norm = grad
            .iter()
            .map(|g| g.to_f64_lossy().powi(2))
            .sum::<f64>()
            .sqrt();
        if norm > max_norm {
            let scale = T::lit(max_norm / norm);
            grad.mapv_inplace(|g| g * scale);
        }
    }
    if let Some(limit) = clipvalue {
        let limit = T::lit(limit);
        grad.mapv_inplace(|g| g.max(-limit).min(limit));
    }
}

/// One rule's update of one tensor at step `t` (1-based).
fn update<T: Float>(
    config: &OptimizerConfig,
    t: f64,
    u_product: f64,
    w: &mut ArrayD<T>,
    g: &ArrayD<T>,
    slots: &mut [ArrayD<T>],
) {
    let lr = T::lit(config.learning_rate);
    let one = T::one();
    match (config.rule, slots) {
        (Rule::Sgd { .. }, []) => Zip::from(w).and(g).for_each(|w, &g| *w -= lr * g),
        (Rule::Sgd { momentum, nesterov }, [m]) => {
            let mu = T::lit(momentum);
            Zip::from(w).and(g).and(m).for_each(|w, &g, m| {
                *m = *m * mu - g * lr;
                *w += if nesterov { *m * mu - g * lr } else { *m };
            })
        }
        (Rule::Adagrad { epsilon, .. }, [acc]) => {
            let eps = T::lit(epsilon);
            Zip::from(w).and(g).and(acc).for_each(|w, &g, a| {
                *a += g * g;
                *w -= lr * g / (*a + eps).sqrt();
            })
        }
        (Rule::Adadelta { rho, epsilon }, [acc_grad, acc_delta]) => {
            let (rho, eps) = (T::lit(rho), T::lit(epsilon));
            Zip::from(w)
                .and(g)
                .and(acc_grad)
                .and(acc_delta)
                .for_each(|w, &g, ag, ad| {
                    *ag = rho * *ag + (one - rho) * g * g;
                    let delta = -(*ad + eps).sqrt() * g / (*ag + eps).sqrt();
                    *ad = rho * *ad + (one - rho) * delta * delta;
                    *w += lr * delta;
                })
        }
        (
            Rule::RmsProp {
                rho,
                momentum,
                epsilon,
                centered,
            },
            slots,
        ) => {
            let (rho, mu, eps) = (T::lit(rho), T::lit(momentum), T::lit(epsilon));
            let mut slices = slots
                .iter_mut()
                .map(|s| s.as_slice_mut().expect("standard layout"));
            let velocity = slices.next().expect("rmsprop keeps a velocity");
            let mut momentum_slot = if momentum > 0.0 { slices.next() } else { None };
            let mut average = if centered { slices.next() } else { None };
            for (i, (w, &g)) in w.iter_mut().zip(g.iter()).enumerate() {
                velocity[i] = rho * velocity[i] + (one - rho) * g * g;
                let mut denominator = velocity[i];
                if let Some(avg) = average.as_mut() {
                    avg[i] = rho * avg[i] + (one - rho) * g;
                    denominator -= avg[i] * avg[i];
                }
                let increment = lr * g / (denominator + eps).sqrt();
                match momentum_slot.as_mut() {
                    Some(m) => {
                        m[i] = mu * m[i] + increment;
                        *w -= m[i];
                    }
                    None => *w -= increment,
                }
            }
        }
        (
            Rule::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
            },
            slots,
        ) => {
            let alpha = T::lit(
                config.learning_rate * (1.0 - beta_2.powf(t)).sqrt() / (1.0 - beta_1.powf(t)),
            );
            let (b1, b2, eps) = (T::lit(beta_1), T::lit(beta_2), T::lit(epsilon));
            let (m, rest) = slots.split_first_mut().expect("adam keeps a momentum");
            let (v, rest) = rest.split_first_mut().expect("adam keeps a velocity");
            let vhat = if amsgrad { rest.first_mut() } else { None };
            let ms = m.as_slice_mut().expect("standard layout");
            let vs = v.as_slice_mut().expect("standard layout");
            let mut vhat = vhat.map(|a| a.as_slice_mut().expect("standard layout"));
            for (i, (w, &g)) in w.iter_mut().zip(g.iter()).enumerate() {
                ms[i] += (g - ms[i]) * (one - b1);
                vs[i] += (g * g - vs[i]) * (one - b2);
                let mut second = vs[i];
                if let Some(vh) = vhat.as_mut() {
                    vh[i] = vh[i].max(vs[i]);
                    second = vh[i];
                }
                *w -= ms[i] * alpha / (second.sqrt() + eps);
            }
        }
        (
            Rule::Adamax {
                beta_1,
                beta_2,
                epsilon,
            },
            [m, u],
        ) => {
            let correction = T::lit(1.0 - beta_1.powf(t));
            let (b1, b2, eps) = (T::lit(beta_1), T::lit(beta_2), T::lit(epsilon));
            Zip::from(w).and(g).and(m).and(u).for_each(|w, &g, m, u| {
                *m += (g - *m) * (one - b1);
                *u = (b2 * *u).max(g.abs());
                *w -= lr * *m / (correction * (*u + eps));
            })
        }
        (
            Rule::Nadam {
                beta_1,
                beta_2,
                epsilon,
            },
            [m, v],
        ) => {
            let u_t = beta_1 * (1.0 - 0.5 * 0.96f64.powf(t));
            let u_next = beta_1 * (1.0 - 0.5 * 0.96f64.powf(t + 1.0));
            let momentum_weight = T::lit(u_next / (1.0 - u_product * u_next));
            let gradient_weight = T::lit((1.0 - u_t) / (1.0 - u_product));
            let v_correction = T::lit(1.0 - beta_2.powf(t));
            let (b1, b2, eps) = (T::lit(beta_1), T::lit(beta_2), T::lit(epsilon));
            Zip::from(w).and(g).and(m).and(v).for_each(|w, &g, m, v| {
                *m += (g - *m) * (one - b1);
                *v += (g * g - *v) * (one - b2);
                let m_hat = momentum_weight * *m + gradient_weight * g;
                let v_hat = *v / v_correction;
                *w -= m_hat * lr / (v_hat.sqrt() + eps);
            })
        }
        (rule, slots) => unreachable!("{rule:?} was built with {} slots", slots.len()),
    }
}
