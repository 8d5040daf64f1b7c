//! Forward and forward + backward of the lecture's MNIST CNN and LeNet-5 at batch 1, 64 and
//! 256, and a VGG-style 64 → 64 3×3 `same` convolution on 56×56 at batch 16, on all cores
//! and on one. Throughput is in images per second; `bench/compare.py` turns the same runs
//! into GFLOP/s next to PyTorch.

mod nets;

use cnn_runtime::model::Model;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::ArrayD;
use std::hint::black_box;

fn run(model: &mut Model<f32>, input: &ArrayD<f32>, backward: bool) {
    let out = model.forward(input.clone(), backward).unwrap();
    if backward {
        let grad = ArrayD::from_elem(out.raw_dim(), 1e-3f32);
        black_box(model.backward(grad).unwrap());
    } else {
        black_box(out);
    }
}

/// A network to time: name, builder, example shape, batch sizes.
type Case = (
    &'static str,
    fn() -> Model<f32>,
    &'static [usize],
    &'static [usize],
);

fn networks(c: &mut Criterion) {
    let cases: [Case; 3] = [
        ("mnist_cnn", nets::mnist_cnn, &[28, 28, 1], &[1, 64, 256]),
        ("lenet5", nets::lenet5, &[32, 32, 1], &[1, 64, 256]),
        ("vgg_conv_64x56x56", nets::vgg_conv, &[56, 56, 64], &[16]),
    ];
    let all = rayon::current_num_threads();
    for threads in [all, 1] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for (name, build, shape, batches) in cases {
            for pass in ["forward", "forward_backward"] {
                let mut group = c.benchmark_group(format!("{name}/{pass}/threads_{threads}"));
                group.sample_size(20);
                for &batch in batches {
                    let mut model = build();
                    let input = nets::input(batch, shape, 7);
                    group.throughput(Throughput::Elements(batch as u64));
                    group.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, _| {
                        pool.install(|| {
                            b.iter(|| run(&mut model, &input, pass == "forward_backward"))
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
