//! The `cnnc` command line, usable as a library so that tests (and other tools) can run it
//! in-process.

pub mod cli;
mod commands;
pub mod source;
