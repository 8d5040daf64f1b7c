//! `cnnc eval` and `cnnc predict`: use trained weights.

use crate::adapter;
use crate::cli::OK;
use crate::plot::{error_grid, Mistake};
use crate::session::{self, load_data, Opened, Session};
use crate::train_command::configure_threads;
use anyhow::{anyhow, bail, Context, Result};
use cnn_runtime::checkpoint::{self, load_into_model, TensorFile};
use cnn_runtime::data::Preprocessing;
use cnn_runtime::train::{count_correct, Network};
use ndarray::{Array2, Array3, Array4, ArrayD, Axis, IxDyn};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Options of `cnnc eval`.
pub struct EvalArgs {
    pub file: PathBuf,
    pub weights: PathBuf,
    pub model: Option<String>,
    pub data: Option<PathBuf>,
    pub errors: Option<PathBuf>,
    pub threads: Option<usize>,
    pub limit: Option<usize>,
}

/// Options of `cnnc predict`.
pub struct PredictArgs {
    pub file: PathBuf,
    pub weights: PathBuf,
    pub model: Option<String>,
    pub inputs: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    pub top: usize,
    pub threads: Option<usize>,
}

/// A network per ensemble member, with the weights file's fitted preprocessing.
struct Trained {
    members: Vec<Network>,
    preprocessing: Option<Preprocessing>,
}

/// Builds the model and loads every member's weights from `path`.
fn load_trained(session: &Session, path: &Path) -> Result<Trained> {
    let file: TensorFile = checkpoint::load(path)?;
    let members: u64 = file
        .metadata
        .get("cnn.ensemble")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut networks = Vec::new();
    for member in 0..members {
        let mut net = adapter::build_network(&session.graph, 0)?;
        let prefix = if members == 1 {
            String::new()
        } else {
            format!("member_{}/", member + 1)
        };
        load_into_model(&mut net.model, &file, &prefix, path)?;
        networks.push(net);
    }
    let preprocessing = match file.metadata.get("cnn.preprocess") {
        Some(json) => Some(
            serde_json::from_str(json)
                .with_context(|| format!("{}: bad preprocessing metadata", path.display()))?,
        ),
        None => None,
    };
    Ok(Trained {
        members: networks,
        preprocessing,
    })
}

pub fn eval(args: &EvalArgs, out: &mut dyn Write, err: &mut dyn Write, color: bool) -> Result<u8> {
    let session = match session::open(&args.file, args.model.as_deref(), err, color)? {
        Opened::Ready(s) => s,
        Opened::Failed(code) => return Ok(code),
    };
    configure_threads(args.threads)?;
    let mut trained = load_trained(&session, &args.weights)?;
    let dir = session.data_dir(args.data.as_deref());
    let data = load_data(
        &dir,
        0.0,
        session.preprocessing(),
        trained.preprocessing.clone(),
        args.limit,
    )?;
    let test = &data.test;
    let loss = adapter::loss(&session.train.loss);
    let mut predictions: Vec<Array2<f32>> = Vec::new();
    let count = trained.members.len();
    for (i, net) in trained.members.iter_mut().enumerate() {
        let evaluation = net.evaluate(test, loss)?;
        let label = if count == 1 {
            "test".to_string()
        } else {
            format!("member {}", i + 1)
        };
        writeln!(
            out,
            "{label}: loss {:.4} · accuracy {:.2}% ({} images)",
            evaluation.loss,
            100.0 * evaluation.accuracy,
            test.len()
        )?;
        predictions.push(evaluation.predictions);
    }
    let probabilities = if count == 1 {
        predictions.pop().expect("one member")
    } else {
        let mean = predictions
            .iter()
            .fold(Array2::zeros(predictions[0].raw_dim()), |a, p| a + p)
            / count as f32;
        let correct = count_correct(&mean, &test.labels);
        writeln!(
            out,
            "ensemble of {count}: accuracy {:.2}%",
            100.0 * correct as f64 / test.len().max(1) as f64
        )?;
        mean
    };
    let classes = probabilities.ncols();
    let predicted: Vec<usize> = cnn_runtime::kernels::loss::argmax_rows(probabilities.view());
    let mut confusion = vec![vec![0u64; classes]; classes];
    for (&truth, &guess) in test.labels.iter().zip(&predicted) {
        if truth < classes {
            confusion[truth][guess] += 1;
        }
    }
    writeln!(out, "\nper-class accuracy:")?;
    for (class, row) in confusion.iter().enumerate() {
        let total: u64 = row.iter().sum();
        if total > 0 {
            writeln!(
                out,
                "  {class}: {:6.2}% of {total}",
                100.0 * row[class] as f64 / total as f64
            )?;
        }
    }
    writeln!(
        out,
        "\nconfusion matrix (rows: true class, columns: predicted):"
    )?;
    write!(out, "     ")?;
    for c in 0..classes {
        write!(out, "{c:>6}")?;
    }
    writeln!(out)?;
    for (class, row) in confusion.iter().enumerate() {
        write!(out, "{class:>4} ")?;
        for v in row {
            write!(out, "{v:>6}")?;
        }
        writeln!(out)?;
    }
    if let Some(path) = &args.errors {
        let [h, w, _] = test.image_shape();
        let mut wrong: Vec<(usize, f32)> = predicted
            .iter()
            .enumerate()
            .filter(|(i, &p)| p != test.labels[*i])
            .map(|(i, &p)| (i, probabilities[[i, p]]))
            .collect();
        wrong.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mistakes: Vec<Mistake> = wrong
            .iter()
            .take(25)
            .map(|&(i, confidence)| Mistake {
                pixels: test
                    .images
                    .index_axis(Axis(0), i)
                    .index_axis(Axis(2), 0)
                    .iter()
                    .copied()
                    .collect(),
                height: h,
                width: w,
                truth: test.labels[i],
                predicted: predicted[i],
                confidence,
            })
            .collect();
        error_grid(&mistakes, path)?;
        writeln!(
            out,
            "\nthe {} most confident mistakes (of {}): {}",
            mistakes.len(),
            wrong.len(),
            path.display()
        )?;
    }
    Ok(OK)
}

pub fn predict(
    args: &PredictArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
) -> Result<u8> {
    let session = match session::open(&args.file, args.model.as_deref(), err, color)? {
        Opened::Ready(s) => s,
        Opened::Failed(code) => return Ok(code),
    };
    configure_threads(args.threads)?;
    let mut trained = load_trained(&session, &args.weights)?;
    let preprocessing = match trained.preprocessing.clone() {
        Some(p) => p,
        None => {
            let p = session.preprocessing();
            if p.steps.iter().any(|s| {
                matches!(
                    s,
                    cnn_runtime::data::Preprocess::Normalization { mean: None, .. }
                        | cnn_runtime::data::Preprocess::Normalization { variance: None, .. }
                )
            }) {
                bail!("{} does not hold the learned normalization; use the weights file `cnnc train` wrote", args.weights.display());
            }
            p
        }
    };
    let raw = session.train.data.image_shape();
    let (h, w) = (raw.0[0] as usize, raw.0[1] as usize);
    let mut names = Vec::new();
    let mut images: Vec<Array3<f32>> = Vec::new();
    for path in &args.inputs {
        let loaded = read_input(path, h, w)?;
        let n = loaded.len_of(Axis(0));
        for (i, image) in loaded.axis_iter(Axis(0)).enumerate() {
            names.push(if n == 1 {
                path.display().to_string()
            } else {
                format!("{}[{i}]", path.display())
            });
            images.push(image.to_owned());
        }
    }
    if images.is_empty() {
        bail!("no input images");
    }
    let mut batch = Array4::zeros((images.len(), h, w, 1));
    for (i, image) in images.iter().enumerate() {
        batch.index_axis_mut(Axis(0), i).assign(image);
    }
    let batch = preprocessing.apply(batch)?;
    let count = trained.members.len();
    let mut probabilities: Option<Array2<f32>> = None;
    for net in &mut trained.members {
        let p = net.predict(&batch)?;
        probabilities = Some(match probabilities {
            Some(sum) => sum + p,
            None => p,
        });
    }
    let probabilities = probabilities.expect("at least one member") / count as f32;
    for (name, row) in names.iter().zip(probabilities.rows()) {
        let mut ranked: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<String> = ranked
            .iter()
            .take(args.top.max(1))
            .map(|(c, p)| format!("{c} ({:.1}%)", 100.0 * p))
            .collect();
        writeln!(out, "{name}: {}", top.join(" · "))?;
    }
    if let Some(path) = &args.output {
        ndarray_npy::write_npy(path, &probabilities)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(OK)
}

/// Reads an input as `N × h × w × 1` raw pixels (0–255, light ink on a dark ground, as
/// MNIST stores them): a PNG or JPEG image (made grey, resized, and inverted when its
/// border is light, i.e. dark ink on paper), or a `.npy` array of shape `(h, w)`,
/// `(h, w, 1)`, `(N, h, w)` or `(N, h, w, 1)` in u8, f32 or f64.
fn read_input(path: &Path, h: usize, w: usize) -> Result<Array4<f32>> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if extension == "npy" {
        return read_npy(path, h, w);
    }
    let image = image::open(path)
        .with_context(|| format!("cannot read the image {}", path.display()))?
        .to_luma8();
    let image = if image.dimensions() != (w as u32, h as u32) {
        image::imageops::resize(
            &image,
            w as u32,
            h as u32,
            image::imageops::FilterType::Triangle,
        )
    } else {
        image
    };
    let mut pixels = Array4::from_shape_fn((1, h, w, 1), |(_, y, x, _)| {
        image.get_pixel(x as u32, y as u32).0[0] as f32
    });
    let border: Vec<f32> = (0..w)
        .flat_map(|x| [pixels[[0, 0, x, 0]], pixels[[0, h - 1, x, 0]]])
        .chain((0..h).flat_map(|y| [pixels[[0, y, 0, 0]], pixels[[0, y, w - 1, 0]]]))
        .collect();
    if border.iter().sum::<f32>() / border.len() as f32 > 127.0 {
        pixels.mapv_inplace(|v| 255.0 - v);
    }
    Ok(pixels)
}

fn read_npy(path: &Path, h: usize, w: usize) -> Result<Array4<f32>> {
    let open =
        || std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()));
    let array: ArrayD<f32> = if let Ok(a) = ndarray_npy::ReadNpyExt::read_npy(open()?) {
        a
    } else if let Ok(a) = <ArrayD<f64> as ndarray_npy::ReadNpyExt>::read_npy(open()?) {
        a.mapv(|v| v as f32)
    } else {
        <ArrayD<u8> as ndarray_npy::ReadNpyExt>::read_npy(open()?)
            .map_err(|e| anyhow!("{}: not a u8, f32 or f64 .npy array: {e}", path.display()))?
            .mapv(|v| v as f32)
    };
    let shape = array.shape().to_vec();
    let n = match shape[..] {
        [a, b] if [a, b] == [h, w] => 1,
        [a, b, 1] if [a, b] == [h, w] => 1,
        [n, a, b] if [a, b] == [h, w] => n,
        [n, a, b, 1] if [a, b] == [h, w] => n,
        _ => bail!(
            "{} has shape {shape:?}; expected ({h}, {w}), ({h}, {w}, 1), (N, {h}, {w}) or (N, {h}, {w}, 1)",
            path.display()
        ),
    };
    array
        .into_shape_with_order(IxDyn(&[n, h, w, 1]))
        .map_err(|e| anyhow!("{}: {e}", path.display()))?
        .into_dimensionality()
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}
