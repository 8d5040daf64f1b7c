//! The IR both execution paths take: a checked model lowered to a flat list of nodes with
//! concrete shapes and parameter descriptors ([`lower`]), then rewritten by [`fuse`].
//!
//! Nodes keep the graph's numbering (node 0 is the input) and every node's inputs come
//! before it. A parameter descriptor says everything needed to create, initialise,
//! regularise and save a tensor: its name within the layer, its shape in Keras' layout
//! (conv kernels `(kh, kw, in, out)`, conv1d `(k, in, out)`, dense `(in, out)`), its
//! initializer and its regularizer.

use crate::check::functions::Resolved;
use crate::graph::{Graph, Op, PoolKind};
use crate::shape::Shape;
use crate::span::Span;
use serde::Serialize;

/// A model ready to run.
#[derive(Clone, Debug, Serialize)]
pub struct Ir {
    pub name: String,
    pub nodes: Vec<IrNode>,
    /// The node whose output is the model's.
    pub output: usize,
    /// What turns the last node's output into the model's predictions.
    pub head: Head,
}

/// The model's final step, kept apart so that a loss can fuse with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// The last node's output is the prediction.
    Identity,
    /// The last node gives logits and the prediction is their softmax; cross-entropy
    /// takes the logits directly (one fused kernel, exact gradient `p − y`).
    Softmax,
}

#[derive(Clone, Debug, Serialize)]
pub struct IrNode {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<usize>,
    /// One example's output shape.
    pub shape: Shape,
    pub params: Vec<ParamDesc>,
    /// For max pooling: a monotone activation moved here from the layer before, applied
    /// to the pooled values (a quarter of the work for 2×2 pools).
    pub pool_activation: Option<Resolved>,
    #[serde(skip)]
    pub span: Span,
}

/// One parameter tensor of a layer.
#[derive(Clone, Debug, Serialize)]
pub struct ParamDesc {
    /// `kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance` or `alpha`.
    pub name: &'static str,
    pub shape: Vec<u64>,
    pub initializer: Resolved,
    pub regularizer: Option<Resolved>,
    /// False for batch norm's moving statistics, which optimizers leave alone.
    pub trainable: bool,
}

impl Ir {
    pub fn input_shape(&self) -> &Shape {
        &self.nodes[0].shape
    }

    /// Every parameter, as `(layer name, descriptor)`, in model order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &ParamDesc)> {
        self.nodes
            .iter()
            .flat_map(|n| n.params.iter().map(move |p| (n.name.as_str(), p)))
    }
}

/// Lowers a checked model: parameter descriptors for every layer.
pub fn lower(graph: &Graph) -> Ir {
    let nodes = graph
        .nodes
        .iter()
        .map(|node| {
            let input_shape = node
                .inputs
                .first()
                .map(|id| graph.node(*id).shape.0.clone())
                .unwrap_or_default();
            IrNode {
                name: node.name.clone(),
                op: node.op.clone(),
                inputs: node.inputs.iter().map(|id| id.0).collect(),
                shape: node.shape.clone(),
                params: params(&node.op, &input_shape, &node.shape.0),
                pool_activation: None,
                span: node.span,
            }
        })
        .collect();
    Ir {
        name: graph.name.clone(),
        nodes,
        output: graph.output.0,
        head: Head::Identity,
    }
}

fn params(op: &Op, input: &[u64], output: &[u64]) -> Vec<ParamDesc> {
    let channels = input.last().copied().unwrap_or(0);
    let trainable =
        |name, shape, initializer: &Resolved, regularizer: &Option<Resolved>| ParamDesc {
            name,
            shape,
            initializer: initializer.clone(),
            regularizer: regularizer.clone(),
            trainable: true,
        };
    match op {
        Op::Conv(c) => {
            let mut shape = c.kernel_size.clone();
            shape.extend([channels / c.groups.max(1), c.filters]);
            let mut out = vec![trainable(
                "kernel",
                shape,
                &c.kernel_initializer,
                &c.kernel_regularizer,
            )];
            if c.use_bias {
                out.push(trainable(
                    "bias",
                    vec![c.filters],
                    &c.bias_initializer,
                    &c.bias_regularizer,
                ));
            }
            out
        }
        Op::DepthwiseConv2d(c) => {
            let mut shape = c.kernel_size.clone();
            shape.extend([channels, c.depth_multiplier]);
            let mut out = vec![trainable(
                "kernel",
                shape,
                &c.depthwise_initializer,
                &c.depthwise_regularizer,
            )];
            if c.use_bias {
                out.push(trainable(
                    "bias",
                    vec![channels * c.depth_multiplier],
                    &c.bias_initializer,
                    &c.bias_regularizer,
                ));
            }
            out
        }
        Op::Dense(d) => {
            let mut out = vec![trainable(
                "kernel",
                vec![channels, d.units],
                &d.kernel_initializer,
                &d.kernel_regularizer,
            )];
            if d.use_bias {
                out.push(trainable(
                    "bias",
                    vec![d.units],
                    &d.bias_initializer,
                    &d.bias_regularizer,
                ));
            }
            out
        }
        Op::BatchNormalization(b) => {
            let mut out = Vec::new();
            if b.scale {
                out.push(trainable(
                    "gamma",
                    vec![channels],
                    &b.gamma_initializer,
                    &None,
                ));
            }
            if b.center {
                out.push(trainable(
                    "beta",
                    vec![channels],
                    &b.beta_initializer,
                    &None,
                ));
            }
            for (name, initializer) in [
                ("moving_mean", &b.moving_mean_initializer),
                ("moving_variance", &b.moving_variance_initializer),
            ] {
                out.push(ParamDesc {
                    trainable: false,
                    ..trainable(name, vec![channels], initializer, &None)
                });
            }
            out
        }
        Op::PRelu {
            alpha_initializer,
            shared_axes,
        } => {
            let shape = output
                .iter()
                .enumerate()
                .map(|(i, &d)| if shared_axes.contains(&(i + 1)) { 1 } else { d })
                .collect();
            vec![trainable("alpha", shape, alpha_initializer, &None)]
        }
        _ => Vec::new(),
    }
}

/// Whether max pooling commutes with `activation` (it is non-decreasing) and its
/// derivative can be taken from its output.
fn commutes_with_max(activation: &Resolved) -> bool {
    match activation.name {
        "relu" | "sigmoid" | "tanh" | "selu" | "softplus" | "hard_sigmoid" => true,
        "leaky_relu" => activation.float("negative_slope").unwrap_or(0.0) >= 0.0,
        "elu" => activation.float("alpha").unwrap_or(0.0) >= 0.0,
        _ => false,
    }
}

/// Replaces `activation` with `linear`, returning it.
fn take_activation(activation: &mut Resolved) -> Resolved {
    let span = activation.span;
    std::mem::replace(activation, linear(span))
}

fn linear(span: Span) -> Resolved {
    Resolved {
        name: "linear",
        args: Vec::new(),
        span,
    }
}

/// Rewrites the IR for speed without changing what it computes:
///
/// - a softmax at the end becomes the [`Head::Softmax`], so cross-entropy fuses with it;
/// - a convolution or dense layer whose only consumer is a max pooling hands its monotone
///   activation to the pooling, which applies it to the pooled values: `max(f(x)) =
///   f(max(x))`, with a quarter of the evaluations for a 2×2 pool.
pub fn fuse(mut ir: Ir) -> Ir {
    let output = ir.output;
    let last = &mut ir.nodes[output];
    let softmax_out = match &mut last.op {
        Op::Conv(c) if c.activation.is("softmax") => Some(&mut c.activation),
        Op::DepthwiseConv2d(c) if c.activation.is("softmax") => Some(&mut c.activation),
        Op::Dense(d) if d.activation.is("softmax") => Some(&mut d.activation),
        Op::Activation { activation } if activation.is("softmax") => Some(activation),
        _ => None,
    };
    if let Some(activation) = softmax_out {
        *activation = linear(activation.span);
        ir.head = Head::Softmax;
    }

    let mut consumers = vec![0usize; ir.nodes.len()];
    for node in &ir.nodes {
        for &i in &node.inputs {
            consumers[i] += 1;
        }
    }
    consumers[output] += 1;
    for index in 0..ir.nodes.len() {
        let is_max_pool = matches!(&ir.nodes[index].op, Op::Pool(p) if p.kind == PoolKind::Max);
        let [source] = ir.nodes[index].inputs[..] else {
            continue;
        };
        if !is_max_pool || consumers[source] != 1 {
            continue;
        }
        let moved = match &mut ir.nodes[source].op {
            Op::Conv(c) if commutes_with_max(&c.activation) => {
                Some(take_activation(&mut c.activation))
            }
            Op::Dense(d) if commutes_with_max(&d.activation) => {
                Some(take_activation(&mut d.activation))
            }
            _ => None,
        };
        ir.nodes[index].pool_activation = moved;
    }
    ir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ir_of(source: &str) -> Ir {
        let compiled = crate::compile(source);
        let checked = compiled.checked.expect("the example checks");
        lower(&checked.models[0])
    }

    /// The descriptors hold exactly the parameters the summary counts, for every example.
    #[test]
    fn descriptors_account_for_every_parameter() {
        for source in [
            include_str!("../../examples/lenet5.cnn"),
            include_str!("../../examples/mnist_cnn.cnn"),
            include_str!("../../examples/resnet50.cnn"),
            include_str!("../../examples/googlenet.cnn"),
            include_str!("../../examples/alexnet.cnn"),
        ] {
            let compiled = crate::compile(source);
            let graph = &compiled.checked.unwrap().models[0];
            let ir = lower(graph);
            let count = |trainable: bool| -> u64 {
                ir.params()
                    .filter(|(_, p)| p.trainable == trainable)
                    .map(|(_, p)| p.shape.iter().product::<u64>())
                    .sum()
            };
            assert_eq!(count(true), graph.trainable_params(), "{}", graph.name);
            assert_eq!(count(false), graph.non_trainable_params(), "{}", graph.name);
        }
    }

    #[test]
    fn fusion_moves_softmax_to_the_head_and_activations_past_max_pooling() {
        let ir = fuse(ir_of(include_str!("../../examples/lenet5.cnn")));
        assert_eq!(ir.head, Head::Softmax);
        let names: Vec<(&str, Option<&str>, Option<&str>)> = ir
            .nodes
            .iter()
            .map(|n| {
                (
                    n.name.as_str(),
                    n.op.activation().map(|a| a.name),
                    n.pool_activation.as_ref().map(|a| a.name),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("input", None, None),
                ("conv2d_1", Some("linear"), None),
                ("max_pooling2d_1", None, Some("tanh")),
                ("conv2d_2", Some("linear"), None),
                ("max_pooling2d_2", None, Some("tanh")),
                ("flatten_1", None, None),
                ("dense_1", Some("tanh"), None),
                ("dense_2", Some("tanh"), None),
                ("dense_3", Some("linear"), None),
            ]
        );
    }

    /// A convolution whose output is also used elsewhere keeps its activation.
    #[test]
    fn fusion_leaves_shared_outputs_alone() {
        let ir = fuse(ir_of(
            "model M {\n input(8, 8, 2)\n conv2d(2, 1, activation: relu)\n add {\n  { max_pooling2d(1) }\n  { }\n }\n}\n",
        ));
        assert_eq!(ir.head, Head::Identity);
        assert_eq!(ir.nodes[1].op.activation().unwrap().name, "relu");
        assert!(ir.nodes.iter().all(|n| n.pool_activation.is_none()));
    }
}
