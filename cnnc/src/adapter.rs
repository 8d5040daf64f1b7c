//! Builds the runtime's model from a checked `.cnn` model, and the runtime's training
//! settings from a `train` section. This is the bridge between the two crates that know
//! nothing of each other; Rust programs can use it to load a `.cnn` file at run time.
//!
//! The model goes through the IR ([`cnn_dsl::ir::lower`], then [`cnn_dsl::ir::fuse`]), so it
//! runs the same fused layers as generated code.
//!
//! Loading a model file from Rust and running it:
//!
//! ```
//! let source = std::fs::read_to_string("../examples/lenet5.cnn").unwrap();
//! let compiled = cnn_dsl::compile(&source);
//! let checked = compiled.checked.expect("the example checks");
//! let graph = checked.model("LeNet5").unwrap();
//! let mut network = cnnc::adapter::build_network(graph, 42).unwrap();
//! // Two blank 32 × 32 images (LeNet-5's input after its train section's zero padding).
//! let images = ndarray::Array4::<f32>::zeros((2, 32, 32, 1));
//! let probabilities = network.predict(&images).unwrap();
//! assert_eq!(probabilities.dim(), (2, 10));
//! assert!((probabilities.row(0).sum() - 1.0).abs() < 1e-5);
//! ```

use cnn_dsl::check::functions::{Resolved, Scalar};
use cnn_dsl::check::train::{BatchSize, TrainConfig};
use cnn_dsl::graph::{Op, PoolKind};
use cnn_dsl::ir::{self, Head as IrHead, Ir, IrNode};
use cnn_dsl::shape::{Padding, Window};
use cnn_runtime::data::{Augmentation, Augmenter, Preprocess, Preprocessing};
use cnn_runtime::init::{tensor_rng, Initializer};
use cnn_runtime::kernels::activation::Activation;
use cnn_runtime::kernels::conv::Padding2d;
use cnn_runtime::kernels::KernelError;
use cnn_runtime::layers::{
    ActivationLayer, Add, BatchNorm, Concatenate, Conv2d, Conv2dConfig, Dense, Dropout, Flatten,
    GaussianNoise, GlobalPool, Layer, PRelu, Pool, PoolMode, Softmax, ZeroPadding2d,
};
use cnn_runtime::model::{Model, NodeId};
use cnn_runtime::optim::{OptimizerConfig, Rule};
use cnn_runtime::train::{EarlyStopping, Head, Loss, Network, Penalty, ReduceLrOnPlateau};
use ndarray::ArrayD;
use std::collections::HashMap;

/// Why a checked model could not be built (a gap between checker and runtime, never a
/// user's mistake: the checker has accepted the model).
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("layer `{layer}`")]
    Layer { layer: String, source: KernelError },
    #[error("layer `{layer}`: {message}")]
    Unsupported { layer: String, message: String },
}

/// Lowers and fuses `graph`, then builds the network with every parameter initialised
/// from `seed`.
pub fn build_network(graph: &cnn_dsl::graph::Graph, seed: u64) -> Result<Network, AdapterError> {
    let ir = ir::fuse(ir::lower(graph));
    build_from_ir(&ir, seed)
}

/// Builds a network from fused IR.
pub fn build_from_ir(ir: &Ir, seed: u64) -> Result<Network, AdapterError> {
    let input: Vec<usize> = ir.input_shape().0.iter().map(|&d| d as usize).collect();
    let mut model = Model::new(&input);
    for (index, node) in ir.nodes.iter().enumerate().skip(1) {
        let layer_error = |source| AdapterError::Layer {
            layer: node.name.clone(),
            source,
        };
        let shapes: Vec<Vec<usize>> = node
            .inputs
            .iter()
            .map(|&i| usize_shape(&ir.nodes[i].shape.0))
            .collect();
        let inputs: Vec<NodeId> = node.inputs.iter().map(|&i| NodeId(i)).collect();
        let layer = make_layer(node, &shapes, seed.wrapping_add(index as u64))?;
        let id = model
            .add_boxed(node.name.as_str(), layer, &inputs)
            .map_err(layer_error)?;
        debug_assert_eq!(id.0, index);
    }
    initialise(&mut model, ir, seed);
    let penalties = ir
        .params()
        .filter_map(|(layer, p)| {
            let r = p.regularizer.as_ref()?;
            Some(Penalty {
                layer: layer.to_string(),
                param: p.name,
                // `l1` has no `l2` factor and `l2` no `l1`: an absent one is zero.
                l1: r.float("l1").unwrap_or(0.0) as f32,
                l2: r.float("l2").unwrap_or(0.0) as f32,
            })
        })
        .collect();
    Ok(Network {
        model,
        head: match ir.head {
            IrHead::Softmax => Head::Softmax,
            IrHead::Identity => Head::Identity,
        },
        penalties,
    })
}

fn usize_shape(shape: &[u64]) -> Vec<usize> {
    shape.iter().map(|&d| d as usize).collect()
}

/// Boxes a layer of any type.
fn boxed<L: Layer<f32> + 'static>(layer: L) -> Box<dyn Layer<f32>> {
    Box::new(layer)
}

fn make_layer(
    node: &IrNode,
    inputs: &[Vec<usize>],
    seed: u64,
) -> Result<Box<dyn Layer<f32>>, AdapterError> {
    let err = |source| AdapterError::Layer {
        layer: node.name.clone(),
        source,
    };
    let unsupported = |message: &str| AdapterError::Unsupported {
        layer: node.name.clone(),
        message: message.to_string(),
    };
    let input = inputs.first().cloned().unwrap_or_default();
    let zeros = |name: &str| -> Option<ArrayD<f32>> {
        node.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| ArrayD::zeros(usize_shape(&p.shape)))
    };
    Ok(match &node.op {
        Op::Input => return Err(unsupported("a second input")),
        Op::Conv(c) => {
            let (kernel_hw, stride, dilation, padding) = window_2d(
                &input,
                &c.kernel_size,
                &c.strides,
                &c.dilation_rate,
                &c.padding,
            );
            let in_c = *input.last().unwrap_or(&1);
            let kernel = ArrayD::zeros(vec![
                kernel_hw[0],
                kernel_hw[1],
                in_c / c.groups as usize,
                c.filters as usize,
            ]);
            let config = Conv2dConfig {
                stride,
                dilation,
                padding,
                groups: c.groups as usize,
                activation: activation(&c.activation).map_err(|m| unsupported(&m))?,
            };
            boxed(Conv2d::new(&input, kernel, zeros("bias"), config).map_err(err)?)
        }
        Op::DepthwiseConv2d(c) => {
            let (kernel_hw, stride, dilation, padding) = window_2d(
                &input,
                &c.kernel_size,
                &c.strides,
                &c.dilation_rate,
                &c.padding,
            );
            let channels = *input.last().unwrap_or(&1);
            let kernel = ArrayD::zeros(vec![
                kernel_hw[0],
                kernel_hw[1],
                1,
                channels * c.depth_multiplier as usize,
            ]);
            let config = Conv2dConfig {
                stride,
                dilation,
                padding,
                groups: channels,
                activation: activation(&c.activation).map_err(|m| unsupported(&m))?,
            };
            boxed(Conv2d::new(&input, kernel, zeros("bias"), config).map_err(err)?)
        }
        Op::Pool(p) => {
            let ones = vec![1; p.pool_size.len()];
            let (size, stride, _, padding) =
                window_2d(&input, &p.pool_size, &p.strides, &ones, &p.padding);
            let mode = match p.kind {
                PoolKind::Max => PoolMode::Max,
                PoolKind::Average => PoolMode::Average {
                    count_padding: matches!(p.padding, Padding::Explicit(_)),
                },
            };
            let mut pool = Pool::new(&input, mode, size, stride, padding).map_err(err)?;
            if let Some(a) = &node.pool_activation {
                pool = pool
                    .with_activation(activation(a).map_err(|m| unsupported(&m))?)
                    .map_err(err)?;
            }
            boxed(pool)
        }
        Op::GlobalPool { kind, .. } => boxed(GlobalPool::new(*kind == PoolKind::Max)),
        Op::ZeroPadding2d { pads } => boxed(ZeroPadding2d {
            padding: Padding2d {
                top: pads[0].0 as usize,
                bottom: pads[0].1 as usize,
                left: pads[1].0 as usize,
                right: pads[1].1 as usize,
            },
        }),
        Op::Flatten => boxed(Flatten),
        Op::Dense(d) => {
            let kernel = zeros("kernel").unwrap_or_else(|| ArrayD::zeros(vec![0, 0]));
            boxed(
                Dense::new(
                    kernel,
                    zeros("bias"),
                    activation(&d.activation).map_err(|m| unsupported(&m))?,
                )
                .map_err(err)?,
            )
        }
        Op::Dropout { rate, seed: own } => boxed(Dropout::<f32>::new(*rate, own.unwrap_or(seed))),
        Op::BatchNormalization(b) => boxed(BatchNorm::<f32>::new(
            *input.last().unwrap_or(&1),
            b.epsilon as f32,
            b.momentum as f32,
            b.center,
            b.scale,
        )),
        Op::Activation { activation: a } if a.is("softmax") => boxed(Softmax),
        Op::Activation { activation: a } => boxed(ActivationLayer {
            activation: activation(a).map_err(|m| unsupported(&m))?,
        }),
        Op::PRelu { .. } => boxed(PRelu::new(
            zeros("alpha").unwrap_or_else(|| ArrayD::zeros(vec![1])),
        )),
        Op::GaussianNoise { stddev, seed: own } => {
            boxed(GaussianNoise::new(*stddev, own.unwrap_or(seed)))
        }
        Op::Add => boxed(Add),
        Op::Concatenate => boxed(Concatenate),
    })
}

/// A window's size, stride, dilation and padding in the runtime's 2-D terms; a 1-D window
/// runs on `1 × L` images.
fn window_2d(
    input: &[usize],
    size: &[u64],
    strides: &[u64],
    dilation: &[u64],
    padding: &Padding,
) -> ([usize; 2], [usize; 2], [usize; 2], Padding2d) {
    let spatial = &input[..input.len().saturating_sub(1)];
    let pads: Vec<(usize, usize)> = (0..size.len())
        .map(|axis| {
            let window = Window {
                size: size[axis],
                stride: strides[axis],
                dilation: dilation[axis],
            };
            padding
                .apply(axis, spatial.get(axis).copied().unwrap_or(1) as u64, window)
                .map(|o| (o.pad_before as usize, o.pad_after as usize))
                .unwrap_or((0, 0))
        })
        .collect();
    let u = |v: &[u64]| -> [usize; 2] {
        match *v {
            [a] => [1, a as usize],
            [a, b, ..] => [a as usize, b as usize],
            [] => [1, 1],
        }
    };
    let padding = match pads[..] {
        [(l, r)] => Padding2d {
            top: 0,
            bottom: 0,
            left: l,
            right: r,
        },
        [(t, b), (l, r), ..] => Padding2d {
            top: t,
            bottom: b,
            left: l,
            right: r,
        },
        [] => Padding2d::default(),
    };
    (u(size), u(strides), u(dilation), padding)
}

/// The runtime activation for a resolved one (softmax is a layer or the head, not here).
pub fn activation(a: &Resolved) -> Result<Activation, String> {
    Ok(match a.name {
        "linear" => Activation::Linear,
        "relu" => Activation::Relu,
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        "leaky_relu" => Activation::LeakyRelu(a.number("negative_slope")),
        "elu" => Activation::Elu(a.number("alpha")),
        "selu" => Activation::Selu,
        "gelu" => Activation::Gelu {
            approximate: a.flag("approximate"),
        },
        "swish" => Activation::Swish,
        "softplus" => Activation::Softplus,
        "hard_sigmoid" => Activation::HardSigmoid,
        other => {
            return Err(format!(
                "`{other}` inside a layer is only supported as the model's last activation"
            ))
        }
    })
}

/// The runtime initializer for a resolved one.
pub fn initializer(r: &Resolved) -> Initializer {
    let f = |name| r.number(name);
    match r.name {
        "glorot_uniform" => Initializer::GlorotUniform,
        "glorot_normal" => Initializer::GlorotNormal,
        "he_uniform" => Initializer::HeUniform,
        "he_normal" => Initializer::HeNormal,
        "lecun_uniform" => Initializer::LecunUniform,
        "lecun_normal" => Initializer::LecunNormal,
        "ones" => Initializer::Ones,
        "constant" => Initializer::Constant(f("value")),
        "random_uniform" => Initializer::RandomUniform {
            min: f("minval"),
            max: f("maxval"),
        },
        "random_normal" => Initializer::RandomNormal {
            mean: f("mean"),
            stddev: f("stddev"),
        },
        "truncated_normal" => Initializer::TruncatedNormal {
            mean: f("mean"),
            stddev: f("stddev"),
        },
        "orthogonal" => Initializer::Orthogonal { gain: f("gain") },
        _ => Initializer::Zeros,
    }
}

/// Fills every parameter from its descriptor. Tensor `i` of the model (in order) draws
/// from stream `i` of `seed`, or from its initializer's own `seed:` when it has one, so the
/// weights depend on the seed alone. Values are drawn in the descriptor's (Keras') shape,
/// whose fans Keras' rules use, then laid out as the runtime holds them.
fn initialise(model: &mut Model<f32>, ir: &Ir, seed: u64) {
    let descriptors: HashMap<(String, &str), &ir::ParamDesc> = ir
        .params()
        .map(|(layer, p)| ((layer.to_string(), p.name), p))
        .collect();
    for (index, (layer, param)) in model.params().into_iter().enumerate() {
        let Some(desc) = descriptors.get(&(layer.to_string(), param.name)) else {
            continue;
        };
        let mut rng = match desc.initializer.int("seed") {
            Some(own) => tensor_rng(own, 0),
            None => tensor_rng(seed, index as u64),
        };
        let shape = usize_shape(&desc.shape);
        let values: ArrayD<f32> = initializer(&desc.initializer).tensor(&shape, &mut rng);
        let values = values
            .into_shape_with_order(param.value.raw_dim())
            .expect("the descriptor and the layer hold the same number of values");
        param.value.assign(&values);
    }
}

/// The optimizer of a train section.
pub fn optimizer(r: &Resolved) -> OptimizerConfig {
    // Every number below is filled in by the checker, with the spec's default when the
    // file leaves it out (`cnn_dsl::check::functions::OPTIMIZERS`).
    let f = |name: &str| r.number(name);
    let rule = match r.name {
        "sgd" => Rule::Sgd {
            momentum: f("momentum"),
            nesterov: r.flag("nesterov"),
        },
        "adagrad" => Rule::Adagrad {
            initial_accumulator_value: f("initial_accumulator_value"),
            epsilon: f("epsilon"),
        },
        "adadelta" => Rule::Adadelta {
            rho: f("rho"),
            epsilon: f("epsilon"),
        },
        "rmsprop" => Rule::RmsProp {
            rho: f("rho"),
            momentum: f("momentum"),
            epsilon: f("epsilon"),
            centered: r.flag("centered"),
        },
        "adamax" => Rule::Adamax {
            beta_1: f("beta_1"),
            beta_2: f("beta_2"),
            epsilon: f("epsilon"),
        },
        "nadam" => Rule::Nadam {
            beta_1: f("beta_1"),
            beta_2: f("beta_2"),
            epsilon: f("epsilon"),
        },
        _ => Rule::Adam {
            beta_1: f("beta_1"),
            beta_2: f("beta_2"),
            epsilon: f("epsilon"),
            amsgrad: r.flag("amsgrad"),
        },
    };
    OptimizerConfig {
        rule,
        learning_rate: f("learning_rate"),
        weight_decay: f("weight_decay"),
        clipnorm: r.float("clipnorm"),
        clipvalue: r.float("clipvalue"),
    }
}

/// The loss of a train section.
pub fn loss(r: &Resolved) -> Loss {
    // Only some losses take `label_smoothing`; without it there is none.
    let smoothing = r.float("label_smoothing").unwrap_or(0.0);
    let from_logits = r.flag("from_logits");
    match r.name {
        "categorical_crossentropy" => Loss::CategoricalCrossentropy {
            from_logits,
            label_smoothing: smoothing,
        },
        "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy { from_logits },
        "binary_crossentropy" => Loss::BinaryCrossentropy {
            from_logits,
            label_smoothing: smoothing,
        },
        "mean_absolute_error" => Loss::MeanAbsoluteError,
        _ => Loss::MeanSquaredError,
    }
}

/// The preprocessing of a train section.
pub fn preprocessing(config: &TrainConfig) -> Preprocessing {
    Preprocessing::new(
        config
            .preprocess
            .iter()
            .map(|step| match step.name {
                "rescale" => Preprocess::Rescale {
                    scale: step.number("scale"),
                    offset: step.number("offset"),
                },
                "normalization" => Preprocess::Normalization {
                    mean: step.float("mean"),
                    variance: step.float("variance"),
                },
                "zero_padding2d" => Preprocess::ZeroPadding(step.count("padding") as usize),
                "resizing" => Preprocess::Resizing {
                    height: step.count("height") as usize,
                    width: step.count("width") as usize,
                },
                "median_filter" => Preprocess::MedianFilter(step.count("kernel_size") as usize),
                _ => Preprocess::GaussianBlur(step.number("sigma")),
            })
            .collect(),
    )
}

/// The augmentation of a train section, seeded by `seed`.
pub fn augmenter(config: &TrainConfig, seed: u64) -> Augmenter {
    let steps = config
        .augment
        .iter()
        .map(|step| {
            // Keras: the width factor, when not given, is the height factor.
            let pair = |h: &str, w: &str| {
                let height = step.number(h);
                (height, step.float(w).unwrap_or(height))
            };
            match step.name {
                "random_translation" => {
                    let (height, width) = pair("height_factor", "width_factor");
                    Augmentation::Translation { height, width }
                }
                "random_rotation" => Augmentation::Rotation(step.number("factor")),
                "random_zoom" => {
                    let (height, width) = pair("height_factor", "width_factor");
                    Augmentation::Zoom { height, width }
                }
                "random_flip" => {
                    let mode = match step.arg("mode") {
                        Some(cnn_dsl::check::functions::Scalar::Name(m)) => *m,
                        _ => "horizontal_and_vertical",
                    };
                    Augmentation::Flip {
                        horizontal: mode != "vertical",
                        vertical: mode != "horizontal",
                    }
                }
                _ => Augmentation::GaussianNoise(step.number("stddev")),
            }
        })
        .collect();
    Augmenter::new(steps, seed)
}

/// The figure a callback watches and whether larger is better (Keras' `mode: auto` looks
/// for "acc" in the name).
fn monitor(callback: &Resolved) -> (String, bool) {
    let monitor = match callback.arg("monitor") {
        Some(Scalar::Name(m)) => m.to_string(),
        _ => "val_loss".to_string(),
    };
    let maximize = match callback.arg("mode") {
        Some(Scalar::Name("max")) => true,
        Some(Scalar::Name("min")) => false,
        _ => monitor.contains("acc"),
    };
    (monitor, maximize)
}

/// Early stopping, if the section asks for it.
pub fn early_stopping(config: &TrainConfig) -> Option<EarlyStopping> {
    let r = config.callbacks.iter().find(|c| c.is("early_stopping"))?;
    let (monitor, maximize) = monitor(r);
    Some(EarlyStopping {
        monitor,
        min_delta: r.number("min_delta"),
        patience: r.count("patience"),
        maximize,
        restore_best_weights: r.flag("restore_best_weights"),
        start_from_epoch: r.count("start_from_epoch"),
    })
}

/// Learning-rate reduction on a plateau, if the section asks for it.
pub fn reduce_lr(config: &TrainConfig) -> Option<ReduceLrOnPlateau> {
    let r = config
        .callbacks
        .iter()
        .find(|c| c.is("reduce_lr_on_plateau"))?;
    let (monitor, maximize) = monitor(r);
    Some(ReduceLrOnPlateau {
        monitor,
        factor: r.number("factor"),
        patience: r.count("patience"),
        maximize,
        min_delta: r.number("min_delta"),
        cooldown: r.count("cooldown"),
        min_lr: r.number("min_lr"),
    })
}

/// Examples per step (`None`: the whole training set).
pub fn batch_size(config: &TrainConfig) -> Option<usize> {
    match config.batch_size {
        BatchSize::Full => None,
        BatchSize::Size(n) => Some(n as usize),
    }
}
