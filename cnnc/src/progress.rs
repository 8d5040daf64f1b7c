//! Training progress: a bar with rate and ETA on a terminal (indicatif), one line per epoch
//! otherwise, nothing with `--quiet`.

use cnn_runtime::train::{EpochRecord, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::Write;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bar,
    Lines,
    Quiet,
}

pub struct Progress<'a> {
    mode: Mode,
    bar: Option<ProgressBar>,
    epochs: u64,
    err: &'a mut dyn Write,
}

impl<'a> Progress<'a> {
    pub fn new(quiet: bool, terminal: bool, err: &'a mut dyn Write) -> Self {
        let mode = match (quiet, terminal) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Bar,
            (false, false) => Mode::Lines,
        };
        Progress {
            mode,
            bar: None,
            epochs: 0,
            err,
        }
    }

    /// Prints a line above the bar (or plainly), unless quiet.
    pub fn line(&mut self, text: &str) {
        match (&self.bar, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(text),
            (None, _) => {
                let _ = writeln!(self.err, "{text}");
            }
        }
    }
}

/// `loss 0.0412 · accuracy 98.71% · val_loss … · val_accuracy … · 8.1 s`.
pub fn describe(record: &EpochRecord) -> String {
    let mut text = format!(
        "loss {:.4} · accuracy {:.2}%",
        record.loss,
        100.0 * record.accuracy
    );
    if let (Some(l), Some(a)) = (record.val_loss, record.val_accuracy) {
        text += &format!(" · val_loss {l:.4} · val_accuracy {:.2}%", 100.0 * a);
    }
    text + &format!(" · {:.1} s", record.seconds)
}

impl Observer for Progress<'_> {
    fn epoch_started(&mut self, epoch: u64, epochs: u64, steps: u64) {
        self.epochs = epochs;
        if self.mode == Mode::Bar {
            let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} {msg} · {rate} · ETA {eta}",
                )
                .expect("a valid template")
                // indicatif's own `{per_sec}` prints four decimals ("337.4034/s").
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} steps/s", state.per_sec());
                    },
                )
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{}/{epochs}", epoch + 1));
            self.bar = Some(bar);
        }
    }

    fn step_done(&mut self, step: u64, _steps: u64, loss: f64, accuracy: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            if step.is_multiple_of(10) {
                bar.set_message(format!(
                    "loss {loss:.4} · accuracy {:.2}%",
                    100.0 * accuracy
                ));
            }
        }
    }

    fn epoch_done(&mut self, record: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let line = format!(
            "epoch {}/{} · {}",
            record.epoch,
            self.epochs,
            describe(record)
        );
        self.line(&line);
    }

    fn note(&mut self, message: &str) {
        self.line(message);
    }
}
