//! Per-epoch figures, written as CSV and JSON.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based, as Keras prints it.
    pub epoch: u64,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
}

impl EpochRecord {
    /// The value `early_stopping` watches.
    pub fn monitored(&self, monitor: &str) -> Option<f64> {
        match monitor {
            "loss" => Some(self.loss),
            "accuracy" => Some(self.accuracy),
            "val_loss" => self.val_loss,
            "val_accuracy" => self.val_accuracy,
            _ => None,
        }
    }
}

/// The history as CSV: `epoch,loss,accuracy,val_loss,val_accuracy,seconds`, empty cells
/// where there was no validation data.
pub fn to_csv(history: &[EpochRecord]) -> String {
    let mut out = String::from("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n");
    let cell = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in history {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.3}",
            r.epoch,
            r.loss,
            r.accuracy,
            cell(r.val_loss),
            cell(r.val_accuracy),
            r.seconds
        );
    }
    out
}

/// The history as a JSON array of records.
pub fn to_json(history: &[EpochRecord]) -> String {
    serde_json::to_string_pretty(history).expect("records serialise")
}
