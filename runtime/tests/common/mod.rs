//! Naive reference kernels (straight from the definitions, in f64) and helpers for the
//! runtime's tests.
#![allow(dead_code)]

use cnn_runtime::kernels::conv::Conv2dGeometry;
use cnn_runtime::kernels::pool::Pool2dGeometry;
use ndarray::{Array, Array2, Array4, Dimension, IxDyn, ShapeBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Uniform random values in [-1, 1), reproducible from `seed`.
pub fn random<Sh: ShapeBuilder<Dim = D>, D: Dimension>(shape: Sh, seed: u64) -> Array<f64, D> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array::from_shape_simple_fn(shape, || rng.random_range(-1.0..1.0))
}

pub fn random_f32<Sh: ShapeBuilder<Dim = D>, D: Dimension>(shape: Sh, seed: u64) -> Array<f32, D> {
    random(shape, seed).mapv(|v| v as f32)
}

/// The convolution by its definition.
pub fn naive_conv2d(
    g: &Conv2dGeometry,
    x: &Array4<f64>,
    k: &Array4<f64>,
    b: Option<&[f64]>,
) -> Array4<f64> {
    let n = x.shape()[0];
    let (cg, fg) = (g.group_channels(), g.group_filters());
    let mut y = Array4::zeros((n, g.out_h, g.out_w, g.filters));
    for s in 0..n {
        for oh in 0..g.out_h {
            for ow in 0..g.out_w {
                for f in 0..g.filters {
                    let group = f / fg;
                    let mut acc = b.map_or(0.0, |b| b[f]);
                    for i in 0..g.kernel_h {
                        for j in 0..g.kernel_w {
                            let ih = (oh * g.stride_h + i * g.dilation_h) as isize
                                - g.padding.top as isize;
                            let iw = (ow * g.stride_w + j * g.dilation_w) as isize
                                - g.padding.left as isize;
                            if ih < 0 || iw < 0 || ih as usize >= g.in_h || iw as usize >= g.in_w {
                                continue;
                            }
                            for c in 0..cg {
                                acc += x[[s, ih as usize, iw as usize, group * cg + c]]
                                    * k[[i, j, c, f]];
                            }
                        }
                    }
                    y[[s, oh, ow, f]] = acc;
                }
            }
        }
    }
    y
}

/// Pooling by its definition; `None` for max, `Some(count_padding)` for average.
pub fn naive_pool2d(g: &Pool2dGeometry, average: Option<bool>, x: &Array4<f64>) -> Array4<f64> {
    let n = x.shape()[0];
    let mut y = Array4::zeros((n, g.out_h, g.out_w, g.channels));
    for s in 0..n {
        for oh in 0..g.out_h {
            for ow in 0..g.out_w {
                for c in 0..g.channels {
                    let mut values = Vec::new();
                    for i in 0..g.pool_h {
                        for j in 0..g.pool_w {
                            let h = (oh * g.stride_h + i) as isize - g.padding.top as isize;
                            let w = (ow * g.stride_w + j) as isize - g.padding.left as isize;
                            if h >= 0 && w >= 0 && (h as usize) < g.in_h && (w as usize) < g.in_w {
                                values.push(x[[s, h as usize, w as usize, c]]);
                            }
                        }
                    }
                    y[[s, oh, ow, c]] = match average {
                        None => values.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                        Some(true) => values.iter().sum::<f64>() / (g.pool_h * g.pool_w) as f64,
                        Some(false) => values.iter().sum::<f64>() / values.len() as f64,
                    };
                }
            }
        }
    }
    y
}

/// The dense layer by its definition.
pub fn naive_dense(x: &Array2<f64>, k: &Array2<f64>, b: &[f64]) -> Array2<f64> {
    let mut y = Array2::zeros((x.nrows(), k.ncols()));
    for i in 0..x.nrows() {
        for j in 0..k.ncols() {
            y[[i, j]] = b[j] + (0..x.ncols()).map(|p| x[[i, p]] * k[[p, j]]).sum::<f64>();
        }
    }
    y
}

/// The largest absolute difference, relative to the larger magnitude (at least 1).
pub fn max_relative_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1.0))
        .fold(0.0, f64::max)
}

/// Central differences of the scalar function `loss` at `params`, element by element.
pub fn numeric_gradient(params: &mut [f64], mut loss: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    (0..params.len())
        .map(|i| {
            let saved = params[i];
            params[i] = saved + h;
            let plus = loss(params);
            params[i] = saved - h;
            let minus = loss(params);
            params[i] = saved;
            (plus - minus) / (2.0 * h)
        })
        .collect()
}

pub fn dyn_shape(shape: &[usize]) -> IxDyn {
    IxDyn(shape)
}

/// Runs `f` on a pool of `threads` threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}
