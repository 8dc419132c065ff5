//! Cleaning before reconstruction: voxel downsampling (overlapping views and dense patches thinned to
//! one point per voxel, the average of what fell in it) and statistical outlier removal (a point whose
//! mean distance to its neighbours is far above the cloud's is dropped). Both count what they changed.

use codec::PointCloud;
use rayon::prelude::*;

use super::knn::PointGrid;

/// What cleaning did, for the manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Cleaning {
    pub voxel_m: f64,
    pub points_in: usize,
    pub after_voxels: usize,
    pub outliers_removed: usize,
}

/// One point per occupied voxel of side `voxel` (metres): the mean position, the normalized mean
/// normal, the mean colour and intensity of the points in it. Voxels are visited in the order of their
/// coordinates, so the output does not depend on the input's order within a voxel or on threads.
#[must_use]
pub fn voxel_downsample(cloud: &PointCloud, voxel: f64) -> PointCloud {
    if voxel <= 0.0 || cloud.positions.is_empty() {
        return cloud.clone();
    }
    let key = |p: &[f32; 3]| p.map(|c| (f64::from(c) / voxel).floor() as i64);
    let mut order: Vec<([i64; 3], u32)> = cloud
        .positions
        .par_iter()
        .enumerate()
        .map(|(i, p)| (key(p), i as u32))
        .collect();
    order.par_sort_unstable();
    let mut out = PointCloud {
        origin_m: cloud.origin_m,
        positions: Vec::new(),
        normals: cloud.normals.as_ref().map(|_| Vec::new()),
        colors_srgb: cloud.colors_srgb.as_ref().map(|_| Vec::new()),
        intensity: cloud.intensity.as_ref().map(|_| Vec::new()),
    };
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && order[end].0 == order[start].0 {
            end += 1;
        }
        let members = &order[start..end];
        let count = members.len() as f64;
        let mean3 = |values: &[[f32; 3]]| {
            let mut sum = [0.0f64; 3];
            for &(_, i) in members {
                for a in 0..3 {
                    sum[a] += f64::from(values[i as usize][a]);
                }
            }
            sum.map(|s| s / count)
        };
        out.positions
            .push(mean3(&cloud.positions).map(|c| c as f32));
        if let (Some(out), Some(normals)) = (&mut out.normals, &cloud.normals) {
            let n = mean3(normals);
            let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            let first = normals[members[0].1 as usize];
            out.push(if length > 1e-9 {
                n.map(|c| (c / length) as f32)
            } else {
                first
            });
        }
        if let (Some(out), Some(colors)) = (&mut out.colors_srgb, &cloud.colors_srgb) {
            let mut sum = [0.0f64; 4];
            for &(_, i) in members {
                for c in 0..4 {
                    sum[c] += f64::from(colors[i as usize][c]);
                }
            }
            out.push(sum.map(|s| (s / count).round() as u8));
        }
        if let (Some(out), Some(intensity)) = (&mut out.intensity, &cloud.intensity) {
            let sum: f64 = members
                .iter()
                .map(|&(_, i)| f64::from(intensity[i as usize]))
                .sum();
            out.push((sum / count) as f32);
        }
        start = end;
    }
    out
}

/// Drop points whose mean distance to their `k` nearest neighbours exceeds the cloud's mean of that
/// distance by more than `ratio` standard deviations (Rusu et al. 2008). Returns the kept cloud and how
/// many were removed.
#[must_use]
pub fn remove_outliers(cloud: &PointCloud, k: usize, ratio: f64) -> (PointCloud, usize) {
    let n = cloud.positions.len();
    if n <= k {
        return (cloud.clone(), 0);
    }
    let grid = PointGrid::new(&cloud.positions);
    let mean_distance: Vec<f64> = cloud
        .positions
        .par_iter()
        .with_min_len(1024)
        .map_init(Vec::new, |scratch, &p| {
            grid.knn(p, k + 1, scratch);
            let sum: f64 = scratch.iter().skip(1).map(|e| f64::from(e.0).sqrt()).sum();
            sum / (scratch.len().max(2) - 1) as f64
        })
        .collect();
    // Sums in a fixed order (sequential): the threshold must not depend on threads.
    let mean = mean_distance.iter().sum::<f64>() / n as f64;
    let variance = mean_distance
        .iter()
        .map(|d| (d - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let limit = mean + ratio * variance.sqrt();
    let keep: Vec<bool> = mean_distance.iter().map(|&d| d <= limit).collect();
    let removed = keep.iter().filter(|k| !**k).count();
    if removed == 0 {
        return (cloud.clone(), 0);
    }
    let cleaned = PointCloud {
        origin_m: cloud.origin_m,
        positions: kept(&cloud.positions, &keep),
        normals: cloud.normals.as_deref().map(|v| kept(v, &keep)),
        colors_srgb: cloud.colors_srgb.as_deref().map(|v| kept(v, &keep)),
        intensity: cloud.intensity.as_deref().map(|v| kept(v, &keep)),
    };
    (cleaned, removed)
}

fn kept<T: Copy>(values: &[T], keep: &[bool]) -> Vec<T> {
    values
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(v, _)| *v)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(positions: Vec<[f32; 3]>) -> PointCloud {
        PointCloud {
            origin_m: [0.0; 3],
            colors_srgb: Some(vec![[10, 20, 30, 255]; positions.len()]),
            normals: None,
            intensity: None,
            positions,
        }
    }

    #[test]
    fn voxels_average_what_falls_in_them_in_any_input_order() {
        let mut points = vec![[0.01, 0.01, 0.01], [0.03, 0.03, 0.03], [0.51, 0.0, 0.0]];
        let a = voxel_downsample(&cloud(points.clone()), 0.1);
        points.reverse();
        let b = voxel_downsample(&cloud(points), 0.1);
        assert_eq!(a, b);
        assert_eq!(a.positions.len(), 2);
        assert!((a.positions[0][0] - 0.02).abs() < 1e-6);
    }

    #[test]
    fn a_stray_point_is_removed_and_counted() {
        let mut points: Vec<[f32; 3]> = (0..400)
            .map(|i| [(i % 20) as f32 * 0.01, (i / 20) as f32 * 0.01, 0.0])
            .collect();
        points.push([0.1, 0.1, 1.0]);
        let (kept, removed) = remove_outliers(&cloud(points), 8, 2.0);
        assert_eq!(removed, 1);
        assert!(kept.positions.iter().all(|p| p[2] == 0.0));
    }
}
