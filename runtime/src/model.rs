//! A dynamic network: layers in a `Vec`, each reading the outputs of earlier nodes, run
//! forward and backward in order. It covers sequences and the branches of `add` and
//! `concatenate`; a node whose output feeds several others gets the sum of their gradients,
//! added in node order.

use crate::kernels::{KernelError, Result};
use crate::layers::{Layer, Param};
use crate::Float;
use ndarray::ArrayD;

/// The index of a node; [`Model::INPUT`] is the model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(pub usize);

struct Node<T> {
    name: String,
    layer: Box<dyn Layer<T>>,
    inputs: Vec<NodeId>,
    /// The output shape of one example.
    shape: Vec<usize>,
}

/// A network built from layer values.
pub struct Model<T> {
    input_shape: Vec<usize>,
    nodes: Vec<Node<T>>,
    /// Every node's output from the last forward pass: index 0 is the input.
    activations: Vec<ArrayD<T>>,
}

impl<T: Float> Model<T> {
    /// The model's input, as a node other layers can read.
    pub const INPUT: NodeId = NodeId(0);

    /// An empty model whose examples have shape `input_shape` (no batch axis).
    pub fn new(input_shape: &[usize]) -> Self {
        Model {
            input_shape: input_shape.to_vec(),
            nodes: Vec::new(),
            activations: Vec::new(),
        }
    }

    /// The shape of one example at `node`.
    pub fn shape(&self, node: NodeId) -> &[usize] {
        if node.0 == 0 {
            &self.input_shape
        } else {
            &self.nodes[node.0 - 1].shape
        }
    }

    /// Adds `layer`, reading `inputs`; checks that the shapes fit.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        layer: impl Layer<T> + 'static,
        inputs: &[NodeId],
    ) -> Result<NodeId> {
        self.add_boxed(name, Box::new(layer), inputs)
    }

    /// [`Self::add`] for a layer whose type is chosen at run time.
    pub fn add_boxed(
        &mut self,
        name: impl Into<String>,
        layer: Box<dyn Layer<T>>,
        inputs: &[NodeId],
    ) -> Result<NodeId> {
        let next = self.nodes.len() + 1;
        if inputs.is_empty() || inputs.iter().any(|id| id.0 >= next) {
            return Err(KernelError::Geometry(format!(
                "layer inputs {inputs:?} must be earlier nodes"
            )));
        }
        let shapes: Vec<&[usize]> = inputs.iter().map(|id| self.shape(*id)).collect();
        let shape = layer.output_shape(&shapes)?;
        self.nodes.push(Node {
            name: name.into(),
            layer,
            inputs: inputs.to_vec(),
            shape,
        });
        Ok(NodeId(next))
    }

    /// Adds `layer` after the last node (or the input), as in a sequential model.
    pub fn push(
        &mut self,
        name: impl Into<String>,
        layer: impl Layer<T> + 'static,
    ) -> Result<NodeId> {
        let last = NodeId(self.nodes.len());
        self.add(name, layer, &[last])
    }

    /// The output of one example.
    pub fn output_shape(&self) -> &[usize] {
        self.shape(NodeId(self.nodes.len()))
    }

    /// Runs a batch (`N × input_shape`) through every layer and returns the last output.
    pub fn forward(&mut self, input: ArrayD<T>, training: bool) -> Result<&ArrayD<T>> {
        if &input.shape()[1..] != self.input_shape.as_slice() {
            return Err(KernelError::Shape {
                what: "model input",
                expected: self.input_shape.clone(),
                got: input.shape()[1..].to_vec(),
            });
        }
        self.activations.clear();
        self.activations.push(input);
        for node in &mut self.nodes {
            let inputs: Vec<&ArrayD<T>> = node
                .inputs
                .iter()
                .map(|id| &self.activations[id.0])
                .collect();
            let output = node.layer.forward(&inputs, training)?;
            self.activations.push(output);
        }
        Ok(self.activations.last().expect("the input is always there"))
    }

    /// Back-propagates `grad_output` (∂loss/∂last output) through the last forward pass,
    /// leaving each parameter's gradient in its [`Param::grad`]; returns ∂loss/∂input.
    pub fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>> {
        self.backward_from(grad_output, true)?
            .ok_or_else(|| KernelError::Geometry("the output does not depend on the input".into()))
    }

    /// [`Self::backward`] for training: the parameters' gradients only. Layers that read
    /// the model's input skip their input gradient, which for a first convolution is as
    /// much work as its forward pass.
    pub fn backward_params(&mut self, grad_output: ArrayD<T>) -> Result<()> {
        self.backward_from(grad_output, false).map(drop)
    }

    fn backward_from(
        &mut self,
        grad_output: ArrayD<T>,
        input_grad: bool,
    ) -> Result<Option<ArrayD<T>>> {
        if self.activations.len() != self.nodes.len() + 1 {
            return Err(KernelError::Geometry(
                "backward needs a forward pass first".into(),
            ));
        }
        let mut grads: Vec<Option<ArrayD<T>>> = (0..=self.nodes.len()).map(|_| None).collect();
        grads[self.nodes.len()] = Some(grad_output);
        for index in (0..self.nodes.len()).rev() {
            let Some(grad) = grads[index + 1].take() else {
                continue;
            };
            let node = &mut self.nodes[index];
            let inputs: Vec<&ArrayD<T>> = node
                .inputs
                .iter()
                .map(|id| &self.activations[id.0])
                .collect();
            let output = &self.activations[index + 1];
            if !input_grad && node.inputs.iter().all(|id| *id == Self::INPUT) {
                node.layer.backward_params_only(&inputs, output, &grad)?;
                continue;
            }
            let input_grads = node.layer.backward(&inputs, output, &grad)?;
            for (id, g) in node.inputs.iter().zip(input_grads) {
                match &mut grads[id.0] {
                    Some(sum) => *sum += &g,
                    slot => *slot = Some(g),
                }
            }
        }
        Ok(grads[0].take())
    }

    /// Sets the training step that random layers (dropout, noise) draw for next.
    pub fn set_step(&mut self, step: u64) {
        for node in &mut self.nodes {
            node.layer.set_step(step);
        }
    }

    /// The names of the layers, in model order.
    pub fn layer_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.name.as_str())
    }

    /// Every parameter, as `(layer name, parameter)`, in model order.
    pub fn params(&mut self) -> Vec<(&str, Param<'_, T>)> {
        self.nodes
            .iter_mut()
            .flat_map(|node| {
                let name = node.name.as_str();
                node.layer.params().into_iter().map(move |p| (name, p))
            })
            .collect()
    }
}
