//! Normals for points that have none: the plane through each point's k nearest neighbours (principal
//! component analysis), then one consistent orientation: towards the scanner when its position is
//! known, otherwise propagated along a minimum spanning tree of the neighbour graph (Hoppe et al. 1992)
//! and turned outward for the whole cloud.

#![allow(
    clippy::needless_range_loop,
    reason = "3×3 rotations index rows and columns together, like the formulas"
)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::knn::PointGrid;

/// How the normals were oriented, for the manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Orientation {
    /// `towards the scanner` or `minimum spanning tree, then outward`.
    pub method: &'static str,
    /// Separate pieces of the neighbour graph, each oriented on its own.
    pub components: usize,
    /// Whether the whole set was flipped to point away from the centroid.
    pub flipped_outward: bool,
}

/// Unit normal of the best-fitting plane through each point's `k` nearest neighbours (itself included).
#[must_use]
pub fn estimate(points: &[[f32; 3]], grid: &PointGrid<'_>, k: usize) -> Vec<[f32; 3]> {
    points
        .par_iter()
        .with_min_len(1024)
        .map_init(Vec::new, |neighbours, &p| {
            grid.knn(p, k, neighbours);
            plane_normal(neighbours.iter().map(|&(_, i)| points[i as usize]))
        })
        .collect()
}

/// The eigenvector of the smallest eigenvalue of the points' covariance.
fn plane_normal(points: impl Iterator<Item = [f32; 3]> + Clone) -> [f32; 3] {
    let mut n = 0.0;
    let mut mean = [0.0f64; 3];
    for p in points.clone() {
        n += 1.0;
        for a in 0..3 {
            mean[a] += f64::from(p[a]);
        }
    }
    if n < 3.0 {
        return [0.0, 0.0, 1.0];
    }
    mean = mean.map(|m| m / n);
    let mut c = [[0.0f64; 3]; 3];
    for p in points {
        let d = [0, 1, 2].map(|a| f64::from(p[a]) - mean[a]);
        for r in 0..3 {
            for s in 0..3 {
                c[r][s] += d[r] * d[s];
            }
        }
    }
    smallest_eigenvector(c).map(|v| v as f32)
}

/// Symmetric 3×3 eigen-decomposition by cyclic Jacobi rotations; the unit eigenvector of the smallest
/// eigenvalue.
fn smallest_eigenvector(mut a: [[f64; 3]; 3]) -> [f64; 3] {
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..32 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        let scale = a[0][0].abs() + a[1][1].abs() + a[2][2].abs();
        if off <= 1e-15 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q] == 0.0 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let (cos, sin) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
            for k in 0..3 {
                let (akp, akq) = (a[k][p], a[k][q]);
                a[k][p] = cos * akp - sin * akq;
                a[k][q] = sin * akp + cos * akq;
            }
            for k in 0..3 {
                let (apk, aqk) = (a[p][k], a[q][k]);
                a[p][k] = cos * apk - sin * aqk;
                a[q][k] = sin * apk + cos * aqk;
            }
            for row in &mut v {
                let (vp, vq) = (row[p], row[q]);
                row[p] = cos * vp - sin * vq;
                row[q] = sin * vp + cos * vq;
            }
        }
    }
    let smallest = (0..3)
        .min_by(|&i, &j| a[i][i].total_cmp(&a[j][j]))
        .unwrap_or(2);
    let e = [v[0][smallest], v[1][smallest], v[2][smallest]];
    let length = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
    if length > 0.0 {
        e.map(|c| c / length)
    } else {
        [0.0, 0.0, 1.0]
    }
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Turn every normal towards `viewpoint` (the scanner's position, same frame as the points).
pub fn orient_towards(
    points: &[[f32; 3]],
    normals: &mut [[f32; 3]],
    viewpoint: [f32; 3],
) -> Orientation {
    normals.par_iter_mut().zip(points).for_each(|(n, p)| {
        let to_view = [0, 1, 2].map(|a| viewpoint[a] - p[a]);
        if dot(*n, to_view) < 0.0 {
            *n = n.map(|c| -c);
        }
    });
    Orientation {
        method: "towards the scanner",
        components: 1,
        flipped_outward: false,
    }
}

/// Consistent orientation without a scanner position: from the highest point (normal turned up), each
/// point takes the side of its neighbour in a minimum spanning tree of the `k`-nearest-neighbour graph,
/// whose edges cost `1 − |nᵢ·nⱼ|` (so the tree follows smooth surface first). Each separate piece starts
/// from its own highest point. Finally the whole set is turned to point away from the centroid when
/// clearly most normals (60 % or more) point towards it (a closed object seen from outside).
pub fn orient_by_propagation(
    points: &[[f32; 3]],
    normals: &mut [[f32; 3]],
    grid: &PointGrid<'_>,
    k: usize,
) -> Orientation {
    let n = points.len();
    let neighbours: Vec<Vec<(f32, u32)>> = points
        .par_iter()
        .with_min_len(1024)
        .map_init(Vec::new, |scratch, &p| {
            grid.knn(p, k + 1, scratch);
            scratch.clone()
        })
        .collect();
    // The graph made symmetric: j is a neighbour of i when either lists the other.
    let mut degree = vec![0u32; n + 1];
    for (i, list) in neighbours.iter().enumerate() {
        for &(_, j) in list {
            if j as usize != i {
                degree[i + 1] += 1;
                degree[j as usize + 1] += 1;
            }
        }
    }
    for i in 0..n {
        degree[i + 1] += degree[i];
    }
    let mut next = degree.clone();
    let mut edges = vec![0u32; degree[n] as usize];
    for (i, list) in neighbours.iter().enumerate() {
        for &(_, j) in list {
            if j as usize != i {
                edges[next[i] as usize] = j;
                next[i] += 1;
                edges[next[j as usize] as usize] = i as u32;
                next[j as usize] += 1;
            }
        }
    }
    drop(neighbours);
    let mut by_height: Vec<u32> = (0..n as u32).collect();
    by_height.sort_by(|&a, &b| {
        points[b as usize][2]
            .total_cmp(&points[a as usize][2])
            .then(a.cmp(&b))
    });
    let mut done = vec![false; n];
    let mut heap = BinaryHeap::new();
    let mut components = 0;
    for &start in &by_height {
        if done[start as usize] {
            continue;
        }
        components += 1;
        if normals[start as usize][2] < 0.0 {
            normals[start as usize] = normals[start as usize].map(|c| -c);
        }
        heap.push(Reverse((0u32, start, start)));
        while let Some(Reverse((_, node, parent))) = heap.pop() {
            if done[node as usize] {
                continue;
            }
            done[node as usize] = true;
            if node != parent && dot(normals[node as usize], normals[parent as usize]) < 0.0 {
                normals[node as usize] = normals[node as usize].map(|c| -c);
            }
            let here = normals[node as usize];
            for &j in &edges[degree[node as usize] as usize..degree[node as usize + 1] as usize] {
                if !done[j as usize] {
                    let cost = 1.0 - dot(here, normals[j as usize]).abs();
                    // Non-negative floats order like their bit patterns.
                    heap.push(Reverse((cost.max(0.0).to_bits(), j, node)));
                }
            }
        }
    }
    let mut centroid = [0.0f64; 3];
    for p in points {
        for a in 0..3 {
            centroid[a] += f64::from(p[a]);
        }
    }
    let centroid = centroid.map(|c| (c / n.max(1) as f64) as f32);
    let outward: f64 = points
        .iter()
        .zip(normals.iter())
        .map(|(p, nrm)| f64::from(dot(*nrm, [0, 1, 2].map(|a| p[a] - centroid[a])).signum()))
        .sum();
    // Only a clear majority decides: an open surface such as terrain has no inside, its points lie around
    // the centroid's plane and the vote is near zero; it keeps the orientation grown from the top point.
    let flipped_outward = outward < -0.2 * n as f64;
    if flipped_outward {
        for nrm in normals.iter_mut() {
            *nrm = nrm.map(|c| -c);
        }
    }
    Orientation {
        method: "minimum spanning tree, then outward",
        components,
        flipped_outward,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sphere(n: usize) -> Vec<[f32; 3]> {
        // A Fibonacci sphere of radius 2 around (1, 0, 0).
        (0..n)
            .map(|i| {
                let z = 1.0 - 2.0 * (i as f32 + 0.5) / n as f32;
                let r = (1.0 - z * z).sqrt();
                let phi = i as f32 * 2.399_963;
                [1.0 + 2.0 * r * phi.cos(), 2.0 * r * phi.sin(), 2.0 * z]
            })
            .collect()
    }

    #[test]
    fn sphere_normals_point_outward_after_propagation() {
        let points = sphere(5000);
        let grid = PointGrid::new(&points);
        let mut normals = estimate(&points, &grid, 12);
        let orientation = orient_by_propagation(&points, &mut normals, &grid, 8);
        assert_eq!(orientation.components, 1);
        for (p, n) in points.iter().zip(&normals) {
            let radial = [(p[0] - 1.0) / 2.0, p[1] / 2.0, p[2] / 2.0];
            assert!(dot(*n, radial) > 0.99, "{p:?} {n:?}");
        }
    }

    #[test]
    fn towards_a_scanner() {
        let points = sphere(2000);
        let grid = PointGrid::new(&points);
        let mut normals = estimate(&points, &grid, 12);
        orient_towards(&points, &mut normals, [1.0, 0.0, 0.0]);
        for (p, n) in points.iter().zip(&normals) {
            let radial = [(p[0] - 1.0) / 2.0, p[1] / 2.0, p[2] / 2.0];
            assert!(dot(*n, radial) < -0.99);
        }
    }
}
