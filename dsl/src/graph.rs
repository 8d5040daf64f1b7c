//! A checked model: a graph of layers with concrete shapes, parameter counts and MACs.
//!
//! Nodes live in a `Vec` in model order (every node's inputs come before it) and are
//! addressed by [`NodeId`]. Layers are a closed enum, [`Op`], because the language owns all
//! of them; each op infers its own output shape in `check::layers`.

use crate::check::functions::Resolved;
use crate::shape::{Padding, Shape};
use crate::span::Span;
use serde::Serialize;

/// The index of a node in [`Graph::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeId(pub usize);

/// One checked model.
#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    pub nodes: Vec<Node>,
    /// The node whose output is the model's output (the last statement's).
    pub output: NodeId,
}

/// One layer (or the input) with everything the checker learned about it.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// A stable name: `conv2d_1`, `basic_2/conv2d_1`, or the `name:` given.
    pub name: String,
    pub op: Op,
    pub inputs: Vec<NodeId>,
    /// The output shape for one example (no batch axis).
    pub shape: Shape,
    pub trainable: u64,
    pub non_trainable: u64,
    /// Multiply-accumulates for one example.
    pub macs: u64,
    /// The statement this node came from.
    #[serde(skip)]
    pub span: Span,
}

impl Graph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    pub fn input_shape(&self) -> &Shape {
        &self.nodes[0].shape
    }

    pub fn output_shape(&self) -> &Shape {
        &self.node(self.output).shape
    }

    pub fn trainable_params(&self) -> u64 {
        self.nodes.iter().map(|n| n.trainable).sum()
    }

    pub fn non_trainable_params(&self) -> u64 {
        self.nodes.iter().map(|n| n.non_trainable).sum()
    }

    pub fn total_params(&self) -> u64 {
        self.trainable_params() + self.non_trainable_params()
    }

    pub fn total_macs(&self) -> u64 {
        self.nodes.iter().map(|n| n.macs).sum()
    }

    /// Elements of every tensor the forward pass makes for one example, input included.
    pub fn activation_elements(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.shape.elements().unwrap_or(u64::MAX))
            .fold(0u64, u64::saturating_add)
    }

    /// How many nodes take each node as an input, indexed like `nodes`.
    pub fn consumer_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.nodes.len()];
        for node in &self.nodes {
            for input in &node.inputs {
                counts[input.0] += 1;
            }
        }
        counts
    }
}

/// Max or average.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolKind {
    Max,
    Average,
}

/// A layer and its resolved configuration (every default filled in).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    Input,
    /// `conv1d` (rank 1) and `conv2d` (rank 2).
    Conv(Conv),
    DepthwiseConv2d(DepthwiseConv),
    Pool(Pool),
    GlobalPool {
        kind: PoolKind,
        rank: usize,
    },
    ZeroPadding2d {
        pads: [(u64, u64); 2],
    },
    Flatten,
    Dense(Dense),
    Dropout {
        rate: f64,
        seed: Option<u64>,
    },
    BatchNormalization(BatchNorm),
    /// `activation(f)` and the activation layers (`relu()`, `leaky_relu(0.2)` …).
    Activation {
        activation: Resolved,
    },
    /// PReLU: a learned slope per element, shared along `shared_axes` (1-based, as Keras).
    PRelu {
        alpha_initializer: Resolved,
        shared_axes: Vec<usize>,
    },
    GaussianNoise {
        stddev: f64,
        seed: Option<u64>,
    },
    Add,
    Concatenate,
}

#[derive(Clone, Debug, Serialize)]
pub struct Conv {
    pub rank: usize,
    pub filters: u64,
    pub kernel_size: Vec<u64>,
    pub strides: Vec<u64>,
    pub padding: Padding,
    pub dilation_rate: Vec<u64>,
    pub groups: u64,
    pub activation: Resolved,
    pub use_bias: bool,
    pub kernel_initializer: Resolved,
    pub bias_initializer: Resolved,
    pub kernel_regularizer: Option<Resolved>,
    pub bias_regularizer: Option<Resolved>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DepthwiseConv {
    pub kernel_size: Vec<u64>,
    pub strides: Vec<u64>,
    pub padding: Padding,
    pub dilation_rate: Vec<u64>,
    pub depth_multiplier: u64,
    pub activation: Resolved,
    pub use_bias: bool,
    pub depthwise_initializer: Resolved,
    pub bias_initializer: Resolved,
    pub depthwise_regularizer: Option<Resolved>,
    pub bias_regularizer: Option<Resolved>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Pool {
    pub kind: PoolKind,
    pub rank: usize,
    pub pool_size: Vec<u64>,
    pub strides: Vec<u64>,
    pub padding: Padding,
}

#[derive(Clone, Debug, Serialize)]
pub struct Dense {
    pub units: u64,
    pub activation: Resolved,
    pub use_bias: bool,
    pub kernel_initializer: Resolved,
    pub bias_initializer: Resolved,
    pub kernel_regularizer: Option<Resolved>,
    pub bias_regularizer: Option<Resolved>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BatchNorm {
    pub momentum: f64,
    pub epsilon: f64,
    pub center: bool,
    pub scale: bool,
    pub beta_initializer: Resolved,
    pub gamma_initializer: Resolved,
    pub moving_mean_initializer: Resolved,
    pub moving_variance_initializer: Resolved,
}

impl Op {
    /// The Keras class this layer corresponds to, as `model.summary()` shows it.
    pub fn keras_class(&self) -> &'static str {
        match self {
            Op::Input => "InputLayer",
            Op::Conv(c) if c.rank == 1 => "Conv1D",
            Op::Conv(_) => "Conv2D",
            Op::DepthwiseConv2d(_) => "DepthwiseConv2D",
            Op::Pool(p) => match (p.kind, p.rank) {
                (PoolKind::Max, 1) => "MaxPooling1D",
                (PoolKind::Max, _) => "MaxPooling2D",
                (PoolKind::Average, 1) => "AveragePooling1D",
                (PoolKind::Average, _) => "AveragePooling2D",
            },
            Op::GlobalPool { kind, rank } => match (kind, rank) {
                (PoolKind::Max, 1) => "GlobalMaxPooling1D",
                (PoolKind::Max, _) => "GlobalMaxPooling2D",
                (PoolKind::Average, 1) => "GlobalAveragePooling1D",
                (PoolKind::Average, _) => "GlobalAveragePooling2D",
            },
            Op::ZeroPadding2d { .. } => "ZeroPadding2D",
            Op::Flatten => "Flatten",
            Op::Dense(_) => "Dense",
            Op::Dropout { .. } => "Dropout",
            Op::BatchNormalization(_) => "BatchNormalization",
            Op::Activation { activation } => match activation.name {
                "relu" => "ReLU",
                "leaky_relu" => "LeakyReLU",
                "elu" => "ELU",
                "softmax" => "Softmax",
                _ => "Activation",
            },
            Op::PRelu { .. } => "PReLU",
            Op::GaussianNoise { .. } => "GaussianNoise",
            Op::Add => "Add",
            Op::Concatenate => "Concatenate",
        }
    }

    /// The activation a layer applies to its output, if it is one that has one.
    pub fn activation(&self) -> Option<&Resolved> {
        match self {
            Op::Conv(c) => Some(&c.activation),
            Op::DepthwiseConv2d(c) => Some(&c.activation),
            Op::Dense(d) => Some(&d.activation),
            Op::Activation { activation } => Some(activation),
            _ => None,
        }
    }

    /// The kernel initializer of a layer with a kernel.
    pub fn kernel_initializer(&self) -> Option<&Resolved> {
        match self {
            Op::Conv(c) => Some(&c.kernel_initializer),
            Op::DepthwiseConv2d(c) => Some(&c.depthwise_initializer),
            Op::Dense(d) => Some(&d.kernel_initializer),
            _ => None,
        }
    }
}
