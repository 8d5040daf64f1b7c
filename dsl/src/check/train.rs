//! Checks `train` sections: every setting's name, type and range, and that the data fits
//! the model's input (after preprocessing) and its output.

use super::args::{ArgReader, Bound, FloatRange};
use super::functions::{
    resolve, Resolved, AUGMENT, CALLBACKS, LOSSES, METRICS, OPTIMIZERS, PREPROCESS,
};
use super::value::{eval, Env, Value, ValueKind};
use crate::ast::Train;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::graph::Graph;
use crate::shape::Shape;
use crate::span::Span;
use serde::Serialize;

/// Every setting a `train` section may have.
const SETTINGS: &[&str] = &[
    "data",
    "preprocess",
    "augment",
    "loss",
    "optimizer",
    "metrics",
    "batch_size",
    "epochs",
    "validation_split",
    "callbacks",
    "ensemble",
    "seed",
    "shuffle",
];

/// A checked `train` section with every default filled in.
#[derive(Clone, Debug, Serialize)]
pub struct TrainConfig {
    pub model: String,
    #[serde(skip)]
    pub span: Span,
    pub data: DataSource,
    pub preprocess: Vec<Resolved>,
    pub augment: Vec<Resolved>,
    pub loss: Resolved,
    pub optimizer: Resolved,
    pub metrics: Vec<Resolved>,
    pub batch_size: BatchSize,
    pub epochs: u64,
    pub validation_split: f64,
    pub callbacks: Vec<Resolved>,
    pub ensemble: u64,
    pub seed: u64,
    pub shuffle: bool,
}

/// Where training data comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// MNIST in IDX files: the copy shipped with the project (`dir: None`) or a directory.
    Mnist { dir: Option<String> },
}

impl DataSource {
    /// The shape of one example as stored.
    pub fn image_shape(&self) -> Shape {
        match self {
            DataSource::Mnist { .. } => Shape(vec![28, 28, 1]),
        }
    }

    pub fn classes(&self) -> u64 {
        match self {
            DataSource::Mnist { .. } => 10,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            DataSource::Mnist { .. } => "mnist",
        }
    }
}

/// Examples per gradient step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchSize {
    /// Batch gradient descent: the whole training set per step.
    Full,
    Size(u64),
}

/// Checks one train section against its model's graph (when the model checked).
pub fn check_train(
    train: &Train,
    graph: Option<&Graph>,
    diags: &mut Vec<Diagnostic>,
) -> Option<TrainConfig> {
    let mut values: Vec<(&'static str, Value)> = Vec::new();
    let mut spans: Vec<(&'static str, Span)> = Vec::new();
    let env = Env::new();
    for setting in &train.settings {
        let key = setting.key.name.as_str();
        let Some(&canonical) = SETTINGS.iter().find(|s| **s == key) else {
            diags.push(
                Diagnostic::error(
                    Code::UnknownSetting,
                    format!("unknown train setting `{key}`"),
                )
                .with_label(setting.key.span, "not a setting")
                .with_help(
                    did_you_mean(key, SETTINGS.iter().copied())
                        .unwrap_or_else(|| format!("settings are: {}", SETTINGS.join(", "))),
                ),
            );
            continue;
        };
        if let Some((_, first)) = spans.iter().find(|(k, _)| *k == canonical) {
            diags.push(
                Diagnostic::error(Code::DuplicateSetting, format!("`{key}` is set twice"))
                    .with_label(setting.key.span, "set again here")
                    .with_secondary(*first, "first set here"),
            );
            continue;
        }
        spans.push((canonical, setting.key.span));
        match eval(&setting.value, &env) {
            Ok(value) => values.push((canonical, value)),
            Err(d) => diags.push(d),
        }
    }
    let context = format!("train {}", train.model.name);
    let mut reader = ArgReader::new(&context, train.model.span, Bound { values }, Vec::new());
    for required in ["data", "loss", "optimizer"] {
        if !reader.has(required) && !spans.iter().any(|(k, _)| *k == required) {
            let example = match required {
                "data" => "mnist",
                "loss" => "categorical_crossentropy",
                _ => "adam(learning_rate: 0.001)",
            };
            reader.error(
                Diagnostic::error(
                    Code::MissingSetting,
                    format!(
                        "the train section of `{}` has no `{required}`",
                        train.model.name
                    ),
                )
                .with_label(train.model.span, format!("`{required}` is missing"))
                .with_help(format!("add `{required}: {example}`")),
            );
        }
    }
    let data_value = reader.take("data");
    let data = data_value
        .as_ref()
        .and_then(|v| data_source(v, &mut reader));
    let preprocess = list(&mut reader, "preprocess", PREPROCESS, "preprocessing step");
    let augment = list(&mut reader, "augment", AUGMENT, "augmentation");
    let loss = one(&mut reader, "loss", LOSSES, "loss");
    let optimizer = one(&mut reader, "optimizer", OPTIMIZERS, "optimizer");
    let metrics = list(&mut reader, "metrics", METRICS, "metric");
    let batch_size = batch_size(&mut reader);
    let epochs = reader.int("epochs", Some(1), 1, 1_000_000);
    let validation_split = reader.float("validation_split", Some(0.0), FloatRange::FRACTION);
    let callbacks = list(&mut reader, "callbacks", CALLBACKS, "callback");
    let ensemble = reader.int("ensemble", Some(1), 1, 100);
    let seed = reader.int("seed", Some(42), 0, u32::MAX as u64);
    let shuffle = reader.boolean("shuffle", true);
    let ok = reader.ok();
    diags.extend(reader.finish());
    let (data, loss, optimizer) = (data?, loss?, optimizer?);
    let mut config_ok = ok;
    if let (Some(graph), Some(data_value)) = (graph, &data_value) {
        config_ok &= fits(graph, &data, &preprocess, data_value.span, diags);
    }
    config_ok.then(|| TrainConfig {
        model: train.model.name.clone(),
        span: train.span,
        data,
        preprocess,
        augment,
        loss,
        optimizer,
        metrics,
        batch_size,
        epochs,
        validation_split,
        callbacks,
        ensemble,
        seed,
        shuffle,
    })
}

fn data_source(value: &Value, reader: &mut ArgReader) -> Option<DataSource> {
    match &value.kind {
        ValueKind::Name(n) if n == "mnist" => Some(DataSource::Mnist { dir: None }),
        ValueKind::Call(name, args) if name.name == "mnist" => match args.as_slice() {
            [(
                None,
                Value {
                    kind: ValueKind::Str(dir),
                    ..
                },
            )] => Some(DataSource::Mnist {
                dir: Some(dir.clone()),
            }),
            _ => {
                reader.error(
                    Diagnostic::error(
                        Code::WrongType,
                        "`mnist(...)` takes one directory as a string",
                    )
                    .with_label(value.span, "expected `mnist(\"path/to/dir\")`")
                    .with_help("write `mnist` for the copy shipped with cnn"),
                );
                None
            }
        },
        ValueKind::Name(n) | ValueKind::Str(n) => {
            reader.error(
                Diagnostic::error(Code::UnknownValue, format!("unknown data set `{n}`"))
                    .with_label(value.span, "not a known data set")
                    .with_help(match did_you_mean(n, ["mnist"]) {
                        Some(h) => h,
                        None => "use `mnist`, or `mnist(\"dir\")` for any directory of IDX files (Fashion-MNIST has the same format)".into(),
                    }),
            );
            None
        }
        other => {
            reader.error(
                Diagnostic::error(
                    Code::WrongType,
                    format!("`data` must name a data set, but is {}", other.describe()),
                )
                .with_label(value.span, "expected `mnist` or `mnist(\"dir\")`"),
            );
            None
        }
    }
}

fn one(
    reader: &mut ArgReader,
    key: &str,
    table: &'static [super::functions::FnSpec],
    what: &str,
) -> Option<Resolved> {
    let value = reader.take(key)?;
    match resolve(&value, table, what) {
        Ok(resolved) => Some(resolved),
        Err(diags) => {
            for d in diags {
                reader.error(d);
            }
            None
        }
    }
}

fn list(
    reader: &mut ArgReader,
    key: &str,
    table: &'static [super::functions::FnSpec],
    what: &str,
) -> Vec<Resolved> {
    let Some(value) = reader.take(key) else {
        return Vec::new();
    };
    let ValueKind::List(items) = &value.kind else {
        reader.error(
            Diagnostic::error(
                Code::WrongType,
                format!("`{key}` must be a list, but is {}", value.kind.describe()),
            )
            .with_label(value.span, "expected `[…]`")
            .with_help(format!("write `{key}: [{value}]`")),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match resolve(item, table, what) {
            Ok(resolved) => out.push(resolved),
            Err(diags) => {
                for d in diags {
                    reader.error(d);
                }
            }
        }
    }
    out
}

fn batch_size(reader: &mut ArgReader) -> BatchSize {
    let full = matches!(reader.peek("batch_size"), Some(Value { kind: ValueKind::Name(n), .. }) if n == "full");
    if full {
        reader.take("batch_size");
        BatchSize::Full
    } else {
        BatchSize::Size(reader.int("batch_size", Some(32), 1, 1 << 24))
    }
}

/// Checks that the data, after preprocessing, fits the model's input, and that the model's
/// output fits the data's classes.
fn fits(
    graph: &Graph,
    data: &DataSource,
    preprocess: &[Resolved],
    data_span: Span,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let mut shape = data.image_shape();
    let mut steps = vec![format!("{} {shape}", data.name())];
    for step in preprocess {
        match step.name {
            "zero_padding2d" => {
                let p = step.int("padding").unwrap_or(0);
                shape.0[0] += 2 * p;
                shape.0[1] += 2 * p;
            }
            "resizing" => {
                shape.0[0] = step.int("height").unwrap_or(shape.0[0]);
                shape.0[1] = step.int("width").unwrap_or(shape.0[1]);
            }
            _ => continue,
        }
        steps.push(format!("{} {shape}", step.name));
    }
    let mut ok = true;
    let input = graph.input_shape();
    let input_span = graph.nodes[0].span;
    if *input != shape {
        let help = if input.rank() == 3
            && input.0[2] == shape.0[2]
            && input.0[0] >= shape.0[0]
            && input.0[0] - shape.0[0] == input.0[1].saturating_sub(shape.0[1])
            && (input.0[0] - shape.0[0]).is_multiple_of(2)
        {
            let p = (input.0[0] - shape.0[0]) / 2;
            format!("add `zero_padding2d({p})` to `preprocess` ({} + 2·{p} = {}), or `resizing({}, {})`", shape.0[0], input.0[0], input.0[0], input.0[1])
        } else if input.rank() == 1 && Some(input.0[0]) == shape.elements() {
            format!("start the model with `input{shape}` followed by `flatten()`")
        } else if input.rank() == 3 && input.0[2] == shape.0[2] {
            format!(
                "add `resizing({}, {})` to `preprocess`",
                input.0[0], input.0[1]
            )
        } else {
            format!("make the model's input `input{shape}`")
        };
        diags.push(
            Diagnostic::error(
                Code::DataShapeMismatch,
                format!(
                    "{} gives {shape} images, but model `{}` takes {input}",
                    data.name(),
                    graph.name
                ),
            )
            .with_label(data_span, format!("gives {shape}"))
            .with_secondary(input_span, format!("takes {input}"))
            .with_note(format!("data after preprocessing: {}", steps.join(" → ")))
            .with_help(help),
        );
        ok = false;
    }
    let output = graph.output_shape();
    let classes = data.classes();
    if output.0 != [classes] {
        let last = graph.node(graph.output);
        diags.push(
            Diagnostic::error(Code::OutputMismatch, format!("model `{}` gives {output}, but {} has {classes} classes", graph.name, data.name()))
                .with_label(last.span, format!("the output is {output}"))
                .with_secondary(data_span, format!("{classes} classes"))
                .with_help(if output.rank() == 1 {
                    format!("end the model with `dense({classes}, activation: softmax)`")
                } else {
                    format!("end the model with `flatten()` (or a global pooling) and `dense({classes}, activation: softmax)`")
                }),
        );
        ok = false;
    }
    ok
}
