//! `cnnc`: check, summarise, train, evaluate and use `.cnn` models.

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    cnn_runtime::memory::keep_freed_memory();
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let code = cnnc::cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        color,
    );
    ExitCode::from(code)
}
