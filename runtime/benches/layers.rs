//! Forward and forward + backward of the lecture's MNIST CNN and LeNet-5 at batch 1, 64 and
//! 256, and a VGG-style 64 → 64 3×3 `same` convolution on 56×56 at batch 16, on all cores
//! and on one. Throughput is in images per second; `bench/compare.py` turns the same runs
//! into GFLOP/s next to PyTorch.

mod nets;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn networks(c: &mut Criterion) {
    // As `cnnc` runs.
    cnn_runtime::memory::keep_freed_memory();
    let all = rayon::current_num_threads();
    for threads in [all, 1] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for (name, build, shape, batches, _, input_grad) in nets::CASES {
            for pass in ["forward", "forward_backward"] {
                let mut group = c.benchmark_group(format!("{name}/{pass}/threads_{threads}"));
                group.sample_size(20);
                for &batch in batches {
                    let mut model = build();
                    let input = nets::input(batch, shape, 7);
                    group.throughput(Throughput::Elements(batch as u64));
                    group.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, _| {
                        pool.install(|| {
                            b.iter(|| {
                                nets::pass(
                                    &mut model,
                                    &input,
                                    pass == "forward_backward",
                                    input_grad,
                                )
                            })
                        })
                    });
                }
                group.finish();
            }
        }
    }
}

criterion_group!(benches, networks);
criterion_main!(benches);
