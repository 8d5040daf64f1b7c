//! Element-wise activations, forward and backward.
//!
//! Backward works from the activation's output `y` where the derivative can be written in
//! it (ReLU, sigmoid, tanh, ELU, SELU, softplus, hard sigmoid, leaky ReLU), so a fused layer
//! only keeps its output; GELU and swish need the input `x`, which [`Activation::needs_input`]
//! tells the caller to keep.

use super::simd::vectorized;
use crate::Float;
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Zip};
use rayon::prelude::*;

/// SELU's constants (Klambauer et al., 2017).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// An element-wise activation. Softmax is not element-wise and lives in [`super::softmax`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Linear,
    Relu,
    /// `x` for `x ≥ 0`, `slope · x` otherwise.
    LeakyRelu(f64),
    /// `x` for `x > 0`, `α (eˣ − 1)` otherwise.
    Elu(f64),
    Selu,
    Sigmoid,
    Tanh,
    /// GELU with the exact (erf) form, or the tanh approximation.
    Gelu {
        approximate: bool,
    },
    /// `x · σ(x)`, also called SiLU.
    Swish,
    /// `ln(1 + eˣ)`.
    Softplus,
    /// Keras 3's `relu6(x + 3) / 6`: 0 below −3, 1 above 3, linear between.
    HardSigmoid,
}

impl Activation {
    /// Whether backward needs the input `x` (otherwise the output `y` suffices).
    pub fn needs_input(self) -> bool {
        matches!(self, Activation::Gelu { .. } | Activation::Swish)
    }

    /// Whether the activation is non-decreasing, so that max pooling commutes with it.
    pub fn is_monotone(self) -> bool {
        match self {
            Activation::Gelu { .. } | Activation::Swish => false,
            Activation::LeakyRelu(slope) => slope >= 0.0,
            Activation::Elu(alpha) => alpha >= 0.0,
            _ => true,
        }
    }

    /// `f(x)` for one value.
    #[inline(always)]
    pub fn apply<T: Float>(self, x: T) -> T {
        let zero = T::zero();
        let one = T::one();
        match self {
            Activation::Linear => x,
            Activation::Relu => x.max(zero),
            Activation::LeakyRelu(slope) => {
                if x >= zero {
                    x
                } else {
                    x * T::lit(slope)
                }
            }
            Activation::Elu(alpha) => {
                if x > zero {
                    x
                } else {
                    T::lit(alpha) * x.exp_m1()
                }
            }
            Activation::Selu => {
                let scale = T::lit(SELU_SCALE);
                if x > zero {
                    scale * x
                } else {
                    scale * T::lit(SELU_ALPHA) * x.exp_m1()
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.fast_tanh(),
            Activation::Gelu { approximate: false } => {
                T::lit(0.5) * x * (one + erf(x / T::lit(std::f64::consts::SQRT_2)))
            }
            Activation::Gelu { approximate: true } => {
                let inner = T::lit(GELU_C) * (x + T::lit(0.044715) * x * x * x);
                T::lit(0.5) * x * (one + inner.tanh())
            }
            Activation::Swish => x * sigmoid(x),
            Activation::Softplus => softplus(x),
            Activation::HardSigmoid => ((x + T::lit(3.0)) / T::lit(6.0)).max(zero).min(one),
        }
    }

    /// `f'(x)`, given `x` and `y = f(x)`; `x` is only read when [`Self::needs_input`].
    #[inline(always)]
    pub fn derivative<T: Float>(self, x: T, y: T) -> T {
        let zero = T::zero();
        let one = T::one();
        match self {
            Activation::Linear => one,
            Activation::Relu => {
                if y > zero {
                    one
                } else {
                    zero
                }
            }
            Activation::LeakyRelu(slope) => {
                // y has the sign of x when slope > 0; at 0 the right derivative, as PyTorch.
                if y > zero || (y == zero && slope >= 0.0) {
                    one
                } else {
                    T::lit(slope)
                }
            }
            Activation::Elu(alpha) => {
                if y > zero {
                    one
                } else {
                    y + T::lit(alpha)
                }
            }
            Activation::Selu => {
                let scale = T::lit(SELU_SCALE);
                if y > zero {
                    scale
                } else {
                    y + scale * T::lit(SELU_ALPHA)
                }
            }
            Activation::Sigmoid => y * (one - y),
            Activation::Tanh => one - y * y,
            Activation::Gelu { approximate: false } => {
                let cdf = T::lit(0.5) * (one + erf(x / T::lit(std::f64::consts::SQRT_2)));
                let pdf =
                    (-(x * x) / T::lit(2.0)).exp() / T::lit((2.0 * std::f64::consts::PI).sqrt());
                cdf + x * pdf
            }
            Activation::Gelu { approximate: true } => {
                let x3 = x * x * x;
                let inner = T::lit(GELU_C) * (x + T::lit(0.044715) * x3);
                let t = inner.tanh();
                let d_inner = T::lit(GELU_C) * (one + T::lit(3.0 * 0.044715) * x * x);
                T::lit(0.5) * (one + t) + T::lit(0.5) * x * (one - t * t) * d_inner
            }
            Activation::Swish => {
                let s = sigmoid(x);
                s + x * s * (one - s)
            }
            Activation::Softplus => one - (-y).exp(),
            Activation::HardSigmoid => {
                if y > zero && y < one {
                    T::lit(1.0 / 6.0)
                } else {
                    zero
                }
            }
        }
    }
}

/// `sqrt(2 / π)`, GELU's tanh-approximation constant.
const GELU_C: f64 = 0.797_884_560_802_865_4;

#[inline]
fn sigmoid<T: Float>(x: T) -> T {
    // σ(x) = (1 + tanh(x/2)) / 2: bounded for any x, and vectorised like tanh.
    let half = T::lit(0.5);
    half + half * (x * half).fast_tanh()
}

#[inline]
fn softplus<T: Float>(x: T) -> T {
    // ln(1 + eˣ) = max(x, 0) + ln(1 + e^-|x|), stable for large |x|.
    x.max(T::zero()) + (-x.abs()).exp().ln_1p()
}

/// The error function (musl's implementation, through `libm`), exact to f64 rounding.
fn erf<T: Float>(x: T) -> T {
    T::lit(libm::erf(x.to_f64_lossy()))
}

/// Runs `$body` with `$a` bound to `$activation` as a constant of its variant, so that the
/// `match` inside [`Activation::apply`] folds away and the loop in `$body` vectorises: one
/// dispatch per slice instead of one per value.
macro_rules! dispatch {
    ($activation:expr, |$a:ident| $body:expr) => {
        match $activation {
            Activation::Linear => {
                let $a = Activation::Linear;
                $body
            }
            Activation::Relu => {
                let $a = Activation::Relu;
                $body
            }
            Activation::LeakyRelu(slope) => {
                let $a = Activation::LeakyRelu(slope);
                $body
            }
            Activation::Elu(alpha) => {
                let $a = Activation::Elu(alpha);
                $body
            }
            Activation::Selu => {
                let $a = Activation::Selu;
                $body
            }
            Activation::Sigmoid => {
                let $a = Activation::Sigmoid;
                $body
            }
            Activation::Tanh => {
                let $a = Activation::Tanh;
                $body
            }
            Activation::Gelu { approximate: true } => {
                let $a = Activation::Gelu { approximate: true };
                $body
            }
            Activation::Gelu { approximate: false } => {
                let $a = Activation::Gelu { approximate: false };
                $body
            }
            Activation::Swish => {
                let $a = Activation::Swish;
                $body
            }
            Activation::Softplus => {
                let $a = Activation::Softplus;
                $body
            }
            Activation::HardSigmoid => {
                let $a = Activation::HardSigmoid;
                $body
            }
        }
    };
}

/// Values per parallel task of the element-wise loops.
const CHUNK: usize = 16 * 1024;

/// `values = f(values + bias)`, where `values` holds rows of `bias.len()` values (a block of
/// a layer's output, still in cache); without a bias, `values = f(values)`. The bias goes in
/// row by row, then the activation runs over the whole block in one loop, which vectorises
/// even when rows are a few values long.
pub(crate) fn bias_activation<T: Float>(
    values: &mut [T],
    bias: Option<&[T]>,
    activation: Activation,
) {
    vectorized(
        #[inline(always)]
        || {
            if let Some(bias) = bias.filter(|b| !b.is_empty()) {
                for row in values.chunks_exact_mut(bias.len()) {
                    for (v, &b) in row.iter_mut().zip(bias) {
                        *v += b;
                    }
                }
            }
            if activation != Activation::Linear {
                dispatch!(activation, |a| {
                    for v in values.iter_mut() {
                        *v = a.apply(*v);
                    }
                })
            }
        },
    )
}

/// `y = f(x)` in place.
pub fn forward_in_place<T: Float>(activation: Activation, mut x: ArrayViewMutD<T>) {
    if activation == Activation::Linear {
        return;
    }
    match x.as_slice_mut() {
        Some(values) => values
            .par_chunks_mut(CHUNK)
            .for_each(|chunk| bias_activation(chunk, None, activation)),
        None => x.par_mapv_inplace(|v| activation.apply(v)),
    }
}

/// `dx = dy · f'(x)` in place on `dy`, given the output `y` (and the input `x` when
/// [`Activation::needs_input`]; otherwise `x` may be `y` again).
pub fn backward_in_place<T: Float>(
    activation: Activation,
    x: ArrayViewD<T>,
    y: ArrayViewD<T>,
    mut dy: ArrayViewMutD<T>,
) {
    if activation == Activation::Linear {
        return;
    }
    if let (Some(xs), Some(ys), Some(ds)) = (x.as_slice(), y.as_slice(), dy.as_slice_mut()) {
        ds.par_chunks_mut(CHUNK).enumerate().for_each(|(i, d)| {
            let range = i * CHUNK..i * CHUNK + d.len();
            let (xs, ys) = (&xs[range.clone()], &ys[range]);
            dispatch!(activation, |a| {
                for ((d, &xv), &yv) in d.iter_mut().zip(xs).zip(ys) {
                    *d *= a.derivative(xv, yv);
                }
            })
        });
        return;
    }
    Zip::from(&mut dy)
        .and(&x)
        .and(&y)
        .par_for_each(|d, &xv, &yv| *d *= activation.derivative(xv, yv));
}

/// Rows per block of [`backward_with_bias_sums`]. Fixed, so the bias gradient adds the same
/// partial sums in the same order whatever the number of threads.
const ROWS_PER_BLOCK: usize = 1024;

/// The backward prologue of a layer with a fused activation, in one pass over its output
/// gradient: `dz = dy · f'(x)` (from the output `y`, or the input `x` when
/// [`Activation::needs_input`]; otherwise pass `y` as `x`), and, when `bias_grad` is given,
/// `bias_grad[c] = Σ_rows dz[row, c]`, where every slice holds rows of `channels` values.
///
/// Separately these are three passes over the gradient (a copy, the derivative, the column
/// sums); fused, `dz` is written once and summed while it is in cache.
pub fn backward_with_bias_sums<T: Float>(
    activation: Activation,
    x: &[T],
    y: &[T],
    dy: &[T],
    dz: &mut [T],
    channels: usize,
    bias_grad: Option<&mut [T]>,
) {
    debug_assert!(x.len() == dz.len() && y.len() == dz.len() && dy.len() == dz.len());
    let block = ROWS_PER_BLOCK * channels.max(1);
    let want_sums = bias_grad.is_some();
    let partials: Vec<Vec<T>> = dz
        .par_chunks_mut(block)
        .enumerate()
        .map(|(i, dz)| {
            let range = i * block..i * block + dz.len();
            let (xs, ys, dys) = (&x[range.clone()], &y[range.clone()], &dy[range]);
            vectorized(
                #[inline(always)]
                || {
                    dispatch!(activation, |a| {
                        for (((d, &xv), &yv), &g) in dz.iter_mut().zip(xs).zip(ys).zip(dys) {
                            *d = g * a.derivative(xv, yv);
                        }
                    });
                    let mut sums = Vec::new();
                    if want_sums {
                        sums.resize(channels, T::zero());
                        for row in dz.chunks_exact(channels) {
                            for (s, &v) in sums.iter_mut().zip(row) {
                                *s += v;
                            }
                        }
                    }
                    sums
                },
            )
        })
        .collect();
    if let Some(bias_grad) = bias_grad {
        bias_grad.fill(T::zero());
        for sums in &partials {
            for (b, &s) in bias_grad.iter_mut().zip(sums) {
                *b += s;
            }
        }
    }
}

/// `dz = dy · f'(x)` as a new array (with `y` as `x` where the output suffices), and the
/// bias gradient summed in the same pass when `bias_grad` is given (see
/// [`backward_with_bias_sums`]); the flag says whether it was. Arrays that are not
/// contiguous take the unfused path and leave the bias to the caller.
pub fn pre_activation_grad<T: Float>(
    activation: Activation,
    x: &ArrayD<T>,
    y: &ArrayD<T>,
    dy: &ArrayD<T>,
    bias_grad: Option<&mut [T]>,
) -> (ArrayD<T>, bool) {
    let channels = y.shape().last().copied().unwrap_or(1);
    let mut dz = ArrayD::zeros(dy.raw_dim());
    if let (Some(xs), Some(ys), Some(dys), Some(dzs)) =
        (x.as_slice(), y.as_slice(), dy.as_slice(), dz.as_slice_mut())
    {
        let summed = bias_grad.is_some();
        backward_with_bias_sums(activation, xs, ys, dys, dzs, channels, bias_grad);
        return (dz, summed);
    }
    dz.assign(dy);
    backward_in_place(activation, x.view(), y.view(), dz.view_mut());
    (dz, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 12] = [
        Activation::Linear,
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::Elu(1.0),
        Activation::Selu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu { approximate: false },
        Activation::Gelu { approximate: true },
        Activation::Swish,
        Activation::Softplus,
        Activation::HardSigmoid,
    ];

    #[test]
    fn derivatives_match_central_differences_in_f64() {
        let h = 1e-6;
        for activation in ALL {
            for &x in &[-3.7f64, -1.2, -0.31, 0.27, 0.9, 2.2, 4.1] {
                let numeric = (activation.apply(x + h) - activation.apply(x - h)) / (2.0 * h);
                let analytic = activation.derivative(x, activation.apply(x));
                assert!(
                    (numeric - analytic).abs() < 1e-6 * (1.0 + analytic.abs()),
                    "{activation:?} at {x}: numeric {numeric}, analytic {analytic}"
                );
            }
        }
    }

    #[test]
    fn erf_is_accurate() {
        // Reference values of erf from tables.
        for (x, expected) in [
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (-1.5, -0.966_105_146_475_310_7),
        ] {
            let got: f64 = erf(x);
            assert!(
                (got - expected).abs() < 1e-15,
                "erf({x}) = {got}, want {expected}"
            );
        }
    }

    #[test]
    fn sigmoid_and_softplus_are_stable_at_extremes() {
        let low = Activation::Sigmoid.apply(-1000.0f32);
        assert!((0.0..1e-7).contains(&low), "{low}");
        assert_eq!(Activation::Sigmoid.apply(1000.0f32), 1.0);
        assert_eq!(Activation::Sigmoid.apply(-1000.0f64), 0.0);
        assert_eq!(Activation::Softplus.apply(1000.0f32), 1000.0);
        assert!(Activation::Softplus.apply(-1000.0f64) >= 0.0);
    }

    #[test]
    fn monotone_activations() {
        assert!(Activation::Relu.is_monotone());
        assert!(!Activation::Swish.is_monotone());
        assert!(!Activation::LeakyRelu(-0.5).is_monotone());
    }

    /// The fused backward prologue gives what the three separate passes give, over more
    /// rows than one block, for an activation that needs its input and one that does not.
    #[test]
    fn fused_backward_prologue_matches_separate_passes() {
        let (rows, channels) = (2 * ROWS_PER_BLOCK + 37, 5);
        let shape = ndarray::IxDyn(&[rows, channels]);
        let x = ArrayD::from_shape_fn(shape.clone(), |i| {
            ((i[0] * 7 + i[1] * 3) % 11) as f64 * 0.3 - 1.5
        });
        let dy = ArrayD::from_shape_fn(shape, |i| ((i[0] + 5 * i[1]) % 13) as f64 * 0.1 - 0.6);
        for activation in [Activation::Tanh, Activation::Swish] {
            let mut y = x.clone();
            forward_in_place(activation, y.view_mut());
            let mut expected = dy.clone();
            backward_in_place(activation, x.view(), y.view(), expected.view_mut());
            let expected_bias = expected.sum_axis(ndarray::Axis(0));
            let mut bias = vec![f64::NAN; channels];
            let (dz, summed) = pre_activation_grad(activation, &x, &y, &dy, Some(&mut bias));
            assert!(summed);
            assert_eq!(dz, expected, "{activation:?}");
            for (got, want) in bias.iter().zip(expected_bias.iter()) {
                assert!((got - want).abs() < 1e-9, "{activation:?}: {got} vs {want}");
            }
        }
    }
}
