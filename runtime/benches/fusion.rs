//! What fusing the bias and activation into the convolution's and dense layer's epilogue
//! buys: the fused kernel against the same product followed by separate passes that add the
//! bias and apply the activation over the whole output, as a framework with one kernel per
//! operator does; and, for backward, the activation's derivative applied on the way in, in
//! the pass that also sums the bias gradient, against a copy, a derivative pass and a column
//! sum. Single-threaded, so the numbers compare memory traffic, not scheduling.

use cnn_runtime::kernels::activation::{
    backward_in_place, forward_in_place, pre_activation_grad, Activation,
};
use cnn_runtime::kernels::conv::{conv2d_forward, Conv2dGeometry, Padding2d};
use cnn_runtime::kernels::dense::dense_forward;
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array1, Array2, Array4, Axis};

/// Every case runs on one thread, so the numbers compare memory traffic, not scheduling.
fn one_thread() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool")
}

/// A convolution to time: input `[h, w, c]`, filters, square kernel, padding on every side.
struct ConvCase {
    input: [usize; 3],
    filters: usize,
    kernel: usize,
    pad: usize,
}

fn conv_case(c: &mut Criterion, name: &str, case: ConvCase, batch: usize, activation: Activation) {
    let ConvCase {
        input,
        filters,
        kernel,
        pad,
    } = case;
    let padding = Padding2d {
        top: pad,
        bottom: pad,
        left: pad,
        right: pad,
    };
    let g =
        Conv2dGeometry::new(input, filters, [kernel, kernel], [1, 1], [1, 1], padding, 1).unwrap();
    let x = Array4::from_shape_fn((batch, input[0], input[1], input[2]), |(a, b, c, d)| {
        ((a + 3 * b + 5 * c + 7 * d) % 17) as f32 / 17.0 - 0.5
    });
    let k = Array4::from_shape_fn((kernel, kernel, input[2], filters), |(a, b, c, d)| {
        ((a + b + 2 * c + 3 * d) % 13) as f32 / 13.0 - 0.5
    });
    let bias = Array1::from_shape_fn(filters, |f| f as f32 * 0.01);
    let mut y = Array4::<f32>::zeros((batch, g.out_h, g.out_w, filters));
    let pool = one_thread();
    let mut group = c.benchmark_group(format!("fusion/{name}"));
    group.bench_function("fused", |b| {
        pool.install(|| {
            b.iter(|| {
                conv2d_forward(
                    &g,
                    x.view(),
                    k.view(),
                    Some(bias.view()),
                    activation,
                    y.view_mut(),
                )
                .unwrap()
            })
        })
    });
    group.bench_function("separate_passes", |b| {
        pool.install(|| {
            b.iter(|| {
                conv2d_forward(
                    &g,
                    x.view(),
                    k.view(),
                    None,
                    Activation::Linear,
                    y.view_mut(),
                )
                .unwrap();
                y += &bias;
                forward_in_place(activation, y.view_mut().into_dyn());
            })
        })
    });
    group.finish();
}

fn dense_case(
    c: &mut Criterion,
    name: &str,
    inputs: usize,
    units: usize,
    batch: usize,
    activation: Activation,
) {
    let x = Array2::from_shape_fn((batch, inputs), |(a, b)| {
        ((a + 3 * b) % 17) as f32 / 17.0 - 0.5
    });
    let k = Array2::from_shape_fn((inputs, units), |(a, b)| {
        ((2 * a + b) % 13) as f32 / 13.0 - 0.5
    });
    let bias = Array1::from_shape_fn(units, |f| f as f32 * 0.01);
    let mut y = Array2::<f32>::zeros((batch, units));
    let pool = one_thread();
    let mut group = c.benchmark_group(format!("fusion/{name}"));
    group.bench_function("fused", |b| {
        pool.install(|| {
            b.iter(|| {
                dense_forward(
                    x.view(),
                    k.view(),
                    Some(bias.view()),
                    activation,
                    y.view_mut(),
                )
                .unwrap()
            })
        })
    });
    group.bench_function("separate_passes", |b| {
        pool.install(|| {
            b.iter(|| {
                dense_forward(x.view(), k.view(), None, Activation::Linear, y.view_mut()).unwrap();
                for mut row in y.axis_iter_mut(Axis(0)) {
                    row += &bias;
                }
                forward_in_place(activation, y.view_mut().into_dyn());
            })
        })
    });
    group.finish();
}

/// Convolution, monotone activation and 2×2 max pooling, with the activation in the
/// convolution's epilogue (before pooling) or applied by the pool (after it).
fn pooled_activation_case(
    c: &mut Criterion,
    name: &str,
    case: ConvCase,
    batch: usize,
    activation: Activation,
) {
    use cnn_runtime::layers::{Conv2d, Conv2dConfig, Pool, PoolMode};
    use cnn_runtime::model::Model;
    use ndarray::{ArrayD, IxDyn};
    let ConvCase {
        input,
        filters,
        kernel,
        pad,
    } = case;
    let out = input[0] + 2 * pad - kernel + 1;
    let build = |after_pool: bool| {
        let mut m = Model::<f32>::new(&input);
        let config = Conv2dConfig {
            activation: if after_pool {
                Activation::Linear
            } else {
                activation
            },
            ..Conv2dConfig::default()
        };
        let k = ArrayD::from_shape_fn(IxDyn(&[kernel, kernel, input[2], filters]), |i| {
            (i[0] + i[3]) as f32 * 0.01
        });
        m.push("conv", Conv2d::new(&input, k, None, config).unwrap())
            .unwrap();
        let pool = Pool::new(
            &[out, out, filters],
            PoolMode::Max,
            [2, 2],
            [2, 2],
            Padding2d::default(),
        )
        .unwrap();
        let pool = if after_pool {
            pool.with_activation(activation).unwrap()
        } else {
            pool
        };
        m.push("pool", pool).unwrap();
        m
    };
    let x = ArrayD::from_shape_fn(IxDyn(&[batch, input[0], input[1], input[2]]), |i| {
        ((i[1] * 7 + i[2] * 3) % 11) as f32 * 0.1 - 0.5
    });
    let pool = one_thread();
    let mut group = c.benchmark_group(format!("fusion/{name}"));
    for (label, after_pool) in [
        ("activation_before_pool", false),
        ("activation_in_pool", true),
    ] {
        let mut model = build(after_pool);
        group.bench_function(label, |b| {
            pool.install(|| b.iter(|| model.forward(x.clone(), false).unwrap().len()))
        });
    }
    group.finish();
}

/// The start of a fused layer's backward over an output of `rows × channels`:
/// `dz = dy · f'(y)` and the bias gradient `Σ_rows dz`.
fn backward_prologue_case(
    c: &mut Criterion,
    name: &str,
    rows: usize,
    channels: usize,
    activation: Activation,
) {
    use ndarray::{ArrayD, IxDyn};
    let shape = IxDyn(&[rows, channels]);
    let y = ArrayD::from_shape_fn(shape.clone(), |i| {
        ((i[0] * 7 + i[1] * 3) % 11) as f32 * 0.1 - 0.5
    });
    let dy = ArrayD::from_shape_fn(shape, |i| ((i[0] + 5 * i[1]) % 13) as f32 * 0.01);
    let mut bias_grad = vec![0.0f32; channels];
    let pool = one_thread();
    let mut group = c.benchmark_group(format!("fusion/{name}"));
    group.bench_function("fused", |b| {
        pool.install(|| {
            b.iter(|| pre_activation_grad(activation, &y, &y, &dy, Some(&mut bias_grad)).0)
        })
    });
    group.bench_function("separate_passes", |b| {
        pool.install(|| {
            b.iter(|| {
                let mut dz = dy.clone();
                backward_in_place(activation, y.view(), y.view(), dz.view_mut());
                (dz.sum_axis(Axis(0)), dz)
            })
        })
    });
    group.finish();
}

fn fusion(c: &mut Criterion) {
    let lenet = ConvCase {
        input: [32, 32, 1],
        filters: 6,
        kernel: 5,
        pad: 0,
    };
    conv_case(c, "lenet5_conv1_tanh_b64", lenet, 64, Activation::Tanh);
    let mnist = ConvCase {
        input: [28, 28, 1],
        filters: 3,
        kernel: 3,
        pad: 0,
    };
    conv_case(c, "mnist_conv1_relu_b64", mnist, 64, Activation::Relu);
    let vgg = ConvCase {
        input: [56, 56, 64],
        filters: 64,
        kernel: 3,
        pad: 1,
    };
    conv_case(c, "vgg_conv_relu_b4", vgg, 4, Activation::Relu);
    let lenet = ConvCase {
        input: [32, 32, 1],
        filters: 6,
        kernel: 5,
        pad: 0,
    };
    pooled_activation_case(
        c,
        "lenet5_conv1_tanh_maxpool_b64",
        lenet,
        64,
        Activation::Tanh,
    );
    backward_prologue_case(
        c,
        "backward_lenet5_conv2_tanh_b64",
        64 * 10 * 10,
        16,
        Activation::Tanh,
    );
    backward_prologue_case(
        c,
        "backward_vgg_conv_relu_b4",
        4 * 56 * 56,
        64,
        Activation::Relu,
    );
    backward_prologue_case(
        c,
        "backward_lenet5_dense_120_tanh_b64",
        64,
        120,
        Activation::Tanh,
    );
    dense_case(
        c,
        "lenet5_dense_400x120_tanh_b64",
        400,
        120,
        64,
        Activation::Tanh,
    );
}

criterion_group!(benches, fusion);
criterion_main!(benches);
