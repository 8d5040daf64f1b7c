//! The layers the language knows: their Keras names, their parameters, how their arguments
//! are read, and how each infers its output shape, parameters and MACs.

use super::args::{ArgReader, FloatRange, MAX_DIM};
use super::functions::{lookup, Resolved, ACTIVATIONS, INITIALIZERS, REGULARIZERS};
use crate::diagnostic::Code;
use crate::graph::{BatchNorm, Conv, Dense, DepthwiseConv, Op, Pool, PoolKind};
use crate::shape::{Padding, Shape, Window, WindowError};

/// A layer's name and how its arguments may be given.
pub struct LayerDef {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Parameters in Keras' order; `name` is accepted by every layer.
    pub params: &'static [&'static str],
    /// How many leading parameters may be given by position.
    pub positional: usize,
}

const CONV: &[&str] = &[
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "dilation_rate",
    "groups",
    "activation",
    "use_bias",
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "name",
];
const POOL: &[&str] = &["pool_size", "strides", "padding", "name"];
const NAME_ONLY: &[&str] = &["name"];

macro_rules! layer {
    ($name:literal, [$($alias:literal),*], $params:expr, $positional:literal) => {
        LayerDef { name: $name, aliases: &[$($alias),*], params: $params, positional: $positional }
    };
}

/// Every layer, in the order LANGUAGE.md lists them.
pub static LAYERS: &[LayerDef] = &[
    layer!("conv2d", ["convolution2d"], CONV, 2),
    layer!("conv1d", ["convolution1d"], CONV, 2),
    layer!(
        "depthwise_conv2d",
        [],
        &[
            "kernel_size",
            "strides",
            "padding",
            "depth_multiplier",
            "dilation_rate",
            "activation",
            "use_bias",
            "depthwise_initializer",
            "bias_initializer",
            "depthwise_regularizer",
            "bias_regularizer",
            "name",
        ],
        1
    ),
    layer!("max_pooling2d", ["max_pool2d"], POOL, 1),
    layer!("average_pooling2d", ["avg_pool2d"], POOL, 1),
    layer!("max_pooling1d", ["max_pool1d"], POOL, 1),
    layer!("average_pooling1d", ["avg_pool1d"], POOL, 1),
    layer!(
        "global_average_pooling2d",
        ["global_avg_pool2d"],
        NAME_ONLY,
        0
    ),
    layer!("global_max_pooling2d", ["global_max_pool2d"], NAME_ONLY, 0),
    layer!(
        "global_average_pooling1d",
        ["global_avg_pool1d"],
        NAME_ONLY,
        0
    ),
    layer!("global_max_pooling1d", ["global_max_pool1d"], NAME_ONLY, 0),
    layer!("zero_padding2d", [], &["padding", "name"], 1),
    layer!("flatten", [], NAME_ONLY, 0),
    layer!(
        "dense",
        [],
        &[
            "units",
            "activation",
            "use_bias",
            "kernel_initializer",
            "bias_initializer",
            "kernel_regularizer",
            "bias_regularizer",
            "name",
        ],
        1
    ),
    layer!("dropout", [], &["rate", "seed", "name"], 1),
    layer!(
        "batch_normalization",
        [],
        &[
            "momentum",
            "epsilon",
            "center",
            "scale",
            "beta_initializer",
            "gamma_initializer",
            "moving_mean_initializer",
            "moving_variance_initializer",
            "name",
        ],
        0
    ),
    layer!("activation", [], &["activation", "name"], 1),
    layer!(
        "prelu",
        [],
        &["alpha_initializer", "shared_axes", "name"],
        0
    ),
    layer!("gaussian_noise", [], &["stddev", "seed", "name"], 1),
];

/// Finds a layer by name or alias; activations (`relu()` …) are layers too.
pub fn find(name: &str) -> Option<LayerRef> {
    if let Some(def) = LAYERS
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
    {
        return Some(LayerRef::Layer(def));
    }
    lookup(ACTIVATIONS, name).map(LayerRef::Activation)
}

/// Every name a statement may use for a layer, for "did you mean".
pub fn all_names() -> impl Iterator<Item = &'static str> {
    LAYERS
        .iter()
        .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
        .chain(ACTIVATIONS.iter().map(|a| a.name))
        .chain(std::iter::once("input"))
}

/// A layer found by [`find`].
pub enum LayerRef {
    Layer(&'static LayerDef),
    Activation(&'static super::functions::FnSpec),
}

/// Reads a layer's arguments into its [`Op`]. `None` when an argument was wrong (the
/// reader holds the diagnostics).
pub fn build(def: &LayerDef, r: &mut ArgReader) -> Option<Op> {
    let op = match def.name {
        "conv2d" => Op::Conv(conv(r, 2)),
        "conv1d" => Op::Conv(conv(r, 1)),
        "depthwise_conv2d" => {
            let kernel_size = r.ints("kernel_size", 2, None, 1);
            Op::DepthwiseConv2d(DepthwiseConv {
                strides: r.ints("strides", 2, Some(1), 1),
                padding: r.padding(2),
                depth_multiplier: r.int("depth_multiplier", Some(1), 1, MAX_DIM),
                dilation_rate: r.ints("dilation_rate", 2, Some(1), 1),
                activation: activation(r, "activation")?,
                use_bias: r.boolean("use_bias", true),
                depthwise_initializer: initializer(r, "depthwise_initializer", "glorot_uniform")?,
                bias_initializer: initializer(r, "bias_initializer", "zeros")?,
                depthwise_regularizer: regularizer(r, "depthwise_regularizer"),
                bias_regularizer: regularizer(r, "bias_regularizer"),
                kernel_size,
            })
        }
        "max_pooling2d" => Op::Pool(pool(r, PoolKind::Max, 2)),
        "average_pooling2d" => Op::Pool(pool(r, PoolKind::Average, 2)),
        "max_pooling1d" => Op::Pool(pool(r, PoolKind::Max, 1)),
        "average_pooling1d" => Op::Pool(pool(r, PoolKind::Average, 1)),
        "global_average_pooling2d" => global(PoolKind::Average, 2),
        "global_max_pooling2d" => global(PoolKind::Max, 2),
        "global_average_pooling1d" => global(PoolKind::Average, 1),
        "global_max_pooling1d" => global(PoolKind::Max, 1),
        "zero_padding2d" => {
            let pads = match r.take("padding") {
                None => vec![(1, 1); 2],
                Some(value) => r.explicit_pads("padding", &value, 2)?,
            };
            Op::ZeroPadding2d {
                pads: [pads[0], pads[1]],
            }
        }
        "flatten" => Op::Flatten,
        "dense" => Op::Dense(Dense {
            units: r.int("units", None, 1, MAX_DIM),
            activation: activation(r, "activation")?,
            use_bias: r.boolean("use_bias", true),
            kernel_initializer: initializer(r, "kernel_initializer", "glorot_uniform")?,
            bias_initializer: initializer(r, "bias_initializer", "zeros")?,
            kernel_regularizer: regularizer(r, "kernel_regularizer"),
            bias_regularizer: regularizer(r, "bias_regularizer"),
        }),
        "dropout" => Op::Dropout {
            rate: r.float("rate", None, FloatRange::FRACTION),
            seed: r.opt_int("seed", 0, u32::MAX as u64),
        },
        "batch_normalization" => Op::BatchNormalization(BatchNorm {
            momentum: r.float("momentum", Some(0.99), FloatRange::UNIT),
            epsilon: r.float("epsilon", Some(1e-3), FloatRange::POSITIVE),
            center: r.boolean("center", true),
            scale: r.boolean("scale", true),
            beta_initializer: initializer(r, "beta_initializer", "zeros")?,
            gamma_initializer: initializer(r, "gamma_initializer", "ones")?,
            moving_mean_initializer: initializer(r, "moving_mean_initializer", "zeros")?,
            moving_variance_initializer: initializer(r, "moving_variance_initializer", "ones")?,
        }),
        "activation" => {
            if !r.has("activation") {
                r.missing("activation", "relu");
            }
            Op::Activation {
                activation: r.function("activation", ACTIVATIONS, None, "activation")?,
            }
        }
        "prelu" => Op::PRelu {
            alpha_initializer: initializer(r, "alpha_initializer", "zeros")?,
            shared_axes: r.axes("shared_axes"),
        },
        "gaussian_noise" => Op::GaussianNoise {
            stddev: r.float("stddev", None, FloatRange::NON_NEGATIVE),
            seed: r.opt_int("seed", 0, u32::MAX as u64),
        },
        _ => return None,
    };
    r.ok().then_some(op)
}

fn conv(r: &mut ArgReader, rank: usize) -> Conv {
    let filters = r.int("filters", None, 1, MAX_DIM);
    let kernel_size = r.ints("kernel_size", rank, None, 1);
    let fallback = |name| Resolved {
        name,
        args: Vec::new(),
        span: Default::default(),
    };
    Conv {
        rank,
        filters,
        kernel_size,
        strides: r.ints("strides", rank, Some(1), 1),
        padding: r.padding(rank),
        dilation_rate: r.ints("dilation_rate", rank, Some(1), 1),
        groups: r.int("groups", Some(1), 1, MAX_DIM),
        activation: activation(r, "activation").unwrap_or_else(|| fallback("linear")),
        use_bias: r.boolean("use_bias", true),
        kernel_initializer: initializer(r, "kernel_initializer", "glorot_uniform")
            .unwrap_or_else(|| fallback("glorot_uniform")),
        bias_initializer: initializer(r, "bias_initializer", "zeros")
            .unwrap_or_else(|| fallback("zeros")),
        kernel_regularizer: regularizer(r, "kernel_regularizer"),
        bias_regularizer: regularizer(r, "bias_regularizer"),
    }
}

fn pool(r: &mut ArgReader, kind: PoolKind, rank: usize) -> Pool {
    let pool_size = r.ints("pool_size", rank, Some(2), 1);
    // Keras: strides default to the pool size.
    let strides = if r.has("strides") {
        r.ints("strides", rank, None, 1)
    } else {
        pool_size.clone()
    };
    Pool {
        kind,
        rank,
        pool_size,
        strides,
        padding: r.padding(rank),
    }
}

fn global(kind: PoolKind, rank: usize) -> Op {
    Op::GlobalPool { kind, rank }
}

fn activation(r: &mut ArgReader, name: &str) -> Option<Resolved> {
    r.function(name, ACTIVATIONS, Some("linear"), "activation")
}

fn initializer(r: &mut ArgReader, name: &str, default: &str) -> Option<Resolved> {
    r.function(name, INITIALIZERS, Some(default), "initializer")
}

fn regularizer(r: &mut ArgReader, name: &str) -> Option<Resolved> {
    r.function(name, REGULARIZERS, None, "regularizer")
}

/// What a layer gives for one example.
#[derive(Debug, PartialEq)]
pub struct Inferred {
    pub shape: Shape,
    pub trainable: u64,
    pub non_trainable: u64,
    pub macs: u64,
}

/// Why a layer does not fit its input.
#[derive(Debug, PartialEq)]
pub struct ShapeError {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
}

fn shape_error(code: Code, message: String, help: Option<&str>) -> ShapeError {
    ShapeError {
        code,
        message,
        help: help.map(String::from),
    }
}

fn too_large(what: &str) -> ShapeError {
    shape_error(
        Code::TooLarge,
        format!("{what} is larger than this toolchain can hold"),
        Some("check the sizes of this layer and the ones before it"),
    )
}

/// `a * b * …` or an error naming `what`.
fn product(factors: &[u64], what: &str) -> Result<u64, ShapeError> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(f))
        .ok_or_else(|| too_large(what))
}

fn sum(terms: &[u64], what: &str) -> Result<u64, ShapeError> {
    terms
        .iter()
        .try_fold(0u64, |acc, &t| acc.checked_add(t))
        .ok_or_else(|| too_large(what))
}

fn same(input: &Shape) -> Result<Inferred, ShapeError> {
    Ok(Inferred {
        shape: input.clone(),
        trainable: 0,
        non_trainable: 0,
        macs: 0,
    })
}

/// Checks that a spatial layer gets an image (`rank` 2) or a sequence (`rank` 1).
fn expect_spatial(layer: &str, input: &Shape, rank: usize) -> Result<(), ShapeError> {
    if input.rank() == rank + 1 {
        return Ok(());
    }
    let wanted = if rank == 2 {
        "an image (height, width, channels)"
    } else {
        "a sequence (length, channels)"
    };
    let help = match (input.rank(), rank) {
        (1, _) => "spatial layers come before `flatten()`; move `flatten()` after this layer",
        (3, 1) => "use the 2-D layer for images (e.g. `conv2d`, `max_pooling2d`)",
        (2, 2) => "use the 1-D layer for sequences (e.g. `conv1d`, `max_pooling1d`)",
        _ => "check the model's `input(...)`",
    };
    Err(shape_error(
        Code::WrongRank,
        format!("{layer} expects {wanted}, but gets {input}"),
        Some(help),
    ))
}

/// Output lengths of a window layer along each spatial axis.
fn windows(
    layer: &str,
    input: &Shape,
    padding: &Padding,
    size: &[u64],
    strides: &[u64],
    dilation: &[u64],
) -> Result<Vec<u64>, ShapeError> {
    let spatial = input.spatial();
    let mut out = Vec::with_capacity(spatial.len());
    for axis in 0..spatial.len() {
        let window = Window {
            size: size[axis],
            stride: strides[axis],
            dilation: dilation[axis],
        };
        match padding.apply(axis, spatial[axis], window) {
            Ok(o) => out.push(o.length),
            Err(WindowError::TooLarge { .. }) => {
                let extent: Vec<String> = (0..spatial.len())
                    .map(|a| {
                        Window {
                            size: size[a],
                            stride: strides[a],
                            dilation: dilation[a],
                        }
                        .extent()
                        .map_or("?".into(), |e| e.to_string())
                    })
                    .collect();
                let dims: Vec<String> = spatial.iter().map(u64::to_string).collect();
                return Err(shape_error(
                    Code::EmptyOutput,
                    format!(
                        "{layer}'s window ({}) is larger than its input ({}), so nothing is left",
                        extent.join(", "),
                        dims.join(", ")
                    ),
                    Some(if *padding == Padding::Valid {
                        "use `padding: same`, a smaller window, or fewer pooling layers before this one"
                    } else {
                        "use a smaller window, or fewer pooling layers before this one"
                    }),
                ));
            }
            Err(WindowError::Overflow) => return Err(too_large("the window")),
        }
    }
    Ok(out)
}

impl Op {
    /// The output of this op for inputs of the given shapes (one per input; `add` and
    /// `concatenate` take several), with its parameters and MACs.
    pub fn infer(&self, layer: &str, inputs: &[&Shape]) -> Result<Inferred, ShapeError> {
        let input = inputs
            .first()
            .copied()
            .ok_or_else(|| shape_error(Code::Internal, format!("{layer} has no input"), None))?;
        match self {
            Op::Input => same(input),
            Op::Conv(c) => {
                expect_spatial(layer, input, c.rank)?;
                let channels = input.channels();
                if channels % c.groups != 0 || c.filters % c.groups != 0 {
                    return Err(shape_error(
                        Code::BadGroups,
                        format!(
                            "{layer} has groups: {} which must divide both its {} input channels and its {} filters",
                            c.groups, channels, c.filters
                        ),
                        Some("choose `groups` among the common divisors of the channels and the filters"),
                    ));
                }
                let spatial = windows(
                    layer,
                    input,
                    &c.padding,
                    &c.kernel_size,
                    &c.strides,
                    &c.dilation_rate,
                )?;
                let mut dims = spatial;
                dims.push(c.filters);
                let shape = Shape(dims);
                let per_output = product(&c.kernel_size, "the kernel")?
                    .checked_mul(channels / c.groups)
                    .ok_or_else(|| too_large("the kernel"))?;
                let kernel = product(&[per_output, c.filters], "the parameter count")?;
                let bias = if c.use_bias { c.filters } else { 0 };
                let elements = shape.elements().ok_or_else(|| too_large("the output"))?;
                Ok(Inferred {
                    trainable: sum(&[kernel, bias], "the parameter count")?,
                    non_trainable: 0,
                    macs: product(&[elements, per_output], "the MAC count")?,
                    shape,
                })
            }
            Op::DepthwiseConv2d(c) => {
                expect_spatial(layer, input, 2)?;
                let channels = input.channels();
                let mut dims = windows(
                    layer,
                    input,
                    &c.padding,
                    &c.kernel_size,
                    &c.strides,
                    &c.dilation_rate,
                )?;
                let out_channels = product(&[channels, c.depth_multiplier], "the channel count")?;
                dims.push(out_channels);
                let shape = Shape(dims);
                let taps = product(&c.kernel_size, "the kernel")?;
                let kernel = product(&[taps, out_channels], "the parameter count")?;
                let bias = if c.use_bias { out_channels } else { 0 };
                let elements = shape.elements().ok_or_else(|| too_large("the output"))?;
                Ok(Inferred {
                    trainable: sum(&[kernel, bias], "the parameter count")?,
                    non_trainable: 0,
                    macs: product(&[elements, taps], "the MAC count")?,
                    shape,
                })
            }
            Op::Pool(p) => {
                expect_spatial(layer, input, p.rank)?;
                let mut dims = windows(
                    layer,
                    input,
                    &p.padding,
                    &p.pool_size,
                    &p.strides,
                    &vec![1; p.rank],
                )?;
                dims.push(input.channels());
                Ok(Inferred {
                    shape: Shape(dims),
                    trainable: 0,
                    non_trainable: 0,
                    macs: 0,
                })
            }
            Op::GlobalPool { rank, .. } => {
                expect_spatial(layer, input, *rank)?;
                Ok(Inferred {
                    shape: Shape(vec![input.channels()]),
                    trainable: 0,
                    non_trainable: 0,
                    macs: 0,
                })
            }
            Op::ZeroPadding2d { pads } => {
                expect_spatial(layer, input, 2)?;
                let h = sum(&[input.0[0], pads[0].0, pads[0].1], "the padded height")?;
                let w = sum(&[input.0[1], pads[1].0, pads[1].1], "the padded width")?;
                Ok(Inferred {
                    shape: Shape(vec![h, w, input.0[2]]),
                    trainable: 0,
                    non_trainable: 0,
                    macs: 0,
                })
            }
            Op::Flatten => Ok(Inferred {
                shape: Shape(vec![input
                    .elements()
                    .ok_or_else(|| too_large("the flattened size"))?]),
                trainable: 0,
                non_trainable: 0,
                macs: 0,
            }),
            Op::Dense(d) => {
                if input.rank() != 1 {
                    return Err(shape_error(
                        Code::NeedsFlatInput,
                        format!("{layer} expects a flat input, but gets {input}"),
                        Some(if input.rank() > 1 {
                            "insert `flatten()` before this layer"
                        } else {
                            "check the model's `input(...)`"
                        }),
                    ));
                }
                let kernel = product(&[input.0[0], d.units], "the parameter count")?;
                let bias = if d.use_bias { d.units } else { 0 };
                Ok(Inferred {
                    shape: Shape(vec![d.units]),
                    trainable: sum(&[kernel, bias], "the parameter count")?,
                    non_trainable: 0,
                    macs: kernel,
                })
            }
            Op::Dropout { .. } | Op::Activation { .. } | Op::GaussianNoise { .. } => same(input),
            Op::BatchNormalization(b) => {
                let c = input.channels();
                let learned = u64::from(b.center) + u64::from(b.scale);
                Ok(Inferred {
                    shape: input.clone(),
                    trainable: product(&[c, learned], "the parameter count")?,
                    non_trainable: product(&[c, 2], "the parameter count")?,
                    macs: 0,
                })
            }
            Op::PRelu { shared_axes, .. } => {
                let mut alpha = input.0.clone();
                for &axis in shared_axes {
                    if axis == 0 || axis > alpha.len() {
                        return Err(shape_error(
                            Code::OutOfRange,
                            format!(
                                "{layer} shares axis {axis}, but its input {input} has axes 1 to {}",
                                alpha.len()
                            ),
                            Some("axes count from 1, as in Keras: (1, 2) shares the slope across height and width"),
                        ));
                    }
                    alpha[axis - 1] = 1;
                }
                Ok(Inferred {
                    shape: input.clone(),
                    trainable: product(&alpha, "the parameter count")?,
                    non_trainable: 0,
                    macs: 0,
                })
            }
            Op::Add => {
                if let Some(other) = inputs.iter().find(|s| **s != input) {
                    return Err(shape_error(
                        Code::AddShapeMismatch,
                        format!("the branches of `add` give different shapes: {input} and {other}"),
                        Some(if other.channels() != input.channels() {
                            "make the channels agree, e.g. with a `conv2d(filters, 1)` in the shortcut branch"
                        } else {
                            "make the spatial sizes agree, e.g. with the same strides in every branch"
                        }),
                    ));
                }
                same(input)
            }
            Op::Concatenate => {
                let mut channels = 0u64;
                for shape in inputs {
                    if shape.rank() != input.rank() || shape.spatial() != input.spatial() {
                        return Err(shape_error(
                            Code::ConcatShapeMismatch,
                            format!(
                                "the branches of `concatenate` must agree in all but the channels, but give {input} and {shape}"
                            ),
                            Some("use the same strides and `padding: same` in every branch"),
                        ));
                    }
                    channels = channels
                        .checked_add(shape.channels())
                        .ok_or_else(|| too_large("the channel count"))?;
                }
                let mut dims = input.spatial().to_vec();
                dims.push(channels);
                Ok(Inferred {
                    shape: Shape(dims),
                    trainable: 0,
                    non_trainable: 0,
                    macs: 0,
                })
            }
        }
    }
}
