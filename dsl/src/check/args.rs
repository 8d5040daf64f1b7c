//! Binding call arguments to parameters, and reading them as typed values.
//!
//! One mechanism serves layers, blocks and every function-like value (activations,
//! initializers, optimizers …): [`bind`] matches positional and named arguments to
//! parameter names, and [`ArgReader`] turns the bound values into numbers, shapes and
//! resolved functions, recording every mistake as a diagnostic.

use super::functions::{resolve, FnSpec, Resolved};
use super::value::{Value, ValueKind};
use crate::ast::Ident;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::shape::Padding;
use crate::span::Span;

/// The largest size (filters, units, kernel, stride, dimension) the checker accepts.
pub const MAX_DIM: u64 = i32::MAX as u64;

/// How a callee's parameters can be given.
pub struct Signature<'p> {
    /// What the callee is called, for messages.
    pub callee: &'p str,
    /// Parameter names in declaration order.
    pub params: &'p [&'p str],
    /// How many leading parameters may be given by position.
    pub positional: usize,
    /// Other spellings accepted for a parameter: `(alias, parameter)`.
    pub aliases: &'p [(&'p str, &'p str)],
}

/// Arguments matched to parameter names.
pub struct Bound<'p> {
    pub values: Vec<(&'p str, Value)>,
}

/// Matches `args` to `signature`; mistakes go to `diags`, and what could be bound is kept.
pub fn bind<'p>(
    signature: &Signature<'p>,
    call_span: Span,
    args: Vec<(Option<Ident>, Value)>,
    diags: &mut Vec<Diagnostic>,
) -> Bound<'p> {
    let mut values: Vec<(&'p str, Value)> = Vec::new();
    let mut given_spans: Vec<(&'p str, Span)> = Vec::new();
    let mut seen_named = false;
    let mut position = 0;
    let callee = signature.callee;
    for (name, value) in args {
        let param = match &name {
            None => {
                if seen_named {
                    // Bound to the next free positional parameter all the same, so that
                    // the mistake is reported once, not again as a missing argument.
                    let free = signature.params[..signature.positional]
                        .iter()
                        .find(|p| !given_spans.iter().any(|(g, _)| g == *p));
                    diags.push(
                        Diagnostic::error(
                            Code::TooManyArguments,
                            format!("positional argument after a named one in `{callee}`"),
                        )
                        .with_label(value.span, "give this one a name too")
                        .with_help_opt(free.map(|p| {
                            format!("positional arguments come first; write `{p}: {value}`")
                        })),
                    );
                    if let Some(p) = free {
                        given_spans.push((p, value.span));
                        values.push((p, value));
                    }
                    continue;
                }
                if position >= signature.positional {
                    let taken = &signature.params[..signature.positional];
                    let message = if taken.is_empty() {
                        format!("`{callee}` takes no positional arguments")
                    } else {
                        format!(
                            "`{callee}` takes at most {} positional argument{} ({})",
                            taken.len(),
                            if taken.len() == 1 { "" } else { "s" },
                            taken.join(", ")
                        )
                    };
                    let next = signature.params.get(position).copied();
                    diags.push(
                        Diagnostic::error(Code::TooManyArguments, message)
                            .with_label(value.span, "one positional argument too many")
                            .with_secondary(call_span, "in this call")
                            .with_help_opt(next.map(|p| format!("name it, e.g. `{p}: {value}`"))),
                    );
                    position += 1;
                    continue;
                }
                position += 1;
                signature.params[position - 1]
            }
            Some(ident) => {
                seen_named = true;
                let canonical = signature
                    .params
                    .iter()
                    .copied()
                    .find(|p| *p == ident.name)
                    .or_else(|| {
                        signature
                            .aliases
                            .iter()
                            .find(|(alias, _)| *alias == ident.name)
                            .map(|(_, p)| *p)
                    });
                match canonical {
                    Some(p) => p,
                    None => {
                        diags.push(unknown_argument(signature, ident, call_span));
                        continue;
                    }
                }
            }
        };
        let arg_span = name
            .as_ref()
            .map_or(value.span, |n| n.span.until(value.span));
        if let Some((_, first)) = given_spans.iter().find(|(p, _)| *p == param) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateArgument,
                    format!("`{param}` is given twice in `{callee}`"),
                )
                .with_label(arg_span, "given again here")
                .with_secondary(*first, "first given here"),
            );
            continue;
        }
        given_spans.push((param, arg_span));
        values.push((param, value));
    }
    Bound { values }
}

fn unknown_argument(signature: &Signature, ident: &Ident, call_span: Span) -> Diagnostic {
    let callee = signature.callee;
    let known = signature
        .params
        .iter()
        .copied()
        .chain(signature.aliases.iter().map(|(a, _)| *a));
    let diagnostic = Diagnostic::error(
        Code::UnknownArgument,
        format!("`{callee}` has no argument `{}`", ident.name),
    )
    .with_label(ident.span, "unknown argument")
    .with_secondary(call_span, format!("in this call to `{callee}`"));
    let help = match ident.name.as_str() {
        "input_shape" | "input_dim" => {
            Some("write the input as the model's first statement: `input(28, 28, 1)`".to_string())
        }
        _ => did_you_mean(&ident.name, known).or_else(|| {
            (!signature.params.is_empty())
                .then(|| format!("`{callee}` takes: {}", signature.params.join(", ")))
        }),
    };
    diagnostic.with_help_opt(help)
}

/// Reads bound arguments as typed values. Every mistake is recorded; getters return a
/// harmless fallback so that one bad argument does not hide the others.
pub struct ArgReader<'p> {
    callee: String,
    call_span: Span,
    bound: Vec<(&'p str, Value)>,
    pub diags: Vec<Diagnostic>,
    failed: bool,
}

/// An inclusive or exclusive range for float arguments.
#[derive(Clone, Copy, Debug)]
pub struct FloatRange {
    pub min: f64,
    pub max: f64,
    pub min_open: bool,
    pub max_open: bool,
}

impl FloatRange {
    pub const ANY: FloatRange = FloatRange::new(f64::MIN, f64::MAX, false, false);
    pub const POSITIVE: FloatRange = FloatRange::new(0.0, f64::MAX, true, false);
    pub const NON_NEGATIVE: FloatRange = FloatRange::new(0.0, f64::MAX, false, false);
    /// `0 <= x < 1`, for rates and fractions.
    pub const FRACTION: FloatRange = FloatRange::new(0.0, 1.0, false, true);
    /// `0 <= x <= 1`.
    pub const UNIT: FloatRange = FloatRange::new(0.0, 1.0, false, false);

    pub const fn new(min: f64, max: f64, min_open: bool, max_open: bool) -> Self {
        FloatRange {
            min,
            max,
            min_open,
            max_open,
        }
    }

    pub fn contains(&self, x: f64) -> bool {
        let above = if self.min_open {
            x > self.min
        } else {
            x >= self.min
        };
        let below = if self.max_open {
            x < self.max
        } else {
            x <= self.max
        };
        above && below && x.is_finite()
    }

    pub fn describe(&self) -> String {
        let lower = if self.min == f64::MIN {
            None
        } else {
            Some(format!(
                "{} {}",
                if self.min_open { ">" } else { ">=" },
                self.min
            ))
        };
        let upper = if self.max == f64::MAX {
            None
        } else {
            Some(format!(
                "{} {}",
                if self.max_open { "<" } else { "<=" },
                self.max
            ))
        };
        match (lower, upper) {
            (Some(l), Some(u)) => format!("{l} and {u}"),
            (Some(l), None) => l,
            (None, Some(u)) => u,
            (None, None) => "finite".into(),
        }
    }
}

impl<'p> ArgReader<'p> {
    pub fn new(callee: &str, call_span: Span, bound: Bound<'p>, diags: Vec<Diagnostic>) -> Self {
        let failed = diags.iter().any(Diagnostic::is_error);
        ArgReader {
            callee: callee.to_string(),
            call_span,
            bound: bound.values,
            diags,
            failed,
        }
    }

    /// Whether every argument read so far was valid.
    pub fn ok(&self) -> bool {
        !self.failed
    }

    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.failed = true;
        self.diags.push(diagnostic);
    }

    /// Removes and returns the value given for `name`, if any.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        let index = self.bound.iter().position(|(p, _)| *p == name)?;
        Some(self.bound.remove(index).1)
    }

    /// The value given for `name`, left in place.
    pub fn peek(&self, name: &str) -> Option<&Value> {
        self.bound.iter().find(|(p, _)| *p == name).map(|(_, v)| v)
    }

    /// Whether a value was given for `name`.
    pub fn has(&self, name: &str) -> bool {
        self.bound.iter().any(|(p, _)| *p == name)
    }

    /// Records that the required argument `name` is missing; `example` shows a value.
    pub fn missing(&mut self, name: &str, example: &str) {
        let callee = self.callee.clone();
        self.error(
            Diagnostic::error(
                Code::MissingArgument,
                format!("`{callee}` needs an argument `{name}`"),
            )
            .with_label(self.call_span, format!("`{name}` is missing"))
            .with_help(format!("e.g. `{callee}({name}: {example})`")),
        );
    }

    fn wrong_type(&mut self, name: &str, expected: &str, value: &Value) {
        let callee = self.callee.clone();
        let help = match &value.kind {
            ValueKind::Str(s) => Some(format!("names are written without quotes: `{s}`")),
            ValueKind::Name(n) if n == "True" || n == "False" => {
                Some(format!("booleans are lower case: `{}`", n.to_lowercase()))
            }
            ValueKind::Float(f) if f.fract() == 0.0 && expected.contains("integer") => {
                Some(format!("write `{}`", *f as i64))
            }
            _ => None,
        };
        self.error(
            Diagnostic::error(
                Code::WrongType,
                format!(
                    "`{name}` of `{callee}` must be {expected}, but is {}",
                    value.kind.describe()
                ),
            )
            .with_label(value.span, format!("expected {expected}"))
            .with_help_opt(help),
        );
    }

    fn out_of_range(&mut self, name: &str, value: &Value, allowed: &str) {
        let callee = self.callee.clone();
        self.error(
            Diagnostic::error(
                Code::OutOfRange,
                format!("`{name}` of `{callee}` must be {allowed}, but is {value}"),
            )
            .with_label(value.span, format!("must be {allowed}")),
        );
    }

    /// One integer in `min..=max`.
    fn int_value(&mut self, name: &str, value: &Value, min: u64, max: u64) -> Option<u64> {
        match value.kind {
            ValueKind::Int(v) if v >= min as i128 && v <= max as i128 => Some(v as u64),
            ValueKind::Int(_) => {
                let allowed = if max == MAX_DIM {
                    format!("at least {min} and at most {}", group_digits(max))
                } else {
                    format!("between {min} and {}", group_digits(max))
                };
                self.out_of_range(name, value, &allowed);
                None
            }
            _ => {
                self.wrong_type(name, "an integer", value);
                None
            }
        }
    }

    /// An integer; `default` is used when it is not given (`None`: it is required).
    pub fn int(&mut self, name: &str, default: Option<u64>, min: u64, max: u64) -> u64 {
        match self.take(name) {
            Some(value) => self.int_value(name, &value, min, max).unwrap_or(min.max(1)),
            None => match default {
                Some(d) => d,
                None => {
                    self.missing(name, example_value(name));
                    min.max(1)
                }
            },
        }
    }

    /// An integer or a tuple of `rank` integers (`3` means `(3, 3)`), each in `min..=MAX_DIM`.
    pub fn ints(&mut self, name: &str, rank: usize, default: Option<u64>, min: u64) -> Vec<u64> {
        let fallback = vec![default.unwrap_or(1).max(min); rank];
        let Some(value) = self.take(name) else {
            if default.is_none() {
                self.missing(name, example_value(name));
            }
            return fallback;
        };
        match &value.kind {
            ValueKind::Tuple(items) if items.len() == rank => {
                let mut out = Vec::with_capacity(rank);
                for item in items {
                    out.push(
                        self.int_value(name, item, min, MAX_DIM)
                            .unwrap_or(min.max(1)),
                    );
                }
                out
            }
            ValueKind::Tuple(items) => {
                let callee = self.callee.clone();
                self.error(
                    Diagnostic::error(
                        Code::WrongType,
                        format!(
                            "`{name}` of `{callee}` needs {rank} value{}, but {} were given",
                            if rank == 1 { "" } else { "s" },
                            items.len()
                        ),
                    )
                    .with_label(value.span, format!("expected a number or a {rank}-tuple")),
                );
                fallback
            }
            _ => match self.int_value(name, &value, min, MAX_DIM) {
                Some(v) => vec![v; rank],
                None => fallback,
            },
        }
    }

    /// A float in `range`; integers are accepted.
    pub fn float(&mut self, name: &str, default: Option<f64>, range: FloatRange) -> f64 {
        let fallback = default.unwrap_or(0.0);
        let Some(value) = self.take(name) else {
            if default.is_none() {
                self.missing(name, example_value(name));
            }
            return fallback;
        };
        let x = match value.kind {
            ValueKind::Float(x) => x,
            ValueKind::Int(i) => i as f64,
            _ => {
                self.wrong_type(name, "a number", &value);
                return fallback;
            }
        };
        if range.contains(x) {
            x
        } else {
            self.out_of_range(name, &value, &range.describe());
            fallback
        }
    }

    /// Axes counted from 1 (Keras' convention, batch excluded): `1` or `(1, 2)`.
    pub fn axes(&mut self, name: &str) -> Vec<usize> {
        let Some(value) = self.take(name) else {
            return Vec::new();
        };
        let items = match &value.kind {
            ValueKind::Tuple(items) | ValueKind::List(items) => items.clone(),
            _ => vec![value.clone()],
        };
        items
            .iter()
            .filter_map(|item| self.int_value(name, item, 1, 8))
            .map(|axis| axis as usize)
            .collect()
    }

    /// A float that may be left out.
    pub fn opt_float(&mut self, name: &str, range: FloatRange) -> Option<f64> {
        self.has(name).then(|| self.float(name, Some(0.0), range))
    }

    /// An integer that may be left out.
    pub fn opt_int(&mut self, name: &str, min: u64, max: u64) -> Option<u64> {
        self.has(name).then(|| self.int(name, Some(min), min, max))
    }

    pub fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.take(name) {
            None => default,
            Some(Value {
                kind: ValueKind::Bool(b),
                ..
            }) => b,
            Some(value) => {
                self.wrong_type(name, "`true` or `false`", &value);
                default
            }
        }
    }

    /// A string, such as a layer's `name`.
    pub fn string(&mut self, name: &str) -> Option<(String, Span)> {
        let value = self.take(name)?;
        match value.kind {
            ValueKind::Str(s) if !s.is_empty() => Some((s, value.span)),
            _ => {
                self.wrong_type(name, "a non-empty string", &value);
                None
            }
        }
    }

    /// `valid`, `same`, or explicit numbers: `2`, `(1, 2)` (per axis), or
    /// `((top, bottom), (left, right))`.
    pub fn padding(&mut self, rank: usize) -> Padding {
        let Some(value) = self.take("padding") else {
            return Padding::Valid;
        };
        match &value.kind {
            ValueKind::Name(n) if n == "valid" => Padding::Valid,
            ValueKind::Name(n) if n == "same" => Padding::Same,
            ValueKind::Name(n) | ValueKind::Str(n) => {
                let callee = self.callee.clone();
                let help =
                    if matches!(value.kind, ValueKind::Str(_)) && (n == "same" || n == "valid") {
                        Some(format!("write `{n}` without quotes"))
                    } else {
                        did_you_mean(n, ["valid", "same"])
                    };
                self.error(
                    Diagnostic::error(
                        Code::UnknownValue,
                        format!("unknown padding `{n}` in `{callee}`"),
                    )
                    .with_label(value.span, "expected `valid`, `same` or numbers")
                    .with_help_opt(help),
                );
                Padding::Valid
            }
            _ => match self.explicit_pads("padding", &value, rank) {
                Some(pads) => Padding::Explicit(pads),
                None => Padding::Valid,
            },
        }
    }

    /// Explicit padding as `(before, after)` per axis.
    pub fn explicit_pads(
        &mut self,
        name: &str,
        value: &Value,
        rank: usize,
    ) -> Option<Vec<(u64, u64)>> {
        let pair = |reader: &mut Self, v: &Value| -> Option<(u64, u64)> {
            match &v.kind {
                ValueKind::Tuple(items) if items.len() == 2 => {
                    let a = reader.int_value(name, &items[0], 0, MAX_DIM)?;
                    let b = reader.int_value(name, &items[1], 0, MAX_DIM)?;
                    Some((a, b))
                }
                _ => reader.int_value(name, v, 0, MAX_DIM).map(|p| (p, p)),
            }
        };
        match &value.kind {
            ValueKind::Tuple(items) if items.len() == rank => {
                items.iter().map(|item| pair(self, item)).collect()
            }
            ValueKind::Int(_) => pair(self, value).map(|p| vec![p; rank]),
            _ => {
                self.wrong_type(
                    name,
                    &format!("a number or a {rank}-tuple of numbers or (before, after) pairs"),
                    value,
                );
                None
            }
        }
    }

    /// A function-like value (`relu`, `l2(1e-4)`, `he_normal` …) from `table`.
    pub fn function(
        &mut self,
        name: &str,
        table: &'static [FnSpec],
        default: Option<&str>,
        what: &str,
    ) -> Option<Resolved> {
        match self.take(name) {
            Some(value) => match resolve(&value, table, what) {
                Ok(resolved) => Some(resolved),
                Err(diags) => {
                    for d in diags {
                        self.error(d);
                    }
                    None
                }
            },
            None => {
                let spec = table.iter().find(|s| Some(s.name) == default)?;
                Some(Resolved::defaults(spec, self.call_span))
            }
        }
    }

    /// Hands back every diagnostic recorded while reading.
    pub fn finish(self) -> Vec<Diagnostic> {
        self.diags
    }
}

/// A plausible value for a missing argument, for the help line.
fn example_value(name: &str) -> &'static str {
    match name {
        "filters" => "32",
        "units" => "128",
        "kernel_size" | "pool_size" => "3",
        "rate" => "0.5",
        "stddev" => "0.1",
        "scale" => "1 / 255",
        _ => "1",
    }
}

/// `61706` as `61,706`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i128, at: usize) -> Value {
        Value {
            kind: ValueKind::Int(v),
            span: Span::new(at, at + 1),
        }
    }

    fn ident(name: &str) -> Ident {
        Ident {
            name: name.into(),
            span: Span::default(),
        }
    }

    const CONV: Signature = Signature {
        callee: "conv2d",
        params: &["filters", "kernel_size", "strides"],
        positional: 2,
        aliases: &[("dilation", "strides")],
    };

    #[test]
    fn positional_then_named() {
        let mut diags = Vec::new();
        let bound = bind(
            &CONV,
            Span::default(),
            vec![
                (None, int(6, 0)),
                (None, int(5, 2)),
                (Some(ident("strides")), int(2, 4)),
            ],
            &mut diags,
        );
        assert!(diags.is_empty());
        let names: Vec<&str> = bound.values.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["filters", "kernel_size", "strides"]);
    }

    #[test]
    fn too_many_positional_arguments() {
        let mut diags = Vec::new();
        bind(
            &CONV,
            Span::default(),
            vec![(None, int(6, 0)), (None, int(5, 2)), (None, int(2, 4))],
            &mut diags,
        );
        assert_eq!(diags[0].code, Code::TooManyArguments);
        assert_eq!(diags[0].help.as_deref(), Some("name it, e.g. `strides: 2`"));
    }

    #[test]
    fn duplicate_and_unknown_arguments() {
        let mut diags = Vec::new();
        bind(
            &CONV,
            Span::default(),
            vec![
                (None, int(6, 0)),
                (Some(ident("filters")), int(5, 2)),
                (Some(ident("stride")), int(1, 3)),
            ],
            &mut diags,
        );
        assert_eq!(diags[0].code, Code::DuplicateArgument);
        assert_eq!(diags[1].code, Code::UnknownArgument);
        assert_eq!(diags[1].help.as_deref(), Some("did you mean `strides`?"));
    }

    #[test]
    fn huge_filters_are_out_of_range() {
        let bound = Bound {
            values: vec![("filters", int(10i128.pow(20), 0))],
        };
        let mut reader = ArgReader::new("conv2d", Span::default(), bound, Vec::new());
        reader.int("filters", None, 1, MAX_DIM);
        assert!(!reader.ok());
        assert_eq!(reader.diags[0].code, Code::OutOfRange);
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(61706), "61,706");
        assert_eq!(group_digits(138357544), "138,357,544");
    }
}
