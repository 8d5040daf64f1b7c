//! Bad data files get clear errors, never a panic or a runaway allocation: wrong magic
//! numbers, truncated files, labels out of range, mismatched counts and a gzip bomb.

use cnn_runtime::data::{load_mnist, DataError};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A directory of four valid, gzipped IDX files (3 training and 2 test images of 4×4),
/// with `replace` swapping in other bytes for one file.
fn mnist_dir(name: &str, replace: Option<(&str, Vec<u8>)>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnn-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let files = [
        ("train-images-idx3-ubyte.gz", idx(&[3, 4, 4], &[7; 48])),
        ("train-labels-idx1-ubyte.gz", idx(&[3], &[0, 1, 9])),
        ("t10k-images-idx3-ubyte.gz", idx(&[2, 4, 4], &[9; 32])),
        ("t10k-labels-idx1-ubyte.gz", idx(&[2], &[3, 4])),
    ];
    for (file, bytes) in files {
        let bytes = match &replace {
            Some((which, raw)) if *which == file => raw.clone(),
            _ => gzip(&bytes),
        };
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    dir
}

fn error_for(name: &str, file: &str, bytes: Vec<u8>) -> String {
    let dir = mnist_dir(name, Some((file, bytes)));
    let error = match load_mnist(&dir) {
        Ok(_) => panic!("{name}: a bad {file} was accepted"),
        Err(e) => e,
    };
    let _ = std::fs::remove_dir_all(&dir);
    error.to_string()
}

#[test]
fn a_valid_directory_loads() {
    let dir = mnist_dir("valid", None);
    let mnist = load_mnist(&dir).unwrap();
    assert_eq!(mnist.train.images.shape(), &[3, 4, 4, 1]);
    assert_eq!(mnist.train.labels, vec![0, 1, 9]);
    assert_eq!(mnist.test.labels, vec![3, 4]);
    assert_eq!(mnist.test.images[[1, 3, 3, 0]], 9.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_magic_numbers_are_named() {
    let mut bytes = idx(&[3, 4, 4], &[7; 48]);
    bytes[0] = 0x50;
    let e = error_for("magic", "train-images-idx3-ubyte.gz", gzip(&bytes));
    assert!(
        e.contains("train-images-idx3-ubyte.gz: not an IDX file"),
        "{e}"
    );
    let mut float = idx(&[3], &[0, 1, 9]);
    float[2] = 0x0d;
    let e = error_for("type", "train-labels-idx1-ubyte.gz", gzip(&float));
    assert!(e.contains("element type 0x0d is not supported"), "{e}");
}

#[test]
fn truncated_files_are_refused() {
    let short = idx(&[3, 4, 4], &[7; 40]);
    let e = error_for("truncated-gz", "train-images-idx3-ubyte.gz", gzip(&short));
    assert!(
        e.contains("truncated: dimensions [3, 4, 4] need 48 bytes of data, the file has 40"),
        "{e}"
    );
    // A raw file is checked against its size before anything is read.
    let e = error_for("truncated-raw", "train-images-idx3-ubyte.gz", short);
    assert!(
        e.contains("need 64 bytes, but the file has 56 (truncated?)"),
        "{e}"
    );
    // A gzip stream cut short is a read error, not a panic.
    let mut cut = gzip(&idx(&[3, 4, 4], &[7; 48]));
    cut.truncate(cut.len() / 2);
    let e = error_for("cut-stream", "train-images-idx3-ubyte.gz", cut);
    assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
}

#[test]
fn labels_must_be_classes_and_match_the_images() {
    let e = error_for(
        "label-10",
        "train-labels-idx1-ubyte.gz",
        gzip(&idx(&[3], &[0, 10, 2])),
    );
    assert!(
        e.contains("label 10 at index 1 is not a class (0 to 9)"),
        "{e}"
    );
    let e = error_for(
        "count",
        "t10k-labels-idx1-ubyte.gz",
        gzip(&idx(&[3], &[1, 2, 3])),
    );
    assert!(e.contains("has 2 images but"), "{e}");
    assert!(e.contains("has 3 labels"), "{e}");
    let e = error_for(
        "rank",
        "t10k-images-idx3-ubyte.gz",
        gzip(&idx(&[32], &[1; 32])),
    );
    assert!(e.contains("images must have 3 dimensions"), "{e}");
}

/// A 32 KiB gzip file that inflates to 64 MiB: the reader stops one byte past what the
/// header justifies (here 48 bytes) instead of inflating it all.
#[test]
fn a_gzip_bomb_is_refused_without_inflating_it() {
    let mut payload = idx(&[3, 4, 4], &[7; 48]);
    payload.resize(64 << 20, 0);
    let bomb = gzip(&payload);
    assert!(bomb.len() < 1 << 20);
    let e = error_for("bomb", "train-images-idx3-ubyte.gz", bomb);
    assert!(e.contains("has data after the 48 bytes"), "{e}");
    // A header claiming more than the reader will ever hold is refused from the header.
    let huge = gzip(&idx(&[100_000, 100_000, 100_000], &[]));
    let e = error_for("huge", "train-images-idx3-ubyte.gz", huge);
    assert!(e.contains("describe more than 1 GiB"), "{e}");
}

#[test]
fn missing_files_say_what_a_directory_needs() {
    let dir = mnist_dir("missing", None);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let e = load_mnist(&dir).unwrap_err();
    assert!(matches!(e, DataError::Invalid(_)));
    assert!(
        e.to_string().contains("has no t10k-labels-idx1-ubyte.gz"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let e = load_mnist(Path::new("/nonexistent/mnist")).unwrap_err();
    assert!(e.to_string().contains("is not a directory"), "{e}");
}
