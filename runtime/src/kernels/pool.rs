//! Max and average pooling (2-D, and 1-D as `N × 1 × L × C`), and global pooling.
//!
//! Padding is explicit. Max pooling ignores padded cells. Average pooling divides by the
//! number of real cells when `count_padding` is false (TensorFlow's `same`) and by the whole
//! window when it is true (PyTorch's default for explicit padding).

use super::conv::Padding2d;
use super::simd::vectorized;
use super::{expect_shape, min_items, KernelError, Result};
use crate::Float;
use ndarray::{ArrayView2, ArrayView4, ArrayViewMut2, ArrayViewMut4, Axis};
use rayon::prelude::*;

/// What one channel of one window cell costs in max pooling, in the multiply-accumulates of
/// a matrix product that [`min_items`] counts: a compare and two selects, often on scalars,
/// where a product does a share of a vectorised fused multiply-add. Measured here: about
/// 0.7 ns per cell in LeNet-5's first pooling layer, against 0.02 ns per multiply-accumulate
/// in the convolutions' products. Counted as one, pooling at batch 64 was one task on one
/// core; at 16 it splits over two.
const WINDOW_CELL_COST: usize = 16;

/// A pooling window's shapes, checked once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeometry {
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub pool_h: usize,
    pub pool_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub padding: Padding2d,
    pub out_h: usize,
    pub out_w: usize,
}

impl Pool2dGeometry {
    pub fn new(
        input_hwc: [usize; 3],
        pool: [usize; 2],
        stride: [usize; 2],
        padding: Padding2d,
    ) -> Result<Self> {
        let [in_h, in_w, channels] = input_hwc;
        if pool.contains(&0) || stride.contains(&0) || channels == 0 {
            return Err(KernelError::Geometry(
                "pool sizes and strides must be positive".into(),
            ));
        }
        let out = |len: usize, before: usize, after: usize, k: usize, s: usize| {
            let padded = len + before + after;
            (padded >= k && before < k && after < k).then(|| (padded - k) / s + 1)
        };
        match (
            out(in_h, padding.top, padding.bottom, pool[0], stride[0]),
            out(in_w, padding.left, padding.right, pool[1], stride[1]),
        ) {
            (Some(out_h), Some(out_w)) => Ok(Pool2dGeometry {
                in_h,
                in_w,
                channels,
                pool_h: pool[0],
                pool_w: pool[1],
                stride_h: stride[0],
                stride_w: stride[1],
                padding,
                out_h,
                out_w,
            }),
            _ => Err(KernelError::Geometry(
                "the pool window must fit the padded input, and padding must be smaller than the window".into(),
            )),
        }
    }

    /// The input rows and columns under output `(oh, ow)`, clipped to the real input.
    fn window(&self, oh: usize, ow: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let h0 = (oh * self.stride_h) as isize - self.padding.top as isize;
        let w0 = (ow * self.stride_w) as isize - self.padding.left as isize;
        let clip = |start: isize, len: usize, limit: usize| {
            let lo = start.max(0) as usize;
            let hi = ((start + len as isize).max(0) as usize).min(limit);
            lo..hi.max(lo)
        };
        (
            clip(h0, self.pool_h, self.in_h),
            clip(w0, self.pool_w, self.in_w),
        )
    }

    fn check(&self, input: &[usize], output: &[usize]) -> Result<()> {
        let n = input.first().copied().unwrap_or(0);
        expect_shape(
            "pooling input",
            input,
            &[n, self.in_h, self.in_w, self.channels],
        )?;
        expect_shape(
            "pooling output",
            output,
            &[n, self.out_h, self.out_w, self.channels],
        )
    }
}

/// Max pooling. `argmax` (shaped like `output`) receives each maximum's flat `h · W + w`
/// input position, for backward; the first maximum wins ties, as in PyTorch (−0 counts as
/// smaller than +0), and a NaN wins over numbers, so NaNs propagate. `output` and `argmax`
/// must be in standard layout.
pub fn max_pool2d_forward<T: Float>(
    geometry: &Pool2dGeometry,
    input: ArrayView4<T>,
    mut output: ArrayViewMut4<T>,
    mut argmax: ArrayViewMut4<u32>,
) -> Result<()> {
    let g = *geometry;
    g.check(input.shape(), output.shape())?;
    expect_shape("pooling argmax", argmax.shape(), output.shape())?;
    let input = input.as_standard_layout();
    let input = input.as_slice().expect("standard layout is contiguous");
    let c = g.channels;
    let (image_len, out_len) = (g.in_h * g.in_w * c, g.out_h * g.out_w * c);
    let out = standard(output.as_slice_mut())?;
    let arg = standard(argmax.as_slice_mut())?;
    out.par_chunks_mut(out_len.max(1))
        .zip(arg.par_chunks_mut(out_len.max(1)))
        .zip(input.par_chunks(image_len.max(1)))
        .with_min_len(min_items(out_len * g.pool_h * g.pool_w * WINDOW_CELL_COST))
        .for_each(|((out, arg), image)| {
            vectorized(
                #[inline(always)]
                || max_pool_image(&g, image, out, arg),
            )
        });
    Ok(())
}

/// Max pooling of one image (`H × W × C` values) into `out` and `arg` (`OH × OW × C`).
#[inline(always)]
fn max_pool_image<T: Float>(g: &Pool2dGeometry, image: &[T], out: &mut [T], arg: &mut [u32]) {
    let c = g.channels;
    let cell = |h: usize, w: usize| {
        let position = (h * g.in_w + w) as u32;
        (position, &image[position as usize * c..][..c])
    };
    for oh in 0..g.out_h {
        for ow in 0..g.out_w {
            let (rows, cols) = g.window(oh, ow);
            let at = (oh * g.out_w + ow) * c;
            let (best, best_at) = (&mut out[at..at + c], &mut arg[at..at + c]);
            if rows.len() == 2 && cols.len() == 2 {
                let (h, w) = (rows.start, cols.start);
                let cells = [
                    cell(h, w),
                    cell(h, w + 1),
                    cell(h + 1, w),
                    cell(h + 1, w + 1),
                ];
                max_of_four(cells, best, best_at);
                continue;
            }
            // The window is never empty (padding is smaller than the window): its first cell
            // starts the maxima.
            let (first, values) = cell(rows.start, cols.start);
            best.copy_from_slice(values);
            best_at.fill(first);
            for h in rows {
                for w in cols.clone() {
                    let (position, values) = cell(h, w);
                    if position != first {
                        take_larger(best, best_at, values, position);
                    }
                }
            }
        }
    }
}

/// The maxima and their positions over the four cells of a 2×2 window, the common case:
/// one pass over the channels with the running maximum in registers, compared as
/// [`Float::order_key`]s so that the loop has no branches whether or not it vectorises
/// (several times faster than updating the output cell by cell). The first maximum wins
/// ties (a later cell must be strictly larger).
#[inline(always)]
fn max_of_four<T: Float>(cells: [(u32, &[T]); 4], best: &mut [T], best_at: &mut [u32]) {
    let c = best.len();
    let [(p0, c0), (p1, c1), (p2, c2), (p3, c3)] = cells;
    let (c0, c1, c2, c3, best_at) = (&c0[..c], &c1[..c], &c2[..c], &c3[..c], &mut best_at[..c]);
    for ch in 0..c {
        let (mut key, mut at) = (c0[ch].order_key(), p0);
        for (v, p) in [(c1[ch], p1), (c2[ch], p2), (c3[ch], p3)] {
            let candidate = v.order_key();
            let take = candidate > key;
            key = if take { candidate } else { key };
            at = if take { p } else { at };
        }
        best[ch] = T::from_order_key(key);
        best_at[ch] = at;
    }
}

/// Folds one more cell of a window into the maxima so far, as [`max_of_four`] does.
#[inline(always)]
fn take_larger<T: Float>(best: &mut [T], best_at: &mut [u32], values: &[T], position: u32) {
    for ((b, at), &v) in best.iter_mut().zip(best_at.iter_mut()).zip(values) {
        let (candidate, key) = (v.order_key(), b.order_key());
        let take = candidate > key;
        *b = T::from_order_key(if take { candidate } else { key });
        *at = if take { position } else { *at };
    }
}

fn standard<T>(slice: Option<&mut [T]>) -> Result<&mut [T]> {
    slice.ok_or_else(|| KernelError::Geometry("pooling outputs must be in standard layout".into()))
}

/// Routes each output gradient to the input position that was the maximum.
pub fn max_pool2d_backward<T: Float>(
    geometry: &Pool2dGeometry,
    argmax: ArrayView4<u32>,
    grad_output: ArrayView4<T>,
    mut grad_input: ArrayViewMut4<T>,
) -> Result<()> {
    let g = *geometry;
    g.check(grad_input.shape(), grad_output.shape())?;
    expect_shape("pooling argmax", argmax.shape(), grad_output.shape())?;
    let c = g.channels;
    let (image_len, out_len) = (g.in_h * g.in_w * c, g.out_h * g.out_w * c);
    let argmax = argmax.as_standard_layout();
    let argmax = argmax.as_slice().expect("standard layout is contiguous");
    let grad_output = grad_output.as_standard_layout();
    let grad_output = grad_output
        .as_slice()
        .expect("standard layout is contiguous");
    let dx = standard(grad_input.as_slice_mut())?;
    dx.par_chunks_mut(image_len.max(1))
        .zip(grad_output.par_chunks(out_len.max(1)))
        .zip(argmax.par_chunks(out_len.max(1)))
        .with_min_len(min_items(image_len + out_len))
        .for_each(|((dx, dy), arg)| {
            dx.fill(T::zero());
            for (dy, arg) in dy.chunks_exact(c).zip(arg.chunks_exact(c)) {
                for (ch, (&d, &at)) in dy.iter().zip(arg).enumerate() {
                    dx[at as usize * c + ch] += d;
                }
            }
        });
    Ok(())
}

/// How many cells an average divides by.
fn divisor(
    g: &Pool2dGeometry,
    count_padding: bool,
    rows: &std::ops::Range<usize>,
    cols: &std::ops::Range<usize>,
) -> usize {
    if count_padding {
        g.pool_h * g.pool_w
    } else {
        rows.len() * cols.len()
    }
}

/// Average pooling.
pub fn avg_pool2d_forward<T: Float>(
    geometry: &Pool2dGeometry,
    count_padding: bool,
    input: ArrayView4<T>,
    mut output: ArrayViewMut4<T>,
) -> Result<()> {
    let g = *geometry;
    g.check(input.shape(), output.shape())?;
    output
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(input.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut out, image)| {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let (rows, cols) = g.window(oh, ow);
                    let scale =
                        T::one() / T::lit(divisor(&g, count_padding, &rows, &cols).max(1) as f64);
                    for c in 0..g.channels {
                        let mut sum = T::zero();
                        for h in rows.clone() {
                            for w in cols.clone() {
                                sum += image[[h, w, c]];
                            }
                        }
                        out[[oh, ow, c]] = sum * scale;
                    }
                }
            }
        });
    Ok(())
}

/// Spreads each output gradient evenly over its window.
pub fn avg_pool2d_backward<T: Float>(
    geometry: &Pool2dGeometry,
    count_padding: bool,
    grad_output: ArrayView4<T>,
    mut grad_input: ArrayViewMut4<T>,
) -> Result<()> {
    let g = *geometry;
    g.check(grad_input.shape(), grad_output.shape())?;
    grad_input
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(grad_output.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut dx, dy)| {
            dx.fill(T::zero());
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let (rows, cols) = g.window(oh, ow);
                    let scale =
                        T::one() / T::lit(divisor(&g, count_padding, &rows, &cols).max(1) as f64);
                    for c in 0..g.channels {
                        let share = dy[[oh, ow, c]] * scale;
                        for h in rows.clone() {
                            for w in cols.clone() {
                                dx[[h, w, c]] += share;
                            }
                        }
                    }
                }
            }
        });
    Ok(())
}

/// Global average (`max: false`) or max pooling: `N × H × W × C` to `N × C`. For max,
/// `argmax` (`N × C`) receives each maximum's flat `h · W + w` position.
pub fn global_pool_forward<T: Float>(
    max: bool,
    input: ArrayView4<T>,
    mut output: ArrayViewMut2<T>,
    mut argmax: Option<ArrayViewMut2<u32>>,
) -> Result<()> {
    let (n, h, w, c) = input.dim();
    expect_shape("global pooling output", output.shape(), &[n, c])?;
    if max {
        let Some(arg) = argmax.as_mut() else {
            return Err(KernelError::Geometry(
                "global max pooling needs an argmax buffer".into(),
            ));
        };
        expect_shape("global pooling argmax", arg.shape(), &[n, c])?;
    }
    let scale = T::one() / T::lit((h * w).max(1) as f64);
    for (sample, image) in input.axis_iter(Axis(0)).enumerate() {
        let pixels = image.to_shape((h * w, c)).expect("images are contiguous");
        let mut out = output.row_mut(sample);
        if max {
            let mut arg = argmax.as_mut().expect("checked above").row_mut(sample);
            out.fill(T::neg_infinity());
            for (p, pixel) in pixels.rows().into_iter().enumerate() {
                for ch in 0..c {
                    if pixel[ch] > out[ch] || (pixel[ch].is_nan() && !out[ch].is_nan()) {
                        out[ch] = pixel[ch];
                        arg[ch] = p as u32;
                    }
                }
            }
        } else {
            out.fill(T::zero());
            for pixel in pixels.rows() {
                out += &pixel;
            }
            out *= scale;
        }
    }
    Ok(())
}

/// Backward of [`global_pool_forward`].
pub fn global_pool_backward<T: Float>(
    max: bool,
    argmax: Option<ArrayView2<u32>>,
    grad_output: ArrayView2<T>,
    mut grad_input: ArrayViewMut4<T>,
) -> Result<()> {
    let (n, h, w, c) = grad_input.dim();
    expect_shape(
        "global pooling output gradient",
        grad_output.shape(),
        &[n, c],
    )?;
    let scale = T::one() / T::lit((h * w).max(1) as f64);
    grad_input
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(sample, mut dx)| {
            let dy = grad_output.row(sample);
            match (max, &argmax) {
                (true, Some(arg)) => {
                    dx.fill(T::zero());
                    for ch in 0..c {
                        let at = arg[[sample, ch]] as usize;
                        dx[[at / w, at % w, ch]] = dy[ch];
                    }
                }
                _ => {
                    for mut row in dx.rows_mut() {
                        row.assign(&dy);
                        row *= scale;
                    }
                }
            }
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    /// Max pooling one `size × size` window of a 1-channel image; returns the maximum and
    /// its position.
    fn pool_one(values: &[f32], size: usize) -> (f32, u32) {
        let g = Pool2dGeometry::new([size, size, 1], [size, size], [1, 1], Padding2d::default())
            .unwrap();
        let x = Array4::from_shape_vec((1, size, size, 1), values.to_vec()).unwrap();
        let mut y = Array4::zeros((1, 1, 1, 1));
        let mut at = Array4::zeros((1, 1, 1, 1));
        max_pool2d_forward(&g, x.view(), y.view_mut(), at.view_mut()).unwrap();
        (y[[0, 0, 0, 0]], at[[0, 0, 0, 0]])
    }

    #[test]
    fn the_first_maximum_wins_ties_in_every_window_size() {
        assert_eq!(pool_one(&[1.0, 3.0, 3.0, 2.0], 2), (3.0, 1));
        assert_eq!(pool_one(&[0.0; 4], 2), (0.0, 0));
        let mut nine = [0.0; 9];
        nine[4] = 5.0;
        nine[7] = 5.0;
        assert_eq!(pool_one(&nine, 3), (5.0, 4));
    }

    #[test]
    fn nan_wins_over_numbers_in_every_window_size() {
        let (v, at) = pool_one(&[1.0, f32::NAN, 9.0, f32::INFINITY], 2);
        assert!(v.is_nan());
        assert_eq!(at, 1);
        let mut nine = [1.0; 9];
        nine[6] = f32::NAN;
        nine[8] = f32::NAN;
        let (v, at) = pool_one(&nine, 3);
        assert!(v.is_nan());
        assert_eq!(at, 6);
    }
}
