//! Values after evaluation: block parameters substituted, arithmetic done.

use crate::ast::{Arg, BinOp, Expr, ExprKind, Ident};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use std::collections::HashMap;
use std::fmt;

/// An evaluated value and the text it came from (for a block parameter, the text at the
/// use site that gave it, since that is what a user would change).
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    Int(i128),
    Float(f64),
    Bool(bool),
    Str(String),
    /// A symbol such as `same`, `relu` or `he_normal`.
    Name(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// `name(args)`: an activation, initializer, regularizer, optimizer … with arguments.
    Call(Ident, Vec<(Option<Ident>, Value)>),
}

impl ValueKind {
    /// What kind of value this is, for "expected …, found …" messages.
    pub fn describe(&self) -> String {
        match self {
            ValueKind::Int(_) => "an integer".into(),
            ValueKind::Float(_) => "a float".into(),
            ValueKind::Bool(_) => "a boolean".into(),
            ValueKind::Str(_) => "a string".into(),
            ValueKind::Name(n) => format!("the name `{n}`"),
            ValueKind::Tuple(_) => "a tuple".into(),
            ValueKind::List(_) => "a list".into(),
            ValueKind::Call(name, _) => format!("a call to `{}`", name.name),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, items: &[Value]) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        }
        match &self.kind {
            ValueKind::Int(v) => write!(f, "{v}"),
            ValueKind::Float(v) => write!(f, "{v:?}"),
            ValueKind::Bool(v) => write!(f, "{v}"),
            ValueKind::Str(v) => write!(f, "{v:?}"),
            ValueKind::Name(v) => f.write_str(v),
            ValueKind::Tuple(items) => {
                f.write_str("(")?;
                list(f, items)?;
                f.write_str(")")
            }
            ValueKind::List(items) => {
                f.write_str("[")?;
                list(f, items)?;
                f.write_str("]")
            }
            ValueKind::Call(name, args) => {
                write!(f, "{}(", name.name)?;
                for (i, (arg_name, value)) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(n) = arg_name {
                        write!(f, "{}: ", n.name)?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Block parameters in scope: name to value.
pub type Env = HashMap<String, Value>;

/// Evaluates an expression in `env`, substituting block parameters.
pub fn eval(expr: &Expr, env: &Env) -> Result<Value, Diagnostic> {
    let kind = match &expr.kind {
        ExprKind::Int(v) => ValueKind::Int(*v),
        ExprKind::Float(v) => ValueKind::Float(*v),
        ExprKind::Bool(v) => ValueKind::Bool(*v),
        ExprKind::Str(v) => ValueKind::Str(v.clone()),
        ExprKind::Name(name) => match env.get(name) {
            Some(value) => return Ok(value.clone()),
            None => ValueKind::Name(name.clone()),
        },
        ExprKind::Tuple(items) => ValueKind::Tuple(eval_all(items, env)?),
        ExprKind::List(items) => ValueKind::List(eval_all(items, env)?),
        ExprKind::Call(call) => ValueKind::Call(call.name.clone(), eval_args(&call.args, env)?),
        ExprKind::Neg(inner) => {
            let value = eval(inner, env)?;
            match value.kind {
                ValueKind::Int(v) => ValueKind::Int(-v),
                ValueKind::Float(v) => ValueKind::Float(-v),
                other => {
                    return Err(Diagnostic::error(
                        Code::BadArithmetic,
                        format!("cannot negate {}", other.describe()),
                    )
                    .with_label(expr.span, "only numbers can be negated"))
                }
            }
        }
        ExprKind::Binary(left, op, right) => {
            let l = eval(left, env)?;
            let r = eval(right, env)?;
            arithmetic(&l, *op, &r, expr.span)?
        }
    };
    Ok(Value {
        kind,
        span: expr.span,
    })
}

fn eval_all(items: &[Expr], env: &Env) -> Result<Vec<Value>, Diagnostic> {
    items.iter().map(|e| eval(e, env)).collect()
}

/// Evaluates call arguments, keeping their names.
pub fn eval_args(args: &[Arg], env: &Env) -> Result<Vec<(Option<Ident>, Value)>, Diagnostic> {
    args.iter()
        .map(|arg| Ok((arg.name.clone(), eval(&arg.value, env)?)))
        .collect()
}

/// `+ - * /` on integers and floats. Integer division must be exact, so that `filters / 2`
/// never silently rounds; mixing an integer with a float gives a float.
fn arithmetic(l: &Value, op: BinOp, r: &Value, span: Span) -> Result<ValueKind, Diagnostic> {
    let error = |message: String, label: &str| {
        Diagnostic::error(Code::BadArithmetic, message).with_label(span, label.to_string())
    };
    match (&l.kind, &r.kind) {
        (ValueKind::Int(a), ValueKind::Int(b)) => {
            let (a, b) = (*a, *b);
            let result = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                BinOp::Div => {
                    if b == 0 {
                        return Err(error("division by zero".into(), "the divisor is 0"));
                    }
                    if a % b != 0 {
                        // 1 / 255 is a float, as users mean it.
                        return Ok(ValueKind::Float(a as f64 / b as f64));
                    }
                    a.checked_div(b)
                }
            };
            result
                .map(ValueKind::Int)
                .ok_or_else(|| error("integer overflow".into(), "this result is too large"))
        }
        (ValueKind::Int(_) | ValueKind::Float(_), ValueKind::Int(_) | ValueKind::Float(_)) => {
            let a = as_f64(&l.kind);
            let b = as_f64(&r.kind);
            if op == BinOp::Div && b == 0.0 {
                return Err(error("division by zero".into(), "the divisor is 0"));
            }
            let result = match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
            };
            if result.is_finite() {
                Ok(ValueKind::Float(result))
            } else {
                Err(error("float overflow".into(), "this result is not finite"))
            }
        }
        (a, b) => {
            let culprit = if matches!(a, ValueKind::Int(_) | ValueKind::Float(_)) {
                b
            } else {
                a
            };
            Err(error(
                format!("cannot compute `{l} {} {r}`", op.symbol()),
                &format!("{} is not a number", culprit.describe()),
            )
            .with_help_opt(match culprit {
                ValueKind::Name(n) => Some(format!(
                    "`{n}` is not a parameter of the enclosing block; arithmetic works on numbers and block parameters"
                )),
                _ => None,
            }))
        }
    }
}

fn as_f64(kind: &ValueKind) -> f64 {
    match kind {
        ValueKind::Int(v) => *v as f64,
        ValueKind::Float(v) => *v,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::ExprKind;

    fn num(kind: ExprKind) -> Expr {
        Expr {
            kind,
            span: Span::default(),
        }
    }

    fn bin(a: ExprKind, op: BinOp, b: ExprKind) -> Expr {
        num(ExprKind::Binary(Box::new(num(a)), op, Box::new(num(b))))
    }

    #[test]
    fn inexact_integer_division_gives_a_float() {
        let v = eval(
            &bin(ExprKind::Int(1), BinOp::Div, ExprKind::Int(255)),
            &Env::new(),
        )
        .unwrap();
        assert_eq!(v.kind, ValueKind::Float(1.0 / 255.0));
        let v = eval(
            &bin(ExprKind::Int(64), BinOp::Div, ExprKind::Int(2)),
            &Env::new(),
        )
        .unwrap();
        assert_eq!(v.kind, ValueKind::Int(32));
    }

    #[test]
    fn block_parameters_are_substituted() {
        let mut env = Env::new();
        env.insert(
            "filters".into(),
            Value {
                kind: ValueKind::Int(16),
                span: Span::new(40, 42),
            },
        );
        let v = eval(
            &bin(
                ExprKind::Name("filters".into()),
                BinOp::Mul,
                ExprKind::Int(4),
            ),
            &env,
        )
        .unwrap();
        assert_eq!(v.kind, ValueKind::Int(64));
    }

    #[test]
    fn division_by_zero_and_overflow_are_errors() {
        let e = eval(
            &bin(ExprKind::Int(1), BinOp::Div, ExprKind::Int(0)),
            &Env::new(),
        )
        .unwrap_err();
        assert_eq!(e.code, Code::BadArithmetic);
        let e = eval(
            &bin(ExprKind::Int(i128::MAX), BinOp::Mul, ExprKind::Int(2)),
            &Env::new(),
        )
        .unwrap_err();
        assert_eq!(e.message, "integer overflow");
    }

    #[test]
    fn arithmetic_on_a_symbol_is_explained() {
        let e = eval(
            &bin(ExprKind::Name("same".into()), BinOp::Add, ExprKind::Int(1)),
            &Env::new(),
        )
        .unwrap_err();
        assert!(e.help.unwrap().contains("not a parameter"));
    }
}
