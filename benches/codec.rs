//! Codec throughput: encoding (quantize, optimize, meshopt, measure, GLB) and reading (GLB parse,
//! meshopt decode, accessors, flatten) over a size sweep, with meshoptimizer's own decoding of the same
//! streams as the yardstick for the read path.
//!
//! `cargo bench --bench codec`; figures and the side-by-side runs against gltfpack and Draco are in
//! benches/README.md.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "a benchmark that cannot set up should stop at once"
)]

use std::hint::black_box;

use codec::{EncodeConfig, Mesh, Provenance, encode_glb, read_model_bytes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// A wavy sheet of `n` x `n` vertices, 1 m across, with unit normals: a stand-in for a scan surface.
fn sheet(n: u32) -> Mesh {
    let mut mesh = Mesh::default();
    let mut normals = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let (u, v) = (i as f32 / (n - 1) as f32, j as f32 / (n - 1) as f32);
            let (du, dv) = (
                0.02 * (u * 40.0).cos() * 40.0 * 0.5,
                0.02 * (v * 30.0).sin() * 30.0 * 0.5,
            );
            mesh.positions
                .push([u, v, 0.01 * (u * 40.0).sin() - 0.01 * (v * 30.0).cos()]);
            let length = (du * du + dv * dv + 1.0).sqrt();
            normals.push([-du / length, -dv / length, 1.0 / length]);
        }
    }
    for j in 0..n - 1 {
        for i in 0..n - 1 {
            let a = j * n + i;
            mesh.indices
                .extend([a, a + 1, a + n, a + 1, a + n + 1, a + n]);
        }
    }
    mesh.normals = Some(normals);
    mesh
}

/// The compressed views of one of our GLBs: (byte stride, count, mode, compressed bytes).
fn meshopt_streams(glb: &[u8]) -> Vec<(usize, usize, String, Vec<u8>)> {
    let chunks = codec::glb::parse_glb(glb).unwrap();
    let json: serde_json::Value = serde_json::from_slice(chunks.json).unwrap();
    let bin = chunks.bin.unwrap();
    json["bufferViews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|view| {
            let m = &view["extensions"]["EXT_meshopt_compression"];
            let offset = m["byteOffset"].as_u64().unwrap() as usize;
            let length = m["byteLength"].as_u64().unwrap() as usize;
            (
                m["byteStride"].as_u64().unwrap() as usize,
                m["count"].as_u64().unwrap() as usize,
                m["mode"].as_str().unwrap().to_owned(),
                bin[offset..offset + length].to_vec(),
            )
        })
        .collect()
}

fn decode_streams(streams: &[(usize, usize, String, Vec<u8>)]) -> usize {
    let mut total = 0;
    for (stride, count, mode, bytes) in streams {
        total += match (mode.as_str(), stride) {
            ("TRIANGLES", 4) => meshopt::decode_index_buffer::<u32>(bytes, *count)
                .unwrap()
                .len(),
            ("TRIANGLES", _) => meshopt::decode_index_buffer::<u16>(bytes, *count)
                .unwrap()
                .len(),
            (_, 8) => meshopt::decode_vertex_buffer::<[u16; 4]>(bytes, *count)
                .unwrap()
                .len(),
            _ => {
                let mut v = meshopt::decode_vertex_buffer::<[i8; 4]>(bytes, *count).unwrap();
                meshopt::decode_filter_oct(&mut v);
                v.len()
            }
        };
    }
    total
}

fn codec(c: &mut Criterion) {
    let config = EncodeConfig::default();
    let mut group = c.benchmark_group("codec");
    group.sample_size(10);
    for n in [250u32, 500, 1000] {
        let mesh = sheet(n);
        let triangles = mesh.triangle_count() as u64;
        group.throughput(Throughput::Elements(triangles));
        group.bench_with_input(
            BenchmarkId::new("encode_glb", triangles),
            &mesh,
            |b, mesh| {
                b.iter(|| encode_glb(black_box(mesh), &config, Provenance::default()).unwrap());
            },
        );
        let glb = encode_glb(&mesh, &config, Provenance::default())
            .unwrap()
            .glb;
        group.bench_with_input(BenchmarkId::new("read_model", triangles), &glb, |b, glb| {
            b.iter(|| read_model_bytes(black_box(glb), None).unwrap());
        });
        group.bench_with_input(
            BenchmarkId::new("read_packed", triangles),
            &glb,
            |b, glb| {
                b.iter(|| codec::read_packed_bytes(black_box(glb), None).unwrap());
            },
        );
        let streams = meshopt_streams(&glb);
        group.bench_with_input(
            BenchmarkId::new("meshopt_decode_only", triangles),
            &streams,
            |b, streams| {
                b.iter(|| decode_streams(black_box(streams)));
            },
        );
    }
    group.finish();

    // Side by side with meshoptimizer's own decoder (benches/scripts/codec_side_by_side.sh runs it on the
    // same file): throughput counted in decoded bytes, as that script counts them.
    if let Ok(path) = std::env::var("EXHIBIT_BENCH_GLB") {
        let glb = std::fs::read(&path).unwrap();
        let streams = meshopt_streams(&glb);
        let decoded: usize = streams
            .iter()
            .map(|(stride, count, _, _)| stride * count)
            .sum();
        let mut group = c.benchmark_group("file");
        group.sample_size(20);
        group.throughput(Throughput::Bytes(decoded as u64));
        group.bench_function("read_model", |b| {
            b.iter(|| read_model_bytes(black_box(&glb), None).unwrap());
        });
        group.bench_function("read_packed", |b| {
            b.iter(|| codec::read_packed_bytes(black_box(&glb), None).unwrap());
        });
        group.bench_function("meshopt_decode_only", |b| {
            b.iter(|| decode_streams(black_box(&streams)));
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
