//! Warnings for clear mistakes and hints that teach, run on checked graphs.
//!
//! Warnings (always shown): a kernel initialised to one constant, two linear layers in a
//! row, softmax before the end, a loss that does not fit the last activation, dropout
//! straight before batch normalisation. Hints (shown with `--hints`): deep stacks of
//! saturating activations, and initializers that do not suit their activation.

use super::train::TrainConfig;
use crate::diagnostic::{Code, Diagnostic};
use crate::graph::{Graph, Op};

/// Saturating activations in a row from which the hint fires.
const SATURATING_STACK: usize = 5;

pub fn lint_graph(graph: &Graph, diags: &mut Vec<Diagnostic>) {
    let consumers = graph.consumer_counts();
    for (index, node) in graph.nodes.iter().enumerate() {
        if let Some(init) = node.op.kernel_initializer() {
            if matches!(init.name, "zeros" | "ones" | "constant") {
                diags.push(
                    Diagnostic::warning(Code::ConstantInitializer, format!("`{}` initialises its kernel to one constant", node.name))
                        .with_label(init.span, format!("`{init}` gives every unit the same weights"))
                        .with_note("units that start equal get equal gradients and never become different")
                        .with_help("use a random initializer, e.g. `glorot_uniform` (the default) or `he_normal` before relu"),
                );
            }
        }
        if let Some(activation) = node.op.activation() {
            if activation.is("softmax") && index != graph.output.0 {
                diags.push(
                    Diagnostic::warning(Code::EarlySoftmax, format!("softmax in `{}`, which is not the last layer", node.name))
                        .with_label(activation.span, "softmax here")
                        .with_note("softmax turns scores into class probabilities; it belongs at the end of a classifier")
                        .with_help("use `relu` (or another activation) here, and softmax only in the last layer"),
                );
            }
        }
        let Some(&input) = node.inputs.first() else {
            continue;
        };
        let previous = graph.node(input);
        let single_consumer = consumers[input.0] == 1;
        let is_linear = |op: &Op| op.activation().is_some_and(|a| a.is("linear"));
        let same_kind = matches!(
            (&previous.op, &node.op),
            (Op::Dense(_), Op::Dense(_)) | (Op::Conv(_), Op::Conv(_))
        );
        if same_kind
            && is_linear(&previous.op)
            && single_consumer
            && !matches!(previous.op, Op::Activation { .. })
        {
            diags.push(
                Diagnostic::warning(Code::LinearStack, format!("`{}` and `{}` are linear layers in a row", previous.name, node.name))
                    .with_label(node.span, "this layer directly follows a layer without activation")
                    .with_secondary(previous.span, "no activation here")
                    .with_note("two linear maps in a row compose to one; the first layer adds parameters but no expressive power")
                    .with_help("give the first layer an activation, e.g. `activation: relu`"),
            );
        }
        if matches!(node.op, Op::BatchNormalization(_)) && matches!(previous.op, Op::Dropout { .. })
        {
            diags.push(
                Diagnostic::warning(Code::DropoutBeforeBatchNorm, format!("dropout `{}` straight before batch normalisation `{}`", previous.name, node.name))
                    .with_label(node.span, "batch normalisation here")
                    .with_secondary(previous.span, "dropout here")
                    .with_note("dropout changes the variance between training and inference, so the moving statistics batch normalisation learns are wrong at inference")
                    .with_help("put dropout after batch normalisation (and its activation)"),
            );
        }
    }
}

/// The loss must fit the output: cross-entropies expect probabilities unless `from_logits`.
pub fn lint_train(graph: &Graph, train: &TrainConfig, diags: &mut Vec<Diagnostic>) {
    let last = graph.node(graph.output);
    let activation = last.op.activation().map_or("linear", |a| a.name);
    let expected = match train.loss.name {
        "categorical_crossentropy" | "sparse_categorical_crossentropy"
            if !train.loss.flag("from_logits") =>
        {
            "softmax"
        }
        "binary_crossentropy" if !train.loss.flag("from_logits") => "sigmoid",
        _ => return,
    };
    if activation != expected {
        diags.push(
            Diagnostic::warning(Code::LossActivationMismatch, format!("{} expects {expected} outputs, but the last layer's activation is {activation}", train.loss.name))
                .with_label(train.loss.span, format!("expects {expected} probabilities"))
                .with_secondary(last.span, format!("the output's activation is {activation}"))
                .with_help(format!("end with `activation: {expected}`, or write `{}(from_logits: true)` if the model outputs scores", train.loss.name)),
        );
    }
}

/// Teaching hints, shown with `cnnc check --hints`.
pub fn hints(graph: &Graph, diags: &mut Vec<Diagnostic>) {
    let saturating: Vec<_> = graph
        .nodes
        .iter()
        .filter(|n| {
            n.op.activation()
                .is_some_and(|a| a.is("sigmoid") || a.is("tanh"))
        })
        .collect();
    if saturating.len() >= SATURATING_STACK {
        diags.push(
            Diagnostic::hint(Code::SaturatingStack, format!("model `{}` stacks {} sigmoid/tanh layers", graph.name, saturating.len()))
                .with_label(saturating[SATURATING_STACK - 1].span, "saturating activations this deep slow learning")
                .with_note("sigmoid and tanh flatten out for large inputs, so gradients shrink at every layer they pass")
                .with_help("use relu (or leaky_relu) in deep stacks, with `kernel_initializer: he_normal`"),
        );
    }
    let mismatched = |relu_like: bool| {
        graph.nodes.iter().filter(move |n| {
            let (Some(act), Some(init)) = (n.op.activation(), n.op.kernel_initializer()) else {
                return false;
            };
            let is_relu = matches!(act.name, "relu" | "leaky_relu" | "elu" | "gelu" | "swish");
            let is_saturating = matches!(act.name, "tanh" | "sigmoid");
            if relu_like {
                is_relu && init.name.starts_with("glorot")
            } else {
                is_saturating && init.name.starts_with("he_")
            }
        })
    };
    for (relu_like, kind, init, help) in [
        (
            true,
            "relu",
            "Glorot",
            "He initialisation suits ReLU: `kernel_initializer: he_normal`",
        ),
        (
            false,
            "tanh/sigmoid",
            "He",
            "Glorot initialisation suits tanh and sigmoid: `kernel_initializer: glorot_uniform`",
        ),
    ] {
        let nodes: Vec<_> = mismatched(relu_like).collect();
        if let Some(first) = nodes.first() {
            let layers = if nodes.len() == 1 { "layer" } else { "layers" };
            diags.push(
                Diagnostic::hint(
                    Code::InitializerActivation,
                    format!("model `{}` initialises {} {kind} {layers} with {init}", graph.name, nodes.len()),
                )
                    .with_label(first.span, format!("e.g. `{}`", first.name))
                    .with_note("initializers keep the variance of activations steady only for the activation they were derived for")
                    .with_help(help),
            );
        }
    }
}
