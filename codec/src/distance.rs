//! Exact distances from points to a triangle mesh: a bounding volume hierarchy over the triangles and
//! the closest point on each candidate triangle (Ericson, *Real-Time Collision Detection*, 5.1.5).
//!
//! Used to measure what a lossy step did to a surface (levels of detail) and, later, the deviation
//! between two models. Arithmetic is in `f64` on the `f32` offsets, so the answer is exact to well
//! below a micrometre; the build and every query are deterministic (ties keep the lower triangle index).

use rayon::prelude::*;

/// Triangles per leaf: small leaves prune best for closest-point queries.
const LEAF_SIZE: usize = 4;

/// A closest-point hierarchy over the triangles of one mesh.
#[derive(Clone, Debug)]
pub struct TriangleBvh {
    nodes: Vec<Node>,
    /// Corner positions, in leaf order (`f32` as in the mesh: boxes of them are exact in `f32` too).
    triangles: Vec<[[f32; 3]; 3]>,
    /// Mesh triangle index of each entry of `triangles`.
    ids: Vec<u32>,
}

/// A node's box; a leaf holds `count > 0` triangles from `first`, an inner node's children are
/// `self + 1` and `first`.
#[derive(Clone, Copy, Debug)]
struct Node {
    min: [f32; 3],
    max: [f32; 3],
    first: u32,
    count: u32,
}

/// The point of a mesh nearest to a query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Closest {
    /// Distance in the mesh's unit (metres).
    pub distance: f64,
    /// Triangle index in the mesh (index of its first corner divided by 3).
    pub triangle: u32,
    /// The nearest point, in the mesh's frame.
    pub point: [f64; 3],
    /// Where the triangle sits in the hierarchy, for [`TriangleBvh::closest_near`].
    slot: u32,
}

impl TriangleBvh {
    /// Build over `indices` (three per triangle) into `positions`; degenerate triangles are kept
    /// (their nearest point is still well defined). Indices must be in range ([`crate::Mesh::validate`]).
    #[must_use]
    pub fn new(positions: &[[f32; 3]], indices: &[u32]) -> Self {
        let corners = |t: usize| [0, 1, 2].map(|k| positions[indices[3 * t + k] as usize]);
        let count = indices.len() / 3;
        let mut order: Vec<(u32, [f32; 3])> = (0..count)
            .into_par_iter()
            .with_min_len(4096)
            .map(|t| {
                let c = corners(t);
                (
                    t as u32,
                    [0, 1, 2].map(|a| (c[0][a] + c[1][a] + c[2][a]) / 3.0),
                )
            })
            .collect();
        let mut nodes = Vec::with_capacity(2 * count / LEAF_SIZE + 1);
        if count > 0 {
            partition(&mut order, 0, &mut nodes);
        }
        let triangles: Vec<[[f32; 3]; 3]> = order
            .par_iter()
            .map(|&(t, _)| corners(t as usize))
            .collect();
        let ids = order.iter().map(|&(t, _)| t).collect();
        // Boxes bottom-up: children come after their parent, so a reverse walk sees them first.
        for index in (0..nodes.len()).rev() {
            let node = nodes[index];
            let (mut min, mut max) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
            let mut grow = |lo: [f32; 3], hi: [f32; 3]| {
                for a in 0..3 {
                    min[a] = min[a].min(lo[a]);
                    max[a] = max[a].max(hi[a]);
                }
            };
            if node.count > 0 {
                let first = node.first as usize;
                for triangle in &triangles[first..first + node.count as usize] {
                    for &corner in triangle {
                        grow(corner, corner);
                    }
                }
            } else {
                let (left, right) = (nodes[index + 1], nodes[node.first as usize]);
                grow(left.min, left.max);
                grow(right.min, right.max);
            }
            nodes[index].min = min;
            nodes[index].max = max;
        }
        Self {
            nodes,
            triangles,
            ids,
        }
    }

    /// Number of triangles.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no triangles.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The nearest point of the mesh to `query`; `None` for a mesh without triangles.
    #[must_use]
    pub fn closest(&self, query: [f64; 3]) -> Option<Closest> {
        self.closest_within(query, f64::INFINITY)
    }

    /// The nearest point no farther than `limit` (inclusive), or `None`.
    #[must_use]
    pub fn closest_within(&self, query: [f64; 3], limit: f64) -> Option<Closest> {
        self.search(query, limit * limit, None)
    }

    /// The nearest point, starting from a guess: the answer of a nearby query. The guess only bounds the
    /// search (queries in spatial order then visit a few nodes each); the answer is the same as [`Self::closest`].
    #[must_use]
    pub fn closest_near(&self, query: [f64; 3], guess: Option<Closest>) -> Option<Closest> {
        let Some(guess) = guess else {
            return self.closest(query);
        };
        let slot = guess.slot as usize;
        if self.ids.get(slot) != Some(&guess.triangle) {
            // A guess from another hierarchy.
            return self.closest(query);
        }
        let point = closest_on_triangle(query, &widen(&self.triangles[slot]));
        self.search(
            query,
            distance2(query, point),
            Some((guess.triangle, slot as u32, point)),
        )
    }

    fn search(
        &self,
        query: [f64; 3],
        limit2: f64,
        start: Option<(u32, u32, [f64; 3])>,
    ) -> Option<Closest> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut best_d2 = limit2;
        let mut best: Option<(u32, u32, [f64; 3])> = start;
        // Median splits keep the depth near log2(n / LEAF_SIZE); the stack holds one entry per level plus one.
        let mut stack = [(0u32, 0.0f64); 80];
        stack[0] = (0, box_distance2(&self.nodes[0], query));
        let mut depth = 1;
        while depth > 0 {
            depth -= 1;
            let (index, d2) = stack[depth];
            if d2 > best_d2 {
                continue;
            }
            let node = self.nodes[index as usize];
            if node.count > 0 {
                let first = node.first as usize;
                for slot in first..first + node.count as usize {
                    let point = closest_on_triangle(query, &widen(&self.triangles[slot]));
                    let e2 = distance2(query, point);
                    let id = self.ids[slot];
                    let better = e2 < best_d2
                        || (e2 == best_d2 && best.is_none_or(|(best_id, _, _)| id < best_id));
                    if better {
                        best_d2 = e2;
                        best = Some((id, slot as u32, point));
                    }
                }
                continue;
            }
            let (left, right) = (index + 1, node.first);
            let dl = box_distance2(&self.nodes[left as usize], query);
            let dr = box_distance2(&self.nodes[right as usize], query);
            // Visit the nearer child first: push it last.
            let (near, far) = if dl <= dr {
                ((left, dl), (right, dr))
            } else {
                ((right, dr), (left, dl))
            };
            if far.1 <= best_d2 {
                stack[depth] = far;
                depth += 1;
            }
            if near.1 <= best_d2 {
                stack[depth] = near;
                depth += 1;
            }
        }
        best.map(|(triangle, slot, point)| Closest {
            distance: best_d2.sqrt(),
            triangle,
            point,
            slot,
        })
    }
}

/// Where a ray first meets a mesh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RayHit {
    /// Ray parameter of the hit: the point is `origin + t * direction`.
    pub t: f64,
    /// Triangle index in the mesh.
    pub triangle: u32,
    /// The hit point, in the mesh's frame.
    pub point: [f64; 3],
}

impl TriangleBvh {
    /// The first triangle a ray meets (`t > 0`, both faces count), or `None`. Ties keep the lower triangle
    /// index. Used for picking surface points: the hit lies exactly on the mesh, so a measurement between
    /// picked points carries only the model's own error.
    #[must_use]
    pub fn ray_hit(&self, origin: [f64; 3], direction: [f64; 3]) -> Option<RayHit> {
        if self.nodes.is_empty() {
            return None;
        }
        let inverse = direction.map(|d| 1.0 / d);
        let mut best: Option<(f64, u32)> = None;
        let mut stack = [0u32; 80];
        let mut depth = 1;
        while depth > 0 {
            depth -= 1;
            let index = stack[depth];
            let node = self.nodes[index as usize];
            let limit = best.map_or(f64::INFINITY, |(t, _)| t);
            if !ray_meets_box(&node, origin, inverse, limit) {
                continue;
            }
            if node.count > 0 {
                let first = node.first as usize;
                for slot in first..first + node.count as usize {
                    if let Some(t) = ray_triangle(origin, direction, &widen(&self.triangles[slot]))
                    {
                        let id = self.ids[slot];
                        let better = best.is_none_or(|(bt, bid)| t < bt || (t == bt && id < bid));
                        if better {
                            best = Some((t, id));
                        }
                    }
                }
                continue;
            }
            // Children: `index + 1` and `first`; the order only affects speed, not the answer.
            stack[depth] = node.first;
            stack[depth + 1] = index + 1;
            depth += 2;
        }
        best.map(|(t, triangle)| RayHit {
            t,
            triangle,
            point: along(origin, direction, t),
        })
    }
}

/// The centroid of each triangle (three indices per triangle into `positions`), in `f64`: where a measurement
/// samples the inside of a triangle.
pub fn triangle_centroids<'a>(
    positions: &'a [[f32; 3]],
    indices: &'a [u32],
) -> impl Iterator<Item = [f64; 3]> + 'a {
    indices.chunks_exact(3).map(|t| {
        let c = [0, 1, 2].map(|k| positions[t[k] as usize].map(f64::from));
        [0, 1, 2].map(|a| (c[0][a] + c[1][a] + c[2][a]) / 3.0)
    })
}

/// The distance from each point to the mesh, in parallel (infinite when the mesh has no triangles).
/// Points in spatial order are fastest: each query starts from the previous one's answer.
#[must_use]
pub fn distances_to(bvh: &TriangleBvh, points: &[[f64; 3]]) -> Vec<f64> {
    let mut out = vec![0.0; points.len()];
    out.par_chunks_mut(1024)
        .zip(points.par_chunks(1024))
        .for_each(|(distances, points)| {
            let mut guess = None;
            for (d, &p) in distances.iter_mut().zip(points) {
                guess = bvh.closest_near(p, guess);
                *d = guess.map_or(f64::INFINITY, |c| c.distance);
            }
        });
    out
}

/// The largest of the distances from `points` to the mesh; 0 without points, infinite when the mesh has
/// no triangles.
#[must_use]
pub fn max_distance_to(bvh: &TriangleBvh, points: &[[f64; 3]]) -> f64 {
    points
        .par_chunks(1024)
        .map(|points| {
            let mut guess = None;
            let mut max = 0.0f64;
            for &p in points {
                guess = bvh.closest_near(p, guess);
                max = max.max(guess.map_or(f64::INFINITY, |c| c.distance));
            }
            max
        })
        .reduce(|| 0.0, f64::max)
}

/// Split `items` (triangle, centroid) at the median centroid along the widest axis of the centroids,
/// recursively; appends nodes (boxes left empty) in depth-first order and returns the subtree's root.
fn partition(items: &mut [(u32, [f32; 3])], offset: usize, nodes: &mut Vec<Node>) -> u32 {
    let index = nodes.len();
    nodes.push(Node {
        min: [0.0; 3],
        max: [0.0; 3],
        first: offset as u32,
        count: items.len() as u32,
    });
    if items.len() <= LEAF_SIZE {
        return index as u32;
    }
    let (mut low, mut high) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for (_, centroid) in items.iter() {
        for a in 0..3 {
            low[a] = low[a].min(centroid[a]);
            high[a] = high[a].max(centroid[a]);
        }
    }
    let axis = (0..3)
        .max_by(|&a, &b| (high[a] - low[a]).total_cmp(&(high[b] - low[b])))
        .unwrap_or(0);
    let middle = items.len() / 2;
    // A total order (centroid, then triangle index) makes the split independent of the input order's ties.
    items.select_nth_unstable_by(middle, |x, y| {
        x.1[axis].total_cmp(&y.1[axis]).then(x.0.cmp(&y.0))
    });
    let (left, right) = items.split_at_mut(middle);
    partition(left, offset, nodes);
    let right = partition(right, offset + middle, nodes);
    nodes[index].first = right;
    nodes[index].count = 0;
    index as u32
}

fn distance2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
}

fn box_distance2(node: &Node, p: [f64; 3]) -> f64 {
    let mut d2 = 0.0;
    for ((&low, &high), &c) in node.min.iter().zip(&node.max).zip(&p) {
        let d = (f64::from(low) - c).max(c - f64::from(high)).max(0.0);
        d2 += d * d;
    }
    d2
}

fn widen(t: &[[f32; 3]; 3]) -> [[f64; 3]; 3] {
    t.map(|c| c.map(f64::from))
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn along(a: [f64; 3], u: [f64; 3], s: f64) -> [f64; 3] {
    [a[0] + u[0] * s, a[1] + u[1] * s, a[2] + u[2] * s]
}

/// Whether the ray meets the box at some `t` in `[0, limit]` (slab test; NaN from 0 × ∞ counts as a meet).
fn ray_meets_box(node: &Node, origin: [f64; 3], inverse: [f64; 3], limit: f64) -> bool {
    let (mut near, mut far) = (0.0f64, limit);
    for a in 0..3 {
        let t1 = (f64::from(node.min[a]) - origin[a]) * inverse[a];
        let t2 = (f64::from(node.max[a]) - origin[a]) * inverse[a];
        let (lo, hi) = if t1 <= t2 { (t1, t2) } else { (t2, t1) };
        // `max`/`min` ignore a NaN operand, so a ray lying in a slab's plane is not rejected.
        near = near.max(lo);
        far = far.min(hi);
    }
    near <= far
}

/// Möller–Trumbore: the ray parameter where the ray crosses triangle `t` (either face), if `t > 0`.
fn ray_triangle(origin: [f64; 3], direction: [f64; 3], t: &[[f64; 3]; 3]) -> Option<f64> {
    let e1 = sub(t[1], t[0]);
    let e2 = sub(t[2], t[0]);
    let p = cross(direction, e2);
    let det = dot(e1, p);
    if det.abs() < 1e-300 {
        return None;
    }
    let s = sub(origin, t[0]);
    let u = dot(s, p) / det;
    if !(0.0..=1.0).contains(&u) {
        return None;
    }
    let q = cross(s, e1);
    let v = dot(direction, q) / det;
    if v < 0.0 || u + v > 1.0 {
        return None;
    }
    let hit = dot(e2, q) / det;
    (hit > 0.0).then_some(hit)
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The point of triangle `t` nearest to `p`, by the Voronoi region of `p` (Ericson 5.1.5).
#[must_use]
pub fn closest_on_triangle(p: [f64; 3], t: &[[f64; 3]; 3]) -> [f64; 3] {
    let [a, b, c] = *t;
    let ab = sub(b, a);
    let ac = sub(c, a);
    let ap = sub(p, a);
    let d1 = dot(ab, ap);
    let d2 = dot(ac, ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return a;
    }
    let bp = sub(p, b);
    let d3 = dot(ab, bp);
    let d4 = dot(ac, bp);
    if d3 >= 0.0 && d4 <= d3 {
        return b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        return along(a, ab, d1 / (d1 - d3));
    }
    let cp = sub(p, c);
    let d5 = dot(ab, cp);
    let d6 = dot(ac, cp);
    if d6 >= 0.0 && d5 <= d6 {
        return c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        return along(a, ac, d2 / (d2 - d6));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        return along(b, sub(c, b), (d4 - d3) / ((d4 - d3) + (d5 - d6)));
    }
    let sum = va + vb + vc;
    if sum <= 0.0 || !sum.is_finite() {
        // Degenerate (zero-area) triangle: the nearest of its three edges.
        return [(a, b), (b, c), (c, a)]
            .into_iter()
            .map(|(s, e)| closest_on_segment(p, s, e))
            .min_by(|x, y| distance2(p, *x).total_cmp(&distance2(p, *y)))
            .unwrap_or(a);
    }
    let v = vb / sum;
    let w = vc / sum;
    [
        a[0] + ab[0] * v + ac[0] * w,
        a[1] + ab[1] * v + ac[1] * w,
        a[2] + ab[2] * v + ac[2] * w,
    ]
}

fn closest_on_segment(p: [f64; 3], s: [f64; 3], e: [f64; 3]) -> [f64; 3] {
    let d = sub(e, s);
    let length2 = dot(d, d);
    if length2 <= 0.0 {
        return s;
    }
    along(s, d, (dot(sub(p, s), d) / length2).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [0, 1).
    fn lcg(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    fn brute_force(positions: &[[f32; 3]], indices: &[u32], p: [f64; 3]) -> (f64, u32) {
        let mut best = (f64::INFINITY, 0);
        for (t, c) in indices.chunks_exact(3).enumerate() {
            let tri = [0, 1, 2].map(|k| positions[c[k] as usize].map(f64::from));
            let d = distance2(p, closest_on_triangle(p, &tri)).sqrt();
            if d < best.0 {
                best = (d, t as u32);
            }
        }
        best
    }

    #[test]
    fn ray_hits_match_brute_force() {
        let mut state = 7;
        let positions: Vec<[f32; 3]> = (0..600)
            .map(|_| [0, 1, 2].map(|_| lcg(&mut state) as f32))
            .collect();
        let indices: Vec<u32> = (0..600).collect();
        let bvh = TriangleBvh::new(&positions, &indices);
        let mut hits = 0;
        for _ in 0..300 {
            let origin = [0, 1, 2].map(|_| lcg(&mut state) * 3.0 - 1.0);
            let target = [0, 1, 2].map(|_| lcg(&mut state));
            let direction = sub(target, origin);
            let mut expected: Option<(f64, u32)> = None;
            for (t, c) in indices.chunks_exact(3).enumerate() {
                let tri = [0, 1, 2].map(|k| positions[c[k] as usize].map(f64::from));
                if let Some(hit) = ray_triangle(origin, direction, &tri)
                    && expected.is_none_or(|(best, _)| hit < best)
                {
                    expected = Some((hit, t as u32));
                }
            }
            let got = bvh.ray_hit(origin, direction).map(|h| (h.t, h.triangle));
            assert_eq!(got, expected);
            hits += usize::from(got.is_some());
        }
        assert!(hits > 50, "only {hits} rays hit");
        // Axis-aligned rays (infinite inverse components) still hit.
        let flat = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let bvh = TriangleBvh::new(&flat, &[0, 1, 2]);
        let hit = bvh.ray_hit([0.25, 0.25, 2.0], [0.0, 0.0, -1.0]).unwrap();
        assert_eq!(hit.point, [0.25, 0.25, 0.0]);
        assert!(bvh.ray_hit([0.25, 0.25, 2.0], [0.0, 0.0, 1.0]).is_none());
    }

    #[test]
    fn closest_point_regions_of_one_triangle() {
        let t = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        // Above the face, beyond each vertex, beyond each edge.
        let above = closest_on_triangle([0.2, 0.3, 5.0], &t);
        assert!(distance2(above, [0.2, 0.3, 0.0]) < 1e-30, "{above:?}");
        assert_eq!(closest_on_triangle([-1.0, -1.0, 0.0], &t), [0.0, 0.0, 0.0]);
        assert_eq!(closest_on_triangle([2.0, -0.5, 1.0], &t), [1.0, 0.0, 0.0]);
        assert_eq!(closest_on_triangle([-0.5, 2.0, 0.0], &t), [0.0, 1.0, 0.0]);
        assert_eq!(closest_on_triangle([0.5, -1.0, 0.0], &t), [0.5, 0.0, 0.0]);
        assert_eq!(closest_on_triangle([-1.0, 0.5, 0.0], &t), [0.0, 0.5, 0.0]);
        assert_eq!(closest_on_triangle([1.0, 1.0, 0.0], &t), [0.5, 0.5, 0.0]);
        // A degenerate triangle (a segment) still answers its nearest point.
        let line = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]];
        assert_eq!(closest_on_triangle([1.5, 1.0, 0.0], &line), [1.5, 0.0, 0.0]);
    }

    #[test]
    fn hierarchy_agrees_with_brute_force() {
        let mut state = 7;
        let mut positions = Vec::new();
        for _ in 0..600 {
            positions.push([0, 1, 2].map(|_| lcg(&mut state) as f32));
        }
        let indices: Vec<u32> = (0..1500)
            .flat_map(|_| [0, 1, 2].map(|_| (lcg(&mut state) * 600.0) as u32))
            .collect();
        let bvh = TriangleBvh::new(&positions, &indices);
        assert_eq!(bvh.len(), 1500);
        let mut guess = None;
        for _ in 0..400 {
            let p = [0, 1, 2].map(|_| lcg(&mut state) * 1.6 - 0.3);
            let (d, t) = brute_force(&positions, &indices, p);
            let got = bvh.closest(p).expect("the mesh has triangles");
            assert!((got.distance - d).abs() < 1e-12, "{} vs {d}", got.distance);
            assert_eq!(got.triangle, t);
            assert!((distance2(p, got.point).sqrt() - d).abs() < 1e-12);
            // Starting from any earlier answer gives the same answer.
            let near = bvh.closest_near(p, guess).expect("the mesh has triangles");
            assert_eq!((near.triangle, near.point), (got.triangle, got.point));
            guess = Some(got);
        }
        assert!(bvh.closest_within([5.0, 5.0, 5.0], 1.0).is_none());
        assert!(
            TriangleBvh::new(&positions, &[])
                .closest([0.0; 3])
                .is_none()
        );
        let far = [[5.0, 5.0, 5.0], [0.5, 0.5, 0.5]];
        let expected = brute_force(&positions, &indices, far[0]).0;
        assert!((max_distance_to(&bvh, &far) - expected).abs() < 1e-12);
    }
}
