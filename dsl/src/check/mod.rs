//! The checker: from an AST to checked models and train sections.
//!
//! It collects every definition, rejects blocks that use themselves, expands each model
//! into a [`Graph`] (shapes, names, parameters, MACs), checks each `train` section against
//! its model, and runs the lints. Every error is collected, not only the first.

mod args;
mod expand;
pub mod functions;
mod layers;
mod lints;
pub mod train;
mod value;

pub use args::group_digits;
pub use expand::{MAX_LAYERS, MAX_PARAMS};
pub use train::{BatchSize, DataSource, TrainConfig};

use crate::ast::{BlockDef, File, Item, Model, Stmt, StmtKind, Train};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::graph::Graph;
use crate::span::Span;
use std::collections::{HashMap, HashSet};

/// Everything in a file that checked: its models and its train sections.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Checked {
    pub models: Vec<Graph>,
    pub trains: Vec<TrainConfig>,
}

impl Checked {
    pub fn model(&self, name: &str) -> Option<&Graph> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn train_for(&self, model: &str) -> Option<&TrainConfig> {
        self.trains.iter().find(|t| t.model == model)
    }
}

/// Checks a parsed file. The returned [`Checked`] holds what checked cleanly; the
/// diagnostics hold every error, warning and hint.
pub fn check(file: &File) -> (Checked, Diagnostics) {
    let mut diags = Vec::new();
    let mut blocks: HashMap<&str, &BlockDef> = HashMap::new();
    let mut models: Vec<&Model> = Vec::new();
    let mut trains: Vec<&Train> = Vec::new();
    let mut defined: HashMap<&str, Span> = HashMap::new();
    for item in &file.items {
        let name = match item {
            Item::Model(m) => &m.name,
            Item::Block(b) => &b.name,
            Item::Train(t) => {
                trains.push(t);
                continue;
            }
        };
        if let Some(first) = defined.get(name.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateDefinition,
                    format!("`{}` is defined twice", name.name),
                )
                .with_label(name.span, "defined again here")
                .with_secondary(*first, "first defined here")
                .with_help("rename one of them"),
            );
            continue;
        }
        defined.insert(&name.name, name.span);
        match item {
            Item::Model(m) => models.push(m),
            Item::Block(b) => {
                if layers::find(&b.name.name).is_some() || b.name.name == "input" {
                    diags.push(
                        Diagnostic::error(
                            Code::DuplicateDefinition,
                            format!("block `{}` has the name of a layer", b.name.name),
                        )
                        .with_label(b.name.span, "this name is taken by a layer")
                        .with_help(format!("rename the block, e.g. `my_{}`", b.name.name)),
                    );
                    continue;
                }
                blocks.insert(&b.name.name, b);
            }
            Item::Train(_) => {}
        }
    }
    let recursive = find_recursion(&blocks, &mut diags);
    let mut checked = Checked::default();
    for model in &models {
        let (graph, model_diags) = expand::Expander::new(&blocks, &recursive).model(model);
        diags.extend(model_diags);
        if let Some(graph) = graph {
            lints::lint_graph(&graph, &mut diags);
            lints::hints(&graph, &mut diags);
            checked.models.push(graph);
        }
    }
    let mut trained: HashMap<&str, Span> = HashMap::new();
    for train in trains {
        let name = train.model.name.as_str();
        if !models.iter().any(|m| m.name.name == name) {
            let known = models.iter().map(|m| m.name.name.as_str());
            diags.push(
                Diagnostic::error(
                    Code::UnknownModel,
                    format!("`train` names model `{name}`, which is not defined"),
                )
                .with_label(train.model.span, "no model of this name")
                .with_help_opt(crate::diagnostic::did_you_mean(name, known)),
            );
            continue;
        }
        if let Some(first) = trained.insert(name, train.model.span) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateSetting,
                    format!("model `{name}` has two train sections"),
                )
                .with_label(train.model.span, "second train section")
                .with_secondary(first, "first train section"),
            );
            continue;
        }
        let graph = checked.model(name);
        if let Some(config) = train::check_train(train, graph, &mut diags) {
            if let Some(graph) = graph {
                lints::lint_train(graph, &config, &mut diags);
            }
            checked.trains.push(config);
        }
    }
    (checked, Diagnostics(diags))
}

/// Reports every block use that closes a cycle (`a` uses `b` uses `a`) and returns the
/// spans of those uses, which expansion then skips.
fn find_recursion(blocks: &HashMap<&str, &BlockDef>, diags: &mut Vec<Diagnostic>) -> HashSet<Span> {
    fn uses<'a>(body: &'a [Stmt], out: &mut Vec<(&'a str, Span)>) {
        for stmt in body {
            match &stmt.kind {
                StmtKind::Call(call) => out.push((&call.name.name, call.span)),
                StmtKind::Repeat { body, .. } => uses(body, out),
                StmtKind::Add { branches } | StmtKind::Concatenate { branches } => {
                    for branch in branches {
                        uses(&branch.body, out);
                    }
                }
            }
        }
    }
    let mut edges: HashMap<&str, Vec<(&str, Span)>> = HashMap::new();
    for (name, block) in blocks {
        let mut out = Vec::new();
        uses(&block.body, &mut out);
        out.retain(|(callee, _)| blocks.contains_key(callee));
        edges.insert(name, out);
    }
    let mut names: Vec<&str> = blocks.keys().copied().collect();
    names.sort_by_key(|n| blocks[n].span.start);
    let mut done: HashSet<&str> = HashSet::new();
    let mut recursive = HashSet::new();
    // Iterative depth-first search, so that a long chain of blocks cannot overflow the stack.
    for start in names {
        if done.contains(start) {
            continue;
        }
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some((block, next)) = path.last().copied() {
            let callees = &edges[block];
            if next >= callees.len() {
                done.insert(block);
                path.pop();
                continue;
            }
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            let (callee, span) = callees[next];
            if let Some(position) = path.iter().position(|(b, _)| *b == callee) {
                let mut cycle: Vec<&str> = path[position..].iter().map(|(b, _)| *b).collect();
                cycle.push(callee);
                recursive.insert(span);
                diags.push(
                    Diagnostic::error(
                        Code::RecursiveBlock,
                        format!("block `{callee}` uses itself"),
                    )
                    .with_label(span, "this use closes a cycle")
                    .with_note(format!("cycle: {}", cycle.join(" → ")))
                    .with_help(
                        "a block cannot contain itself; use `repeat N { … }` to repeat layers",
                    ),
                );
            } else if !done.contains(callee) {
                path.push((callee, 0));
            }
        }
    }
    recursive
}
