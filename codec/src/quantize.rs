//! Quantization with a bound: positions on a grid, normals oct-encoded, colours to 16-bit linear.
//!
//! Positions are split into chunks whose extent fits 16 bits at the requested grid step.
//! Each chunk has its own offset (a glTF node translation) and the step as its scale,
//! which is how `KHR_mesh_quantization` expects dequantization to be expressed.
//! The error is not estimated here: `encode` decodes the compressed streams and measures it.

use std::collections::BTreeMap;

/// Largest quantized coordinate in a chunk.
pub const GRID_MAX: u32 = 65_535;

/// Cell size of the chunk grid and the largest triangle extent it accepts, in grid steps.
/// A chunk holds the triangles whose centroid lies in one cell, and each of their vertices lies within
/// one triangle extent of the centroid, so a chunk spans at most three times this, which fits 16 bits.
const CHUNK_CELL_STEPS: f64 = 21_800.0;

/// Triangles (of a mesh) or points (of a cloud) of one chunk, by their number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkPlan {
    /// Triangle numbers (not index positions), or point numbers for a cloud, ascending.
    pub triangles: Vec<u32>,
    /// Whether positions in this chunk stay `f32` because a triangle is too large for the grid.
    pub float_positions: bool,
}

/// Split a point cloud's points into chunks whose positions fit 16 bits at `step_m`: one chunk when the
/// whole cloud fits, otherwise one per cell of a grid (each cell spans less than 16 bits). Ordered by cell.
#[must_use]
pub fn plan_point_chunks(positions: &[[f32; 3]], step_m: f64) -> Vec<ChunkPlan> {
    if positions.is_empty() {
        return Vec::new();
    }
    let (min, max) = component_bounds_f32(positions);
    let fits_one = (0..3).all(|axis| (max[axis] - min[axis]) / step_m <= f64::from(GRID_MAX) - 2.0);
    if fits_one {
        let all = (0..positions.len() as u32).collect();
        return vec![ChunkPlan {
            triangles: all,
            float_positions: false,
        }];
    }
    let cell_m = CHUNK_CELL_STEPS * step_m;
    let mut cells: BTreeMap<[u32; 3], Vec<u32>> = BTreeMap::new();
    for (point, p) in positions.iter().enumerate() {
        let cell = [0, 1, 2]
            .map(|axis| ((f64::from(p[axis]) - min[axis]) / cell_m).floor().max(0.0) as u32);
        cells.entry(cell).or_default().push(point as u32);
    }
    cells
        .into_values()
        .map(|points| ChunkPlan {
            triangles: points,
            float_positions: false,
        })
        .collect()
}

fn component_bounds_f32(positions: &[[f32; 3]]) -> ([f64; 3], [f64; 3]) {
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for p in positions {
        for axis in 0..3 {
            min[axis] = min[axis].min(f64::from(p[axis]));
            max[axis] = max[axis].max(f64::from(p[axis]));
        }
    }
    (min, max)
}

/// Split a mesh's triangles into chunks whose positions fit 16 bits at `step_m`.
///
/// The result is ordered by chunk cell, so it is the same on every run.
#[must_use]
pub fn plan_chunks(positions: &[[f32; 3]], indices: &[u32], step_m: f64) -> Vec<ChunkPlan> {
    let triangle_count = indices.len() / 3;
    if triangle_count == 0 {
        return Vec::new();
    }
    let (min, max) = referenced_bounds(positions, indices);
    let fits_one = (0..3).all(|axis| (max[axis] - min[axis]) / step_m <= f64::from(GRID_MAX) - 2.0);
    if fits_one {
        let all = (0..triangle_count as u32).collect();
        return vec![ChunkPlan {
            triangles: all,
            float_positions: false,
        }];
    }
    let cell_m = CHUNK_CELL_STEPS * step_m;
    let mut cells: BTreeMap<[u32; 3], Vec<u32>> = BTreeMap::new();
    let mut oversized = Vec::new();
    for (triangle, corners) in indices.chunks_exact(3).enumerate() {
        let vertex = |corner: usize| positions[corners[corner] as usize].map(f64::from);
        let (a, b, c) = (vertex(0), vertex(1), vertex(2));
        let too_large = (0..3).any(|axis| {
            let low = a[axis].min(b[axis]).min(c[axis]);
            let high = a[axis].max(b[axis]).max(c[axis]);
            (high - low) / step_m > CHUNK_CELL_STEPS
        });
        if too_large {
            oversized.push(triangle as u32);
            continue;
        }
        let cell = [0, 1, 2].map(|axis| {
            let centroid = (a[axis] + b[axis] + c[axis]) / 3.0;
            ((centroid - min[axis]) / cell_m).floor().max(0.0) as u32
        });
        cells.entry(cell).or_default().push(triangle as u32);
    }
    let mut plans: Vec<ChunkPlan> = cells
        .into_values()
        .map(|triangles| ChunkPlan {
            triangles,
            float_positions: false,
        })
        .collect();
    if !oversized.is_empty() {
        plans.push(ChunkPlan {
            triangles: oversized,
            float_positions: true,
        });
    }
    plans
}

fn referenced_bounds(positions: &[[f32; 3]], indices: &[u32]) -> ([f64; 3], [f64; 3]) {
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for &index in indices {
        let p = positions[index as usize];
        for axis in 0..3 {
            min[axis] = min[axis].min(f64::from(p[axis]));
            max[axis] = max[axis].max(f64::from(p[axis]));
        }
    }
    (min, max)
}

/// The dequantization of one chunk: `position = translation + scale * q`, evaluated as a reader does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dequantization {
    /// Node translation, relative to the mesh origin, in metres.
    pub translation: [f32; 3],
    /// Node scale: the grid step in metres.
    pub scale: f32,
}

impl Dequantization {
    /// Choose a translation at or below the smallest coordinate, so every grid value is non-negative.
    #[must_use]
    pub fn for_positions(positions: impl Iterator<Item = [f32; 3]>, step: f32) -> Self {
        let mut min = [f32::INFINITY; 3];
        for p in positions {
            for axis in 0..3 {
                min[axis] = min[axis].min(p[axis]);
            }
        }
        let translation = min.map(|m| if m.is_finite() { m } else { 0.0 });
        Self {
            translation,
            scale: step,
        }
    }

    /// Nearest grid point of a position, clamped to the 16-bit range.
    #[must_use]
    pub fn quantize(&self, p: [f32; 3]) -> [u16; 3] {
        [0, 1, 2].map(|axis| {
            let steps =
                (f64::from(p[axis]) - f64::from(self.translation[axis])) / f64::from(self.scale);
            steps.round().clamp(0.0, f64::from(GRID_MAX)) as u16
        })
    }

    /// The position a reader computes from a grid point: in `f64`, then stored as `f32` offsets.
    #[must_use]
    pub fn dequantize(&self, q: [u16; 3]) -> [f32; 3] {
        [0, 1, 2].map(|axis| {
            (f64::from(self.scale) * f64::from(q[axis]) + f64::from(self.translation[axis])) as f32
        })
    }
}

/// Euclidean distance between two `f32` points, computed in `f64`.
#[must_use]
pub fn distance(a: [f32; 3], b: [f32; 3]) -> f64 {
    let d = [0, 1, 2].map(|axis| f64::from(a[axis]) - f64::from(b[axis]));
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// Angle between two directions in degrees; both need not be unit length.
#[must_use]
pub fn angle_deg(a: [f32; 3], b: [f64; 3]) -> f64 {
    let a = a.map(f64::from);
    let dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let la = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    let lb = (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt();
    if la == 0.0 || lb == 0.0 {
        return 180.0;
    }
    (dot / (la * lb)).clamp(-1.0, 1.0).acos().to_degrees()
}

/// Colour as stored in the file: linear light in 16 bits, so that every 8-bit sRGB value survives exactly.
#[must_use]
pub fn color_to_linear_u16(srgb: [u8; 4]) -> [u16; 4] {
    let channel = |c: u8| (crate::mesh::srgb_to_linear(c) * 65535.0).round() as u16;
    [
        channel(srgb[0]),
        channel(srgb[1]),
        channel(srgb[2]),
        u16::from(srgb[3]) * 257,
    ]
}

/// Inverse of [`color_to_linear_u16`], used by the reader and the error measurement.
#[must_use]
pub fn color_from_linear_u16(linear: [u16; 4]) -> [u8; 4] {
    let channel = |c: u16| crate::mesh::linear_to_srgb(f64::from(c) / 65535.0);
    [
        channel(linear[0]),
        channel(linear[1]),
        channel(linear[2]),
        (f64::from(linear[3]) / 257.0).round() as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_mesh_is_one_chunk() {
        let positions = [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0]];
        let plans = plan_chunks(&positions, &[0, 1, 2], 5e-5);
        assert_eq!(
            plans,
            vec![ChunkPlan {
                triangles: vec![0],
                float_positions: false
            }]
        );
    }

    #[test]
    fn long_mesh_splits_and_each_chunk_fits_16_bits() {
        // A strip of triangles 10 m long at a 0.05 mm step needs 200 000 steps: several chunks.
        let step = 5e-5;
        let mut positions = Vec::new();
        let mut indices = Vec::new();
        for i in 0..1000u32 {
            let x = i as f32 * 0.01;
            positions.extend([[x, 0.0, 0.0], [x, 0.01, 0.0]]);
            if i > 0 {
                let base = 2 * i;
                indices.extend([base - 2, base - 1, base, base - 1, base + 1, base]);
            }
        }
        let plans = plan_chunks(&positions, &indices, step);
        assert!(plans.len() >= 4, "{} chunks", plans.len());
        let total: usize = plans.iter().map(|plan| plan.triangles.len()).sum();
        assert_eq!(total, indices.len() / 3);
        for plan in &plans {
            assert!(!plan.float_positions);
            let indices = &indices;
            let chunk_positions = plan
                .triangles
                .iter()
                .flat_map(|&t| (0..3).map(move |c| indices[3 * t as usize + c]));
            let dq = Dequantization::for_positions(
                chunk_positions.clone().map(|i| positions[i as usize]),
                step as f32,
            );
            for i in chunk_positions {
                let p = positions[i as usize];
                let q = dq.quantize(p);
                assert!(
                    distance(dq.dequantize(q), p) <= step,
                    "vertex {i} outside the chunk grid"
                );
            }
        }
    }

    #[test]
    fn oversized_triangle_keeps_float_positions() {
        let positions = [
            [0.0, 0.0, 0.0],
            [20.0, 0.0, 0.0],
            [0.0, 0.01, 0.0],
            [0.0, 0.0, 0.01],
        ];
        let plans = plan_chunks(&positions, &[0, 2, 3, 0, 1, 2], 5e-5);
        assert_eq!(
            plans
                .last()
                .map(|p| (p.float_positions, p.triangles.clone())),
            Some((true, vec![1]))
        );
    }
}
