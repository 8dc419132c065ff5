//! What a reader hands over before units and the origin are applied: positions in the file's own
//! unit as f64, with everything the file had that exhibit will not keep named in `dropped`.

use codec::{Mesh, PointCloud};

use crate::Unit;

/// A mesh as read, in the file's unit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawMesh {
    /// Detected format and variant, such as `ply-binary-le`.
    pub format: String,
    /// Vertex positions in the file's unit.
    pub positions: Vec<[f64; 3]>,
    /// Three indices per triangle (polygons already triangulated as fans).
    pub indices: Vec<u32>,
    /// Per-vertex normals, when the file has them.
    pub normals: Option<Vec<[f32; 3]>>,
    /// Per-vertex sRGB colours, when the file has them.
    pub colors_srgb: Option<Vec<[u8; 4]>>,
    /// What the file holds that the mesh does not keep, one phrase each.
    pub dropped: Vec<String>,
    /// Polygons with more than three corners, split into triangles.
    pub polygons_triangulated: u64,
    /// Measured (`true`) or reconstructed, when the file says (exhibit's own GLB).
    pub measured: Option<Vec<bool>>,
    /// Return intensity or quality per vertex, in the scanner's scale.
    pub intensity: Option<Vec<f32>>,
    /// Scanner metadata found in the file (device, pose, coordinate system...), name → value.
    pub metadata: Vec<(String, String)>,
    /// The unit the file itself declares (a LAS coordinate system in feet, say), used unless `--unit` is given.
    pub declared_unit: Option<Unit>,
    /// Texture coordinates and the materials or files they refer to, as the file names them (OBJ, PLY);
    /// `crate::texture::resolve` reads the files and turns them into `texturing`.
    pub texture_refs: Option<TextureRefs>,
    /// Texturing with its images read (a glTF input, or after `crate::texture::resolve`).
    pub texturing: Option<codec::Texturing>,
    /// Images the scan file carries besides its geometry (E57 `images2D`), listed and hashed.
    pub embedded_images: Vec<EmbeddedImage>,
}

/// An image a scan file carries (an E57 `images2D` entry): what it is, where it was taken, its hash.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EmbeddedImage {
    /// Its name in the file, or `image N`.
    pub name: String,
    /// `pinhole`, `spherical`, `cylindrical` or `visual reference` (a picture without a projection model).
    pub kind: String,
    /// `image/jpeg` or `image/png`, from its bytes.
    pub mime_type: String,
    /// Width and height in pixels, from its header.
    pub size: [u32; 2],
    /// Bytes of the encoded image.
    pub bytes: u64,
    /// SHA-256 of the encoded image, hex.
    pub sha256: String,
    /// Where it was taken: translation (m) and rotation quaternion (w, x, y, z) into the file's frame, when given.
    pub pose: Option<[f64; 7]>,
    /// The scan it belongs to (the point cloud's GUID), when given.
    pub scan: Option<String>,
}

impl RawMesh {
    /// Append a copy of each vertex in `sources`, every per-vertex attribute with it (a vertex split where its
    /// texture coordinates differ: a seam, a UDIM tile).
    pub(crate) fn duplicate_vertices(&mut self, sources: &[usize]) {
        fn append<T: Copy>(values: &mut Vec<T>, sources: &[usize]) {
            let added: Vec<T> = sources.iter().map(|&s| values[s]).collect();
            values.extend(added);
        }
        append(&mut self.positions, sources);
        if let Some(v) = &mut self.normals {
            append(v, sources);
        }
        if let Some(v) = &mut self.colors_srgb {
            append(v, sources);
        }
        if let Some(v) = &mut self.measured {
            append(v, sources);
        }
        if let Some(v) = &mut self.intensity {
            append(v, sources);
        }
    }
}

/// What a mesh file says about its textures before any image is read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextureRefs {
    /// Texture coordinates per vertex as the file has them: origin at the image's bottom-left (OBJ, PLY).
    pub uvs: Vec<[f32; 2]>,
    /// Per triangle, its material (an index into `materials`), or [`codec::NO_IMAGE`].
    pub triangle_material: Vec<u32>,
    /// Material names (OBJ `usemtl`), in order of first use.
    pub materials: Vec<String>,
    /// Material files (OBJ `mtllib`), relative to the mesh file.
    pub libraries: Vec<String>,
    /// Image files named directly (PLY `comment TextureFile`), relative to the mesh file; with no libraries,
    /// material k is `texture_files[k]`.
    pub texture_files: Vec<String>,
}

/// A glTF document's triangles as a raw mesh in metres: the scene flattened, node transforms applied.
pub fn from_gltf(bytes: &[u8], path: &std::path::Path) -> Result<RawMesh, crate::IngestError> {
    let folder = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    let model =
        codec::read_model_bytes(bytes, Some(folder)).map_err(|e| crate::IngestError::Codec {
            source: e.with_path(path),
            path: path.to_path_buf(),
        })?;
    let origin = model.mesh.origin_m;
    let mut dropped = model.notes;
    if !model.points.positions.is_empty() {
        dropped.push(format!(
            "{} points of point primitives",
            model.points.positions.len()
        ));
    }
    Ok(RawMesh {
        format: model.format.to_owned(),
        positions: model
            .mesh
            .positions
            .iter()
            .map(|p| [0, 1, 2].map(|a| origin[a] + f64::from(p[a])))
            .collect(),
        indices: model.mesh.indices,
        normals: model.mesh.normals,
        colors_srgb: model.mesh.colors_srgb,
        dropped,
        polygons_triangulated: 0,
        measured: model.mesh.measured,
        intensity: model.mesh.intensity,
        metadata: Vec::new(),
        declared_unit: None,
        texture_refs: None,
        texturing: model.mesh.texturing,
        embedded_images: Vec::new(),
    })
}

/// The geometry in metres around an origin, and what the conversion changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted<G> {
    /// The mesh or point cloud, in metres.
    pub geometry: G,
    /// Largest distance between a vertex as read (in metres, f64) and as stored (f32 offset from the origin).
    pub max_rounding_m: f64,
    /// Normals that were not unit vectors and could not be normalized nor recomputed; when nonzero, normals are
    /// left out.
    pub invalid_normals: u64,
    /// Normals of no direction recomputed from the faces around their vertex (meshes only).
    pub normals_recomputed: u64,
    /// Vertices or points with a NaN or infinite coordinate, dropped (scanners write them for empty pixels).
    pub non_finite_dropped: u64,
    /// Triangles dropped because a corner was one of those vertices.
    pub triangles_dropped: u64,
}

impl<G> Converted<G> {
    /// The same facts about a converted geometry, with the geometry wrapped or changed.
    pub fn map<H>(self, wrap: impl FnOnce(G) -> H) -> Converted<H> {
        Converted {
            geometry: wrap(self.geometry),
            max_rounding_m: self.max_rounding_m,
            invalid_normals: self.invalid_normals,
            normals_recomputed: self.normals_recomputed,
            non_finite_dropped: self.non_finite_dropped,
            triangles_dropped: self.triangles_dropped,
        }
    }
}

/// The shared part of [`to_mesh`] and [`to_cloud`]: finite vertices only, in metres around an origin.
struct Placed {
    origin_m: [f64; 3],
    positions: Vec<[f32; 3]>,
    /// For each input vertex, its new number, or `u32::MAX` when dropped.
    new_index: Vec<u32>,
    max_rounding_m: f64,
    non_finite_dropped: u64,
}

/// The origin for points whose first finite position (in metres) is `first`: that position rounded to
/// whole metres, so small models keep origin zero and survey coordinates keep their digits. The first
/// point, not the bounds' centre, because a streaming reader must place points before it has seen the
/// last one; offsets then reach at most the model's extent instead of half of it, which costs f32 at
/// most one bit (the rounding is measured and recorded either way).
pub(crate) fn origin_of(first: [f64; 3]) -> [f64; 3] {
    // Adding 0.0 turns a -0.0 into 0.0, so the manifest never shows a negative zero.
    first.map(|c| c.round() + 0.0)
}

/// Scale to metres, drop non-finite vertices, choose an origin ([`origin_of`]), store f32 offsets.
fn place(positions: &[[f64; 3]], unit: Unit) -> Placed {
    let scale = unit.metres();
    let finite = |p: &[f64; 3]| p.iter().all(|c| (c * scale).is_finite());
    let origin_m = positions
        .iter()
        .find(|p| finite(p))
        .map_or([0.0; 3], |p| origin_of(p.map(|c| c * scale)));
    let mut max_rounding_m: f64 = 0.0;
    let mut kept = Vec::with_capacity(positions.len());
    let mut new_index = Vec::with_capacity(positions.len());
    for p in positions {
        let relative = [0, 1, 2].map(|axis| p[axis] * scale - origin_m[axis]);
        let stored = relative.map(|c| c as f32);
        // Not finite, or too far from the origin for f32 (beyond 3e38 m): dropped and counted.
        if !finite(p) || !stored.iter().all(|c| c.is_finite()) {
            new_index.push(u32::MAX);
            continue;
        }
        let d = [0, 1, 2].map(|axis| f64::from(stored[axis]) - relative[axis]);
        max_rounding_m = max_rounding_m.max((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt());
        new_index.push(kept.len() as u32);
        kept.push(stored);
    }
    let non_finite_dropped = (positions.len() - kept.len()) as u64;
    Placed {
        origin_m,
        positions: kept,
        new_index,
        max_rounding_m,
        non_finite_dropped,
    }
}

/// Keep the entries of a per-vertex array whose vertex survived.
fn keep<T: Copy>(values: Option<Vec<T>>, new_index: &[u32]) -> Option<Vec<T>> {
    values.map(|v| {
        v.into_iter()
            .zip(new_index)
            .filter(|(_, n)| **n != u32::MAX)
            .map(|(x, _)| x)
            .collect()
    })
}

/// Normalize normals; when any has no direction, leave them all out (the count says how many).
pub(crate) fn unit_normals(normals: Option<Vec<[f32; 3]>>) -> (Option<Vec<[f32; 3]>>, u64) {
    let Some(mut normals) = normals else {
        return (None, 0);
    };
    let invalid = normalize_in_place(&mut normals);
    (if invalid > 0 { None } else { Some(normals) }, invalid)
}

/// Scale every normal to unit length; the count of those with no direction (zero, NaN, infinite), which are
/// set to zero.
fn normalize_in_place(normals: &mut [[f32; 3]]) -> u64 {
    use rayon::prelude::*;
    normals
        .par_iter_mut()
        .with_min_len(1 << 14)
        .map(|n| {
            let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            if length > 0.0 && length.is_finite() {
                *n = n.map(|c| c / length);
                0
            } else {
                *n = [0.0; 3];
                1
            }
        })
        .sum()
}

/// A mesh's normals, normalized; those with no direction are recomputed from the faces around their vertex
/// (area-weighted), so a few bad normals do not cost the good ones (a Stanford dragon OBJ has 66 zero-length
/// normals among 22,998). Returns the normals, how many could not be recomputed (a vertex on no face of any
/// area: then every normal is left out, as for a cloud), and how many were recomputed.
fn mesh_normals(
    normals: Option<Vec<[f32; 3]>>,
    positions: &[[f32; 3]],
    indices: &[u32],
) -> (Option<Vec<[f32; 3]>>, u64, u64) {
    let Some(mut normals) = normals else {
        return (None, 0, 0);
    };
    let invalid = normalize_in_place(&mut normals);
    if invalid == 0 {
        return (Some(normals), 0, 0);
    }
    // Only the vertices whose normals have no direction take their faces' normal.
    let sums = crate::surface::area_weighted_normal_sums(positions, indices);
    let mut unrecoverable = 0;
    for (normal, sum) in normals.iter_mut().zip(&sums) {
        if *normal != [0.0; 3] {
            continue;
        }
        let length = (sum[0] * sum[0] + sum[1] * sum[1] + sum[2] * sum[2]).sqrt();
        if length > 0.0 && length.is_finite() {
            *normal = sum.map(|c| (c / length) as f32);
        } else {
            unrecoverable += 1;
        }
    }
    if unrecoverable > 0 {
        (None, invalid, 0)
    } else {
        (Some(normals), 0, invalid)
    }
}

/// The mesh in metres: non-finite vertices and the triangles that use them are dropped and counted.
#[must_use]
pub fn to_mesh(raw: RawMesh, unit: Unit) -> Converted<Mesh> {
    let placed = place(&raw.positions, unit);
    let mut indices = Vec::with_capacity(raw.indices.len());
    let mut triangles_dropped = 0;
    for t in raw.indices.chunks_exact(3) {
        let mapped = [0, 1, 2].map(|k| placed.new_index[t[k] as usize]);
        if mapped.contains(&u32::MAX) {
            triangles_dropped += 1;
        } else {
            indices.extend(mapped);
        }
    }
    let (normals, invalid_normals, normals_recomputed) = mesh_normals(
        keep(raw.normals, &placed.new_index),
        &placed.positions,
        &indices,
    );
    let mesh = Mesh {
        origin_m: placed.origin_m,
        positions: placed.positions,
        indices,
        normals,
        colors_srgb: keep(raw.colors_srgb, &placed.new_index),
        measured: keep(raw.measured, &placed.new_index),
        intensity: keep(raw.intensity, &placed.new_index),
        texturing: raw.texturing.map(|t| codec::Texturing {
            uvs: keep(Some(t.uvs), &placed.new_index).unwrap_or_default(),
            triangle_image: t
                .triangle_image
                .iter()
                .zip(raw.indices.chunks_exact(3))
                .filter(|(_, corners)| {
                    corners
                        .iter()
                        .all(|&c| placed.new_index[c as usize] != u32::MAX)
                })
                .map(|(&image, _)| image)
                .collect(),
            images: t.images,
        }),
    };
    Converted {
        geometry: mesh,
        max_rounding_m: placed.max_rounding_m,
        invalid_normals,
        normals_recomputed,
        non_finite_dropped: placed.non_finite_dropped,
        triangles_dropped,
    }
}

/// The points in metres: non-finite points are dropped and counted.
#[must_use]
pub fn to_cloud(raw: RawMesh, unit: Unit) -> Converted<PointCloud> {
    let placed = place(&raw.positions, unit);
    let (normals, invalid_normals) = unit_normals(keep(raw.normals, &placed.new_index));
    let cloud = PointCloud {
        origin_m: placed.origin_m,
        positions: placed.positions,
        normals,
        colors_srgb: keep(raw.colors_srgb, &placed.new_index),
        intensity: keep(raw.intensity, &placed.new_index),
    };
    Converted {
        geometry: cloud,
        max_rounding_m: placed.max_rounding_m,
        invalid_normals,
        normals_recomputed: 0,
        non_finite_dropped: placed.non_finite_dropped,
        triangles_dropped: 0,
    }
}
