//! Expands a model's statements (blocks, `repeat`, branches) into a [`Graph`], inferring
//! every shape on the way and naming every layer.

use super::args::{bind, ArgReader, Signature, MAX_DIM};
use super::layers::{self, LayerRef};
use super::value::{eval, eval_args, Env, Value, ValueKind};
use crate::ast::{BlockDef, Branch, Call, Model, Stmt, StmtKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::graph::{Graph, Node, NodeId, Op};
use crate::shape::Shape;
use crate::span::Span;
use std::collections::{HashMap, HashSet};

/// More layers than any real network has; past it the checker stops expanding.
pub const MAX_LAYERS: usize = 100_000;
/// Statements expanded per model, so that `repeat 1000000 { repeat 1000000 { } }` ends fast.
const MAX_WORK: usize = 1_000_000;
/// How deeply blocks may use blocks.
const MAX_BLOCK_DEPTH: usize = 64;
/// The largest model the toolchain accepts: 10^12 parameters (4 TB of f32).
pub const MAX_PARAMS: u64 = 1_000_000_000_000;

/// Naming state for one level: the model, or one use of a block.
struct Scope {
    prefix: String,
    counters: HashMap<String, u32>,
}

pub(super) struct Expander<'a> {
    blocks: &'a HashMap<&'a str, &'a BlockDef>,
    /// Block uses already reported as recursive; expanding them would never end.
    recursive: &'a HashSet<Span>,
    nodes: Vec<Node>,
    diags: Vec<Diagnostic>,
    seen: HashSet<(Code, String, Option<Span>)>,
    scopes: Vec<Scope>,
    /// The blocks being expanded, innermost last, with the span of their use.
    uses: Vec<(&'a str, Span)>,
    names: HashMap<String, Span>,
    work: usize,
    stopped: bool,
}

impl<'a> Expander<'a> {
    pub fn new(blocks: &'a HashMap<&'a str, &'a BlockDef>, recursive: &'a HashSet<Span>) -> Self {
        Expander {
            blocks,
            recursive,
            nodes: Vec::new(),
            diags: Vec::new(),
            seen: HashSet::new(),
            scopes: vec![Scope {
                prefix: String::new(),
                counters: HashMap::new(),
            }],
            uses: Vec::new(),
            names: HashMap::new(),
            work: 0,
            stopped: false,
        }
    }

    /// Expands `model`; the graph is `None` when any error was found.
    pub fn model(mut self, model: &'a Model) -> (Option<Graph>, Vec<Diagnostic>) {
        let Some((first, rest)) = model.body.split_first() else {
            self.report(
                Diagnostic::error(
                    Code::BadInput,
                    format!("model `{}` is empty", model.name.name),
                )
                .with_label(model.name.span, "this model has no layers")
                .with_help("start it with its input, e.g. `input(28, 28, 1)`"),
            );
            return (None, self.diags);
        };
        let mut current = self.input(first);
        for stmt in rest {
            current = self.stmt(stmt, current, &Env::new());
            if self.stopped {
                break;
            }
        }
        let errors = self.diags.iter().any(Diagnostic::is_error);
        let graph = match current {
            Some(output) if !errors => self.finish(model, output),
            _ => None,
        };
        (graph, self.diags)
    }

    fn finish(&mut self, model: &Model, output: NodeId) -> Option<Graph> {
        let graph = Graph {
            name: model.name.name.clone(),
            span: model.span,
            nodes: std::mem::take(&mut self.nodes),
            output,
        };
        let total = graph.nodes.iter().try_fold(0u64, |acc, n| {
            acc.checked_add(n.trainable)?.checked_add(n.non_trainable)
        });
        match total {
            Some(total) if total <= MAX_PARAMS => Some(graph),
            _ => {
                self.report(
                    Diagnostic::error(
                        Code::TooLarge,
                        format!(
                            "model `{}` has more than {} parameters, more than this toolchain can hold",
                            model.name.name,
                            super::args::group_digits(MAX_PARAMS)
                        ),
                    )
                    .with_label(model.name.span, "this model is too large")
                    .with_help("check the sizes of its largest layers with `cnnc summary`"),
                );
                None
            }
        }
    }

    /// The model's first statement, which must be `input(...)`.
    fn input(&mut self, stmt: &Stmt) -> Option<NodeId> {
        let StmtKind::Call(call) = &stmt.kind else {
            self.missing_input(stmt.span);
            return None;
        };
        if call.name.name != "input" {
            self.missing_input(call.span);
            if let Some(arg) = call
                .args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == "input_shape"))
            {
                if let Some(d) = self.diags.last_mut() {
                    let shape =
                        eval(&arg.value, &Env::new()).map_or("28, 28, 1".to_string(), |v| {
                            v.to_string()
                                .trim_start_matches('(')
                                .trim_end_matches(')')
                                .to_string()
                        });
                    d.help = Some(format!(
                        "Keras' `input_shape` is the model's first statement here: write `input({shape})` before this layer and drop `input_shape`"
                    ));
                }
            }
            return None;
        }
        let args = self.eval_args(call, &Env::new())?;
        let mut dims = Vec::new();
        let mut ok = true;
        for (name, value) in &args {
            if let Some(name) = name {
                self.report(
                    Diagnostic::error(
                        Code::UnknownArgument,
                        format!("`input` takes sizes only, not `{}`", name.name),
                    )
                    .with_label(name.span, "write the sizes by position")
                    .with_help("e.g. `input(28, 28, 1)`"),
                );
                ok = false;
                continue;
            }
            match value.kind {
                ValueKind::Int(v) if v >= 1 && v <= MAX_DIM as i128 => dims.push(v as u64),
                _ => {
                    self.report(
                        Diagnostic::error(
                            Code::OutOfRange,
                            format!(
                                "input sizes must be integers from 1 to {}, but one is {value}",
                                super::args::group_digits(MAX_DIM)
                            ),
                        )
                        .with_label(value.span, "not a valid size"),
                    );
                    ok = false;
                }
            }
        }
        if ok && !(1..=3).contains(&dims.len()) {
            self.report(
                Diagnostic::error(
                    Code::BadInput,
                    format!("`input` takes 1 to 3 sizes, but {} were given", dims.len()),
                )
                .with_label(
                    call.span,
                    "expected (height, width, channels), (length, channels) or (features)",
                )
                .with_help("e.g. `input(28, 28, 1)` for MNIST images"),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let shape = Shape(dims);
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            name: "input".into(),
            op: Op::Input,
            inputs: Vec::new(),
            shape,
            trainable: 0,
            non_trainable: 0,
            macs: 0,
            span: call.span,
        });
        Some(id)
    }

    fn missing_input(&mut self, span: Span) {
        self.report(
            Diagnostic::error(Code::BadInput, "a model must start with `input(...)`")
                .with_label(span, "expected `input(...)` before this")
                .with_help("add the input's shape as the first statement, e.g. `input(28, 28, 1)`"),
        );
    }

    /// Records a diagnostic once, with the block uses that led to it.
    fn report(&mut self, mut diagnostic: Diagnostic) {
        let key = (
            diagnostic.code,
            diagnostic.message.clone(),
            diagnostic.primary_span(),
        );
        if !self.seen.insert(key) {
            return;
        }
        for (block, span) in self.uses.iter().rev().take(3) {
            diagnostic = diagnostic.with_secondary(*span, format!("in this use of `{block}`"));
        }
        self.diags.push(diagnostic);
    }

    fn eval_args(
        &mut self,
        call: &Call,
        env: &Env,
    ) -> Option<Vec<(Option<crate::ast::Ident>, Value)>> {
        match eval_args(&call.args, env) {
            Ok(args) => Some(args),
            Err(d) => {
                self.report(d);
                None
            }
        }
    }

    /// Expands one statement applied to `current`; `None` means the shape is unknown
    /// because of an earlier error (later layers are still checked for their arguments).
    fn stmt(&mut self, stmt: &'a Stmt, current: Option<NodeId>, env: &Env) -> Option<NodeId> {
        if !self.charge(stmt.span) {
            return None;
        }
        match &stmt.kind {
            StmtKind::Call(call) => self.call(call, current, env),
            StmtKind::Repeat { count, body } => {
                let times = match eval(count, env) {
                    Ok(Value {
                        kind: ValueKind::Int(n),
                        ..
                    }) if (0..=MAX_LAYERS as i128).contains(&n) => n as usize,
                    Ok(value) => {
                        self.report(
                            Diagnostic::error(
                                Code::OutOfRange,
                                format!(
                                    "`repeat` needs a count from 0 to {}, but got {value}",
                                    super::args::group_digits(MAX_LAYERS as u64)
                                ),
                            )
                            .with_label(count.span, "not a valid count"),
                        );
                        return None;
                    }
                    Err(d) => {
                        self.report(d);
                        return None;
                    }
                };
                let mut current = current;
                for _ in 0..times {
                    // Rounds cost work even when the body is empty.
                    if !self.charge(stmt.span) {
                        return None;
                    }
                    let errors_before = self.diags.len();
                    for inner in body {
                        current = self.stmt(inner, current, env);
                    }
                    // Another round adds nothing once something failed, or once the shape
                    // is unknown: it would re-check the same arguments (fuzzing found a
                    // 10^10-statement body that took seconds that way).
                    if self.stopped || self.diags.len() > errors_before || current.is_none() {
                        break;
                    }
                }
                current
            }
            StmtKind::Add { branches } => {
                self.branches(stmt, branches, Op::Add, "add", current, env)
            }
            StmtKind::Concatenate { branches } => {
                self.branches(stmt, branches, Op::Concatenate, "concatenate", current, env)
            }
        }
    }

    /// Counts one unit of expansion work; past the budget, reports once and stops.
    fn charge(&mut self, span: Span) -> bool {
        self.work += 1;
        if self.stopped {
            return false;
        }
        if self.work > MAX_WORK || self.nodes.len() > MAX_LAYERS {
            let message = if self.nodes.len() > MAX_LAYERS {
                format!(
                    "the model expands to more than {} layers",
                    super::args::group_digits(MAX_LAYERS as u64)
                )
            } else {
                format!(
                    "expanding the model takes more than {} steps",
                    super::args::group_digits(MAX_WORK as u64)
                )
            };
            self.report(
                Diagnostic::error(Code::TooManyLayers, message)
                    .with_label(span, "stopped expanding here")
                    .with_help("check the counts of `repeat`"),
            );
            self.stopped = true;
            return false;
        }
        true
    }

    fn branches(
        &mut self,
        stmt: &'a Stmt,
        branches: &'a [Branch],
        op: Op,
        keyword: &str,
        current: Option<NodeId>,
        env: &Env,
    ) -> Option<NodeId> {
        if branches.len() < 2 {
            self.report(
                Diagnostic::error(
                    Code::TooFewBranches,
                    format!("`{keyword}` needs at least two branches, but has {}", branches.len()),
                )
                .with_label(stmt.span, "too few branches")
                .with_help(format!("write each branch in braces: `{keyword} {{ {{ conv2d(16, 3, padding: same) }} {{ }} }}`, where `{{ }}` is the identity")),
            );
        }
        let mut outputs = Vec::with_capacity(branches.len());
        for branch in branches {
            let mut out = current;
            for inner in &branch.body {
                out = self.stmt(inner, out, env);
            }
            outputs.push(out);
        }
        let outputs: Vec<NodeId> = outputs.into_iter().collect::<Option<_>>()?;
        if outputs.len() < 2 {
            return None;
        }
        let name = self.next_name(keyword, None, stmt.span)?;
        let shapes: Vec<&Shape> = outputs.iter().map(|id| &self.nodes[id.0].shape).collect();
        match op.infer(keyword, &shapes) {
            Ok(inferred) => Some(self.push(name, op, outputs, inferred, stmt.span)),
            Err(error) => {
                let mut diagnostic = Diagnostic::error(error.code, error.message)
                    .with_label(stmt.span, format!("in this `{keyword}`"))
                    .with_help_opt(error.help);
                for (branch, id) in branches.iter().zip(&outputs) {
                    let shape = &self.nodes[id.0].shape;
                    let what = if branch.body.is_empty() {
                        "identity branch"
                    } else {
                        "branch"
                    };
                    diagnostic =
                        diagnostic.with_secondary(branch.span, format!("{what} gives {shape}"));
                }
                self.report(diagnostic);
                None
            }
        }
    }

    fn call(&mut self, call: &'a Call, current: Option<NodeId>, env: &Env) -> Option<NodeId> {
        let name = call.name.name.as_str();
        if name == "input" {
            self.report(
                Diagnostic::error(
                    Code::BadInput,
                    "`input(...)` can only be a model's first statement",
                )
                .with_label(call.span, "a second input")
                .with_help("a model has one input; remove this line"),
            );
            return None;
        }
        if let Some(layer) = layers::find(name) {
            return self.layer(call, layer, current, env);
        }
        if let Some(block) = self.blocks.get(name).copied() {
            return self.block(call, block, current, env);
        }
        let mut known: Vec<&str> = layers::all_names().collect();
        known.extend(self.blocks.keys().copied());
        let help = did_you_mean(name, known).unwrap_or_else(|| {
            "see LANGUAGE.md for the layers, or define a `block` with this name".to_string()
        });
        self.report(
            Diagnostic::error(
                Code::UnknownName,
                format!("unknown layer or block `{name}`"),
            )
            .with_label(call.name.span, "not a layer or a block")
            .with_help(help),
        );
        None
    }

    fn layer(
        &mut self,
        call: &'a Call,
        layer: LayerRef,
        current: Option<NodeId>,
        env: &Env,
    ) -> Option<NodeId> {
        let args = self.eval_args(call, env)?;
        let mut diags = Vec::new();
        let (base, op) = match layer {
            LayerRef::Layer(def) => {
                let signature = Signature {
                    callee: def.name,
                    params: def.params,
                    positional: def.positional,
                    aliases: &[],
                };
                let bound = bind(&signature, call.span, args, &mut diags);
                let mut reader = ArgReader::new(def.name, call.span, bound, diags);
                let explicit = reader.string("name");
                let op = layers::build(def, &mut reader);
                self.report_all(reader.finish());
                (def.name, op.map(|op| (op, explicit)))
            }
            LayerRef::Activation(spec) => {
                // `relu()`, `leaky_relu(0.2, name: "a")`: the activation's own arguments.
                let (own, named): (Vec<_>, Vec<_>) = args
                    .into_iter()
                    .partition(|(n, _)| n.as_ref().is_none_or(|n| n.name != "name"));
                let signature = Signature {
                    callee: spec.name,
                    params: &["name"],
                    positional: 0,
                    aliases: &[],
                };
                let bound = bind(&signature, call.span, named, &mut diags);
                let mut reader = ArgReader::new(spec.name, call.span, bound, diags);
                let explicit = reader.string("name");
                let value = Value {
                    kind: ValueKind::Call(call.name.clone(), own),
                    span: call.span,
                };
                let mut resolved =
                    super::functions::resolve(&value, super::functions::ACTIVATIONS, "activation");
                if let (Err(diags), "linear") = (&mut resolved, spec.name) {
                    // PyTorch users write `Linear(in, out)` for what Keras calls Dense.
                    for d in diags
                        .iter_mut()
                        .filter(|d| d.code == Code::TooManyArguments)
                    {
                        d.help = Some("`linear()` is the identity activation; a fully connected layer is `dense(units)`".into());
                    }
                }
                let ok = reader.ok();
                self.report_all(reader.finish());
                let op = match resolved {
                    Ok(activation) if ok => Some((Op::Activation { activation }, explicit)),
                    Ok(_) => None,
                    Err(d) => {
                        self.report_all(d);
                        None
                    }
                };
                (spec.name, op)
            }
        };
        let (op, explicit) = op?;
        let input = current?;
        let name = self.next_name(base, explicit, call.span)?;
        let input_shape = &self.nodes[input.0].shape;
        match op.infer(base, &[input_shape]) {
            Ok(inferred) => Some(self.push(name, op, vec![input], inferred, call.span)),
            Err(error) => {
                let diagnostic = Diagnostic::error(error.code, error.message)
                    .with_label(call.span, format!("input here is {input_shape}"))
                    .with_note(format!("shapes so far: {}", self.trace(input)))
                    .with_help_opt(error.help);
                self.report(diagnostic);
                None
            }
        }
    }

    fn report_all(&mut self, diags: Vec<Diagnostic>) {
        for d in diags {
            self.report(d);
        }
    }

    fn block(
        &mut self,
        call: &'a Call,
        block: &'a BlockDef,
        current: Option<NodeId>,
        env: &Env,
    ) -> Option<NodeId> {
        if self.recursive.contains(&call.span)
            || self.uses.iter().any(|(b, _)| *b == block.name.name)
        {
            return None;
        }
        if self.uses.len() >= MAX_BLOCK_DEPTH {
            self.report(
                Diagnostic::error(
                    Code::TooDeep,
                    format!("blocks are nested more than {MAX_BLOCK_DEPTH} deep"),
                )
                .with_label(call.span, "too deep"),
            );
            return None;
        }
        let args = self.eval_args(call, env)?;
        let params: Vec<&str> = block.params.iter().map(|p| p.name.name.as_str()).collect();
        let signature = Signature {
            callee: &block.name.name,
            params: &params,
            positional: params.len(),
            aliases: &[],
        };
        let mut diags = Vec::new();
        let bound = bind(&signature, call.span, args, &mut diags);
        let failed = diags.iter().any(Diagnostic::is_error);
        self.report_all(diags);
        let mut given: HashMap<&str, Value> = bound.values.into_iter().collect();
        let mut inner_env = Env::new();
        let mut ok = !failed;
        for param in &block.params {
            let name = param.name.name.as_str();
            let value = match (given.remove(name), &param.default) {
                (Some(value), _) => value,
                (None, Some(default)) => match eval(default, &inner_env) {
                    Ok(value) => value,
                    Err(d) => {
                        self.report(d);
                        ok = false;
                        continue;
                    }
                },
                (None, None) => {
                    self.report(
                        Diagnostic::error(
                            Code::MissingArgument,
                            format!("block `{}` needs an argument `{name}`", block.name.name),
                        )
                        .with_label(call.span, format!("`{name}` is missing"))
                        .with_secondary(param.name.span, "declared here without a default")
                        .with_help(format!("pass `{name}` by position or as `{name}: …`")),
                    );
                    ok = false;
                    continue;
                }
            };
            inner_env.insert(name.to_string(), value);
        }
        if !ok {
            return None;
        }
        let prefix = {
            let scope = self.scopes.last_mut()?;
            let n = scope.counters.entry(block.name.name.clone()).or_insert(0);
            *n += 1;
            format!("{}{}_{}/", scope.prefix, block.name.name, n)
        };
        self.scopes.push(Scope {
            prefix,
            counters: HashMap::new(),
        });
        self.uses.push((block.name.name.as_str(), call.span));
        let mut out = current;
        for stmt in &block.body {
            out = self.stmt(stmt, out, &inner_env);
            if self.stopped {
                break;
            }
        }
        self.uses.pop();
        self.scopes.pop();
        out
    }

    /// The next name for a layer of kind `base` in the current scope, or the explicit one.
    fn next_name(
        &mut self,
        base: &str,
        explicit: Option<(String, Span)>,
        span: Span,
    ) -> Option<String> {
        let scope = self.scopes.last_mut()?;
        let (name, name_span) = match explicit {
            Some((given, given_span)) => (format!("{}{given}", scope.prefix), given_span),
            None => {
                let n = scope.counters.entry(base.to_string()).or_insert(0);
                *n += 1;
                (format!("{}{base}_{n}", scope.prefix), span)
            }
        };
        if let Some(first) = self.names.get(&name).copied() {
            self.report(
                Diagnostic::error(
                    Code::DuplicateLayerName,
                    format!("two layers are named `{name}`"),
                )
                .with_label(name_span, "this name is taken")
                .with_secondary(first, "first used here")
                .with_help("layer names are used for weights and must be unique in a model"),
            );
            return None;
        }
        self.names.insert(name.clone(), name_span);
        Some(name)
    }

    fn push(
        &mut self,
        name: String,
        op: Op,
        inputs: Vec<NodeId>,
        inferred: layers::Inferred,
        span: Span,
    ) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            name,
            op,
            inputs,
            shape: inferred.shape,
            trainable: inferred.trainable,
            non_trainable: inferred.non_trainable,
            macs: inferred.macs,
            span,
        });
        id
    }

    /// "(32, 32, 1) → conv2d_1 (28, 28, 6) → …" along first inputs, ending at `id`.
    fn trace(&self, id: NodeId) -> String {
        let mut chain = vec![id];
        let mut at = id;
        while let Some(&previous) = self.nodes[at.0].inputs.first() {
            chain.push(previous);
            at = previous;
        }
        chain.reverse();
        let describe = |id: &NodeId| {
            let node = &self.nodes[id.0];
            if node.inputs.is_empty() {
                node.shape.to_string()
            } else {
                format!("{} {}", node.name, node.shape)
            }
        };
        const SHOWN: usize = 6;
        if chain.len() <= SHOWN + 1 {
            chain.iter().map(describe).collect::<Vec<_>>().join(" → ")
        } else {
            let tail: Vec<String> = chain[chain.len() - SHOWN..].iter().map(describe).collect();
            format!("{} → … → {}", describe(&chain[0]), tail.join(" → "))
        }
    }
}
