//! Prints the median time of forward and forward + backward passes of the benchmark
//! networks as JSON lines, for `bench/compare.py` to set beside PyTorch's.
//!
//! `cargo run --release -p cnn-runtime --example throughput -- [repeats] [net]`

#[path = "../benches/nets/mod.rs"]
mod nets;

use cnn_runtime::model::Model;
use ndarray::ArrayD;
use std::time::Instant;

fn median_seconds(repeats: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A network to time: name, builder, example shape, batch sizes, forward MACs per image.
type Case = (
    &'static str,
    fn() -> Model<f32>,
    &'static [usize],
    &'static [usize],
    u64,
);

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let only = std::env::args().nth(2);
    let cases: [Case; 3] = [
        (
            "mnist_cnn",
            nets::mnist_cnn,
            &[28, 28, 1],
            &[1, 64, 256],
            nets::MNIST_CNN_MACS,
        ),
        (
            "lenet5",
            nets::lenet5,
            &[32, 32, 1],
            &[1, 64, 256],
            nets::LENET5_MACS,
        ),
        (
            "vgg_conv",
            nets::vgg_conv,
            &[56, 56, 64],
            &[16],
            nets::VGG_CONV_MACS,
        ),
    ];
    let all = rayon::current_num_threads();
    for threads in [1, all] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        for (name, build, shape, batches, macs) in cases {
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            for &batch in batches {
                for backward in [false, true] {
                    let mut model = build();
                    let input = nets::input(batch, shape, 7);
                    let seconds = pool.install(|| {
                        median_seconds(repeats, || {
                            let out = model.forward(input.clone(), backward).expect("forward");
                            if backward {
                                let grad = ArrayD::from_elem(out.raw_dim(), 1e-3f32);
                                model.backward(grad).expect("backward");
                            }
                        })
                    });
                    println!(
                        "{{\"framework\": \"cnn\", \"net\": \"{name}\", \"pass\": \"{}\", \"batch\": {batch}, \"threads\": {threads}, \"seconds\": {seconds:.9}, \"forward_macs_per_image\": {macs}}}",
                        if backward { "forward_backward" } else { "forward" }
                    );
                }
            }
        }
    }
}
