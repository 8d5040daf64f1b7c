//! How long `cnnc check` spends in the front end: parse + check of the example models.
//! The target is well under 50 ms for ResNet-50.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const RESNET50: &str = include_str!("../../examples/resnet50.cnn");
const GOOGLENET: &str = include_str!("../../examples/googlenet.cnn");
const LENET5: &str = include_str!("../../examples/lenet5.cnn");

fn front_end(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_and_check");
    for (name, source) in [
        ("resnet50", RESNET50),
        ("googlenet", GOOGLENET),
        ("lenet5", LENET5),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let compiled = cnn_dsl::compile(black_box(source));
                assert!(compiled.checked.is_some());
                compiled
            })
        });
    }
    group.finish();
    c.bench_function("parse_only/resnet50", |b| {
        b.iter(|| cnn_dsl::parse(black_box(RESNET50)))
    });
}

criterion_group!(benches, front_end);
criterion_main!(benches);
