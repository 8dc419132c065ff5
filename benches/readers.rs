//! Reader throughput against a plain read-and-scatter loop over the same file (the speed a reader could
//! reach if it knew the layout in advance and did nothing else), on binary PLY and PCD files given by
//! environment: `EXHIBIT_BENCH_PLY=cloud.ply EXHIBIT_BENCH_PCD=cloud.pcd cargo bench --bench readers`.
//! The files used for `benches/README.md` are made by `benches/scripts/make_reader_files.py`: x y z and
//! normals, then colour as bytes (PLY: f64 and u8 channels; PCD: f32 and packed rgb).
//!
//! Both sides read the file from the page cache. The loop reads it whole and scatters positions, normals
//! and colours into f32 and byte arrays on one thread; `read_scan` also hashes every byte, checks and
//! measures every coordinate, and decodes in parallel.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "a benchmark that cannot set up should stop at once"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Decoded arrays of the loop.
type Scattered = (Vec<[f32; 3]>, Vec<[f32; 3]>, Vec<[u8; 4]>);

/// The baseline: read the file, then fixed-size little-endian records of `stride` bytes after `body`,
/// six coordinates (f64 or f32) then colour bytes at `color`, scattered into arrays.
fn read_and_scatter(
    path: &str,
    body: usize,
    stride: usize,
    double: bool,
    color: usize,
) -> Scattered {
    let bytes = std::fs::read(path).unwrap();
    let records = bytes[body..].chunks_exact(stride);
    let count = records.len();
    let (mut positions, mut normals, mut colors) = (
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
    );
    let width = if double { 8 } else { 4 };
    let value = |r: &[u8], i: usize| -> f32 {
        let o = i * width;
        if double {
            f64::from_le_bytes(r[o..o + 8].try_into().unwrap()) as f32
        } else {
            f32::from_le_bytes(r[o..o + 4].try_into().unwrap())
        }
    };
    for r in records {
        positions.push([value(r, 0), value(r, 1), value(r, 2)]);
        normals.push([value(r, 3), value(r, 4), value(r, 5)]);
        colors.push([r[color], r[color + 1], r[color + 2], 255]);
    }
    (positions, normals, colors)
}

fn header_end(bytes: &[u8], marker: &[u8]) -> usize {
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap();
    at + bytes[at..].iter().position(|&b| b == b'\n').unwrap() + 1
}

fn readers(c: &mut Criterion) {
    let mut group = c.benchmark_group("readers");
    group.sample_size(10);
    for (variable, marker, double) in [
        ("EXHIBIT_BENCH_PLY", &b"end_header"[..], true),
        ("EXHIBIT_BENCH_PCD", &b"DATA binary"[..], false),
    ] {
        let Ok(path) = std::env::var(variable) else {
            continue;
        };
        let options = ingest::ReadOptions::default();
        let scan = ingest::read_scan(path.as_ref(), &options).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let body = header_end(&bytes, marker);
        let stride = (bytes.len() - body) / scan.points_in;
        let color = if double { 48 } else { 24 };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        let name = scan.input.format.clone();
        group.bench_function(format!("{name}/read_scan"), |b| {
            b.iter(|| ingest::read_scan(black_box(path.as_ref()), &options).unwrap());
        });
        group.bench_function(format!("{name}/read_and_scatter"), |b| {
            b.iter(|| read_and_scatter(black_box(&path), body, stride, double, color));
        });
    }
    group.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
