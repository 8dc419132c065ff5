//! Levels of detail: coarser versions of the model for phones and for a first frame while the rest loads.
//!
//! Each level has about a quarter of the triangles of the one before (meshoptimizer's edge collapse, each
//! level simplified from the previous one, so the chain costs about 4/3 of one simplification). Levels keep a
//! subset of the model's vertices with their attributes untouched: colour, the measured flag and the
//! normal of a vertex are the model's. How far each level is from the model is measured by the codec when it
//! writes the file, not estimated here.

use codec::Mesh;

/// How many levels to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LodOptions {
    /// Levels in the file, the model included: 1 writes the model alone.
    pub levels: usize,
    /// No level is made with fewer triangles than this; the chain stops before.
    pub min_triangles: usize,
}

impl Default for LodOptions {
    fn default() -> Self {
        Self {
            levels: 4,
            min_triangles: 2_000,
        }
    }
}

/// Each level aims at this share of the triangles of the one before.
const REDUCTION: usize = 4;

/// A level that keeps more than this share of the previous level's triangles is not worth its bytes: stop.
const LEAST_USEFUL_REDUCTION: f64 = 0.8;

/// The coarser levels of `mesh`, finest first (the model itself is not among them).
///
/// A textured mesh is simplified image by image (one glTF primitive samples one image), with the borders
/// between images locked so that no crack opens between them; within an image, vertices split at UV seams
/// share a position, which meshoptimizer treats as a seam and collapses only along it, so no texture tears.
#[must_use]
pub fn coarser_levels(mesh: &Mesh, options: &LodOptions) -> Vec<Mesh> {
    let mut levels = Vec::new();
    let Ok(adapter) = meshopt::VertexDataAdapter::new(bytemuck::cast_slice(&mesh.positions), 12, 0)
    else {
        return levels;
    };
    let mut groups: Vec<(u32, Vec<u32>)> = match &mesh.texturing {
        Some(texturing) => {
            let mut by_image: std::collections::BTreeMap<u32, Vec<u32>> =
                std::collections::BTreeMap::new();
            for (corners, &image) in mesh.indices.chunks_exact(3).zip(&texturing.triangle_image) {
                by_image
                    .entry(image)
                    .or_default()
                    .extend_from_slice(corners);
            }
            by_image.into_iter().collect()
        }
        None => vec![(codec::NO_IMAGE, mesh.indices.clone())],
    };
    let lock = if groups.len() > 1 {
        meshopt::SimplifyOptions::LockBorder
    } else {
        meshopt::SimplifyOptions::None
    };
    while levels.len() + 1 < options.levels {
        let triangles: usize = groups.iter().map(|(_, g)| g.len() / 3).sum();
        if triangles / REDUCTION < options.min_triangles {
            break;
        }
        // No error limit: the triangle budget decides, the codec measures what it cost.
        let coarser: Vec<(u32, Vec<u32>)> = groups
            .iter()
            .map(|(image, indices)| {
                let target = (indices.len() / 3 / REDUCTION).max(1);
                let simplified =
                    meshopt::simplify(indices, &adapter, target * 3, f32::MAX, lock, None);
                (*image, simplified)
            })
            .collect();
        let coarser_len: usize = coarser.iter().map(|(_, g)| g.len()).sum();
        if coarser_len == 0 || coarser_len as f64 > (triangles * 3) as f64 * LEAST_USEFUL_REDUCTION
        {
            break;
        }
        levels.push(compact(mesh, &coarser));
        groups = coarser;
    }
    levels
}

/// The vertices the groups' triangles use, in first-use order, with their attributes (the images stay the
/// model's until `texture::levels` gives the level its own).
fn compact(mesh: &Mesh, groups: &[(u32, Vec<u32>)]) -> Mesh {
    let mut remap = vec![u32::MAX; mesh.positions.len()];
    let mut kept = Vec::new();
    let mut triangle_image = Vec::new();
    let mut indices = Vec::new();
    for (image, group) in groups {
        triangle_image.resize(triangle_image.len() + group.len() / 3, *image);
        for &i in group {
            let old = i as usize;
            if remap[old] == u32::MAX {
                remap[old] = kept.len() as u32;
                kept.push(old);
            }
            indices.push(remap[old]);
        }
    }
    Mesh {
        origin_m: mesh.origin_m,
        positions: kept.iter().map(|&k| mesh.positions[k]).collect(),
        indices,
        normals: pick(mesh.normals.as_deref(), &kept),
        colors_srgb: pick(mesh.colors_srgb.as_deref(), &kept),
        measured: pick(mesh.measured.as_deref(), &kept),
        intensity: pick(mesh.intensity.as_deref(), &kept),
        texturing: mesh.texturing.as_ref().map(|t| codec::Texturing {
            uvs: kept.iter().map(|&k| t.uvs[k]).collect(),
            images: t.images.clone(),
            triangle_image,
        }),
    }
}

/// The values of the kept vertices, in their new order.
fn pick<T: Copy>(values: Option<&[T]>, kept: &[usize]) -> Option<Vec<T>> {
    values.map(|v| kept.iter().map(|&k| v[k]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bumpy grid of `n` x `n` vertices, 0.2 m across, with colours and flags.
    fn bumpy_grid(n: u32) -> Mesh {
        let mut mesh = Mesh::default();
        let mut colors = Vec::new();
        let mut measured = Vec::new();
        for j in 0..n {
            for i in 0..n {
                let (u, v) = (i as f32 / (n - 1) as f32, j as f32 / (n - 1) as f32);
                mesh.positions
                    .push([u * 0.2, v * 0.2, 0.01 * (u * 9.0).sin() * (v * 7.0).cos()]);
                colors.push([(i % 256) as u8, (j % 256) as u8, 7, 255]);
                measured.push(i > n / 2);
            }
        }
        for j in 0..n - 1 {
            for i in 0..n - 1 {
                let a = j * n + i;
                mesh.indices
                    .extend_from_slice(&[a, a + 1, a + n, a + 1, a + n + 1, a + n]);
            }
        }
        mesh.colors_srgb = Some(colors);
        mesh.measured = Some(measured);
        mesh
    }

    #[test]
    fn each_level_has_about_a_quarter_of_the_triangles_and_the_models_attributes() {
        let mesh = bumpy_grid(300); // 178 802 triangles: 44 700, 11 175, 2 793 (the next would be under 2 000)
        let levels = coarser_levels(&mesh, &LodOptions::default());
        assert_eq!(levels.len(), 3);
        let source_of: std::collections::HashMap<[u32; 3], usize> = mesh
            .positions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.map(f32::to_bits), i))
            .collect();
        let mut previous = mesh.triangle_count();
        for level in &levels {
            level.validate().unwrap();
            let ratio = level.triangle_count() as f64 / previous as f64;
            assert!((0.2..=0.3).contains(&ratio), "ratio {ratio}");
            previous = level.triangle_count();
            // Every kept vertex is one of the model's, with its colour and flag.
            for (k, p) in level.positions.iter().enumerate() {
                let source = source_of[&p.map(f32::to_bits)];
                assert_eq!(
                    level.colors_srgb.as_ref().unwrap()[k],
                    mesh.colors_srgb.as_ref().unwrap()[source]
                );
                assert_eq!(
                    level.measured.as_ref().unwrap()[k],
                    mesh.measured.as_ref().unwrap()[source]
                );
            }
        }
        // One level asked for, or a small mesh: nothing to add.
        let one = LodOptions {
            levels: 1,
            ..LodOptions::default()
        };
        assert!(coarser_levels(&mesh, &one).is_empty());
        assert!(coarser_levels(&bumpy_grid(20), &LodOptions::default()).is_empty());
    }
}
