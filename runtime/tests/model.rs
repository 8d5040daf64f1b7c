//! Whole networks: gradients of every parameter against central differences in f64, one
//! training step that lowers the loss, and the same bits on any number of threads.

mod common;

use cnn_runtime::kernels::activation::Activation;
use cnn_runtime::kernels::conv::Padding2d;
use cnn_runtime::kernels::loss::sparse_softmax_cross_entropy;
use cnn_runtime::layers::*;
use cnn_runtime::model::Model;
use cnn_runtime::Float;
use common::*;
use ndarray::{Array2, ArrayD, Ix2, IxDyn};

fn tensor<T: Float>(shape: &[usize], seed: u64, scale: f64) -> ArrayD<T> {
    random(IxDyn(shape), seed).mapv(|v| T::lit(v * scale))
}

/// A small network with every kind of layer and both kinds of branch.
fn network<T: Float>() -> Model<T> {
    let mut m = Model::new(&[6, 6, 2]);
    let pad = Padding2d {
        top: 1,
        bottom: 1,
        left: 1,
        right: 1,
    };
    let conv = |c_in: usize, f: usize, seed: u64, activation: Activation| {
        let config = Conv2dConfig {
            padding: pad,
            activation,
            ..Conv2dConfig::default()
        };
        let kernel = tensor(&[3, 3, c_in, f], seed, 0.5);
        Conv2d::new(
            &[6, 6, c_in],
            kernel,
            Some(tensor(&[f], seed + 1, 0.1)),
            config,
        )
        .unwrap()
    };
    let stem = m.push("conv2d_1", conv(2, 4, 1, Activation::Tanh)).unwrap();
    let bn = m
        .push(
            "batch_normalization_1",
            BatchNorm::new(4, T::lit(1e-3), T::lit(0.99), true, true),
        )
        .unwrap();
    let prelu = m
        .push("prelu_1", PRelu::new(tensor(&[1, 1, 4], 3, 0.2)))
        .unwrap();
    // add { { conv2d(4, 3, padding: same, activation: swish) } { } }
    let branch = m
        .add("conv2d_2", conv(4, 4, 4, Activation::Swish), &[prelu])
        .unwrap();
    let sum = m.add("add_1", Add, &[branch, prelu]).unwrap();
    // concatenate { { conv2d(2, 3, padding: same, activation: elu) } { average_pooling2d(3, strides: 1, padding: same) } }
    let left = m
        .add("conv2d_3", conv(4, 2, 6, Activation::Elu(1.0)), &[sum])
        .unwrap();
    let right = m
        .add(
            "average_pooling2d_1",
            Pool::new(
                &[6, 6, 4],
                PoolMode::Average {
                    count_padding: false,
                },
                [3, 3],
                [1, 1],
                pad,
            )
            .unwrap(),
            &[sum],
        )
        .unwrap();
    let joined = m.add("concatenate_1", Concatenate, &[left, right]).unwrap();
    m.push(
        "max_pooling2d_1",
        Pool::new(
            &[6, 6, 6],
            PoolMode::Max,
            [2, 2],
            [2, 2],
            Padding2d::default(),
        )
        .unwrap(),
    )
    .unwrap();
    m.push(
        "zero_padding2d_1",
        ZeroPadding2d {
            padding: Padding2d {
                top: 1,
                bottom: 0,
                left: 0,
                right: 1,
            },
        },
    )
    .unwrap();
    m.push("flatten_1", Flatten).unwrap();
    m.push(
        "dense_1",
        Dense::new(
            tensor(&[96, 8], 8, 0.3),
            Some(tensor(&[8], 9, 0.1)),
            Activation::Sigmoid,
        )
        .unwrap(),
    )
    .unwrap();
    m.push("dropout_1", Dropout::new(0.25, 5)).unwrap();
    m.push(
        "dense_2",
        Dense::new(tensor(&[8, 3], 10, 0.5), None, Activation::Linear).unwrap(),
    )
    .unwrap();
    let _ = (stem, bn, joined);
    m
}

/// The loss of a batch, and its gradient with respect to the logits.
fn loss<T: Float>(model: &mut Model<T>, input: &ArrayD<T>, training: bool) -> (T, ArrayD<T>) {
    let logits = model
        .forward(input.clone(), training)
        .unwrap()
        .clone()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let mut grad = Array2::zeros(logits.raw_dim());
    let labels: Vec<usize> = (0..logits.nrows()).map(|i| (i * 2 + 1) % 3).collect();
    let value = sparse_softmax_cross_entropy(logits.view(), &labels, grad.view_mut()).unwrap();
    (value, grad.into_dyn())
}

#[test]
fn every_parameter_gradient_matches_central_differences() {
    let mut model = network::<f64>();
    let input: ArrayD<f64> = tensor(&[3, 6, 6, 2], 20, 1.0);
    // Dropout draws a new mask each step; inference mode keeps the check deterministic,
    // and the training-mode layers are checked on their own in layers_gradients.rs.
    let (_, grad) = loss(&mut model, &input, false);
    let input_grad = model.backward(grad).unwrap();

    let count = model.params().len();
    for index in 0..count {
        let (layer, analytic, values, trainable) = {
            let mut params = model.params();
            let (layer, p) = &mut params[index];
            (
                format!("{layer}.{}", p.name),
                p.grad.clone(),
                p.value.clone(),
                p.trainable,
            )
        };
        if !trainable {
            continue;
        }
        let mut flat = values.as_slice().unwrap().to_vec();
        let numeric = numeric_gradient(&mut flat, |v| {
            {
                let mut params = model.params();
                params[index]
                    .1
                    .value
                    .as_slice_mut()
                    .unwrap()
                    .copy_from_slice(v);
            }
            loss(&mut model, &input, false).0
        });
        model.params()[index].1.value.assign(&values);
        let error = max_relative_error(analytic.as_slice().unwrap(), &numeric);
        assert!(error < 1e-6, "{layer}: gradient off by {error}");
    }

    let mut flat = input.as_slice().unwrap().to_vec();
    let shape = input.raw_dim();
    let numeric = numeric_gradient(&mut flat, |v| {
        loss(
            &mut model,
            &ArrayD::from_shape_vec(shape.clone(), v.to_vec()).unwrap(),
            false,
        )
        .0
    });
    let error = max_relative_error(input_grad.as_slice().unwrap(), &numeric);
    assert!(error < 1e-6, "input gradient off by {error}");
}

#[test]
fn one_training_step_lowers_the_loss() {
    let mut model = network::<f32>();
    let input: ArrayD<f32> = tensor(&[3, 6, 6, 2], 21, 1.0);
    let (before, grad) = loss(&mut model, &input, true);
    model.backward(grad).unwrap();
    for (_, p) in model.params() {
        if p.trainable {
            let step = p.grad.mapv(|g| g * 0.1);
            *p.value -= &step;
        }
    }
    let (after, _) = loss(&mut model, &input, false);
    let (before_eval, _) = {
        let mut fresh = network::<f32>();
        loss(&mut fresh, &input, false)
    };
    assert!(
        after < before_eval,
        "loss {before_eval} (training-mode {before}) did not fall: {after}"
    );
}

#[test]
fn same_bits_on_one_two_and_four_threads() {
    let input: ArrayD<f32> = tensor(&[5, 6, 6, 2], 22, 1.0);
    let run = || {
        let mut model = network::<f32>();
        let (value, grad) = loss(&mut model, &input, true);
        let dx = model.backward(grad).unwrap();
        let grads: Vec<ArrayD<f32>> = model
            .params()
            .into_iter()
            .map(|(_, p)| p.grad.clone())
            .collect();
        (value, dx, grads)
    };
    let one = with_threads(1, run);
    for threads in [2, 4] {
        assert!(
            one == with_threads(threads, run),
            "{threads} threads differ"
        );
    }
}

#[test]
fn layers_that_do_not_fit_are_errors() {
    let mut model = Model::<f32>::new(&[4, 4, 1]);
    assert!(model
        .push(
            "dense",
            Dense::new(tensor(&[10, 2], 1, 1.0), None, Activation::Linear).unwrap()
        )
        .is_err());
    assert!(model
        .add("add", Add, &[cnn_runtime::model::NodeId(5)])
        .is_err());
    assert!(model
        .forward(ArrayD::zeros(IxDyn(&[1, 3, 3, 1])), false)
        .is_err());
}

#[test]
fn batch_norm_without_center_or_scale_has_keras_parameters() {
    let mut plain = BatchNorm::<f32>::new(3, 1e-3, 0.99, false, false);
    let names: Vec<&str> = Layer::<f32>::params(&mut plain)
        .iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["moving_mean", "moving_variance"]);
    let mut full = BatchNorm::<f32>::new(3, 1e-3, 0.99, true, true);
    let names: Vec<&str> = Layer::<f32>::params(&mut full)
        .iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["gamma", "beta", "moving_mean", "moving_variance"]);
}

#[test]
fn concatenate_joins_flat_vectors_too() {
    let mut model = Model::<f64>::new(&[4]);
    let input = Model::<f64>::INPUT;
    let left = model
        .add(
            "dense_1",
            Dense::new(tensor(&[4, 2], 30, 1.0), None, Activation::Linear).unwrap(),
            &[input],
        )
        .unwrap();
    let right = model
        .add(
            "dense_2",
            Dense::new(tensor(&[4, 3], 31, 1.0), None, Activation::Linear).unwrap(),
            &[input],
        )
        .unwrap();
    model
        .add("concatenate_1", Concatenate, &[left, right])
        .unwrap();
    assert_eq!(model.output_shape(), &[5]);
    let x: ArrayD<f64> = tensor(&[2, 4], 32, 1.0);
    let y = model.forward(x, true).unwrap().clone();
    assert_eq!(y.shape(), &[2, 5]);
    let dx = model.backward(ArrayD::ones(y.raw_dim())).unwrap();
    assert_eq!(dx.shape(), &[2, 4]);
}

/// Max pooling commutes with a monotone activation: conv → tanh → pool and
/// conv → pool(tanh) give the same outputs and the same gradients.
#[test]
fn activation_after_max_pooling_is_the_same_network() {
    let build = |fused: bool| {
        let mut m = Model::<f64>::new(&[6, 6, 2]);
        let activation = if fused {
            Activation::Linear
        } else {
            Activation::Tanh
        };
        let config = Conv2dConfig {
            activation,
            ..Conv2dConfig::default()
        };
        m.push(
            "conv",
            Conv2d::new(
                &[6, 6, 2],
                tensor(&[3, 3, 2, 3], 40, 0.5),
                Some(tensor(&[3], 41, 0.1)),
                config,
            )
            .unwrap(),
        )
        .unwrap();
        let pool = Pool::new(
            &[4, 4, 3],
            PoolMode::Max,
            [2, 2],
            [2, 2],
            Padding2d::default(),
        )
        .unwrap();
        let pool = if fused {
            pool.with_activation(Activation::Tanh).unwrap()
        } else {
            pool
        };
        m.push("pool", pool).unwrap();
        m
    };
    let x: ArrayD<f64> = tensor(&[3, 6, 6, 2], 42, 1.0);
    let w: ArrayD<f64> = tensor(&[3, 2, 2, 3], 43, 1.0);
    let run = |mut m: Model<f64>| {
        let y = m.forward(x.clone(), true).unwrap().clone();
        let dx = m.backward(w.clone()).unwrap();
        let grads: Vec<ArrayD<f64>> = m
            .params()
            .into_iter()
            .map(|(_, p)| p.grad.clone())
            .collect();
        (y, dx, grads)
    };
    let (separate, fused) = (run(build(false)), run(build(true)));
    assert_eq!(separate.0, fused.0, "outputs differ");
    let close = |a: &ArrayD<f64>, b: &ArrayD<f64>| {
        max_relative_error(a.as_slice().unwrap(), b.as_slice().unwrap()) < 1e-12
    };
    assert!(close(&separate.1, &fused.1), "input gradients differ");
    for (a, b) in separate.2.iter().zip(&fused.2) {
        assert!(close(a, b), "parameter gradients differ");
    }
    let average = Pool::new(
        &[4, 4, 3],
        PoolMode::Average {
            count_padding: false,
        },
        [2, 2],
        [2, 2],
        Padding2d::default(),
    )
    .unwrap();
    assert!(average.with_activation(Activation::Tanh).is_err());
    let max = Pool::new(
        &[4, 4, 3],
        PoolMode::Max,
        [2, 2],
        [2, 2],
        Padding2d::default(),
    )
    .unwrap();
    assert!(max.with_activation(Activation::Swish).is_err());
}

/// Training's backward, which skips the input gradient, leaves the same parameter
/// gradients as the full backward.
#[test]
fn parameter_only_backward_matches_the_full_one() {
    let input: ArrayD<f32> = tensor(&[3, 6, 6, 2], 31, 1.0);
    let grads = |full: bool| {
        let mut model = network::<f32>();
        let out = model.forward(input.clone(), true).unwrap().clone();
        let seed = tensor::<f32>(out.shape(), 32, 1.0);
        if full {
            model.backward(seed).unwrap();
        } else {
            model.backward_params(seed).unwrap();
        }
        model
            .params()
            .into_iter()
            .map(|(_, p)| p.grad.clone())
            .collect::<Vec<_>>()
    };
    let (full, params_only) = (grads(true), grads(false));
    assert!(!full.is_empty());
    assert_eq!(full, params_only);
}
