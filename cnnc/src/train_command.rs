//! `cnnc train`: train a model on its data, with checkpoints, resume, history and a test
//! evaluation at the end.

use crate::adapter;
use crate::cli::{INTERRUPTED, MODEL_ERROR, OK};
use crate::progress::Progress;
use crate::session::{self, load_data, Opened};
use anyhow::{bail, Context, Result};
use cnn_dsl::check::train::BatchSize;
use cnn_runtime::checkpoint::{self, model_tensors, TensorFile};
use cnn_runtime::optim::Optimizer;
use cnn_runtime::train::{
    fit, read_checkpoint, restore_best, to_csv, to_json, FitConfig, FitError, FitOutcome,
    TrainState,
};
use ndarray::Array2;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Options of `cnnc train`.
pub struct TrainArgs {
    pub file: PathBuf,
    pub model: Option<String>,
    pub data: Option<PathBuf>,
    pub epochs: Option<u64>,
    pub batch_size: Option<u64>,
    pub out: Option<PathBuf>,
    pub threads: Option<usize>,
    pub seed: Option<u64>,
    pub resume: bool,
    pub plot: Option<PathBuf>,
    pub quiet: bool,
    pub limit: Option<usize>,
}

/// Raised by Ctrl-C; the loop writes a checkpoint and stops.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once: the first press asks training to stop after the
/// current step, a second one exits at once.
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(INTERRUPTED as i32);
            }
        });
    });
}

/// Uses `threads` worker threads for the kernels (the results do not depend on it).
pub fn configure_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        // A second configuration in one process (tests) keeps the first.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(())
}

/// The checkpoint file of a run directory.
pub fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("checkpoint.safetensors")
}

/// Picks the run directory: `--out`, or `runs/<Model>`, `runs/<Model>-2`… (a fresh one for
/// a new run, the latest for `--resume`), so that no earlier run is overwritten.
fn run_directory(out: Option<&Path>, model: &str, resume: bool) -> Result<PathBuf> {
    let has_checkpoint = |dir: &Path| {
        checkpoint_path(dir).exists() || checkpoint_path(&dir.join("member_1")).exists()
    };
    if let Some(dir) = out {
        if resume && !has_checkpoint(dir) {
            bail!("there is no checkpoint to resume in {}", dir.display());
        }
        if !resume && has_checkpoint(dir) {
            bail!(
                "{} holds the checkpoint of an earlier run; add --resume to continue it, or choose another --out",
                dir.display()
            );
        }
        return Ok(dir.to_path_buf());
    }
    let base = Path::new("runs").join(model);
    let candidate = |n: u32| {
        if n == 1 {
            base.clone()
        } else {
            PathBuf::from(format!("{}-{n}", base.display()))
        }
    };
    let existing = (1..).map(candidate).take_while(|d| d.exists()).count() as u32;
    if resume {
        if existing == 0 || !has_checkpoint(&candidate(existing)) {
            bail!("there is no run of `{model}` to resume in runs/; give its directory with --out");
        }
        return Ok(candidate(existing));
    }
    Ok(candidate(existing + 1))
}

/// Removes the temporary files of checkpoint writes that a killed run left half-written
/// (the checkpoint itself is always whole: see `cnn_runtime::checkpoint::save`).
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".checkpoint.safetensors.") && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

pub fn train(
    args: &TrainArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
    terminal: bool,
) -> Result<u8> {
    let session = match session::open(&args.file, args.model.as_deref(), err, color)? {
        Opened::Ready(s) => s,
        Opened::Failed(code) => return Ok(code),
    };
    configure_threads(args.threads)?;
    let mut config = session.train.clone();
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(batch) = args.batch_size {
        if batch == 0 {
            bail!("--batch-size must be at least 1");
        }
        config.batch_size = BatchSize::Size(batch);
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let name = session.graph.name.clone();
    let run_dir = run_directory(args.out.as_deref(), &name, args.resume)?;
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let data_dir = session.data_dir(args.data.as_deref());
    let started = Instant::now();
    let data = load_data(
        &data_dir,
        config.validation_split,
        adapter::preprocessing(&config),
        None,
        args.limit,
    )?;
    let mut progress = Progress::new(args.quiet, terminal, err);
    progress.line(&format!(
        "training {name} on {} examples ({} for validation) from {}, {} epochs, into {}",
        data.train.len(),
        data.validation.as_ref().map_or(0, |v| v.len()),
        data_dir.display(),
        config.epochs,
        run_dir.display()
    ));
    let loss = adapter::loss(&config.loss);
    let mut metadata = BTreeMap::new();
    metadata.insert("cnn.model".to_string(), name.clone());
    metadata.insert("cnn.seed".to_string(), config.seed.to_string());
    metadata.insert(
        "cnn.preprocess".to_string(),
        serde_json::to_string(&data.preprocessing)?,
    );
    install_interrupt_handler();
    let mut member_predictions: Vec<Array2<f32>> = Vec::new();
    let mut weights_file = TensorFile {
        tensors: BTreeMap::new(),
        metadata: metadata.clone(),
    };
    for member in 0..config.ensemble {
        let seed = config.seed + member;
        let member_dir = if config.ensemble == 1 {
            run_dir.clone()
        } else {
            run_dir.join(format!("member_{}", member + 1))
        };
        std::fs::create_dir_all(&member_dir)?;
        remove_stale_temporaries(&member_dir);
        if config.ensemble > 1 {
            progress.line(&format!(
                "member {} of {} (seed {seed})",
                member + 1,
                config.ensemble
            ));
        }
        let mut net = adapter::build_network(&session.graph, seed)?;
        let mut optimizer = Optimizer::new(adapter::optimizer(&config.optimizer));
        let checkpoint = checkpoint_path(&member_dir);
        let mut state = if args.resume && checkpoint.exists() {
            let saved = checkpoint::load(&checkpoint)?;
            let saved_seed = saved
                .metadata
                .get("cnn.seed")
                .and_then(|s| s.parse::<u64>().ok());
            if saved_seed.is_some_and(|s| s != config.seed) {
                bail!(
                    "{} was trained with seed {}, not {}; resume without --seed",
                    checkpoint.display(),
                    saved_seed.unwrap_or_default(),
                    config.seed
                );
            }
            let state = read_checkpoint(&checkpoint, &mut net, &mut optimizer)?;
            progress.line(&format!(
                "resuming from {} at epoch {}, step {}",
                checkpoint.display(),
                state.position.epoch + 1,
                state.position.step
            ));
            state
        } else {
            TrainState::default()
        };
        let fit_config = FitConfig {
            epochs: config.epochs,
            batch_size: adapter::batch_size(&config),
            shuffle: config.shuffle,
            seed,
            early_stopping: adapter::early_stopping(&config),
            reduce_lr: adapter::reduce_lr(&config),
            augment: adapter::augmenter(&config, seed),
            checkpoint: Some(checkpoint.clone()),
            metadata: metadata.clone(),
        };
        let outcome = fit(
            &mut net,
            &mut optimizer,
            loss,
            &data.train,
            data.validation.as_ref(),
            &fit_config,
            &mut state,
            &mut progress,
            &STOP,
        );
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e @ FitError::NonFinite { .. }) => {
                progress.line(&format!("error: {e}"));
                return Ok(MODEL_ERROR);
            }
            Err(e) => return Err(e.into()),
        };
        if outcome == FitOutcome::Interrupted {
            progress.line(&format!(
                "interrupted: the checkpoint {} holds the run; continue it with `cnnc train {} --resume{}`",
                checkpoint.display(),
                args.file.display(),
                args.out
                    .as_ref()
                    .map(|o| format!(" --out {}", o.display()))
                    .unwrap_or_default()
            ));
            return Ok(INTERRUPTED);
        }
        if fit_config
            .early_stopping
            .as_ref()
            .is_some_and(|e| e.restore_best_weights)
            && restore_best(&mut net, &state)
        {
            if let Some(best) = state.position.best_epoch {
                progress.line(&format!("restored the weights of epoch {}", best + 1));
            }
        }
        let history = &state.position.history;
        std::fs::write(member_dir.join("history.csv"), to_csv(history))?;
        std::fs::write(member_dir.join("history.json"), to_json(history))?;
        if let Some(plot) = &args.plot {
            crate::plot::curves(history, plot)?;
        }
        let evaluation = net.evaluate(&data.test, loss)?;
        let prefix = if config.ensemble == 1 {
            String::new()
        } else {
            format!("member_{}/", member + 1)
        };
        weights_file
            .tensors
            .extend(model_tensors(&mut net.model, &prefix));
        let label = if config.ensemble == 1 {
            "test".to_string()
        } else {
            format!("member {} test", member + 1)
        };
        writeln!(
            out,
            "{label}: loss {:.4} · accuracy {:.2}% ({} images)",
            evaluation.loss,
            100.0 * evaluation.accuracy,
            data.test.len()
        )?;
        member_predictions.push(evaluation.predictions);
    }
    if config.ensemble > 1 {
        let mean = member_predictions.iter().fold(
            Array2::<f32>::zeros(member_predictions[0].raw_dim()),
            |a, p| a + p,
        ) / config.ensemble as f32;
        let correct = cnn_runtime::train::count_correct(&mean, &data.test.labels) as f64;
        writeln!(
            out,
            "ensemble of {} test: accuracy {:.2}%",
            config.ensemble,
            100.0 * correct / data.test.len().max(1) as f64
        )?;
        weights_file
            .metadata
            .insert("cnn.ensemble".into(), config.ensemble.to_string());
    }
    let weights = run_dir.join("weights.safetensors");
    checkpoint::save(&weights, &weights_file)?;
    writeln!(
        out,
        "weights: {} ({:.1} s in all)",
        weights.display(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(OK)
}
