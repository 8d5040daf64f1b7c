//! Weights and checkpoints in safetensors.
//!
//! A model's tensors are named `<layer>.<param>` (`conv2d_1.kernel`, `batch_normalization_1
//! .moving_mean`, `block_1/dense_1.bias`), stored as little-endian f32 in Keras' layouts:
//! conv kernels `(kh, kw, in, out)`, conv1d `(k, in, out)`, depthwise `(kh, kw, in,
//! multiplier)`, dense `(in, out)`. A checkpoint adds the optimizer's slots as
//! `optimizer/<layer>.<param>/<slot>`, the best weights so far as `best/<layer>.<param>`, and
//! the training position in the string metadata.
//!
//! Files are written to a temporary file beside the target, synced, then renamed over it,
//! so a crash or `kill -9` at any moment leaves either the old file or the new one, whole.

use crate::model::Model;
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a tensor file could not be written, read or used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid safetensors file: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("the weights in {} do not fit the model:\n{}", path.display(), problems.join("\n"))]
    Mismatch {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// Named f32 tensors and string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    pub tensors: BTreeMap<String, ArrayD<f32>>,
    pub metadata: BTreeMap<String, String>,
}

/// Writes `file` to `path` atomically: temporary file, `fsync`, rename, `fsync` of the
/// directory.
pub fn save(path: &Path, file: &TensorFile) -> Result<(), CheckpointError> {
    let io = |action, source| CheckpointError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let bytes: Vec<Vec<u8>> = file
        .tensors
        .values()
        .map(|t| t.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = file
        .tensors
        .iter()
        .zip(&bytes)
        .map(|((name, t), data)| {
            TensorView::new(Dtype::F32, t.shape().to_vec(), data).map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CheckpointError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let metadata: HashMap<String, String> = file.metadata.clone().into_iter().collect();
    let data =
        safetensors::serialize(views, &Some(metadata)).map_err(|e| CheckpointError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut out = File::create(&temporary)?;
        out.write_all(&data)?;
        out.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&temporary);
        return Err(io("write", e));
    }
    if let Err(e) = fs::rename(&temporary, path) {
        let _ = fs::remove_file(&temporary);
        return Err(io("replace", e));
    }
    // Make the rename itself durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a safetensors file of f32 tensors.
pub fn load(path: &Path) -> Result<TensorFile, CheckpointError> {
    let bytes = fs::read(path).map_err(|source| CheckpointError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let format = |message: String| CheckpointError::Format {
        path: path.to_path_buf(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| format(e.to_string()))?;
    let parsed = SafeTensors::deserialize(&bytes).map_err(|e| format(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in parsed.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(format(format!(
                "tensor `{name}` is {:?}; cnn stores f32",
                view.dtype()
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let array = ArrayD::from_shape_vec(IxDyn(view.shape()), values)
            .map_err(|e| format(format!("tensor `{name}`: {e}")))?;
        tensors.insert(name, array);
    }
    let metadata = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(TensorFile { tensors, metadata })
}

/// The name of a parameter in files.
pub fn tensor_name(layer: &str, param: &str) -> String {
    format!("{layer}.{param}")
}

/// Every parameter of `model`, named `<prefix><layer>.<param>`.
pub fn model_tensors(model: &mut Model<f32>, prefix: &str) -> BTreeMap<String, ArrayD<f32>> {
    model
        .params()
        .into_iter()
        .map(|(layer, p)| {
            (
                format!("{prefix}{}", tensor_name(layer, p.name)),
                p.value.clone(),
            )
        })
        .collect()
}

/// Sets every parameter of `model` from `<prefix><layer>.<param>` in `file`, after checking
/// that every name is there with the right shape; nothing changes if anything is wrong.
pub fn load_into_model(
    model: &mut Model<f32>,
    file: &TensorFile,
    prefix: &str,
    path: &Path,
) -> Result<(), CheckpointError> {
    let mut problems = Vec::new();
    let mut expected = Vec::new();
    for (layer, p) in model.params() {
        let name = format!("{prefix}{}", tensor_name(layer, p.name));
        match file.tensors.get(&name) {
            None => problems.push(format!("  `{name}` ({:?}) is missing", p.value.shape())),
            Some(t) if t.shape() != p.value.shape() => problems.push(format!(
                "  `{name}` has shape {:?}, the model needs {:?}",
                t.shape(),
                p.value.shape()
            )),
            Some(_) => {}
        }
        expected.push(name);
    }
    for name in file.tensors.keys() {
        let ours = name.starts_with(prefix)
            && !(prefix.is_empty()
                && (name.starts_with("optimizer/") || name.starts_with("best/")));
        if ours && !expected.contains(name) {
            problems.push(format!("  `{name}` is not a parameter of this model"));
        }
    }
    if !problems.is_empty() {
        return Err(CheckpointError::Mismatch {
            path: path.to_path_buf(),
            problems,
        });
    }
    for (layer, p) in model.params() {
        let name = format!("{prefix}{}", tensor_name(layer, p.name));
        p.value.assign(&file.tensors[&name]);
    }
    Ok(())
}
