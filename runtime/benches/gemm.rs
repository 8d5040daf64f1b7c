//! Which matrix product the kernels should use, measured on the shapes they produce:
//! `matrixmultiply` (through ndarray's `general_mat_mul`, what the kernels call) against the
//! `gemm` crate, both single-threaded (the kernels parallelise around the product).
//! Shapes are `M × K · K × N`: a block of 512 output pixels of the VGG-style layer
//! (K = 3·3·64, N = 64), of LeNet-5's second convolution (K = 5·5·6, N = 16), a dense layer at
//! batch 64 (400 → 120), and a square 256.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::linalg::general_mat_mul;
use ndarray::Array2;
use std::hint::black_box;

const SHAPES: [(&str, usize, usize, usize); 4] = [
    ("vgg_block_512x576x64", 512, 576, 64),
    ("lenet_conv2_512x150x16", 512, 150, 16),
    ("dense_64x400x120", 64, 400, 120),
    ("square_256", 256, 256, 256),
];

fn products(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm_f32");
    for (name, m, k, n) in SHAPES {
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 - 6.0);
        let mut out = Array2::<f32>::zeros((m, n));
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        group.bench_function(BenchmarkId::new("matrixmultiply", name), |bench| {
            bench.iter(|| general_mat_mul(1.0, &a, &b, 0.0, &mut out))
        });
        group.bench_function(BenchmarkId::new("gemm_crate", name), |bench| {
            bench.iter(|| {
                // SAFETY: `a`, `b` and `out` are standard-layout arrays of the stated shapes,
                // alive for the call, and `out` does not alias the inputs.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        out.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        a.as_ptr(),
                        1,
                        k as isize,
                        b.as_ptr(),
                        1,
                        n as isize,
                        0.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            })
        });
        black_box(&out);
    }
    group.finish();
}

criterion_group!(benches, products);
criterion_main!(benches);
