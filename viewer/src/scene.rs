//! A model made ready to draw and to measure: positions, normals (computed where the file has none), colour
//! with the measured flag, indices, and the facts a viewer shows beside it (manifest, level of detail).

use std::sync::OnceLock;

use codec::distance::TriangleBvh;
use codec::{Manifest, Model};
use rayon::prelude::*;

/// A model in the form the renderer uploads and the measuring tools query.
#[allow(
    clippy::struct_excessive_bools,
    reason = "which attributes the file had, one flag each"
)]
#[derive(Debug)]
pub struct SceneModel {
    /// World position of the local origin, metres (survey coordinates keep their digits here).
    pub origin_m: [f64; 3],
    /// Vertex (or point) positions relative to `origin_m`, metres.
    pub positions: Vec<[f32; 3]>,
    /// Unit normals as signed 16-bit fractions (x, y, z, 0).
    pub normals: Vec<[i16; 4]>,
    /// Whether the normals came from the file (`false`: computed from the triangles, or none for points).
    pub normals_from_file: bool,
    /// Whether the points or vertices have normals at all (point clouds may not).
    pub has_normals: bool,
    /// sRGB colour with the measured flag in alpha (255 measured, 0 filled in by reconstruction).
    pub color_flag: Vec<[u8; 4]>,
    /// Whether the file has colours.
    pub has_colors: bool,
    /// Whether the file has the `_MEASURED` flag.
    pub has_measured_flag: bool,
    /// Three indices per triangle; empty for a point cloud.
    pub indices: Vec<u32>,
    /// The manifest, when the file has one.
    pub manifest: Option<Manifest>,
    /// Which level of detail this is (0: the model itself) and how many the file has.
    pub level: usize,
    /// Number of levels in the file.
    pub levels: usize,
    /// The images and texture coordinates of a textured surface (shared by copies of the model).
    pub texture: Option<std::sync::Arc<crate::texture::SurfaceTextures>>,
    bvh: OnceLock<TriangleBvh>,
}

impl SceneModel {
    /// Prepare a decoded model: its triangles when it has any, otherwise its points.
    #[must_use]
    pub fn from_model(model: Model) -> Self {
        let Model {
            mesh,
            points,
            manifest,
            level,
            levels,
            ..
        } = model;
        let triangles = !mesh.indices.is_empty();
        let mut mesh = mesh;
        // Each image's triangles become one run of indices (one draw each); picking sees the same triangles.
        let texture = match &mesh.texturing {
            Some(texturing) if triangles => Some(std::sync::Arc::new(
                crate::texture::SurfaceTextures::prepare(texturing, &mut mesh.indices),
            )),
            _ => None,
        };
        let (origin_m, positions, normals, colors, measured, indices) = if triangles {
            (
                mesh.origin_m,
                mesh.positions,
                mesh.normals,
                mesh.colors_srgb,
                mesh.measured,
                mesh.indices,
            )
        } else {
            (
                points.origin_m,
                points.positions,
                points.normals,
                points.colors_srgb,
                None,
                Vec::new(),
            )
        };
        let normals_from_file = normals.is_some();
        let normals = match normals {
            Some(n) => n,
            None if triangles => vertex_normals(&positions, &indices),
            None => Vec::new(),
        };
        let has_normals = !normals.is_empty();
        let normals = if has_normals {
            normals.par_iter().map(|n| pack_normal(*n)).collect()
        } else {
            vec![[0, 0, 0, 0]; positions.len()]
        };
        let has_colors = colors.is_some();
        let has_measured_flag = measured.is_some();
        let color_flag = (0..positions.len())
            .into_par_iter()
            .map(|i| {
                let [r, g, b, _] = colors.as_ref().map_or([200, 200, 200, 255], |c| c[i]);
                let flag = measured.as_ref().is_none_or(|m| m[i]);
                [r, g, b, if flag { 255 } else { 0 }]
            })
            .collect();
        Self {
            origin_m,
            positions,
            normals,
            normals_from_file,
            has_normals,
            color_flag,
            has_colors,
            has_measured_flag,
            indices,
            manifest,
            level,
            levels,
            texture,
            bvh: OnceLock::new(),
        }
    }

    /// Bytes of GPU memory the model needs (vertex buffers, indices, images with mipmaps), known before upload.
    #[must_use]
    pub fn gpu_bytes(&self) -> u64 {
        let per_vertex = 12 + 8 + 4;
        self.positions.len() as u64 * per_vertex
            + self.indices.len() as u64 * 4
            + self.texture.as_ref().map_or(0, |t| t.gpu_bytes())
    }

    /// A copy with other vertex colours (sRGB; the alpha becomes the measured flag "measured"), for heat maps:
    /// without its textures, so the colours are the map's alone.
    #[must_use]
    pub fn recolored(&self, colors: Vec<[u8; 3]>) -> Self {
        let color_flag = colors.into_iter().map(|[r, g, b]| [r, g, b, 255]).collect();
        let mut copy = self.copy_with(
            self.positions.clone(),
            self.origin_m,
            color_flag,
            true,
            false,
        );
        copy.texture = None;
        copy
    }

    /// A copy drawn with other pictures in place of its textures (the colour-difference map), without vertex
    /// colours; a copy of an untextured model is unchanged.
    #[must_use]
    pub fn with_texture_pictures(&self, pictures: &[image::RgbaImage]) -> Self {
        let mut copy = self.copy_with(
            self.positions.clone(),
            self.origin_m,
            self.color_flag.clone(),
            false,
            self.has_measured_flag,
        );
        copy.texture = self
            .texture
            .as_ref()
            .map(|t| std::sync::Arc::new(t.with_images(pictures)));
        copy
    }

    /// A copy whose positions are `positions` relative to `origin_m` (e.g. moved by an alignment).
    #[must_use]
    pub fn moved(&self, positions: Vec<[f32; 3]>, origin_m: [f64; 3]) -> Self {
        let (colors, measured) = (self.has_colors, self.has_measured_flag);
        self.copy_with(
            positions,
            origin_m,
            self.color_flag.clone(),
            colors,
            measured,
        )
    }

    fn copy_with(
        &self,
        positions: Vec<[f32; 3]>,
        origin_m: [f64; 3],
        color_flag: Vec<[u8; 4]>,
        has_colors: bool,
        has_measured_flag: bool,
    ) -> Self {
        Self {
            origin_m,
            positions,
            normals: self.normals.clone(),
            normals_from_file: self.normals_from_file,
            has_normals: self.has_normals,
            color_flag,
            has_colors,
            has_measured_flag,
            indices: self.indices.clone(),
            manifest: self.manifest.clone(),
            level: self.level,
            levels: self.levels,
            texture: self.texture.clone(),
            bvh: OnceLock::new(),
        }
    }

    /// Whether the model is drawn as points (no triangles).
    #[must_use]
    pub fn is_points(&self) -> bool {
        self.indices.is_empty()
    }

    /// Number of triangles.
    #[must_use]
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    /// Axis-aligned bounds of the local positions, or `None` when empty.
    #[must_use]
    pub fn bounds(&self) -> Option<([f32; 3], [f32; 3])> {
        let (low, high) = self
            .positions
            .par_iter()
            .fold(
                || ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]),
                |(mut low, mut high), p| {
                    for a in 0..3 {
                        low[a] = low[a].min(p[a]);
                        high[a] = high[a].max(p[a]);
                    }
                    (low, high)
                },
            )
            .reduce(
                || ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]),
                |(a, b), (c, d)| {
                    (
                        [0, 1, 2].map(|i| a[i].min(c[i])),
                        [0, 1, 2].map(|i| b[i].max(d[i])),
                    )
                },
            );
        low[0].is_finite().then_some((low, high))
    }

    /// The triangle hierarchy for picking, built on first use.
    pub fn bvh(&self) -> &TriangleBvh {
        self.bvh
            .get_or_init(|| TriangleBvh::new(&self.positions, &self.indices))
    }

    /// The surface point a ray meets first (model frame, metres), for picking.
    #[must_use]
    pub fn pick(&self, origin: [f64; 3], direction: [f64; 3]) -> Option<[f64; 3]> {
        self.bvh().ray_hit(origin, direction).map(|hit| hit.point)
    }

    /// The unique edges of the triangles, as pairs of vertex indices (for the wireframe overlay).
    #[must_use]
    pub fn edges(&self) -> Vec<u32> {
        let mut edges: Vec<u64> = self
            .indices
            .par_chunks_exact(3)
            .flat_map_iter(|t| {
                [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])]
                    .map(|(a, b)| (u64::from(a.min(b)) << 32) | u64::from(a.max(b)))
            })
            .collect();
        edges.par_sort_unstable();
        edges.dedup();
        edges
            .iter()
            .flat_map(|&e| [(e >> 32) as u32, e as u32])
            .collect()
    }
}

/// Area-weighted vertex normals (the cross product of two edges weighs each triangle by its area).
fn vertex_normals(positions: &[[f32; 3]], indices: &[u32]) -> Vec<[f32; 3]> {
    let mut sums = vec![[0.0f32; 3]; positions.len()];
    for t in indices.chunks_exact(3) {
        let [a, b, c] = [0, 1, 2].map(|k| positions[t[k] as usize]);
        let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        let n = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        for &k in t {
            let s = &mut sums[k as usize];
            s[0] += n[0];
            s[1] += n[1];
            s[2] += n[2];
        }
    }
    sums.par_iter_mut().for_each(|n| {
        let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        *n = if length > 0.0 {
            n.map(|x| x / length)
        } else {
            [0.0, 0.0, 1.0]
        };
    });
    sums
}

fn pack_normal(n: [f32; 3]) -> [i16; 4] {
    let q = |x: f32| (x.clamp(-1.0, 1.0) * 32767.0).round() as i16;
    [q(n[0]), q(n[1]), q(n[2]), 0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use codec::Mesh;

    fn tetrahedron() -> Model {
        Model {
            format: "test",
            mesh: Mesh {
                positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                indices: vec![0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3],
                ..Mesh::default()
            },
            levels: 1,
            ..Model::default()
        }
    }

    #[test]
    fn computed_normals_point_outward_and_edges_are_unique() {
        let scene = SceneModel::from_model(tetrahedron());
        assert!(!scene.normals_from_file && scene.has_normals);
        // The vertex at the origin: its normal points away from the solid, into the negative octant.
        let n = scene.normals[0];
        assert!(n[0] < 0 && n[1] < 0 && n[2] < 0, "{n:?}");
        assert_eq!(scene.edges().len(), 12, "a tetrahedron has 6 edges");
        let hit = scene.pick([0.2, 0.2, 5.0], [0.0, 0.0, -1.0]).unwrap();
        assert!((hit[2] - 0.6).abs() < 1e-9, "{hit:?}");
    }
}
