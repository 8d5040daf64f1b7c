//! Prints the median time of forward and forward + backward passes of the benchmark
//! networks as JSON lines, for `bench/compare.py` to set beside PyTorch's.
//!
//! `cargo run --release -p cnn-runtime --example throughput -- [repeats] [net]`

#[path = "../benches/nets/mod.rs"]
mod nets;

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

fn main() {
    // As `cnnc` runs (see the module's doc).
    cnn_runtime::memory::keep_freed_memory();
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let only = std::env::args().nth(2);
    let all = rayon::current_num_threads();
    for threads in [1, all] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        for (name, build, shape, batches, macs, input_grad) in nets::CASES {
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            for &batch in batches {
                for backward in [false, true] {
                    let mut model = build();
                    let input = nets::input(batch, shape, 7);
                    let seconds = pool.install(|| {
                        median_seconds(repeats, || {
                            nets::pass(&mut model, &input, backward, input_grad)
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
