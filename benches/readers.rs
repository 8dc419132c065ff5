//! Reader throughput against a plain read-and-scatter loop over the same bytes (the speed a reader
//! could reach if it knew the layout in advance), on binary PLY and PCD files given by environment:
//! `EXHIBIT_BENCH_PLY=cloud.ply EXHIBIT_BENCH_PCD=cloud.pcd cargo bench --bench readers`.
//! The files used for `benches/README.md` are made by `benches/scripts/make_reader_files.py`.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "a benchmark that cannot set up should stop at once"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The baseline: fixed-size little-endian records of `stride` bytes starting at `body`, x y z as f64 or
/// f32 at the start of each record, scattered into a position array.
fn scatter(bytes: &[u8], body: usize, stride: usize, double: bool) -> Vec<[f64; 3]> {
    bytes[body..]
        .chunks_exact(stride)
        .map(|r| {
            if double {
                [0, 8, 16].map(|o| f64::from_le_bytes(r[o..o + 8].try_into().unwrap()))
            } else {
                [0, 4, 8].map(|o| f64::from(f32::from_le_bytes(r[o..o + 4].try_into().unwrap())))
            }
        })
        .collect()
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
    for (variable, format, marker, double) in [
        (
            "EXHIBIT_BENCH_PLY",
            ingest::ScanFormat::Ply,
            &b"end_header"[..],
            true,
        ),
        (
            "EXHIBIT_BENCH_PCD",
            ingest::ScanFormat::Pcd,
            &b"DATA binary"[..],
            false,
        ),
    ] {
        let Ok(path) = std::env::var(variable) else {
            continue;
        };
        let bytes = std::fs::read(&path).unwrap();
        let raw = ingest::parse_scan(format, &bytes, path.as_ref()).unwrap();
        let body = header_end(&bytes, marker);
        let stride = (bytes.len() - body) / raw.positions.len();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("{format:?}/parse_scan"), |b| {
            b.iter(|| ingest::parse_scan(format, black_box(&bytes), path.as_ref()).unwrap());
        });
        group.bench_function(format!("{format:?}/read_and_scatter"), |b| {
            b.iter(|| scatter(black_box(&bytes), body, stride, double));
        });
    }
    group.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
