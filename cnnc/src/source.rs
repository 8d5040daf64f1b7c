//! Reading model files: bytes to text, with a diagnostic (not a panic) for bad files.

use cnn_dsl::{Code, Diagnostic, Span};
use std::path::Path;

/// A model file's text and the name to show for it.
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// Why a file could not be used.
pub enum ReadError {
    /// The file could not be read at all: a usage or I/O problem (exit code 2).
    Io(String),
    /// The file was read but is not a valid model text (exit code 1); `text` is what could
    /// be decoded, for rendering the diagnostic.
    Invalid(SourceFile, Box<Diagnostic>),
}

/// The largest model file read: far above any real model, far below what would strain memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

pub fn read(path: &Path) -> Result<SourceFile, ReadError> {
    let name = path.display().to_string();
    let metadata =
        std::fs::metadata(path).map_err(|e| ReadError::Io(format!("cannot read `{name}`: {e}")))?;
    if metadata.is_dir() {
        return Err(ReadError::Io(format!(
            "`{name}` is a directory, not a model file"
        )));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(ReadError::Io(format!(
            "`{name}` is {} bytes, more than the {MAX_FILE_BYTES} a model file may have",
            metadata.len()
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|e| ReadError::Io(format!("cannot read `{name}`: {e}")))?;
    decode(name, bytes)
}

/// Decodes UTF-8, pointing at the first byte that is not.
pub fn decode(name: String, bytes: Vec<u8>) -> Result<SourceFile, ReadError> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile { name, text }),
        Err(error) => {
            let at = error.utf8_error().valid_up_to();
            // The lossy text agrees with the original up to the first bad byte.
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            let diagnostic =
                Diagnostic::error(Code::BadSource, format!("`{name}` is not valid UTF-8"))
                    .with_label(
                        Span::new(at, at + '\u{FFFD}'.len_utf8()),
                        "this byte is not UTF-8",
                    )
                    .with_help("save the file as UTF-8 text");
            Err(ReadError::Invalid(
                SourceFile { name, text },
                Box::new(diagnostic),
            ))
        }
    }
}
