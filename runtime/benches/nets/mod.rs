//! The networks the benchmarks and the PyTorch comparison run, built from layer values:
//! the lecture's MNIST CNN, LeNet-5, and one VGG-style convolution.
//!
//! They are built as `cnnc` builds them from the fused IR (`cnn_dsl::ir::fuse`): a
//! convolution followed by max pooling leaves its monotone activation to the pooling, which
//! applies it to a quarter of the values.
#![allow(dead_code)]

use cnn_runtime::kernels::activation::Activation;
use cnn_runtime::kernels::conv::Padding2d;
use cnn_runtime::layers::*;
use cnn_runtime::model::Model;
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Glorot-uniform-like values, reproducible from `seed`.
pub fn weights(shape: &[usize], fan: usize, seed: u64) -> ArrayD<f32> {
    let limit = (3.0 / fan as f32).sqrt();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.random_range(-limit..limit))
}

pub fn input(batch: usize, shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut dims = vec![batch];
    dims.extend_from_slice(shape);
    weights(&dims, 3, seed)
}

fn conv(
    input: &[usize],
    filters: usize,
    kernel: usize,
    activation: Activation,
    padding: Padding2d,
    seed: u64,
) -> Conv2d<f32> {
    let c = input[2];
    let config = Conv2dConfig {
        activation,
        padding,
        ..Conv2dConfig::default()
    };
    let k = weights(&[kernel, kernel, c, filters], kernel * kernel * c, seed);
    Conv2d::new(input, k, Some(ArrayD::zeros(IxDyn(&[filters]))), config).expect("bench shapes fit")
}

fn dense(inputs: usize, units: usize, activation: Activation, seed: u64) -> Dense<f32> {
    Dense::new(
        weights(&[inputs, units], inputs, seed),
        Some(ArrayD::zeros(IxDyn(&[units]))),
        activation,
    )
    .expect("bench shapes fit")
}

/// 2×2 max pooling, then `activation` (moved there from the convolution before it).
fn max_pool(input: &[usize], activation: Activation) -> Pool {
    Pool::new(input, PoolMode::Max, [2, 2], [2, 2], Padding2d::default())
        .and_then(|p| p.with_activation(activation))
        .expect("bench shapes fit")
}

/// The lecture's Keras MNIST classifier (11,132 parameters), with logits out.
pub fn mnist_cnn() -> Model<f32> {
    let mut m = Model::new(&[28, 28, 1]);
    m.push(
        "conv2d_1",
        conv(
            &[28, 28, 1],
            3,
            3,
            Activation::Linear,
            Padding2d::default(),
            1,
        ),
    )
    .unwrap();
    m.push("max_pooling2d_1", max_pool(&[26, 26, 3], Activation::Relu))
        .unwrap();
    m.push(
        "conv2d_2",
        conv(
            &[13, 13, 3],
            3,
            3,
            Activation::Linear,
            Padding2d::default(),
            2,
        ),
    )
    .unwrap();
    m.push("max_pooling2d_2", max_pool(&[11, 11, 3], Activation::Relu))
        .unwrap();
    m.push("flatten_1", Flatten).unwrap();
    m.push("dense_1", dense(75, 128, Activation::Relu, 3))
        .unwrap();
    m.push("dense_2", dense(128, 10, Activation::Linear, 4))
        .unwrap();
    m
}

/// LeNet-5 (61,706 parameters), with logits out.
pub fn lenet5() -> Model<f32> {
    let mut m = Model::new(&[32, 32, 1]);
    m.push(
        "conv2d_1",
        conv(
            &[32, 32, 1],
            6,
            5,
            Activation::Linear,
            Padding2d::default(),
            1,
        ),
    )
    .unwrap();
    m.push("max_pooling2d_1", max_pool(&[28, 28, 6], Activation::Tanh))
        .unwrap();
    m.push(
        "conv2d_2",
        conv(
            &[14, 14, 6],
            16,
            5,
            Activation::Linear,
            Padding2d::default(),
            2,
        ),
    )
    .unwrap();
    m.push("max_pooling2d_2", max_pool(&[10, 10, 16], Activation::Tanh))
        .unwrap();
    m.push("flatten_1", Flatten).unwrap();
    m.push("dense_1", dense(400, 120, Activation::Tanh, 3))
        .unwrap();
    m.push("dense_2", dense(120, 84, Activation::Tanh, 4))
        .unwrap();
    m.push("dense_3", dense(84, 10, Activation::Linear, 5))
        .unwrap();
    m
}

/// One VGG-style layer: 64 → 64 channels, 3×3, `same`, on 56×56, with ReLU.
pub fn vgg_conv() -> Model<f32> {
    let mut m = Model::new(&[56, 56, 64]);
    let same = Padding2d {
        top: 1,
        bottom: 1,
        left: 1,
        right: 1,
    };
    m.push(
        "conv2d_1",
        conv(&[56, 56, 64], 64, 3, Activation::Relu, same, 1),
    )
    .unwrap();
    m
}

/// One timed pass: forward, and for `backward` the backward pass from a constant output
/// gradient. A whole network stops at its parameters' gradients, as training does (and as
/// PyTorch does for an input that does not require a gradient); a single layer standing for
/// the inside of a network also computes its input gradient (`input_grad`), and the
/// PyTorch side of `bench/compare.py` asks for the same.
pub fn pass(model: &mut Model<f32>, input: &ArrayD<f32>, backward: bool, input_grad: bool) {
    let out = model.forward(input.clone(), backward).expect("forward");
    if backward {
        let grad = ArrayD::from_elem(out.raw_dim(), 1e-3f32);
        if input_grad {
            std::hint::black_box(model.backward(grad).expect("backward"));
        } else {
            model.backward_params(grad).expect("backward");
        }
    } else {
        std::hint::black_box(out);
    }
}

/// A network to time: name, builder, example shape, batch sizes, forward MACs per image,
/// and whether its backward pass includes the input gradient (see [`pass`]).
pub type Case = (
    &'static str,
    fn() -> Model<f32>,
    &'static [usize],
    &'static [usize],
    u64,
    bool,
);

/// The benchmark cases, in the order `bench/compare.py` prints them.
pub const CASES: [Case; 3] = [
    (
        "mnist_cnn",
        mnist_cnn,
        &[28, 28, 1],
        &[1, 64, 256],
        MNIST_CNN_MACS,
        false,
    ),
    (
        "lenet5",
        lenet5,
        &[32, 32, 1],
        &[1, 64, 256],
        LENET5_MACS,
        false,
    ),
    (
        "vgg_conv",
        vgg_conv,
        &[56, 56, 64],
        &[16],
        VGG_CONV_MACS,
        true,
    ),
];

/// Multiply-accumulates of one image's forward pass, per network.
/// As `cnnc summary` reports them.
pub const MNIST_CNN_MACS: u64 = 38_933;
pub const LENET5_MACS: u64 = 416_520;
pub const VGG_CONV_MACS: u64 = 56 * 56 * 64 * 3 * 3 * 64;
