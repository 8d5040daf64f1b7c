//! The `.cnn` model language: parsing, checking and diagnostics.
//!
//! The stages are plain functions, each taking the previous one's output:
//!
//! | stage | function | gives |
//! | --- | --- | --- |
//! | parse | [`parse`] | [`ast::File`] with spans |
//! | check | [`check`] | [`Checked`]: every model expanded to a graph of layers with shapes, parameter counts and MACs; validated train sections; warnings |
//! | render | [`render::render`] | rustc-style text, or [`render::JsonDiagnostic`] |
//!
//! [`compile`] chains parse and check. Nothing here panics on user input: every mistake is a
//! [`Diagnostic`].

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod graph;
pub mod ir;
pub mod render;
pub mod shape;
pub mod span;
pub mod summary;
mod syntax;

pub use check::{check, Checked};
pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use span::{Location, Span};
pub use syntax::{parse, MAX_NESTING};

/// The outcome of compiling one file: the checked program if there was no error, and every
/// diagnostic (warnings and hints too) either way.
pub struct Compiled {
    pub checked: Option<Checked>,
    pub diagnostics: Diagnostics,
}

/// Parses and checks a source text, collecting every diagnostic.
pub fn compile(source: &str) -> Compiled {
    let file = match parse(source) {
        Ok(file) => file,
        Err(diagnostic) => {
            return Compiled {
                checked: None,
                diagnostics: diagnostic.into(),
            }
        }
    };
    let (checked, mut diagnostics) = check(&file);
    diagnostics.sort_by_position();
    Compiled {
        checked: (!diagnostics.has_errors()).then_some(checked),
        diagnostics,
    }
}
