//! Nearest neighbours among points through a uniform grid of buckets: points are sorted by cell, and a
//! query visits cells in growing shells until no unvisited cell can hold a closer point. Deterministic
//! (ties broken by point index) and allocation-free per query.

#![allow(
    clippy::cast_possible_wrap,
    reason = "grid coordinates and node counts stay far below 2^62"
)]

/// Points bucketed by a uniform grid.
#[derive(Debug)]
pub struct PointGrid<'a> {
    points: &'a [[f32; 3]],
    min: [f32; 3],
    cell: f32,
    dims: [usize; 3],
    /// `start[c]..start[c + 1]` are the positions in `order` of the points in cell `c`.
    start: Vec<u32>,
    order: Vec<u32>,
}

impl<'a> PointGrid<'a> {
    /// A grid of about one cell per point, each a cube; `points` must be finite.
    #[must_use]
    pub fn new(points: &'a [[f32; 3]]) -> Self {
        let mut min = [f32::INFINITY; 3];
        let mut max = [f32::NEG_INFINITY; 3];
        for p in points {
            for a in 0..3 {
                min[a] = min[a].min(p[a]);
                max[a] = max[a].max(p[a]);
            }
        }
        if points.is_empty() {
            min = [0.0; 3];
            max = [0.0; 3];
        }
        let extent = [0, 1, 2].map(|a| f64::from(max[a] - min[a]).max(1e-9));
        let n = points.len().max(1) as f64;
        let volume = extent[0] * extent[1] * extent[2];
        let largest = extent.iter().copied().fold(0.0, f64::max);
        // A first guess of one cell per point over the volume; scans are surfaces, which then put many
        // points in each occupied cell, so the cell shrinks as a surface's density would ask (square
        // root), to at most eight cells per point overall.
        let floor = (volume / (8.0 * n)).cbrt().max(largest / 4096.0);
        let first = (volume / n).cbrt().max(floor);
        let grid = Self::with_cell(points, min, extent, first as f32);
        let occupied = grid.start.windows(2).filter(|w| w[1] > w[0]).count().max(1);
        let per_cell = n / occupied as f64;
        if per_cell <= 6.0 {
            return grid;
        }
        let better = (first * (3.0 / per_cell).sqrt()).max(floor);
        Self::with_cell(points, min, extent, better as f32)
    }

    fn with_cell(points: &'a [[f32; 3]], min: [f32; 3], extent: [f64; 3], cell: f32) -> Self {
        let dims = [0, 1, 2].map(|a| ((extent[a] / f64::from(cell)) as usize + 1).min(1 << 12));
        let mut grid = Self {
            points,
            min,
            cell,
            dims,
            start: Vec::new(),
            order: Vec::new(),
        };
        let cells = dims[0] * dims[1] * dims[2];
        let mut count = vec![0u32; cells + 1];
        let keys: Vec<usize> = points.iter().map(|p| grid.cell_of(*p)).collect();
        for &k in &keys {
            count[k + 1] += 1;
        }
        for c in 0..cells {
            count[c + 1] += count[c];
        }
        let mut next = count.clone();
        let mut order = vec![0u32; points.len()];
        for (i, &k) in keys.iter().enumerate() {
            order[next[k] as usize] = i as u32;
            next[k] += 1;
        }
        grid.start = count;
        grid.order = order;
        grid
    }

    fn coords(&self, p: [f32; 3]) -> [usize; 3] {
        [0, 1, 2]
            .map(|a| (((p[a] - self.min[a]) / self.cell).max(0.0) as usize).min(self.dims[a] - 1))
    }

    fn cell_of(&self, p: [f32; 3]) -> usize {
        let c = self.coords(p);
        (c[2] * self.dims[1] + c[1]) * self.dims[0] + c[0]
    }

    /// The `k` nearest points to `query` (excluding none), nearest first, as (squared distance, index);
    /// `out` is cleared and reused.
    pub fn knn(&self, query: [f32; 3], k: usize, out: &mut Vec<(f32, u32)>) {
        out.clear();
        if self.points.is_empty() || k == 0 {
            return;
        }
        let centre = self.coords(query);
        let max_ring = self.dims.iter().copied().max().unwrap_or(1);
        for ring in 0..=max_ring {
            self.visit_shell(centre, ring, |i| {
                let p = self.points[i as usize];
                let d = (0..3).map(|a| (p[a] - query[a]).powi(2)).sum::<f32>();
                if out.len() < k || (d, i) < out[out.len() - 1] {
                    let at = out.partition_point(|e| *e < (d, i));
                    out.insert(at, (d, i));
                    out.truncate(k);
                }
            });
            // Every point outside the visited cube is at least `ring` cells away along some axis.
            let reach = ring as f32 * self.cell;
            if out.len() == k && out[k - 1].0 <= reach * reach {
                break;
            }
        }
    }

    /// The median distance from a point to its nearest other point: the cloud's typical spacing.
    #[must_use]
    pub fn median_spacing(&self) -> f64 {
        use rayon::prelude::*;
        let nearest: Vec<f32> = self
            .points
            .par_iter()
            .with_min_len(1024)
            .map_init(Vec::new, |scratch, &p| {
                self.knn(p, 2, scratch);
                scratch.get(1).map_or(0.0, |e| e.0.sqrt())
            })
            .collect();
        f64::from(median(nearest))
    }

    /// Distance to the nearest point within `radius`, if any.
    #[must_use]
    pub fn nearest_within(&self, query: [f32; 3], radius: f32) -> Option<(f32, u32)> {
        let mut best: Option<(f32, u32)> = None;
        let centre = self.coords(query);
        let widest = self.dims.iter().copied().max().unwrap_or(1);
        let rings = ((radius / self.cell).ceil() as usize)
            .saturating_add(1)
            .min(widest);
        for ring in 0..=rings {
            self.visit_shell(centre, ring, |i| {
                let p = self.points[i as usize];
                let d = (0..3).map(|a| (p[a] - query[a]).powi(2)).sum::<f32>();
                if d <= radius * radius && best.is_none_or(|b| (d, i) < b) {
                    best = Some((d, i));
                }
            });
            let reach = ring as f32 * self.cell;
            if best.is_some_and(|b| b.0 <= reach * reach) {
                break;
            }
        }
        best.map(|(d, i)| (d.sqrt(), i))
    }

    /// Call `visit` for every point in the cells at Chebyshev distance `ring` from `centre`.
    fn visit_shell(&self, centre: [usize; 3], ring: usize, mut visit: impl FnMut(u32)) {
        let r = ring as isize;
        let c = centre.map(|v| v as isize);
        let range = |a: usize| (c[a] - r).max(0)..=(c[a] + r).min(self.dims[a] as isize - 1);
        for z in range(2) {
            for y in range(1) {
                let inner = (z - c[2]).abs() < r && (y - c[1]).abs() < r;
                for x in range(0) {
                    // Inside the shell's faces only the two end cells of the row are on the shell.
                    if inner && (x - c[0]).abs() < r {
                        continue;
                    }
                    let cell = (z as usize * self.dims[1] + y as usize) * self.dims[0] + x as usize;
                    for &i in &self.order[self.start[cell] as usize..self.start[cell + 1] as usize]
                    {
                        visit(i);
                    }
                }
            }
        }
    }
}

/// The middle value (the upper one of an even count); 0 for none.
pub(crate) fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    *values.select_nth_unstable_by(mid, f32::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_matches_brute_force() {
        let points: Vec<[f32; 3]> = (0..3000)
            .map(|i| {
                let t = i as f32 * 0.37;
                [t.sin() * 2.0, (t * 1.3).cos(), (t * 0.01).sin() * 0.5]
            })
            .collect();
        let grid = PointGrid::new(&points);
        let mut out = Vec::new();
        for q in [[0.0, 0.0, 0.0], [1.5, -0.5, 0.2], [5.0, 5.0, 5.0]] {
            grid.knn(q, 10, &mut out);
            let mut brute: Vec<(f32, u32)> = points
                .iter()
                .enumerate()
                .map(|(i, p)| ((0..3).map(|a| (p[a] - q[a]).powi(2)).sum(), i as u32))
                .collect();
            brute.sort_by(|a, b| a.partial_cmp(b).unwrap());
            brute.truncate(10);
            assert_eq!(out, brute);
            let nearest = grid.nearest_within(q, 100.0).unwrap();
            assert_eq!(nearest.1, brute[0].1);
        }
        assert!(grid.nearest_within([50.0, 0.0, 0.0], 1.0).is_none());
    }
}
