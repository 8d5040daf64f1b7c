//! `cnnc train`, `eval` and `predict` end to end on small subsets of the shipped MNIST:
//! outputs and files, interruption with Ctrl-C, and `kill -9` during checkpoint writes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cnnc"));
    command
        .args(args)
        .current_dir(workspace())
        .env("NO_COLOR", "1");
    command
}

fn cnnc(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnnc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The accuracy in a `test: loss … · accuracy 91.20% …` line.
fn accuracy(stdout: &str) -> f64 {
    let line = stdout.lines().find(|l| l.starts_with("test:")).unwrap();
    let at = line.find("accuracy ").unwrap() + "accuracy ".len();
    line[at..].split('%').next().unwrap().parse().unwrap()
}

#[test]
fn train_then_eval_then_predict() {
    let dir = temp_dir("train");
    let out = dir.to_str().unwrap();
    let curves = dir.join("curves.svg");
    let trained = cnnc(&[
        "train",
        "examples/mnist_cnn.cnn",
        "--limit",
        "3000",
        "--epochs",
        "2",
        "--out",
        out,
        "--plot",
        curves.to_str().unwrap(),
    ]);
    let stderr = text(&trained.stderr);
    let stdout = text(&trained.stdout);
    assert_eq!(trained.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("training MnistCnn on 2700 examples (300 for validation)"),
        "{stderr}"
    );
    assert!(stderr.contains("epoch 2/2 · loss"), "{stderr}");
    assert!(accuracy(&stdout) > 50.0, "{stdout}");
    for file in [
        "checkpoint.safetensors",
        "weights.safetensors",
        "history.csv",
        "history.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
    let csv = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,"));
    assert!(std::fs::read_to_string(&curves).unwrap().contains("<svg"));

    // The same run again refuses to overwrite it.
    let again = cnnc(&[
        "train",
        "examples/mnist_cnn.cnn",
        "--limit",
        "100",
        "--out",
        out,
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("holds the checkpoint of an earlier run; add --resume"));

    let weights = dir.join("weights.safetensors");
    let errors = dir.join("errors.png");
    let evaluated = cnnc(&[
        "eval",
        "examples/mnist_cnn.cnn",
        "--weights",
        weights.to_str().unwrap(),
        "--limit",
        "3000",
        "--errors",
        errors.to_str().unwrap(),
    ]);
    let eval_out = text(&evaluated.stdout);
    assert_eq!(
        evaluated.status.code(),
        Some(0),
        "{}",
        text(&evaluated.stderr)
    );
    // Evaluation repeats the number training printed for the same test images.
    assert_eq!(accuracy(&eval_out), accuracy(&stdout));
    assert!(eval_out.contains("confusion matrix (rows: true class, columns: predicted):"));
    assert!(eval_out.contains("per-class accuracy:"));
    assert!(std::fs::read(&errors).unwrap().starts_with(b"\x89PNG"));

    // Three test images as a .npy array and one as a PNG.
    let mnist = cnn_runtime::data::load_mnist(&workspace().join("examples/data/mnist")).unwrap();
    let images = mnist
        .test
        .images
        .slice(ndarray::s![..3, .., .., 0])
        .mapv(|v| v as u8);
    let npy = dir.join("three.npy");
    ndarray_npy::write_npy(&npy, &images).unwrap();
    let png = dir.join("first.png");
    let first: Vec<u8> = images
        .slice(ndarray::s![0, .., ..])
        .iter()
        .copied()
        .collect();
    image::GrayImage::from_raw(28, 28, first)
        .unwrap()
        .save(&png)
        .unwrap();
    let probabilities = dir.join("p.npy");
    let predicted = cnnc(&[
        "predict",
        "examples/mnist_cnn.cnn",
        "--weights",
        weights.to_str().unwrap(),
        npy.to_str().unwrap(),
        png.to_str().unwrap(),
        "--output",
        probabilities.to_str().unwrap(),
    ]);
    let lines = text(&predicted.stdout);
    assert_eq!(
        predicted.status.code(),
        Some(0),
        "{}",
        text(&predicted.stderr)
    );
    assert_eq!(lines.lines().count(), 4, "{lines}");
    assert!(lines.contains("three.npy[2]: "), "{lines}");
    let p: ndarray::Array2<f32> = ndarray_npy::read_npy(&probabilities).unwrap();
    assert_eq!(p.dim(), (4, 10));
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-4);
    }
    // The PNG is the first array image, so it gets the same prediction.
    assert_eq!(p.row(0), p.row(3));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a never-ending training on 256 images, one step and one checkpoint per epoch.
fn endless_training(out: &Path, resume: bool) -> Child {
    let mut args = vec![
        "train",
        "examples/mnist_cnn.cnn",
        "--limit",
        "256",
        "--batch-size",
        "256",
        "--epochs",
        "1000000",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    if resume {
        args.push("--resume");
    }
    command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The epoch a checkpoint has reached, read through the runtime (so: it loads).
fn checkpoint_epoch(path: &Path) -> u64 {
    let file = cnn_runtime::checkpoint::load(path).unwrap();
    assert!(file.tensors.contains_key("conv2d_1.kernel"));
    let position: serde_json::Value = serde_json::from_str(&file.metadata["cnn.position"]).unwrap();
    position["epoch"].as_u64().unwrap()
}

/// `kill -9` at moments spread over a run that writes a checkpoint every few
/// milliseconds: each time, the checkpoint left behind loads, and a resumed run continues
/// from it.
#[test]
fn kill_during_checkpoint_writes_leaves_a_loadable_checkpoint() {
    let dir = temp_dir("kill");
    let checkpoint = dir.join("checkpoint.safetensors");
    let mut last_epoch = 0;
    for round in 0..6u64 {
        let mut child = endless_training(&dir, round > 0);
        wait_for(&checkpoint);
        std::thread::sleep(Duration::from_millis(150 + 37 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let epoch = checkpoint_epoch(&checkpoint);
        assert!(
            epoch >= last_epoch,
            "round {round}: went back from {last_epoch} to {epoch}"
        );
        last_epoch = epoch;
    }
    assert!(last_epoch > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C writes a checkpoint and exits with 130; `--resume` then finishes the run.
#[test]
fn ctrl_c_checkpoints_and_exits_130() {
    let dir = temp_dir("interrupt");
    let checkpoint = dir.join("checkpoint.safetensors");
    let child = endless_training(&dir, false);
    wait_for(&checkpoint);
    std::thread::sleep(Duration::from_millis(100));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let epoch = checkpoint_epoch(&checkpoint);
    let resumed = cnnc(&[
        "train",
        "examples/mnist_cnn.cnn",
        "--limit",
        "256",
        "--batch-size",
        "256",
        "--epochs",
        &(epoch + 1).to_string(),
        "--out",
        dir.to_str().unwrap(),
        "--resume",
    ]);
    let stderr = text(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "resuming from {} at epoch {}",
            checkpoint.display(),
            epoch + 1
        )),
        "{stderr}"
    );
    assert!(text(&resumed.stdout).contains("test: loss"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_and_data_are_errors_not_panics() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["train", "examples/lenet5.cnn", "--batch-size", "0"],
            "--batch-size must be at least 1",
        ),
        (
            &["train", "examples/lenet5.cnn", "--data", "/nonexistent"],
            "/nonexistent is not a directory of MNIST IDX files",
        ),
        (
            &["train", "examples/lenet5.cnn", "--threads", "0"],
            "--threads must be at least 1",
        ),
        (&["train", "examples/resnet50.cnn"], "has no train section"),
        (
            &[
                "train",
                "examples/lenet5.cnn",
                "--resume",
                "--out",
                "/nonexistent/run",
            ],
            "there is no checkpoint to resume",
        ),
        (
            &[
                "eval",
                "examples/lenet5.cnn",
                "--weights",
                "/nonexistent.safetensors",
            ],
            "cannot read /nonexistent.safetensors",
        ),
        (
            &["eval", "examples/lenet5.cnn", "--weights", "README.md"],
            "README.md is not a valid safetensors file",
        ),
        (
            &[
                "predict",
                "examples/lenet5.cnn",
                "--weights",
                "README.md",
                "x.png",
            ],
            "README.md is not a valid safetensors file",
        ),
    ];
    for (args, expected) in cases {
        let output = cnnc(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        // Each cause is said once: error messages leave their source to the chain.
        assert!(
            stderr.matches("os error").count() <= 1,
            "{args:?}: {stderr}"
        );
    }
}

/// `ensemble: 2` trains two members from different seeds; training and evaluation report
/// each member and their average.
#[test]
fn an_ensemble_reports_each_member_and_the_average() {
    let dir = temp_dir("ensemble");
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::fs::read_to_string(workspace().join("examples/mnist_cnn.cnn"))
        .unwrap()
        .replace(
            "validation_split: 0.1",
            "validation_split: 0.1\n    ensemble: 2",
        );
    let file = dir.join("ensemble.cnn");
    std::fs::write(&file, source).unwrap();
    let run = dir.join("run");
    let trained = cnnc(&[
        "train",
        file.to_str().unwrap(),
        "--limit",
        "1000",
        "--epochs",
        "1",
        "--out",
        run.to_str().unwrap(),
    ]);
    let stdout = text(&trained.stdout);
    assert_eq!(trained.status.code(), Some(0), "{}", text(&trained.stderr));
    assert!(stdout.contains("member 1 test: loss"), "{stdout}");
    assert!(stdout.contains("member 2 test: loss"), "{stdout}");
    assert!(stdout.contains("ensemble of 2 test: accuracy"), "{stdout}");
    assert!(run.join("member_2/checkpoint.safetensors").is_file());
    let weights = run.join("weights.safetensors");
    let evaluated = cnnc(&[
        "eval",
        file.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--limit",
        "1000",
    ]);
    let eval_out = text(&evaluated.stdout);
    assert_eq!(
        evaluated.status.code(),
        Some(0),
        "{}",
        text(&evaluated.stderr)
    );
    for line in [
        "member 1: loss",
        "member 2: loss",
        "ensemble of 2: accuracy",
    ] {
        assert!(eval_out.contains(line), "{eval_out}");
    }
    // The members differ: their seeds do.
    let member = |i: usize| {
        let line = eval_out
            .lines()
            .find(|l| l.starts_with(&format!("member {i}:")))
            .unwrap();
        line.to_string()
    };
    assert_ne!(member(1), member(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every initializer, regulariser, preprocessing step, augmentation and callback the
/// language names reaches the runtime and trains (one epoch on 300 images).
#[test]
fn every_part_of_a_train_section_builds_and_trains() {
    let dir = temp_dir("every_part");
    let trained = cnnc(&[
        "train",
        "cnnc/tests/every_part.cnn",
        "--limit",
        "300",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stderr = text(&trained.stderr);
    assert_eq!(trained.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("epoch 1/1 · loss"), "{stderr}");
    assert!(text(&trained.stdout).contains("test: loss"));
    let _ = std::fs::remove_dir_all(&dir);
}
