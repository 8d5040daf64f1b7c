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
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(err, "error: {error:#}");
            USAGE_ERROR
        }
    }
}
