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

use super::activation::{bias_activation, Activation};
use super::gemm::gemm;
use super::simd::vectorized;
use super::{expect_shape, min_items, KernelError, Result};
use crate::Float;
use ndarray::{
    s, Array2, ArrayView1, ArrayView2, ArrayView4, ArrayViewMut1, ArrayViewMut2, ArrayViewMut4,
    Axis,
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

    /// Output pixels of one image.
    pub fn pixels_per_image(&self) -> usize {
        self.pixels()
    }

    fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Fills `patches` (one row of `patch_len` values per output pixel, for the batch-wide
    /// pixels `first..first + rows`) with the inputs under each window, for `group`.
    /// `input` is the whole batch, contiguous NHWC.
    fn im2col<T: Float>(&self, input: &[T], group: usize, first: usize, patches: &mut [T]) {
        let (cg, k) = (self.group_channels(), self.patch_len());
        let image_len = self.in_h * self.in_w * self.in_c;
        let row_len = self.in_w * self.in_c;
        let per_image = self.pixels();
        // The pixel's image and position advance with the rows, without a division per row.
        let (mut n, r) = (first / per_image, first % per_image);
        let (mut oh, mut ow) = (r / self.out_w, r % self.out_w);
        let contiguous_rows = self.dilation_w == 1 && self.groups == 1;
        let run = self.kernel_w * cg;
        for patch in patches.chunks_exact_mut(k) {
            let image = &input[n * image_len..(n + 1) * image_len];
            let w0 = (ow * self.stride_w) as isize - self.padding.left as isize;
            let inside_w =
                w0 >= 0 && w0 as usize + (self.kernel_w - 1) * self.dilation_w < self.in_w;
            for (i, taps) in patch.chunks_exact_mut(run).enumerate() {
                let ih =
                    (oh * self.stride_h + i * self.dilation_h) as isize - self.padding.top as isize;
                if ih < 0 || ih as usize >= self.in_h {
                    taps.fill(T::zero());
                    continue;
                }
                let row = &image[ih as usize * row_len..][..row_len];
                if contiguous_rows && inside_w {
                    // The common case: the kernel row lies inside the input row, one run.
                    let start = w0 as usize * cg;
                    copy(taps, &row[start..start + run]);
                } else if contiguous_rows {
                    let first = (-w0).clamp(0, self.kernel_w as isize) as usize;
                    let last = (self.in_w as isize - w0)
                        .clamp(first as isize, self.kernel_w as isize)
                        as usize;
                    taps[..first * cg].fill(T::zero());
                    taps[last * cg..].fill(T::zero());
                    if last > first {
                        let start = (w0 + first as isize) as usize * cg;
                        copy(
                            &mut taps[first * cg..last * cg],
                            &row[start..start + (last - first) * cg],
                        );
                    }
                } else {
                    for (j, dst) in taps.chunks_exact_mut(cg).enumerate() {
                        let iw = w0 + (j * self.dilation_w) as isize;
                        if iw < 0 || iw as usize >= self.in_w {
                            dst.fill(T::zero());
                        } else {
                            let at = iw as usize * self.in_c + group * cg;
                            copy(dst, &row[at..at + cg]);
                        }
                    }
                }
            }
            ow += 1;
            if ow == self.out_w {
                ow = 0;
                oh += 1;
                if oh == self.out_h {
                    oh = 0;
                    n += 1;
                }
            }
        }
    }

    /// Adds one image's patch-matrix gradient `dpatches` (pixels × patch_len) onto its input
    /// gradient `dimage` (contiguous HWC): the adjoint of [`Self::im2col`].
    fn col2im<T: Float>(&self, dpatches: &[T], group: usize, dimage: &mut [T]) {
        let (cg, k) = (self.group_channels(), self.patch_len());
        for (r, patch) in dpatches.chunks_exact(k).enumerate() {
            let (oh, ow) = (r / self.out_w, r % self.out_w);
            for i in 0..self.kernel_h {
                let ih =
                    (oh * self.stride_h + i * self.dilation_h) as isize - self.padding.top as isize;
                if ih < 0 || ih as usize >= self.in_h {
                    continue;
                }
                let row_start = ih as usize * self.in_w;
                for j in 0..self.kernel_w {
                    let iw = (ow * self.stride_w + j * self.dilation_w) as isize
                        - self.padding.left as isize;
                    if iw < 0 || iw as usize >= self.in_w {
                        continue;
                    }
                    let at = (row_start + iw as usize) * self.in_c + group * cg;
                    let src = &patch[(i * self.kernel_w + j) * cg..][..cg];
                    for (d, s) in dimage[at..at + cg].iter_mut().zip(src) {
                        *d += *s;
                    }
                }
            }
        }
    }

    /// For a stride-1, ungrouped convolution whose padding is within the kernel's reach, the
    /// geometry and kernel of the convolution that computes its input gradient: over `dY`,
    /// with the kernel flipped in space and its channels and filters swapped
    /// (`k'[i, j, f, c] = k[kh − 1 − i, kw − 1 − j, c, f]`) and padding `(kh − 1)·dh − pad`.
    ///
    /// Only where it moves less data than the scatter: its patch matrix has
    /// `in_pixels × kh·kw·F` entries, the scatter's `out_pixels × kh·kw·C`. For `same`
    /// layers with as many filters as channels (VGG, ResNet) they are equal and the long
    /// reduction wins; for a layer that widens its channels over a shrinking image
    /// (LeNet-5's second convolution: 196 · 16 against 100 · 6) the scatter is five times
    /// smaller and measured 2.5 times faster.
    fn transposed<T: Float>(
        &self,
        kernel: &ArrayView4<T>,
    ) -> Option<(Conv2dGeometry, ndarray::Array4<T>)> {
        let reach_h = (self.kernel_h - 1) * self.dilation_h;
        let reach_w = (self.kernel_w - 1) * self.dilation_w;
        let p = self.padding;
        if self.stride_h != 1
            || self.stride_w != 1
            || self.groups != 1
            || self.in_h * self.in_w * self.filters > self.out_h * self.out_w * self.in_c
            || p.top > reach_h
            || p.bottom > reach_h
            || p.left > reach_w
            || p.right > reach_w
        {
            return None;
        }
        let padding = Padding2d {
            top: reach_h - p.top,
            bottom: reach_h - p.bottom,
            left: reach_w - p.left,
            right: reach_w - p.right,
        };
        let geometry = Conv2dGeometry::new(
            [self.out_h, self.out_w, self.filters],
            self.in_c,
            [self.kernel_h, self.kernel_w],
            [1, 1],
            [self.dilation_h, self.dilation_w],
            padding,
            1,
        )
        .ok()?;
        let (kh, kw) = (self.kernel_h, self.kernel_w);
        let flipped =
            ndarray::Array4::from_shape_fn((kh, kw, self.filters, self.in_c), |(i, j, f, c)| {
                kernel[[kh - 1 - i, kw - 1 - j, c, f]]
            });
        (geometry.out_h == self.in_h && geometry.out_w == self.in_w).then_some((geometry, flipped))
    }

    /// Whether [`direct_small`] handles this convolution: unpadded, stride 1, ungrouped,
    /// undilated, with few channels and filters, where a patch matrix costs more to build
    /// than the product saves.
    fn is_small_direct(&self) -> bool {
        self.padding == Padding2d::default()
            && [
                self.stride_h,
                self.stride_w,
                self.dilation_h,
                self.dilation_w,
                self.groups,
            ] == [1; 5]
            && self.in_c <= 4
            && self.filters <= DIRECT_MAX_FILTERS
            && !self.is_pointwise()
    }

    /// Images whose kernel gradients are summed into one partial: as many as keep the patch
    /// matrix near 4 M values. It depends only on the shapes, so the order of the sum does
    /// not depend on the thread count.
    fn images_per_partial(&self) -> usize {
        (4 << 20) / (self.pixels() * self.patch_len()).max(1)
    }
}

/// Copies a short run without a call to `memcpy`, which dominates for runs of a few values.
#[inline]
fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// The most filters for which [`direct_small`] is used instead of a patch matrix and a
/// product. Measured on LeNet-5's first convolution (1 channel, 6 filters, 5×5) at batch
/// 64, one thread, with the loops vectorised for AVX-512 (see `simd.rs`): the whole
/// network's forward pass takes 1.02 ms with it, 1.93 ms with the patch matrix, and
/// forward + backward 2.94 ms against 3.66 ms. (With four SSE lanes only, before that
/// vectorisation, the product won from five filters on.)
const DIRECT_MAX_FILTERS: usize = 8;

/// How many partial kernel gradients a batch is split into at least (when it has that many
/// images).
const PARTIALS: usize = 8;

/// Output pixels (across the batch) per parallel task in forward: enough rows to keep a
/// matrix product efficient, few enough to spread over the cores.
const PIXELS_PER_TASK: usize = 512;

fn contiguous<'a, T: Float>(x: &'a ndarray::CowArray<'a, T, ndarray::Ix4>) -> &'a [T] {
    x.as_slice().expect("standard layout arrays are contiguous")
}

/// `output = activation(conv(input, kernel) + bias)`.
///
/// Output pixels of the whole batch are split into blocks; each block is one patch matrix
/// times the kernel per group, then the bias and activation while it is in cache.
/// `activation` must not need its input for backward ([`Activation::needs_input`]); apply
/// such activations separately. `output` must be in standard layout.
pub fn conv2d_forward<T: Float>(
    geometry: &Conv2dGeometry,
    input: ArrayView4<T>,
    kernel: ArrayView4<T>,
    bias: Option<ArrayView1<T>>,
    activation: Activation,
    output: ArrayViewMut4<T>,
) -> Result<()> {
    forward(geometry, input, kernel, bias, activation, output, None)
}

/// [`conv2d_forward`] that also leaves the whole patch matrix (`N·OH·OW × kh·kw·C`) in
/// `patches`, for [`conv2d_backward_with_patches`] to reuse instead of building it again.
/// Returns whether it did: only ungrouped convolutions that need a patch matrix keep one.
pub fn conv2d_forward_keeping_patches<T: Float>(
    geometry: &Conv2dGeometry,
    input: ArrayView4<T>,
    kernel: ArrayView4<T>,
    bias: Option<ArrayView1<T>>,
    activation: Activation,
    output: ArrayViewMut4<T>,
    patches: &mut Vec<T>,
) -> Result<bool> {
    // The direct kernel needs no patch matrix, forward or backward.
    let keep = geometry.groups == 1 && !geometry.is_pointwise() && !geometry.is_small_direct();
    if keep {
        let n = input.shape().first().copied().unwrap_or(0);
        patches.resize(n * geometry.pixels() * geometry.patch_len(), T::zero());
        forward(
            geometry,
            input,
            kernel,
            bias,
            activation,
            output,
            Some(patches),
        )?;
    } else {
        forward(geometry, input, kernel, bias, activation, output, None)?;
    }
    Ok(keep)
}

fn forward<T: Float>(
    geometry: &Conv2dGeometry,
    input: ArrayView4<T>,
    kernel: ArrayView4<T>,
    bias: Option<ArrayView1<T>>,
    activation: Activation,
    mut output: ArrayViewMut4<T>,
    kept: Option<&mut [T]>,
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
    let kernel = kernel.to_shape((g.patch_len(), g.filters))?;
    let input = input.as_standard_layout();
    let input = contiguous(&input);
    let out = output
        .as_slice_mut()
        .ok_or_else(|| KernelError::Geometry("convolution output must be contiguous".into()))?;
    let (k, fg) = (g.patch_len(), g.group_filters());
    let bias: Option<Vec<T>> = bias.map(|b| b.to_vec());
    if kept.is_none() && g.is_small_direct() {
        direct_small(
            &g,
            input,
            kernel.as_slice().expect("kernel is contiguous"),
            bias.as_deref(),
            activation,
            out,
        );
        return Ok(());
    }
    let block = |patches: &mut [T], first: usize, out: &mut [T]| {
        let rows = out.len() / g.filters;
        let mut out_matrix =
            ArrayViewMut2::from_shape((rows, g.filters), &mut *out).expect("blocks are whole rows");
        if g.is_pointwise() {
            let a = ArrayView2::from_shape(
                (rows, g.in_c),
                &input[first * g.in_c..(first + rows) * g.in_c],
            )
            .expect("pointwise input rows");
            gemm(T::one(), &a, &kernel.view(), T::zero(), &mut out_matrix);
        } else {
            for group in 0..g.groups {
                g.im2col(input, group, first, patches);
                let a = ArrayView2::from_shape((rows, k), &*patches).expect("patch matrix");
                let b = kernel.slice(s![.., group * fg..(group + 1) * fg]);
                let mut c = out_matrix.slice_mut(s![.., group * fg..(group + 1) * fg]);
                gemm(T::one(), &a, &b, T::zero(), &mut c);
            }
        }
        bias_activation(out, bias.as_deref(), activation);
    };
    let tasks = out
        .par_chunks_mut(PIXELS_PER_TASK * g.filters)
        .enumerate()
        .with_min_len(min_items(PIXELS_PER_TASK * k * g.filters));
    match kept {
        // Each block builds its patches in its own part of the kept matrix.
        Some(kept) => tasks
            .zip(kept.par_chunks_mut(PIXELS_PER_TASK * k))
            .for_each(|((index, out), patches)| block(patches, index * PIXELS_PER_TASK, out)),
        // Each worker reuses one patch buffer: a fresh megabyte per block would be mapped
        // and unmapped by the allocator every time, and page faults serialise the threads.
        None => tasks.for_each_init(Vec::new, |patches, (index, out)| {
            patches.resize(out.len() / g.filters * k, T::zero());
            block(patches, index * PIXELS_PER_TASK, out)
        }),
    }
    Ok(())
}

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
    grad_kernel: ArrayViewMut4<T>,
    grad_bias: Option<ArrayViewMut1<T>>,
) -> Result<()> {
    conv2d_backward_with_patches(
        geometry,
        input,
        kernel,
        grad_output,
        grad_input,
        grad_kernel,
        grad_bias,
        None,
    )
}

/// [`conv2d_backward`], reusing the patch matrix that [`conv2d_forward_keeping_patches`]
/// kept for this input (`None`: build it again).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_with_patches<T: Float>(
    geometry: &Conv2dGeometry,
    input: ArrayView4<T>,
    kernel: ArrayView4<T>,
    grad_output: ArrayView4<T>,
    grad_input: Option<ArrayViewMut4<T>>,
    mut grad_kernel: ArrayViewMut4<T>,
    grad_bias: Option<ArrayViewMut1<T>>,
    patches: Option<&[T]>,
) -> Result<()> {
    let n_images = input.shape().first().copied().unwrap_or(0);
    let whole = n_images * geometry.pixels() * geometry.patch_len();
    let kept = match patches {
        Some(p) if p.len() == whole && geometry.groups == 1 => Some(p),
        Some(p) => {
            return Err(KernelError::Shape {
                what: "kept patch matrix",
                expected: vec![whole],
                got: vec![p.len()],
            })
        }
        None => None,
    };
    let g = *geometry;
    let n = g.check(
        "convolution output gradient",
        input.shape(),
        kernel.shape(),
        grad_output.shape(),
    )?;
    expect_shape("kernel gradient", grad_kernel.shape(), kernel.shape())?;
    let (k, fg, pixels) = (g.patch_len(), g.group_filters(), g.pixels());
    let kernel_matrix = kernel.to_shape((k, g.filters))?;
    let input = input.as_standard_layout();
    let input = contiguous(&input);
    let grad_output = grad_output.as_standard_layout();
    let dy_all = ArrayView2::from_shape((n * pixels, g.filters), contiguous(&grad_output))
        .expect("gradient matrix");

    if let Some(mut grad_bias) = grad_bias {
        expect_shape("bias gradient", grad_bias.shape(), &[g.filters])?;
        column_sums(&dy_all, &mut grad_bias);
    }

    // Kernel gradient: Σ Pᵀ · dY over fixed chunks of images, then over chunks in order.
    // At least eight partials when there are eight images, so the sum spreads over the
    // cores; like the patch budget, this depends only on the shapes.
    let chunk = g
        .images_per_partial()
        .min(n.div_ceil(PARTIALS))
        .clamp(1, n.max(1));
    let partials: Vec<Array2<T>> = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map_init(
            || (Vec::new(), DirectScratch::default()),
            |(patches, direct), c| {
                let images = chunk.min(n - c * chunk);
                let (first, rows) = (c * chunk * pixels, images * pixels);
                let mut partial = Array2::<T>::zeros((k, g.filters));
                let dy = dy_all.slice(s![first..first + rows, ..]);
                if g.is_pointwise() {
                    let a = ArrayView2::from_shape(
                        (rows, g.in_c),
                        &input[first * g.in_c..(first + rows) * g.in_c],
                    )
                    .expect("pointwise input rows");
                    gemm(T::one(), &a.t(), &dy, T::zero(), &mut partial.view_mut());
                } else if g.is_small_direct() {
                    let image_len = g.in_h * g.in_w * g.in_c;
                    let first_image = c * chunk;
                    direct_small_kernel_grad(
                        &g,
                        &input[first_image * image_len..(first_image + images) * image_len],
                        dy.as_slice().expect("rows of a contiguous matrix"),
                        partial.as_slice_mut().expect("owned matrix"),
                        direct,
                    );
                } else if let Some(kept) = kept {
                    let a = ArrayView2::from_shape((rows, k), &kept[first * k..(first + rows) * k])
                        .expect("kept patches");
                    gemm(T::one(), &a.t(), &dy, T::zero(), &mut partial.view_mut());
                } else {
                    patches.resize(rows * k, T::zero());
                    for group in 0..g.groups {
                        g.im2col(input, group, first, patches);
                        let a =
                            ArrayView2::from_shape((rows, k), &patches[..]).expect("patch matrix");
                        let d = dy.slice(s![.., group * fg..(group + 1) * fg]);
                        let mut p = partial.slice_mut(s![.., group * fg..(group + 1) * fg]);
                        gemm(T::one(), &a.t(), &d, T::zero(), &mut p);
                    }
                }
                partial
            },
        )
        .collect();
    let mut total = grad_kernel
        .view_mut()
        .into_shape_with_order((k, g.filters))?;
    total.fill(T::zero());
    for partial in &partials {
        total += partial;
    }

    if let Some(mut grad_input) = grad_input {
        expect_shape(
            "input gradient",
            grad_input.shape(),
            &[n, g.in_h, g.in_w, g.in_c],
        )?;
        if let Some((transposed, flipped)) = g.transposed(&kernel) {
            // dX is the full correlation of dY with the flipped kernel: the forward kernel,
            // with its long `kh·kw·F` reduction, instead of a short one and a scatter.
            let dy = ArrayView4::from_shape(
                (n, g.out_h, g.out_w, g.filters),
                dy_all.as_slice().expect("contiguous"),
            )
            .expect("gradient images");
            return conv2d_forward(
                &transposed,
                dy,
                flipped.view(),
                None,
                Activation::Linear,
                grad_input,
            );
        }
        let image_len = g.in_h * g.in_w * g.in_c;
        let dx_all = grad_input
            .as_slice_mut()
            .ok_or_else(|| KernelError::Geometry("input gradient must be contiguous".into()))?;
        dx_all
            .par_chunks_mut(image_len.max(1))
            .enumerate()
            .with_min_len(min_items(pixels * k * g.filters))
            .for_each_init(
                || Array2::<T>::zeros((pixels, k)),
                |dpatches, (sample, dx)| {
                    dx.fill(T::zero());
                    let dy = dy_all.slice(s![sample * pixels..(sample + 1) * pixels, ..]);
                    for group in 0..g.groups {
                        let d = dy.slice(s![.., group * fg..(group + 1) * fg]);
                        let w = kernel_matrix.slice(s![.., group * fg..(group + 1) * fg]);
                        gemm(T::one(), &d, &w.t(), T::zero(), &mut dpatches.view_mut());
                        g.col2im(dpatches.as_slice().expect("owned matrix"), group, dx);
                    }
                },
            );
    }
    Ok(())
}

/// A direct convolution for small layers (see [`Conv2dGeometry::is_small_direct`]): each
/// image is turned to channels-first, then every filter's output plane accumulates
/// `k[i, j, c, f] · x[c, oh + i, ow + j]` one kernel entry at a time. The plane is computed
/// at the input's width, so that each entry is a single multiply-add along one contiguous
/// run of the input plane (from `(i, j)`, `OH · W` values: a long loop that vectorises,
/// where row by row it was `OW` values at a time); the extra `kw − 1` columns are dropped
/// when the plane is written back channels-last with the bias and activation. The order of
/// the sum over entries is fixed, so results do not depend on the thread count.
fn direct_small<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    kernel: &[T],
    bias: Option<&[T]>,
    activation: Activation,
    out: &mut [T],
) {
    let (h, w, c, f) = (g.in_h, g.in_w, g.in_c, g.filters);
    let (oh_n, ow_n) = (g.out_h, g.out_w);
    let image_len = h * w * c;
    let out_len = oh_n * ow_n * f;
    out.par_chunks_mut(out_len)
        .zip(input.par_chunks(image_len))
        .with_min_len(min_items(g.macs()))
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |scratch, (out, image)| {
                vectorized(
                    #[inline(always)]
                    || direct_image(g, image, kernel, bias, activation, out, scratch),
                )
            },
        );
}

/// [`direct_small`] on one image, with two reusable buffers: the input planes and one
/// output plane at the input's width.
#[inline(always)]
fn direct_image<T: Float>(
    g: &Conv2dGeometry,
    image: &[T],
    kernel: &[T],
    bias: Option<&[T]>,
    activation: Activation,
    out: &mut [T],
    (planes, plane): &mut (Vec<T>, Vec<T>),
) {
    let (h, w, c, f) = (g.in_h, g.in_w, g.in_c, g.filters);
    let (oh_n, ow_n) = (g.out_h, g.out_w);
    let run = oh_n * w;
    channels_first(image, c, planes);
    // The run from (kh − 1, kw − 1) reaches kw − 1 values past the last plane.
    planes.resize(image.len() + g.kernel_w, T::zero());
    plane.resize(run, T::zero());
    for filter in 0..f {
        plane.fill(bias.map_or(T::zero(), |b| b[filter]));
        for i in 0..g.kernel_h {
            for j in 0..g.kernel_w {
                for ch in 0..c {
                    let weight = kernel[((i * g.kernel_w + j) * c + ch) * f + filter];
                    let src = &planes[ch * h * w + i * w + j..][..run];
                    for (acc, &x) in plane.iter_mut().zip(src) {
                        *acc += weight * x;
                    }
                }
            }
        }
        for (oh, row) in plane.chunks_exact(w).enumerate() {
            for (ow, &v) in row[..ow_n].iter().enumerate() {
                out[(oh * ow_n + ow) * f + filter] = v;
            }
        }
    }
    bias_activation(out, None, activation);
}

/// Rewrites channels-last `values` (`pixels × channels`) as one plane per channel.
#[inline(always)]
fn channels_first<T: Float>(values: &[T], channels: usize, planes: &mut Vec<T>) {
    let pixels = values.len() / channels;
    planes.resize(values.len(), T::zero());
    for (pixel, cell) in values.chunks_exact(channels).enumerate() {
        for (ch, &v) in cell.iter().enumerate() {
            planes[ch * pixels + pixel] = v;
        }
    }
}

/// Buffers one worker reuses for [`direct_small_kernel_grad`].
#[derive(Default)]
struct DirectScratch<T> {
    planes: Vec<T>,
    grad_planes: Vec<T>,
}

/// The kernel gradient of a small direct convolution (see [`direct_small`]) over some
/// images, without a patch matrix. Each kernel entry `(i, j, c, f)` gets
/// `Σ x[c, oh + i, ow + j] · dy[f, oh, ow]` as one long dot product per image: `dy`'s planes
/// are widened to the input's width with zero columns, so that the input values it pairs
/// with are one contiguous run of the input plane starting at `(i, j)`. Writes `partial`
/// (`kh·kw·C × F`), adding images in order.
fn direct_small_kernel_grad<T: Float>(
    g: &Conv2dGeometry,
    images: &[T],
    grad_output: &[T],
    partial: &mut [T],
    scratch: &mut DirectScratch<T>,
) {
    vectorized(
        #[inline(always)]
        || {
            let (h, w, c, f) = (g.in_h, g.in_w, g.in_c, g.filters);
            let (oh_n, ow_n) = (g.out_h, g.out_w);
            let run = oh_n * w;
            let DirectScratch {
                planes,
                grad_planes,
            } = scratch;
            partial.fill(T::zero());
            grad_planes.clear();
            grad_planes.resize(f * run, T::zero());
            for (image, dy) in images
                .chunks_exact(h * w * c)
                .zip(grad_output.chunks_exact(oh_n * ow_n * f))
            {
                channels_first(image, c, planes);
                // The last run starting at (kh − 1, kw − 1) reaches kw − 1 values past the planes.
                planes.resize(h * w * c + g.kernel_w, T::zero());
                for (pixel, cell) in dy.chunks_exact(f).enumerate() {
                    let (oh, ow) = (pixel / ow_n, pixel % ow_n);
                    for (filter, &v) in cell.iter().enumerate() {
                        grad_planes[filter * run + oh * w + ow] = v;
                    }
                }
                for i in 0..g.kernel_h {
                    for j in 0..g.kernel_w {
                        for ch in 0..c {
                            let x = &planes[ch * h * w + i * w + j..][..run];
                            let entry = (i * g.kernel_w + j) * c + ch;
                            for (filter, sum) in partial[entry * f..][..f].iter_mut().enumerate() {
                                *sum += dot(x, &grad_planes[filter * run..][..run]);
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `Σ a[i] · b[i]` in eight interleaved partial sums (which vectorises), then the rest.
#[inline(always)]
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    const LANES: usize = 8;
    let mut lanes = [T::zero(); LANES];
    let (a_tail, b_tail) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = a_tail
        .remainder()
        .iter()
        .zip(b_tail.remainder())
        .fold(T::zero(), |sum, (&x, &y)| sum + x * y);
    for (x, y) in a_tail.zip(b_tail) {
        for lane in 0..LANES {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().fold(tail, |sum, &v| sum + v)
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
