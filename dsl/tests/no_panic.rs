//! Random token sequences and mangled examples never make the front end panic, and it
//! answers quickly whatever it is given.

use proptest::prelude::*;

/// Tokens a user (or a confused editor) might type, valid and not.
const VOCABULARY: &[&str] = &[
    "model",
    "block",
    "train",
    "repeat",
    "add",
    "concatenate",
    "input",
    "conv2d",
    "conv1d",
    "depthwise_conv2d",
    "dense",
    "flatten",
    "max_pooling2d",
    "average_pooling1d",
    "global_average_pooling2d",
    "zero_padding2d",
    "batch_normalization",
    "dropout",
    "relu",
    "prelu",
    "softmax",
    "activation",
    "leaky_relu",
    "gaussian_noise",
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "same",
    "valid",
    "units",
    "groups",
    "dilation_rate",
    "name",
    "data",
    "mnist",
    "loss",
    "optimizer",
    "adam",
    "sgd",
    "epochs",
    "batch_size",
    "full",
    "preprocess",
    "augment",
    "callbacks",
    "early_stopping",
    "metrics",
    "accuracy",
    "he_normal",
    "l2",
    "x",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "{",
    "}",
    ",",
    ":",
    "=",
    "+",
    "-",
    "*",
    "/",
    "0",
    "1",
    "2",
    "3",
    "28",
    "-1",
    "0.5",
    "1e-3",
    "1e308",
    "1e999",
    "2147483648",
    "100000000000000000000",
    "340282366920938463463374607431768211456",
    "\"c1\"",
    "\"",
    "true",
    "false",
    "//",
    "/*",
    "*/",
    "\n",
    "#",
    "'",
    ";",
    "é",
    "\u{0}",
];

fn tokens() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..80).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_token_sequences_do_not_panic(source in tokens()) {
        let _ = cnn_dsl::compile(&source);
    }

    #[test]
    fn mangled_examples_do_not_panic(
        which in 0usize..EXAMPLES.len(),
        start in 0usize..4000,
        len in 0usize..40,
        insert in tokens(),
    ) {
        let source = EXAMPLES[which];
        let start = floor(source, start.min(source.len()));
        let end = floor(source, (start + len).min(source.len()));
        let mangled = format!("{}{}{}", &source[..start], insert, &source[end..]);
        let _ = cnn_dsl::compile(&mangled);
    }
}

const EXAMPLES: &[&str] = &[
    include_str!("../../examples/lenet5.cnn"),
    include_str!("../../examples/resnet50.cnn"),
    include_str!("../../examples/googlenet.cnn"),
    include_str!("../../examples/vgg16.cnn"),
];

fn floor(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
