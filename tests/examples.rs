//! Every example model checks clean, its totals equal the published numbers, and its
//! summary is a reviewed snapshot.

use cnn_dsl::compile;
use cnn_dsl::summary::{table, Totals};
use cnn_tests::{cnnc, root};

/// (file, model, total, trainable, non-trainable) as their sources publish them.
const PUBLISHED: &[(&str, &str, u64, u64, u64)] = &[
    // The lecture's Keras MNIST classifier.
    ("mnist_cnn.cnn", "MnistCnn", 11_132, 11_132, 0),
    // LeCun et al. 1998, as the lecture summarises it.
    ("lenet5.cnn", "LeNet5", 61_706, 61_706, 0),
    // torchvision.models.alexnet(): sum of p.numel() over parameters().
    ("alexnet.cnn", "AlexNet", 61_100_840, 61_100_840, 0),
    // keras.applications.VGG16().summary().
    ("vgg16.cnn", "VGG16", 138_357_544, 138_357_544, 0),
    // keras.applications.ResNet50().summary().
    ("resnet50.cnn", "ResNet50", 25_636_712, 25_583_592, 53_120),
    // torchvision.models.resnet18(): 11,689,512 parameters; its 9,600 batch-norm running
    // statistics are buffers, which Keras counts as non-trainable.
    ("resnet18.cnn", "ResNet18", 11_699_112, 11_689_512, 9_600),
    // torchvision.models.googlenet(aux_logits=False, init_weights=True): 6,624,904
    // parameters, and 14,560 running statistics.
    ("googlenet.cnn", "GoogLeNet", 6_639_464, 6_624_904, 14_560),
];

fn read_example(file: &str) -> String {
    std::fs::read_to_string(root().join("examples").join(file)).unwrap()
}

#[test]
fn examples_check_clean_with_published_totals() {
    for &(file, model, total, trainable, non_trainable) in PUBLISHED {
        let compiled = compile(&read_example(file));
        let noisy: Vec<_> = compiled
            .diagnostics
            .iter()
            .filter(|d| d.severity >= cnn_dsl::Severity::Warning)
            .collect();
        assert!(noisy.is_empty(), "{file}: {noisy:#?}");
        let checked = compiled.checked.unwrap();
        let graph = checked
            .model(model)
            .unwrap_or_else(|| panic!("{file} has no {model}"));
        let totals = Totals::of(graph);
        assert_eq!(
            (
                totals.total_params,
                totals.trainable_params,
                totals.non_trainable_params
            ),
            (total, trainable, non_trainable),
            "{file}"
        );
    }
}

#[test]
fn every_example_file_is_listed() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".cnn"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = PUBLISHED.iter().map(|p| p.0.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn summaries_match_snapshots() {
    for &(file, model, ..) in PUBLISHED {
        let compiled = compile(&read_example(file));
        let checked = compiled.checked.unwrap();
        let graph = checked.model(model).unwrap();
        insta::assert_snapshot!(
            format!("summary_{}", file.trim_end_matches(".cnn")),
            table(graph)
        );
    }
}

#[test]
fn cnnc_summary_prints_the_table_and_json_totals() {
    let path = root().join("examples/lenet5.cnn");
    let path = path.to_str().unwrap();
    let text = cnnc(&["summary", path]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text
        .stdout
        .contains("Total params: 61,706\nTrainable params: 61,706\nNon-trainable params: 0\n"));
    let json = cnnc(&["summary", path, "--format", "json", "--model", "LeNet5"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert!(
        json.stdout.contains("\"total_params\": 61706"),
        "{}",
        json.stdout
    );
    assert!(json.stdout.contains("\"macs\": 416520"), "{}", json.stdout);
}

#[test]
fn summary_of_an_unknown_model_is_a_usage_error() {
    let path = root().join("examples/lenet5.cnn");
    let run = cnnc(&["summary", path.to_str().unwrap(), "--model", "LeNet6"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("it has: LeNet5"), "{}", run.stderr);
}
