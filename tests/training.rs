//! Training end to end through the adapter: every optimizer learns, runs are
//! deterministic, and a resumed run is the same run.

use cnn_dsl::check::train::TrainConfig;
use cnn_dsl::graph::Graph;
use cnn_runtime::checkpoint::model_tensors;
use cnn_runtime::data::{load_mnist, Dataset, Preprocess, Preprocessing};
use cnn_runtime::optim::Optimizer;
use cnn_runtime::train::{
    fit, read_checkpoint, FitConfig, FitError, FitOutcome, Network, Observer, TrainState,
};
use cnn_tests::root;
use cnnc::adapter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The first 6,000 training and 1,000 test images of the shipped MNIST, scaled to [0, 1].
fn subset() -> &'static (Dataset, Dataset) {
    static DATA: OnceLock<(Dataset, Dataset)> = OnceLock::new();
    DATA.get_or_init(|| {
        let mnist = load_mnist(&root().join("examples/data/mnist")).unwrap();
        let scale = Preprocessing::new(vec![Preprocess::Rescale {
            scale: 1.0 / 255.0,
            offset: 0.0,
        }]);
        let mut train = mnist.train.take(6000);
        let mut test = mnist.test.take(1000);
        train.images = scale.apply(train.images).unwrap();
        test.images = scale.apply(test.images).unwrap();
        (train, test)
    })
}

/// The model and train section of `source`.
fn compile(source: &str) -> (Graph, TrainConfig) {
    let checked = cnn_dsl::compile(source)
        .checked
        .expect("the test model checks");
    (checked.models[0].clone(), checked.trains[0].clone())
}

fn mnist_cnn_with(optimizer: &str) -> String {
    std::fs::read_to_string(root().join("examples/mnist_cnn.cnn"))
        .unwrap()
        .replace("adam(learning_rate: 0.001)", optimizer)
}

fn fit_config(train: &TrainConfig, epochs: u64) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: adapter::batch_size(train),
        shuffle: train.shuffle,
        seed: train.seed,
        early_stopping: None,
        reduce_lr: adapter::reduce_lr(train),
        augment: adapter::augmenter(train, train.seed),
        checkpoint: None,
        metadata: Default::default(),
    }
}

struct Silent;
impl Observer for Silent {}

/// Stops the run after `after` steps, as Ctrl-C would.
struct StopAfter<'a> {
    after: u64,
    steps: u64,
    flag: &'a AtomicBool,
}

impl Observer for StopAfter<'_> {
    fn step_done(&mut self, _: u64, _: u64, _: f64, _: f64) {
        self.steps += 1;
        if self.steps == self.after {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

/// Each optimizer with Keras' defaults takes the lecture's MNIST CNN from chance (10 %)
/// to clearly better in one epoch of 6,000 images.
#[test]
fn every_optimizer_learns_with_its_defaults() {
    let (train_data, test_data) = subset();
    let optimizers = [
        "sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam", "adamw",
    ];
    let mut report = Vec::new();
    for name in optimizers {
        let (graph, train) = compile(&mnist_cnn_with(name));
        assert_eq!(train.optimizer.name, name);
        let mut net = adapter::build_network(&graph, 42).unwrap();
        let mut optimizer = Optimizer::new(adapter::optimizer(&train.optimizer));
        let loss = adapter::loss(&train.loss);
        let mut config = fit_config(&train, 1);
        config.batch_size = Some(16);
        let outcome = fit(
            &mut net,
            &mut optimizer,
            loss,
            train_data,
            None,
            &config,
            &mut TrainState::default(),
            &mut Silent,
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(outcome, FitOutcome::Finished);
        let accuracy = net.evaluate(test_data, loss).unwrap().accuracy;
        report.push(format!("{name}: {:.1}%", 100.0 * accuracy));
        assert!(
            accuracy > 0.3,
            "{name} reached only {:.1}%",
            100.0 * accuracy
        );
    }
    println!("{}", report.join(", "));
}

/// Batch (`full`), mini-batch and stochastic (`1`) gradient descent take one, `⌈n / b⌉` and
/// `n` steps per epoch, and each lowers the training loss over two epochs.
#[test]
fn batch_sizes_set_the_steps_per_epoch() {
    let data = subset().0.take(120);
    for (batch_size, steps_per_epoch) in [("full", 1), ("50", 3), ("1", 120)] {
        let source = mnist_cnn_with("sgd(learning_rate: 0.05)")
            .replace("batch_size: 64", &format!("batch_size: {batch_size}"));
        let (graph, train) = compile(&source);
        let mut net = adapter::build_network(&graph, 3).unwrap();
        let mut optimizer = Optimizer::new(adapter::optimizer(&train.optimizer));
        let mut state = TrainState::default();
        fit(
            &mut net,
            &mut optimizer,
            adapter::loss(&train.loss),
            &data,
            None,
            &fit_config(&train, 2),
            &mut state,
            &mut Silent,
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(optimizer.iterations(), 2 * steps_per_epoch, "{batch_size}");
        let history = &state.position.history;
        assert!(
            history[1].loss < history[0].loss,
            "batch_size {batch_size}: loss {} then {}",
            history[0].loss,
            history[1].loss
        );
    }
}

/// A small model with every random part (dropout, batch norm, noise and augmentation) and
/// every piece of state a run carries: the learning rate drops after epochs 2 and 3, since
/// the loss never falls by 10.
const RANDOM_PARTS: &str = "
model Small {
    input(28, 28, 1)
    conv2d(4, 3, activation: relu)
    batch_normalization()
    max_pooling2d(2)
    flatten()
    dropout(0.3)
    dense(10, activation: softmax)
}

train Small {
    data: mnist
    preprocess: [rescale(1 / 255)]
    augment: [random_translation(0.1), random_rotation(0.05), gaussian_noise(0.05)]
    loss: categorical_crossentropy
    optimizer: adam
    batch_size: 50
    epochs: 3
    callbacks: [reduce_lr_on_plateau(monitor: loss, patience: 0, min_delta: 10)]
    seed: 7
}
";

/// Trains `RANDOM_PARTS` on 500 images from a fresh start, or from `state`.
fn run_small(
    net: &mut Network,
    optimizer: &mut Optimizer<f32>,
    state: &mut TrainState,
    checkpoint: Option<&std::path::Path>,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<FitOutcome, FitError> {
    let (_, train) = compile(RANDOM_PARTS);
    let data = subset().0.take(500);
    let mut config = fit_config(&train, train.epochs);
    config.checkpoint = checkpoint.map(|p| p.to_path_buf());
    fit(
        net,
        optimizer,
        adapter::loss(&train.loss),
        &data,
        None,
        &config,
        state,
        observer,
        stop,
    )
}

fn fresh_small(seed: u64) -> (Network, Optimizer<f32>) {
    let (graph, train) = compile(RANDOM_PARTS);
    (
        adapter::build_network(&graph, seed).unwrap(),
        Optimizer::new(adapter::optimizer(&train.optimizer)),
    )
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cnn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 30 steps straight, and 23 steps + interruption + resume from the checkpoint + 7 steps,
/// give the same weights, bit for bit, the same history and the same learning rate.
#[test]
fn a_resumed_run_is_the_same_run() {
    let (mut net, mut optimizer) = fresh_small(7);
    let mut straight = TrainState::default();
    let outcome = run_small(
        &mut net,
        &mut optimizer,
        &mut straight,
        None,
        &mut Silent,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(outcome, FitOutcome::Finished);
    let expected = model_tensors(&mut net.model, "");

    let dir = temp_dir("resume");
    let checkpoint = dir.join("checkpoint.safetensors");
    let (mut first, mut first_optimizer) = fresh_small(7);
    let stop = AtomicBool::new(false);
    let mut interrupted = TrainState::default();
    let outcome = run_small(
        &mut first,
        &mut first_optimizer,
        &mut interrupted,
        Some(&checkpoint),
        &mut StopAfter {
            after: 23,
            steps: 0,
            flag: &stop,
        },
        &stop,
    )
    .unwrap();
    assert_eq!(outcome, FitOutcome::Interrupted);
    assert_eq!(interrupted.position.global_step, 23);

    // The run's seed also keys dropout, so a resume rebuilds the model with it; the weights
    // at step 23 and the reduced learning rate can only come from the checkpoint.
    let (mut resumed, mut resumed_optimizer) = fresh_small(7);
    let mut state = read_checkpoint(&checkpoint, &mut resumed, &mut resumed_optimizer).unwrap();
    assert_eq!((state.position.epoch, state.position.step), (2, 3));
    assert_eq!(state.position.plateau.learning_rate, Some(0.001 * 0.1));
    let outcome = run_small(
        &mut resumed,
        &mut resumed_optimizer,
        &mut state,
        Some(&checkpoint),
        &mut Silent,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(outcome, FitOutcome::Finished);
    assert_eq!(resumed_optimizer.iterations(), 30);
    let rate = |o: &Optimizer<f32>| o.config().learning_rate;
    assert_eq!(rate(&optimizer), 0.001 * 0.1 * 0.1);
    assert_eq!(rate(&resumed_optimizer), rate(&optimizer));
    let got = model_tensors(&mut resumed.model, "");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, tensor) in &expected {
        let same = tensor
            .iter()
            .zip(got[name].iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name} differs after resuming");
    }
    assert_eq!(
        state.position.history.len(),
        straight.position.history.len()
    );
    for (a, b) in state
        .position
        .history
        .iter()
        .zip(&straight.position.history)
    {
        assert_eq!((a.loss, a.accuracy), (b.loss, b.accuracy));
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The same seed gives the same trained weights with 1 and 3 threads.
#[test]
fn thread_count_does_not_change_training() {
    let train_with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let (mut net, mut optimizer) = fresh_small(7);
                run_small(
                    &mut net,
                    &mut optimizer,
                    &mut TrainState::default(),
                    None,
                    &mut Silent,
                    &AtomicBool::new(false),
                )
                .unwrap();
                model_tensors(&mut net.model, "")
            })
    };
    let one = train_with(1);
    let three = train_with(3);
    for (name, tensor) in &one {
        assert!(
            tensor
                .iter()
                .zip(three[name].iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name} depends on the thread count"
        );
    }
}

/// A loss that blows up stops training with the step named, and leaves the last
/// checkpoint loadable with finite weights.
#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_checkpoint() {
    let source = mnist_cnn_with("sgd(learning_rate: 1e12)")
        .replace("batch_size: 64", "batch_size: full")
        .replace("epochs: 20", "epochs: 50");
    let (graph, train) = compile(&source);
    let mut net = adapter::build_network(&graph, 1).unwrap();
    let mut optimizer = Optimizer::new(adapter::optimizer(&train.optimizer));
    let dir = temp_dir("nan");
    let checkpoint = dir.join("checkpoint.safetensors");
    let mut config = fit_config(&train, train.epochs);
    config.checkpoint = Some(checkpoint.clone());
    let data = subset().0.take(200);
    let error = fit(
        &mut net,
        &mut optimizer,
        adapter::loss(&train.loss),
        &data,
        None,
        &config,
        &mut TrainState::default(),
        &mut Silent,
        &AtomicBool::new(false),
    )
    .unwrap_err();
    let FitError::NonFinite { epoch, step, .. } = error else {
        panic!("expected a non-finite loss, got {error}");
    };
    assert_eq!(step, 1);
    assert!(
        error
            .to_string()
            .contains(&format!("epoch {epoch}, step 1")),
        "{error}"
    );
    if epoch > 1 {
        let (mut check, mut check_optimizer) = (
            adapter::build_network(&graph, 2).unwrap(),
            Optimizer::new(adapter::optimizer(&train.optimizer)),
        );
        let state = read_checkpoint(&checkpoint, &mut check, &mut check_optimizer).unwrap();
        assert_eq!(state.position.epoch, epoch - 1);
        for (name, t) in model_tensors(&mut check.model, "") {
            assert!(t.iter().all(|v| v.is_finite()), "{name} is not finite");
        }
    } else {
        assert!(!checkpoint.exists());
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Weights of another model are refused, naming what does not fit, and change nothing.
#[test]
fn weights_of_another_model_are_refused() {
    let (lenet, _) = compile(&std::fs::read_to_string(root().join("examples/lenet5.cnn")).unwrap());
    let (cnn, _) = compile(&mnist_cnn_with("adam"));
    let mut donor = adapter::build_network(&lenet, 1).unwrap();
    let file = cnn_runtime::checkpoint::TensorFile {
        tensors: model_tensors(&mut donor.model, ""),
        metadata: Default::default(),
    };
    let mut net = adapter::build_network(&cnn, 1).unwrap();
    let before = model_tensors(&mut net.model, "");
    let error = cnn_runtime::checkpoint::load_into_model(
        &mut net.model,
        &file,
        "",
        std::path::Path::new("lenet.safetensors"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("`conv2d_1.kernel` has shape [5, 5, 1, 6], the model needs [3, 3, 1, 3]"),
        "{error}"
    );
    assert!(
        error.contains("`dense_3.kernel` is not a parameter of this model"),
        "{error}"
    );
    assert_eq!(model_tensors(&mut net.model, ""), before);
}
