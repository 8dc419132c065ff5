//! Ingest: read what scanners write and turn it into an evidence model.
//!
//! Readers (one module per format) produce a [`RawMesh`] in the file's own unit; [`raw::to_mesh`]
//! applies the unit and the origin; the codec encodes. Each stage is plain data plus one function,
//! and each records what it kept, dropped and changed in the manifest.
//!
//! ```no_run
//! use ingest::{IngestConfig, ingest_mesh_file};
//!
//! let output = ingest_mesh_file("bunny.ply".as_ref(), &IngestConfig::default())?;
//! println!("{} triangles, max error {} mm", output.model.stats.triangles, output.model.stats.max_position_error_m * 1e3);
//! # Ok::<(), ingest::IngestError>(())
//! ```

mod error;
mod obj;
mod ply;
pub mod raw;
mod units;

use std::path::Path;
use std::time::Instant;

use codec::{EncodeConfig, EncodedModel, InputRecord, Mesh, Provenance, StepRecord};
use serde_json::json;

pub use error::IngestError;
pub use raw::RawMesh;
pub use units::Unit;

/// Options for reading one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadOptions {
    /// The unit of the file's coordinates; `None` takes the format's documented default.
    pub unit: Option<Unit>,
}

/// A mesh file as read: the mesh in metres, the record of the file, and the record of the read step.
#[derive(Clone, Debug)]
pub struct MeshInput {
    /// The mesh in metres.
    pub mesh: Mesh,
    /// Name, hash, size, format and unit of the file.
    pub input: InputRecord,
    /// What reading kept and dropped.
    pub step: StepRecord,
    /// Sentences for the user about anything dropped or doubtful.
    pub notes: Vec<String>,
}

/// The mesh formats this build reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshFormat {
    /// Stanford PLY.
    Ply,
    /// Wavefront OBJ.
    Obj,
    /// glTF 2.0, binary or JSON: re-encoding a model, or a mesh another tool exported.
    Gltf,
}

impl MeshFormat {
    /// The unit assumed when the user gives none. PLY and OBJ carry no unit; scanners and the Stanford
    /// repository write metres, so metres it is, and a note asks to check when the size looks implausible.
    /// glTF is metres by definition.
    #[must_use]
    pub fn default_unit(self) -> Unit {
        Unit::Metre
    }

    /// Detect from the extension, then from the first bytes.
    #[must_use]
    pub fn detect(path: &Path, bytes: &[u8]) -> Option<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("ply") => return Some(Self::Ply),
            Some("obj") => return Some(Self::Obj),
            Some("glb" | "gltf") => return Some(Self::Gltf),
            _ => {}
        }
        if bytes.starts_with(b"ply\n") || bytes.starts_with(b"ply\r\n") {
            return Some(Self::Ply);
        }
        if codec::glb::is_glb(bytes) {
            return Some(Self::Gltf);
        }
        None
    }
}

/// Parse a mesh file's bytes in its own unit; `path` only names the file in errors.
/// This is the entry point the fuzz targets drive with arbitrary bytes.
pub fn parse_mesh(format: MeshFormat, bytes: &[u8], path: &Path) -> Result<RawMesh, IngestError> {
    match format {
        MeshFormat::Ply => ply::parse_ply(bytes),
        MeshFormat::Obj => obj::parse_obj(bytes),
        MeshFormat::Gltf => return raw::from_gltf(bytes, path),
    }
    .map_err(|e| e.in_file(path))
}

/// Read a mesh file (PLY with faces, or OBJ) into metres, hashing the bytes that were parsed.
pub fn read_mesh(path: &Path, options: &ReadOptions) -> Result<MeshInput, IngestError> {
    let bytes = fs_err::read(path).map_err(|source| IngestError::Io {
        source,
        path: path.to_path_buf(),
    })?;
    let sha256 = codec::manifest::sha256_hex(&bytes);
    let Some(format) = MeshFormat::detect(path, &bytes) else {
        return Err(IngestError::Unsupported {
            reason: "unknown file type: exhibit reads .ply, .obj, .glb and .gltf meshes here"
                .into(),
            path: path.to_path_buf(),
        });
    };
    let raw = parse_mesh(format, &bytes, path)?;
    if raw.indices.is_empty() {
        return Err(IngestError::Unsupported {
            reason: format!(
                "{} vertices but no faces: this is a point cloud, and reconstruction from points is not built yet",
                raw.positions.len()
            ),
            path: path.to_path_buf(),
        });
    }
    let unit = options.unit.unwrap_or_else(|| format.default_unit());
    let (points_in, triangles_in) = (raw.positions.len(), raw.indices.len() / 3);
    let (format_name, dropped, polygons) = (
        raw.format.clone(),
        raw.dropped.clone(),
        raw.polygons_triangulated,
    );
    let converted = raw::to_mesh(raw, unit);
    let mut notes: Vec<String> = dropped.iter().map(|d| format!("not kept: {d}")).collect();
    if converted.invalid_normals > 0 {
        notes.push(format!(
            "{} normals of zero length: all normals left out, a viewer recomputes them",
            converted.invalid_normals
        ));
    }
    if options.unit.is_none()
        && let Some((min, max)) = converted.mesh.bounds_m()
    {
        let size = (0..3).map(|a| max[a] - min[a]).fold(0.0, f64::max);
        if !(1e-3..=100.0).contains(&size) {
            notes.push(format!(
                "the object is {size:.4} m across in the default unit ({unit}); check --unit"
            ));
        }
    }
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let input = InputRecord {
        name,
        sha256,
        bytes: bytes.len() as u64,
        format: format_name,
        unit: unit.to_string(),
    };
    let step = StepRecord {
        name: "read".into(),
        software: codec::manifest::SOFTWARE.into(),
        params: json!({ "unit": unit.to_string(), "unit_given": options.unit.is_some() }),
        result: json!({
            "vertices": points_in,
            "triangles": triangles_in,
            "polygons_triangulated": polygons,
            "dropped": dropped,
            "max_f32_rounding_mm": converted.max_rounding_m * 1e3,
            "normals_left_out": converted.invalid_normals,
        }),
    };
    Ok(MeshInput {
        mesh: converted.mesh,
        input,
        step,
        notes,
    })
}

/// Options for [`ingest_mesh_file`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IngestConfig {
    /// How to read the input.
    pub read: ReadOptions,
    /// How to encode the model.
    pub encode: EncodeConfig,
}

/// The encoded model with what the user should hear about it.
#[derive(Clone, Debug)]
pub struct IngestOutput {
    /// The GLB and its manifest.
    pub model: EncodedModel,
    /// Vertices in the input.
    pub points_in: usize,
    /// Sentences about anything dropped or doubtful.
    pub notes: Vec<String>,
    /// Seconds per stage, in order. Never written into the model, which must not depend on the clock.
    pub stages: Vec<(&'static str, f64)>,
}

/// Read one mesh file and encode it into a GLB with its manifest.
pub fn ingest_mesh_file(path: &Path, config: &IngestConfig) -> Result<IngestOutput, IngestError> {
    let started = Instant::now();
    let input = read_mesh(path, &config.read)?;
    let read_seconds = started.elapsed().as_secs_f64();
    let points_in = input.mesh.positions.len();
    let provenance = Provenance {
        inputs: vec![input.input],
        steps: vec![input.step],
    };
    let started = Instant::now();
    let model = codec::encode_glb(&input.mesh, &config.encode, provenance).map_err(|source| {
        IngestError::Codec {
            source,
            path: path.to_path_buf(),
        }
    })?;
    let encode_seconds = started.elapsed().as_secs_f64();
    Ok(IngestOutput {
        model,
        points_in,
        notes: input.notes,
        stages: vec![("read", read_seconds), ("encode", encode_seconds)],
    })
}
