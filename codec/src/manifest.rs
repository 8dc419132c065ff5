//! The manifest: what a model was made from, how, and how far it may be from the truth.
//!
//! One copy travels inside the GLB (`asset.extras.exhibit`), one beside it (`OUT.manifest.json`).
//! The embedded copy cannot hold the hash of the file that contains it, so it records the hash of the
//! binary chunk (`bin_sha256`) instead; the sidecar adds `output` with the SHA-256 of the whole GLB.
//! Nothing here depends on the clock or the machine, so the same inputs give the same bytes.

use serde::{Deserialize, Serialize};

/// Identifies the manifest layout. Readers accept every version up to this one.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// Name of the software, as recorded in every step.
pub const SOFTWARE: &str = concat!("exhibit ", env!("CARGO_PKG_VERSION"));

/// The record of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `"exhibit-manifest"`, so a stray JSON file is not mistaken for one.
    pub format: String,
    /// Layout version, see [`MANIFEST_FORMAT_VERSION`].
    pub format_version: u32,
    /// Software that wrote the model, with its version.
    pub software: String,
    /// Every raw input, by content hash.
    pub inputs: Vec<InputRecord>,
    /// Every processing step in order, with parameters and what it changed.
    pub steps: Vec<StepRecord>,
    /// The options the model was made with, exactly as the maker was given them (`null` where it chose the
    /// default), so that anyone can run it again on the inputs (`exhibit verify MODEL --rederive RAW...`);
    /// absent in a model not made by ingest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<serde_json::Value>,
    /// Unit of every length in the model file (glTF uses metres).
    pub unit: String,
    /// World position of the model's local origin, in metres: add it to glTF positions for survey coordinates.
    pub origin_m: [f64; 3],
    /// Counts and bounds of the encoded geometry.
    pub geometry: GeometryRecord,
    /// The error bounds a user of this model must carry with every measurement.
    pub error_bounds: ErrorBounds,
    /// Which surface was measured and which was filled in.
    pub surface: SurfaceRecord,
    /// Coarser levels of detail stored beside the model (level 0, which `geometry` describes), with their
    /// measured distance from it; absent when the file has only the model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<LevelRecord>,
    /// Every image in the file, level by level: where it came from and what it cost, measured; absent in an
    /// untextured model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub textures: Vec<TextureRecord>,
    /// SHA-256 of the GLB binary chunk (all geometry), hex.
    pub bin_sha256: String,
    /// The GLB file itself; only in the sidecar, never inside the GLB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputRecord>,
}

/// One raw input file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// File name without its folder, so that re-deriving elsewhere gives the same manifest.
    pub name: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Detected format, such as `ply-ascii`.
    pub format: String,
    /// Unit the file's coordinates were read in.
    pub unit: String,
    /// For a file another input refers to (an OBJ's material file or texture image): that input's name. Such a
    /// file is read through the one that names it, never as a scan of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
}

/// One processing step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Stage name, such as `read` or `quantize`.
    pub name: String,
    /// Software and version that ran it.
    pub software: String,
    /// Parameters as given or as chosen.
    pub params: serde_json::Value,
    /// What the step did: counts kept and dropped, errors introduced.
    pub result: serde_json::Value,
}

/// Counts and bounds of the encoded geometry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeometryRecord {
    /// Vertices in the file (a vertex shared by two chunks counts twice).
    pub vertices: u64,
    /// Triangles in the file.
    pub triangles: u64,
    /// Points in the file (a point cloud stored as POINTS primitives); absent in files that have none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub points: u64,
    /// Lower corner of the bounds in world metres.
    pub bounds_min_m: [f64; 3],
    /// Upper corner of the bounds in world metres.
    pub bounds_max_m: [f64; 3],
    /// Vertex attributes present, by glTF name.
    pub attributes: Vec<String>,
}

/// Error bounds introduced by encoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBounds {
    /// The precision that was requested, in millimetres.
    pub precision_mm: f64,
    /// Quantization grid step actually used, in millimetres.
    pub grid_step_mm: f64,
    /// Largest distance between an input vertex and its decoded position, measured after encoding, in millimetres.
    pub max_position_error_mm: f64,
    /// Largest angle between an input normal and its decoded normal, in degrees; absent without normals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_normal_error_deg: Option<f64>,
    /// Largest difference of an 8-bit sRGB channel after decoding; absent without colours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_color_error_srgb8: Option<u8>,
    /// Largest difference between an input texture coordinate and its decoded copy, in texels of the image it
    /// samples; absent without textures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uv_error_texels: Option<f64>,
}

/// One image of the model (a level's texture), with its measured history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextureRecord {
    /// The level of detail whose triangles sample it (0: the model).
    pub level: u32,
    /// Its number among the level's images.
    pub image: u32,
    /// The source file's name.
    pub name: String,
    /// The glTF `mimeType` of the bytes in the file.
    pub mime_type: String,
    /// Width in texels.
    pub width: u32,
    /// Height in texels.
    pub height: u32,
    /// Bytes of the encoded image in the file.
    pub bytes: u64,
    /// SHA-256 of the encoded image in the file, hex.
    pub sha256: String,
    /// What it was made from and the measured difference from the source pixels.
    pub origin: crate::texture::ImageOrigin,
    /// Largest texture-coordinate error of the triangles that sample it, in its texels (measured after decoding).
    pub max_uv_error_texels: f64,
}

/// Which surface was measured and which was filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurfaceRecord {
    /// Whether the file carries the per-vertex `_MEASURED` attribute.
    pub measured_flag: bool,
    /// Vertices on measured surface; every vertex when no flag was given (the input was a measured mesh).
    pub measured_vertices: u64,
    /// Vertices filled in by reconstruction.
    pub reconstructed_vertices: u64,
    /// Share of triangle area whose three vertices are all reconstructed, 0..1.
    pub reconstructed_area_fraction: f64,
}

/// One coarser level of detail: what it holds and how far it may be from the model (level 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelRecord {
    /// 1 for the first coarser level, and so on.
    pub level: u32,
    /// Vertices in the level.
    pub vertices: u64,
    /// Triangles in the level.
    pub triangles: u64,
    /// Bytes of the binary chunk that hold this level.
    pub bin_bytes: u64,
    /// Largest distance between the level's surface and level 0's, both ways (level 0's vertices to the
    /// level, the level's vertices and triangle centroids to level 0) with exact closest points, before
    /// quantization, in millimetres.
    pub deviation_mm: f64,
    /// The level's measured quantization error, in millimetres.
    pub max_position_error_mm: f64,
    /// The bound to carry with a measurement on this level: deviation plus quantization, in millimetres.
    pub max_error_mm: f64,
}

/// The GLB file the sidecar describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// File name without its folder.
    pub name: String,
    /// SHA-256 of the whole GLB, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Where the model came from, as the caller knows it: raw inputs and the steps before encoding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Provenance {
    /// Every raw input, by content hash.
    pub inputs: Vec<InputRecord>,
    /// Steps that ran before encoding.
    pub steps: Vec<StepRecord>,
    /// The options to make the model again (see [`Manifest::recipe`]).
    pub recipe: Option<serde_json::Value>,
}

impl Manifest {
    /// Serialize as pretty JSON with a trailing newline: the sidecar file's exact bytes.
    #[must_use]
    pub fn to_pretty_json(&self) -> Vec<u8> {
        // Serializing plain structs and `Value`s to a Vec cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Lower-case hex of a byte string.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// SHA-256 of a byte string, as lower-case hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}
