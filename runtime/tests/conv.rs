//! Convolution: the fast kernel against the definition, gradients against central
//! differences in f64, and bit-identical results on 1, 2 and 4 threads.

mod common;

use cnn_runtime::kernels::activation::{backward_in_place, Activation};
use cnn_runtime::kernels::conv::{conv2d_backward, conv2d_forward, Conv2dGeometry, Padding2d};
use common::*;
use ndarray::{Array1, Array4};
use proptest::prelude::*;

fn forward(
    g: &Conv2dGeometry,
    x: &Array4<f64>,
    k: &Array4<f64>,
    b: &Array1<f64>,
    act: Activation,
) -> Array4<f64> {
    let mut y = Array4::zeros((x.shape()[0], g.out_h, g.out_w, g.filters));
    conv2d_forward(g, x.view(), k.view(), Some(b.view()), act, y.view_mut()).unwrap();
    y
}

/// (input h, w, c), filters, kernel, stride, dilation, padding (t, b, l, r), groups.
type Case = (
    [usize; 3],
    usize,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    [usize; 4],
    usize,
);

const CASES: &[Case] = &[
    ([5, 5, 3], 4, [3, 3], [1, 1], [1, 1], [0, 0, 0, 0], 1),
    // The direct kernel (few channels and filters) with a kernel wider than it is tall.
    ([6, 8, 2], 3, [2, 3], [1, 1], [1, 1], [0, 0, 0, 0], 1),
    // Stride that does not divide the input.
    ([7, 6, 2], 3, [3, 2], [2, 3], [1, 1], [0, 0, 0, 0], 1),
    // TensorFlow's odd `same` padding: more after than before.
    ([6, 6, 2], 3, [4, 4], [2, 2], [1, 1], [1, 2, 1, 2], 1),
    // Explicit PyTorch-style padding and dilation.
    ([6, 7, 2], 2, [3, 3], [1, 2], [2, 2], [2, 2, 1, 1], 1),
    // Groups, and depthwise (groups = channels, two filters per channel).
    ([5, 5, 4], 6, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 2),
    ([5, 5, 3], 6, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], 3),
    // Pointwise fast path.
    ([4, 4, 5], 3, [1, 1], [1, 1], [1, 1], [0, 0, 0, 0], 1),
    // 1-D convolution as 1 × L.
    ([1, 9, 2], 3, [1, 3], [1, 2], [1, 1], [0, 0, 1, 1], 1),
];

fn geometry(case: &Case) -> Conv2dGeometry {
    let (input, filters, kernel, stride, dilation, [t, b, l, r], groups) = *case;
    let padding = Padding2d {
        top: t,
        bottom: b,
        left: l,
        right: r,
    };
    Conv2dGeometry::new(input, filters, kernel, stride, dilation, padding, groups).unwrap()
}

#[test]
fn gradients_match_central_differences() {
    for (index, case) in CASES.iter().enumerate() {
        let g = geometry(case);
        let n = 2;
        let seed = index as u64 * 10;
        let x = random((n, g.in_h, g.in_w, g.in_c), seed);
        let k = random(
            (g.kernel_h, g.kernel_w, g.group_channels(), g.filters),
            seed + 1,
        );
        let b = random(g.filters, seed + 2);
        let weights = random((n, g.out_h, g.out_w, g.filters), seed + 3);
        let act = Activation::Tanh;
        let loss = |x: &Array4<f64>, k: &Array4<f64>, b: &Array1<f64>| {
            (forward(&g, x, k, b, act) * &weights).sum()
        };

        let y = forward(&g, &x, &k, &b, act);
        let mut dy = weights.clone();
        backward_in_place(
            act,
            y.view().into_dyn(),
            y.view().into_dyn(),
            dy.view_mut().into_dyn(),
        );
        let mut dx = Array4::zeros(x.raw_dim());
        let mut dk = Array4::zeros(k.raw_dim());
        let mut db = Array1::zeros(b.raw_dim());
        conv2d_backward(
            &g,
            x.view(),
            k.view(),
            dy.view(),
            Some(dx.view_mut()),
            dk.view_mut(),
            Some(db.view_mut()),
        )
        .unwrap();

        let mut xs = x.as_slice().unwrap().to_vec();
        let numeric_dx = numeric_gradient(&mut xs, |v| {
            loss(
                &Array4::from_shape_vec(x.raw_dim(), v.to_vec()).unwrap(),
                &k,
                &b,
            )
        });
        let mut ks = k.as_slice().unwrap().to_vec();
        let numeric_dk = numeric_gradient(&mut ks, |v| {
            loss(
                &x,
                &Array4::from_shape_vec(k.raw_dim(), v.to_vec()).unwrap(),
                &b,
            )
        });
        let mut bs = b.to_vec();
        let numeric_db = numeric_gradient(&mut bs, |v| loss(&x, &k, &Array1::from(v.to_vec())));
        for (what, analytic, numeric) in [
            ("input", dx.as_slice().unwrap(), numeric_dx.as_slice()),
            ("kernel", dk.as_slice().unwrap(), numeric_dk.as_slice()),
            ("bias", db.as_slice().unwrap(), numeric_db.as_slice()),
        ] {
            let error = max_relative_error(analytic, numeric);
            assert!(
                error < 1e-7,
                "case {index} {case:?}: {what} gradient off by {error}"
            );
        }
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        1usize..4,
        1usize..4,
        1usize..4,
        1usize..3,
        1usize..3,
        1usize..3,
        0usize..3,
        0usize..3,
        1usize..4,
        1usize..3,
    )
        .prop_flat_map(|(kh, kw, groups, sh, sw, d, pad_a, pad_b, cg, fg)| {
            let c = groups * cg;
            let f = groups * fg;
            let min_h = (kh - 1) * d + 1;
            let min_w = (kw - 1) * d + 1;
            (min_h..min_h + 6, min_w..min_w + 6).prop_map(move |(h, w)| {
                (
                    [h, w, c],
                    f,
                    [kh, kw],
                    [sh, sw],
                    [d, d],
                    [pad_a, pad_b, pad_b, pad_a],
                    groups,
                )
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn fast_forward_matches_definition(case in case_strategy(), seed in 0u64..1000) {
        let g = geometry(&case);
        let x = random((2, g.in_h, g.in_w, g.in_c), seed);
        let k = random((g.kernel_h, g.kernel_w, g.group_channels(), g.filters), seed + 1);
        let b = random(g.filters, seed + 2);
        let fast = forward(&g, &x, &k, &b, Activation::Linear);
        let naive = naive_conv2d(&g, &x, &k, Some(b.as_slice().unwrap()));
        let error = max_relative_error(fast.as_slice().unwrap(), naive.as_slice().unwrap());
        prop_assert!(error < 1e-12, "{case:?}: off by {error}");
    }
}

#[test]
fn same_bits_on_one_two_and_four_threads() {
    let g = Conv2dGeometry::new(
        [19, 17, 8],
        16,
        [3, 3],
        [2, 1],
        [1, 1],
        Padding2d {
            top: 1,
            bottom: 1,
            left: 1,
            right: 1,
        },
        2,
    )
    .unwrap();
    let n = 9;
    let x = random_f32((n, g.in_h, g.in_w, g.in_c), 1);
    let k = random_f32((3, 3, g.group_channels(), g.filters), 2);
    let b = random_f32(g.filters, 3);
    let dy = random_f32((n, g.out_h, g.out_w, g.filters), 4);
    let run = || {
        let mut y = Array4::<f32>::zeros((n, g.out_h, g.out_w, g.filters));
        conv2d_forward(
            &g,
            x.view(),
            k.view(),
            Some(b.view()),
            Activation::Relu,
            y.view_mut(),
        )
        .unwrap();
        let mut dx = Array4::<f32>::zeros(x.raw_dim());
        let mut dk = Array4::<f32>::zeros(k.raw_dim());
        let mut db = Array1::<f32>::zeros(g.filters);
        conv2d_backward(
            &g,
            x.view(),
            k.view(),
            dy.view(),
            Some(dx.view_mut()),
            dk.view_mut(),
            Some(db.view_mut()),
        )
        .unwrap();
        (y, dx, dk, db)
    };
    let one = with_threads(1, run);
    for threads in [2, 4] {
        let other = with_threads(threads, run);
        assert!(
            one.0 == other.0 && one.1 == other.1 && one.2 == other.2 && one.3 == other.3,
            "{threads} threads differ"
        );
    }
}

#[test]
fn wrong_shapes_are_errors() {
    let g = geometry(&CASES[0]);
    let x = Array4::<f32>::zeros((1, 5, 5, 2));
    let k = Array4::<f32>::zeros((3, 3, 3, 4));
    let mut y = Array4::<f32>::zeros((1, 3, 3, 4));
    assert!(conv2d_forward(
        &g,
        x.view(),
        k.view(),
        None,
        Activation::Linear,
        y.view_mut()
    )
    .is_err());
    assert!(Conv2dGeometry::new(
        [2, 2, 1],
        1,
        [3, 3],
        [1, 1],
        [1, 1],
        Padding2d::default(),
        1
    )
    .is_err());
    assert!(Conv2dGeometry::new(
        [5, 5, 3],
        4,
        [3, 3],
        [1, 1],
        [1, 1],
        Padding2d::default(),
        2
    )
    .is_err());
}

#[test]
fn kept_patches_give_the_same_gradients() {
    use cnn_runtime::kernels::conv::{
        conv2d_backward_with_patches, conv2d_forward_keeping_patches,
    };
    for case in CASES.iter().filter(|c| c.6 == 1) {
        let g = geometry(case);
        let n = 3;
        let x = random_f32((n, g.in_h, g.in_w, g.in_c), 70);
        let k = random_f32((g.kernel_h, g.kernel_w, g.group_channels(), g.filters), 71);
        let dy = random_f32((n, g.out_h, g.out_w, g.filters), 72);
        let mut y = Array4::<f32>::zeros((n, g.out_h, g.out_w, g.filters));
        let mut y_plain = y.clone();
        let mut patches = Vec::new();
        let kept = conv2d_forward_keeping_patches(
            &g,
            x.view(),
            k.view(),
            None,
            Activation::Linear,
            y.view_mut(),
            &mut patches,
        )
        .unwrap();
        conv2d_forward(
            &g,
            x.view(),
            k.view(),
            None,
            Activation::Linear,
            y_plain.view_mut(),
        )
        .unwrap();
        // Small layers run forward without a patch matrix, summing in another order.
        let (a, b) = (y.mapv(f64::from), y_plain.mapv(f64::from));
        let error = max_relative_error(a.as_slice().unwrap(), b.as_slice().unwrap());
        assert!(
            error < 1e-5,
            "{case:?}: keeping patches changed the output by {error}"
        );
        let gradients = |patches: Option<&[f32]>| {
            let mut dx = Array4::<f32>::zeros(x.raw_dim());
            let mut dk = Array4::<f32>::zeros(k.raw_dim());
            conv2d_backward_with_patches(
                &g,
                x.view(),
                k.view(),
                dy.view(),
                Some(dx.view_mut()),
                dk.view_mut(),
                None,
                patches,
            )
            .unwrap();
            (dx, dk)
        };
        assert_eq!(
            gradients(kept.then_some(patches.as_slice())),
            gradients(None),
            "{case:?}"
        );
        assert!(conv2d_backward_with_patches(
            &g,
            x.view(),
            k.view(),
            dy.view(),
            None,
            Array4::zeros(k.raw_dim()).view_mut(),
            None,
            Some(&[0.0f32; 3])
        )
        .is_err());
    }
}
