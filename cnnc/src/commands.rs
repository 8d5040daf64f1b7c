//! The subcommands. Each returns its exit code, or an I/O error (exit code 2).

use crate::cli::{Format, MODEL_ERROR, OK, USAGE_ERROR};
use crate::source::{self, ReadError, SourceFile};
use anyhow::{bail, Result};
use cnn_dsl::render::{render, JsonDiagnostic};
use cnn_dsl::summary::{table, ModelSummary};
use cnn_dsl::{compile, Compiled, Diagnostic, Severity};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file read and compiled, or why it could not be.
enum Loaded {
    Compiled(SourceFile, Compiled),
    Invalid(SourceFile, Diagnostic),
}

fn load(path: &Path) -> Result<Loaded> {
    match source::read(path) {
        Ok(file) => {
            let compiled = compile(&file.text);
            Ok(Loaded::Compiled(file, compiled))
        }
        Err(ReadError::Io(message)) => bail!(message),
        Err(ReadError::Invalid(file, diagnostic)) => Ok(Loaded::Invalid(file, *diagnostic)),
    }
}

pub fn check(
    files: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    hints: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
) -> Result<u8> {
    let mut failed = false;
    let mut json = Vec::new();
    for path in files {
        let (file, diagnostics) = match load(path)? {
            Loaded::Compiled(file, compiled) => (file, compiled.diagnostics.0),
            Loaded::Invalid(file, diagnostic) => (file, vec![diagnostic]),
        };
        let shown: Vec<&Diagnostic> = diagnostics
            .iter()
            .filter(|d| hints || d.severity != Severity::Hint)
            .collect();
        let errors = shown
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = shown
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count();
        failed |= errors > 0 || (deny_warnings && warnings > 0);
        match format {
            Format::Text => {
                for diagnostic in &shown {
                    writeln!(
                        err,
                        "{}\n",
                        render(diagnostic, &file.text, &file.name, color)
                    )?;
                }
                let verdict = if errors > 0 { "failed" } else { "ok" };
                writeln!(
                    err,
                    "{}: {verdict} ({}, {})",
                    file.name,
                    plural(errors, "error"),
                    plural(warnings, "warning")
                )?;
            }
            Format::Json => {
                for diagnostic in shown {
                    json.push(serde_json::to_value(JsonDiagnostic::new(
                        diagnostic, &file.text, &file.name,
                    ))?);
                }
            }
        }
    }
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    }
    Ok(if failed { MODEL_ERROR } else { OK })
}

pub fn summary(
    path: &Path,
    model: Option<&str>,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
) -> Result<u8> {
    let (file, compiled) = match load(path)? {
        Loaded::Compiled(file, compiled) => (file, compiled),
        Loaded::Invalid(file, diagnostic) => {
            writeln!(
                err,
                "{}\n",
                render(&diagnostic, &file.text, &file.name, color)
            )?;
            return Ok(MODEL_ERROR);
        }
    };
    for diagnostic in compiled
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Hint)
    {
        writeln!(
            err,
            "{}\n",
            render(diagnostic, &file.text, &file.name, color)
        )?;
    }
    let Some(checked) = compiled.checked else {
        writeln!(
            err,
            "{}: failed; fix the errors above to see a summary",
            file.name
        )?;
        return Ok(MODEL_ERROR);
    };
    let graphs: Vec<_> = match model {
        Some(name) => match checked.model(name) {
            Some(graph) => vec![graph],
            None => {
                let names: Vec<&str> = checked.models.iter().map(|m| m.name.as_str()).collect();
                writeln!(
                    err,
                    "error: `{}` has no model `{name}`; it has: {}",
                    file.name,
                    names.join(", ")
                )?;
                return Ok(USAGE_ERROR);
            }
        },
        None => checked.models.iter().collect(),
    };
    if graphs.is_empty() {
        writeln!(err, "error: `{}` defines no model", file.name)?;
        return Ok(USAGE_ERROR);
    }
    match format {
        Format::Text => {
            let tables: Vec<String> = graphs.iter().map(|g| table(g)).collect();
            write!(out, "{}", tables.join("\n"))?;
        }
        Format::Json => {
            let summaries: Vec<ModelSummary> = graphs.iter().map(|g| ModelSummary::of(g)).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&summaries)?)?;
        }
    }
    Ok(OK)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
