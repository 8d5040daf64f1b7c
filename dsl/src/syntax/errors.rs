//! Pest's parse errors as diagnostics: "expected `)` or a value, found `model`".

use super::Rule;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use pest::error::{ErrorVariant, InputLocation};
use std::collections::BTreeSet;

pub(super) fn to_diagnostic(error: pest::error::Error<Rule>, source: &str) -> Diagnostic {
    let at = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((start, _)) => start,
    };
    let mut expected: BTreeSet<String> = BTreeSet::new();
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        expected.extend(
            positives
                .iter()
                .filter_map(|r| describe(*r))
                .map(String::from),
        );
    }
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            let text = token.to_string();
            // Brackets and separators are worth naming; operators are "an operator" and
            // comment openers are never what a user meant to type.
            if ["(", ")", "{", "}", "[", "]", ",", ":"].contains(&text.as_str()) {
                expected.insert(format!("`{text}`"));
            }
        }
    }
    let found = found_at(source, at);
    let span = Span::new(at, at + found.len());
    let found_text = if found.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{found}`")
    };
    let mut expected: Vec<String> = expected.into_iter().collect();
    // Keep the list short and put plain punctuation first: it is usually the fix.
    expected.sort_by_key(|e| (!e.starts_with('`'), e.clone()));
    let message = match expected.as_slice() {
        [] => format!("unexpected {found_text}"),
        [one] => format!("expected {one}, found {found_text}"),
        [rest @ .., last] => format!("expected {} or {last}, found {found_text}", rest.join(", ")),
    };
    let diagnostic = Diagnostic::error(Code::Syntax, message).with_label(span, "unexpected here");
    let wants = |token: &str| expected.iter().any(|e| e == token);
    let help = hint(source, at, found).or_else(|| {
        if found.is_empty() && wants("`}`") {
            Some("a `{` is not closed: add `}` at the end of the block".into())
        } else if wants("`,`") && found.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            Some(format!(
                "arguments are separated by commas: add `,` before `{found}`"
            ))
        } else {
            None
        }
    });
    diagnostic.with_help_opt(help)
}

/// The token starting at `at`: a word, a number, or one character.
fn found_at(source: &str, at: usize) -> &str {
    let rest = &source[at.min(source.len())..];
    let word_end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
        .map_or(rest.len(), |(i, _)| i);
    if word_end > 0 {
        &rest[..word_end]
    } else {
        rest.chars().next().map_or("", |c| &rest[..c.len_utf8()])
    }
}

/// Fixes for mistakes people coming from Python or Keras make.
fn hint(source: &str, at: usize, found: &str) -> Option<String> {
    let rest = &source[at.min(source.len())..];
    if found == "#" {
        return Some("comments start with `//` (the language uses Rust's tokens)".into());
    }
    if found == "'" {
        return Some("strings use double quotes: \"…\"".into());
    }
    if found == "=" {
        return Some("named arguments are written `name: value`, as in Rust".into());
    }
    if found == ";" {
        return Some("statements need no `;`: separate them with new lines".into());
    }
    let before = &source[..at.min(source.len())];
    let digits_before: String = before
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    if !digits_before.is_empty()
        && found.starts_with('x')
        && found[1..].chars().all(|c| c.is_ascii_digit())
    {
        let first: String = digits_before.chars().rev().collect();
        let second = if found.len() > 1 {
            &found[1..]
        } else {
            first.as_str()
        };
        return Some(format!(
            "write a pair as a tuple: `({first}, {second})` instead of `{first}{found}`"
        ));
    }
    let _ = rest;
    if found == "True" || found == "False" {
        return Some(format!(
            "booleans are lower case: `{}`",
            found.to_lowercase()
        ));
    }
    None
}

/// A readable name for what a rule stands for, or `None` for rules users never think of.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::model
        | Rule::block
        | Rule::train
        | Rule::kw_model
        | Rule::kw_block
        | Rule::kw_train => "`model`, `block` or `train`",
        Rule::ident => "a name",
        Rule::body => "`{`",
        Rule::params => "`(`",
        Rule::param => "a parameter name",
        Rule::setting => "a setting (`key: value`)",
        Rule::repeat
        | Rule::add
        | Rule::concatenate
        | Rule::call
        | Rule::kw_repeat
        | Rule::kw_add
        | Rule::kw_concatenate => "a layer",
        Rule::args | Rule::arg | Rule::expr | Rule::term | Rule::unary | Rule::neg => "a value",
        Rule::tuple | Rule::list | Rule::float | Rule::int | Rule::string | Rule::boolean => {
            "a value"
        }
        Rule::add_op | Rule::mul_op => "an operator",
        _ => return None,
    })
}
