//! Diagnostics as data: what went wrong, where, and how to fix it.
//!
//! Every stage reports through [`Diagnostic`]; rendering it (as rustc-style text or as JSON)
//! happens in one place, [`crate::render`], shared by `cnnc` and `network!`.

use crate::span::Span;
use serde::Serialize;

/// How bad a diagnostic is. Only errors make a file fail to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Teaching notes, shown only when asked for (`cnnc check --hints`).
    Hint,
    /// A clear mistake that still gives a model that runs.
    Warning,
    /// The file cannot be used as written.
    Error,
}

/// A piece of source text that a diagnostic points at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
    /// The primary label is underlined with `^`; secondary ones with `-`.
    pub primary: bool,
}

/// One message for the user.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    pub fn hint(code: Code, message: impl Into<String>) -> Self {
        Self::new(Severity::Hint, code, message)
    }

    /// Points at the text at fault (underlined with `^`).
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// Points at related text (underlined with `-`).
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a help line only when there is one.
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// The span of the first primary label, where the diagnostic is reported.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels
            .iter()
            .find(|label| label.primary)
            .or(self.labels.first())
            .map(|label| label.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// All the diagnostics of one file, in the order they were found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorts by position so that output reads top to bottom; stable for equal positions.
    pub fn sort_by_position(&mut self) {
        self.0
            .sort_by_key(|d| d.primary_span().map_or((u32::MAX, 0), |s| (s.start, s.end)));
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Diagnostics(vec![diagnostic])
    }
}

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident = $id:literal,)*) => {
        /// Every diagnostic has a stable code, so users can search for it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[doc = $doc])* $name,)*
        }

        impl Code {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $id,)*
                }
            }

            /// Every code with its one-line explanation.
            pub fn all() -> &'static [(Code, &'static str)] {
                &[$((Code::$name, concat!($($doc),*)),)*]
            }
        }
    };
}

codes! {
    /// The text does not follow the grammar.
    Syntax = "E0001",
    /// Brackets or comments are nested deeper than the parser allows.
    TooDeep = "E0002",
    /// The file is not valid UTF-8 or is too large to read.
    BadSource = "E0003",
    /// A literal does not fit any number the language can hold.
    LiteralTooLarge = "E0004",
    /// A layer, block or model name that is not defined.
    UnknownName = "E0101",
    /// An argument name that the layer or block does not take.
    UnknownArgument = "E0102",
    /// The same argument given twice.
    DuplicateArgument = "E0103",
    /// More positional arguments than the layer or block takes.
    TooManyArguments = "E0104",
    /// A required argument is missing.
    MissingArgument = "E0105",
    /// An argument of the wrong kind (a name where a number is expected …).
    WrongType = "E0106",
    /// A number outside the range the argument allows.
    OutOfRange = "E0107",
    /// A symbol (activation, padding, initializer …) that is not known.
    UnknownValue = "E0108",
    /// A block that uses itself, directly or through other blocks.
    RecursiveBlock = "E0109",
    /// Two models or two blocks with the same name.
    DuplicateDefinition = "E0110",
    /// Two layers with the same name in one model.
    DuplicateLayerName = "E0111",
    /// Arithmetic that cannot be evaluated (division by zero, overflow, a name in a sum).
    BadArithmetic = "E0114",
    /// The model would have more layers than the checker expands.
    TooManyLayers = "E0115",
    /// A layer that needs a flat input gets an image or a sequence.
    NeedsFlatInput = "E0201",
    /// A layer gets a tensor of the wrong rank.
    WrongRank = "E0202",
    /// A window larger than its (padded) input, leaving nothing.
    EmptyOutput = "E0203",
    /// The branches of `add` give different shapes.
    AddShapeMismatch = "E0204",
    /// The branches of `concatenate` give different spatial shapes.
    ConcatShapeMismatch = "E0205",
    /// `groups` does not divide the channels or the filters.
    BadGroups = "E0206",
    /// A model that does not start with one `input(...)`.
    BadInput = "E0207",
    /// Sizes or counts larger than the toolchain can hold.
    TooLarge = "E0208",
    /// `add` or `concatenate` with fewer than two branches.
    TooFewBranches = "E0209",
    /// A `train` section names a model that is not defined.
    UnknownModel = "E0301",
    /// A `train` setting that does not exist.
    UnknownSetting = "E0302",
    /// A `train` setting that is required is missing.
    MissingSetting = "E0303",
    /// The data's images, after preprocessing, do not fit the model's input.
    DataShapeMismatch = "E0304",
    /// The model's output does not fit the data's classes.
    OutputMismatch = "E0305",
    /// A `train` setting given twice, or two train sections for one model.
    DuplicateSetting = "E0306",
    /// Something went wrong inside the checker itself.
    Internal = "E9999",
    /// A kernel initialised to one constant: every unit learns the same thing.
    ConstantInitializer = "W0101",
    /// Two linear layers in a row collapse into one.
    LinearStack = "W0102",
    /// Softmax before the last layer.
    EarlySoftmax = "W0103",
    /// The loss does not fit the last layer's activation.
    LossActivationMismatch = "W0104",
    /// Dropout straight before batch normalisation.
    DropoutBeforeBatchNorm = "W0105",
    /// A deep stack of saturating activations.
    SaturatingStack = "H0101",
    /// An initializer that does not suit the activation after it.
    InitializerActivation = "H0102",
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Up to three known names closest to `wanted`, best first, for "did you mean" help.
pub fn suggest<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted_lower = wanted.to_ascii_lowercase();
    let mut scored: Vec<(f64, &str)> = known
        .into_iter()
        .map(|name| {
            (
                strsim::jaro_winkler(&wanted_lower, &name.to_ascii_lowercase()),
                name,
            )
        })
        .filter(|(score, _)| *score >= 0.82)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, name)| name).collect()
}

/// "did you mean `a`?" or "did you mean `a`, `b` or `c`?", if anything is close.
pub fn did_you_mean<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let close = suggest(wanted, known);
    match close.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean `{one}`?")),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(|n| format!("`{n}`")).collect();
            Some(format!("did you mean {} or `{last}`?", rest.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_layer_suggests_closest() {
        let known = ["conv2d", "conv1d", "dense", "max_pooling2d"];
        assert_eq!(suggest("conv2", known), vec!["conv2d", "conv1d"]);
        assert_eq!(suggest("Dense", known), vec!["dense"]);
        assert!(suggest("xyz", known).is_empty());
    }

    #[test]
    fn did_you_mean_lists_alternatives() {
        assert_eq!(
            did_you_mean("conv2", ["conv2d", "conv1d"]).as_deref(),
            Some("did you mean `conv2d` or `conv1d`?")
        );
    }

    #[test]
    fn codes_are_unique() {
        let mut ids: Vec<&str> = Code::all().iter().map(|(c, _)| c.as_str()).collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }
}
