use super::*;
use crate::ast::*;

fn parse_ok(source: &str) -> File {
    match parse(source) {
        Ok(file) => file,
        Err(d) => panic!("did not parse: {d:?}"),
    }
}

fn first_model_body(source: &str) -> Vec<Stmt> {
    match parse_ok(source).items.into_iter().next() {
        Some(Item::Model(m)) => m.body,
        other => panic!("not a model: {other:?}"),
    }
}

#[test]
fn parses_positional_and_named_arguments() {
    let body = first_model_body("model M { input(28, 28, 1) conv2d(6, 5, activation: tanh) }");
    assert_eq!(body.len(), 2);
    let StmtKind::Call(call) = &body[1].kind else {
        panic!("not a call")
    };
    assert_eq!(call.name.name, "conv2d");
    assert_eq!(call.args.len(), 3);
    assert!(call.args[0].name.is_none());
    assert_eq!(call.args[2].name.as_ref().unwrap().name, "activation");
    assert_eq!(call.args[2].value.kind, ExprKind::Name("tanh".into()));
}

#[test]
fn arithmetic_binds_tighter_for_products() {
    let body = first_model_body("model M { f(a: 1 + 2 * 3) }");
    let StmtKind::Call(call) = &body[0].kind else {
        panic!()
    };
    let ExprKind::Binary(left, BinOp::Add, right) = &call.args[0].value.kind else {
        panic!("{:?}", call.args[0].value)
    };
    assert_eq!(left.kind, ExprKind::Int(1));
    assert!(matches!(right.kind, ExprKind::Binary(_, BinOp::Mul, _)));
}

#[test]
fn group_is_not_a_tuple_but_trailing_comma_is() {
    let body = first_model_body("model M { f((2), (2,), -(3)) }");
    let StmtKind::Call(call) = &body[0].kind else {
        panic!()
    };
    assert_eq!(call.args[0].value.kind, ExprKind::Int(2));
    assert!(matches!(&call.args[1].value.kind, ExprKind::Tuple(v) if v.len() == 1));
    assert!(matches!(&call.args[2].value.kind, ExprKind::Neg(_)));
}

#[test]
fn value_forms() {
    let body =
        first_model_body(r#"model M { f(1e-3, 0.5, 1_000, "a\"b", true, [x, l2(1e-4)], (1, 2)) }"#);
    let StmtKind::Call(call) = &body[0].kind else {
        panic!()
    };
    let kinds: Vec<&ExprKind> = call.args.iter().map(|a| &a.value.kind).collect();
    assert_eq!(kinds[0], &ExprKind::Float(1e-3));
    assert_eq!(kinds[1], &ExprKind::Float(0.5));
    assert_eq!(kinds[2], &ExprKind::Int(1000));
    assert_eq!(kinds[3], &ExprKind::Str("a\"b".into()));
    assert_eq!(kinds[4], &ExprKind::Bool(true));
    assert!(matches!(kinds[5], ExprKind::List(v) if v.len() == 2));
    assert!(matches!(kinds[6], ExprKind::Tuple(v) if v.len() == 2));
}

#[test]
fn blocks_branches_repeat_and_train() {
    let file = parse_ok(
        "/* a /* nested */ comment */
         block b(f, k = 3) { add { { conv2d(f, k) } { } } }
         model M { input(8, 8, 1) repeat 2 { b(4) } concatenate { {relu()} {} } }
         train M { data: mnist, epochs: 2
                   batch_size: full }",
    );
    assert_eq!(file.items.len(), 3);
    let Item::Block(block) = &file.items[0] else {
        panic!()
    };
    assert_eq!(block.params.len(), 2);
    assert!(block.params[1].default.is_some());
    let StmtKind::Add { branches } = &block.body[0].kind else {
        panic!()
    };
    assert_eq!(branches.len(), 2);
    assert!(branches[1].body.is_empty());
    let Item::Train(train) = &file.items[2] else {
        panic!()
    };
    assert_eq!(train.settings.len(), 3);
}

#[test]
fn keywords_are_not_names_but_prefixes_are() {
    let body = first_model_body("model M { adder(modelx: trainer) }");
    let StmtKind::Call(call) = &body[0].kind else {
        panic!()
    };
    assert_eq!(call.name.name, "adder");
}

#[test]
fn hash_comment_gets_a_hint() {
    let error = parse("model M {\n  # comment\n}").unwrap_err();
    assert_eq!(error.code, Code::Syntax);
    assert!(error.help.as_deref().unwrap().contains("//"), "{error:?}");
    assert_eq!(
        error
            .primary_span()
            .unwrap()
            .location("model M {\n  # comment\n}")
            .line,
        2
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let source = format!("model M {{ f({}) }}", "(".repeat(100_000));
    let error = parse(&source).unwrap_err();
    assert_eq!(error.code, Code::TooDeep);
}

#[test]
fn nesting_at_the_limit_parses_on_a_small_stack() {
    // The model body and the call take two levels; the rest are parentheses.
    let depth = MAX_NESTING - 2;
    let source = format!(
        "model M {{ f({}1{}) }}",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || parse(&source).is_ok())
        .unwrap();
    assert!(handle.join().unwrap());
}

#[test]
fn huge_integer_literal_is_reported() {
    let error = parse("model M { f(1000000000000000000000000000000000000000000) }").unwrap_err();
    assert_eq!(error.code, Code::LiteralTooLarge);
}

#[test]
fn brackets_inside_strings_and_comments_do_not_count() {
    let source = format!(
        "// {}\nmodel M {{ f(\"{}\") }}",
        "(".repeat(200),
        "[".repeat(200)
    );
    assert!(parse(&source).is_ok());
}

#[test]
fn rust_whitespace_separates_tokens() {
    let source = "model\u{c}M {\u{b}input(784)\u{2028}dense(10)\u{85}}";
    assert!(parse(source).is_ok());
}

#[test]
fn unterminated_comments_and_strings_are_reported_where_they_start() {
    let source = "model M {\n  /* open /* nested */\n  input(784)\n}\n";
    let error = parse(source).unwrap_err();
    assert_eq!(error.message, "unterminated block comment");
    assert_eq!(error.primary_span().unwrap().location(source).line, 2);
    let source = "model M { dense(10, name: \"out) }";
    let error = parse(source).unwrap_err();
    assert_eq!(error.message, "unterminated string");
    assert_eq!(error.primary_span().unwrap(), Span::new(26, 27));
}
