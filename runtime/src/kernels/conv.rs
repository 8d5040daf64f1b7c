//! 2-D convolution (and through it 1-D and depthwise convolution), forward and backward.
//!
//! `y[n, oh, ow, f] = b[f] + Σ_{i, j, c} x[n, oh·sh + i·dh − pt, ow·sw + j·dw − pl, g·cg + c] · k[i, j, c, f]`
//! where `g = f / (F / groups)` is the filter's group and `cg = C / groups`; taps that fall
//! in the padding read zero.
//!
//! The input is NHWC and the kernel Keras' `(kh, kw, C / groups, F)`. A block of output
//! rows is one matrix product: the patch matrix `P` (one row per output pixel, the
//! `kh·kw·cg` values under its window) times the kernel seen as a `kh·kw·cg × F` matrix. A
//! 1×1, stride-1, unpadded convolution skips building `P`: the input already is it.
//! Depthwise convolution is the grouped case `groups = C`; a 1-D convolution is a 2-D one
//! on `N × 1 × L × C`.

use super::activation::Activation;
use super::gemm::gemm;
use super::{expect_shape, KernelError, Result};
use crate::Float;
use ndarray::{
    s, Array2, ArrayView1, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut1, ArrayViewMut2,
    ArrayViewMut3, ArrayViewMut4, Axis, Zip,
};
use rayon::prelude::*;

/// Zeros added around the two spatial axes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Padding2d {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

/// Everything about a convolution's shapes, checked once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub filters: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub padding: Padding2d,
    pub groups: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Conv2dGeometry {
    /// Checks the arguments and computes the output size.
    pub fn new(
        input_hwc: [usize; 3],
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        padding: Padding2d,
        groups: usize,
    ) -> Result<Self> {
        let [in_h, in_w, in_c] = input_hwc;
        let invalid = |m: String| Err(KernelError::Geometry(m));
        if [
            filters,
            kernel[0],
            kernel[1],
            stride[0],
            stride[1],
            dilation[0],
            dilation[1],
            groups,
            in_c,
        ]
        .contains(&0)
        {
            return invalid("sizes, strides, dilations and groups must be positive".into());
        }
        if !in_c.is_multiple_of(groups) || !filters.is_multiple_of(groups) {
            return invalid(format!(
                "groups {groups} must divide channels {in_c} and filters {filters}"
            ));
        }
        let out = |len: usize, before: usize, after: usize, k: usize, s: usize, d: usize| {
            let extent = (k - 1) * d + 1;
            let padded = len + before + after;
            (padded >= extent).then(|| (padded - extent) / s + 1)
        };
        let (Some(out_h), Some(out_w)) = (
            out(
                in_h,
                padding.top,
                padding.bottom,
                kernel[0],
                stride[0],
                dilation[0],
            ),
            out(
                in_w,
                padding.left,
                padding.right,
                kernel[1],
                stride[1],
                dilation[1],
            ),
        ) else {
            return invalid("the window is larger than the padded input".into());
        };
        Ok(Conv2dGeometry {
            in_h,
            in_w,
            in_c,
            filters,
            kernel_h: kernel[0],
            kernel_w: kernel[1],
            stride_h: stride[0],
            stride_w: stride[1],
            dilation_h: dilation[0],
            dilation_w: dilation[1],
            padding,
            groups,
            out_h,
            out_w,
        })
    }

    /// Input channels per group.
    pub fn group_channels(&self) -> usize {
        self.in_c / self.groups
    }

    /// Filters per group.
    pub fn group_filters(&self) -> usize {
        self.filters / self.groups
    }

    /// Length of one patch: `kh · kw · C / groups`.
    pub fn patch_len(&self) -> usize {
        self.kernel_h * self.kernel_w * self.group_channels()
    }

    /// Whether the input itself is the patch matrix (1×1, stride 1, no padding, one group).
    fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.padding == Padding2d::default()
            && self.groups == 1
    }

    /// Multiply-accumulates for one image.
    pub fn macs(&self) -> usize {
        self.out_h * self.out_w * self.filters * self.patch_len()
    }

    fn check(
        &self,
        what: &'static str,
        input: &[usize],
        kernel: &[usize],
        output: &[usize],
    ) -> Result<usize> {
        let n = input.first().copied().unwrap_or(0);
        expect_shape(
            "convolution input",
            input,
            &[n, self.in_h, self.in_w, self.in_c],
        )?;
        expect_shape(
            "convolution kernel",
            kernel,
            &[
                self.kernel_h,
                self.kernel_w,
                self.group_channels(),
                self.filters,
            ],
        )?;
        expect_shape(what, output, &[n, self.out_h, self.out_w, self.filters])?;
        Ok(n)
    }

    /// Fills `patches` (rows `row0..row0 + rows` of the output, times `out_w` pixels) with the
    /// inputs under each window, for group `group`.
    fn im2col<T: Float>(
        &self,
        image: &ArrayView3<T>,
        group: usize,
        row0: usize,
        rows: usize,
        patches: &mut ArrayViewMut2<T>,
    ) {
        let cg = self.group_channels();
        let c0 = group * cg;
        for r in 0..rows {
            let oh = row0 + r;
            for ow in 0..self.out_w {
                let mut patch = patches.row_mut(r * self.out_w + ow);
                let patch = patch.as_slice_mut().expect("patch rows are contiguous");
                for i in 0..self.kernel_h {
                    let ih = (oh * self.stride_h + i * self.dilation_h) as isize
                        - self.padding.top as isize;
                    for j in 0..self.kernel_w {
                        let iw = (ow * self.stride_w + j * self.dilation_w) as isize
                            - self.padding.left as isize;
                        let dst = &mut patch[(i * self.kernel_w + j) * cg..][..cg];
                        if ih < 0 || iw < 0 || ih as usize >= self.in_h || iw as usize >= self.in_w
                        {
                            dst.fill(T::zero());
                        } else {
                            let src = image.slice(s![ih as usize, iw as usize, c0..c0 + cg]);
                            for (d, s) in dst.iter_mut().zip(src.iter()) {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds the patch-matrix gradient `dpatches` back onto the input gradient: the adjoint of
    /// [`Self::im2col`].
    fn col2im<T: Float>(
        &self,
        dpatches: &ArrayView2<T>,
        group: usize,
        dimage: &mut ArrayViewMut3<T>,
    ) {
        let cg = self.group_channels();
        let c0 = group * cg;
        for oh in 0..self.out_h {
            for ow in 0..self.out_w {
                let patch = dpatches.row(oh * self.out_w + ow);
                for i in 0..self.kernel_h {
                    let ih = (oh * self.stride_h + i * self.dilation_h) as isize
                        - self.padding.top as isize;
                    if ih < 0 || ih as usize >= self.in_h {
                        continue;
                    }
                    for j in 0..self.kernel_w {
                        let iw = (ow * self.stride_w + j * self.dilation_w) as isize
                            - self.padding.left as isize;
                        if iw < 0 || iw as usize >= self.in_w {
                            continue;
                        }
                        let src = patch.slice(s![
                            (i * self.kernel_w + j) * cg..(i * self.kernel_w + j + 1) * cg
                        ]);
                        let mut dst = dimage.slice_mut(s![ih as usize, iw as usize, c0..c0 + cg]);
                        dst += &src;
                    }
                }
            }
        }
    }
}

/// Output rows per parallel task: enough pixels to keep a matrix product efficient.
fn rows_per_task(out_w: usize) -> usize {
    (256 / out_w.max(1)).max(1)
}

/// `output = activation(conv(input, kernel) + bias)`.
///
/// `activation` must not need its input for backward ([`Activation::needs_input`]); apply
/// such activations separately.
pub fn conv2d_forward<T: Float>(
    geometry: &Conv2dGeometry,
    input: ArrayView4<T>,
    kernel: ArrayView4<T>,
    bias: Option<ArrayView1<T>>,
    activation: Activation,
    mut output: ArrayViewMut4<T>,
) -> Result<()> {
    let g = *geometry;
    g.check(
        "convolution output",
        input.shape(),
        kernel.shape(),
        output.shape(),
    )?;
    if let Some(b) = &bias {
        expect_shape("convolution bias", b.shape(), &[g.filters])?;
    }
    let kernel = kernel
        .to_shape((g.patch_len(), g.filters))
        .map_err(|e| KernelError::Geometry(e.to_string()))?;
    let rows = rows_per_task(g.out_w);
    output
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(input.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut out_image, image)| {
            out_image
                .axis_chunks_iter_mut(Axis(0), rows)
                .into_par_iter()
                .enumerate()
                .for_each(|(block, mut out_rows)| {
                    let row0 = block * rows;
                    let n_rows = out_rows.shape()[0];
                    let pixels = n_rows * g.out_w;
                    let mut out_matrix = out_rows
                        .view_mut()
                        .into_shape_with_order((pixels, g.filters))
                        .expect("output blocks are contiguous");
                    if g.is_pointwise() {
                        let flat = image
                            .to_shape((g.in_h * g.in_w, g.in_c))
                            .expect("input image is contiguous");
                        let a = flat.slice(s![row0 * g.out_w..row0 * g.out_w + pixels, ..]);
                        gemm(T::one(), &a, &kernel.view(), T::zero(), &mut out_matrix);
                    } else {
                        let mut patches = Array2::<T>::zeros((pixels, g.patch_len()));
                        let fg = g.group_filters();
                        for group in 0..g.groups {
                            g.im2col(&image, group, row0, n_rows, &mut patches.view_mut());
                            let k = kernel.slice(s![.., group * fg..(group + 1) * fg]);
                            let mut c = out_matrix.slice_mut(s![.., group * fg..(group + 1) * fg]);
                            gemm(T::one(), &patches.view(), &k, T::zero(), &mut c);
                        }
                    }
                    epilogue(&mut out_matrix, bias.as_ref(), activation);
                });
        });
    Ok(())
}

/// Adds the bias and applies the activation to a block of output pixels, while it is hot.
fn epilogue<T: Float>(
    block: &mut ArrayViewMut2<T>,
    bias: Option<&ArrayView1<T>>,
    activation: Activation,
) {
    for mut pixel in block.rows_mut() {
        match bias {
            Some(b) => Zip::from(&mut pixel)
                .and(b)
                .for_each(|y, &b| *y = activation.apply(*y + b)),
            None if activation != Activation::Linear => pixel.mapv_inplace(|y| activation.apply(y)),
            None => {}
        }
    }
}

/// Samples whose kernel gradients are summed into one partial, in order; fixed so that the
/// sum's order does not depend on the thread count.
const SAMPLES_PER_PARTIAL: usize = 4;

/// Gradients of a convolution, given `grad_output` = ∂loss/∂(pre-activation output) (apply
/// the activation's derivative first, see [`super::activation::backward_in_place`]).
///
/// Writes (overwrites) `grad_kernel`, `grad_bias` if given, and `grad_input` if given.
pub fn conv2d_backward<T: Float>(
    geometry: &Conv2dGeometry,
    input: ArrayView4<T>,
    kernel: ArrayView4<T>,
    grad_output: ArrayView4<T>,
    grad_input: Option<ArrayViewMut4<T>>,
    mut grad_kernel: ArrayViewMut4<T>,
    grad_bias: Option<ArrayViewMut1<T>>,
) -> Result<()> {
    let g = *geometry;
    let n = g.check(
        "convolution output gradient",
        input.shape(),
        kernel.shape(),
        grad_output.shape(),
    )?;
    expect_shape("kernel gradient", grad_kernel.shape(), kernel.shape())?;
    let pixels = g.out_h * g.out_w;
    let fg = g.group_filters();
    let kernel_matrix = kernel
        .to_shape((g.patch_len(), g.filters))
        .map_err(|e| KernelError::Geometry(e.to_string()))?;

    if let Some(mut grad_bias) = grad_bias {
        expect_shape("bias gradient", grad_bias.shape(), &[g.filters])?;
        let flat = grad_output
            .to_shape((n * pixels, g.filters))
            .map_err(|e| KernelError::Geometry(e.to_string()))?;
        column_sums(&flat.view(), &mut grad_bias);
    }

    // Kernel gradient: Σ_n Pₙᵀ · dYₙ, summed per fixed chunk of samples, then chunk by chunk.
    let partials: Vec<Array2<T>> = (0..n.div_ceil(SAMPLES_PER_PARTIAL))
        .into_par_iter()
        .map(|chunk| {
            let mut partial = Array2::<T>::zeros((g.patch_len(), g.filters));
            let mut patches = Array2::<T>::zeros((pixels, g.patch_len()));
            let end = ((chunk + 1) * SAMPLES_PER_PARTIAL).min(n);
            for sample in chunk * SAMPLES_PER_PARTIAL..end {
                let image = input.index_axis(Axis(0), sample);
                let dy = grad_output.index_axis(Axis(0), sample);
                let dy = dy
                    .to_shape((pixels, g.filters))
                    .expect("gradient image is contiguous");
                for group in 0..g.groups {
                    let d = dy.slice(s![.., group * fg..(group + 1) * fg]);
                    let mut p = partial.slice_mut(s![.., group * fg..(group + 1) * fg]);
                    if g.is_pointwise() {
                        let a = image
                            .to_shape((pixels, g.in_c))
                            .expect("image is contiguous");
                        gemm(T::one(), &a.t(), &d, T::one(), &mut p);
                    } else {
                        g.im2col(&image, group, 0, g.out_h, &mut patches.view_mut());
                        gemm(T::one(), &patches.t(), &d, T::one(), &mut p);
                    }
                }
            }
            partial
        })
        .collect();
    let mut total = grad_kernel
        .view_mut()
        .into_shape_with_order((g.patch_len(), g.filters))
        .map_err(|e| KernelError::Geometry(e.to_string()))?;
    total.fill(T::zero());
    for partial in &partials {
        total += partial;
    }

    if let Some(mut grad_input) = grad_input {
        expect_shape("input gradient", grad_input.shape(), input.shape())?;
        grad_input
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(grad_output.axis_iter(Axis(0)).into_par_iter())
            .for_each(|(mut dx, dy)| {
                dx.fill(T::zero());
                let dy = dy
                    .to_shape((pixels, g.filters))
                    .expect("gradient image is contiguous");
                let mut dpatches = Array2::<T>::zeros((pixels, g.patch_len()));
                for group in 0..g.groups {
                    let d = dy.slice(s![.., group * fg..(group + 1) * fg]);
                    let k = kernel_matrix.slice(s![.., group * fg..(group + 1) * fg]);
                    gemm(T::one(), &d, &k.t(), T::zero(), &mut dpatches.view_mut());
                    g.col2im(&dpatches.view(), group, &mut dx);
                }
            });
    }
    Ok(())
}

/// `sums[j] = Σ_i matrix[i, j]`, in row order, parallel over column blocks.
pub(crate) fn column_sums<T: Float>(matrix: &ArrayView2<T>, sums: &mut ArrayViewMut1<T>) {
    sums.axis_chunks_iter_mut(Axis(0), 16)
        .into_par_iter()
        .enumerate()
        .for_each(|(block, mut out)| {
            let j0 = block * 16;
            out.fill(T::zero());
            for row in matrix.rows() {
                for (k, o) in out.iter_mut().enumerate() {
                    *o += row[j0 + k];
                }
            }
        });
}
