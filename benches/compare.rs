//! `exhibit compare`'s two costs on one registration pair given by environment: the automatic alignment
//! (start selection, then robust point-to-plane ICP to convergence) and the deviation measurement alone
//! (exact closest points on A's triangles through the BVH, signed, with statistics).
//!
//! `EXHIBIT_BENCH_A=model.glb EXHIBIT_BENCH_B=scan.glb cargo bench --bench compare`. The pair used for
//! `benches/README.md` is one of `benches/scripts/icp_side_by_side.sh`'s: the Stanford bunny ingested as a
//! mesh, and a noisy, moved, partial copy drawn over its triangles (`make_surface_pair.py`) ingested as points.
//! The models are read once, outside the timing.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "a benchmark that cannot set up should stop at once"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use viewer::compare::{Align, CompareOptions, compare};

fn comparison(c: &mut Criterion) {
    let (Ok(a), Ok(b)) = (
        std::env::var("EXHIBIT_BENCH_A"),
        std::env::var("EXHIBIT_BENCH_B"),
    ) else {
        eprintln!(
            "compare bench: set EXHIBIT_BENCH_A and EXHIBIT_BENCH_B to two GLBs; nothing to measure"
        );
        return;
    };
    let a = viewer::headless::load_model(a.as_ref(), 0).unwrap();
    let b = viewer::headless::load_model(b.as_ref(), 0).unwrap();
    let mut group = c.benchmark_group("compare");
    group.sample_size(20);
    // Per measured point (B's points against A's surface, or A's vertices against B's), the unit of
    // CloudCompare's and mesh_distance.py's figures. A's triangle hierarchy is built in the first iteration and
    // kept, as a viewer keeps it; `exhibit compare` builds it once per run.
    let measured = if b.is_points() {
        b.positions.len()
    } else {
        a.positions.len()
    };
    group.throughput(Throughput::Elements(measured as u64));
    for (name, align) in [
        ("icp_and_deviation", Align::Icp),
        ("deviation_only", Align::None),
    ] {
        let options = CompareOptions {
            align,
            ..CompareOptions::default()
        };
        group.bench_function(name, |bench| {
            bench.iter(|| compare(black_box(&a), black_box(&b), &options).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, comparison);
criterion_main!(benches);
