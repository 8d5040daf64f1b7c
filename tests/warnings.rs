//! The warnings of LANGUAGE.md fire where they should (`tests/warn/`, each file marking its
//! first warning with `// <- CODE`) and only there (`tests/warn_free/`, and every example).

use cnn_tests::{cnnc, marker, relative};

#[test]
fn each_warning_fires_at_its_marked_line() {
    let mut count = 0;
    insta::glob!("warn/*.cnn", |path| {
        count += 1;
        let name = relative(path);
        let text = std::fs::read_to_string(path).unwrap();
        let (code, line) = marker(&text).unwrap_or_else(|| panic!("{name} has no marker"));
        let run = cnnc(&["check", &name]);
        assert_eq!(
            run.code, 0,
            "{name}: warnings alone must not fail:\n{}",
            run.stderr
        );
        assert!(!run.stderr.contains("error["), "{name}:\n{}", run.stderr);
        let first = run
            .stderr
            .lines()
            .find(|l| l.starts_with("warning["))
            .unwrap_or("");
        assert!(
            first.starts_with(&format!("warning[{code}]")),
            "{name}: expected {code}, got `{first}`"
        );
        let location = run
            .stderr
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("--> "))
            .unwrap();
        assert!(
            location.starts_with(&format!("{name}:{line}:")),
            "{name}: expected line {line}, got {location}"
        );
        let denied = cnnc(&["check", "--deny-warnings", &name]);
        assert_eq!(denied.code, 1, "{name}: --deny-warnings must fail");
        insta::assert_snapshot!(run.stderr);
    });
    assert_eq!(count, 8);
}

#[test]
fn warning_free_models_get_no_warning() {
    let mut count = 0;
    insta::glob!("warn_free/*.cnn", |path| {
        count += 1;
        let name = relative(path);
        let run = cnnc(&["check", "--deny-warnings", &name]);
        assert_eq!(run.code, 0, "{name}:\n{}", run.stderr);
        assert!(
            run.stderr.ends_with("ok (0 errors, 0 warnings)\n"),
            "{name}:\n{}",
            run.stderr
        );
    });
    assert_eq!(count, 3);
}

#[test]
fn hints_show_only_when_asked() {
    let deep = "model Deep {\n    input(784)\n    repeat 6 { dense(64, activation: sigmoid) }\n    dense(10, activation: softmax)\n}\n";
    let dir = std::env::temp_dir().join(format!("cnn-hints-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("deep.cnn");
    std::fs::write(&file, deep).unwrap();
    let file = file.to_str().unwrap();
    let quiet = cnnc(&["check", file]);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stderr.contains("H0101"), "{}", quiet.stderr);
    let taught = cnnc(&["check", "--hints", file]);
    assert_eq!(taught.code, 0, "hints never fail a check");
    assert!(
        taught
            .stderr
            .contains("note[H0101]: model `Deep` stacks 6 sigmoid/tanh layers"),
        "{}",
        taught.stderr
    );
    let relu = "model R {\n    input(784)\n    dense(64, activation: relu)\n    dense(10, activation: softmax)\n}\n";
    std::fs::write(dir.join("relu.cnn"), relu).unwrap();
    let taught = cnnc(&["check", "--hints", dir.join("relu.cnn").to_str().unwrap()]);
    assert!(
        taught
            .stderr
            .contains("note[H0102]: model `R` initialises 1 relu layer with Glorot"),
        "{}",
        taught.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
