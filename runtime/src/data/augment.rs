//! Augmentation: random changes to training images, drawn afresh every epoch.
//!
//! Each image's changes come from its own ChaCha8 stream, keyed by the seed, the epoch and
//! the image's position in the epoch, so augmented batches are the same whatever the thread
//! count and after a resume. Translation, rotation, zoom and flips compose into one affine
//! map about the image's centre, sampled bilinearly once; pixels that come from outside the
//! image are zero (the background of MNIST-style digits; Keras reflects by default, which
//! mirrors strokes into the margin).

use crate::init::tensor_rng;
use crate::kernels::simd::vectorized;
use ndarray::{Array4, ArrayViewMut3, Axis, Zip};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// One augmentation, with Keras' meaning of its factors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Augmentation {
    /// A shift of up to `height · H` rows and `width · W` columns either way.
    Translation { height: f64, width: f64 },
    /// A rotation of up to `factor · 2π` either way.
    Rotation(f64),
    /// A scale of `1 ± height` vertically and `1 ± width` horizontally (positive: zoom out).
    Zoom { height: f64, width: f64 },
    /// Mirror images at random (probability ½ per axis).
    Flip { horizontal: bool, vertical: bool },
    /// Add normal noise of standard deviation `stddev` to every pixel.
    GaussianNoise(f64),
}

/// Applies a list of augmentations to batches.
#[derive(Clone, Debug, PartialEq)]
pub struct Augmenter {
    pub steps: Vec<Augmentation>,
    pub seed: u64,
}

/// The stream keys of augmentation never meet those of weight initialisation.
const STREAM_BASE: u64 = 1 << 62;

impl Augmenter {
    pub fn new(steps: Vec<Augmentation>, seed: u64) -> Self {
        Augmenter { steps, seed }
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Augments `batch` in place; `first` is the position of its first image in the epoch.
    pub fn apply(&self, batch: &mut Array4<f32>, epoch: u64, first: usize) {
        if self.steps.is_empty() {
            return;
        }
        let indices: Vec<usize> = (first..first + batch.len_of(Axis(0))).collect();
        Zip::from(batch.axis_iter_mut(Axis(0)))
            .and(&indices)
            .par_for_each(|image, &position| {
                let stream = STREAM_BASE + (epoch << 32) + position as u64;
                let mut rng = tensor_rng(self.seed, stream);
                self.augment_one(image, &mut rng);
            });
    }

    fn augment_one(&self, mut image: ArrayViewMut3<f32>, rng: &mut ChaCha8Rng) {
        let (h, w, channels) = image.dim();
        // The map from an output pixel to the input position it shows, as
        // `input = A · (output − centre − shift) + centre`.
        let mut a = [[1.0f64, 0.0], [0.0, 1.0]];
        let mut shift = [0.0f64, 0.0];
        let mut geometric = false;
        let mut noise = 0.0;
        let symmetric = |rng: &mut ChaCha8Rng, f: f64| f * (2.0 * rng.random::<f64>() - 1.0);
        for step in &self.steps {
            match *step {
                Augmentation::Translation { height, width } => {
                    shift[0] += symmetric(rng, height) * h as f64;
                    shift[1] += symmetric(rng, width) * w as f64;
                    geometric = true;
                }
                Augmentation::Rotation(factor) => {
                    let theta = symmetric(rng, factor) * std::f64::consts::TAU;
                    let (s, c) = theta.sin_cos();
                    a = matmul(a, [[c, s], [-s, c]]);
                    geometric = true;
                }
                Augmentation::Zoom { height, width } => {
                    let zy = 1.0 + symmetric(rng, height);
                    let zx = 1.0 + symmetric(rng, width);
                    a = matmul(a, [[zy, 0.0], [0.0, zx]]);
                    geometric = true;
                }
                Augmentation::Flip {
                    horizontal,
                    vertical,
                } => {
                    if vertical && rng.random::<bool>() {
                        a = matmul(a, [[-1.0, 0.0], [0.0, 1.0]]);
                        geometric = true;
                    }
                    if horizontal && rng.random::<bool>() {
                        a = matmul(a, [[1.0, 0.0], [0.0, -1.0]]);
                        geometric = true;
                    }
                }
                Augmentation::GaussianNoise(stddev) => noise = stddev,
            }
        }
        if geometric {
            let source = image.to_owned();
            let source = source.as_slice().expect("an owned copy is contiguous");
            let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
            let pixels = image
                .as_slice_mut()
                .expect("batch images are contiguous")
                .chunks_exact_mut(channels);
            // Compiled for the CPU's vector instructions, `floor` is one instruction instead
            // of a library call (see `kernels::simd`).
            vectorized(
                #[inline(always)]
                || {
                    for (pixel, out) in pixels.enumerate() {
                        let (i, j) = (pixel / w, pixel % w);
                        let (dy, dx) = (i as f64 - cy - shift[0], j as f64 - cx - shift[1]);
                        let y = a[0][0] * dy + a[0][1] * dx + cy;
                        let x = a[1][0] * dy + a[1][1] * dx + cx;
                        sample_or_zero(source, [h, w, channels], y, x, out);
                    }
                },
            );
        }
        if noise > 0.0 {
            let stddev = noise as f32;
            for x in image.iter_mut() {
                let z: f64 = StandardNormal.sample(rng);
                *x += stddev * z as f32;
            }
        }
    }
}

fn matmul(a: [[f64; 2]; 2], b: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    [
        [
            a[0][0] * b[0][0] + a[0][1] * b[1][0],
            a[0][0] * b[0][1] + a[0][1] * b[1][1],
        ],
        [
            a[1][0] * b[0][0] + a[1][1] * b[1][0],
            a[1][0] * b[0][1] + a[1][1] * b[1][1],
        ],
    ]
}

/// Bilinear sampling of every channel at `(y, x)` of the `[h, w, c]` image `src`, into
/// `out`; every position outside the image reads zero.
#[inline(always)]
fn sample_or_zero(src: &[f32], [h, w, c]: [usize; 3], y: f64, x: f64, out: &mut [f32]) {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = ((y - y0) as f32, (x - x0) as f32);
    // The four neighbours' offsets into `src`, or `None` outside the image.
    let cell = |yy: f64, xx: f64| -> Option<usize> {
        let inside = yy >= 0.0 && xx >= 0.0 && yy < h as f64 && xx < w as f64;
        inside.then(|| (yy as usize * w + xx as usize) * c)
    };
    let corners = [
        cell(y0, x0),
        cell(y0, x0 + 1.0),
        cell(y0 + 1.0, x0),
        cell(y0 + 1.0, x0 + 1.0),
    ];
    let at = |corner: Option<usize>, ch: usize| corner.map_or(0.0, |offset| src[offset + ch]);
    for (ch, out) in out.iter_mut().enumerate() {
        let top = at(corners[0], ch) * (1.0 - fx) + at(corners[1], ch) * fx;
        let bottom = at(corners[2], ch) * (1.0 - fx) + at(corners[3], ch) * fx;
        *out = top * (1.0 - fy) + bottom * fy;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit() -> Array4<f32> {
        let mut batch = Array4::zeros((4, 8, 8, 1));
        for n in 0..4 {
            for i in 2..6 {
                batch[[n, i, 3, 0]] = 1.0;
            }
        }
        batch
    }

    #[test]
    fn translation_by_whole_pixels_moves_mass_without_losing_it() {
        let aug = Augmenter::new(
            vec![Augmentation::Translation {
                height: 0.25,
                width: 0.25,
            }],
            3,
        );
        let mut batch = digit();
        aug.apply(&mut batch, 0, 0);
        for image in batch.axis_iter(Axis(0)) {
            // A fractional shift spreads the stroke but keeps its total inside the frame.
            let total: f32 = image.sum();
            assert!(total > 2.0 && total <= 4.0 + 1e-5, "{total}");
        }
        assert_ne!(batch, digit());
    }

    #[test]
    fn same_seed_epoch_and_position_give_the_same_images() {
        let aug = Augmenter::new(
            vec![
                Augmentation::Rotation(0.1),
                Augmentation::Zoom {
                    height: 0.1,
                    width: 0.1,
                },
                Augmentation::Flip {
                    horizontal: true,
                    vertical: false,
                },
                Augmentation::GaussianNoise(0.1),
            ],
            7,
        );
        let (mut a, mut b, mut c) = (digit(), digit(), digit());
        aug.apply(&mut a, 1, 10);
        aug.apply(&mut b, 1, 10);
        aug.apply(&mut c, 2, 10);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// Flips land pixel centres on pixel centres: they move pixels and never lose them.
    #[test]
    fn flips_keep_every_pixel() {
        let flips = Augmenter::new(
            vec![Augmentation::Flip {
                horizontal: true,
                vertical: true,
            }],
            0,
        );
        let mut batch = digit();
        flips.apply(&mut batch, 0, 0);
        for image in batch.axis_iter(Axis(0)) {
            assert_eq!(image.sum(), 4.0);
        }
    }
}
