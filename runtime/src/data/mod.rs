//! Training data: the IDX reader, MNIST-style data sets, preprocessing and augmentation.
//!
//! Images are held as `N × H × W × C` f32 tensors (the layout of the whole runtime) with one
//! class label each.

mod augment;
mod idx;
mod preprocess;

pub use augment::{Augmentation, Augmenter};
pub use idx::{parse as parse_idx, read_idx, IdxArray, MAX_PAYLOAD};
pub use preprocess::{Preprocess, Preprocessing};

use ndarray::{s, Array4, Axis};
use std::path::{Path, PathBuf};

/// Why data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Labelled images.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `N × H × W × C`.
    pub images: Array4<f32>,
    pub labels: Vec<usize>,
    pub classes: usize,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            images: self.images.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }

    /// The first `n` examples (all of them if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images.slice(s![..n, .., .., ..]).to_owned(),
            labels: self.labels[..n].to_vec(),
            classes: self.classes,
        }
    }

    /// Splits off the last `fraction` as validation data, as Keras' `validation_split` does
    /// (before any shuffling).
    pub fn split_last(&self, fraction: f64) -> (Dataset, Dataset) {
        let validation = ((self.len() as f64) * fraction).floor() as usize;
        let cut = self.len() - validation;
        let all: Vec<usize> = (0..self.len()).collect();
        (self.select(&all[..cut]), self.select(&all[cut..]))
    }

    /// The images' shape without the batch axis.
    pub fn image_shape(&self) -> [usize; 3] {
        let s = self.images.shape();
        [s[1], s[2], s[3]]
    }
}

/// The MNIST training and test sets.
#[derive(Debug)]
pub struct Mnist {
    pub train: Dataset,
    pub test: Dataset,
}

/// The four file stems of an MNIST-style directory.
const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Loads an MNIST-style directory (MNIST, Fashion-MNIST…): the four IDX files, each gzipped
/// (`.gz`) or raw.
pub fn load_mnist(dir: &Path) -> Result<Mnist, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Invalid(format!(
            "{} is not a directory of MNIST IDX files",
            dir.display()
        )));
    }
    let find = |stem: &str| -> Result<PathBuf, DataError> {
        [format!("{stem}.gz"), stem.to_string()]
            .into_iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                DataError::Invalid(format!(
                    "{} has no {stem}.gz (or {stem}); an MNIST directory holds {}",
                    dir.display(),
                    FILES.map(|f| format!("{f}.gz")).join(", ")
                ))
            })
    };
    let train = labelled(&find(FILES[0])?, &find(FILES[1])?, 10)?;
    let test = labelled(&find(FILES[2])?, &find(FILES[3])?, 10)?;
    if train.image_shape() != test.image_shape() {
        return Err(DataError::Invalid(format!(
            "training images are {:?} but test images are {:?}",
            train.image_shape(),
            test.image_shape()
        )));
    }
    Ok(Mnist { train, test })
}

/// Images and labels from two IDX files, checked against each other.
pub fn labelled(images: &Path, labels: &Path, classes: usize) -> Result<Dataset, DataError> {
    let image_array = read_idx(images)?;
    let label_array = read_idx(labels)?;
    let [n, h, w] = image_array.dims[..] else {
        return Err(DataError::Format {
            path: images.to_path_buf(),
            message: format!(
                "images must have 3 dimensions (count, height, width), not {:?}",
                image_array.dims
            ),
        });
    };
    if label_array.dims.len() != 1 {
        return Err(DataError::Format {
            path: labels.to_path_buf(),
            message: format!("labels must have 1 dimension, not {:?}", label_array.dims),
        });
    }
    if label_array.dims[0] != n {
        return Err(DataError::Invalid(format!(
            "{} has {n} images but {} has {} labels",
            images.display(),
            labels.display(),
            label_array.dims[0]
        )));
    }
    if n == 0 || h == 0 || w == 0 {
        return Err(DataError::Format {
            path: images.to_path_buf(),
            message: format!("no images in dimensions {:?}", image_array.dims),
        });
    }
    if let Some((i, &bad)) = label_array
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        return Err(DataError::Format {
            path: labels.to_path_buf(),
            message: format!(
                "label {bad} at index {i} is not a class (0 to {})",
                classes - 1
            ),
        });
    }
    let pixels: Vec<f32> = image_array.data.iter().map(|&b| b as f32).collect();
    Ok(Dataset {
        images: Array4::from_shape_vec((n, h, w, 1), pixels).expect("sizes checked by the reader"),
        labels: label_array.data.iter().map(|&l| l as usize).collect(),
        classes,
    })
}
