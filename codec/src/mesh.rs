//! The geometry types every part of exhibit exchanges: an indexed triangle mesh and a point cloud.
//!
//! Positions are `f32` offsets from an `f64` origin, in metres.
//! Survey coordinates (10^5–10^6 m) keep their full precision in the origin,
//! while the offsets stay small enough for `f32` to resolve micrometres.

use crate::CodecError;
use crate::texture::{NO_IMAGE, Texturing};

/// An indexed triangle mesh in metres.
///
/// Invariants, checked by [`Mesh::validate`]:
/// every index is below the vertex count, every optional attribute has one entry per vertex,
/// positions are finite and normals are finite with unit length (within 1e-3).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mesh {
    /// World position of the point that offsets are measured from, in metres.
    pub origin_m: [f64; 3],
    /// Vertex positions relative to `origin_m`, in metres.
    pub positions: Vec<[f32; 3]>,
    /// Three vertex indices per triangle, counter-clockwise seen from outside.
    pub indices: Vec<u32>,
    /// Unit normals, one per vertex.
    pub normals: Option<Vec<[f32; 3]>>,
    /// sRGB colour with straight alpha, one per vertex, as scanners record it.
    pub colors_srgb: Option<Vec<[u8; 4]>>,
    /// Whether each vertex lies on measured surface (`true`) or was filled in by reconstruction (`false`).
    pub measured: Option<Vec<bool>>,
    /// Return intensity or quality carried over from the scan's points, one per vertex, in the scanner's
    /// own scale (stored exactly, as `_INTENSITY`).
    pub intensity: Option<Vec<f32>>,
    /// Texture coordinates and the images they point into (a textured scan), when the mesh has them.
    pub texturing: Option<Texturing>,
}

/// A point cloud in metres, with optional per-point attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointCloud {
    /// World position of the point that offsets are measured from, in metres.
    pub origin_m: [f64; 3],
    /// Point positions relative to `origin_m`, in metres.
    pub positions: Vec<[f32; 3]>,
    /// Unit normals, one per point.
    pub normals: Option<Vec<[f32; 3]>>,
    /// sRGB colour with straight alpha, one per point.
    pub colors_srgb: Option<Vec<[u8; 4]>>,
    /// Return intensity or quality, one per point, in the scanner's own scale.
    pub intensity: Option<Vec<f32>>,
}

impl Mesh {
    /// Number of triangles.
    #[must_use]
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    /// Axis-aligned bounds of the positions in world metres, or `None` for an empty mesh.
    #[must_use]
    pub fn bounds_m(&self) -> Option<([f64; 3], [f64; 3])> {
        bounds_world(self.origin_m, &self.positions)
    }

    /// Check the invariants listed on the type; the error names the first offending element.
    pub fn validate(&self) -> Result<(), CodecError> {
        let invalid = |reason: String| Err(CodecError::InvalidMesh { reason });
        if !self.indices.len().is_multiple_of(3) {
            return invalid(format!(
                "{} indices is not a multiple of 3",
                self.indices.len()
            ));
        }
        let vertex_count = self.positions.len();
        if u32::try_from(vertex_count).is_err() {
            return invalid(format!("{vertex_count} vertices do not fit 32-bit indices"));
        }
        if let Some(at) = self
            .indices
            .iter()
            .position(|&i| i as usize >= vertex_count)
        {
            return invalid(format!(
                "index {} at position {at} is not below the vertex count {vertex_count}",
                self.indices[at]
            ));
        }
        if let Some(at) = self
            .positions
            .iter()
            .position(|p| !p.iter().all(|c| c.is_finite()))
        {
            return invalid(format!(
                "vertex {at} has a non-finite position {:?}",
                self.positions[at]
            ));
        }
        if !self.origin_m.iter().all(|c| c.is_finite()) {
            return invalid(format!("origin {:?} is not finite", self.origin_m));
        }
        check_len("normals", self.normals.as_ref().map(Vec::len), vertex_count)?;
        check_len(
            "colours",
            self.colors_srgb.as_ref().map(Vec::len),
            vertex_count,
        )?;
        check_len(
            "measured flags",
            self.measured.as_ref().map(Vec::len),
            vertex_count,
        )?;
        check_len(
            "intensities",
            self.intensity.as_ref().map(Vec::len),
            vertex_count,
        )?;
        if let Some(texturing) = &self.texturing {
            check_texturing(texturing, vertex_count, self.triangle_count())?;
        }
        if let Some(normals) = &self.normals
            && let Some(at) = normals.iter().position(|n| !is_unit(*n))
        {
            return invalid(format!(
                "normal of vertex {at} is not a finite unit vector: {:?}",
                normals[at]
            ));
        }
        Ok(())
    }
}

impl PointCloud {
    /// Axis-aligned bounds of the positions in world metres, or `None` for an empty cloud.
    #[must_use]
    pub fn bounds_m(&self) -> Option<([f64; 3], [f64; 3])> {
        bounds_world(self.origin_m, &self.positions)
    }
}

fn check_texturing(
    texturing: &Texturing,
    vertex_count: usize,
    triangle_count: usize,
) -> Result<(), CodecError> {
    let invalid = |reason: String| Err(CodecError::InvalidMesh { reason });
    check_len(
        "texture coordinates",
        Some(texturing.uvs.len()),
        vertex_count,
    )?;
    if texturing.triangle_image.len() != triangle_count {
        return invalid(format!(
            "{} triangle images for {triangle_count} triangles",
            texturing.triangle_image.len()
        ));
    }
    if let Some(at) = texturing
        .uvs
        .iter()
        .position(|uv| !uv.iter().all(|c| c.is_finite()))
    {
        return invalid(format!(
            "vertex {at} has non-finite texture coordinates {:?}",
            texturing.uvs[at]
        ));
    }
    let images = texturing.images.len();
    if let Some(at) = texturing
        .triangle_image
        .iter()
        .position(|&i| i != NO_IMAGE && i as usize >= images)
    {
        return invalid(format!(
            "triangle {at} samples image {} of {images}",
            texturing.triangle_image[at]
        ));
    }
    if u16::try_from(images).is_err() {
        return invalid(format!("{images} images: more than a model can hold"));
    }
    Ok(())
}

fn check_len(what: &str, len: Option<usize>, vertex_count: usize) -> Result<(), CodecError> {
    match len {
        Some(len) if len != vertex_count => Err(CodecError::InvalidMesh {
            reason: format!("{len} {what} for {vertex_count} vertices"),
        }),
        _ => Ok(()),
    }
}

/// Whether a normal is finite and of unit length within the tolerance that 8-bit sources need.
#[must_use]
pub fn is_unit(n: [f32; 3]) -> bool {
    let length_squared = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
    length_squared.is_finite() && (length_squared - 1.0).abs() < 2e-3
}

fn bounds_world(origin_m: [f64; 3], positions: &[[f32; 3]]) -> Option<([f64; 3], [f64; 3])> {
    let first = positions.first()?;
    let mut min = first.map(f64::from);
    let mut max = min;
    for p in positions {
        for axis in 0..3 {
            let c = f64::from(p[axis]);
            min[axis] = min[axis].min(c);
            max[axis] = max[axis].max(c);
        }
    }
    Some((
        [
            origin_m[0] + min[0],
            origin_m[1] + min[1],
            origin_m[2] + min[2],
        ],
        [
            origin_m[0] + max[0],
            origin_m[1] + max[1],
            origin_m[2] + max[2],
        ],
    ))
}

/// sRGB transfer function, decoding direction: an 8-bit sRGB value to linear light in 0..=1.
#[must_use]
pub fn srgb_to_linear(value: u8) -> f64 {
    let c = f64::from(value) / 255.0;
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// sRGB transfer function, encoding direction: linear light in 0..=1 to the nearest 8-bit sRGB value.
#[must_use]
pub fn linear_to_srgb(linear: f64) -> u8 {
    let l = linear.clamp(0.0, 1.0);
    let c = if l <= 0.003_130_8 {
        l * 12.92
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    };
    (c * 255.0).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triangle() -> Mesh {
        Mesh {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            indices: vec![0, 1, 2],
            ..Mesh::default()
        }
    }

    #[test]
    fn srgb_round_trips_through_linear_16_bit() {
        for value in 0..=255u8 {
            let linear_u16 = (srgb_to_linear(value) * 65535.0).round();
            assert_eq!(linear_to_srgb(linear_u16 / 65535.0), value);
        }
    }

    #[test]
    fn validate_names_the_bad_index() {
        let mut mesh = triangle();
        mesh.indices[2] = 7;
        let message = mesh.validate().unwrap_err().to_string();
        assert!(message.contains("index 7 at position 2"), "{message}");
    }

    #[test]
    fn validate_rejects_nan_and_short_attributes() {
        let mut mesh = triangle();
        mesh.positions[1][2] = f32::NAN;
        assert!(
            mesh.validate()
                .unwrap_err()
                .to_string()
                .contains("vertex 1")
        );
        let mut mesh = triangle();
        mesh.colors_srgb = Some(vec![[0; 4]; 2]);
        assert!(
            mesh.validate()
                .unwrap_err()
                .to_string()
                .contains("2 colours for 3 vertices")
        );
        let mut mesh = triangle();
        mesh.normals = Some(vec![[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
        assert!(
            mesh.validate()
                .unwrap_err()
                .to_string()
                .contains("normal of vertex 1")
        );
    }

    #[test]
    fn bounds_include_the_origin() {
        let mut mesh = triangle();
        mesh.origin_m = [500_000.0, 4_000_000.0, 10.0];
        let (min, max) = mesh.bounds_m().unwrap();
        assert_eq!(min, [500_000.0, 4_000_000.0, 10.0]);
        assert_eq!(max, [500_001.0, 4_000_001.0, 10.0]);
    }
}
