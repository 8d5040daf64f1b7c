//! Function-like values: activations, initializers, regularizers, and everything a `train`
//! section names (optimizers, losses, metrics, callbacks, preprocessing, augmentation).
//!
//! Each is a [`FnSpec`] in a table: its name, Keras' aliases, and its parameters with
//! Keras' defaults. [`resolve`] turns `relu`, `leaky_relu(0.2)` or `adam(learning_rate: 1e-3)`
//! into a [`Resolved`] value with every argument checked and every default filled in.

use super::args::{bind, ArgReader, FloatRange, Signature};
use super::value::{Value, ValueKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::span::Span;
use serde::Serialize;
use std::fmt;

/// A function-like value's name, aliases and parameters.
pub struct FnSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub params: &'static [ParamSpec],
}

/// One parameter: its name, its kind, and Keras' default.
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: Kind,
}

/// What a parameter accepts, and its default (`None`: required, or absent for `Opt*`).
pub enum Kind {
    Float(Option<f64>, FloatRange),
    /// A float that may be left out, meaning "not given" (e.g. learned statistics).
    OptFloat(FloatRange),
    Int(Option<u64>, u64, u64),
    /// An integer that may be left out (a seed).
    OptInt(u64, u64),
    Bool(bool),
    /// One of a few names.
    Choice(&'static str, &'static [&'static str]),
}

/// A resolved argument.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    Float(f64),
    Int(u64),
    Bool(bool),
    Name(&'static str),
    None,
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Float(v) => write!(f, "{v:?}"),
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::Bool(v) => write!(f, "{v}"),
            Scalar::Name(v) => f.write_str(v),
            Scalar::None => f.write_str("none"),
        }
    }
}

/// A function-like value with every argument resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resolved {
    pub name: &'static str,
    pub args: Vec<(&'static str, Scalar)>,
    #[serde(skip)]
    pub span: Span,
}

impl Resolved {
    /// The value with every default.
    pub fn defaults(spec: &FnSpec, span: Span) -> Self {
        Resolved {
            name: spec.name,
            args: spec
                .params
                .iter()
                .map(|p| (p.name, default_of(&p.kind)))
                .collect(),
            span,
        }
    }

    pub fn arg(&self, name: &str) -> Option<&Scalar> {
        self.args.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        match self.arg(name)? {
            Scalar::Float(v) => Some(*v),
            Scalar::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<u64> {
        match self.arg(name)? {
            Scalar::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// A number parameter the checker always fills in (the user's value or the spec's
    /// default), so that the spec stays the one place defaults live. Asking for one the
    /// spec does not declare is a mistake in the calling code, not in the user's file.
    pub fn number(&self, name: &str) -> f64 {
        self.float(name)
            .unwrap_or_else(|| panic!("`{}` declares no number `{name}`", self.name))
    }

    /// An integer parameter the checker always fills in (see [`Self::number`]).
    pub fn count(&self, name: &str) -> u64 {
        self.int(name)
            .unwrap_or_else(|| panic!("`{}` declares no integer `{name}`", self.name))
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.arg(name), Some(Scalar::Bool(true)))
    }

    pub fn is(&self, name: &str) -> bool {
        self.name == name
    }
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if self.args.is_empty() {
            return Ok(());
        }
        f.write_str("(")?;
        for (i, (name, value)) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}: {value}")?;
        }
        f.write_str(")")
    }
}

fn default_of(kind: &Kind) -> Scalar {
    match kind {
        Kind::Float(Some(v), _) => Scalar::Float(*v),
        Kind::Int(Some(v), _, _) => Scalar::Int(*v),
        Kind::Bool(v) => Scalar::Bool(*v),
        Kind::Choice(v, _) => Scalar::Name(v),
        Kind::Float(None, _) | Kind::Int(None, _, _) | Kind::OptFloat(_) | Kind::OptInt(..) => {
            Scalar::None
        }
    }
}

/// Finds `name` (or an alias) in `table`.
pub fn lookup(table: &'static [FnSpec], name: &str) -> Option<&'static FnSpec> {
    table
        .iter()
        .find(|s| s.name == name || s.aliases.contains(&name))
}

fn all_names(table: &'static [FnSpec]) -> impl Iterator<Item = &'static str> {
    table
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
}

/// Resolves `value` against `table`; `what` names the table in messages ("activation").
pub fn resolve(
    value: &Value,
    table: &'static [FnSpec],
    what: &str,
) -> Result<Resolved, Vec<Diagnostic>> {
    let (ident_name, ident_span, args) = match &value.kind {
        ValueKind::Name(n) => (n.as_str(), value.span, Vec::new()),
        ValueKind::Call(ident, args) => (ident.name.as_str(), ident.span, args.clone()),
        ValueKind::Str(s) => {
            let help = if lookup(table, s).is_some() {
                format!("write `{s}` without quotes")
            } else {
                format!(
                    "write a {what} name without quotes, e.g. `{}`",
                    table[0].name
                )
            };
            return Err(vec![Diagnostic::error(
                Code::WrongType,
                format!("expected {}, found the string {s:?}", article(what)),
            )
            .with_label(value.span, "a string here")
            .with_help(help)]);
        }
        other => {
            return Err(vec![Diagnostic::error(
                Code::WrongType,
                format!("expected {}, found {}", article(what), other.describe()),
            )
            .with_label(
                value.span,
                format!("expected {} such as `{}`", article(what), table[0].name),
            )]);
        }
    };
    let Some(spec) = lookup(table, ident_name) else {
        let names: Vec<&str> = table.iter().map(|s| s.name).collect();
        return Err(vec![Diagnostic::error(
            Code::UnknownValue,
            format!("unknown {what} `{ident_name}`"),
        )
        .with_label(ident_span, format!("not a known {what}"))
        .with_help(did_you_mean(ident_name, all_names(table)).unwrap_or_else(
            || format!("known {what}s: {}", names.join(", ")),
        ))]);
    };
    let params: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
    let signature = Signature {
        callee: spec.name,
        params: &params,
        positional: params.len(),
        aliases: &[],
    };
    let mut diags = Vec::new();
    let bound = bind(&signature, value.span, args, &mut diags);
    let mut reader = ArgReader::new(spec.name, value.span, bound, diags);
    let mut resolved = Vec::with_capacity(spec.params.len());
    for param in spec.params {
        let scalar = match &param.kind {
            Kind::Float(default, range) => {
                Scalar::Float(reader.float(param.name, *default, *range))
            }
            Kind::OptFloat(range) => reader
                .opt_float(param.name, *range)
                .map_or(Scalar::None, Scalar::Float),
            Kind::OptInt(min, max) => reader
                .opt_int(param.name, *min, *max)
                .map_or(Scalar::None, Scalar::Int),
            Kind::Int(default, min, max) => {
                Scalar::Int(reader.int(param.name, *default, *min, *max))
            }
            Kind::Bool(default) => Scalar::Bool(reader.boolean(param.name, *default)),
            Kind::Choice(default, choices) => {
                Scalar::Name(choice(&mut reader, param.name, default, choices))
            }
        };
        resolved.push((param.name, scalar));
    }
    if reader.ok() {
        Ok(Resolved {
            name: spec.name,
            args: resolved,
            span: value.span,
        })
    } else {
        Err(reader.finish())
    }
}

/// "an activation", "a loss".
fn article(noun: &str) -> String {
    let an = noun.starts_with(|c: char| "aeiou".contains(c));
    format!("{} {noun}", if an { "an" } else { "a" })
}

fn choice(
    reader: &mut ArgReader,
    name: &str,
    default: &'static str,
    choices: &'static [&'static str],
) -> &'static str {
    let Some(value) = reader.take(name) else {
        return default;
    };
    let given = match &value.kind {
        ValueKind::Name(n) | ValueKind::Str(n) => n.as_str(),
        _ => "",
    };
    if let Some(found) = choices.iter().find(|c| **c == given) {
        if matches!(value.kind, ValueKind::Name(_)) {
            return found;
        }
    }
    let help = if matches!(value.kind, ValueKind::Str(_)) && choices.contains(&given) {
        Some(format!("write `{given}` without quotes"))
    } else {
        did_you_mean(given, choices.iter().copied())
    };
    reader.error(
        Diagnostic::error(
            Code::UnknownValue,
            format!(
                "`{name}` must be one of {}, but is {value}",
                choices.join(", ")
            ),
        )
        .with_label(value.span, "not one of the choices")
        .with_help_opt(help),
    );
    default
}

macro_rules! f {
    ($name:literal, $($kind:tt)*) => {
        ParamSpec { name: $name, kind: Kind::$($kind)* }
    };
}

const ANY: FloatRange = FloatRange::ANY;
const POS: FloatRange = FloatRange::POSITIVE;
const NONNEG: FloatRange = FloatRange::NON_NEGATIVE;
const FRACTION: FloatRange = FloatRange::FRACTION;
const UNIT: FloatRange = FloatRange::UNIT;

/// Activations, as `activation:` values and as layers.
pub static ACTIVATIONS: &[FnSpec] = &[
    FnSpec {
        name: "linear",
        aliases: &["identity"],
        params: &[],
    },
    FnSpec {
        name: "relu",
        aliases: &[],
        params: &[],
    },
    FnSpec {
        name: "sigmoid",
        aliases: &[],
        params: &[],
    },
    FnSpec {
        name: "tanh",
        aliases: &[],
        params: &[],
    },
    FnSpec {
        name: "softmax",
        aliases: &[],
        params: &[],
    },
    FnSpec {
        name: "leaky_relu",
        aliases: &[],
        // The lecture's and PyTorch's slope, not Keras' 0.3 (see LANGUAGE.md).
        params: &[f!("negative_slope", Float(Some(0.01), NONNEG))],
    },
    FnSpec {
        name: "elu",
        aliases: &[],
        params: &[f!("alpha", Float(Some(1.0), NONNEG))],
    },
    FnSpec {
        name: "selu",
        aliases: &[],
        params: &[],
    },
    FnSpec {
        name: "gelu",
        aliases: &[],
        params: &[f!("approximate", Bool(false))],
    },
    FnSpec {
        name: "swish",
        aliases: &["silu"],
        params: &[],
    },
    FnSpec {
        name: "softplus",
        aliases: &[],
        params: &[],
    },
    FnSpec {
        name: "hard_sigmoid",
        aliases: &[],
        params: &[],
    },
];

/// Weight initializers, with Keras' defaults.
pub static INITIALIZERS: &[FnSpec] = &[
    FnSpec {
        name: "glorot_uniform",
        aliases: &["xavier_uniform"],
        params: &[f!("seed", OptInt(0, u32::MAX as u64))],
    },
    FnSpec {
        name: "glorot_normal",
        aliases: &["xavier_normal"],
        params: &[f!("seed", OptInt(0, u32::MAX as u64))],
    },
    FnSpec {
        name: "he_uniform",
        aliases: &["kaiming_uniform"],
        params: &[f!("seed", OptInt(0, u32::MAX as u64))],
    },
    FnSpec {
        name: "he_normal",
        aliases: &["kaiming_normal"],
        params: &[f!("seed", OptInt(0, u32::MAX as u64))],
    },
    FnSpec {
        name: "lecun_uniform",
        aliases: &[],
        params: &[f!("seed", OptInt(0, u32::MAX as u64))],
    },
    FnSpec {
        name: "lecun_normal",
        aliases: &[],
        params: &[f!("seed", OptInt(0, u32::MAX as u64))],
    },
    FnSpec {
        name: "zeros",
        aliases: &["zero"],
        params: &[],
    },
    FnSpec {
        name: "ones",
        aliases: &["one"],
        params: &[],
    },
    FnSpec {
        name: "constant",
        aliases: &[],
        params: &[f!("value", Float(Some(0.0), ANY))],
    },
    FnSpec {
        name: "random_uniform",
        aliases: &["uniform"],
        params: &[
            f!("minval", Float(Some(-0.05), ANY)),
            f!("maxval", Float(Some(0.05), ANY)),
            f!("seed", OptInt(0, u32::MAX as u64)),
        ],
    },
    FnSpec {
        name: "random_normal",
        aliases: &["normal"],
        params: &[
            f!("mean", Float(Some(0.0), ANY)),
            f!("stddev", Float(Some(0.05), NONNEG)),
            f!("seed", OptInt(0, u32::MAX as u64)),
        ],
    },
    FnSpec {
        name: "truncated_normal",
        aliases: &[],
        params: &[
            f!("mean", Float(Some(0.0), ANY)),
            f!("stddev", Float(Some(0.05), NONNEG)),
            f!("seed", OptInt(0, u32::MAX as u64)),
        ],
    },
    FnSpec {
        name: "orthogonal",
        aliases: &[],
        params: &[
            f!("gain", Float(Some(1.0), ANY)),
            f!("seed", OptInt(0, u32::MAX as u64)),
        ],
    },
];

/// Weight penalties added to the loss.
pub static REGULARIZERS: &[FnSpec] = &[
    FnSpec {
        name: "l1",
        aliases: &[],
        params: &[f!("l1", Float(Some(0.01), NONNEG))],
    },
    FnSpec {
        name: "l2",
        aliases: &[],
        params: &[f!("l2", Float(Some(0.01), NONNEG))],
    },
    FnSpec {
        name: "l1_l2",
        aliases: &[],
        params: &[
            f!("l1", Float(Some(0.01), NONNEG)),
            f!("l2", Float(Some(0.01), NONNEG)),
        ],
    },
];

/// Optimizers with Keras' arguments and defaults.
pub static OPTIMIZERS: &[FnSpec] = &[
    FnSpec {
        name: "sgd",
        aliases: &[],
        params: &[
            f!("learning_rate", Float(Some(0.01), POS)),
            f!("momentum", Float(Some(0.0), UNIT)),
            f!("nesterov", Bool(false)),
            f!("weight_decay", Float(Some(0.0), NONNEG)),
            f!("clipnorm", OptFloat(POS)),
            f!("clipvalue", OptFloat(POS)),
        ],
    },
    FnSpec {
        name: "adagrad",
        aliases: &[],
        // Keras 3's 0.001 barely moves a network in an epoch; 0.01 is Keras 2's, PyTorch's
        // and Duchi et al.'s usual choice.
        params: &[
            f!("learning_rate", Float(Some(0.01), POS)),
            f!("initial_accumulator_value", Float(Some(0.1), NONNEG)),
            f!("epsilon", Float(Some(1e-7), POS)),
            f!("weight_decay", Float(Some(0.0), NONNEG)),
            f!("clipnorm", OptFloat(POS)),
            f!("clipvalue", OptFloat(POS)),
        ],
    },
    FnSpec {
        name: "adadelta",
        aliases: &[],
        // Zeiler's Adadelta has no learning rate (1.0 here, as in Keras 2 and PyTorch);
        // Keras 3's 0.001 makes updates a thousand times smaller than the method's.
        params: &[
            f!("learning_rate", Float(Some(1.0), POS)),
            f!("rho", Float(Some(0.95), FRACTION)),
            f!("epsilon", Float(Some(1e-7), POS)),
            f!("weight_decay", Float(Some(0.0), NONNEG)),
            f!("clipnorm", OptFloat(POS)),
            f!("clipvalue", OptFloat(POS)),
        ],
    },
    FnSpec {
        name: "rmsprop",
        aliases: &[],
        params: &[
            f!("learning_rate", Float(Some(0.001), POS)),
            f!("rho", Float(Some(0.9), FRACTION)),
            f!("momentum", Float(Some(0.0), UNIT)),
            f!("epsilon", Float(Some(1e-7), POS)),
            f!("centered", Bool(false)),
            f!("weight_decay", Float(Some(0.0), NONNEG)),
            f!("clipnorm", OptFloat(POS)),
            f!("clipvalue", OptFloat(POS)),
        ],
    },
    FnSpec {
        name: "adam",
        aliases: &[],
        params: &[
            f!("learning_rate", Float(Some(0.001), POS)),
            f!("beta_1", Float(Some(0.9), FRACTION)),
            f!("beta_2", Float(Some(0.999), FRACTION)),
            f!("epsilon", Float(Some(1e-7), POS)),
            f!("amsgrad", Bool(false)),
            f!("weight_decay", Float(Some(0.0), NONNEG)),
            f!("clipnorm", OptFloat(POS)),
            f!("clipvalue", OptFloat(POS)),
        ],
    },
    FnSpec {
        name: "adamax",
        aliases: &[],
        params: &[
            f!("learning_rate", Float(Some(0.001), POS)),
            f!("beta_1", Float(Some(0.9), FRACTION)),
            f!("beta_2", Float(Some(0.999), FRACTION)),
            f!("epsilon", Float(Some(1e-7), POS)),
            f!("weight_decay", Float(Some(0.0), NONNEG)),
            f!("clipnorm", OptFloat(POS)),
            f!("clipvalue", OptFloat(POS)),
        ],
    },
    FnSpec {
        name: "nadam",
        aliases: &[],
        params: &[
            f!("learning_rate", Float(Some(0.001), POS)),
            f!("beta_1", Float(Some(0.9), FRACTION)),
            f!("beta_2", Float(Some(0.999), FRACTION)),
            f!("epsilon", Float(Some(1e-7), POS)),
            f!("weight_decay", Float(Some(0.0), NONNEG)),
            f!("clipnorm", OptFloat(POS)),
            f!("clipvalue", OptFloat(POS)),
        ],
    },
    FnSpec {
        name: "adamw",
        aliases: &[],
        params: &[
            f!("learning_rate", Float(Some(0.001), POS)),
            f!("weight_decay", Float(Some(0.004), NONNEG)),
            f!("beta_1", Float(Some(0.9), FRACTION)),
            f!("beta_2", Float(Some(0.999), FRACTION)),
            f!("epsilon", Float(Some(1e-7), POS)),
            f!("amsgrad", Bool(false)),
            f!("clipnorm", OptFloat(POS)),
            f!("clipvalue", OptFloat(POS)),
        ],
    },
];

/// Losses; the cross-entropies take Keras' `from_logits`.
pub static LOSSES: &[FnSpec] = &[
    FnSpec {
        name: "categorical_crossentropy",
        aliases: &[],
        params: &[
            f!("from_logits", Bool(false)),
            f!("label_smoothing", Float(Some(0.0), UNIT)),
        ],
    },
    FnSpec {
        name: "sparse_categorical_crossentropy",
        aliases: &[],
        params: &[f!("from_logits", Bool(false))],
    },
    FnSpec {
        name: "binary_crossentropy",
        aliases: &[],
        params: &[
            f!("from_logits", Bool(false)),
            f!("label_smoothing", Float(Some(0.0), UNIT)),
        ],
    },
    FnSpec {
        name: "mean_squared_error",
        aliases: &["mse"],
        params: &[],
    },
    FnSpec {
        name: "mean_absolute_error",
        aliases: &["mae"],
        params: &[],
    },
];

/// Metrics reported per epoch.
pub static METRICS: &[FnSpec] = &[
    FnSpec {
        name: "accuracy",
        aliases: &["acc", "categorical_accuracy", "sparse_categorical_accuracy"],
        params: &[],
    },
    FnSpec {
        name: "top_k_categorical_accuracy",
        aliases: &["top_k_accuracy"],
        params: &[f!("k", Int(Some(5), 1, 1000))],
    },
    FnSpec {
        name: "mean_squared_error",
        aliases: &["mse"],
        params: &[],
    },
    FnSpec {
        name: "mean_absolute_error",
        aliases: &["mae"],
        params: &[],
    },
];

const MONITORS: &[&str] = &["val_loss", "loss", "val_accuracy", "accuracy"];

/// Callbacks during training.
pub static CALLBACKS: &[FnSpec] = &[
    FnSpec {
        name: "early_stopping",
        aliases: &[],
        params: &[
            f!("monitor", Choice("val_loss", MONITORS)),
            f!("min_delta", Float(Some(0.0), NONNEG)),
            f!("patience", Int(Some(0), 0, 1_000_000)),
            f!("mode", Choice("auto", &["auto", "min", "max"])),
            f!("restore_best_weights", Bool(false)),
            f!("start_from_epoch", Int(Some(0), 0, 1_000_000)),
        ],
    },
    FnSpec {
        name: "terminate_on_nan",
        aliases: &[],
        params: &[],
    },
    FnSpec {
        name: "reduce_lr_on_plateau",
        aliases: &[],
        params: &[
            f!("monitor", Choice("val_loss", MONITORS)),
            // Keras refuses a factor of 1 or more: the rate must go down.
            f!(
                "factor",
                Float(Some(0.1), FloatRange::new(0.0, 1.0, true, true))
            ),
            f!("patience", Int(Some(10), 0, 1_000_000)),
            f!("mode", Choice("auto", &["auto", "min", "max"])),
            f!("min_delta", Float(Some(1e-4), NONNEG)),
            f!("cooldown", Int(Some(0), 0, 1_000_000)),
            f!("min_lr", Float(Some(0.0), NONNEG)),
        ],
    },
];

/// Data sets a `train` section can name.
pub static DATA: &[FnSpec] = &[FnSpec {
    name: "mnist",
    aliases: &[],
    params: &[],
}];

/// Preprocessing, applied to training and test data alike.
pub static PREPROCESS: &[FnSpec] = &[
    FnSpec {
        name: "rescale",
        aliases: &["rescaling"],
        params: &[
            f!("scale", Float(None, ANY)),
            f!("offset", Float(Some(0.0), ANY)),
        ],
    },
    FnSpec {
        name: "normalization",
        aliases: &[],
        params: &[f!("mean", OptFloat(ANY)), f!("variance", OptFloat(POS))],
    },
    FnSpec {
        name: "zero_padding2d",
        aliases: &[],
        params: &[f!("padding", Int(Some(1), 0, 4096))],
    },
    FnSpec {
        name: "resizing",
        aliases: &[],
        params: &[
            f!("height", Int(None, 1, 16384)),
            f!("width", Int(None, 1, 16384)),
        ],
    },
    FnSpec {
        name: "median_filter",
        aliases: &[],
        params: &[f!("kernel_size", Int(Some(3), 1, 99))],
    },
    FnSpec {
        name: "gaussian_blur",
        aliases: &[],
        params: &[f!("sigma", Float(Some(1.0), POS))],
    },
];

/// Augmentation, applied to training batches only.
pub static AUGMENT: &[FnSpec] = &[
    FnSpec {
        name: "random_translation",
        aliases: &[],
        // `width_factor` left out means the same as `height_factor`.
        params: &[
            f!("height_factor", Float(None, UNIT)),
            f!("width_factor", OptFloat(UNIT)),
        ],
    },
    FnSpec {
        name: "random_rotation",
        aliases: &[],
        params: &[f!("factor", Float(None, UNIT))],
    },
    FnSpec {
        name: "random_zoom",
        aliases: &[],
        params: &[
            f!("height_factor", Float(None, UNIT)),
            f!("width_factor", OptFloat(UNIT)),
        ],
    },
    FnSpec {
        name: "random_flip",
        aliases: &[],
        params: &[f!(
            "mode",
            Choice(
                "horizontal_and_vertical",
                &["horizontal", "vertical", "horizontal_and_vertical"]
            )
        )],
    },
    FnSpec {
        name: "gaussian_noise",
        aliases: &[],
        params: &[f!("stddev", Float(None, NONNEG))],
    },
];
