//! The `cnnc` command line, usable as a library so that tests (and other tools) can run it
//! in-process.

pub mod adapter;
pub mod cli;
mod commands;
mod eval_command;
mod plot;
mod progress;
pub mod session;
pub mod source;
pub mod train_command;
