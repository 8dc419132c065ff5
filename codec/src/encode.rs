//! Mesh to GLB: quantize, optimize for the vertex cache and fetch, meshopt-encode, then decode and measure.
//!
//! The file is plain glTF 2.0 binary with `KHR_mesh_quantization` and `EXT_meshopt_compression`
//! (vertex codec version 0, the version that extension specifies; index codec version 1).
//! Each chunk of the mesh is one node (translation + uniform scale = dequantization) with one mesh.
//! Buffer 0 is the GLB binary chunk holding the compressed streams; buffer 1 is the
//! `fallback` buffer with no data, whose views the meshopt decoder fills in.

use rayon::prelude::*;
use serde_json::{Value, json};

use crate::manifest::{
    ErrorBounds, GeometryRecord, MANIFEST_FORMAT_VERSION, Manifest, Provenance, SOFTWARE, StepRecord, SurfaceRecord,
    sha256_hex,
};
use crate::quantize::{self, ChunkPlan, Dequantization};
use crate::{CodecError, Mesh};

/// Default precision: 0.05 mm, finer than the accuracy of most structured-light scanners.
pub const DEFAULT_PRECISION_M: f64 = 0.05e-3;

/// Bits per oct-encoded normal component (stored in a byte).
const NORMAL_BITS: i32 = 8;

/// What the encoder is asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeConfig {
    /// Largest distance any decoded vertex may be from its input position, in metres.
    pub precision_m: f64,
}

impl Default for EncodeConfig {
    fn default() -> Self {
        Self { precision_m: DEFAULT_PRECISION_M }
    }
}

/// The encoded model and what encoding it cost.
#[derive(Clone, Debug)]
pub struct EncodedModel {
    /// The GLB file's bytes.
    pub glb: Vec<u8>,
    /// The manifest as embedded in the GLB (without `output`).
    pub manifest: Manifest,
    /// Measurements of the encoding.
    pub stats: EncodeStats,
}

/// Measurements of one encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeStats {
    /// Chunks written (glTF nodes).
    pub chunks: usize,
    /// Chunks whose positions stayed `f32` because a triangle was too large for the grid.
    pub float_chunks: usize,
    /// Grid step used, in metres.
    pub grid_step_m: f64,
    /// Measured largest position error, in metres.
    pub max_position_error_m: f64,
    /// Measured largest normal error, in degrees.
    pub max_normal_error_deg: Option<f64>,
    /// Measured largest sRGB channel error.
    pub max_color_error_srgb8: Option<u8>,
    /// Vertices written.
    pub vertices: usize,
    /// Triangles written.
    pub triangles: usize,
    /// Input vertices that no triangle used, left out.
    pub unreferenced_vertices_dropped: usize,
    /// Bytes of the binary chunk.
    pub bin_bytes: usize,
}

impl EncodedModel {
    /// The sidecar manifest: the embedded one plus the name, hash and size of the GLB.
    #[must_use]
    pub fn sidecar_manifest(&self, glb_name: &str) -> Manifest {
        let mut sidecar = self.manifest.clone();
        sidecar.output = Some(crate::manifest::OutputRecord {
            name: glb_name.to_owned(),
            sha256: sha256_hex(&self.glb),
            bytes: self.glb.len() as u64,
        });
        sidecar
    }
}

/// One chunk after quantization, optimization and encoding, with its measured errors.
struct EncodedChunk {
    dequantization: Option<Dequantization>,
    vertex_count: usize,
    index_count: usize,
    position_min: [f64; 3],
    position_max: [f64; 3],
    world_min: [f64; 3],
    world_max: [f64; 3],
    streams: Vec<Stream>,
    max_position_error_m: f64,
    max_normal_error_deg: f64,
    max_color_error: u8,
    measured_count: usize,
    triangle_area_m2: f64,
    reconstructed_area_m2: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Position,
    Normal,
    Color,
    Measured,
    Index,
}

struct Stream {
    kind: StreamKind,
    encoded: Vec<u8>,
    byte_stride: usize,
    count: usize,
}

/// Encode a mesh into a GLB with its manifest; fails rather than write a file whose recorded error would lie.
pub fn encode_glb(mesh: &Mesh, config: &EncodeConfig, provenance: Provenance) -> Result<EncodedModel, CodecError> {
    mesh.validate()?;
    if mesh.indices.is_empty() {
        return Err(CodecError::InvalidMesh { reason: "the mesh has no triangles".into() });
    }
    let precision_m = config.precision_m;
    let step = precision_m as f32;
    if !(precision_m.is_finite() && step.is_normal() && step > 0.0) {
        return Err(CodecError::InvalidPrecision { precision_mm: precision_m * 1e3 });
    }
    let plans = quantize::plan_chunks(&mesh.positions, &mesh.indices, f64::from(step));
    let chunks = plans.par_iter().map(|plan| encode_chunk(mesh, plan, step)).collect::<Result<Vec<_>, _>>()?;

    let stats = measure(mesh, &chunks, step);
    if stats.max_position_error_m > precision_m {
        return Err(CodecError::PrecisionNotMet {
            max_error_mm: stats.max_position_error_m * 1e3,
            precision_mm: precision_m * 1e3,
        });
    }
    let (bin, views_json, fallback_len) = lay_out_buffers(&chunks);
    let manifest = build_manifest(mesh, config, provenance, &chunks, &stats, &bin);
    let json = gltf_json(mesh, &chunks, views_json, fallback_len, bin.len(), &manifest);
    let glb = crate::glb::write_glb(&json, &bin);
    let stats = EncodeStats { bin_bytes: bin.len(), ..stats };
    Ok(EncodedModel { glb, manifest, stats })
}

fn encode_chunk(mesh: &Mesh, plan: &ChunkPlan, step: f32) -> Result<EncodedChunk, CodecError> {
    // Local vertex numbering: the chunk's referenced vertices, ascending by global index.
    let mut global_of_local: Vec<u32> = plan
        .triangles
        .iter()
        .flat_map(|&t| mesh.indices[3 * t as usize..3 * t as usize + 3].iter().copied())
        .collect();
    global_of_local.sort_unstable();
    global_of_local.dedup();
    let local_of = |global: u32| global_of_local.binary_search(&global).unwrap_or(0) as u32;
    let mut indices: Vec<u32> = plan
        .triangles
        .iter()
        .flat_map(|&t| mesh.indices[3 * t as usize..3 * t as usize + 3].iter().map(|&g| local_of(g)))
        .collect();
    let vertex_count = global_of_local.len();

    // Strip-like vertex cache order for the triangles (it compresses best, as gltfpack -cc found), then fetch order for the vertices: what meshopt's codecs expect.
    meshopt::optimize_vertex_cache_strip_in_place(&mut indices, vertex_count);
    let remap = meshopt::optimize_vertex_fetch_remap(&indices, vertex_count);
    let mut order = vec![0u32; vertex_count];
    for (old, &new) in remap.iter().enumerate() {
        order[new as usize] = global_of_local[old];
    }
    for index in &mut indices {
        *index = remap[*index as usize];
    }
    let source = |local: usize| order[local] as usize;

    let positions: Vec<[f32; 3]> = (0..vertex_count).map(|v| mesh.positions[source(v)]).collect();
    let mut streams = Vec::new();
    let dequantization;
    let decoded_positions: Vec<[f32; 3]>;
    if plan.float_positions {
        dequantization = None;
        let encoded = encode_vertices(&positions)?;
        decoded_positions = decode_vertices::<[f32; 3]>(&encoded, vertex_count)?;
        streams.push(Stream { kind: StreamKind::Position, encoded, byte_stride: 12, count: vertex_count });
    } else {
        let dq = Dequantization::for_positions(positions.iter().copied(), step);
        let grid: Vec<[u16; 4]> = positions
            .iter()
            .map(|&p| {
                let q = dq.quantize(p);
                [q[0], q[1], q[2], 0]
            })
            .collect();
        let encoded = encode_vertices(&grid)?;
        let decoded = decode_vertices::<[u16; 4]>(&encoded, vertex_count)?;
        decoded_positions = decoded.iter().map(|q| dq.dequantize([q[0], q[1], q[2]])).collect();
        dequantization = Some(dq);
        streams.push(Stream { kind: StreamKind::Position, encoded, byte_stride: 8, count: vertex_count });
    }
    let max_position_error_m = positions
        .iter()
        .zip(&decoded_positions)
        .map(|(&a, &b)| quantize::distance(a, b))
        .fold(0.0, f64::max);

    let mut max_normal_error_deg = 0.0;
    if let Some(normals) = &mesh.normals {
        let unit: Vec<[f32; 4]> = (0..vertex_count)
            .map(|v| {
                let n = normals[source(v)];
                [n[0], n[1], n[2], 0.0]
            })
            .collect();
        let oct: Vec<[i8; 4]> = meshopt::encode_filter_oct::<i8>(&unit, NORMAL_BITS);
        let encoded = encode_vertices(&oct)?;
        let mut decoded = decode_vertices::<[i8; 4]>(&encoded, vertex_count)?;
        meshopt::decode_filter_oct(&mut decoded);
        max_normal_error_deg = unit
            .iter()
            .zip(&decoded)
            .map(|(n, d)| quantize::angle_deg([n[0], n[1], n[2]], [d[0], d[1], d[2]].map(f64::from)))
            .fold(0.0, f64::max);
        streams.push(Stream { kind: StreamKind::Normal, encoded, byte_stride: 4, count: vertex_count });
    }

    let mut max_color_error = 0u8;
    if let Some(colors) = &mesh.colors_srgb {
        let linear: Vec<[u16; 4]> = (0..vertex_count).map(|v| quantize::color_to_linear_u16(colors[source(v)])).collect();
        let encoded = encode_vertices(&linear)?;
        let decoded = decode_vertices::<[u16; 4]>(&encoded, vertex_count)?;
        for (v, d) in decoded.iter().enumerate() {
            let back = quantize::color_from_linear_u16(*d);
            let original = colors[source(v)];
            for channel in 0..4 {
                max_color_error = max_color_error.max(back[channel].abs_diff(original[channel]));
            }
        }
        streams.push(Stream { kind: StreamKind::Color, encoded, byte_stride: 8, count: vertex_count });
    }

    let mut measured_count = vertex_count;
    let mut reconstructed_area_m2 = 0.0;
    let mut triangle_area_m2 = 0.0;
    let measured_local: Option<Vec<bool>> =
        mesh.measured.as_ref().map(|flags| (0..vertex_count).map(|v| flags[source(v)]).collect());
    for corners in indices.chunks_exact(3) {
        let p = [0, 1, 2].map(|k| positions[corners[k] as usize]);
        let area = triangle_area(p);
        triangle_area_m2 += area;
        if let Some(flags) = &measured_local {
            let reconstructed = corners.iter().filter(|&&c| !flags[c as usize]).count();
            reconstructed_area_m2 += area * reconstructed as f64 / 3.0;
        }
    }
    if let Some(flags) = &measured_local {
        measured_count = flags.iter().filter(|&&m| m).count();
        let bytes: Vec<[u8; 4]> = flags.iter().map(|&m| [u8::from(m), 0, 0, 0]).collect();
        let encoded = encode_vertices(&bytes)?;
        if decode_vertices::<[u8; 4]>(&encoded, vertex_count)? != bytes {
            return Err(CodecError::Meshopt { what: "measured flag", message: "round trip changed the data".into() });
        }
        streams.push(Stream { kind: StreamKind::Measured, encoded, byte_stride: 4, count: vertex_count });
    }

    let encoded_indices = meshopt::encode_index_buffer(&indices, vertex_count)?;
    let decoded_indices: Vec<u32> = meshopt::decode_index_buffer(&encoded_indices, indices.len())?;
    // The index codec may rotate a triangle's corners (keeping its winding); anything else is a bug.
    let same_triangles = decoded_indices.chunks_exact(3).zip(indices.chunks_exact(3)).all(|(d, i)| {
        [[0, 1, 2], [1, 2, 0], [2, 0, 1]].iter().any(|r| [d[r[0]], d[r[1]], d[r[2]]] == [i[0], i[1], i[2]])
    });
    if decoded_indices.len() != indices.len() || !same_triangles {
        return Err(CodecError::Meshopt { what: "index buffer", message: "round trip changed the triangles".into() });
    }
    let index_stride = if vertex_count <= 65_536 { 2 } else { 4 };
    streams.push(Stream { kind: StreamKind::Index, encoded: encoded_indices, byte_stride: index_stride, count: indices.len() });

    let (position_min, position_max) = match dequantization {
        Some(dq) => {
            let (lo, hi) = component_bounds(positions.iter().map(|&p| dq.quantize(p).map(f64::from)));
            (lo, hi)
        }
        None => component_bounds(positions.iter().map(|p| p.map(f64::from))),
    };
    let (world_min, world_max) = component_bounds(decoded_positions.iter().map(|p| p.map(f64::from)));
    Ok(EncodedChunk {
        dequantization,
        vertex_count,
        index_count: indices.len(),
        position_min,
        position_max,
        world_min,
        world_max,
        streams,
        max_position_error_m,
        max_normal_error_deg,
        max_color_error,
        measured_count,
        triangle_area_m2,
        reconstructed_area_m2,
    })
}

fn encode_vertices<T>(vertices: &[T]) -> Result<Vec<u8>, CodecError> {
    meshopt::encode_vertex_buffer_level(vertices, 2, Some(0))
        .map_err(|e| CodecError::Meshopt { what: "vertex encode", message: e.to_string() })
}

fn decode_vertices<T: Clone + Default>(encoded: &[u8], count: usize) -> Result<Vec<T>, CodecError> {
    meshopt::decode_vertex_buffer(encoded, count)
        .map_err(|e| CodecError::Meshopt { what: "vertex decode", message: e.to_string() })
}

fn triangle_area(p: [[f32; 3]; 3]) -> f64 {
    let a = p[0].map(f64::from);
    let u = [0, 1, 2].map(|i| f64::from(p[1][i]) - a[i]);
    let v = [0, 1, 2].map(|i| f64::from(p[2][i]) - a[i]);
    let cross = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    0.5 * (cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]).sqrt()
}

fn component_bounds(points: impl Iterator<Item = [f64; 3]>) -> ([f64; 3], [f64; 3]) {
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for p in points {
        for axis in 0..3 {
            min[axis] = min[axis].min(p[axis]);
            max[axis] = max[axis].max(p[axis]);
        }
    }
    (min, max)
}

fn measure(mesh: &Mesh, chunks: &[EncodedChunk], step: f32) -> EncodeStats {
    let vertices: usize = chunks.iter().map(|c| c.vertex_count).sum();
    let mut referenced = vec![false; mesh.positions.len()];
    for &i in &mesh.indices {
        referenced[i as usize] = true;
    }
    EncodeStats {
        chunks: chunks.len(),
        float_chunks: chunks.iter().filter(|c| c.dequantization.is_none()).count(),
        grid_step_m: f64::from(step),
        max_position_error_m: chunks.iter().map(|c| c.max_position_error_m).fold(0.0, f64::max),
        max_normal_error_deg: mesh
            .normals
            .as_ref()
            .map(|_| chunks.iter().map(|c| c.max_normal_error_deg).fold(0.0, f64::max)),
        max_color_error_srgb8: mesh.colors_srgb.as_ref().map(|_| chunks.iter().map(|c| c.max_color_error).max().unwrap_or(0)),
        vertices,
        triangles: chunks.iter().map(|c| c.index_count / 3).sum(),
        unreferenced_vertices_dropped: referenced.iter().filter(|&&r| !r).count(),
        bin_bytes: 0,
    }
}

/// Place every compressed stream in the binary chunk and every decoded view in the fallback buffer,
/// both 4-byte aligned. Returns the binary chunk, the bufferView JSON objects and the fallback length.
fn lay_out_buffers(chunks: &[EncodedChunk]) -> (Vec<u8>, Vec<Value>, usize) {
    let mut bin = Vec::new();
    let mut views = Vec::new();
    let mut fallback_offset = 0usize;
    for stream in chunks.iter().flat_map(|c| &c.streams) {
        let compressed_offset = bin.len();
        bin.extend_from_slice(&stream.encoded);
        bin.resize(bin.len().next_multiple_of(4), 0);
        let decoded_len = stream.count * stream.byte_stride;
        let (mode, target) = if stream.kind == StreamKind::Index { ("TRIANGLES", 34963) } else { ("ATTRIBUTES", 34962) };
        let mut meshopt = json!({
            "buffer": 0,
            "byteOffset": compressed_offset,
            "byteLength": stream.encoded.len(),
            "byteStride": stream.byte_stride,
            "mode": mode,
            "count": stream.count,
        });
        if stream.kind == StreamKind::Normal {
            meshopt["filter"] = json!("OCTAHEDRAL");
        }
        let mut view = json!({
            "buffer": 1,
            "byteOffset": fallback_offset,
            "byteLength": decoded_len,
            "target": target,
            "extensions": { "EXT_meshopt_compression": meshopt },
        });
        if stream.kind != StreamKind::Index {
            view["byteStride"] = json!(stream.byte_stride);
        }
        views.push(view);
        fallback_offset += decoded_len.next_multiple_of(4);
    }
    (bin, views, fallback_offset)
}

fn build_manifest(
    mesh: &Mesh,
    config: &EncodeConfig,
    provenance: Provenance,
    chunks: &[EncodedChunk],
    stats: &EncodeStats,
    bin: &[u8],
) -> Manifest {
    let origin = mesh.origin_m;
    let (low, high) = component_bounds(chunks.iter().flat_map(|c| [c.world_min, c.world_max]));
    let world = |p: [f64; 3]| [0, 1, 2].map(|axis| if p[axis].is_finite() { origin[axis] + p[axis] } else { origin[axis] });
    let measured_vertices: usize = chunks.iter().map(|c| c.measured_count).sum();
    let total_area: f64 = chunks.iter().map(|c| c.triangle_area_m2).sum();
    let reconstructed_area: f64 = chunks.iter().map(|c| c.reconstructed_area_m2).sum();
    let mut steps = provenance.steps;
    // The errors themselves live once, in `error_bounds`; the steps say what was done.
    steps.push(StepRecord {
        name: "quantize".into(),
        software: SOFTWARE.into(),
        params: json!({
            "precision_mm": config.precision_m * 1e3,
            "position": "uint16 grid per chunk",
            "normal": format!("octahedral {NORMAL_BITS} bit"),
            "color": "16-bit linear",
        }),
        result: json!({
            "chunks": stats.chunks,
            "float_chunks": stats.float_chunks,
            "unreferenced_vertices_dropped": stats.unreferenced_vertices_dropped,
        }),
    });
    steps.push(StepRecord {
        name: "meshopt_encode".into(),
        software: "meshoptimizer 1.3".into(),
        params: json!({ "vertex_codec": 0, "index_codec": 1, "order": "vertex cache strip, vertex fetch" }),
        result: json!({ "lossless": true, "verified_by_decoding": true }),
    });
    let mut attributes = vec!["POSITION".to_owned()];
    if mesh.normals.is_some() {
        attributes.push("NORMAL".into());
    }
    if mesh.colors_srgb.is_some() {
        attributes.push("COLOR_0".into());
    }
    if mesh.measured.is_some() {
        attributes.push("_MEASURED".into());
    }
    Manifest {
        format: "exhibit-manifest".into(),
        format_version: MANIFEST_FORMAT_VERSION,
        software: SOFTWARE.into(),
        inputs: provenance.inputs,
        steps,
        unit: "m".into(),
        origin_m: origin,
        geometry: GeometryRecord {
            vertices: stats.vertices as u64,
            triangles: stats.triangles as u64,
            bounds_min_m: world(low),
            bounds_max_m: world(high),
            attributes,
        },
        error_bounds: ErrorBounds {
            precision_mm: config.precision_m * 1e3,
            grid_step_mm: stats.grid_step_m * 1e3,
            max_position_error_mm: stats.max_position_error_m * 1e3,
            max_normal_error_deg: stats.max_normal_error_deg,
            max_color_error_srgb8: stats.max_color_error_srgb8,
        },
        surface: SurfaceRecord {
            measured_flag: mesh.measured.is_some(),
            measured_vertices: measured_vertices as u64,
            reconstructed_vertices: (stats.vertices - measured_vertices) as u64,
            reconstructed_area_fraction: if total_area > 0.0 { reconstructed_area / total_area } else { 0.0 },
        },
        bin_sha256: sha256_hex(bin),
        output: None,
    }
}

/// An `f32` as the JSON number with the fewest digits that reads back as the same `f32`.
/// (Going through `f64` would print all the binary digits of the widened value.)
fn shortest_f32(value: f32) -> serde_json::Value {
    let shortest: f64 = value.to_string().parse().unwrap_or(f64::from(value));
    if shortest.fract() == 0.0 && shortest.abs() < 1e15 { json!(shortest as i64) } else { json!(shortest) }
}

/// Accessor bounds: whole numbers (grid values) without a fraction, floats as the `f32` they came from.
fn shortest_f64(value: f64) -> serde_json::Value {
    shortest_f32(value as f32)
}

fn gltf_json(
    mesh: &Mesh,
    chunks: &[EncodedChunk],
    buffer_views: Vec<Value>,
    fallback_len: usize,
    bin_len: usize,
    manifest: &Manifest,
) -> Value {
    let mut accessors = Vec::new();
    let mut meshes = Vec::new();
    let mut nodes = Vec::new();
    let mut view = 0usize;
    let mut next_view = || {
        view += 1;
        view - 1
    };
    for chunk in chunks {
        let mut attributes = serde_json::Map::new();
        let mut indices = Value::Null;
        for stream in &chunk.streams {
            let buffer_view = next_view();
            let accessor = match stream.kind {
                StreamKind::Position => {
                    let component = if chunk.dequantization.is_some() { 5123 } else { 5126 };
                    let (min, max) = (chunk.position_min.map(shortest_f64), chunk.position_max.map(shortest_f64));
                    json!({ "bufferView": buffer_view, "componentType": component, "count": stream.count, "type": "VEC3",
                            "min": min, "max": max })
                }
                StreamKind::Normal => json!({ "bufferView": buffer_view, "componentType": 5120, "normalized": true,
                                               "count": stream.count, "type": "VEC3" }),
                StreamKind::Color => json!({ "bufferView": buffer_view, "componentType": 5123, "normalized": true,
                                              "count": stream.count, "type": "VEC4" }),
                StreamKind::Measured => json!({ "bufferView": buffer_view, "componentType": 5121,
                                                 "count": stream.count, "type": "SCALAR" }),
                StreamKind::Index => json!({ "bufferView": buffer_view,
                                              "componentType": if stream.byte_stride == 2 { 5123 } else { 5125 },
                                              "count": stream.count, "type": "SCALAR" }),
            };
            let name = match stream.kind {
                StreamKind::Position => "POSITION",
                StreamKind::Normal => "NORMAL",
                StreamKind::Color => "COLOR_0",
                StreamKind::Measured => "_MEASURED",
                StreamKind::Index => "",
            };
            if stream.kind == StreamKind::Index {
                indices = json!(accessors.len());
            } else {
                attributes.insert(name.into(), json!(accessors.len()));
            }
            accessors.push(accessor);
        }
        meshes.push(json!({ "primitives": [{ "attributes": attributes, "indices": indices, "material": 0, "mode": 4 }] }));
        let mut node = json!({ "mesh": meshes.len() - 1 });
        if let Some(dq) = chunk.dequantization {
            node["translation"] = json!(dq.translation.map(shortest_f32));
            node["scale"] = json!([dq.scale; 3].map(shortest_f32));
        }
        nodes.push(node);
    }
    // Vertex colours are the surface's colour as scanned: multiply them by white, not by grey.
    let base_color = if mesh.colors_srgb.is_some() { [1.0, 1.0, 1.0, 1.0] } else { [0.8, 0.8, 0.8, 1.0] };
    let quantized = chunks.iter().any(|c| c.dequantization.is_some()) || mesh.normals.is_some();
    let mut extensions = vec!["EXT_meshopt_compression"];
    if quantized {
        extensions.push("KHR_mesh_quantization");
    }
    json!({
        "asset": {
            "version": "2.0",
            "generator": SOFTWARE,
            "extras": { "exhibit": manifest },
        },
        "extensionsUsed": extensions,
        "extensionsRequired": extensions,
        "buffers": [
            { "byteLength": bin_len },
            { "byteLength": fallback_len, "extensions": { "EXT_meshopt_compression": { "fallback": true } } },
        ],
        "bufferViews": buffer_views,
        "accessors": accessors,
        "materials": [{
            "doubleSided": true,
            "pbrMetallicRoughness": { "baseColorFactor": base_color, "metallicFactor": 0.0, "roughnessFactor": 0.7 },
        }],
        "meshes": meshes,
        "nodes": nodes,
        "scenes": [{ "nodes": (0..chunks.len()).collect::<Vec<_>>() }],
        "scene": 0,
    })
}
