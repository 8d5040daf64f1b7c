//! Preprocessing: applied to training, validation and test images alike, once, before
//! training. Each step works image by image, in parallel; results do not depend on the
//! thread count.

use super::DataError;
use ndarray::{Array4, ArrayView3, ArrayViewMut3, Axis, Zip};
use serde::{Deserialize, Serialize};

/// One preprocessing step, as the `.cnn` language names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Preprocess {
    /// `x · scale + offset` (Keras' `Rescaling`).
    Rescale { scale: f64, offset: f64 },
    /// `(x − mean) / √variance` per channel; left out, both are learned from the training
    /// images by [`Preprocessing::fit`] (Keras' `Normalization.adapt`).
    Normalization {
        mean: Option<f64>,
        variance: Option<f64>,
    },
    /// Zeros around each image, `padding` pixels on every side.
    ZeroPadding(usize),
    /// Bilinear resampling to `height × width` (half-pixel centres, as Keras).
    Resizing { height: usize, width: usize },
    /// The median of each `k × k` neighbourhood, per channel (edges repeat the border).
    MedianFilter(usize),
    /// A Gaussian blur of standard deviation `sigma` pixels, truncated at 3σ (edges repeat
    /// the border).
    GaussianBlur(f64),
}

/// The steps of a `preprocess:` list, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub steps: Vec<Preprocess>,
}

/// Keras' floor on the standard deviation in `Normalization`.
const NORMALIZATION_EPSILON: f64 = 1e-7;

impl Preprocessing {
    pub fn new(steps: Vec<Preprocess>) -> Self {
        Preprocessing { steps }
    }

    /// Learns what the steps leave to the data (a `normalization()` without arguments) from
    /// the training images, running the steps before it first.
    pub fn fit(&mut self, train: &Array4<f32>) -> Result<(), DataError> {
        let mut images = None::<Array4<f32>>;
        for i in 0..self.steps.len() {
            if let Preprocess::Normalization { mean, variance } = &mut self.steps[i] {
                if mean.is_none() || variance.is_none() {
                    let current = images.as_ref().unwrap_or(train);
                    let (m, v) = moments(current);
                    mean.get_or_insert(m);
                    variance.get_or_insert(v);
                }
            }
            let current = images.take().unwrap_or_else(|| train.clone());
            images = Some(apply_step(&self.steps[i], current)?);
        }
        Ok(())
    }

    /// Runs every step on `images`.
    pub fn apply(&self, mut images: Array4<f32>) -> Result<Array4<f32>, DataError> {
        for step in &self.steps {
            images = apply_step(step, images)?;
        }
        Ok(images)
    }

    /// The shape of one image after every step.
    pub fn output_shape(&self, mut shape: [usize; 3]) -> [usize; 3] {
        for step in &self.steps {
            match *step {
                Preprocess::ZeroPadding(p) => {
                    shape[0] += 2 * p;
                    shape[1] += 2 * p;
                }
                Preprocess::Resizing { height, width } => {
                    shape[0] = height;
                    shape[1] = width;
                }
                _ => {}
            }
        }
        shape
    }
}

/// Mean and (biased) variance over every pixel, in f64.
fn moments(images: &Array4<f32>) -> (f64, f64) {
    let n = images.len().max(1) as f64;
    let mean = images.iter().map(|&x| x as f64).sum::<f64>() / n;
    let variance = images
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, variance)
}

fn apply_step(step: &Preprocess, mut images: Array4<f32>) -> Result<Array4<f32>, DataError> {
    match *step {
        Preprocess::Rescale { scale, offset } => {
            let (scale, offset) = (scale as f32, offset as f32);
            images.par_mapv_inplace(|x| x * scale + offset);
            Ok(images)
        }
        Preprocess::Normalization { mean, variance } => {
            let (Some(mean), Some(variance)) = (mean, variance) else {
                return Err(DataError::Invalid(
                    "normalization() must be fitted to the training data before use".into(),
                ));
            };
            let inv = (1.0 / variance.sqrt().max(NORMALIZATION_EPSILON)) as f32;
            let mean = mean as f32;
            images.par_mapv_inplace(|x| (x - mean) * inv);
            Ok(images)
        }
        Preprocess::ZeroPadding(p) => {
            let (n, h, w, c) = images.dim();
            let mut out = Array4::zeros((n, h + 2 * p, w + 2 * p, c));
            out.slice_mut(ndarray::s![.., p..p + h, p..p + w, ..])
                .assign(&images);
            Ok(out)
        }
        Preprocess::Resizing { height, width } => {
            let (n, _, _, c) = images.dim();
            Ok(per_image(&images, (n, height, width, c), resize))
        }
        Preprocess::MedianFilter(k) => Ok(per_image(&images, images.dim(), |src, dst| {
            median(src, dst, k)
        })),
        Preprocess::GaussianBlur(sigma) => Ok(per_image(&images, images.dim(), |src, dst| {
            blur(src, dst, sigma)
        })),
    }
}

/// Runs `f(source, destination)` on every image in parallel.
fn per_image(
    images: &Array4<f32>,
    out_dim: (usize, usize, usize, usize),
    f: impl Fn(ArrayView3<f32>, ArrayViewMut3<f32>) + Sync,
) -> Array4<f32> {
    let mut out = Array4::zeros(out_dim);
    Zip::from(out.axis_iter_mut(Axis(0)))
        .and(images.axis_iter(Axis(0)))
        .par_for_each(|dst, src| f(src, dst));
    out
}

/// Bilinear sampling of `src` at a fractional pixel position, edges clamped.
pub(crate) fn bilinear(src: &ArrayView3<f32>, y: f64, x: f64, channel: usize) -> f32 {
    let (h, w, _) = src.dim();
    let y = y.clamp(0.0, (h - 1) as f64);
    let x = x.clamp(0.0, (w - 1) as f64);
    let (y0, x0) = (y.floor() as usize, x.floor() as usize);
    let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
    let (fy, fx) = ((y - y0 as f64) as f32, (x - x0 as f64) as f32);
    let top = src[[y0, x0, channel]] * (1.0 - fx) + src[[y0, x1, channel]] * fx;
    let bottom = src[[y1, x0, channel]] * (1.0 - fx) + src[[y1, x1, channel]] * fx;
    top * (1.0 - fy) + bottom * fy
}

fn resize(src: ArrayView3<f32>, mut dst: ArrayViewMut3<f32>) {
    let (h, w, _) = src.dim();
    let (oh, ow, c) = dst.dim();
    let (sy, sx) = (h as f64 / oh as f64, w as f64 / ow as f64);
    for i in 0..oh {
        for j in 0..ow {
            let y = (i as f64 + 0.5) * sy - 0.5;
            let x = (j as f64 + 0.5) * sx - 0.5;
            for ch in 0..c {
                dst[[i, j, ch]] = bilinear(&src, y, x, ch);
            }
        }
    }
}

fn median(src: ArrayView3<f32>, mut dst: ArrayViewMut3<f32>, k: usize) {
    let (h, w, c) = src.dim();
    let r = (k / 2) as isize;
    let mut window = Vec::with_capacity(k * k);
    for i in 0..h {
        for j in 0..w {
            for ch in 0..c {
                window.clear();
                for di in -r..=r {
                    for dj in -r..=r {
                        let y = (i as isize + di).clamp(0, h as isize - 1) as usize;
                        let x = (j as isize + dj).clamp(0, w as isize - 1) as usize;
                        window.push(src[[y, x, ch]]);
                    }
                }
                window.sort_by(f32::total_cmp);
                dst[[i, j, ch]] = window[window.len() / 2];
            }
        }
    }
}

fn blur(src: ArrayView3<f32>, mut dst: ArrayViewMut3<f32>, sigma: f64) {
    let (h, w, c) = src.dim();
    let radius = (3.0 * sigma).ceil() as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp())
        .collect::<Vec<f64>>()
        .iter()
        .map(|&v| v as f32)
        .collect();
    let total: f32 = weights.iter().sum();
    let weights: Vec<f32> = weights.iter().map(|v| v / total).collect();
    // Rows, then columns: the 2-D Gaussian is separable.
    let mut rows = ndarray::Array3::<f32>::zeros((h, w, c));
    for i in 0..h {
        for j in 0..w {
            for ch in 0..c {
                rows[[i, j, ch]] = (-radius..=radius)
                    .zip(&weights)
                    .map(|(d, wt)| {
                        let x = (j as isize + d).clamp(0, w as isize - 1) as usize;
                        wt * src[[i, x, ch]]
                    })
                    .sum();
            }
        }
    }
    for i in 0..h {
        for j in 0..w {
            for ch in 0..c {
                dst[[i, j, ch]] = (-radius..=radius)
                    .zip(&weights)
                    .map(|(d, wt)| {
                        let y = (i as isize + d).clamp(0, h as isize - 1) as usize;
                        wt * rows[[y, j, ch]]
                    })
                    .sum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(values: &[f32], h: usize, w: usize) -> Array4<f32> {
        Array4::from_shape_vec((1, h, w, 1), values.to_vec()).unwrap()
    }

    #[test]
    fn rescale_and_learned_normalization() {
        let mut p = Preprocessing::new(vec![
            Preprocess::Rescale {
                scale: 0.5,
                offset: 1.0,
            },
            Preprocess::Normalization {
                mean: None,
                variance: None,
            },
        ]);
        let train = image(&[0.0, 2.0, 4.0, 6.0], 2, 2);
        p.fit(&train).unwrap();
        // Rescaled: 1, 2, 3, 4: mean 2.5, variance 1.25.
        assert_eq!(
            p.steps[1],
            Preprocess::Normalization {
                mean: Some(2.5),
                variance: Some(1.25)
            }
        );
        let out = p.apply(train).unwrap();
        let sum: f32 = out.iter().sum();
        let squares: f32 = out.iter().map(|x| x * x).sum();
        assert!(sum.abs() < 1e-6 && (squares / 4.0 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn padding_resizing_and_filters() {
        let p = Preprocessing::new(vec![Preprocess::ZeroPadding(1)]);
        let out = p.apply(image(&[5.0], 1, 1)).unwrap();
        assert_eq!(out.shape(), &[1, 3, 3, 1]);
        assert_eq!(out.sum(), 5.0);
        assert_eq!(out[[0, 1, 1, 0]], 5.0);
        assert_eq!(p.output_shape([28, 28, 1]), [30, 30, 1]);

        // Downsampling 2×2 → 1×1 with half-pixel centres averages the four.
        let r = Preprocessing::new(vec![Preprocess::Resizing {
            height: 1,
            width: 1,
        }]);
        let out = r.apply(image(&[1.0, 2.0, 3.0, 4.0], 2, 2)).unwrap();
        assert_eq!(out[[0, 0, 0, 0]], 2.5);

        // A lone bright pixel is noise to a median filter.
        let mut speck = vec![0.0; 9];
        speck[4] = 9.0;
        let m = Preprocessing::new(vec![Preprocess::MedianFilter(3)]);
        assert!(m
            .apply(image(&speck, 3, 3))
            .unwrap()
            .iter()
            .all(|&x| x == 0.0));

        // A blur keeps a constant image and spreads a point symmetrically.
        let b = Preprocessing::new(vec![Preprocess::GaussianBlur(1.0)]);
        let flat = b.apply(image(&[3.0; 16], 4, 4)).unwrap();
        assert!(flat.iter().all(|&x| (x - 3.0).abs() < 1e-5));
        let mut point = vec![0.0; 49];
        point[24] = 1.0;
        let spread = b.apply(image(&point, 7, 7)).unwrap();
        assert!(spread[[0, 3, 3, 0]] < 1.0 && spread[[0, 3, 2, 0]] > 0.0);
        assert_eq!(spread[[0, 3, 2, 0]], spread[[0, 2, 3, 0]]);
    }
}
