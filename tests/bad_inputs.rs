//! The corpus of bad model files (`tests/bad/`), one per mistake users make. Each file
//! marks the line its first error must point at with `// <- CODE`; the whole rendered
//! output is a reviewed snapshot. Paths are relative to this crate's directory, where
//! cargo runs integration tests.

use cnn_tests::{cnnc, marker, relative};

#[test]
fn every_bad_file_fails_at_its_marked_line() {
    let mut count = 0;
    insta::glob!("bad/*.cnn", |path| {
        count += 1;
        let name = relative(path);
        let bytes = std::fs::read(path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let (code, line) =
            marker(&text).unwrap_or_else(|| panic!("{name} has no `// <- CODE` marker"));
        let run = cnnc(&["check", &name]);
        assert_eq!(run.code, 1, "{name} should fail to check:\n{}", run.stderr);
        let first = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error["))
            .unwrap_or_else(|| panic!("{name}: no error printed:\n{}", run.stderr));
        assert!(
            first.starts_with(&format!("error[{code}]")),
            "{name}: expected {code}, got `{first}`"
        );
        let location = run
            .stderr
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("--> "))
            .unwrap_or_else(|| panic!("{name}: no location"));
        let expected = format!("{name}:{line}:");
        assert!(
            location.starts_with(&expected),
            "{name}: expected line {line}, got {location}"
        );
        insta::assert_snapshot!(run.stderr);
    });
    assert!(count >= 40, "the corpus has only {count} files");
}

/// 100,000 nested parentheses: an error, not a stack overflow.
#[test]
fn hundred_thousand_parentheses_are_an_error() {
    let source = format!("model M {{ input(784) dense({}10) }}", "(".repeat(100_000));
    let compiled = cnn_dsl::compile(&source);
    assert_eq!(compiled.diagnostics.0[0].code, cnn_dsl::Code::TooDeep);
}
