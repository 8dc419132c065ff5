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
    ErrorBounds, GeometryRecord, LevelRecord, MANIFEST_FORMAT_VERSION, Manifest, Provenance,
    SOFTWARE, StepRecord, SurfaceRecord, TextureRecord, sha256_hex,
};
use crate::quantize::{self, ChunkPlan, Dequantization};
use crate::texture::{ImageFormat, ImageLoss, ImageOrigin, NO_IMAGE, TextureImage};
use crate::{CodecError, Mesh, PointCloud};

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
        Self {
            precision_m: DEFAULT_PRECISION_M,
        }
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
    /// Measured largest texture-coordinate error, in texels of the image sampled.
    pub max_uv_error_texels: Option<f64>,
    /// Vertices written.
    pub vertices: usize,
    /// Triangles written.
    pub triangles: usize,
    /// Points written (a point cloud); zero for a mesh.
    pub points: usize,
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
    /// The image its triangles sample ([`NO_IMAGE`]: none), numbered within its level.
    image: u32,
    /// Largest difference between an input texture coordinate and its decoded copy, in texels of the image.
    max_uv_error_texels: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Position,
    Normal,
    Color,
    TexCoord,
    Measured,
    Intensity,
    Index,
}

struct Stream {
    kind: StreamKind,
    encoded: Vec<u8>,
    byte_stride: usize,
    count: usize,
}

/// Encode a point cloud into a GLB (primitives of mode POINTS) with its manifest, under the same rules as
/// [`encode_glb`]: positions on the grid with the error measured after decoding, normals oct-encoded, colours
/// exact, intensity kept as f32 in `_INTENSITY`. Points are stored in spatial order.
pub fn encode_point_cloud_glb(
    cloud: &PointCloud,
    config: &EncodeConfig,
    provenance: Provenance,
) -> Result<EncodedModel, CodecError> {
    if cloud.positions.is_empty() {
        return Err(CodecError::InvalidMesh {
            reason: "the point cloud has no points".into(),
        });
    }
    let count = cloud.positions.len();
    if cloud.intensity.as_ref().is_some_and(|i| i.len() != count) {
        return Err(CodecError::InvalidMesh {
            reason: "intensity count differs from the point count".into(),
        });
    }
    let as_mesh = Mesh {
        origin_m: cloud.origin_m,
        positions: cloud.positions.clone(),
        indices: Vec::new(),
        normals: cloud.normals.clone(),
        colors_srgb: cloud.colors_srgb.clone(),
        measured: None,
        intensity: cloud.intensity.clone(),
        texturing: None,
    };
    as_mesh.validate()?;
    encode_geometry(&as_mesh, &[], true, config, provenance)
}

/// Encode a mesh into a GLB with its manifest; fails rather than write a file whose recorded error would lie.
pub fn encode_glb(
    mesh: &Mesh,
    config: &EncodeConfig,
    provenance: Provenance,
) -> Result<EncodedModel, CodecError> {
    encode_glb_levels(mesh, &[], config, provenance)
}

/// Encode a mesh and coarser versions of it (levels of detail, finest first, same origin) into one GLB.
///
/// The finest level is the model: it is the scene, and readers that know nothing of levels see only it.
/// Coarser levels hang off its root node through `MSFT_lod` and are stored first in the binary chunk
/// (coarsest first), so a viewer reading the file front to back can draw something early. Every coarser
/// level's distance from the finest is measured here, from both sides, and recorded with its
/// quantization error ([`crate::manifest::LevelRecord`]); no level is written unmeasured.
pub fn encode_glb_levels(
    mesh: &Mesh,
    coarser: &[Mesh],
    config: &EncodeConfig,
    provenance: Provenance,
) -> Result<EncodedModel, CodecError> {
    for (level, coarse) in std::iter::once(mesh).chain(coarser).enumerate() {
        coarse.validate().map_err(|e| match e {
            CodecError::InvalidMesh { reason } if level > 0 => CodecError::InvalidMesh {
                reason: format!("level of detail {level}: {reason}"),
            },
            other => other,
        })?;
        if coarse.indices.is_empty() {
            return Err(CodecError::InvalidMesh {
                reason: if level == 0 {
                    "the mesh has no triangles".into()
                } else {
                    format!("level of detail {level} has no triangles")
                },
            });
        }
        if coarse.origin_m != mesh.origin_m {
            return Err(CodecError::InvalidMesh {
                reason: format!("level of detail {level} has another origin than level 0"),
            });
        }
    }
    encode_geometry(mesh, coarser, false, config, provenance)
}

/// The shared encoder: a mesh with its levels, or (with `points`) a cloud carried in a `Mesh` without indices.
fn encode_geometry(
    mesh: &Mesh,
    coarser: &[Mesh],
    points: bool,
    config: &EncodeConfig,
    provenance: Provenance,
) -> Result<EncodedModel, CodecError> {
    let precision_m = config.precision_m;
    let step = precision_m as f32;
    if !(precision_m.is_finite() && step.is_normal() && step > 0.0) {
        return Err(CodecError::InvalidPrecision {
            precision_mm: precision_m * 1e3,
        });
    }
    let encode_level = |level: &Mesh| {
        let plans = if points {
            quantize::plan_point_chunks(&level.positions, f64::from(step))
        } else {
            quantize::plan_chunks(&level.positions, &level.indices, f64::from(step))
        };
        split_by_image(plans, level)
            .par_iter()
            .map(|(plan, image)| encode_chunk(level, plan, *image, step, points))
            .collect::<Result<Vec<_>, _>>()
    };
    // Encoding (one chunk is one thread) and measuring the levels (parallel queries) overlap.
    let (encoded, deviations) = rayon::join(
        || {
            std::iter::once(mesh)
                .chain(coarser)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|level| {
                    let chunks = encode_level(level)?;
                    let stats = measure(level, &chunks, step, points);
                    if stats.max_position_error_m > precision_m {
                        return Err(CodecError::PrecisionNotMet {
                            max_error_mm: stats.max_position_error_m * 1e3,
                            precision_mm: precision_m * 1e3,
                        });
                    }
                    Ok((chunks, stats))
                })
                .collect::<Result<Vec<_>, _>>()
        },
        || {
            if coarser.is_empty() {
                return Vec::new();
            }
            let finest = crate::distance::TriangleBvh::new(&mesh.positions, &mesh.indices);
            let finest_vertices: std::collections::HashSet<[u32; 3]> =
                mesh.positions.iter().map(|p| p.map(f32::to_bits)).collect();
            coarser
                .iter()
                .map(|level| level_deviation(mesh, &finest, &finest_vertices, level))
                .collect()
        },
    );
    let mut encoded = encoded?.into_iter();
    let Some((chunks, stats)) = encoded.next() else {
        return Err(CodecError::InvalidMesh {
            reason: "nothing was encoded".into(),
        });
    };
    let coarse: Vec<(Vec<EncodedChunk>, EncodeStats, f64)> = encoded
        .zip(deviations)
        .map(|((chunks, stats), deviation)| (chunks, stats, deviation))
        .collect();
    let all_levels: Vec<&[EncodedChunk]> = std::iter::once(chunks.as_slice())
        .chain(coarse.iter().map(|(c, _, _)| c.as_slice()))
        .collect();
    let all_images: Vec<&[TextureImage]> = std::iter::once(mesh)
        .chain(coarser)
        .map(|level| {
            level
                .texturing
                .as_ref()
                .map_or(&[][..], |t| t.images.as_slice())
        })
        .collect();
    let layout = lay_out_buffers(&all_levels, &all_images);
    let level_bytes = &layout.level_bytes;
    let level_records: Vec<LevelRecord> = coarse
        .iter()
        .enumerate()
        .map(|(k, (_, level_stats, deviation_m))| LevelRecord {
            level: k as u32 + 1,
            vertices: level_stats.vertices as u64,
            triangles: level_stats.triangles as u64,
            bin_bytes: level_bytes[k + 1] as u64,
            deviation_mm: deviation_m * 1e3,
            max_position_error_mm: level_stats.max_position_error_m * 1e3,
            max_error_mm: (deviation_m + level_stats.max_position_error_m) * 1e3,
        })
        .collect();
    let mut manifest = build_manifest(mesh, config, provenance, &chunks, &stats, &layout.bin);
    manifest.textures = texture_records(&all_images, &all_levels);
    if !level_records.is_empty() {
        manifest.steps.push(StepRecord {
            name: "levels_of_detail".into(),
            software: SOFTWARE.into(),
            params: json!({
                "storage": "MSFT_lod on the root node; coarsest level first in the binary chunk",
                "deviation": "largest distance between the level and level 0, both ways: every vertex of level 0 to the level's surface, every vertex and triangle centroid of the level to level 0's surface (exact closest points), before quantization",
                "max_error": "deviation plus the level's own measured quantization error",
            }),
            result: json!({ "levels": level_records.len() + 1 }),
        });
        manifest.levels = level_records;
    }
    let json = gltf_json(mesh, &all_levels, &all_images, &layout, &manifest);
    let glb = crate::glb::write_glb(&json, &layout.bin);
    let stats = EncodeStats {
        bin_bytes: layout.bin.len(),
        ..stats
    };
    Ok(EncodedModel {
        glb,
        manifest,
        stats,
    })
}

/// Largest distance between a coarser level and the finest: every vertex of the finest to the level's
/// surface, every vertex and triangle centroid of the level to the finest's surface, with exact closest
/// points. (The finest level's triangles are small next to the level's, so its vertices sample it densely.)
/// A vertex the two share lies on both surfaces: its distance is 0 without a query.
fn level_deviation(
    finest: &Mesh,
    finest_bvh: &crate::distance::TriangleBvh,
    finest_vertices: &std::collections::HashSet<[u32; 3]>,
    level: &Mesh,
) -> f64 {
    use crate::distance::{TriangleBvh, max_distance_to};
    let widen = |p: &[f32; 3]| p.map(f64::from);
    let level_vertices: std::collections::HashSet<[u32; 3]> = level
        .positions
        .iter()
        .map(|p| p.map(f32::to_bits))
        .collect();
    let mut level_samples: Vec<[f64; 3]> = level
        .positions
        .iter()
        .filter(|p| !finest_vertices.contains(&p.map(f32::to_bits)))
        .map(widen)
        .collect();
    level_samples.extend(crate::distance::triangle_centroids(
        &level.positions,
        &level.indices,
    ));
    let level_bvh = TriangleBvh::new(&level.positions, &level.indices);
    let finest_samples: Vec<[f64; 3]> = finest
        .positions
        .iter()
        .filter(|p| !level_vertices.contains(&p.map(f32::to_bits)))
        .map(widen)
        .collect();
    let (finest_to_level, level_to_finest) = rayon::join(
        || max_distance_to(&level_bvh, &finest_samples),
        || max_distance_to(finest_bvh, &level_samples),
    );
    finest_to_level.max(level_to_finest)
}

/// Each chunk's triangles grouped by the image they sample (one glTF primitive has one material), images in
/// order; a mesh without texturing keeps its chunks as they are.
fn split_by_image(plans: Vec<ChunkPlan>, mesh: &Mesh) -> Vec<(ChunkPlan, u32)> {
    let Some(texturing) = &mesh.texturing else {
        return plans.into_iter().map(|plan| (plan, NO_IMAGE)).collect();
    };
    let mut out = Vec::new();
    for plan in plans {
        let mut by_image: std::collections::BTreeMap<u32, Vec<u32>> =
            std::collections::BTreeMap::new();
        for &t in &plan.triangles {
            by_image
                .entry(texturing.triangle_image[t as usize])
                .or_default()
                .push(t);
        }
        for (image, triangles) in by_image {
            out.push((
                ChunkPlan {
                    triangles,
                    float_positions: plan.float_positions,
                },
                image,
            ));
        }
    }
    out
}

fn encode_chunk(
    mesh: &Mesh,
    plan: &ChunkPlan,
    image: u32,
    step: f32,
    points: bool,
) -> Result<EncodedChunk, CodecError> {
    let (order, indices) = if points {
        point_order(mesh, plan)
    } else {
        chunk_order(mesh, plan)
    };
    let vertex_count = order.len();
    let source = |local: usize| order[local] as usize;
    let positions: Vec<[f32; 3]> = (0..vertex_count)
        .map(|v| mesh.positions[source(v)])
        .collect();

    let mut streams = Vec::new();
    let (position_stream, dequantization, decoded_positions) =
        encode_positions(&positions, plan.float_positions, step)?;
    streams.push(position_stream);
    let max_position_error_m = positions
        .iter()
        .zip(&decoded_positions)
        .map(|(&a, &b)| quantize::distance(a, b))
        .fold(0.0, f64::max);

    let mut max_normal_error_deg = 0.0;
    if let Some(normals) = &mesh.normals {
        let (stream, error) = encode_normals(
            &order
                .iter()
                .map(|&g| normals[g as usize])
                .collect::<Vec<_>>(),
        )?;
        streams.push(stream);
        max_normal_error_deg = error;
    }
    let mut max_color_error = 0u8;
    if let Some(colors) = &mesh.colors_srgb {
        let (stream, error) = encode_colors(
            &order
                .iter()
                .map(|&g| colors[g as usize])
                .collect::<Vec<_>>(),
        )?;
        streams.push(stream);
        max_color_error = error;
    }
    let mut max_uv_error_texels = 0.0;
    if let Some(texturing) = &mesh.texturing
        && let Some(picture) = texturing.images.get(image as usize)
    {
        let uvs: Vec<[f32; 2]> = order.iter().map(|&g| texturing.uvs[g as usize]).collect();
        let (stream, error) = encode_uvs(&uvs, picture)?;
        streams.push(stream);
        max_uv_error_texels = error;
    }
    let measured_local: Option<Vec<bool>> = mesh
        .measured
        .as_ref()
        .map(|flags| order.iter().map(|&g| flags[g as usize]).collect());
    let (triangle_area_m2, reconstructed_area_m2) =
        surface_areas(&positions, &indices, measured_local.as_deref());
    let mut measured_count = vertex_count;
    if let Some(flags) = &measured_local {
        measured_count = flags.iter().filter(|&&m| m).count();
        streams.push(encode_measured(flags)?);
    }
    if let Some(values) = &mesh.intensity {
        let local: Vec<f32> = order.iter().map(|&g| values[g as usize]).collect();
        let encoded = encode_vertices(&local)?;
        if decode_vertices::<f32>(&encoded, local.len())?
            .iter()
            .map(|v| v.to_bits())
            .ne(local.iter().map(|v| v.to_bits()))
        {
            return Err(CodecError::Meshopt {
                what: "intensity",
                message: "round trip changed the data".into(),
            });
        }
        streams.push(Stream {
            kind: StreamKind::Intensity,
            encoded,
            byte_stride: 4,
            count: local.len(),
        });
    }
    if !points {
        streams.push(encode_indices(&indices, vertex_count)?);
    }

    let (position_min, position_max) = match dequantization {
        Some(dq) => component_bounds(positions.iter().map(|&p| dq.quantize(p).map(f64::from))),
        None => component_bounds(positions.iter().map(|p| p.map(f64::from))),
    };
    let (world_min, world_max) =
        component_bounds(decoded_positions.iter().map(|p| p.map(f64::from)));
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
        image,
        max_uv_error_texels,
    })
}

/// A cloud chunk's points in spatial order (neighbours have similar grid values, which the vertex codec
/// turns into fewer bytes); no indices.
fn point_order(mesh: &Mesh, plan: &ChunkPlan) -> (Vec<u32>, Vec<u32>) {
    let local_positions: Vec<[f32; 3]> = plan
        .triangles
        .iter()
        .map(|&p| mesh.positions[p as usize])
        .collect();
    let remap = meshopt::spatial_sort_remap_decoder(&local_positions);
    let mut order = vec![0u32; plan.triangles.len()];
    for (old, &new) in remap.iter().enumerate() {
        order[new as usize] = plan.triangles[old];
    }
    (order, Vec::new())
}

/// The chunk's vertices (as mesh indices) in the order they are stored, and its triangles in local indices.
///
/// Triangles go in spatial order, then the strip-like vertex cache order (it compresses best, as
/// gltfpack -cc found), then vertices in first-use order: what meshopt's codecs expect.
fn chunk_order(mesh: &Mesh, plan: &ChunkPlan) -> (Vec<u32>, Vec<u32>) {
    let corners = |t: u32| {
        mesh.indices[3 * t as usize..3 * t as usize + 3]
            .iter()
            .copied()
    };
    // Local vertex numbering to start from: the chunk's referenced vertices, ascending by mesh index.
    let mut global_of_local: Vec<u32> = plan.triangles.iter().flat_map(|&t| corners(t)).collect();
    global_of_local.sort_unstable();
    global_of_local.dedup();
    let local_of = |global: u32| global_of_local.binary_search(&global).unwrap_or(0) as u32;
    let mut indices: Vec<u32> = plan
        .triangles
        .iter()
        .flat_map(|&t| corners(t).map(local_of))
        .collect();
    let vertex_count = global_of_local.len();
    // Spatial order first: the strip optimizer then walks neighbouring surface, and neighbouring vertices
    // have similar grid values, which the vertex codec's deltas turn into fewer bytes (0.1-0.2 % smaller).
    let local_positions: Vec<[f32; 3]> = global_of_local
        .iter()
        .map(|&g| mesh.positions[g as usize])
        .collect();
    indices = meshopt::spatial_sort_triangles_decoder(&indices, &local_positions);
    meshopt::optimize_vertex_cache_strip_in_place(&mut indices, vertex_count);
    let remap = meshopt::optimize_vertex_fetch_remap(&indices, vertex_count);
    let mut order = vec![0u32; vertex_count];
    for (old, &new) in remap.iter().enumerate() {
        order[new as usize] = global_of_local[old];
    }
    for index in &mut indices {
        *index = remap[*index as usize];
    }
    (order, indices)
}

/// The position stream, its dequantization (none for a float chunk) and the positions a reader decodes.
type EncodedPositions = (Stream, Option<Dequantization>, Vec<[f32; 3]>);

/// Positions on the chunk's grid (or as f32 for a float chunk), encoded, and what a reader decodes from them.
fn encode_positions(
    positions: &[[f32; 3]],
    float_positions: bool,
    step: f32,
) -> Result<EncodedPositions, CodecError> {
    let count = positions.len();
    if float_positions {
        let encoded = encode_vertices(positions)?;
        let decoded = decode_vertices::<[f32; 3]>(&encoded, count)?;
        return Ok((
            Stream {
                kind: StreamKind::Position,
                encoded,
                byte_stride: 12,
                count,
            },
            None,
            decoded,
        ));
    }
    let dq = Dequantization::for_positions(positions.iter().copied(), step);
    let grid: Vec<[u16; 4]> = positions
        .iter()
        .map(|&p| {
            let q = dq.quantize(p);
            [q[0], q[1], q[2], 0]
        })
        .collect();
    let encoded = encode_vertices(&grid)?;
    let decoded = decode_vertices::<[u16; 4]>(&encoded, count)?;
    let decoded_positions = decoded
        .iter()
        .map(|q| dq.dequantize([q[0], q[1], q[2]]))
        .collect();
    Ok((
        Stream {
            kind: StreamKind::Position,
            encoded,
            byte_stride: 8,
            count,
        },
        Some(dq),
        decoded_positions,
    ))
}

/// Oct-encoded normals and the largest angle between an input normal and its decoded copy.
fn encode_normals(normals: &[[f32; 3]]) -> Result<(Stream, f64), CodecError> {
    let unit: Vec<[f32; 4]> = normals.iter().map(|n| [n[0], n[1], n[2], 0.0]).collect();
    let oct: Vec<[i8; 4]> = meshopt::encode_filter_oct::<i8>(&unit, NORMAL_BITS);
    let encoded = encode_vertices(&oct)?;
    let mut decoded = decode_vertices::<[i8; 4]>(&encoded, normals.len())?;
    meshopt::decode_filter_oct(&mut decoded);
    let max_error = normals
        .iter()
        .zip(&decoded)
        .map(|(n, d)| quantize::angle_deg(*n, [d[0], d[1], d[2]].map(f64::from)))
        .fold(0.0, f64::max);
    Ok((
        Stream {
            kind: StreamKind::Normal,
            encoded,
            byte_stride: 4,
            count: normals.len(),
        },
        max_error,
    ))
}

/// Colours as 16-bit linear light and the largest 8-bit sRGB difference after decoding.
fn encode_colors(colors: &[[u8; 4]]) -> Result<(Stream, u8), CodecError> {
    let linear: Vec<[u16; 4]> = colors
        .iter()
        .map(|&c| quantize::color_to_linear_u16(c))
        .collect();
    let encoded = encode_vertices(&linear)?;
    let decoded = decode_vertices::<[u16; 4]>(&encoded, colors.len())?;
    let mut max_error = 0u8;
    for (original, d) in colors.iter().zip(&decoded) {
        let back = quantize::color_from_linear_u16(*d);
        for channel in 0..4 {
            max_error = max_error.max(back[channel].abs_diff(original[channel]));
        }
    }
    Ok((
        Stream {
            kind: StreamKind::Color,
            encoded,
            byte_stride: 8,
            count: colors.len(),
        },
        max_error,
    ))
}

/// Texture coordinates as 16-bit fractions (`KHR_mesh_quantization`) when they lie in 0..1, as `f32`
/// otherwise (a tiling texture), and the largest difference after decoding, in texels of `image`.
fn encode_uvs(uvs: &[[f32; 2]], image: &TextureImage) -> Result<(Stream, f64), CodecError> {
    let size = [f64::from(image.width), f64::from(image.height)];
    let error_texels = |decoded: &[[f64; 2]]| {
        uvs.iter()
            .zip(decoded)
            .map(|(uv, d)| {
                ((f64::from(uv[0]) - d[0]).abs() * size[0])
                    .max((f64::from(uv[1]) - d[1]).abs() * size[1])
            })
            .fold(0.0, f64::max)
    };
    let in_unit_square = uvs
        .iter()
        .all(|uv| uv.iter().all(|c| (0.0..=1.0).contains(c)));
    if !in_unit_square {
        let encoded = encode_vertices(uvs)?;
        let decoded = decode_vertices::<[f32; 2]>(&encoded, uvs.len())?;
        let widened: Vec<[f64; 2]> = decoded.iter().map(|d| d.map(f64::from)).collect();
        let error = error_texels(&widened);
        return Ok((
            Stream {
                kind: StreamKind::TexCoord,
                encoded,
                byte_stride: 8,
                count: uvs.len(),
            },
            error,
        ));
    }
    let grid: Vec<[u16; 2]> = uvs
        .iter()
        .map(|uv| uv.map(|c| (f64::from(c) * 65535.0).round() as u16))
        .collect();
    let encoded = encode_vertices(&grid)?;
    let decoded = decode_vertices::<[u16; 2]>(&encoded, uvs.len())?;
    let widened: Vec<[f64; 2]> = decoded
        .iter()
        .map(|d| d.map(|c| f64::from(c) / 65535.0))
        .collect();
    let error = error_texels(&widened);
    Ok((
        Stream {
            kind: StreamKind::TexCoord,
            encoded,
            byte_stride: 4,
            count: uvs.len(),
        },
        error,
    ))
}

/// The measured/reconstructed flag, one byte per vertex padded to four, verified exactly.
fn encode_measured(flags: &[bool]) -> Result<Stream, CodecError> {
    let bytes: Vec<[u8; 4]> = flags.iter().map(|&m| [u8::from(m), 0, 0, 0]).collect();
    let encoded = encode_vertices(&bytes)?;
    if decode_vertices::<[u8; 4]>(&encoded, flags.len())? != bytes {
        return Err(CodecError::Meshopt {
            what: "measured flag",
            message: "round trip changed the data".into(),
        });
    }
    Ok(Stream {
        kind: StreamKind::Measured,
        encoded,
        byte_stride: 4,
        count: flags.len(),
    })
}

/// Triangles, verified by decoding.
fn encode_indices(indices: &[u32], vertex_count: usize) -> Result<Stream, CodecError> {
    let encoded = meshopt::encode_index_buffer(indices, vertex_count)?;
    let decoded: Vec<u32> = meshopt::decode_index_buffer(&encoded, indices.len())?;
    // The index codec may rotate a triangle's corners (keeping its winding); anything else is a bug.
    let same_triangles = decoded
        .chunks_exact(3)
        .zip(indices.chunks_exact(3))
        .all(|(d, i)| {
            [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
                .iter()
                .any(|r| [d[r[0]], d[r[1]], d[r[2]]] == [i[0], i[1], i[2]])
        });
    if decoded.len() != indices.len() || !same_triangles {
        return Err(CodecError::Meshopt {
            what: "index buffer",
            message: "round trip changed the triangles".into(),
        });
    }
    let byte_stride = if vertex_count <= 65_536 { 2 } else { 4 };
    Ok(Stream {
        kind: StreamKind::Index,
        encoded,
        byte_stride,
        count: indices.len(),
    })
}

/// Total triangle area, and the area attributed to reconstruction: each triangle counts by the share of
/// its corners that are reconstructed (k/3), so a triangle bridging measured and filled-in surface is split.
fn surface_areas(positions: &[[f32; 3]], indices: &[u32], measured: Option<&[bool]>) -> (f64, f64) {
    let mut total = 0.0;
    let mut reconstructed = 0.0;
    for corners in indices.chunks_exact(3) {
        let area = triangle_area([0, 1, 2].map(|k| positions[corners[k] as usize]));
        total += area;
        if let Some(flags) = measured {
            let filled = corners.iter().filter(|&&c| !flags[c as usize]).count();
            reconstructed += area * filled as f64 / 3.0;
        }
    }
    (total, reconstructed)
}

fn encode_vertices<T>(vertices: &[T]) -> Result<Vec<u8>, CodecError> {
    meshopt::encode_vertex_buffer_level(vertices, 2, Some(0)).map_err(|e| CodecError::Meshopt {
        what: "vertex encode",
        message: e.to_string(),
    })
}

fn decode_vertices<T: Clone + Default>(encoded: &[u8], count: usize) -> Result<Vec<T>, CodecError> {
    meshopt::decode_vertex_buffer(encoded, count).map_err(|e| CodecError::Meshopt {
        what: "vertex decode",
        message: e.to_string(),
    })
}

fn triangle_area(p: [[f32; 3]; 3]) -> f64 {
    let a = p[0].map(f64::from);
    let u = [0, 1, 2].map(|i| f64::from(p[1][i]) - a[i]);
    let v = [0, 1, 2].map(|i| f64::from(p[2][i]) - a[i]);
    let cross = [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ];
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

fn measure(mesh: &Mesh, chunks: &[EncodedChunk], step: f32, points: bool) -> EncodeStats {
    let vertices: usize = chunks.iter().map(|c| c.vertex_count).sum();
    let mut referenced = vec![points; mesh.positions.len()];
    for &i in &mesh.indices {
        referenced[i as usize] = true;
    }
    EncodeStats {
        chunks: chunks.len(),
        float_chunks: chunks.iter().filter(|c| c.dequantization.is_none()).count(),
        grid_step_m: f64::from(step),
        max_position_error_m: chunks
            .iter()
            .map(|c| c.max_position_error_m)
            .fold(0.0, f64::max),
        max_normal_error_deg: mesh.normals.as_ref().map(|_| {
            chunks
                .iter()
                .map(|c| c.max_normal_error_deg)
                .fold(0.0, f64::max)
        }),
        max_color_error_srgb8: mesh
            .colors_srgb
            .as_ref()
            .map(|_| chunks.iter().map(|c| c.max_color_error).max().unwrap_or(0)),
        max_uv_error_texels: mesh.texturing.as_ref().map(|_| {
            chunks
                .iter()
                .map(|c| c.max_uv_error_texels)
                .fold(0.0, f64::max)
        }),
        vertices,
        triangles: chunks.iter().map(|c| c.index_count / 3).sum(),
        points: if points { vertices } else { 0 },
        unreferenced_vertices_dropped: referenced.iter().filter(|&&r| !r).count(),
        bin_bytes: 0,
    }
}

/// Where [`lay_out_buffers`] put everything.
struct Layout {
    bin: Vec<u8>,
    /// The bufferView JSON objects: every level's streams (finest level first), then every level's images.
    views: Vec<Value>,
    fallback_len: usize,
    /// Bytes of each level in the binary chunk, images included.
    level_bytes: Vec<usize>,
    /// Per level, the bufferView of each image.
    image_views: Vec<Vec<usize>>,
}

/// Place every compressed stream and image in the binary chunk and every decoded view in the fallback buffer,
/// both 4-byte aligned. Views are numbered level by level, finest first (the glTF JSON's order), streams before
/// images; the binary chunk holds the coarsest level first, each level's images after its streams, so a reader
/// of a level's prefix has its textures too.
fn lay_out_buffers(levels: &[&[EncodedChunk]], images: &[&[TextureImage]]) -> Layout {
    let mut bin = Vec::new();
    let mut offsets: Vec<Vec<usize>> = vec![Vec::new(); levels.len()];
    let mut image_offsets: Vec<Vec<usize>> = vec![Vec::new(); levels.len()];
    let mut level_bytes = vec![0; levels.len()];
    for (level, chunks) in levels.iter().enumerate().rev() {
        let start = bin.len();
        for stream in chunks.iter().flat_map(|c| &c.streams) {
            offsets[level].push(bin.len());
            bin.extend_from_slice(&stream.encoded);
            bin.resize(bin.len().next_multiple_of(4), 0);
        }
        for image in images.get(level).copied().unwrap_or_default() {
            image_offsets[level].push(bin.len());
            bin.extend_from_slice(&image.bytes);
            bin.resize(bin.len().next_multiple_of(4), 0);
        }
        level_bytes[level] = bin.len() - start;
    }
    let mut views = Vec::new();
    let mut fallback_offset = 0usize;
    for (level, chunks) in levels.iter().enumerate() {
        for (stream, &compressed_offset) in
            chunks.iter().flat_map(|c| &c.streams).zip(&offsets[level])
        {
            let decoded_len = stream.count * stream.byte_stride;
            let (mode, target) = if stream.kind == StreamKind::Index {
                ("TRIANGLES", 34963)
            } else {
                ("ATTRIBUTES", 34962)
            };
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
    }
    let mut image_views = Vec::new();
    for (level, level_images) in images.iter().enumerate() {
        let mut list = Vec::new();
        for (image, &offset) in level_images.iter().zip(&image_offsets[level]) {
            list.push(views.len());
            views.push(
                json!({ "buffer": 0, "byteOffset": offset, "byteLength": image.bytes.len() }),
            );
        }
        image_views.push(list);
    }
    Layout {
        bin,
        views,
        fallback_len: fallback_offset,
        level_bytes,
        image_views,
    }
}

/// The manifest's record of every image, level by level, with the largest texture-coordinate error of the
/// chunks that sample it.
fn texture_records(images: &[&[TextureImage]], levels: &[&[EncodedChunk]]) -> Vec<TextureRecord> {
    let mut records = Vec::new();
    for (level, level_images) in images.iter().enumerate() {
        for (number, image) in level_images.iter().enumerate() {
            let sha256 = sha256_hex(&image.bytes);
            let max_uv_error_texels = levels[level]
                .iter()
                .filter(|c| c.image as usize == number)
                .map(|c| c.max_uv_error_texels)
                .fold(0.0, f64::max);
            let origin = image.origin.clone().unwrap_or_else(|| ImageOrigin {
                source_sha256: sha256.clone(),
                transform: "unchanged: the source file's bytes".into(),
                loss: ImageLoss::none(image.width, image.height),
            });
            records.push(TextureRecord {
                level: level as u32,
                image: number as u32,
                name: image.name.clone(),
                mime_type: image.format.mime_type().into(),
                width: image.width,
                height: image.height,
                bytes: image.bytes.len() as u64,
                sha256,
                origin,
                max_uv_error_texels,
            });
        }
    }
    records
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
    let world = |p: [f64; 3]| {
        [0, 1, 2].map(|axis| {
            if p[axis].is_finite() {
                origin[axis] + p[axis]
            } else {
                origin[axis]
            }
        })
    };
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
            "texcoord": "16-bit fraction of the image when within 0..1, else 32-bit float",
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
        params: json!({ "vertex_codec": 0, "index_codec": 1, "order": "spatial sort, vertex cache strip, vertex fetch" }),
        result: json!({ "lossless": true, "verified_by_decoding": true }),
    });
    let mut attributes = vec!["POSITION".to_owned()];
    if mesh.normals.is_some() {
        attributes.push("NORMAL".into());
    }
    if mesh.colors_srgb.is_some() {
        attributes.push("COLOR_0".into());
    }
    if chunks
        .iter()
        .any(|c| c.streams.iter().any(|s| s.kind == StreamKind::TexCoord))
    {
        attributes.push("TEXCOORD_0".into());
    }
    if mesh.measured.is_some() {
        attributes.push("_MEASURED".into());
    }
    if chunks
        .iter()
        .any(|c| c.streams.iter().any(|s| s.kind == StreamKind::Intensity))
    {
        attributes.push("_INTENSITY".into());
    }
    Manifest {
        format: "exhibit-manifest".into(),
        format_version: MANIFEST_FORMAT_VERSION,
        software: SOFTWARE.into(),
        inputs: provenance.inputs,
        steps,
        recipe: provenance.recipe,
        unit: "m".into(),
        origin_m: origin,
        geometry: GeometryRecord {
            vertices: stats.vertices as u64,
            triangles: stats.triangles as u64,
            points: stats.points as u64,
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
            max_uv_error_texels: stats.max_uv_error_texels,
        },
        surface: SurfaceRecord {
            measured_flag: mesh.measured.is_some(),
            measured_vertices: measured_vertices as u64,
            reconstructed_vertices: (stats.vertices - measured_vertices) as u64,
            reconstructed_area_fraction: if total_area > 0.0 {
                reconstructed_area / total_area
            } else {
                0.0
            },
        },
        levels: Vec::new(),
        textures: Vec::new(),
        bin_sha256: sha256_hex(bin),
        output: None,
    }
}

/// An `f32` as the JSON number with the fewest digits that reads back as the same `f32`.
/// (Going through `f64` would print all the binary digits of the widened value.)
fn shortest_f32(value: f32) -> serde_json::Value {
    let shortest: f64 = value.to_string().parse().unwrap_or(f64::from(value));
    if shortest.fract() == 0.0 && shortest.abs() < 1e15 {
        json!(shortest as i64)
    } else {
        json!(shortest)
    }
}

/// Accessor bounds: whole numbers (grid values) without a fraction, floats as the `f32` they came from.
fn shortest_f64(value: f64) -> serde_json::Value {
    shortest_f32(value as f32)
}

/// One stream's accessor, and the attribute name it goes under (empty for indices).
fn accessor_json(
    stream: &Stream,
    chunk: &EncodedChunk,
    buffer_view: usize,
) -> (&'static str, Value) {
    let count = stream.count;
    match stream.kind {
        StreamKind::Position => {
            let component = if chunk.dequantization.is_some() {
                5123
            } else {
                5126
            };
            let (min, max) = (
                chunk.position_min.map(shortest_f64),
                chunk.position_max.map(shortest_f64),
            );
            (
                "POSITION",
                json!({ "bufferView": buffer_view, "componentType": component, "count": count, "type": "VEC3",
                "min": min, "max": max }),
            )
        }
        StreamKind::Normal => (
            "NORMAL",
            json!({ "bufferView": buffer_view, "componentType": 5120, "normalized": true,
            "count": count, "type": "VEC3" }),
        ),
        StreamKind::Color => (
            "COLOR_0",
            json!({ "bufferView": buffer_view, "componentType": 5123, "normalized": true,
            "count": count, "type": "VEC4" }),
        ),
        StreamKind::TexCoord if stream.byte_stride == 4 => (
            "TEXCOORD_0",
            json!({ "bufferView": buffer_view,
            "componentType": 5123, "normalized": true, "count": count, "type": "VEC2" }),
        ),
        StreamKind::TexCoord => (
            "TEXCOORD_0",
            json!({ "bufferView": buffer_view, "componentType": 5126,
            "count": count, "type": "VEC2" }),
        ),
        StreamKind::Intensity => (
            "_INTENSITY",
            json!({ "bufferView": buffer_view, "componentType": 5126,
            "count": count, "type": "SCALAR" }),
        ),
        StreamKind::Measured => (
            "_MEASURED",
            json!({ "bufferView": buffer_view, "componentType": 5121,
            "count": count, "type": "SCALAR" }),
        ),
        StreamKind::Index => (
            "",
            json!({ "bufferView": buffer_view,
            "componentType": if stream.byte_stride == 2 { 5123 } else { 5125 }, "count": count, "type": "SCALAR" }),
        ),
    }
}

/// The materials (0: untextured; 1 + k: samples the file's k-th image, levels in order), textures and images.
/// The image a WebP texture falls back on for readers without WebP: a coarser level's image is a smaller copy of
/// the model's image at the same place in level 0, with the same coordinates, so that image (unless it is WebP
/// itself). `None` at level 0.
fn webp_fallback(images: &[&[TextureImage]], level: usize, index: usize) -> Option<usize> {
    images
        .first()?
        .get(index)
        .filter(|finest| level > 0 && finest.format != ImageFormat::Webp)
        .map(|_| index)
}

fn materials_json(
    base_color: [f64; 4],
    images: &[&[TextureImage]],
    layout: &Layout,
) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let mut materials = vec![json!({
        "doubleSided": true,
        "pbrMetallicRoughness": { "baseColorFactor": base_color, "metallicFactor": 0.0, "roughnessFactor": 0.7 },
    })];
    let mut textures = Vec::new();
    let mut image_json = Vec::new();
    for (level, level_images) in images.iter().enumerate() {
        for (index, (image, &view)) in level_images
            .iter()
            .zip(&layout.image_views[level])
            .enumerate()
        {
            let k = image_json.len();
            // The texture is the surface's colour as scanned: white factor, lit like the untextured surface.
            materials.push(json!({
                "name": image.name,
                "doubleSided": true,
                "pbrMetallicRoughness": {
                    "baseColorTexture": { "index": k },
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.7,
                },
            }));
            textures.push(if image.format == ImageFormat::Webp {
                match webp_fallback(images, level, index) {
                    Some(source) => json!({ "sampler": 0, "source": source, "extensions": { "EXT_texture_webp": { "source": k } } }),
                    None => json!({ "sampler": 0, "extensions": { "EXT_texture_webp": { "source": k } } }),
                }
            } else {
                json!({ "sampler": 0, "source": k })
            });
            image_json.push(json!({ "bufferView": view, "mimeType": image.format.mime_type() }));
        }
    }
    (materials, textures, image_json)
}

fn gltf_json(
    mesh: &Mesh,
    levels: &[&[EncodedChunk]],
    images: &[&[TextureImage]],
    layout: &Layout,
    manifest: &Manifest,
) -> Value {
    // Material 0 is the untextured surface; material 1 + k samples the k-th image of the file (levels in order).
    let mut first_image_of_level = Vec::with_capacity(images.len());
    let mut image_total = 0usize;
    for level_images in images {
        first_image_of_level.push(image_total);
        image_total += level_images.len();
    }
    let mut accessors = Vec::new();
    let mut meshes = Vec::new();
    let mut nodes = Vec::new();
    let mut view = 0usize;
    let mut next_view = || {
        view += 1;
        view - 1
    };
    let mut level_nodes: Vec<Vec<usize>> = Vec::new();
    for (level, chunk_list) in levels.iter().enumerate() {
        level_nodes.push(Vec::new());
        for chunk in *chunk_list {
            let mut attributes = serde_json::Map::new();
            let mut indices = Value::Null;
            for stream in &chunk.streams {
                let buffer_view = next_view();
                let (name, accessor) = accessor_json(stream, chunk, buffer_view);
                if stream.kind == StreamKind::Index {
                    indices = json!(accessors.len());
                } else {
                    attributes.insert(name.into(), json!(accessors.len()));
                }
                accessors.push(accessor);
            }
            let material = if chunk.image == NO_IMAGE {
                0
            } else {
                1 + first_image_of_level[level] + chunk.image as usize
            };
            let primitive = if indices.is_null() {
                json!({ "attributes": attributes, "material": material, "mode": 0 })
            } else {
                json!({ "attributes": attributes, "indices": indices, "material": material, "mode": 4 })
            };
            meshes.push(json!({ "primitives": [primitive] }));
            let mut node = json!({ "mesh": meshes.len() - 1 });
            if let Some(dq) = chunk.dequantization {
                node["translation"] = json!(dq.translation.map(shortest_f32));
                node["scale"] = json!([dq.scale; 3].map(shortest_f32));
            }
            if let Some(list) = level_nodes.last_mut() {
                list.push(nodes.len());
            }
            nodes.push(node);
        }
    }
    // One level: the chunks are the scene, as in files without levels. Several: one root node per level
    // holds its chunks; the finest root is the scene and names the coarser roots in MSFT_lod.
    let scene_nodes: Vec<usize> = if levels.len() == 1 {
        level_nodes[0].clone()
    } else {
        let first_root = nodes.len();
        for (level, children) in level_nodes.iter().enumerate() {
            let mut root =
                json!({ "name": format!("level of detail {level}"), "children": children });
            if level == 0 {
                root["extensions"] = json!({ "MSFT_lod": { "ids": (first_root + 1..first_root + levels.len()).collect::<Vec<_>>() } });
            }
            nodes.push(root);
        }
        vec![first_root]
    };
    // Vertex colours are the surface's colour as scanned: multiply them by white, not by grey.
    let base_color = if mesh.colors_srgb.is_some() {
        [1.0, 1.0, 1.0, 1.0]
    } else {
        [0.8, 0.8, 0.8, 1.0]
    };
    let quantized = levels.iter().flat_map(|l| l.iter()).any(|c| {
        c.dequantization.is_some()
            || c.streams
                .iter()
                .any(|s| s.kind == StreamKind::TexCoord && s.byte_stride == 4)
    }) || mesh.normals.is_some();
    let mut extensions = vec!["EXT_meshopt_compression"];
    if quantized {
        extensions.push("KHR_mesh_quantization");
    }
    let (materials, textures, image_json) = materials_json(base_color, images, layout);
    // WebP is required only where a texture has no other source (the scanner delivered WebP); the coarser
    // levels' WebP images fall back on the model's own.
    let webp = images.iter().enumerate().flat_map(|(level, list)| {
        list.iter()
            .enumerate()
            .filter(|(_, image)| image.format == ImageFormat::Webp)
            .map(move |(index, _)| webp_fallback(images, level, index))
    });
    let webp_used = webp.clone().next().is_some();
    let webp_required = webp.clone().any(|fallback| fallback.is_none());
    if webp_required {
        extensions.push("EXT_texture_webp");
    }
    // MSFT_lod is used, never required: a reader without it draws the finest level, which is the model.
    let mut extensions_used = extensions.clone();
    if webp_used && !webp_required {
        extensions_used.push("EXT_texture_webp");
    }
    if levels.len() > 1 {
        extensions_used.push("MSFT_lod");
    }
    let mut document = json!({
        "asset": {
            "version": "2.0",
            "generator": SOFTWARE,
            "extras": { "exhibit": manifest },
        },
        "extensionsUsed": extensions_used,
        "extensionsRequired": extensions,
        "buffers": [
            { "byteLength": layout.bin.len() },
            { "byteLength": layout.fallback_len, "extensions": { "EXT_meshopt_compression": { "fallback": true } } },
        ],
        "bufferViews": layout.views,
        "accessors": accessors,
        "materials": materials,
        "meshes": meshes,
        "nodes": nodes,
        "scenes": [{ "nodes": scene_nodes }],
        "scene": 0,
    });
    if !textures.is_empty() {
        // Linear filtering with mipmaps; the default wrapping (repeat), as the scanner's coordinates mean.
        document["samplers"] = json!([{ "magFilter": 9729, "minFilter": 9987 }]);
        document["textures"] = json!(textures);
        document["images"] = json!(image_json);
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PointCloud, read_model_bytes};

    /// A wavy grid of `n` x `n` vertices spanning `size_m`, with normals, colours and flags.
    fn grid_mesh(n: u32, size_m: f32) -> Mesh {
        let mut mesh = Mesh {
            origin_m: [1000.0, -20.0, 3.0],
            ..Mesh::default()
        };
        let (mut normals, mut colors, mut measured) = (Vec::new(), Vec::new(), Vec::new());
        for j in 0..n {
            for i in 0..n {
                let (u, v) = (i as f32 / (n - 1) as f32, j as f32 / (n - 1) as f32);
                let z = 0.01 * (u * 17.0).sin() * (v * 13.0).cos();
                mesh.positions.push([u * size_m, v * size_m, z]);
                let normal = [-(u * 3.0).sin(), 0.3, 1.0];
                let length =
                    (normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2]).sqrt();
                normals.push(normal.map(|c| c / length));
                colors.push([
                    (i * 7 % 256) as u8,
                    (j * 11 % 256) as u8,
                    ((i + j) % 256) as u8,
                    255,
                ]);
                measured.push((i + j) % 5 != 0);
            }
        }
        for j in 0..n - 1 {
            for i in 0..n - 1 {
                let a = j * n + i;
                mesh.indices
                    .extend([a, a + 1, a + n, a + 1, a + n + 1, a + n]);
            }
        }
        mesh.intensity = Some((0..mesh.positions.len()).map(|v| v as f32 * 0.5).collect());
        mesh.normals = Some(normals);
        mesh.colors_srgb = Some(colors);
        mesh.measured = Some(measured);
        mesh
    }

    /// Triangles as corner triples rotated so the smallest index comes first (same triangle, same winding), sorted.
    fn canonical_triangles(indices: impl Iterator<Item = [u32; 3]>) -> Vec<[u32; 3]> {
        let mut set: Vec<[u32; 3]> = indices
            .map(|t| {
                let first = (0..3).min_by_key(|&k| t[k]).unwrap_or(0);
                [t[first], t[(first + 1) % 3], t[(first + 2) % 3]]
            })
            .collect();
        set.sort_unstable();
        set
    }

    fn check_round_trip(mesh: &Mesh, precision_m: f64) -> EncodedModel {
        let encoded =
            encode_glb(mesh, &EncodeConfig { precision_m }, Provenance::default()).unwrap();
        let stats = &encoded.stats;
        assert!(stats.max_position_error_m <= precision_m, "{stats:?}");
        let model = read_model_bytes(&encoded.glb, None).unwrap();
        assert_eq!(model.bin_sha256_matches, Some(true));
        let decoded = &model.mesh;
        assert_eq!(decoded.triangle_count(), mesh.triangle_count());
        // Every decoded vertex lies within the recorded error of an input vertex with the same attributes.
        let recorded = encoded.manifest.error_bounds.max_position_error_mm * 1e-3;
        let mut by_cell: std::collections::HashMap<[i64; 3], Vec<usize>> =
            std::collections::HashMap::new();
        let cell = |p: [f64; 3]| p.map(|c| (c / (4.0 * precision_m)).floor() as i64);
        let world =
            |m: &Mesh, i: usize| [0, 1, 2].map(|a| m.origin_m[a] + f64::from(m.positions[i][a]));
        for i in 0..mesh.positions.len() {
            by_cell.entry(cell(world(mesh, i))).or_default().push(i);
        }
        let mut source_of = vec![0u32; decoded.positions.len()];
        for v in 0..decoded.positions.len() {
            let p = world(decoded, v);
            let c = cell(p);
            let nearest = (-1..=1)
                .flat_map(|dx| {
                    (-1..=1).flat_map(move |dy| {
                        (-1..=1).map(move |dz| [c[0] + dx, c[1] + dy, c[2] + dz])
                    })
                })
                .filter_map(|k| by_cell.get(&k))
                .flatten()
                .map(|&i| {
                    let q = world(mesh, i);
                    let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2))
                        .sqrt();
                    (d, i)
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let (distance, source) = nearest
                .unwrap_or_else(|| panic!("decoded vertex {v} is far from every input vertex"));
            assert!(
                distance <= recorded + 1e-12,
                "vertex {v}: {distance} m > recorded {recorded} m"
            );
            source_of[v] = source as u32;
            if let (Some(a), Some(b)) = (&mesh.colors_srgb, &decoded.colors_srgb) {
                assert_eq!(a[source], b[v], "colour of vertex {v}");
            }
            if let (Some(a), Some(b)) = (&mesh.measured, &decoded.measured) {
                assert_eq!(a[source], b[v], "measured flag of vertex {v}");
            }
            assert_eq!(
                mesh.intensity.as_ref().map(|a| a[source].to_bits()),
                decoded.intensity.as_ref().map(|b| b[v].to_bits()),
                "intensity of vertex {v}"
            );
        }
        // Same set of triangles: each decoded corner, mapped back to the input vertex it came from.
        let input = canonical_triangles(mesh.indices.chunks_exact(3).map(|t| [t[0], t[1], t[2]]));
        let output = canonical_triangles(
            decoded
                .indices
                .chunks_exact(3)
                .map(|t| [0, 1, 2].map(|k| source_of[t[k] as usize])),
        );
        assert!(
            input == output,
            "the decoded triangles differ from the input's"
        );
        encoded
    }

    #[test]
    fn round_trip_keeps_every_vertex_within_the_recorded_error() {
        let mesh = grid_mesh(60, 0.3);
        let encoded = check_round_trip(&mesh, 0.05e-3);
        assert_eq!(encoded.stats.chunks, 1);
        assert!(encoded.stats.max_normal_error_deg.unwrap() < 1.5);
        assert_eq!(encoded.stats.max_color_error_srgb8, Some(0));
        assert!(encoded.manifest.surface.reconstructed_area_fraction > 0.0);
    }

    #[test]
    fn round_trip_of_an_object_larger_than_16_bits_uses_chunks() {
        // 12 m at 0.05 mm is 240 000 grid steps: the mesh must be split.
        let mesh = grid_mesh(80, 12.0);
        let encoded = check_round_trip(&mesh, 0.05e-3);
        assert!(encoded.stats.chunks > 1, "{:?}", encoded.stats);
        assert_eq!(encoded.stats.float_chunks, 0);
    }

    #[test]
    fn oversized_triangles_keep_float_positions_exactly() {
        let mut mesh = grid_mesh(3, 20.0);
        mesh.measured = None;
        let encoded = check_round_trip(&mesh, 0.05e-3);
        assert!(encoded.stats.float_chunks >= 1);
    }

    #[test]
    fn packed_reading_matches_the_converting_reader() {
        let mesh = grid_mesh(30, 0.2);
        let glb = encode_glb(&mesh, &EncodeConfig::default(), Provenance::default())
            .unwrap()
            .glb;
        let model = read_model_bytes(&glb, None).unwrap();
        let packed = crate::read_packed_bytes(&glb, None).unwrap();
        assert_eq!(packed.primitives.len(), 1);
        let primitive = &packed.primitives[0];
        assert_eq!(primitive.indices, model.mesh.indices);
        assert_eq!(
            (
                primitive.positions.component_type,
                primitive.positions.stride
            ),
            (5123, 8)
        );
        let m = primitive.world_from_local;
        for (v, chunk) in primitive
            .positions
            .bytes
            .chunks(primitive.positions.stride)
            .enumerate()
        {
            let q =
                [0, 1, 2].map(|c| f64::from(u16::from_le_bytes([chunk[2 * c], chunk[2 * c + 1]])));
            let world = [0, 1, 2]
                .map(|r| (m[r] * q[0] + m[4 + r] * q[1] + m[8 + r] * q[2] + m[12 + r]) as f32);
            assert_eq!(world, model.mesh.positions[v], "vertex {v}");
        }
        assert_eq!(
            primitive.measured.as_ref().map(|a| a.count),
            Some(model.mesh.positions.len())
        );
    }

    #[test]
    fn point_clouds_round_trip_with_every_attribute() {
        let mesh = grid_mesh(70, 9.0); // 9 m: several chunks at 0.05 mm
        let intensity: Vec<f32> = (0..mesh.positions.len()).map(|i| i as f32 * 0.25).collect();
        let cloud = PointCloud {
            origin_m: mesh.origin_m,
            positions: mesh.positions.clone(),
            normals: mesh.normals.clone(),
            colors_srgb: mesh.colors_srgb.clone(),
            intensity: Some(intensity.clone()),
        };
        let encoded =
            crate::encode_point_cloud_glb(&cloud, &EncodeConfig::default(), Provenance::default())
                .unwrap();
        assert!(encoded.stats.chunks > 1);
        assert_eq!(
            (encoded.stats.points, encoded.stats.triangles),
            (cloud.positions.len(), 0)
        );
        assert!(encoded.stats.max_position_error_m <= DEFAULT_PRECISION_M);
        let model = read_model_bytes(&encoded.glb, None).unwrap();
        assert_eq!(model.mesh.triangle_count(), 0);
        let points = &model.points;
        assert_eq!(points.positions.len(), cloud.positions.len());
        // Points are stored in spatial order: match each decoded point to its source by intensity (unique here).
        let decoded_intensity = points.intensity.as_ref().unwrap();
        for (k, value) in decoded_intensity.iter().enumerate() {
            let source = (value / 0.25) as usize;
            assert_eq!(intensity[source], *value);
            assert!(
                quantize::distance(points.positions[k], cloud.positions[source])
                    <= encoded.stats.max_position_error_m
            );
            assert_eq!(
                points.colors_srgb.as_ref().unwrap()[k],
                cloud.colors_srgb.as_ref().unwrap()[source]
            );
            let n = points.normals.as_ref().unwrap()[k];
            let angle =
                quantize::angle_deg(n, cloud.normals.as_ref().unwrap()[source].map(f64::from));
            assert!(
                angle <= encoded.stats.max_normal_error_deg.unwrap() + 1e-3,
                "normal {k}: {angle}°"
            );
        }
        assert_eq!(
            encoded.manifest.geometry.points,
            cloud.positions.len() as u64
        );
        assert!(
            encoded
                .manifest
                .geometry
                .attributes
                .contains(&"_INTENSITY".to_owned())
        );
    }

    /// The values of the vertices in `used`, in that order.
    fn kept<T: Copy>(values: Option<&Vec<T>>, used: &[u32]) -> Option<Vec<T>> {
        values.map(|v| used.iter().map(|&u| v[u as usize]).collect())
    }

    /// `mesh` simplified to about `share` of its triangles, with the vertices it keeps and their attributes.
    fn simplified(mesh: &Mesh, share: f64) -> Mesh {
        let adapter =
            meshopt::VertexDataAdapter::new(bytemuck::cast_slice(&mesh.positions), 12, 0).unwrap();
        let target = ((mesh.indices.len() / 3) as f64 * share) as usize * 3;
        let indices = meshopt::simplify(
            &mesh.indices,
            &adapter,
            target,
            f32::MAX,
            meshopt::SimplifyOptions::None,
            None,
        );
        let mut used: Vec<u32> = indices.clone();
        used.sort_unstable();
        used.dedup();
        let new_of = |old: u32| used.binary_search(&old).unwrap() as u32;
        Mesh {
            origin_m: mesh.origin_m,
            positions: kept(Some(&mesh.positions), &used).unwrap_or_default(),
            indices: indices.iter().map(|&i| new_of(i)).collect(),
            normals: kept(mesh.normals.as_ref(), &used),
            colors_srgb: kept(mesh.colors_srgb.as_ref(), &used),
            measured: kept(mesh.measured.as_ref(), &used),
            intensity: kept(mesh.intensity.as_ref(), &used),
            texturing: None,
        }
    }

    #[test]
    fn levels_of_detail_are_stored_coarsest_first_and_within_their_recorded_error() {
        let mesh = grid_mesh(120, 0.3);
        let coarser = [simplified(&mesh, 0.25), simplified(&mesh, 0.06)];
        let encoded = encode_glb_levels(
            &mesh,
            &coarser,
            &EncodeConfig::default(),
            Provenance::default(),
        )
        .unwrap();
        let manifest = &encoded.manifest;
        assert_eq!(manifest.levels.len(), 2);
        // Level 0 is what every reader sees: the same model as a file without levels.
        let model = read_model_bytes(&encoded.glb, None).unwrap();
        assert_eq!((model.levels, model.level), (3, 0));
        assert_eq!(model.mesh.triangle_count(), mesh.triangle_count());
        assert_eq!(model.bin_sha256_matches, Some(true));
        let alone = encode_glb(&mesh, &EncodeConfig::default(), Provenance::default()).unwrap();
        assert_eq!(
            read_model_bytes(&alone.glb, None).unwrap().mesh,
            model.mesh,
            "level 0 decodes exactly like the model alone"
        );
        let q0 = manifest.error_bounds.max_position_error_mm * 1e-3;
        let finest_points: Vec<[f64; 3]> = model
            .mesh
            .positions
            .iter()
            .map(|p| p.map(f64::from))
            .collect();
        for (k, record) in manifest.levels.iter().enumerate() {
            let level = crate::read_model_level_bytes(&encoded.glb, None, k + 1).unwrap();
            assert_eq!(level.level, k + 1);
            assert_eq!(level.mesh.triangle_count() as u64, record.triangles);
            assert_eq!(
                level.mesh.triangle_count(),
                coarser[k].triangle_count(),
                "level {}",
                k + 1
            );
            assert!(level.mesh.colors_srgb.is_some() && level.mesh.measured.is_some());
            // Decoded model vertices lie within the recorded bound of the decoded level (plus level 0's own
            // quantization, which the level's record does not include).
            let bvh = crate::distance::TriangleBvh::new(&level.mesh.positions, &level.mesh.indices);
            let worst = crate::distance::max_distance_to(&bvh, &finest_points);
            assert!(
                worst <= record.max_error_mm * 1e-3 + q0 + 1e-9,
                "level {}: {worst} m > {} mm + {q0} m",
                k + 1,
                record.max_error_mm
            );
            assert!(record.deviation_mm > 0.0 && record.max_error_mm >= record.deviation_mm);
        }
        // A viewer downloading the file can draw the coarsest level from the first bytes alone: with only
        // that prefix (the rest zeros), it decodes exactly as from the whole file.
        let glb = &encoded.glb;
        assert_eq!(
            crate::level_prefix_len(&glb[..30], 9),
            None,
            "the JSON is not complete"
        );
        let needed = crate::level_prefix_len(glb, 9).unwrap();
        assert!(needed < glb.len() / 3, "{needed} of {} bytes", glb.len());
        assert_eq!(crate::level_prefix_len(&glb[..needed], 9), Some(needed));
        let mut padded = glb[..needed].to_vec();
        padded.resize(glb.len(), 0);
        let early = crate::read_model_level_bytes(&padded, None, 9).unwrap();
        let whole = crate::read_model_level_bytes(glb, None, 9).unwrap();
        assert_eq!(early.mesh, whole.mesh);
        assert_eq!(
            early.bin_sha256_matches,
            Some(false),
            "the preview is not the checked file"
        );
        // The model itself needs the whole binary chunk but its final padding.
        let all = crate::level_prefix_len(glb, 0).unwrap();
        assert!(
            all <= glb.len() && all + 4 > glb.len(),
            "{all} of {}",
            glb.len()
        );
        // A level beyond the last reads the coarsest.
        let beyond = crate::read_model_level_bytes(&encoded.glb, None, 9).unwrap();
        assert_eq!(
            (beyond.level, beyond.mesh.triangle_count()),
            (2, coarser[1].triangle_count())
        );
        // The binary chunk holds the coarsest level first, then the next, the model last.
        let packed = crate::read_packed_level_bytes(&encoded.glb, None, 2).unwrap();
        assert_eq!(packed.primitives.len(), 1);
        let bytes: u64 = manifest.levels.iter().map(|l| l.bin_bytes).sum();
        let total = (encoded.stats.bin_bytes) as u64;
        assert!(bytes < total / 2, "coarse levels {bytes} of {total} bytes");
        let json = crate::glb::parse_glb(&encoded.glb).unwrap().json;
        let root: serde_json::Value = serde_json::from_slice(json).unwrap();
        let offset_of_view = |view: &serde_json::Value| {
            view["extensions"]["EXT_meshopt_compression"]["byteOffset"]
                .as_u64()
                .unwrap()
        };
        let views = root["bufferViews"].as_array().unwrap();
        let first_of_model = offset_of_view(&views[0]);
        assert_eq!(
            first_of_model, bytes,
            "the model's streams start after the coarse levels"
        );
        // Views are numbered model first; the one at offset 0 is the coarsest level's first (position) stream.
        let streams_per_level = 6; // position, normal, colour, measured flag, intensity, indices
        let at_zero = views.iter().position(|v| offset_of_view(v) == 0).unwrap();
        assert_eq!(at_zero, 2 * streams_per_level);
    }

    #[test]
    fn output_is_identical_on_any_thread_count() {
        let mesh = grid_mesh(90, 15.0);
        let encode_with = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                encode_glb(&mesh, &EncodeConfig::default(), Provenance::default())
                    .unwrap()
                    .glb
            })
        };
        let one = encode_with(1);
        assert!(
            encode_with(4) == one,
            "4 threads gave different bytes than 1"
        );
        assert!(
            encode_with(3) == one,
            "3 threads gave different bytes than 1"
        );
    }

    #[test]
    fn refuse_invalid_input() {
        let mut mesh = grid_mesh(3, 0.1);
        assert!(matches!(
            encode_glb(
                &mesh,
                &EncodeConfig { precision_m: 0.0 },
                Provenance::default()
            ),
            Err(CodecError::InvalidPrecision { .. })
        ));
        assert!(matches!(
            encode_glb(
                &mesh,
                &EncodeConfig {
                    precision_m: f64::NAN
                },
                Provenance::default()
            ),
            Err(CodecError::InvalidPrecision { .. })
        ));
        mesh.indices.clear();
        assert!(
            encode_glb(&mesh, &EncodeConfig::default(), Provenance::default())
                .unwrap_err()
                .to_string()
                .contains("no triangles")
        );
    }
}
