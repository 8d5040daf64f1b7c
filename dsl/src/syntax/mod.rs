//! From source text to the owned [`ast`](crate::ast). Pest's types never leave this module.
//!
//! Parsing runs in two steps: a linear pre-scan bounds how deep brackets and comments nest
//! (pest descends recursively, so 100,000 open parentheses would otherwise overflow the
//! stack), then the pest grammar in `grammar.pest` builds a parse tree that [`build`] turns
//! into the AST.

mod build;
mod errors;

use crate::ast::File;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use pest::Parser as _;

/// How deep brackets (and nested block comments) may go. Real models need fewer than ten
/// levels; the bound keeps pest's recursive descent within 1 MiB of stack even in debug
/// builds, where each level costs about 25 KiB (a spawned thread has 2 MiB).
pub const MAX_NESTING: usize = 32;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
struct CnnParser;

/// Parses a whole `.cnn` file.
pub fn parse(source: &str) -> Result<File, Diagnostic> {
    if source.len() >= u32::MAX as usize {
        return Err(Diagnostic::error(
            Code::BadSource,
            "the file is larger than 4 GiB, which is more than a model file can be",
        ));
    }
    check_nesting(source)?;
    pest::set_error_detail(true);
    let mut pairs =
        CnnParser::parse(Rule::file, source).map_err(|e| errors::to_diagnostic(e, source))?;
    let file = pairs
        .next()
        .ok_or_else(|| Diagnostic::error(Code::Internal, "the parser returned no file"))?;
    build::file(file)
}

/// Rejects text whose brackets or block comments nest deeper than [`MAX_NESTING`], and
/// block comments or strings that never end, before pest sees them: an unterminated one
/// would make every attempt to skip it scan to the end of the file (found by fuzzing).
/// Strings and line comments are skipped.
fn check_nesting(source: &str) -> Result<(), Diagnostic> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut comment_depth = 0usize;
    let mut comment_start = 0usize;
    let mut i = 0;
    let too_deep = |at: usize, what: &str| {
        Diagnostic::error(
            Code::TooDeep,
            format!("{what} nested more than {MAX_NESTING} levels deep"),
        )
        .with_label(Span::new(at, at + 1), "this one is too deep")
        .with_help("split the expression, or use a block to name the inner part")
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        if comment_depth > 0 {
            if rest.starts_with(b"/*") {
                comment_depth += 1;
                if comment_depth > MAX_NESTING {
                    return Err(too_deep(i, "block comments are"));
                }
                i += 2;
            } else if rest.starts_with(b"*/") {
                comment_depth -= 1;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match bytes[i] {
            b'/' if rest.starts_with(b"//") => {
                i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            }
            b'/' if rest.starts_with(b"/*") => {
                comment_depth = 1;
                comment_start = i;
                i += 2;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Err(Diagnostic::error(Code::Syntax, "unterminated string")
                        .with_label(Span::new(start, start + 1), "this string never ends")
                        .with_help("close it with `\"`"));
                }
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(i, "brackets are"));
                }
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    if comment_depth > 0 {
        return Err(
            Diagnostic::error(Code::Syntax, "unterminated block comment")
                .with_label(
                    Span::new(comment_start, comment_start + 2),
                    "this comment never ends",
                )
                .with_help("close it with `*/` (block comments nest, as in Rust)"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
