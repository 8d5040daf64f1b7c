//! Every kernel but convolution: gradients against central differences in f64, fast
//! kernels against their definitions, and thread-count independence.

mod common;

use cnn_runtime::kernels::activation::{backward_in_place, Activation};
use cnn_runtime::kernels::conv::Padding2d;
use cnn_runtime::kernels::dense::{dense_backward, dense_forward};
use cnn_runtime::kernels::loss::*;
use cnn_runtime::kernels::norm::*;
use cnn_runtime::kernels::pool::*;
use cnn_runtime::kernels::shape_ops::*;
use common::*;
use ndarray::{Array1, Array2, Array4, ArrayD, IxDyn};
use proptest::prelude::*;

/// Checks an analytic gradient against central differences of `loss` at `at`.
fn check(what: &str, at: &[f64], analytic: &[f64], loss: impl Fn(&[f64]) -> f64) {
    let mut params = at.to_vec();
    let numeric = numeric_gradient(&mut params, |p| loss(p));
    let error = max_relative_error(analytic, &numeric);
    assert!(
        error < 1e-7,
        "{what}: gradient off by {error}\nanalytic {analytic:?}\nnumeric  {numeric:?}"
    );
}

#[test]
fn dense_gradients() {
    for (act, seed) in [
        (Activation::Sigmoid, 1),
        (Activation::Relu, 2),
        (Activation::Linear, 3),
    ] {
        let x = random((3, 5), seed);
        let k = random((5, 4), seed + 1);
        let b = random(4, seed + 2);
        let w = random((3, 4), seed + 3);
        let forward = |x: &Array2<f64>, k: &Array2<f64>, b: &Array1<f64>| {
            let mut y = Array2::zeros((3, 4));
            dense_forward(x.view(), k.view(), Some(b.view()), act, y.view_mut()).unwrap();
            y
        };
        let y = forward(&x, &k, &b);
        let mut dy = w.clone();
        backward_in_place(
            act,
            y.view().into_dyn(),
            y.view().into_dyn(),
            dy.view_mut().into_dyn(),
        );
        let (mut dx, mut dk, mut db) = (
            Array2::zeros((3, 5)),
            Array2::zeros((5, 4)),
            Array1::zeros(4),
        );
        dense_backward(
            x.view(),
            k.view(),
            dy.view(),
            Some(dx.view_mut()),
            dk.view_mut(),
            Some(db.view_mut()),
        )
        .unwrap();
        let shape_x = x.raw_dim();
        let shape_k = k.raw_dim();
        check(
            "dense input",
            x.as_slice().unwrap(),
            dx.as_slice().unwrap(),
            |v| {
                (forward(
                    &Array2::from_shape_vec(shape_x, v.to_vec()).unwrap(),
                    &k,
                    &b,
                ) * &w)
                    .sum()
            },
        );
        check(
            "dense kernel",
            k.as_slice().unwrap(),
            dk.as_slice().unwrap(),
            |v| {
                (forward(
                    &x,
                    &Array2::from_shape_vec(shape_k, v.to_vec()).unwrap(),
                    &b,
                ) * &w)
                    .sum()
            },
        );
        check(
            "dense bias",
            b.as_slice().unwrap(),
            db.as_slice().unwrap(),
            |v| (forward(&x, &k, &Array1::from(v.to_vec())) * &w).sum(),
        );
    }
}

#[test]
fn dense_matches_definition_for_small_and_large_batches() {
    for (n, units) in [(1, 300), (2, 70), (100, 10), (65, 65)] {
        let x = random((n, 37), 5);
        let k = random((37, units), 6);
        let b = random(units, 7);
        let mut y = Array2::zeros((n, units));
        dense_forward(
            x.view(),
            k.view(),
            Some(b.view()),
            Activation::Linear,
            y.view_mut(),
        )
        .unwrap();
        let naive = naive_dense(&x, &k, b.as_slice().unwrap());
        assert!(max_relative_error(y.as_slice().unwrap(), naive.as_slice().unwrap()) < 1e-12);
    }
}

/// A pooling case: (input h, w, c), pool, stride, padding (t, b, l, r).
type PoolCase = ([usize; 3], [usize; 2], [usize; 2], [usize; 4]);

const POOL_CASES: &[PoolCase] = &[
    ([6, 6, 2], [2, 2], [2, 2], [0, 0, 0, 0]),
    // Stride that does not divide, overlapping windows.
    ([7, 5, 3], [3, 2], [2, 2], [0, 0, 0, 0]),
    // `same`-style odd padding and explicit padding.
    ([5, 5, 2], [3, 3], [2, 2], [1, 1, 1, 1]),
    ([6, 7, 2], [3, 3], [1, 2], [0, 1, 1, 0]),
    // 1-D pooling as 1 × L.
    ([1, 9, 2], [1, 3], [1, 2], [0, 0, 1, 1]),
];

fn pool_geometry(case: &PoolCase) -> Pool2dGeometry {
    let (input, pool, stride, [t, b, l, r]) = *case;
    Pool2dGeometry::new(
        input,
        pool,
        stride,
        Padding2d {
            top: t,
            bottom: b,
            left: l,
            right: r,
        },
    )
    .unwrap()
}

/// Distinct values, so that a maximum never ties (a tie has no derivative).
fn distinct(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f64> {
    let noise = random(shape, seed);
    let mut i = 0.0;
    noise.mapv(|v| {
        i += 1.0;
        v + i * 1e-3
    })
}

#[test]
fn pooling_gradients() {
    for (index, case) in POOL_CASES.iter().enumerate() {
        let g = pool_geometry(case);
        let x = distinct((2, g.in_h, g.in_w, g.channels), index as u64);
        let w = random((2, g.out_h, g.out_w, g.channels), 50 + index as u64);
        let out_shape = (2, g.out_h, g.out_w, g.channels);
        let max_forward = |x: &Array4<f64>| {
            let mut y = Array4::zeros(out_shape);
            let mut arg = Array4::<u32>::zeros(out_shape);
            max_pool2d_forward(&g, x.view(), y.view_mut(), arg.view_mut()).unwrap();
            (y, arg)
        };
        let (_, arg) = max_forward(&x);
        let mut dx = Array4::zeros(x.raw_dim());
        max_pool2d_backward(&g, arg.view(), w.view(), dx.view_mut()).unwrap();
        let shape = x.raw_dim();
        check(
            &format!("max pool case {index}"),
            x.as_slice().unwrap(),
            dx.as_slice().unwrap(),
            |v| (max_forward(&Array4::from_shape_vec(shape, v.to_vec()).unwrap()).0 * &w).sum(),
        );
        for count_padding in [false, true] {
            let avg_forward = |x: &Array4<f64>| {
                let mut y = Array4::zeros(out_shape);
                avg_pool2d_forward(&g, count_padding, x.view(), y.view_mut()).unwrap();
                y
            };
            let mut dx = Array4::zeros(x.raw_dim());
            avg_pool2d_backward(&g, count_padding, w.view(), dx.view_mut()).unwrap();
            check(
                &format!("average pool case {index}"),
                x.as_slice().unwrap(),
                dx.as_slice().unwrap(),
                |v| (avg_forward(&Array4::from_shape_vec(shape, v.to_vec()).unwrap()) * &w).sum(),
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn pooling_matches_definition(
        ph in 1usize..4, pw in 1usize..4, sh in 1usize..4, sw in 1usize..4,
        extra_h in 0usize..6, extra_w in 0usize..6, pad in 0usize..3, seed in 0u64..1000,
    ) {
        let pad_h = pad.min(ph - 1);
        let pad_w = pad.min(pw - 1);
        let padding = Padding2d { top: pad_h, bottom: 0, left: 0, right: pad_w };
        let g = Pool2dGeometry::new([ph + extra_h, pw + extra_w, 3], [ph, pw], [sh, sw], padding).unwrap();
        let x = random((2, g.in_h, g.in_w, 3), seed);
        let shape = (2, g.out_h, g.out_w, 3);
        let mut y = Array4::zeros(shape);
        let mut arg = Array4::<u32>::zeros(shape);
        max_pool2d_forward(&g, x.view(), y.view_mut(), arg.view_mut()).unwrap();
        prop_assert_eq!(&y, &naive_pool2d(&g, None, &x));
        for count_padding in [false, true] {
            avg_pool2d_forward(&g, count_padding, x.view(), y.view_mut()).unwrap();
            let naive = naive_pool2d(&g, Some(count_padding), &x);
            prop_assert!(max_relative_error(y.as_slice().unwrap(), naive.as_slice().unwrap()) < 1e-12);
        }
    }
}

#[test]
fn global_pooling_gradients() {
    let x = distinct((2, 3, 4, 5), 9);
    let w = random((2, 5), 10);
    for max in [false, true] {
        let forward = |x: &Array4<f64>| {
            let mut y = Array2::zeros((2, 5));
            let mut arg = Array2::<u32>::zeros((2, 5));
            global_pool_forward(max, x.view(), y.view_mut(), Some(arg.view_mut())).unwrap();
            (y, arg)
        };
        let (_, arg) = forward(&x);
        let mut dx = Array4::zeros(x.raw_dim());
        global_pool_backward(max, Some(arg.view()), w.view(), dx.view_mut()).unwrap();
        let shape = x.raw_dim();
        check(
            &format!("global pool (max: {max})"),
            x.as_slice().unwrap(),
            dx.as_slice().unwrap(),
            |v| (forward(&Array4::from_shape_vec(shape, v.to_vec()).unwrap()).0 * &w).sum(),
        );
    }
}

#[test]
fn batch_norm_gradients_in_training_and_inference() {
    let x = random((7, 3), 11);
    let gamma = random(3, 12);
    let beta = random(3, 13);
    let w = random((7, 3), 14);
    let eps = 1e-3;
    let train = |x: &Array2<f64>, gamma: &Array1<f64>, beta: &Array1<f64>| {
        let (mut mm, mut mv) = (Array1::zeros(3), Array1::ones(3));
        let mut y = Array2::zeros((7, 3));
        let cache = batch_norm_train_forward(
            x.view(),
            gamma.view(),
            beta.view(),
            eps,
            0.99,
            mm.view_mut(),
            mv.view_mut(),
            y.view_mut(),
        )
        .unwrap();
        (y, cache)
    };
    let (_, cache) = train(&x, &gamma, &beta);
    let (mut dx, mut dg, mut db) = (Array2::zeros((7, 3)), Array1::zeros(3), Array1::zeros(3));
    batch_norm_train_backward(
        &cache,
        gamma.view(),
        w.view(),
        dx.view_mut(),
        dg.view_mut(),
        db.view_mut(),
    )
    .unwrap();
    let shape = x.raw_dim();
    check(
        "batch norm input",
        x.as_slice().unwrap(),
        dx.as_slice().unwrap(),
        |v| {
            (train(
                &Array2::from_shape_vec(shape, v.to_vec()).unwrap(),
                &gamma,
                &beta,
            )
            .0 * &w)
                .sum()
        },
    );
    check(
        "batch norm gamma",
        gamma.as_slice().unwrap(),
        dg.as_slice().unwrap(),
        |v| (train(&x, &Array1::from(v.to_vec()), &beta).0 * &w).sum(),
    );
    check(
        "batch norm beta",
        beta.as_slice().unwrap(),
        db.as_slice().unwrap(),
        |v| (train(&x, &gamma, &Array1::from(v.to_vec())).0 * &w).sum(),
    );

    let mean = random(3, 15);
    let variance = random(3, 16).mapv(|v| v.abs() + 0.5);
    let infer = |x: &Array2<f64>, gamma: &Array1<f64>, beta: &Array1<f64>| {
        let mut y = Array2::zeros((7, 3));
        batch_norm_inference_forward(
            x.view(),
            gamma.view(),
            beta.view(),
            eps,
            mean.view(),
            variance.view(),
            y.view_mut(),
        )
        .unwrap();
        y
    };
    let (mut dx, mut dg, mut db) = (Array2::zeros((7, 3)), Array1::zeros(3), Array1::zeros(3));
    batch_norm_inference_backward(
        x.view(),
        gamma.view(),
        eps,
        mean.view(),
        variance.view(),
        w.view(),
        dx.view_mut(),
        dg.view_mut(),
        db.view_mut(),
    )
    .unwrap();
    check(
        "batch norm inference input",
        x.as_slice().unwrap(),
        dx.as_slice().unwrap(),
        |v| {
            (infer(
                &Array2::from_shape_vec(shape, v.to_vec()).unwrap(),
                &gamma,
                &beta,
            ) * &w)
                .sum()
        },
    );
    check(
        "batch norm inference gamma",
        gamma.as_slice().unwrap(),
        dg.as_slice().unwrap(),
        |v| (infer(&x, &Array1::from(v.to_vec()), &beta) * &w).sum(),
    );
    check(
        "batch norm inference beta",
        beta.as_slice().unwrap(),
        db.as_slice().unwrap(),
        |v| (infer(&x, &gamma, &Array1::from(v.to_vec())) * &w).sum(),
    );
}

#[test]
fn batch_norm_updates_moving_statistics_as_keras() {
    let x = ndarray::arr2(&[[1.0, 10.0], [3.0, 30.0]]);
    let (mut mm, mut mv) = (Array1::<f64>::zeros(2), Array1::<f64>::ones(2));
    let mut y = Array2::zeros((2, 2));
    batch_norm_train_forward(
        x.view(),
        Array1::ones(2).view(),
        Array1::zeros(2).view(),
        1e-3,
        0.9,
        mm.view_mut(),
        mv.view_mut(),
        y.view_mut(),
    )
    .unwrap();
    // Batch mean (2, 20), biased variance (1, 100).
    assert!((mm[0] - 0.2).abs() < 1e-12 && (mm[1] - 2.0).abs() < 1e-12);
    assert!((mv[0] - 1.0).abs() < 1e-12 && (mv[1] - (0.9 + 10.0)).abs() < 1e-12);
}

#[test]
fn loss_gradients() {
    let logits = random((4, 5), 20);
    let targets = random((4, 5), 21).mapv(f64::abs);
    let targets = &targets
        / &targets
            .sum_axis(ndarray::Axis(1))
            .insert_axis(ndarray::Axis(1));
    let labels = [0usize, 3, 4, 1];
    let probabilities = random((4, 5), 22).mapv(|v| 0.1 + 0.8 * (v + 1.0) / 2.0);
    let binary = random((4, 5), 23).mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
    let shape = logits.raw_dim();
    let matrix = |v: &[f64]| Array2::from_shape_vec(shape, v.to_vec()).unwrap();
    type LossFn<'a> = Box<dyn Fn(&Array2<f64>, &mut Array2<f64>) -> f64 + 'a>;
    let cases: Vec<(&str, &Array2<f64>, LossFn)> = vec![
        (
            "categorical cross-entropy",
            &logits,
            Box::new(|z, g| softmax_cross_entropy(z.view(), targets.view(), g.view_mut()).unwrap()),
        ),
        (
            "sparse categorical cross-entropy",
            &logits,
            Box::new(|z, g| sparse_softmax_cross_entropy(z.view(), &labels, g.view_mut()).unwrap()),
        ),
        (
            "binary cross-entropy from logits",
            &logits,
            Box::new(|z, g| {
                binary_cross_entropy(z.view(), binary.view(), true, g.view_mut()).unwrap()
            }),
        ),
        (
            "binary cross-entropy",
            &probabilities,
            Box::new(|p, g| {
                binary_cross_entropy(p.view(), binary.view(), false, g.view_mut()).unwrap()
            }),
        ),
        (
            "mean squared error",
            &logits,
            Box::new(|p, g| mean_squared_error(p.view(), targets.view(), g.view_mut()).unwrap()),
        ),
        (
            "mean absolute error",
            &logits,
            Box::new(|p, g| mean_absolute_error(p.view(), targets.view(), g.view_mut()).unwrap()),
        ),
    ];
    for (what, at, loss) in cases {
        let mut grad = Array2::zeros(at.raw_dim());
        loss(at, &mut grad);
        check(
            what,
            at.as_slice().unwrap(),
            grad.as_slice().unwrap(),
            |v| {
                let mut scratch = Array2::zeros(shape);
                loss(&matrix(v), &mut scratch)
            },
        );
    }
}

#[test]
fn cross_entropy_values_match_the_formula() {
    // -ln(softmax(z)[label]) averaged: z = (0, ln 3) gives p = (1/4, 3/4).
    let z = ndarray::arr2(&[[0.0, 3f64.ln()]]);
    let mut g = Array2::zeros((1, 2));
    let loss = sparse_softmax_cross_entropy(z.view(), &[1], g.view_mut()).unwrap();
    assert!((loss - (4.0f64 / 3.0).ln()).abs() < 1e-12);
    assert!((g[[0, 0]] - 0.25).abs() < 1e-12 && (g[[0, 1]] + 0.25).abs() < 1e-12);
    assert!(sparse_softmax_cross_entropy(z.view(), &[2], g.view_mut()).is_err());
}

#[test]
fn softmax_and_penalty_gradients() {
    let z = random((3, 4), 30);
    let w = random((3, 4), 31);
    let softmax = |z: &Array2<f64>| {
        let mut p = Array2::zeros(z.raw_dim());
        softmax_rows(z.view(), p.view_mut()).unwrap();
        p
    };
    let p = softmax(&z);
    let mut dz = Array2::zeros(z.raw_dim());
    softmax_rows_backward(p.view(), w.view(), dz.view_mut()).unwrap();
    let shape = z.raw_dim();
    check(
        "softmax",
        z.as_slice().unwrap(),
        dz.as_slice().unwrap(),
        |v| (softmax(&Array2::from_shape_vec(shape, v.to_vec()).unwrap()) * &w).sum(),
    );

    let weights = random(6, 32);
    let mut grad = Array1::zeros(6);
    weight_penalty(weights.view(), 0.01, 0.1, grad.view_mut()).unwrap();
    check(
        "l1_l2 penalty",
        weights.as_slice().unwrap(),
        grad.as_slice().unwrap(),
        |v| {
            let mut scratch = Array1::zeros(6);
            weight_penalty(
                Array1::from(v.to_vec()).view(),
                0.01,
                0.1,
                scratch.view_mut(),
            )
            .unwrap()
        },
    );
}

#[test]
fn padding_concat_add_and_prelu_gradients() {
    let x = random((2, 3, 4, 2), 40);
    let padding = Padding2d {
        top: 1,
        bottom: 2,
        left: 0,
        right: 1,
    };
    let w = random((2, 6, 5, 2), 41);
    let pad = |x: &Array4<f64>| {
        let mut y = Array4::zeros((2, 6, 5, 2));
        zero_pad2d_forward(padding, x.view(), y.view_mut()).unwrap();
        y
    };
    let mut dx = Array4::zeros(x.raw_dim());
    zero_pad2d_backward(padding, w.view(), dx.view_mut()).unwrap();
    let shape = x.raw_dim();
    check(
        "zero padding",
        x.as_slice().unwrap(),
        dx.as_slice().unwrap(),
        |v| (pad(&Array4::from_shape_vec(shape, v.to_vec()).unwrap()) * &w).sum(),
    );

    let a = random((2, 3, 4, 2), 42);
    let b = random((2, 3, 4, 3), 43);
    let mut joined = Array4::zeros((2, 3, 4, 5));
    concat_channels_forward(
        &[a.view().into_dyn(), b.view().into_dyn()],
        joined.view_mut().into_dyn(),
    )
    .unwrap();
    let (mut da, mut db) = (Array4::zeros(a.raw_dim()), Array4::zeros(b.raw_dim()));
    concat_channels_backward(
        joined.view().into_dyn(),
        &mut [da.view_mut().into_dyn(), db.view_mut().into_dyn()],
    )
    .unwrap();
    assert_eq!(
        (da, db),
        (a.clone(), b.clone()),
        "concatenate then split is the identity"
    );

    let mut sum = ArrayD::zeros(IxDyn(&[2, 3, 4, 2]));
    add_forward(
        &[
            a.view().into_dyn(),
            a.view().into_dyn(),
            x.view().into_dyn(),
        ],
        sum.view_mut(),
    )
    .unwrap();
    assert_eq!(sum, (&a * 2.0 + &x).into_dyn());

    // PReLU with the slope shared over height and width (one α per channel).
    let alpha = random((1, 1, 2), 44).into_dyn();
    let input = random((2, 3, 4, 2), 45).into_dyn();
    let w = random((2, 3, 4, 2), 46).into_dyn();
    let prelu = |alpha: &ArrayD<f64>, x: &ArrayD<f64>| {
        let mut y = ArrayD::zeros(x.raw_dim());
        prelu_forward(alpha.view(), x.view(), y.view_mut()).unwrap();
        y
    };
    let (mut dx, mut da) = (
        ArrayD::zeros(input.raw_dim()),
        ArrayD::zeros(alpha.raw_dim()),
    );
    prelu_backward(
        alpha.view(),
        input.view(),
        w.view(),
        dx.view_mut(),
        da.view_mut(),
    )
    .unwrap();
    let (xs, als) = (input.raw_dim(), alpha.raw_dim());
    check(
        "prelu input",
        input.as_slice().unwrap(),
        dx.as_slice().unwrap(),
        |v| {
            (prelu(
                &alpha,
                &ArrayD::from_shape_vec(xs.clone(), v.to_vec()).unwrap(),
            ) * &w)
                .sum()
        },
    );
    check(
        "prelu alpha",
        alpha.as_slice().unwrap(),
        da.as_slice().unwrap(),
        |v| {
            (prelu(
                &ArrayD::from_shape_vec(als.clone(), v.to_vec()).unwrap(),
                &input,
            ) * &w)
                .sum()
        },
    );
}

#[test]
fn dropout_is_seeded_inverted_and_its_mask_routes_gradients() {
    let x = ArrayD::from_elem(IxDyn(&[1000]), 1.0f64);
    let run = |seed| {
        let (mut mask, mut y) = (ArrayD::zeros(x.raw_dim()), ArrayD::zeros(x.raw_dim()));
        dropout_forward(0.25, seed, x.view(), mask.view_mut(), y.view_mut()).unwrap();
        (mask, y)
    };
    let (mask, y) = run(7);
    assert_eq!(run(7).1, y, "the same seed gives the same mask");
    assert_ne!(run(8).1, y);
    let kept = y.iter().filter(|&&v| v > 0.0).count();
    assert!(
        (700..800).contains(&kept),
        "kept {kept} of 1000 at rate 0.25"
    );
    assert!(y.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-12));
    let mut dx = ArrayD::zeros(x.raw_dim());
    mask_backward(mask.view(), x.view(), dx.view_mut()).unwrap();
    assert_eq!(dx, y);
    let mut bad = ArrayD::zeros(x.raw_dim());
    assert!(dropout_forward(
        1.0,
        1,
        x.view(),
        bad.view_mut(),
        ArrayD::zeros(x.raw_dim()).view_mut()
    )
    .is_err());
}

#[test]
fn same_bits_on_one_two_and_four_threads() {
    let x = random_f32((300, 70), 60);
    let k = random_f32((70, 50), 61);
    let dy = random_f32((300, 50), 62);
    let image = random_f32((5, 9, 9, 4), 63);
    let g = Pool2dGeometry::new(
        [9, 9, 4],
        [3, 3],
        [2, 2],
        Padding2d {
            top: 1,
            bottom: 1,
            left: 1,
            right: 1,
        },
    )
    .unwrap();
    let run = || {
        let mut y = Array2::<f32>::zeros((300, 50));
        dense_forward(x.view(), k.view(), None, Activation::Tanh, y.view_mut()).unwrap();
        let (mut dx, mut dk, mut db) = (
            Array2::<f32>::zeros((300, 70)),
            Array2::<f32>::zeros((70, 50)),
            Array1::<f32>::zeros(50),
        );
        dense_backward(
            x.view(),
            k.view(),
            dy.view(),
            Some(dx.view_mut()),
            dk.view_mut(),
            Some(db.view_mut()),
        )
        .unwrap();
        let (mut mm, mut mv) = (Array1::<f32>::zeros(50), Array1::<f32>::ones(50));
        let mut bn = Array2::<f32>::zeros((300, 50));
        let cache = batch_norm_train_forward(
            dy.view(),
            Array1::ones(50).view(),
            Array1::zeros(50).view(),
            1e-3,
            0.99,
            mm.view_mut(),
            mv.view_mut(),
            bn.view_mut(),
        )
        .unwrap();
        let (mut bdx, mut bdg, mut bdb) = (
            Array2::<f32>::zeros((300, 50)),
            Array1::<f32>::zeros(50),
            Array1::<f32>::zeros(50),
        );
        batch_norm_train_backward(
            &cache,
            Array1::ones(50).view(),
            y.view(),
            bdx.view_mut(),
            bdg.view_mut(),
            bdb.view_mut(),
        )
        .unwrap();
        let mut pooled = Array4::<f32>::zeros((5, g.out_h, g.out_w, 4));
        avg_pool2d_forward(&g, false, image.view(), pooled.view_mut()).unwrap();
        (y, dx, dk, db, bn, mm, mv, bdx, bdg, bdb, pooled)
    };
    let one = with_threads(1, run);
    for threads in [2, 4] {
        assert!(
            one == with_threads(threads, run),
            "{threads} threads differ"
        );
    }
}
