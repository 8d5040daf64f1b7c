//! Argument parsing and dispatch. Exit codes: 0 success, 1 a model file has errors,
//! 2 a usage or I/O problem.

use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "cnnc",
    version,
    about = "Check, summarise and train convolutional networks written in the .cnn language"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check model files and report every error and warning
    Check {
        /// The `.cnn` files to check
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format of the diagnostics
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Fail (exit code 1) on warnings too
        #[arg(long)]
        deny_warnings: bool,
        /// Also show teaching hints (initializers that suit activations, saturation …)
        #[arg(long)]
        hints: bool,
    },
    /// Print a Keras-style summary of each model: shapes, parameters, MACs, memory
    Summary {
        /// The `.cnn` file
        file: PathBuf,
        /// Summarise only this model
        #[arg(long)]
        model: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Train a model on the data its train section names, writing checkpoints, the history
    /// and the final weights
    Train {
        /// The `.cnn` file
        file: PathBuf,
        /// The model to train (needed when the file trains several)
        #[arg(long)]
        model: Option<String>,
        /// An MNIST-style directory of IDX files to use instead of the train section's data
        #[arg(long)]
        data: Option<PathBuf>,
        /// Epochs (overrides the train section)
        #[arg(long)]
        epochs: Option<u64>,
        /// Examples per step (overrides the train section)
        #[arg(long)]
        batch_size: Option<u64>,
        /// Directory for the checkpoint, history and weights [default: runs/<Model>, or
        /// runs/<Model>-N if that exists]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (results are the same for any number)
        #[arg(long)]
        threads: Option<usize>,
        /// Seed for weights, shuffling, dropout and augmentation (overrides the train section)
        #[arg(long)]
        seed: Option<u64>,
        /// Continue the run whose checkpoint is in --out (or the latest run of the model)
        #[arg(long)]
        resume: bool,
        /// Draw the loss and accuracy curves to this .png or .svg file
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Print nothing but the results
        #[arg(long)]
        quiet: bool,
        /// Use only the first N training and N test examples (quick trials)
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Evaluate trained weights on the test set: loss, accuracy, per-class accuracy and the
    /// confusion matrix
    Eval {
        /// The `.cnn` file
        file: PathBuf,
        /// The weights (or a checkpoint) `cnnc train` wrote
        #[arg(long)]
        weights: PathBuf,
        /// The model (needed when the file trains several)
        #[arg(long)]
        model: Option<String>,
        /// An MNIST-style directory of IDX files to use instead of the train section's data
        #[arg(long)]
        data: Option<PathBuf>,
        /// Draw the test images the model got most confidently wrong to this .png or .svg
        #[arg(long)]
        errors: Option<PathBuf>,
        /// Worker threads
        #[arg(long)]
        threads: Option<usize>,
        /// Use only the first N test examples
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Classify images (PNG, JPEG) or .npy arrays with trained weights
    Predict {
        /// The `.cnn` file
        file: PathBuf,
        /// The weights (or a checkpoint) `cnnc train` wrote
        #[arg(long)]
        weights: PathBuf,
        /// The inputs: .png, .jpg or .npy files
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The model (needed when the file trains several)
        #[arg(long)]
        model: Option<String>,
        /// Also write the probabilities (N × classes, f32) to this .npy file
        #[arg(long)]
        output: Option<PathBuf>,
        /// How many classes to show per input
        #[arg(long, default_value_t = 3)]
        top: usize,
        /// Worker threads
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Exit codes.
pub const OK: u8 = 0;
pub const MODEL_ERROR: u8 = 1;
pub const USAGE_ERROR: u8 = 2;
/// Training was interrupted (Ctrl-C) after writing a checkpoint: 128 + SIGINT, as shells do.
pub const INTERRUPTED: u8 = 130;

/// Runs `cnnc` with `args` (the first being the program name), writing results to `out`
/// and diagnostics to `err`; returns the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, color: bool) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { USAGE_ERROR } else { OK };
            let text = if color {
                error.render().ansi().to_string()
            } else {
                error.render().to_string()
            };
            let target: &mut dyn Write = if error.use_stderr() { err } else { out };
            let _ = write!(target, "{text}");
            return code;
        }
    };
    let result = match cli.command {
        Command::Check {
            files,
            format,
            deny_warnings,
            hints,
        } => crate::commands::check(&files, format, deny_warnings, hints, out, err, color),
        Command::Summary {
            file,
            model,
            format,
        } => crate::commands::summary(&file, model.as_deref(), format, out, err, color),
        Command::Train {
            file,
            model,
            data,
            epochs,
            batch_size,
            out: out_dir,
            threads,
            seed,
            resume,
            plot,
            quiet,
            limit,
        } => {
            let args = crate::train_command::TrainArgs {
                file,
                model,
                data,
                epochs,
                batch_size,
                out: out_dir,
                threads,
                seed,
                resume,
                plot,
                quiet,
                limit,
            };
            crate::train_command::train(&args, out, err, color, color)
        }
        Command::Eval {
            file,
            weights,
            model,
            data,
            errors,
            threads,
            limit,
        } => {
            let args = crate::eval_command::EvalArgs {
                file,
                weights,
                model,
                data,
                errors,
                threads,
                limit,
            };
            crate::eval_command::eval(&args, out, err, color)
        }
        Command::Predict {
            file,
            weights,
            inputs,
            model,
            output,
            top,
            threads,
        } => {
            let args = crate::eval_command::PredictArgs {
                file,
                weights,
                model,
                inputs,
                output,
                top,
                threads,
            };
            crate::eval_command::predict(&args, out, err, color)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(err, "error: {error:#}");
            USAGE_ERROR
        }
    }
}
