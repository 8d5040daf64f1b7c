//! Builds the owned AST from pest's parse tree. The grammar guarantees each rule's shape,
//! so a mismatch here is an internal error, reported as a diagnostic rather than a panic.

use super::Rule;
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use pest::iterators::{Pair, Pairs};

type Result<T> = std::result::Result<T, Diagnostic>;

fn span(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

fn internal(pair: &Pair<Rule>, what: &str) -> Diagnostic {
    Diagnostic::error(Code::Internal, format!("internal parser error: {what}"))
        .with_label(span(pair), "while reading this")
        .with_help("this is a bug in cnn; please report it with this file")
}

/// Takes the next child, which the grammar says must be there.
fn next<'i>(
    pairs: &mut impl Iterator<Item = Pair<'i, Rule>>,
    parent: &Pair<'i, Rule>,
) -> Result<Pair<'i, Rule>> {
    pairs
        .next()
        .ok_or_else(|| internal(parent, "a node is missing a child"))
}

/// Children without the keyword tokens, which carry no information.
fn children<'i>(pair: &Pair<'i, Rule>) -> Pairs<'i, Rule> {
    pair.clone().into_inner()
}

fn meaningful(pair: &Pair<Rule>) -> bool {
    !matches!(
        pair.as_rule(),
        Rule::kw_model
            | Rule::kw_block
            | Rule::kw_train
            | Rule::kw_repeat
            | Rule::kw_add
            | Rule::kw_concatenate
            | Rule::EOI
    )
}

pub(super) fn file(pair: Pair<Rule>) -> Result<File> {
    let mut items = Vec::new();
    for item in children(&pair).filter(meaningful) {
        items.push(match item.as_rule() {
            Rule::model => Item::Model(model(item)?),
            Rule::block => Item::Block(block(item)?),
            Rule::train => Item::Train(train(item)?),
            _ => return Err(internal(&item, "unexpected item")),
        });
    }
    Ok(File { items })
}

fn ident(pair: Pair<Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span(&pair),
    }
}

fn model(pair: Pair<Rule>) -> Result<Model> {
    let mut inner = children(&pair)
        .filter(meaningful)
        .collect::<Vec<_>>()
        .into_iter();
    let name = inner
        .next()
        .ok_or_else(|| internal(&pair, "model without name"))?;
    let body_pair = inner
        .next()
        .ok_or_else(|| internal(&pair, "model without body"))?;
    Ok(Model {
        name: ident(name),
        body: body(body_pair)?,
        span: span(&pair),
    })
}

fn block(pair: Pair<Rule>) -> Result<BlockDef> {
    let parts: Vec<Pair<Rule>> = children(&pair).filter(meaningful).collect();
    let [name, params_pair, body_pair] = <[Pair<Rule>; 3]>::try_from(parts)
        .map_err(|_| internal(&pair, "block of unexpected shape"))?;
    let mut params = Vec::new();
    for param in children(&params_pair) {
        let mut inner = children(&param);
        let name = ident(next(&mut inner, &param)?);
        let default = inner.next().map(expr).transpose()?;
        params.push(Param { name, default });
    }
    Ok(BlockDef {
        name: ident(name),
        params,
        body: body(body_pair)?,
        span: span(&pair),
    })
}

fn train(pair: Pair<Rule>) -> Result<Train> {
    let mut inner = children(&pair).filter(meaningful);
    let model = ident(next(&mut inner, &pair)?);
    let mut settings = Vec::new();
    for setting in inner {
        let mut parts = children(&setting);
        let key = ident(next(&mut parts, &setting)?);
        let value = expr(next(&mut parts, &setting)?)?;
        settings.push(Setting { key, value });
    }
    Ok(Train {
        model,
        settings,
        span: span(&pair),
    })
}

fn body(pair: Pair<Rule>) -> Result<Vec<Stmt>> {
    children(&pair).map(statement).collect()
}

fn branches(pair: &Pair<Rule>) -> Result<Vec<Branch>> {
    children(pair)
        .filter(meaningful)
        .map(|b| {
            let span = span(&b);
            Ok(Branch {
                body: body(b)?,
                span,
            })
        })
        .collect()
}

fn statement(pair: Pair<Rule>) -> Result<Stmt> {
    let stmt_span = span(&pair);
    let kind = match pair.as_rule() {
        Rule::call => StmtKind::Call(call(pair)?),
        Rule::repeat => {
            let mut inner = children(&pair).filter(meaningful);
            let count = expr(next(&mut inner, &pair)?)?;
            let body = body(next(&mut inner, &pair)?)?;
            StmtKind::Repeat { count, body }
        }
        Rule::add => StmtKind::Add {
            branches: branches(&pair)?,
        },
        Rule::concatenate => StmtKind::Concatenate {
            branches: branches(&pair)?,
        },
        _ => return Err(internal(&pair, "unexpected statement")),
    };
    Ok(Stmt {
        kind,
        span: stmt_span,
    })
}

fn call(pair: Pair<Rule>) -> Result<Call> {
    let mut inner = children(&pair);
    let name = ident(next(&mut inner, &pair)?);
    let args_pair = next(&mut inner, &pair)?;
    let mut args = Vec::new();
    for arg in children(&args_pair) {
        let mut parts: Vec<Pair<Rule>> = children(&arg).collect();
        let value = parts
            .pop()
            .ok_or_else(|| internal(&arg, "empty argument"))?;
        let name = parts.pop().map(ident);
        args.push(Arg {
            name,
            value: expr(value)?,
        });
    }
    Ok(Call {
        name,
        args,
        span: span(&pair),
    })
}

fn expr(pair: Pair<Rule>) -> Result<Expr> {
    match pair.as_rule() {
        Rule::expr | Rule::term => binary_chain(pair),
        Rule::unary => {
            let pair_span = span(&pair);
            let mut inner: Vec<Pair<Rule>> = children(&pair).collect();
            let atom_pair = inner.pop().ok_or_else(|| internal(&pair, "empty value"))?;
            let mut value = atom(atom_pair)?;
            for _ in inner {
                value = Expr {
                    kind: ExprKind::Neg(Box::new(value)),
                    span: pair_span,
                };
            }
            Ok(value)
        }
        _ => atom(pair),
    }
}

/// `a op b op c`, folded to the left.
fn binary_chain(pair: Pair<Rule>) -> Result<Expr> {
    let mut inner = children(&pair);
    let mut left = expr(next(&mut inner, &pair)?)?;
    while let Some(op) = inner.next() {
        let op_kind = match op.as_str() {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            _ => return Err(internal(&op, "unknown operator")),
        };
        let right = expr(next(&mut inner, &pair)?)?;
        let span = left.span.until(right.span);
        left = Expr {
            kind: ExprKind::Binary(Box::new(left), op_kind, Box::new(right)),
            span,
        };
    }
    Ok(left)
}

fn atom(pair: Pair<Rule>) -> Result<Expr> {
    let pair_span = span(&pair);
    let kind = match pair.as_rule() {
        Rule::int => {
            let digits: String = pair.as_str().chars().filter(|c| *c != '_').collect();
            match digits.parse::<i128>() {
                Ok(value) => ExprKind::Int(value),
                Err(_) => {
                    return Err(Diagnostic::error(
                        Code::LiteralTooLarge,
                        "integer literal is too large",
                    )
                    .with_label(pair_span, "this number has too many digits"))
                }
            }
        }
        Rule::float => {
            let digits: String = pair.as_str().chars().filter(|c| *c != '_').collect();
            match digits.parse::<f64>() {
                Ok(value) if value.is_finite() => ExprKind::Float(value),
                _ => {
                    return Err(Diagnostic::error(
                        Code::LiteralTooLarge,
                        "float literal is out of range",
                    )
                    .with_label(pair_span, "this number is too large for a float"))
                }
            }
        }
        Rule::string => ExprKind::Str(unescape(pair.as_str())),
        Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
        Rule::ident => ExprKind::Name(pair.as_str().to_string()),
        Rule::call => ExprKind::Call(call(pair)?),
        Rule::tuple => {
            let items: Vec<Expr> = children(&pair).map(expr).collect::<Result<_>>()?;
            // `(x)` is grouping, `(x,)` and `(x, y)` are tuples, as in Rust.
            let trailing_comma = pair
                .as_str()
                .trim_end_matches(')')
                .trim_end()
                .ends_with(',');
            if items.len() == 1 && !trailing_comma {
                return items
                    .into_iter()
                    .next()
                    .ok_or_else(|| internal(&pair, "empty group"));
            }
            ExprKind::Tuple(items)
        }
        Rule::list => ExprKind::List(children(&pair).map(expr).collect::<Result<_>>()?),
        Rule::expr | Rule::term | Rule::unary => return expr(pair),
        _ => return Err(internal(&pair, "unexpected value")),
    };
    Ok(Expr {
        kind,
        span: pair_span,
    })
}

/// The text of a string literal without its quotes, escapes resolved.
fn unescape(literal: &str) -> String {
    let inner = &literal[1..literal.len().saturating_sub(1).max(1)];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
