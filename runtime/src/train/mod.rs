//! Training: the loss with the model's head, the network with its weight penalties, the
//! epoch loop with validation, early stopping, learning-rate reduction and checkpoints.

mod fit;
mod history;
mod loss;
mod network;
mod plateau;

pub use fit::{
    fit, read_checkpoint, restore_best, write_checkpoint, EarlyStopping, FitConfig, FitError,
    FitOutcome, Observer, Position, TrainState,
};
pub use history::{to_csv, to_json, EpochRecord};
pub use loss::{one_hot, Head, Loss, LossOutput};
pub use network::{count_correct, Evaluation, Network, Penalty, StepResult};
pub use plateau::{PlateauState, ReduceLrOnPlateau};
