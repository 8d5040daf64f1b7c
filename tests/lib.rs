//! Helpers shared by the workspace-level tests.

use std::path::{Path, PathBuf};

/// The workspace's root directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// What one run of `cnnc` gave.
pub struct Run {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cnnc` in-process, from the workspace root, without colours.
pub fn cnnc(args: &[&str]) -> Run {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let argv = std::iter::once("cnnc").chain(args.iter().copied());
    let code = cnnc::cli::run(argv, &mut stdout, &mut stderr, false);
    Run {
        code,
        stdout: String::from_utf8(stdout).expect("cnnc writes UTF-8"),
        stderr: String::from_utf8(stderr).expect("cnnc writes UTF-8"),
    }
}

/// The `// <- CODE` marker of a corpus file: the code the first diagnostic must have and
/// the (1-based) line it must point at.
pub fn marker(text: &str) -> Option<(String, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let at = line.find("// <- ")?;
        let code = line[at + 6..].split_whitespace().next()?;
        Some((code.to_string(), i + 1))
    })
}

/// The path of `file` relative to this crate's directory (where cargo runs integration
/// tests), with `/` separators, as shown in diagnostics and snapshots.
pub fn relative(file: &Path) -> String {
    file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
