//! Resolution alone, per pod: build the index over a synthetic mesh and resolve
//! every row of `get -A`, and every finding of `check -A`. Run with
//! `cargo bench --bench resolve`; bench/run.sh measures whole commands.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kube_loopback::{MeshSize, PodShape, generate_mesh};
use mtls::policy::Snapshot;
use mtls::policy::resolve::Index;
use mtls::source::Api;
use mtls::source::collect::{Collector, LoadOptions};

fn snapshot(namespaces: usize, services: usize, pods: usize) -> Snapshot {
    let mut collector = Collector::default();
    for object in generate_mesh(MeshSize {
        namespaces,
        services_per_namespace: services,
        pods_per_service: pods,
        seed: 1,
        shape: PodShape::Lean,
    }) {
        collector
            .add(object, &"the generated mesh")
            .expect("generated objects are valid");
    }
    collector
        .finish(&LoadOptions {
            root_namespace: None,
            api: Api::Auto,
        })
        .expect("a snapshot")
        .snapshot
}

fn resolution(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve");
    group.sample_size(10);
    for (namespaces, services, pods) in [(10, 25, 4), (50, 50, 4)] {
        let s = snapshot(namespaces, services, pods);
        let total = (namespaces * services * pods) as u64;
        group.throughput(Throughput::Elements(total));
        group.bench_function(format!("get -A, {total} pods"), |b| {
            b.iter(|| black_box(Index::new(&s).all_rows().len()))
        });
        group.bench_function(format!("check -A, {total} pods"), |b| {
            b.iter(|| black_box(mtls::check::check(&s).len()))
        });
    }
    group.finish();
}

criterion_group!(benches, resolution);
criterion_main!(benches);
