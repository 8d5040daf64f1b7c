//! The `cnnc` binary end to end: exit codes, streams, formats.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cnnc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnnc"))
        .args(args)
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn clean_files_exit_zero() {
    let output = cnnc(&["check", "examples/lenet5.cnn", "examples/resnet50.cnn"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("examples/resnet50.cnn: ok (0 errors, 0 warnings)"));
}

#[test]
fn any_file_with_an_error_exits_one() {
    let output = cnnc(&[
        "check",
        "examples/lenet5.cnn",
        "tests/bad/missing_flatten.cnn",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("error[E0201]: dense expects a flat input, but gets (5, 5, 16)"),
        "{text}"
    );
    assert!(
        text.contains("--> tests/bad/missing_flatten.cnn:8:5"),
        "{text}"
    );
    assert!(
        text.contains("= help: insert `flatten()` before this layer"),
        "{text}"
    );
}

#[test]
fn usage_and_io_problems_exit_two() {
    let missing = cnnc(&["check", "no/such/file.cnn"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read `no/such/file.cnn`"),
        "{}",
        stderr(&missing)
    );
    let directory = cnnc(&["check", "examples"]);
    assert_eq!(directory.status.code(), Some(2));
    let bad_flag = cnnc(&["check", "--frobnicate", "examples/lenet5.cnn"]);
    assert_eq!(bad_flag.status.code(), Some(2));
    let no_files = cnnc(&["check"]);
    assert_eq!(no_files.status.code(), Some(2));
}

#[test]
fn deny_warnings_fails_on_warnings() {
    let allowed = cnnc(&["check", "tests/warn/zeros_kernel.cnn"]);
    assert_eq!(allowed.status.code(), Some(0));
    let denied = cnnc(&["check", "--deny-warnings", "tests/warn/zeros_kernel.cnn"]);
    assert_eq!(denied.status.code(), Some(1));
}

#[test]
fn json_diagnostics_for_editors() {
    let output = cnnc(&["check", "--format", "json", "tests/bad/missing_flatten.cnn"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.trim_start().starts_with('['), "{stdout}");
    assert!(stdout.contains("\"code\": \"E0201\""), "{stdout}");
    assert!(stdout.contains("\"line\": 8"), "{stdout}");
    assert!(stdout.contains("\"severity\": \"error\""), "{stdout}");
}

#[test]
fn summary_goes_to_stdout() {
    let output = cnnc(&["summary", "examples/mnist_cnn.cnn"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout
            .contains("Total params: 11,132\nTrainable params: 11,132\nNon-trainable params: 0\n"),
        "{stdout}"
    );
}

#[test]
fn summary_of_a_broken_file_exits_one() {
    let output = cnnc(&["summary", "tests/bad/missing_flatten.cnn"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
}

#[test]
fn non_utf8_file_is_an_error_not_a_panic() {
    let output = cnnc(&["check", "tests/bad/not_utf8.cnn"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("error[E0003]"),
        "{}",
        stderr(&output)
    );
}
