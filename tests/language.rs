//! Every example of LANGUAGE.md (copied into `tests/language/`), and a file using every
//! layer, activation, initializer and regularizer, checks clean; their summaries are
//! reviewed snapshots.

use cnn_dsl::{compile, Severity};
use cnn_tests::relative;

#[test]
fn language_examples_check_clean() {
    let mut count = 0;
    insta::glob!("language/*.cnn", |path| {
        count += 1;
        let name = relative(path);
        let compiled = compile(&std::fs::read_to_string(path).unwrap());
        let noisy: Vec<_> = compiled
            .diagnostics
            .iter()
            .filter(|d| d.severity >= Severity::Warning)
            .collect();
        assert!(noisy.is_empty(), "{name}: {noisy:#?}");
        let checked = compiled.checked.unwrap();
        let tables: Vec<String> = checked.models.iter().map(cnn_dsl::summary::table).collect();
        insta::assert_snapshot!(tables.join("\n"));
    });
    assert_eq!(count, 4);
}
