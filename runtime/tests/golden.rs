//! The kernels against PyTorch: `golden/golden.json` holds PyTorch's outputs and gradients
//! (made by `golden/generate.py`, which says how to run it and where conventions differ).
//! Computed here in f32; matched within rtol 1e-4 and atol 1e-5.

use cnn_runtime::kernels::activation::Activation;
use cnn_runtime::kernels::conv::{conv2d_backward, conv2d_forward, Conv2dGeometry, Padding2d};
use cnn_runtime::kernels::dense::{dense_backward, dense_forward};
use cnn_runtime::kernels::loss::*;
use cnn_runtime::kernels::norm::{batch_norm_train_backward, batch_norm_train_forward};
use cnn_runtime::kernels::pool::*;
use ndarray::{Array1, Array2, Array4, ArrayD, Ix1, Ix2, Ix4, IxDyn};
use serde_json::Value;

fn tensor(case: &Value, key: &str) -> ArrayD<f32> {
    let t = &case[key];
    let shape: Vec<usize> = t["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = t["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

fn t4(case: &Value, key: &str) -> Array4<f32> {
    tensor(case, key).into_dimensionality::<Ix4>().unwrap()
}
fn t2(case: &Value, key: &str) -> Array2<f32> {
    tensor(case, key).into_dimensionality::<Ix2>().unwrap()
}
fn t1(case: &Value, key: &str) -> Array1<f32> {
    tensor(case, key).into_dimensionality::<Ix1>().unwrap()
}

fn pads(case: &Value) -> Padding2d {
    let p: Vec<usize> = case["params"]["padding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    Padding2d {
        top: p[0],
        bottom: p[1],
        left: p[2],
        right: p[3],
    }
}

fn pair(case: &Value, key: &str) -> [usize; 2] {
    let p = case["params"][key].as_array().unwrap();
    [
        p[0].as_u64().unwrap() as usize,
        p[1].as_u64().unwrap() as usize,
    ]
}

/// Fails unless every value is within `1e-5 + 1e-4 · |expected|`.
fn assert_close(case: &str, what: &str, got: &[f32], expected: &[f32]) {
    assert_eq!(
        got.len(),
        expected.len(),
        "{case}: {what} has the wrong size"
    );
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= 1e-5 + 1e-4 * e.abs(),
            "{case}: {what}[{i}] is {g}, PyTorch says {e}"
        );
    }
}

fn check_conv(name: &str, case: &Value) {
    let (x, k, b, y, w) = (
        t4(case, "x"),
        t4(case, "kernel"),
        t1(case, "bias"),
        t4(case, "y"),
        t4(case, "weights"),
    );
    let (_, h, wd, c) = x.dim();
    let g = Conv2dGeometry::new(
        [h, wd, c],
        k.dim().3,
        [k.dim().0, k.dim().1],
        pair(case, "stride"),
        pair(case, "dilation"),
        pads(case),
        case["params"]["groups"].as_u64().unwrap() as usize,
    )
    .unwrap();
    let mut out = Array4::zeros(y.raw_dim());
    conv2d_forward(
        &g,
        x.view(),
        k.view(),
        Some(b.view()),
        Activation::Linear,
        out.view_mut(),
    )
    .unwrap();
    assert_close(
        name,
        "output",
        out.as_slice().unwrap(),
        y.as_slice().unwrap(),
    );
    let (mut dx, mut dk, mut db) = (
        Array4::zeros(x.raw_dim()),
        Array4::zeros(k.raw_dim()),
        Array1::zeros(b.len()),
    );
    conv2d_backward(
        &g,
        x.view(),
        k.view(),
        w.view(),
        Some(dx.view_mut()),
        dk.view_mut(),
        Some(db.view_mut()),
    )
    .unwrap();
    assert_close(
        name,
        "input gradient",
        dx.as_slice().unwrap(),
        t4(case, "dx").as_slice().unwrap(),
    );
    assert_close(
        name,
        "kernel gradient",
        dk.as_slice().unwrap(),
        t4(case, "dkernel").as_slice().unwrap(),
    );
    assert_close(
        name,
        "bias gradient",
        db.as_slice().unwrap(),
        t1(case, "dbias").as_slice().unwrap(),
    );
}

fn check_pool(name: &str, case: &Value, max: bool) {
    let (x, y, w) = (t4(case, "x"), t4(case, "y"), t4(case, "weights"));
    let (_, h, wd, c) = x.dim();
    let g = Pool2dGeometry::new(
        [h, wd, c],
        pair(case, "pool"),
        pair(case, "stride"),
        pads(case),
    )
    .unwrap();
    let mut out = Array4::zeros(y.raw_dim());
    let mut dx = Array4::zeros(x.raw_dim());
    if max {
        let mut arg = Array4::<u32>::zeros(y.raw_dim());
        max_pool2d_forward(&g, x.view(), out.view_mut(), arg.view_mut()).unwrap();
        max_pool2d_backward(&g, arg.view(), w.view(), dx.view_mut()).unwrap();
    } else {
        let count_padding = case["params"]["count_padding"].as_bool().unwrap();
        avg_pool2d_forward(&g, count_padding, x.view(), out.view_mut()).unwrap();
        avg_pool2d_backward(&g, count_padding, w.view(), dx.view_mut()).unwrap();
    }
    assert_close(
        name,
        "output",
        out.as_slice().unwrap(),
        y.as_slice().unwrap(),
    );
    assert_close(
        name,
        "input gradient",
        dx.as_slice().unwrap(),
        t4(case, "dx").as_slice().unwrap(),
    );
}

fn check_batch_norm(name: &str, case: &Value) {
    let x = t4(case, "x");
    let c = x.dim().3;
    let rows = x.len() / c;
    let x2 = x.view().into_shape_with_order((rows, c)).unwrap();
    let (gamma, beta) = (t1(case, "gamma"), t1(case, "beta"));
    let eps = case["params"]["epsilon"].as_f64().unwrap() as f32;
    let momentum = case["params"]["momentum"].as_f64().unwrap() as f32;
    let (mut mm, mut mv) = (Array1::zeros(c), Array1::ones(c));
    let mut y = Array2::zeros((rows, c));
    let cache = batch_norm_train_forward(
        x2,
        gamma.view(),
        beta.view(),
        eps,
        momentum,
        mm.view_mut(),
        mv.view_mut(),
        y.view_mut(),
    )
    .unwrap();
    assert_close(
        name,
        "output",
        y.as_slice().unwrap(),
        t4(case, "y").as_slice().unwrap(),
    );
    assert_close(
        name,
        "moving mean",
        mm.as_slice().unwrap(),
        t1(case, "moving_mean").as_slice().unwrap(),
    );
    let w = t4(case, "weights");
    let w2 = w.view().into_shape_with_order((rows, c)).unwrap();
    let (mut dx, mut dg, mut db) = (Array2::zeros((rows, c)), Array1::zeros(c), Array1::zeros(c));
    batch_norm_train_backward(
        &cache,
        gamma.view(),
        w2,
        dx.view_mut(),
        dg.view_mut(),
        db.view_mut(),
    )
    .unwrap();
    assert_close(
        name,
        "input gradient",
        dx.as_slice().unwrap(),
        t4(case, "dx").as_slice().unwrap(),
    );
    assert_close(
        name,
        "gamma gradient",
        dg.as_slice().unwrap(),
        t1(case, "dgamma").as_slice().unwrap(),
    );
    assert_close(
        name,
        "beta gradient",
        db.as_slice().unwrap(),
        t1(case, "dbeta").as_slice().unwrap(),
    );
}

fn check_dense(name: &str, case: &Value) {
    let (x, k, b, w) = (
        t2(case, "x"),
        t2(case, "kernel"),
        t1(case, "bias"),
        t2(case, "weights"),
    );
    let mut y = Array2::zeros(w.raw_dim());
    dense_forward(
        x.view(),
        k.view(),
        Some(b.view()),
        Activation::Linear,
        y.view_mut(),
    )
    .unwrap();
    assert_close(
        name,
        "output",
        y.as_slice().unwrap(),
        t2(case, "y").as_slice().unwrap(),
    );
    let (mut dx, mut dk, mut db) = (
        Array2::zeros(x.raw_dim()),
        Array2::zeros(k.raw_dim()),
        Array1::zeros(b.len()),
    );
    dense_backward(
        x.view(),
        k.view(),
        w.view(),
        Some(dx.view_mut()),
        dk.view_mut(),
        Some(db.view_mut()),
    )
    .unwrap();
    assert_close(
        name,
        "input gradient",
        dx.as_slice().unwrap(),
        t2(case, "dx").as_slice().unwrap(),
    );
    assert_close(
        name,
        "kernel gradient",
        dk.as_slice().unwrap(),
        t2(case, "dkernel").as_slice().unwrap(),
    );
    assert_close(
        name,
        "bias gradient",
        db.as_slice().unwrap(),
        t1(case, "dbias").as_slice().unwrap(),
    );
}

fn check_loss(name: &str, case: &Value) {
    let input = t2(case, "input");
    let mut grad = Array2::zeros(input.raw_dim());
    let params = &case["params"];
    let loss = match params["loss"].as_str().unwrap() {
        "categorical_crossentropy" => {
            softmax_cross_entropy(input.view(), t2(case, "targets").view(), grad.view_mut())
        }
        "sparse_categorical_crossentropy" => {
            let labels: Vec<usize> = case["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            sparse_softmax_cross_entropy(input.view(), &labels, grad.view_mut())
        }
        "binary_crossentropy" => {
            let from_logits = params["from_logits"].as_bool().unwrap();
            binary_cross_entropy(
                input.view(),
                t2(case, "targets").view(),
                from_logits,
                grad.view_mut(),
            )
        }
        "mean_squared_error" => {
            mean_squared_error(input.view(), t2(case, "targets").view(), grad.view_mut())
        }
        "mean_absolute_error" => {
            mean_absolute_error(input.view(), t2(case, "targets").view(), grad.view_mut())
        }
        other => panic!("unknown loss {other}"),
    }
    .unwrap();
    assert_close(
        name,
        "loss",
        &[loss],
        &[case["loss"].as_f64().unwrap() as f32],
    );
    assert_close(
        name,
        "gradient",
        grad.as_slice().unwrap(),
        t2(case, "grad").as_slice().unwrap(),
    );
}

#[test]
fn kernels_match_pytorch() {
    let golden: Value = serde_json::from_str(include_str!("golden/golden.json")).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 19);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        match case["kind"].as_str().unwrap() {
            "conv2d" => check_conv(name, case),
            "max_pool2d" => check_pool(name, case, true),
            "avg_pool2d" => check_pool(name, case, false),
            "batch_norm" => check_batch_norm(name, case),
            "dense" => check_dense(name, case),
            "loss" => check_loss(name, case),
            other => panic!("{name}: unknown kind {other}"),
        }
    }
}
