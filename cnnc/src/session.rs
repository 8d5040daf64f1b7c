//! What `train`, `eval` and `predict` share: a model file compiled, the model and its
//! `train` section chosen, and the data found, split and preprocessed.

use crate::source::{self, ReadError, SourceFile};
use anyhow::{anyhow, bail, Context, Result};
use cnn_dsl::check::train::{DataSource, TrainConfig};
use cnn_dsl::graph::Graph;
use cnn_dsl::render::render;
use cnn_dsl::{compile, Severity};
use cnn_runtime::data::{load_mnist, Dataset, Preprocessing};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A compiled model with its training settings.
pub struct Session {
    pub path: PathBuf,
    pub file: SourceFile,
    pub graph: Graph,
    pub train: TrainConfig,
}

/// The outcome of opening a model: a session, or the exit code after diagnostics were shown.
pub enum Opened {
    Ready(Box<Session>),
    Failed(u8),
}

/// Compiles `path`, printing warnings and errors, and picks `model` (or the model of the
/// file's only `train` section).
pub fn open(path: &Path, model: Option<&str>, err: &mut dyn Write, color: bool) -> Result<Opened> {
    let file = match source::read(path) {
        Ok(file) => file,
        Err(ReadError::Io(message)) => bail!(message),
        Err(ReadError::Invalid(file, diagnostic)) => {
            writeln!(
                err,
                "{}\n",
                render(&diagnostic, &file.text, &file.name, color)
            )?;
            return Ok(Opened::Failed(crate::cli::MODEL_ERROR));
        }
    };
    let compiled = compile(&file.text);
    for d in compiled
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Hint)
    {
        writeln!(err, "{}\n", render(d, &file.text, &file.name, color))?;
    }
    let Some(checked) = compiled.checked else {
        writeln!(err, "{}: failed; fix the errors above to train", file.name)?;
        return Ok(Opened::Failed(crate::cli::MODEL_ERROR));
    };
    let train = match model {
        Some(name) => {
            if checked.model(name).is_none() {
                let names: Vec<&str> = checked.models.iter().map(|m| m.name.as_str()).collect();
                bail!("`{}` has no model `{name}`; it has: {}", file.name, names.join(", "));
            }
            checked.train_for(name).cloned().ok_or_else(|| {
                anyhow!(
                    "model `{name}` has no train section; add `train {name} {{ data: mnist  loss: categorical_crossentropy  optimizer: adam }}` to `{}`",
                    file.name
                )
            })?
        }
        None => match checked.trains.as_slice() {
            [one] => one.clone(),
            [] => bail!(
                "`{}` has no train section; add one such as `train {} {{ data: mnist  loss: categorical_crossentropy  optimizer: adam }}`",
                file.name,
                checked.models.first().map_or("Model", |m| m.name.as_str())
            ),
            many => bail!(
                "`{}` trains several models ({}); choose one with --model",
                file.name,
                many.iter().map(|t| t.model.as_str()).collect::<Vec<_>>().join(", ")
            ),
        },
    };
    let graph = checked
        .model(&train.model)
        .cloned()
        .ok_or_else(|| anyhow!("the train section names no model of this file"))?;
    Ok(Opened::Ready(Box::new(Session {
        path: path.to_path_buf(),
        file,
        graph,
        train,
    })))
}

/// The MNIST copy shipped with the project: `examples/data/mnist`.
fn shipped_mnist() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/mnist");
    path.canonicalize().unwrap_or(path)
}

impl Session {
    /// Where the data is: `--data`, else the train section's directory (relative to the
    /// working directory, or failing that to the model file's), else the shipped copy.
    pub fn data_dir(&self, data: Option<&Path>) -> PathBuf {
        if let Some(dir) = data {
            return dir.to_path_buf();
        }
        match &self.train.data {
            DataSource::Mnist { dir: Some(dir) } => {
                let given = PathBuf::from(dir);
                let beside = self.path.parent().map(|p| p.join(dir));
                match beside {
                    Some(b) if !given.exists() && b.exists() => b,
                    _ => given,
                }
            }
            DataSource::Mnist { dir: None } => {
                let beside = self.path.parent().map(|p| p.join("data/mnist"));
                match beside {
                    Some(b) if b.is_dir() => b,
                    _ => shipped_mnist(),
                }
            }
        }
    }

    /// The preprocessing the train section names (unfitted).
    pub fn preprocessing(&self) -> Preprocessing {
        crate::adapter::preprocessing(&self.train)
    }
}

/// Training, validation and test sets, preprocessed.
pub struct Data {
    pub train: Dataset,
    pub validation: Option<Dataset>,
    pub test: Dataset,
    pub preprocessing: Preprocessing,
}

/// Loads the data, splits off the validation set (the last fraction, as Keras), fits the
/// preprocessing to the training part (unless `fitted` is given) and applies it to all.
pub fn load_data(
    dir: &Path,
    validation_split: f64,
    preprocessing: Preprocessing,
    fitted: Option<Preprocessing>,
    limit: Option<usize>,
) -> Result<Data> {
    let mnist =
        load_mnist(dir).with_context(|| format!("cannot load MNIST from {}", dir.display()))?;
    let (mut full_train, mut test) = (mnist.train, mnist.test);
    if let Some(n) = limit {
        full_train = full_train.take(n);
        test = test.take(n);
    }
    let (mut train, validation) = full_train.split_last(validation_split);
    let preprocessing = match fitted {
        Some(p) => p,
        None => {
            let mut p = preprocessing;
            p.fit(&train.images)?;
            p
        }
    };
    train.images = preprocessing.apply(train.images)?;
    let validation = if validation.is_empty() {
        None
    } else {
        let mut v = validation;
        v.images = preprocessing.apply(v.images)?;
        Some(v)
    };
    test.images = preprocessing.apply(test.images)?;
    Ok(Data {
        train,
        validation,
        test,
        preprocessing,
    })
}
