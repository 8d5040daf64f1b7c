//! The syntax tree of a `.cnn` file.
//!
//! The tree owns its data (no lifetimes into the source) and every node carries the [`Span`]
//! of the text it came from, so later stages can point at it. Nothing here knows about pest.

use crate::span::Span;

/// A parsed file: models, blocks and train sections in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Model(Model),
    Block(BlockDef),
    Train(Train),
}

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `model Name { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `block name(params) { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// A block parameter and its default value, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub default: Option<Expr>,
}

/// `train Model { key: value … }`
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    pub model: Ident,
    pub settings: Vec<Setting>,
    pub span: Span,
}

/// One `key: value` of a train section.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: Ident,
    pub value: Expr,
}

/// One statement of a model or block body.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// A layer or a block used as a layer.
    Call(Call),
    /// `repeat count { body }`
    Repeat { count: Expr, body: Vec<Stmt> },
    /// `add { branches }`
    Add { branches: Vec<Branch> },
    /// `concatenate { branches }`
    Concatenate { branches: Vec<Branch> },
}

/// One `{ … }` branch of `add` or `concatenate`; an empty one is the identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `name(args)`, as a statement or as a value such as `l2(1e-4)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A positional (`name` is `None`) or named argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

impl Arg {
    /// The span of the whole argument, name included.
    pub fn span(&self) -> Span {
        match &self.name {
            Some(name) => name.span.until(self.value.span),
            None => self.value.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal; `i128` holds any literal a user is likely to type, so that
    /// "too large" is reported by the checker with the argument's limits.
    Int(i128),
    Float(f64),
    Str(String),
    Bool(bool),
    /// A bare name: a block parameter, or a symbol such as `same` or `relu`.
    Name(String),
    Tuple(Vec<Expr>),
    List(Vec<Expr>),
    Call(Call),
    Neg(Box<Expr>),
    Binary(Box<Expr>, BinOp, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}
