//! Keras' `ReduceLROnPlateau`: when the monitored figure has not improved for `patience`
//! epochs, the learning rate is multiplied by `factor` (never below `min_lr`), then
//! `cooldown` epochs pass before counting again.
//!
//! Its counters and the current rate are part of a run's [`super::Position`], so a resumed
//! run reduces the rate at the same epochs as one that did not stop.

use serde::{Deserialize, Serialize};

/// The callback's settings, with Keras' meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    /// `loss`, `accuracy`, `val_loss` or `val_accuracy`.
    pub monitor: String,
    /// In `(0, 1)`.
    pub factor: f64,
    pub patience: u64,
    /// Whether larger is better (`mode: max`, or `auto` on an accuracy).
    pub maximize: bool,
    pub min_delta: f64,
    pub cooldown: u64,
    pub min_lr: f64,
}

/// Where the callback is, saved in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    pub best: Option<f64>,
    pub wait: u64,
    pub cooldown_left: u64,
    /// The learning rate once it has been reduced (`None`: the optimizer's own).
    pub learning_rate: Option<f64>,
}

impl ReduceLrOnPlateau {
    /// Keras' `on_epoch_end` for the epoch that measured `current`, with the optimizer at
    /// `learning_rate`; returns the new rate when it goes down.
    pub fn update(
        &self,
        state: &mut PlateauState,
        current: f64,
        learning_rate: f64,
    ) -> Option<f64> {
        if state.cooldown_left > 0 {
            state.cooldown_left -= 1;
            state.wait = 0;
        }
        let improved = match state.best {
            None => true,
            Some(best) if self.maximize => current > best + self.min_delta,
            Some(best) => current < best - self.min_delta,
        };
        if improved {
            state.best = Some(current);
            state.wait = 0;
            return None;
        }
        if state.cooldown_left > 0 {
            return None;
        }
        state.wait += 1;
        if state.wait < self.patience || learning_rate <= self.min_lr {
            return None;
        }
        let reduced = (learning_rate * self.factor).max(self.min_lr);
        state.learning_rate = Some(reduced);
        state.cooldown_left = self.cooldown;
        state.wait = 0;
        Some(reduced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callback(patience: u64, cooldown: u64) -> ReduceLrOnPlateau {
        ReduceLrOnPlateau {
            monitor: "val_loss".into(),
            factor: 0.5,
            patience,
            maximize: false,
            min_delta: 0.01,
            cooldown,
            min_lr: 0.1,
        }
    }

    /// Runs the callback over `losses` from a rate of 1 and returns the rate after each.
    fn rates(callback: &ReduceLrOnPlateau, losses: &[f64]) -> Vec<f64> {
        let mut state = PlateauState::default();
        let mut lr = 1.0;
        losses
            .iter()
            .map(|&loss| {
                if let Some(reduced) = callback.update(&mut state, loss, lr) {
                    lr = reduced;
                }
                lr
            })
            .collect()
    }

    #[test]
    fn rate_halves_after_patience_epochs_without_improvement() {
        // 0.995 is within min_delta of 1.0, so it is no improvement.
        let got = rates(&callback(2, 0), &[1.0, 0.995, 1.2, 0.5, 0.6, 0.7]);
        assert_eq!(got, vec![1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn cooldown_waits_before_counting_again_and_min_lr_is_a_floor() {
        // As in Keras, the epoch that counts the cooldown down to zero counts again.
        let got = rates(&callback(1, 2), &[1.0; 8]);
        assert_eq!(got, vec![1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.1]);
        let floor = rates(&callback(1, 0), &[1.0; 6]);
        assert_eq!(floor, vec![1.0, 0.5, 0.25, 0.125, 0.1, 0.1]);
    }

    #[test]
    fn an_accuracy_must_rise() {
        let mut c = callback(1, 0);
        c.maximize = true;
        let got = rates(&c, &[0.90, 0.95, 0.955, 0.99]);
        assert_eq!(got, vec![1.0, 1.0, 0.5, 0.5]);
    }
}
