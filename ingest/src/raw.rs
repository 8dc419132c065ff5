//! What a reader hands over before units and the origin are applied: positions in the file's own
//! unit as f64, with everything the file had that exhibit will not keep named in `dropped`.

use codec::Mesh;

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
    })
}

/// The mesh in metres around an origin, and what the conversion changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    /// The mesh, in metres.
    pub mesh: Mesh,
    /// Largest distance between a vertex as read (in metres, f64) and as stored (f32 offset from the origin).
    pub max_rounding_m: f64,
    /// Normals that were not unit vectors and could not be normalized; when nonzero, normals are left out.
    pub invalid_normals: u64,
}

/// Scale to metres, choose an origin (the bounds' centre rounded to whole metres, so small models keep
/// origin zero and survey coordinates keep their digits) and store offsets as f32.
#[must_use]
pub fn to_mesh(raw: RawMesh, unit: Unit) -> Converted {
    let scale = unit.metres();
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for p in &raw.positions {
        for axis in 0..3 {
            min[axis] = min[axis].min(p[axis] * scale);
            max[axis] = max[axis].max(p[axis] * scale);
        }
    }
    let origin_m = [0, 1, 2].map(|axis| {
        let centre = 0.5 * (min[axis] + max[axis]);
        // Adding 0.0 turns a -0.0 into 0.0, so the manifest never shows a negative zero.
        if centre.is_finite() {
            centre.round() + 0.0
        } else {
            0.0
        }
    });
    let mut max_rounding_m: f64 = 0.0;
    let positions = raw
        .positions
        .iter()
        .map(|p| {
            let relative = [0, 1, 2].map(|axis| p[axis] * scale - origin_m[axis]);
            let stored = relative.map(|c| c as f32);
            let d = [0, 1, 2].map(|axis| f64::from(stored[axis]) - relative[axis]);
            max_rounding_m = max_rounding_m.max((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt());
            stored
        })
        .collect();
    let mut invalid_normals = 0;
    let normals = raw.normals.map(|normals| {
        normals
            .into_iter()
            .map(|n| {
                let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                if length > 0.0 && length.is_finite() {
                    n.map(|c| c / length)
                } else {
                    invalid_normals += 1;
                    n
                }
            })
            .collect()
    });
    let mesh = Mesh {
        origin_m,
        positions,
        indices: raw.indices,
        normals: if invalid_normals > 0 { None } else { normals },
        colors_srgb: raw.colors_srgb,
        measured: raw.measured,
    };
    Converted {
        mesh,
        max_rounding_m,
        invalid_normals,
    }
}
