//! Ingest: read what scanners write and turn it into an evidence model.
//!
//! Readers (one module per format) produce a [`RawMesh`] in the file's own unit; [`raw::to_mesh`] and
//! [`raw::to_cloud`] apply the unit and the origin; the codec encodes. Each stage is plain data plus one function,
//! and each records what it kept, dropped and changed in the manifest.
//!
//! ```no_run
//! use ingest::{IngestConfig, ingest_file};
//!
//! let output = ingest_file("bunny.ply".as_ref(), &IngestConfig::default())?;
//! println!("{} triangles, max error {} mm", output.model.stats.triangles, output.model.stats.max_position_error_m * 1e3);
//! # Ok::<(), ingest::IngestError>(())
//! ```

#[cfg(feature = "upload")]
pub mod client;
mod e57;
mod error;
pub mod formats;
mod hashing;
mod las;
pub mod lod;
mod obj;
mod pcd;
mod ply;
pub mod raw;
mod recipe;
mod records;
pub mod register;
mod stl;
pub mod surface;
mod text;
pub mod texture;
mod units;
#[cfg(feature = "upload")]
pub mod upload;
pub mod views;
mod xyz;

use std::path::Path;
use std::time::Instant;

use codec::{EncodeConfig, EncodedModel, InputRecord, Mesh, PointCloud, Provenance, StepRecord};
use serde_json::json;

pub use error::IngestError;
pub use raw::RawMesh;
pub use recipe::Recipe;
pub use units::Unit;

/// Options for reading one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadOptions {
    /// The unit of the file's coordinates; `None` takes the format's documented default.
    pub unit: Option<Unit>,
    /// For text point files: what each column is (see [`parse_columns`]); `None` applies the documented rule.
    pub columns: Option<Vec<String>>,
}

pub use xyz::parse_columns;

/// What a scan file holds once read: a surface, or points (which go on to reconstruction when it exists).
#[derive(Clone, Debug)]
pub enum Geometry {
    /// Triangles.
    Mesh(Mesh),
    /// Points without faces.
    Points(PointCloud),
}

impl Geometry {
    /// Axis-aligned bounds in world metres.
    #[must_use]
    pub fn bounds_m(&self) -> Option<([f64; 3], [f64; 3])> {
        match self {
            Geometry::Mesh(m) => m.bounds_m(),
            Geometry::Points(p) => p.bounds_m(),
        }
    }

    /// glTF names of the vertex attributes present.
    #[must_use]
    pub fn attributes(&self) -> Vec<&'static str> {
        let (normals, colors, extra) = match self {
            Geometry::Mesh(m) => (
                m.normals.is_some(),
                m.colors_srgb.is_some(),
                m.measured.is_some().then_some("_MEASURED"),
            ),
            Geometry::Points(p) => (
                p.normals.is_some(),
                p.colors_srgb.is_some(),
                p.intensity.is_some().then_some("_INTENSITY"),
            ),
        };
        let mut names = vec!["POSITION"];
        names.extend(normals.then_some("NORMAL"));
        names.extend(colors.then_some("COLOR_0"));
        names.extend(extra);
        names
    }
}

/// A scan file as read: its geometry in metres, the record of the file, and the record of the read step.
#[derive(Clone, Debug)]
pub struct ScanInput {
    /// The mesh or points, in metres.
    pub geometry: Geometry,
    /// Name, hash, size, format and unit of the file.
    pub input: InputRecord,
    /// Files the scan names and that were read with it (material files, texture images): raw inputs too.
    pub companions: Vec<InputRecord>,
    /// What reading kept and dropped.
    pub step: StepRecord,
    /// Vertices or points in the file, before any were dropped.
    pub points_in: usize,
    /// Scanner metadata found in the file, name → value.
    pub metadata: Vec<(String, String)>,
    /// Sentences for the user about anything dropped or doubtful.
    pub notes: Vec<String>,
}

/// The scan formats this build reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanFormat {
    /// Stanford PLY (meshes and point clouds).
    Ply,
    /// Wavefront OBJ.
    Obj,
    /// glTF 2.0, binary or JSON: re-encoding a model, or a mesh another tool exported.
    Gltf,
    /// Point Cloud Library PCD.
    Pcd,
    /// Text points: XYZ, PTS, TXT, CSV.
    Xyz,
    /// STL, ascii or binary.
    Stl,
    /// ASPRS LAS and LAZ (COPC too).
    Las,
    /// ASTM E57.
    E57,
}

impl ScanFormat {
    /// The unit assumed when the user gives none and the file declares none, as documented in the README:
    /// LAS, E57 and PCD are metres by their specifications (a LAS coordinate system in feet overrides);
    /// PLY and OBJ carry no unit;
    /// scanners and the Stanford repository write metres, so metres it is, and a note asks to check when
    /// the size looks implausible. glTF is metres by definition.
    #[must_use]
    pub fn default_unit(self) -> Unit {
        match self {
            // STL comes from CAD, which works in millimetres.
            ScanFormat::Stl => Unit::Millimetre,
            _ => Unit::Metre,
        }
    }

    /// Detect from the extension, then from the first bytes.
    #[must_use]
    pub fn detect(path: &Path, bytes: &[u8]) -> Option<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if let Some(format) = extension.as_deref().and_then(formats::by_extension) {
            return Some(format);
        }
        if bytes.starts_with(b"ply\n") || bytes.starts_with(b"ply\r\n") {
            return Some(Self::Ply);
        }
        if codec::glb::is_glb(bytes) {
            return Some(Self::Gltf);
        }
        if bytes.starts_with(b"LASF") {
            return Some(Self::Las);
        }
        if bytes.starts_with(b"ASTM-E57") {
            return Some(Self::E57);
        }
        None
    }
}

/// Parse a scan file's bytes in its own unit; `path` names the file in errors (and locates glTF buffers).
/// This is the entry point the fuzz targets drive with arbitrary bytes.
pub fn parse_scan(format: ScanFormat, bytes: &[u8], path: &Path) -> Result<RawMesh, IngestError> {
    parse_scan_with(format, bytes, path, &ReadOptions::default())
}

fn parse_scan_with(
    format: ScanFormat,
    bytes: &[u8],
    path: &Path,
    options: &ReadOptions,
) -> Result<RawMesh, IngestError> {
    match format {
        ScanFormat::Ply => ply::parse_ply(bytes),
        ScanFormat::Obj => obj::parse_obj(bytes),
        ScanFormat::Pcd => pcd::parse_pcd(bytes),
        ScanFormat::Xyz => xyz::parse_xyz(bytes, options.columns.as_deref()),
        ScanFormat::Stl => stl::parse_stl(bytes),
        ScanFormat::Las => las::parse_las(bytes),
        ScanFormat::E57 => e57::parse_e57(bytes),
        ScanFormat::Gltf => return raw::from_gltf(bytes, path),
    }
    .map_err(|e| e.in_file(path))
}

/// How much of a file is read before choosing how to read the rest: any header exhibit accepts fits.
const HEAD_BYTES: u64 = text::MAX_HEADER_BYTES as u64 + 4096;

/// Bytes per read while records stream past: small next to any large scan (the memory target is the
/// decoded arrays plus little), large enough that each read and each parallel decode is worth starting.
const CHUNK_BYTES: usize = 2 << 20;

/// Chunk buffers circulating between the reading thread and the decoding one.
const CHUNK_BUFFERS: usize = 4;

/// Read a scan file into metres, hashing the bytes that were parsed. A file with faces is a mesh; one
/// without is a point cloud.
pub fn read_scan(path: &Path, options: &ReadOptions) -> Result<ScanInput, IngestError> {
    let io = |source| IngestError::Io {
        source,
        path: path.to_path_buf(),
    };
    let file = fs_err::File::open(path).map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    read_scan_from(file, length, path, options)
}

/// [`read_scan`] from any source of `length` bytes (a file, or bytes in memory for the fuzz targets);
/// `path` names it in errors and decides the format by its extension.
///
/// Binary PLY and PCD point files stream: read in chunks, each hashed and decoded in the same pass
/// straight into the stored arrays (see `records.rs`). LAS and LAZ stream too, batch by batch through
/// the `las` crate, hashed as they are read (see `hashing.rs`). Other files are read whole, then hashed
/// and parsed at once.
pub fn read_scan_from(
    mut source: impl std::io::Read + std::io::Seek + Send + Sync + 'static,
    length: u64,
    path: &Path,
    options: &ReadOptions,
) -> Result<ScanInput, IngestError> {
    use std::io::Read as _;
    let io = |source| IngestError::Io {
        source,
        path: path.to_path_buf(),
    };
    let mut head = Vec::with_capacity(length.min(HEAD_BYTES) as usize);
    (&mut source)
        .take(HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(io)?;
    let Some(format) = ScanFormat::detect(path, &head) else {
        return Err(IngestError::Unsupported {
            reason: "unknown file type: exhibit reads .ply .pcd .xyz .pts .txt .csv .las .laz .e57 .obj .stl .glb .gltf".into(),
            path: path.to_path_buf(),
        });
    };
    let plan = match format {
        ScanFormat::Ply => ply::record_plan(&head),
        ScanFormat::Pcd => pcd::record_plan(&head),
        _ => Ok(None),
    }
    .map_err(|e| e.in_file(path))?;
    if format == ScanFormat::Las {
        let hashing = hashing::HashingReader::new(source).map_err(io)?;
        let streamed = las::stream_las(&head, length, hashing.clone(), options.unit)
            .map_err(|e| e.in_file(path))?;
        let (sha256, bytes) = hashing.finish().map_err(io)?;
        let unit = options
            .unit
            .or(streamed.facts.declared_unit)
            .unwrap_or_else(|| format.default_unit());
        let facts = ReadFacts {
            format: streamed.facts.format,
            unit,
            points_in: streamed.points_in,
            triangles_in: 0,
            polygons_triangulated: 0,
            dropped: streamed.facts.dropped,
            metadata: streamed.facts.metadata,
            sha256,
            bytes,
            textures: texture::Resolved::default(),
            embedded_images: Vec::new(),
        };
        return Ok(facts.into_scan(streamed.cloud.map(Geometry::Points), path, options));
    }
    if let Some(plan) = plan {
        let unit = options.unit.unwrap_or_else(|| format.default_unit());
        let streamed = stream_records(&plan, &head, source, length, unit).map_err(|e| match e {
            StreamError::Parse(e) => e.in_file(path),
            StreamError::Io(e) => io(e),
        })?;
        let facts = ReadFacts {
            format: plan.format,
            unit,
            points_in: plan.count,
            triangles_in: 0,
            polygons_triangulated: 0,
            dropped: plan.dropped,
            metadata: plan.metadata,
            sha256: streamed.sha256,
            bytes: streamed.bytes,
            textures: texture::Resolved::default(),
            embedded_images: Vec::new(),
        };
        return Ok(facts.into_scan(streamed.cloud.map(Geometry::Points), path, options));
    }
    let mut bytes = head;
    bytes.reserve(length.saturating_sub(bytes.len() as u64) as usize);
    source.read_to_end(&mut bytes).map_err(io)?;
    // Hash and parse the same bytes at once: the hash is of exactly what was parsed.
    let (sha256, raw) = rayon::join(
        || codec::manifest::sha256_hex(&bytes),
        || parse_scan_with(format, &bytes, path, options),
    );
    let mut raw = raw?;
    let textures = texture::resolve(&mut raw, path);
    // The user's word first, then what the file declares (a LAS coordinate system in feet), then the format's default.
    let unit = options
        .unit
        .or(raw.declared_unit)
        .unwrap_or_else(|| format.default_unit());
    // The conversion below uses the geometry only: the record is moved out, not copied.
    let dropped = std::mem::take(&mut raw.dropped);
    let facts = ReadFacts {
        format: std::mem::take(&mut raw.format),
        unit,
        points_in: raw.positions.len(),
        triangles_in: raw.indices.len() / 3,
        polygons_triangulated: raw.polygons_triangulated,
        dropped,
        metadata: std::mem::take(&mut raw.metadata),
        sha256,
        bytes: bytes.len() as u64,
        textures,
        embedded_images: std::mem::take(&mut raw.embedded_images),
    };
    drop(bytes);
    let converted = if raw.indices.is_empty() {
        raw::to_cloud(raw, unit).map(Geometry::Points)
    } else {
        raw::to_mesh(raw, unit).map(Geometry::Mesh)
    };
    Ok(facts.into_scan(converted, path, options))
}

/// A streamed point file once read.
struct Streamed {
    cloud: raw::Converted<PointCloud>,
    sha256: String,
    bytes: u64,
}

enum StreamError {
    Parse(error::ParseError),
    Io(std::io::Error),
}

/// Read the records of `plan` from `head` (the file's first bytes) and then `source`, hashing every byte
/// of the file and decoding records in the same pass; bytes after the last record are hashed too.
fn stream_records(
    plan: &records::RecordPlan,
    head: &[u8],
    mut source: impl std::io::Read + Send,
    length: u64,
    unit: Unit,
) -> Result<Streamed, StreamError> {
    use sha2::Digest as _;
    let stride = plan.layout.stride;
    let body = plan.body_start as u64;
    let needed = (plan.count as u64)
        .checked_mul(stride as u64)
        .and_then(|n| n.checked_add(body));
    if needed.is_none_or(|needed| needed > length) {
        // Checked before any allocation: a header cannot make exhibit reserve memory the file cannot fill.
        return Err(StreamError::Parse(error::ParseError::byte(
            body,
            format!(
                "{} {} records of {stride} bytes do not fit in the {} bytes after the header",
                plan.count,
                plan.element,
                length.saturating_sub(body)
            ),
        )));
    }
    let mut sink = records::RecordSink::new(plan.layout.clone(), plan.count, unit.metres());
    let mut carry = Vec::with_capacity(stride);
    let mut feed = |bytes: &[u8]| feed_records(&mut sink, &mut carry, stride, plan.count, bytes);
    feed(&head[plan.body_start..]);
    // Two threads in a pipeline: this one decodes (in parallel, with rayon) while the reader reads and
    // hashes the next chunks, which are sequential work. Buffers circulate between them, so memory stays
    // at a few chunks whatever the file's size.
    let (sha256, total) = std::thread::scope(|scope| {
        let (full, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNK_BUFFERS);
        let (give_back, free) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNK_BUFFERS);
        let reader = scope.spawn(move || -> std::io::Result<(String, u64)> {
            let mut hasher = sha2::Sha256::new();
            hasher.update(head);
            let mut total = head.len() as u64;
            let mut made = 0;
            loop {
                let mut buffer = if made < CHUNK_BUFFERS {
                    made += 1;
                    Vec::with_capacity(CHUNK_BYTES)
                } else {
                    match free.recv() {
                        Ok(buffer) => buffer,
                        // The decoder stopped early: nothing more is wanted.
                        Err(_) => return Ok((String::new(), total)),
                    }
                };
                buffer.clear();
                if fill(&mut source, &mut buffer, CHUNK_BYTES)? == 0 {
                    return Ok((codec::manifest::hex(&hasher.finalize()), total));
                }
                hasher.update(&buffer);
                total += buffer.len() as u64;
                if full.send(buffer).is_err() {
                    return Ok((String::new(), total));
                }
            }
        });
        for chunk in chunks {
            feed(&chunk);
            // The reader may have finished already; a buffer it no longer wants is simply dropped.
            let _ = give_back.send(chunk);
        }
        drop(give_back);
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
    .map_err(StreamError::Io)?;
    if sink.len() < plan.count {
        return Err(StreamError::Parse(error::ParseError::byte(
            total,
            format!(
                "file ends inside the data: {} of {} {} records",
                sink.len(),
                plan.count,
                plan.element
            ),
        )));
    }
    Ok(Streamed {
        cloud: sink.finish(),
        sha256,
        bytes: total,
    })
}

/// Decode the whole records in `bytes`, completing the partial record left in `carry` by the previous
/// call first and keeping the new partial one; bytes after the last of `count` records are ignored.
fn feed_records(
    sink: &mut records::RecordSink,
    carry: &mut Vec<u8>,
    stride: usize,
    count: usize,
    bytes: &[u8],
) {
    let mut bytes = bytes;
    if sink.len() < count && !carry.is_empty() {
        let take = (stride - carry.len()).min(bytes.len());
        carry.extend_from_slice(&bytes[..take]);
        bytes = &bytes[take..];
        if carry.len() == stride {
            sink.push(carry);
            carry.clear();
        }
    }
    let whole = (bytes.len() / stride).min(count - sink.len());
    sink.push(&bytes[..whole * stride]);
    if sink.len() < count {
        carry.extend_from_slice(&bytes[whole * stride..]);
    }
}

/// Read until `buffer` holds `target` bytes or the source ends; returns how many bytes were added.
fn fill(
    source: &mut impl std::io::Read,
    buffer: &mut Vec<u8>,
    target: usize,
) -> std::io::Result<usize> {
    use std::io::Read as _;
    let before = buffer.len();
    let want = target.saturating_sub(before) as u64;
    source.take(want).read_to_end(buffer)?;
    Ok(buffer.len() - before)
}

/// The name an input is recorded by: its file name without folders (re-deriving elsewhere gives the same manifest).
pub(crate) fn input_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// What reading learned about a file besides its geometry.
struct ReadFacts {
    format: String,
    unit: Unit,
    points_in: usize,
    triangles_in: usize,
    polygons_triangulated: u64,
    dropped: Vec<String>,
    metadata: Vec<(String, String)>,
    sha256: String,
    bytes: u64,
    /// The material files and images the scan named, and what could not be used.
    textures: texture::Resolved,
    /// Images the file carries besides its geometry (E57 `images2D`).
    embedded_images: Vec<raw::EmbeddedImage>,
}

impl ReadFacts {
    /// The scan as read: notes for the user and the read step for the manifest.
    fn into_scan(
        self,
        converted: raw::Converted<Geometry>,
        path: &Path,
        options: &ReadOptions,
    ) -> ScanInput {
        let ReadFacts {
            format: format_name,
            unit,
            points_in,
            triangles_in,
            polygons_triangulated: polygons,
            dropped,
            metadata,
            sha256,
            bytes,
            textures,
            embedded_images,
        } = self;
        let mut notes: Vec<String> = dropped.iter().map(|d| format!("not kept: {d}")).collect();
        notes.extend(textures.notes.iter().cloned());
        let raw::Converted {
            geometry,
            max_rounding_m,
            invalid_normals,
            normals_recomputed,
            non_finite_dropped: non_finite,
            triangles_dropped,
        } = converted;
        if invalid_normals > 0 {
            notes.push(format!("{invalid_normals} normals of zero length: all normals left out, a viewer recomputes them"));
        }
        if normals_recomputed > 0 {
            notes.push(format!("{normals_recomputed} normals of zero length recomputed from the faces around their vertex; the others kept as the file gives them"));
        }
        if non_finite > 0 {
            notes.push(format!("dropped {non_finite} points with NaN or infinite coordinates (and {triangles_dropped} triangles using them)"));
        }
        if options.unit.is_none()
            && let Some((min, max)) = geometry.bounds_m()
        {
            let size = (0..3).map(|a| max[a] - min[a]).fold(0.0, f64::max);
            if !(1e-3..=100.0).contains(&size) {
                notes.push(format!(
                    "the object is {size:.4} m across in the default unit ({unit}); check --unit"
                ));
            }
        }
        let input = InputRecord {
            name: input_name(path),
            sha256,
            bytes,
            format: format_name,
            unit: unit.to_string(),
            used_by: None,
        };
        let mut step = StepRecord {
            name: "read".into(),
            software: codec::manifest::SOFTWARE.into(),
            params: json!({ "unit": unit.to_string(), "unit_given": options.unit.is_some() }),
            result: json!({
                "vertices": points_in,
                "triangles": triangles_in,
                "polygons_triangulated": polygons,
                "dropped": dropped,
                "non_finite_dropped": non_finite,
                "triangles_dropped": triangles_dropped,
                "max_f32_rounding_mm": max_rounding_m * 1e3,
                "normals_left_out": invalid_normals,
                "metadata": metadata.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            }),
        };
        // Only where it happened: models made before this field existed keep their exact bytes.
        if normals_recomputed > 0 {
            step.result["normals_recomputed"] = json!(normals_recomputed);
        }
        if !embedded_images.is_empty() {
            step.result["images"] = json!(embedded_images);
        }
        if let Geometry::Mesh(mesh) = &geometry
            && let Some(texturing) = &mesh.texturing
        {
            step.result["textures"] = json!(texturing.images.len());
            step.result["texture_notes"] = json!(textures.notes);
            let untextured = texturing
                .triangle_image
                .iter()
                .filter(|&&i| i == codec::NO_IMAGE)
                .count();
            step.result["untextured_triangles"] = json!(untextured);
        }
        ScanInput {
            geometry,
            input,
            companions: textures.companions,
            step,
            points_in,
            metadata,
            notes,
        }
    }
}

/// Options for [`ingest_file`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IngestConfig {
    /// How to read the input.
    pub read: ReadOptions,
    /// A Stanford `.conf` pose file that moves every view into one frame.
    pub poses: Option<std::path::PathBuf>,
    /// How to encode the model.
    pub encode: EncodeConfig,
    /// Keep a point cloud as points instead of reconstructing a surface.
    pub points_only: bool,
    /// Refine posed point views with ICP (see `register.rs`).
    pub refine_registration: bool,
    /// How to reconstruct a surface from points (the simplification error defaults to the precision).
    pub surface: surface::SurfaceOptions,
    /// Levels of detail to store with a mesh.
    pub lod: lod::LodOptions,
}

/// The encoded model with what the user should hear about it.
#[derive(Clone, Debug)]
pub struct IngestOutput {
    /// The GLB and its manifest.
    pub model: EncodedModel,
    /// Vertices or points in the input.
    pub points_in: usize,
    /// Sentences about anything dropped or doubtful.
    pub notes: Vec<String>,
    /// Seconds per stage, in order. Never written into the model, which must not depend on the clock.
    pub stages: Vec<(&'static str, f64)>,
}

/// Read one scan file and encode it into a GLB with its manifest. A point cloud becomes a surface
/// (reconstructed, each vertex flagged measured or reconstructed) unless `points_only` asks to keep it
/// as points (glTF mode POINTS).
pub fn ingest_file(path: &Path, config: &IngestConfig) -> Result<IngestOutput, IngestError> {
    let started = Instant::now();
    surface::Progress::stage(config.surface.progress, "reading");
    let scan = read_scan(path, &config.read)?;
    let read_seconds = started.elapsed().as_secs_f64();
    let step_points_in = scan.points_in;
    let provenance = Provenance {
        inputs: std::iter::once(scan.input).chain(scan.companions).collect(),
        steps: vec![scan.step],
        recipe: Some(config.recipe().to_json()),
    };
    let mut notes = scan.notes;
    let mut stages = vec![("read", read_seconds)];
    let model =
        encode(&scan.geometry, config, provenance, &mut notes, &mut stages).map_err(|source| {
            IngestError::Codec {
                source,
                path: path.to_path_buf(),
            }
        })?;
    Ok(IngestOutput {
        model,
        points_in: step_points_in,
        notes,
        stages,
    })
}

/// Encode a mesh as it is; reconstruct a point cloud's surface first, or keep the points when asked.
fn encode(
    geometry: &Geometry,
    config: &IngestConfig,
    mut provenance: Provenance,
    notes: &mut Vec<String>,
    stages: &mut Vec<(&'static str, f64)>,
) -> Result<EncodedModel, codec::CodecError> {
    let model = match geometry {
        Geometry::Mesh(mesh) => encode_with_levels(mesh, config, provenance, stages),
        Geometry::Points(cloud) if config.points_only || cloud.positions.len() < 16 => {
            notes.push(
                "a point cloud: stored as points (glTF POINTS), no surface reconstructed".into(),
            );
            let started = Instant::now();
            let model = codec::encode_point_cloud_glb(cloud, &config.encode, provenance);
            stages.push(("encode", started.elapsed().as_secs_f64()));
            model
        }
        Geometry::Points(cloud) => {
            let mut options = config.surface.clone();
            if options.simplify_error_m == 0.0 {
                options.simplify_error_m = config.encode.precision_m;
            }
            let surface = surface::reconstruct_cloud(cloud, &options);
            stages.extend(surface.stages.iter().copied());
            for (name, params, result) in surface.steps {
                provenance.steps.push(StepRecord {
                    name: name.into(),
                    software: codec::manifest::SOFTWARE.into(),
                    params,
                    result,
                });
            }
            if let Some(step) = provenance
                .steps
                .iter_mut()
                .rev()
                .find(|s| s.name == "trim" || s.name == "simplify")
            {
                step.result["reconstructed_area_share"] = json!(surface.reconstructed_area_share);
            }
            if let Some(step) = provenance.steps.iter().find(|s| s.name == "simplify") {
                notes.push(format!(
                    "simplified to meshoptimizer's estimate of {:.3} mm; measured: at most {:.3} mm, 99 % within {:.3} mm",
                    step.params["max_error_mm"].as_f64().unwrap_or(0.0),
                    step.result["error_mm"].as_f64().unwrap_or(0.0),
                    step.result["error_p99_mm"].as_f64().unwrap_or(0.0),
                ));
            }
            notes.push(format!(
                "surface reconstructed from points: {:.1} % of its area is farther than {} point spacings from any point (flagged reconstructed, _MEASURED = 0)",
                surface.reconstructed_area_share * 100.0,
                options.measured_spacings
            ));
            encode_with_levels(&surface.mesh, config, provenance, stages)
        }
    }?;
    Ok(model)
}

/// Make the coarser levels of detail, then encode the mesh with them (the codec measures each level).
fn encode_with_levels(
    mesh: &codec::Mesh,
    config: &IngestConfig,
    mut provenance: Provenance,
    stages: &mut Vec<(&'static str, f64)>,
) -> Result<EncodedModel, codec::CodecError> {
    surface::Progress::stage(config.surface.progress, "levels of detail");
    let started = Instant::now();
    let mut coarser = lod::coarser_levels(mesh, &config.lod);
    if mesh.texturing.is_some() && !coarser.is_empty() {
        surface::Progress::stage(config.surface.progress, "level textures");
        let distortion = texture::levels::shrink_level_textures(mesh, &mut coarser)
            .map_err(|reason| codec::CodecError::InvalidMesh { reason })?;
        provenance.steps.push(StepRecord {
            name: "texture_levels".into(),
            software: codec::manifest::SOFTWARE.into(),
            params: json!({
                "level_0": "the source images' bytes, unchanged",
                "coarser": "half the side per level (at least 256 texels), resampled in linear light, JPEG at the lowest quality of 70..95 whose luma SSIM against the resampled source is at least 0.97",
                "measured": "each image decoded, magnified back to its source's size and compared texel by texel: PSNR and largest error per channel, SSIM (manifest `textures`)",
            }),
            result: json!({
                "images": coarser.iter().filter_map(|l| l.texturing.as_ref()).map(|t| t.images.len()).sum::<usize>(),
                "distortion": distortion,
                "distortion_measure": "at every textured vertex of the model: its texture colour against the level's at the closest point of the level (CIEDE2000: median, 95th percentile, largest), and the displacement of the texture coordinates there (median, 95th percentile; texels of the model's image)",
            }),
        });
    }
    if config.lod.levels > 1 {
        provenance.steps.push(StepRecord {
            name: "simplify_levels".into(),
            software: codec::manifest::SOFTWARE.into(),
            params: json!({
                "method": "meshoptimizer edge collapse, each level from the one before, about a quarter of its triangles",
                "levels_requested": config.lod.levels,
                "min_triangles": config.lod.min_triangles,
            }),
            result: json!({
                "triangles": std::iter::once(mesh.triangle_count())
                    .chain(coarser.iter().map(codec::Mesh::triangle_count))
                    .collect::<Vec<_>>(),
            }),
        });
    }
    stages.push(("levels_of_detail", started.elapsed().as_secs_f64()));
    surface::Progress::stage(config.surface.progress, "encoding");
    let started = Instant::now();
    let model = codec::encode_glb_levels(mesh, &coarser, &config.encode, provenance);
    stages.push(("encode", started.elapsed().as_secs_f64()));
    model
}

/// Refine posed point views by ICP (each onto the ones before it) and fold the corrections into their
/// poses; `None` when there is nothing to refine (one view, or meshes).
fn refine_views(
    views: &mut [(Geometry, Option<views::Pose>)],
    paths: &[std::path::PathBuf],
) -> Result<Option<Vec<register::ViewFit>>, IngestError> {
    if views.len() < 2 || !views.iter().all(|(g, _)| matches!(g, Geometry::Points(_))) {
        return Ok(None);
    }
    let world: Vec<Vec<[f64; 3]>> = views
        .iter()
        .map(|(geometry, pose)| views::world_positions(geometry, pose.as_ref()))
        .collect();
    let fits =
        register::register_views(&world, &register::IcpOptions::default()).map_err(|failed| {
            IngestError::Unsupported {
                reason: format!("registration failed for this view: {}", failed.reason),
                path: paths[failed.view].clone(),
            }
        })?;
    for ((_, pose), fit) in views.iter_mut().zip(&fits) {
        *pose = pose.map(|p| register::compose(&p, &fit.correction));
    }
    Ok(Some(fits))
}

/// A pose file's existing views with their poses (a missing one is a note) and its input record.
fn read_pose_file(
    conf: &Path,
    bytes: &[u8],
    notes: &mut Vec<String>,
) -> Result<(Vec<(std::path::PathBuf, views::Pose)>, InputRecord), IngestError> {
    let folder = conf.parent().unwrap_or_else(|| Path::new("."));
    let file = views::parse_conf(bytes, folder).map_err(|e| e.in_file(conf))?;
    for (view, _) in &file.views {
        if !view.exists() {
            notes.push(format!(
                "{} lists {}, which is missing: skipped",
                conf.display(),
                view.display()
            ));
        }
    }
    let record = InputRecord {
        name: input_name(conf),
        sha256: codec::manifest::sha256_hex(bytes),
        bytes: bytes.len() as u64,
        format: "stanford-conf".into(),
        unit: "m".into(),
        used_by: None,
    };
    Ok((
        file.views
            .into_iter()
            .filter(|(view, _)| view.exists())
            .collect(),
        record,
    ))
}

/// Read several views (scan files, and `.conf` pose files whose views are read when no scan is named),
/// move each into one frame by its pose, merge them and encode. A view a pose file lists but that is
/// missing is a note, not a failure; a scan without a pose when poses are given is an error.
pub fn ingest_files(
    paths: &[std::path::PathBuf],
    config: &IngestConfig,
) -> Result<IngestOutput, IngestError> {
    let is_conf = |p: &std::path::PathBuf| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("conf"))
    };
    let mut conf_paths: Vec<std::path::PathBuf> =
        paths.iter().filter(|p| is_conf(p)).cloned().collect();
    conf_paths.extend(config.poses.iter().cloned());
    let scans: Vec<std::path::PathBuf> = paths.iter().filter(|p| !is_conf(p)).cloned().collect();
    if conf_paths.is_empty() && scans.len() == 1 {
        return ingest_file(&scans[0], config);
    }
    surface::Progress::stage(config.surface.progress, "reading and placing the views");
    let started = Instant::now();
    let mut notes = Vec::new();
    let mut inputs = Vec::new();
    let mut poses: Vec<(std::path::PathBuf, views::Pose)> = Vec::new();
    for conf in &conf_paths {
        let bytes = fs_err::read(conf).map_err(|source| IngestError::Io {
            source,
            path: conf.clone(),
        })?;
        let (listed, record) = read_pose_file(conf, &bytes, &mut notes)?;
        poses.extend(listed);
        inputs.push(record);
    }
    let views_to_read: Vec<std::path::PathBuf> = if scans.is_empty() {
        poses.iter().map(|(p, _)| p.clone()).collect()
    } else {
        scans
    };
    if views_to_read.is_empty() {
        return Err(IngestError::Unsupported {
            reason: "no scan to read: the pose file lists no existing view".into(),
            path: conf_paths[0].clone(),
        });
    }
    let mut steps = Vec::new();
    let mut views = Vec::new();
    let mut applied = Vec::new();
    let mut points_in = 0;
    for path in &views_to_read {
        let scan = read_scan(path, &config.read)?;
        let pose = if poses.is_empty() {
            None
        } else {
            let name = path.file_name();
            let found = poses
                .iter()
                .find(|(p, _)| p.file_name() == name)
                .map(|(_, pose)| *pose);
            let Some(pose) = found else {
                return Err(IngestError::Unsupported {
                    reason: "the pose file gives no pose for this scan".into(),
                    path: path.clone(),
                });
            };
            applied.push(json!({ "view": scan.input.name, "rotation": pose.rotation, "translation_m": pose.translation }));
            Some(pose)
        };
        points_in += scan.points_in;
        notes.extend(
            scan.notes
                .iter()
                .map(|n| format!("{}: {n}", scan.input.name)),
        );
        inputs.extend(
            std::iter::once(&scan.input)
                .chain(&scan.companions)
                .cloned(),
        );
        let mut step = scan.step;
        step.params["file"] = json!(scan.input.name);
        steps.push(step);
        views.push((scan.geometry, pose));
    }
    // Point views with poses: refine each onto the ones before it (ICP), then merge.
    let refined = if config.refine_registration && !poses.is_empty() {
        refine_views(&mut views, &views_to_read)?
    } else {
        None
    };
    let (geometry, max_rounding_m, merge_notes) =
        views::merge(&views).map_err(|reason| IngestError::Unsupported {
            reason,
            path: views_to_read[0].clone(),
        })?;
    notes.extend(merge_notes);
    let icp: Vec<serde_json::Value> = refined
        .iter()
        .flatten()
        .zip(&views_to_read)
        .map(|(fit, path)| {
            json!({
                "view": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "rms_before_mm": fit.rms_before_m * 1e3,
                "rms_after_mm": fit.rms_after_m * 1e3,
                "iterations": fit.iterations,
                "overlap": fit.overlap,
                "correction_rotation": fit.correction.rotation,
                "correction_translation_m": fit.correction.translation,
            })
        })
        .collect();
    steps.push(StepRecord {
        name: "register".into(),
        software: codec::manifest::SOFTWARE.into(),
        params: json!({
            "method": if applied.is_empty() { "none: views concatenated as given" } else { "poses from the pose file, world = R(q)^T p + t" },
            "refinement": if refined.is_some() { "point-to-plane ICP of each view onto the views before it" } else { "none" },
            "views": applied,
            "icp": icp,
        }),
        result: json!({ "views": views_to_read.len(), "max_f32_rounding_mm": max_rounding_m * 1e3 }),
    });
    let read_seconds = started.elapsed().as_secs_f64();
    let provenance = Provenance {
        inputs,
        steps,
        recipe: Some(config.recipe().to_json()),
    };
    let mut stages = vec![("read_and_register", read_seconds)];
    let model =
        encode(&geometry, config, provenance, &mut notes, &mut stages).map_err(|source| {
            IngestError::Codec {
                source,
                path: views_to_read[0].clone(),
            }
        })?;
    Ok(IngestOutput {
        model,
        points_in,
        notes,
        stages,
    })
}
