//! Turns diagnostics into text a person reads (rustc's layout) or JSON an editor reads.
//!
//! This is the only place that formats a [`Diagnostic`]; `cnnc` and `network!` both call it.

use crate::diagnostic::{Diagnostic, Severity};
use crate::span::Span;
use annotate_snippets::{Level, Renderer, Snippet};
use serde::Serialize;

/// Renders one diagnostic in rustc's style:
///
/// ```text
/// error[E0201]: dense expects a flat input, but gets (5, 5, 16)
///   --> lenet5.cnn:7:5
///    |
///  7 |     dense(120, activation: tanh)
///    |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^ input here is (5, 5, 16)
///    = help: insert `flatten()` before this layer
/// ```
///
/// `origin` is the file name shown after `-->`; `color` adds terminal colours.
pub fn render(diagnostic: &Diagnostic, source: &str, origin: &str, color: bool) -> String {
    let shown = printable(source);
    let source = shown.as_str();
    let level = level(diagnostic.severity);
    let spans: Vec<(std::ops::Range<usize>, &Diagnostic, usize)> = diagnostic
        .labels
        .iter()
        .enumerate()
        .map(|(i, label)| (visible_range(label.span, source), diagnostic, i))
        .collect();
    let mut message = level
        .title(&diagnostic.message)
        .id(diagnostic.code.as_str());
    if !spans.is_empty() {
        let snippet = Snippet::source(source)
            .line_start(1)
            .origin(origin)
            .fold(true)
            .annotations(spans.iter().map(|(range, d, i)| {
                let label = &d.labels[*i];
                // annotate-snippets draws `^` without a prefix only for errors, and `-`
                // without a prefix only for warnings: rustc's primary and secondary marks.
                let annotation_level = if label.primary {
                    Level::Error
                } else {
                    Level::Warning
                };
                annotation_level
                    .span(range.clone())
                    .label(label.message.as_str())
            }));
        message = message.snippet(snippet);
    }
    for note in &diagnostic.notes {
        message = message.footer(Level::Note.title(note));
    }
    if let Some(help) = &diagnostic.help {
        message = message.footer(Level::Help.title(help));
    }
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    }
    // Show long lines whole rather than trimmed: the trimming arithmetic of
    // annotate-snippets 0.11 underflows on some lines (found by fuzzing).
    .term_width(LINE_WIDTH);
    let rendered = renderer.render(message).to_string();
    // Like rustc, end on the last source or note line, not on an empty gutter.
    let mut lines: Vec<&str> = rendered.lines().collect();
    while lines
        .last()
        .is_some_and(|l| l.trim() == "|" || l.trim().is_empty())
    {
        lines.pop();
    }
    lines.join("\n")
}

/// Renders every diagnostic, separated by blank lines, as `cnnc check` prints them.
pub fn render_all<'a>(
    diagnostics: impl IntoIterator<Item = &'a Diagnostic>,
    source: &str,
    origin: &str,
    color: bool,
) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&render(diagnostic, source, origin, color));
        out.push_str("\n\n");
    }
    out
}

/// Wider than any line worth trimming, small enough that adding it cannot overflow.
const LINE_WIDTH: usize = 1 << 20;

/// The source as it is shown: control characters and whitespace other than space, tab and
/// newline become `?` of the same byte length, so spans still point at the same bytes and the
/// terminal shows something visible where the odd character is.
fn printable(source: &str) -> String {
    source
        .chars()
        .map(|c| {
            let odd = (c.is_control() && c != '\n' && c != '\t' && c != '\r')
                || (c.is_whitespace() && !matches!(c, ' ' | '\n' | '\t' | '\r'));
            if odd {
                "?".repeat(c.len_utf8())
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn level(severity: Severity) -> Level {
    match severity {
        Severity::Error => Level::Error,
        Severity::Warning => Level::Warning,
        Severity::Hint => Level::Note,
    }
}

/// A span widened to at least one character, so an empty span (end of file) still shows.
fn visible_range(span: Span, source: &str) -> std::ops::Range<usize> {
    let mut range = span.to_range();
    range.start = range.start.min(source.len());
    range.end = range.end.clamp(range.start, source.len());
    if range.start == range.end {
        if let Some(c) = source[range.start..].chars().next() {
            range.end = range.start + c.len_utf8();
        } else if let Some(c) = source[..range.start].chars().next_back() {
            range.start -= c.len_utf8();
        }
    }
    range
}

/// The JSON form of a diagnostic, for editors: positions are resolved to lines and columns.
#[derive(Serialize)]
pub struct JsonDiagnostic<'a> {
    pub file: &'a str,
    pub severity: Severity,
    pub code: &'static str,
    pub message: &'a str,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub labels: Vec<JsonLabel<'a>>,
    pub notes: &'a [String],
    pub help: Option<&'a str>,
    /// The same diagnostic rendered as text, for tools that just show it.
    pub rendered: String,
}

#[derive(Serialize)]
pub struct JsonLabel<'a> {
    pub message: &'a str,
    pub primary: bool,
    pub byte_start: u32,
    pub byte_end: u32,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl<'a> JsonDiagnostic<'a> {
    pub fn new(diagnostic: &'a Diagnostic, source: &str, file: &'a str) -> Self {
        let location = diagnostic.primary_span().map(|s| s.location(source));
        JsonDiagnostic {
            file,
            severity: diagnostic.severity,
            code: diagnostic.code.as_str(),
            message: &diagnostic.message,
            line: location.map(|l| l.line),
            column: location.map(|l| l.column),
            labels: diagnostic
                .labels
                .iter()
                .map(|label| {
                    let start = label.span.location(source);
                    let end = Span::new(label.span.end as usize, label.span.end as usize)
                        .location(source);
                    JsonLabel {
                        message: &label.message,
                        primary: label.primary,
                        byte_start: label.span.start,
                        byte_end: label.span.end,
                        line: start.line,
                        column: start.column,
                        end_line: end.line,
                        end_column: end.column,
                    }
                })
                .collect(),
            notes: &diagnostic.notes,
            help: diagnostic.help.as_deref(),
            rendered: render(diagnostic, source, file, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Code;

    #[test]
    fn renders_rustc_layout() {
        let source = "model A {\n    input(4)\n    dense(120)\n}\n";
        let at = source.find("dense").unwrap();
        let diagnostic = Diagnostic::error(Code::NeedsFlatInput, "something is wrong")
            .with_label(Span::new(at, at + 10), "here")
            .with_note("a note")
            .with_help("a fix");
        let text = render(&diagnostic, source, "a.cnn", false);
        assert_eq!(
            text,
            "error[E0201]: something is wrong\n --> a.cnn:3:5\n  |\n3 |     dense(120)\n  |     ^^^^^^^^^^ here\n  |\n  = note: a note\n  = help: a fix"
        );
    }

    #[test]
    fn empty_span_at_end_still_shows() {
        let source = "model A {";
        let diagnostic =
            Diagnostic::error(Code::Syntax, "unexpected end").with_label(Span::new(9, 9), "here");
        let text = render(&diagnostic, source, "a.cnn", false);
        assert!(text.contains("a.cnn:1:9"), "{text}");
    }
}

#[cfg(test)]
mod regression {
    use super::*;
    use crate::diagnostic::Code;

    /// Found by fuzzing: a long line of form feeds (whitespace to Unicode, not to the parser)
    /// made annotate-snippets' margin arithmetic underflow.
    #[test]
    fn long_lines_of_odd_whitespace_render() {
        let source = format!(
            "{}block M {{ input(7) {} }}\n",
            "\u{c}".repeat(60),
            "x".repeat(200)
        );
        for at in [0, 30, 60, source.len() - 2] {
            let diagnostic = Diagnostic::error(Code::Syntax, "unexpected")
                .with_label(Span::new(at, at + 1), "here");
            let text = render(&diagnostic, &source, "a.cnn", false);
            assert!(text.contains("a.cnn:1:"), "{text}");
        }
    }
}
