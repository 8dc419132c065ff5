//! Screened Poisson surface reconstruction (Kazhdan & Hoppe 2013) on a sparse hierarchy of grids.
//!
//! The indicator function χ (negative inside, positive outside, zero on the surface) minimizes
//! `∫|∇χ − V|² + α·Σᵢ aᵢ χ(pᵢ)²`, where V is the oriented points' normal field and the second term
//! (screening) pulls the zero level set through the points. It is discretized with trilinear elements
//! on grids of `2^d` nodes per axis over a cube around the points and solved coarse to fine (cascadic):
//! the coarsest grid is solved whole, each finer grid only in blocks of 8³ nodes near the points, with
//! the coarser solution as the initial guess and as fixed values just outside its blocks. Conjugate
//! gradients with a Jacobi preconditioner; every reduction is summed in a fixed order, so the result
//! does not depend on the number of threads.

#![allow(
    clippy::cast_possible_wrap,
    clippy::needless_range_loop,
    reason = "grid coordinates and node counts stay far below 2^62; axis loops index several arrays at once, like the formulas"
)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

/// A multiply-rotate hash (as in rustc's `FxHash`) for grid keys: the maps here are hot and their keys
/// are small integers from the program itself, never from an adversary.
#[derive(Default, Clone, Copy)]
struct GridHasher(u64);

impl Hasher for GridHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, value: i64) {
        self.write_u64(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type GridMap<K, V> = HashMap<K, V, BuildHasherDefault<GridHasher>>;

/// Nodes per block edge.
const B: i64 = 4;
const BLOCK_NODES: usize = (B * B * B) as usize;

/// Coarser nodes per axis around a block: its B/2 cells and one more.
const GATHER: i64 = B / 2 + 1;

/// Neighbour slots of a block face: none (the domain ends: no edge) or fixed values (a coarser solution).
const DOMAIN: u32 = u32::MAX;
const FIXED: u32 = u32::MAX - 1;

/// Reconstruction parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct PoissonOptions {
    /// Finest grid: `2^depth` nodes per axis over the cube around the points.
    pub depth: u32,
    /// Screening weight α (Kazhdan & Hoppe use 4; Open3D 2).
    pub screening: f64,
    /// Nodes kept on each side of the points on the grids finer than the coarsest.
    pub band: i64,
    /// Conjugate-gradient iterations per level at most (the coarsest gets four times as many).
    pub iterations: usize,
}

impl Default for PoissonOptions {
    fn default() -> Self {
        Self {
            depth: 8,
            screening: 4.0,
            // Measured on the bunny (benches/README.md): a band of 2 and 25 iterations give the same Chamfer
            // distance as 4 and 60, in less than half the time.
            band: 2,
            iterations: 25,
        }
    }
}

/// The cube the grids cover: `world = origin + size · u` for `u` in `[0, 1)³`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub origin: [f64; 3],
    pub size: f64,
}

impl Frame {
    /// The cube around `points`, 1.1 times their largest extent, centred on them.
    #[must_use]
    pub fn around(points: &[[f32; 3]]) -> Self {
        let mut min = [f64::INFINITY; 3];
        let mut max = [f64::NEG_INFINITY; 3];
        for p in points {
            for a in 0..3 {
                min[a] = min[a].min(f64::from(p[a]));
                max[a] = max[a].max(f64::from(p[a]));
            }
        }
        let extent = (0..3)
            .map(|a| max[a] - min[a])
            .fold(0.0, f64::max)
            .max(1e-6);
        let size = extent * 1.1;
        let origin = [0, 1, 2].map(|a| 0.5 * (min[a] + max[a]) - 0.5 * size);
        Self { origin, size }
    }

    fn unit(&self, p: [f32; 3]) -> [f64; 3] {
        [0, 1, 2].map(|a| (f64::from(p[a]) - self.origin[a]) / self.size)
    }
}

/// One grid: the blocks it holds and χ at their nodes.
#[derive(Debug)]
struct Level {
    /// Nodes per axis.
    n: i64,
    blocks: Vec<[i64; 3]>,
    index: GridMap<[i64; 3], u32>,
    /// Per block, the block across each face (−x, +x, −y, +y, −z, +z), `DOMAIN` or `FIXED`.
    neighbours: Vec<[u32; 6]>,
    values: Vec<f64>,
}

impl Level {
    fn node_index(&self, g: [i64; 3]) -> Option<usize> {
        let block = g.map(|c| c.div_euclid(B));
        let b = *self.index.get(&block)? as usize;
        let l = g.map(|c| c.rem_euclid(B));
        Some(b * BLOCK_NODES + local(l))
    }

    /// χ at unit position `u` by trilinear interpolation, when all eight nodes are on this grid.
    fn value_at(&self, u: [f64; 3]) -> Option<f64> {
        let s = u.map(|c| c * self.n as f64);
        let base = s.map(|c| c.floor() as i64);
        let f = [0, 1, 2].map(|a| s[a] - base[a] as f64);
        let mut value = 0.0;
        for corner in 0..8 {
            let d = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
            let g = [0, 1, 2].map(|a| base[a] + d[a]);
            let w: f64 = (0..3)
                .map(|a| if d[a] == 1 { f[a] } else { 1.0 - f[a] })
                .product();
            if w == 0.0 {
                continue;
            }
            value += w * self.values[self.node_index(g)?];
        }
        Some(value)
    }
}

fn local(l: [i64; 3]) -> usize {
    ((l[2] * B + l[1]) * B + l[0]) as usize
}

/// The reconstructed indicator function.
#[derive(Debug)]
pub struct Implicit {
    pub frame: Frame,
    levels: Vec<Level>,
    /// The level set through the points: the mean of χ at them, each point counted once.
    pub iso: f64,
    /// Conjugate-gradient iterations run per level, and the final relative residual.
    pub solve: Vec<(u32, usize, f64)>,
}

impl Implicit {
    fn value_unit(&self, u: [f64; 3], below: usize) -> f64 {
        self.levels[..below]
            .iter()
            .rev()
            .find_map(|l| l.value_at(u))
            .unwrap_or(0.0)
    }
}

/// A point's eight nodes on a grid and their trilinear weights.
type Stencil = ([usize; 8], [f64; 8]);

/// A point's screening stencil as the solve keeps it: node numbers as u32, trilinear weights, and the
/// point's weight α·a/h.
type ScreeningStencil = (([u32; 8], [f64; 8]), f64);

fn stencil(level: &Level, u: [f64; 3], shift: [f64; 3]) -> Option<Stencil> {
    let s = [0, 1, 2].map(|a| u[a] * level.n as f64 - shift[a]);
    let base = s.map(|c| c.floor() as i64);
    let f = [0, 1, 2].map(|a| s[a] - base[a] as f64);
    let mut nodes = [0usize; 8];
    let mut weights = [0.0; 8];
    for corner in 0..8 {
        let d = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
        nodes[corner as usize] = level.node_index([0, 1, 2].map(|a| base[a] + d[a]))?;
        weights[corner as usize] = (0..3)
            .map(|a| if d[a] == 1 { f[a] } else { 1.0 - f[a] })
            .product();
    }
    Some((nodes, weights))
}

/// A point's 27 nearest nodes and their quadratic B-spline weights, or `None` when one of them is not on the
/// grid. Splatting the normal field this way instead of trilinearly (8 nodes, a kinked kernel) gave a smoother
/// indicator and better surfaces in every benchmark cell (real scans depth 8: Chamfer 3.65 -> 3.49; bunny 200k
/// depth 9: 3.00 -> 2.75), closer to the B-spline basis of `PoissonRecon`.
fn smooth_stencil(level: &Level, u: [f64; 3], shift: [f64; 3]) -> Option<([usize; 27], [f64; 27])> {
    let s = [0, 1, 2].map(|a| u[a] * level.n as f64 - shift[a]);
    let centre = s.map(|c| c.round() as i64);
    let f = [0, 1, 2].map(|a| s[a] - centre[a] as f64);
    let weight = |d: i64, f: f64| match d {
        -1 => 0.5 * (0.5 - f) * (0.5 - f),
        0 => 0.75 - f * f,
        _ => 0.5 * (0.5 + f) * (0.5 + f),
    };
    let mut nodes = [0usize; 27];
    let mut weights = [0.0; 27];
    for k in 0..27i64 {
        let d = [k % 3 - 1, k / 3 % 3 - 1, k / 9 - 1];
        nodes[k as usize] = level.node_index([0, 1, 2].map(|a| centre[a] + d[a]))?;
        weights[k as usize] = (0..3).map(|a| weight(d[a], f[a])).product();
    }
    Some((nodes, weights))
}

/// Sum in a fixed order whatever the thread count: fixed-size chunks, summed in parallel, then in order.
fn ordered_sum(values: impl IndexedParallelIterator<Item = f64>) -> f64 {
    let partial: Vec<f64> = values
        .chunks(4096)
        .map(|chunk| chunk.iter().sum::<f64>())
        .collect();
    partial.iter().sum()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    ordered_sum(a.par_iter().zip(b).map(|(x, y)| x * y))
}

/// Reconstruct χ from oriented points; `areas` is the surface area each point stands for (any common
/// scale: only ratios matter).
#[must_use]
pub fn reconstruct(
    points: &[[f32; 3]],
    normals: &[[f32; 3]],
    areas: &[f64],
    options: &PoissonOptions,
) -> Implicit {
    let frame = Frame::around(points);
    // Areas in the unit cube's measure.
    let scale = frame.size * frame.size;
    let samples: Vec<Sample> = points
        .par_iter()
        .zip(normals)
        .zip(areas)
        .map(|((&p, n), &a)| Sample {
            u: frame.unit(p),
            normal_area: n.map(|c| f64::from(c) * a / scale),
            area: a / scale,
            count: 1.0,
        })
        .collect();
    let coarse = 5.min(options.depth);
    // The samples of each level: the points merged per cell of that level, finest first.
    let mut per_level = vec![cluster(&samples, 1 << options.depth)];
    drop(samples);
    for depth in (coarse..options.depth).rev() {
        let finer = per_level.last().map(Vec::as_slice).unwrap_or_default();
        per_level.push(cluster(finer, 1 << depth));
    }
    per_level.reverse();
    let mut implicit = Implicit {
        frame,
        levels: Vec::new(),
        iso: 0.0,
        solve: Vec::new(),
    };
    for depth in coarse..=options.depth {
        let t0 = std::time::Instant::now();
        let samples = &per_level[(depth - coarse) as usize];
        let mut level = build_level(depth, samples, options.band, depth == coarse);
        let t_build = t0.elapsed();
        let (iterations, residual) =
            solve_level(&mut level, &implicit, samples, options, depth == coarse);
        implicit.solve.push((depth, iterations, residual));
        if std::env::var_os("EXHIBIT_TRACE").is_some() {
            // Timings for whoever tunes the solver; never written into a model.
            #[allow(clippy::print_stderr, reason = "opt-in trace")]
            {
                eprintln!(
                    "level {depth}: {} nodes, build {t_build:?}, total {:?}",
                    level.values.len(),
                    t0.elapsed()
                );
            }
        }
        implicit.levels.push(level);
    }
    let finest = implicit.levels.len();
    let (sum, weight) = per_level
        .last()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        // Each point counts once (an isolated point's large area must not move the level set).
        .map(|s| (implicit.value_unit(s.u, finest), s.count))
        .fold((0.0, 0.0), |(sum, w), (v, a)| (sum + v * a, w + a));
    implicit.iso = if weight > 0.0 { sum / weight } else { 0.0 };
    implicit
}

/// Points merged per grid cell (Kazhdan & Hoppe cluster samples the same way): the area-weighted mean
/// position, the summed area-weighted normal and the summed area. Sorted by cell, merged in index order
/// within a cell, so the sums do not depend on threads.
#[derive(Clone, Copy, Debug)]
struct Sample {
    u: [f64; 3],
    normal_area: [f64; 3],
    area: f64,
    /// Points merged into it.
    count: f64,
}

fn cluster(samples: &[Sample], n: i64) -> Vec<Sample> {
    let mut keyed: Vec<([i64; 3], u32)> = samples
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let c = s.u.map(|c| (c * n as f64).floor() as i64);
            ([c[2], c[1], c[0]], i as u32)
        })
        .collect();
    keyed.par_sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    while start < keyed.len() {
        let mut end = start + 1;
        while end < keyed.len() && keyed[end].0 == keyed[start].0 {
            end += 1;
        }
        let mut merged = Sample {
            u: [0.0; 3],
            normal_area: [0.0; 3],
            area: 0.0,
            count: 0.0,
        };
        for &(_, i) in &keyed[start..end] {
            let s = samples[i as usize];
            for a in 0..3 {
                merged.u[a] += s.u[a] * s.area;
                merged.normal_area[a] += s.normal_area[a];
            }
            merged.area += s.area;
            merged.count += s.count;
        }
        if merged.area > 0.0 {
            merged.u = merged.u.map(|c| c / merged.area);
        } else {
            merged.u = samples[keyed[start].1 as usize].u;
        }
        out.push(merged);
        start = end;
    }
    out
}

fn build_level(depth: u32, samples: &[Sample], band: i64, whole: bool) -> Level {
    let n = 1i64 << depth;
    let per_axis = (n / B).max(1);
    let mut keys: Vec<[i64; 3]> = if whole {
        (0..per_axis)
            .flat_map(|z| (0..per_axis).flat_map(move |y| (0..per_axis).map(move |x| [x, y, z])))
            .collect()
    } else {
        let mut cells: Vec<[i64; 3]> = samples
            .iter()
            .map(|s| s.u.map(|c| (c * n as f64).floor() as i64))
            .collect();
        cells.sort_unstable();
        cells.dedup();
        let mut keys = Vec::new();
        for c in cells {
            let lo = c.map(|v| (v - band).div_euclid(B).max(0));
            let hi = c.map(|v| (v + band + 1).div_euclid(B).min(per_axis - 1));
            for z in lo[2]..=hi[2] {
                for y in lo[1]..=hi[1] {
                    for x in lo[0]..=hi[0] {
                        keys.push([x, y, z]);
                    }
                }
            }
        }
        keys
    };
    // Sorted by z, then y, then x: the order everything later iterates in.
    keys.sort_unstable_by_key(|k| [k[2], k[1], k[0]]);
    keys.dedup();
    let index: GridMap<[i64; 3], u32> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i as u32))
        .collect();
    let neighbours = keys
        .iter()
        .map(|k| {
            let mut slots = [DOMAIN; 6];
            for (face, slot) in slots.iter_mut().enumerate() {
                let mut other = *k;
                other[face / 2] += if face % 2 == 0 { -1 } else { 1 };
                if other.iter().all(|&c| (0..per_axis).contains(&c)) {
                    *slot = index.get(&other).copied().unwrap_or(FIXED);
                }
            }
            slots
        })
        .collect();
    let values = vec![0.0; keys.len() * BLOCK_NODES];
    Level {
        n,
        blocks: keys,
        index,
        neighbours,
        values,
    }
}

/// No neighbour node on this side (the domain ends, or the value is fixed and folded into `fixed`).
const NO_NODE: u32 = u32::MAX;

/// The node across `face` (−x, +x, −y, +y, −z, +z) of node `b * BLOCK_NODES + local(l)`, or `NO_NODE` when the
/// domain ends there or the value across is fixed (folded into the right-hand side). Computed, not stored:
/// a stored table took 24 bytes per node, the largest array of a depth-9 solve.
#[inline]
fn neighbour(level: &Level, b: usize, l: [i64; 3], face: usize) -> u32 {
    let axis = face / 2;
    let step = if face.is_multiple_of(2) { -1 } else { 1 };
    let mut m = l;
    m[axis] += step;
    if (0..B).contains(&m[axis]) {
        return (b * BLOCK_NODES + local(m)) as u32;
    }
    match level.neighbours[b][face] {
        DOMAIN | FIXED => NO_NODE,
        other => {
            m[axis] -= step * B;
            (other as usize * BLOCK_NODES + local(m)) as u32
        }
    }
}

/// Block-local coordinates of a node's index within its block.
#[inline]
fn block_coords(i: usize) -> [i64; 3] {
    let i = i as i64;
    [i % B, i / B % B, i / (B * B)]
}

/// For each node, its number of edges (the graph Laplacian's diagonal), and the sum of the fixed values
/// across its edges into the coarser solution (needed only for the right-hand side, so kept apart and
/// dropped after it).
fn graph(level: &Level, coarser: &Implicit, below: usize) -> (Vec<f32>, Vec<f64>) {
    let n = level.n as f64;
    level
        .blocks
        .par_iter()
        .enumerate()
        .flat_map_iter(|(b, key)| {
            let slots = level.neighbours[b];
            (0..BLOCK_NODES).map(move |i| {
                let l = block_coords(i);
                let (mut degree, mut fixed) = (0.0f32, 0.0);
                for face in 0..6usize {
                    let axis = face / 2;
                    let step = if face.is_multiple_of(2) { -1 } else { 1 };
                    let mut m = l;
                    m[axis] += step;
                    if (0..B).contains(&m[axis]) {
                        degree += 1.0;
                        continue;
                    }
                    match slots[face] {
                        DOMAIN => {}
                        FIXED => {
                            let g = [0, 1, 2].map(|a| key[a] * B + m[a]);
                            fixed += coarser.value_unit(g.map(|c| c as f64 / n), below);
                            degree += 1.0;
                        }
                        _ => degree += 1.0,
                    }
                }
                (degree, fixed)
            })
        })
        .unzip()
}

/// The coarser solution at every node of `level`: per block, the (B/2 + 1)³ coarser nodes around it are
/// looked up once and interpolated (when the coarser grid is exactly one level up; otherwise point by point).
fn prolong(level: &Level, coarser: &Implicit, below: usize) -> Vec<f64> {
    let n = level.n as f64;
    let parent = below.checked_sub(1).map(|i| &coarser.levels[i]);
    level
        .blocks
        .par_iter()
        .flat_map_iter(|key| {
            let mut values = vec![0.0; BLOCK_NODES];
            let gathered: Option<Vec<f64>> = parent.filter(|p| p.n * 2 == level.n).and_then(|p| {
                let base = key.map(|c| c * B / 2);
                let mut out = Vec::with_capacity(GATHER.pow(3) as usize);
                for z in 0..GATHER {
                    for y in 0..GATHER {
                        for x in 0..GATHER {
                            out.push(
                                p.values[p.node_index([base[0] + x, base[1] + y, base[2] + z])?],
                            );
                        }
                    }
                }
                Some(out)
            });
            for (i, value) in values.iter_mut().enumerate() {
                let l = [i as i64 % B, i as i64 / B % B, i as i64 / (B * B)];
                *value = if let Some(g) = &gathered {
                    {
                        // Fine node l sits at coarse position l / 2 within the gathered cube.
                        let mut v = 0.0;
                        for corner in 0..8usize {
                            let d = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1]
                                .map(|c| c as i64);
                            let w: f64 = (0..3)
                                .map(|a| {
                                    let half = l[a] % 2 == 1;
                                    match (half, d[a]) {
                                        (false, 0) => 1.0,
                                        (false, _) => 0.0,
                                        _ => 0.5,
                                    }
                                })
                                .product();
                            if w > 0.0 {
                                let c = [0, 1, 2].map(|a| l[a] / 2 + d[a]);
                                v += w * g[((c[2] * GATHER + c[1]) * GATHER + c[0]) as usize];
                            }
                        }
                        v
                    }
                } else {
                    let u = [0, 1, 2].map(|a| (key[a] * B + l[a]) as f64 / n);
                    coarser.value_unit(u, below)
                };
            }
            values
        })
        .collect()
}

#[allow(
    clippy::too_many_lines,
    reason = "one solve: set-up, right-hand side and conjugate gradients"
)]
fn solve_level(
    level: &mut Level,
    coarser: &Implicit,
    samples: &[Sample],
    options: &PoissonOptions,
    whole: bool,
) -> (usize, f64) {
    let below = coarser.levels.len();
    let nodes = level.values.len();
    let h = 1.0 / level.n as f64;
    let (degrees, fixed) = graph(level, coarser, below);
    // The normal field on the edges, times h: F_a[m] for the edge from node m to m + â.
    // f32 is plenty for a sum of a few splats per edge, and halves the largest temporary arrays.
    let mut field = [
        vec![0.0f32; nodes],
        vec![0.0f32; nodes],
        vec![0.0f32; nodes],
    ];
    for sample in samples {
        for (axis, f) in field.iter_mut().enumerate() {
            let mut shift = [0.0; 3];
            shift[axis] = 0.5;
            let amount = sample.normal_area[axis] / (h * h);
            if let Some((edges, weights)) = smooth_stencil(level, sample.u, shift) {
                for (e, w) in edges.iter().zip(weights) {
                    f[*e] += (amount * w) as f32;
                }
            } else if let Some((edges, weights)) = stencil(level, sample.u, shift) {
                for (e, w) in edges.iter().zip(weights) {
                    f[*e] += (amount * w) as f32;
                }
            }
        }
    }
    // Screening: each point's stencil on the nodes and its weight α·a/h.
    // Node numbers as u32 (a level holds far fewer than 2^32 nodes): the stencils are one of the solve's
    // larger arrays.
    let screening: Vec<ScreeningStencil> = samples
        .par_iter()
        .filter_map(|sample| {
            stencil(level, sample.u, [0.0; 3]).map(|(nodes, weights)| {
                (
                    (nodes.map(|n| n as u32), weights),
                    options.screening * sample.area / h,
                )
            })
        })
        .collect();
    // Right-hand side: the divergence of the field, plus the fixed neighbours' values.
    let rhs: Vec<f64> = (0..nodes)
        .into_par_iter()
        .map(|i| {
            let mut b = fixed[i];
            let (block, l) = (i / BLOCK_NODES, block_coords(i % BLOCK_NODES));
            for axis in 0..3 {
                let before = neighbour(level, block, l, 2 * axis);
                if before != NO_NODE {
                    b += f64::from(field[axis][before as usize]);
                }
                b -= f64::from(field[axis][i]);
            }
            b
        })
        .collect();
    drop(field);
    drop(fixed);
    let mut diagonal_sums: Vec<f64> = degrees.iter().map(|&d| f64::from(d)).collect();
    for ((stencil_nodes, weights), s) in &screening {
        for (node, w) in stencil_nodes.iter().zip(weights) {
            diagonal_sums[*node as usize] += s * w * w;
        }
    }
    // The preconditioner needs no more than f32, and it lives through the whole solve.
    let diagonal: Vec<f32> = diagonal_sums.iter().map(|&d| d as f32).collect();
    drop(diagonal_sums);
    let mut at_points = vec![0.0; screening.len()];
    let mut apply = |x: &[f64], out: &mut Vec<f64>| {
        out.par_chunks_mut(BLOCK_NODES)
            .enumerate()
            .for_each(|(block, outs)| {
                for (k, o) in outs.iter_mut().enumerate() {
                    let i = block * BLOCK_NODES + k;
                    let l = block_coords(k);
                    let mut v = f64::from(degrees[i]) * x[i];
                    for face in 0..6 {
                        let m = neighbour(level, block, l, face);
                        if m != NO_NODE {
                            v -= x[m as usize];
                        }
                    }
                    *o = v;
                }
            });
        at_points
            .par_iter_mut()
            .zip(&screening)
            .for_each(|(at, ((stencil_nodes, weights), s))| {
                *at = s * stencil_nodes
                    .iter()
                    .zip(weights)
                    .map(|(n, w)| x[*n as usize] * w)
                    .sum::<f64>();
            });
        // Scattered in point order: the same sums whatever the thread count.
        for (((stencil_nodes, weights), _), at) in screening.iter().zip(&at_points) {
            for (node, w) in stencil_nodes.iter().zip(weights) {
                out[*node as usize] += w * at;
            }
        }
    };
    // Initial guess: the coarser solution.
    let mut x: Vec<f64> = if whole {
        vec![0.0; nodes]
    } else {
        prolong(level, coarser, below)
    };
    let mut ax = vec![0.0; nodes];
    apply(&x, &mut ax);
    let mut r: Vec<f64> = rhs.par_iter().zip(&ax).map(|(b, a)| b - a).collect();
    let norm_b = dot(&rhs, &rhs).sqrt().max(f64::MIN_POSITIVE);
    drop(rhs);
    // The preconditioned residual z = r / diagonal is never stored: it is formed where it is used.
    let precondition_dot = |r: &[f64]| {
        ordered_sum(
            r.par_iter()
                .zip(&diagonal)
                .map(|(r, &d)| r * r / f64::from(d)),
        )
    };
    let mut p: Vec<f64> = r
        .par_iter()
        .zip(&diagonal)
        .map(|(r, &d)| r / f64::from(d))
        .collect();
    let mut rz = precondition_dot(&r);
    let limit = if whole {
        options.iterations * 4
    } else {
        options.iterations
    };
    let tolerance = if whole { 1e-7 } else { 1e-5 };
    let mut done = 0;
    let mut residual = dot(&r, &r).sqrt() / norm_b;
    while done < limit && residual > tolerance {
        apply(&p, &mut ax);
        let pap = dot(&p, &ax);
        if pap <= 0.0 {
            break;
        }
        let alpha = rz / pap;
        x.par_iter_mut().zip(&p).for_each(|(x, p)| *x += alpha * p);
        r.par_iter_mut().zip(&ax).for_each(|(r, a)| *r -= alpha * a);
        let rz_next = precondition_dot(&r);
        let beta = rz_next / rz;
        rz = rz_next;
        p.par_iter_mut()
            .zip(&r)
            .zip(&diagonal)
            .for_each(|((p, r), &d)| *p = r / f64::from(d) + beta * *p);
        done += 1;
        residual = dot(&r, &r).sqrt() / norm_b;
    }
    level.values = x;
    (done, residual)
}

/// A triangle mesh in world coordinates (the frame of the points).
#[derive(Debug, Default)]
pub struct Surface {
    pub positions: Vec<[f64; 3]>,
    pub indices: Vec<u32>,
}

/// The six tetrahedra of a cube around its main diagonal (corners numbered x + 2y + 4z); every cube
/// splits its faces the same way, so neighbouring cubes share their triangles' edges and the surface has
/// no cracks.
const TETRAHEDRA: [[usize; 4]; 6] = [
    [0, 1, 3, 7],
    [0, 3, 2, 7],
    [0, 2, 6, 7],
    [0, 6, 4, 7],
    [0, 4, 5, 7],
    [0, 5, 1, 7],
];

/// Blocks whose cells are cut in parallel before their vertices are numbered in order.
const EXTRACT_BATCH_BLOCKS: usize = 4096;

/// One grid edge, by the packed coordinates of its two nodes (smaller first).
type EdgeKey = (u64, u64);

/// The cut of one block's cells: the vertices they ask for (a vertex is a grid edge, asked for again by
/// every tetrahedron that crosses it), each once, in the order first asked, and the triangles as positions
/// in that list.
#[derive(Default)]
struct BlockCut {
    edges: Vec<(EdgeKey, [f64; 3])>,
    triangles: Vec<[u32; 3]>,
}

/// The level set `χ = iso` on the finest grid, by marching tetrahedra, over the cells whose eight corners
/// are all on it. Triangles face the outside (increasing χ). Blocks are cut in parallel, then their
/// vertices numbered in block order, first come first numbered: the same mesh on any thread count.
#[must_use]
pub fn extract(implicit: &Implicit) -> Surface {
    let Some(level) = implicit.levels.last() else {
        return Surface::default();
    };
    let mut surface = Surface::default();
    let mut vertex_of: GridMap<EdgeKey, u32> = GridMap::default();
    let blocks: Vec<usize> = (0..level.blocks.len()).collect();
    for batch in blocks.chunks(EXTRACT_BATCH_BLOCKS) {
        let cuts: Vec<BlockCut> = batch
            .par_iter()
            .map(|&b| cut_block(implicit, level, b))
            .collect();
        for cut in cuts {
            // Numbered in the order first asked for, block after block: what one thread walking the
            // blocks in order would give.
            let ids: Vec<u32> = cut
                .edges
                .iter()
                .map(|&(key, position)| {
                    *vertex_of.entry(key).or_insert_with(|| {
                        surface.positions.push(position);
                        (surface.positions.len() - 1) as u32
                    })
                })
                .collect();
            for t in cut.triangles {
                surface.indices.extend(t.map(|k| ids[k as usize]));
            }
        }
    }
    surface
}

/// Marching tetrahedra over the cells of block `b`.
fn cut_block(implicit: &Implicit, level: &Level, b: usize) -> BlockCut {
    let iso = implicit.iso;
    let frame = implicit.frame;
    let n = level.n as f64;
    let key = level.blocks[b];
    let pack = |g: [i64; 3]| (g[0] as u64) | ((g[1] as u64) << 21) | ((g[2] as u64) << 42);
    let mut cut = BlockCut::default();
    let mut local_of: GridMap<EdgeKey, u32> = GridMap::default();
    for i in 0..BLOCK_NODES {
        let l = block_coords(i);
        let base = [0, 1, 2].map(|a| key[a] * B + l[a]);
        let mut corners = [(0.0f64, [0i64; 3]); 8];
        let mut complete = true;
        for (c, corner) in corners.iter_mut().enumerate() {
            let d = [c as i64 & 1, (c as i64 >> 1) & 1, (c as i64 >> 2) & 1];
            let g = [0, 1, 2].map(|a| base[a] + d[a]);
            let inside_block = (0..3).all(|a| l[a] + d[a] < B);
            let value = if inside_block {
                Some(level.values[b * BLOCK_NODES + local([0, 1, 2].map(|a| l[a] + d[a]))])
            } else {
                level.node_index(g).map(|k| level.values[k])
            };
            let Some(value) = value else {
                complete = false;
                break;
            };
            *corner = (value - iso, g);
        }
        if !complete {
            continue;
        }
        if corners.iter().all(|c| c.0 >= 0.0) || corners.iter().all(|c| c.0 < 0.0) {
            continue;
        }
        for tet in TETRAHEDRA {
            let v = tet.map(|c| corners[c]);
            let outside: Vec<usize> = (0..4).filter(|&k| v[k].0 >= 0.0).collect();
            let inside: Vec<usize> = (0..4).filter(|&k| v[k].0 < 0.0).collect();
            if outside.is_empty() || inside.is_empty() {
                continue;
            }
            // The crossing on edge (a, b), computed from its smaller node so that every tetrahedron sharing
            // the edge computes the same position.
            let mut vertex = |a: usize, b: usize| -> (u32, EdgeKey, [f64; 3]) {
                let (ka, kb) = (pack(v[a].1), pack(v[b].1));
                let edge = (ka.min(kb), ka.max(kb));
                let local = *local_of.entry(edge).or_insert_with(|| {
                    let (from, to) = if ka <= kb { (v[a], v[b]) } else { (v[b], v[a]) };
                    let t = edge_root(level, iso, from, to);
                    let position = [0, 1, 2].map(|ax| {
                        let ua = from.1[ax] as f64 / n;
                        let ub = to.1[ax] as f64 / n;
                        frame.origin[ax] + frame.size * (ua + t * (ub - ua))
                    });
                    cut.edges.push((edge, position));
                    (cut.edges.len() - 1) as u32
                });
                (local, edge, cut.edges[local as usize].1)
            };
            let triangles: Vec<[(u32, EdgeKey, [f64; 3]); 3]> = match (outside.len(), inside.len())
            {
                (1, 3) | (3, 1) => {
                    let (lone, others) = if outside.len() == 1 {
                        (outside[0], &inside)
                    } else {
                        (inside[0], &outside)
                    };
                    vec![[
                        vertex(lone, others[0]),
                        vertex(lone, others[1]),
                        vertex(lone, others[2]),
                    ]]
                }
                _ => {
                    let (a, b) = (outside[0], outside[1]);
                    let (c, d) = (inside[0], inside[1]);
                    let (ac, ad, bc, bd) = (vertex(a, c), vertex(a, d), vertex(b, c), vertex(b, d));
                    vec![[ac, ad, bd], [ac, bd, bc]]
                }
            };
            // Face outward: towards the corners where χ is above the level.
            let towards = {
                let mean = |set: &[usize]| {
                    let mut m = [0.0; 3];
                    for &k in set {
                        for a in 0..3 {
                            m[a] += v[k].1[a] as f64 / set.len() as f64;
                        }
                    }
                    m
                };
                let (o, i) = (mean(&outside), mean(&inside));
                [0, 1, 2].map(|a| o[a] - i[a])
            };
            for t in triangles {
                // Two corners on one grid edge: a degenerate triangle.
                if t[0].1 == t[1].1 || t[1].1 == t[2].1 || t[0].1 == t[2].1 {
                    continue;
                }
                let p = t.map(|c| c.2);
                let e1 = [0, 1, 2].map(|a| p[1][a] - p[0][a]);
                let e2 = [0, 1, 2].map(|a| p[2][a] - p[0][a]);
                let normal = [
                    e1[1] * e2[2] - e1[2] * e2[1],
                    e1[2] * e2[0] - e1[0] * e2[2],
                    e1[0] * e2[1] - e1[1] * e2[0],
                ];
                let facing: f64 = (0..3).map(|a| normal[a] * towards[a]).sum();
                if facing >= 0.0 {
                    cut.triangles.push([t[0].0, t[1].0, t[2].0]);
                } else {
                    cut.triangles.push([t[0].0, t[2].0, t[1].0]);
                }
            }
        }
    }
    cut
}

/// Where χ crosses the level on the grid edge from `a` to `b` (fraction from `a`): the root of the cubic
/// through the four nodes on that line (a − d, a, b, b + d), which follows the indicator's S-shaped
/// profile far better than the straight line through two; the straight line where a node is missing.
fn edge_root(level: &Level, iso: f64, a: (f64, [i64; 3]), b: (f64, [i64; 3])) -> f64 {
    let linear = a.0 / (a.0 - b.0);
    let d = [0, 1, 2].map(|k| b.1[k] - a.1[k]);
    let at = |g: [i64; 3]| level.node_index(g).map(|i| level.values[i] - iso);
    let (Some(before), Some(after)) = (
        at([0, 1, 2].map(|k| a.1[k] - d[k])),
        at([0, 1, 2].map(|k| b.1[k] + d[k])),
    ) else {
        return linear;
    };
    // Lagrange cubic through (−1, before), (0, a), (1, b), (2, after).
    let f = |t: f64| {
        before * (-t * (t - 1.0) * (t - 2.0) / 6.0)
            + a.0 * ((t + 1.0) * (t - 1.0) * (t - 2.0) / 2.0)
            + b.0 * (-(t + 1.0) * t * (t - 2.0) / 2.0)
            + after * ((t + 1.0) * t * (t - 1.0) / 6.0)
    };
    // Bisection keeps the root inside the edge, where the signs differ.
    let (mut lo, mut hi) = (0.0, 1.0);
    let sign_lo = a.0 >= 0.0;
    for _ in 0..30 {
        let mid = 0.5 * (lo + hi);
        if (f(mid) >= 0.0) == sign_lo {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_roots_follow_the_cubic_through_four_nodes() {
        // A level whose values along x are a smooth step: the root must land between the middle nodes.
        let sample = Sample {
            u: [0.5; 3],
            normal_area: [0.0; 3],
            area: 1.0,
            count: 1.0,
        };
        let mut level = build_level(5, &[sample], 2, true);
        for (b, key) in level.blocks.clone().iter().enumerate() {
            for i in 0..BLOCK_NODES {
                let x = key[0] * B + i as i64 % B;
                level.values[b * BLOCK_NODES + i] = ((x as f64 - 10.3) / 2.0).tanh();
            }
        }
        let at = |x: i64| {
            let g = [x, 3, 3];
            (level.values[level.node_index(g).unwrap()], g)
        };
        let t = edge_root(&level, 0.0, at(10), at(11));
        assert!((t - 0.3).abs() < 0.02, "{t}");
    }
}
