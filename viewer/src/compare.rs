//! Comparing two models for an infringement hearing: align B onto A (rigidly), then measure how far every
//! vertex of A lies from B's surface (signed, exact closest points), with the statistics a judgment can quote.
//!
//! Alignment: candidates (as given, and the four proper rotations that match the models' principal axes at
//! their centroids) are each refined by a few point-to-plane ICP steps; the best is refined to convergence
//! with a robust (Tukey) weight, so parts that really differ do not pull the fit. Everything runs in A's local
//! frame in `f64`; the recorded transform is in world metres.

use codec::distance::TriangleBvh;
use codec::linalg::{solve6, symmetric_eigen3};
use glam::{DMat3, DMat4, DQuat, DVec3};
use rayon::prelude::*;
use serde::Serialize;

use crate::scene::SceneModel;

/// How B is brought onto A.
#[derive(Clone, Debug, PartialEq)]
pub enum Align {
    /// As the files place them.
    None,
    /// Principal axes, then robust point-to-plane ICP.
    Icp,
    /// Corresponding points picked on both models (world metres, three or more, not all on one line): the
    /// least-squares motion (Umeyama), then, if `refine`, robust point-to-plane ICP from there.
    Pairs {
        /// Points on A.
        a: Vec<[f64; 3]>,
        /// The same places on B.
        b: Vec<[f64; 3]>,
        /// Refine with ICP afterwards.
        refine: bool,
    },
    /// A recorded transform (world B to world A, column-major), such as a saved comparison's: its deviation
    /// is measured again exactly, without fitting anything.
    Given([f64; 16]),
}

/// What a comparison is asked to do.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Alignment method.
    pub align: Align,
    /// Deviations within ±tolerance count as "the same", millimetres.
    pub tolerance_mm: f64,
    /// Points of B used by the alignment (a deterministic, evenly spread subset).
    pub samples: usize,
    /// Most ICP iterations.
    pub max_iterations: usize,
    /// A region of interest: an axis-aligned box in world metres (low corner, high corner); the statistics count
    /// only the measured points inside it (the heat map still colours everything).
    pub roi: Option<([f64; 3], [f64; 3])>,
    /// Allow a uniform scale (a scale model against the real thing): estimated from the pairs, or from the
    /// spread of the points about their centroids for the automatic alignment.
    pub scale: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            align: Align::Icp,
            tolerance_mm: 0.5,
            samples: 100_000,
            max_iterations: 40,
            scale: false,
            roi: None,
        }
    }
}

/// The alignment found, for the record.
#[derive(Clone, Debug, Serialize)]
pub struct Alignment {
    /// How it was found.
    pub method: String,
    /// Maps B's world coordinates onto A's, metres; 16 numbers, column-major.
    pub transform: [f64; 16],
    /// Rotation angle of the transform, degrees.
    pub rotation_deg: f64,
    /// Length of its translation at A's local origin, millimetres.
    pub translation_mm: f64,
    /// RMS point-to-plane distance of the alignment samples after the fit (inliers), millimetres.
    pub rms_mm: f64,
    /// Share of the samples the robust weight kept.
    pub inlier_share: f64,
    /// ICP iterations in the final refinement.
    pub iterations: usize,
    /// Which start won: "as given", "principal axes N" or "N point pairs".
    pub start: String,
    /// Uniform scale applied to B (1 unless a scale was allowed).
    pub scale: f64,
    /// RMS distance between the picked pairs after the alignment, millimetres (pairs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs_rms_mm: Option<f64>,
}

/// One histogram bin of signed deviations.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Bin {
    /// Lower edge, millimetres.
    pub from_mm: f64,
    /// Upper edge, millimetres.
    pub to_mm: f64,
    /// Vertices in the bin.
    pub count: u64,
}

/// Statistics of the deviation of A from B.
#[derive(Clone, Debug, Serialize)]
pub struct Statistics {
    /// Vertices measured.
    pub count: usize,
    /// Mean of |d|, millimetres.
    pub mean_mm: f64,
    /// Root mean square of d, millimetres.
    pub rms_mm: f64,
    /// 95th percentile of |d|, millimetres.
    pub p95_mm: f64,
    /// Largest |d|, millimetres.
    pub max_mm: f64,
    /// Mean of the signed d (positive: A outside B), millimetres.
    pub signed_mean_mm: f64,
    /// Most negative and most positive d, millimetres.
    pub signed_min_mm: f64,
    /// Most positive d, millimetres.
    pub signed_max_mm: f64,
    /// Share of vertices with |d| within the tolerance, 0..1.
    pub within_tolerance: f64,
    /// The tolerance, millimetres.
    pub tolerance_mm: f64,
    /// Signed deviations in 20 equal bins over ±`range_mm`; values beyond go into the outer bins.
    pub histogram: Vec<Bin>,
    /// Half-width of the histogram and of the heat map's colour scale, millimetres.
    pub range_mm: f64,
    /// Share of the counted points whose deviation involves surface a reconstruction filled in, 0..1: a
    /// vertex of A that no scan measured, or a closest point on a triangle of the other model whose corners
    /// were all filled in. Those deviations measure against a guess, not against the object.
    pub invented_share: f64,
}

/// What the deviation measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Every vertex of A to the surface of B (the usual case).
    AVerticesToBSurface,
    /// Every point of B (a point cloud) to the surface of A.
    BPointsToASurface,
}

/// A finished comparison.
#[derive(Debug)]
pub struct Comparison {
    /// How B was aligned.
    pub alignment: Alignment,
    /// What was measured to what.
    pub direction: Direction,
    /// Signed deviation of each vertex of A from B's surface (or, see `direction`, of each point of B from A's),
    /// millimetres, positive in front of the surface.
    pub deviation_mm: Vec<f32>,
    /// Whether each deviation involves filled-in surface (see [`Statistics::invented_share`]).
    pub invented: Vec<bool>,
    /// Their statistics.
    pub statistics: Statistics,
    /// B's positions moved onto A, in A's local frame (for drawing both in one scene).
    pub b_aligned: Vec<[f32; 3]>,
}

/// Compare `a` with `b`. `b` needs triangles (the surface the deviation is measured to); `a` may be points.
pub fn compare(
    a: &SceneModel,
    b: &SceneModel,
    options: &CompareOptions,
) -> Result<Comparison, String> {
    if b.is_points() && a.is_points() {
        return Err("both models are point clouds: a deviation needs a surface on one side".into());
    }
    if a.positions.is_empty() || b.positions.is_empty() {
        return Err("a model has no vertices".into());
    }
    if !(options.tolerance_mm >= 0.0 && options.tolerance_mm.is_finite()) {
        return Err(format!(
            "tolerance {} mm is not a length",
            options.tolerance_mm
        ));
    }
    // B in A's local frame: add the difference of the origins (f64, so survey coordinates keep their digits).
    let offset = DVec3::from(b.origin_m) - DVec3::from(a.origin_m);
    let b_local: Vec<DVec3> = b
        .positions
        .par_iter()
        .map(|p| DVec3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2])) + offset)
        .collect();
    let a_bvh = (!a.is_points()).then(|| a.bvh());
    // A's vertices in f64, made only by the alignments that use them (a copy as large as the model).
    let a_points = || -> Vec<DVec3> {
        a.positions
            .par_iter()
            .map(|p| DVec3::from(p.map(f64::from)))
            .collect()
    };
    let target = a_bvh.map(|bvh| Target {
        positions: &a.positions,
        indices: &a.indices,
        normals: &a.normals,
        color_flag: &a.color_flag,
        bvh,
    });
    let needs_surface =
        || "aligning needs triangles on model A (the surface B is fitted to)".to_string();
    let (local, alignment, pairs_rms_mm) = match &options.align {
        Align::None => (DMat4::IDENTITY, None, None),
        Align::Given(world) => {
            let world = DMat4::from_cols_array(world);
            if !world.is_finite() {
                return Err("the given transform is not 16 finite numbers".into());
            }
            // Local frame: x ↦ world(x + origin_a) − origin_a (the inverse of the record's conversion).
            let origin = DVec3::from(a.origin_m);
            (
                DMat4::from_translation(-origin) * world * DMat4::from_translation(origin),
                None,
                None,
            )
        }
        Align::Icp => {
            let target = target.as_ref().ok_or_else(needs_surface)?;
            let fit = align_icp(&a_points(), target, &b_local, options);
            if fit.inlier_share <= 0.0 {
                // Every closest point lay on filled-in surface (or nothing was found): no fit was made, and an
                // "RMS 0" record would say otherwise.
                return Err(
                    "ICP found no point of B near surface of A that a scan measured: nothing to align by \
                     (align by picked pairs, or compare as placed with --align none)"
                        .into(),
                );
            }
            (fit.transform, Some(fit), None)
        }
        Align::Pairs {
            a: pa,
            b: pb,
            refine,
        } => {
            if pa.len() != pb.len() || pa.len() < 3 {
                return Err(format!(
                    "{} points on A and {} on B: three or more pairs are needed",
                    pa.len(),
                    pb.len()
                ));
            }
            // World points into A's local frame (B's too: that is where B is placed).
            let origin = DVec3::from(a.origin_m);
            let pa: Vec<DVec3> = pa.iter().map(|p| DVec3::from(*p) - origin).collect();
            let pb: Vec<DVec3> = pb.iter().map(|p| DVec3::from(*p) - origin).collect();
            let start = umeyama(&pb, &pa, options.scale)
                .ok_or("the picked points lie on one line: no motion is determined")?;
            let (transform, fit) = if *refine {
                let target = target.as_ref().ok_or_else(needs_surface)?;
                let samples = spread(&b_local, options.samples);
                let fit = icp(
                    target,
                    &samples,
                    start,
                    options.max_iterations,
                    diagonal_of(&a_points()),
                );
                (fit.transform, Some(fit))
            } else {
                (start, None)
            };
            let rms = (pa
                .iter()
                .zip(&pb)
                .map(|(x, y)| (transform.transform_point3(*y) - *x).length_squared())
                .sum::<f64>()
                / pa.len() as f64)
                .sqrt();
            let fit = fit.unwrap_or(Fit {
                transform,
                rms_m: rms,
                inlier_share: 1.0,
                iterations: 0,
                start: String::new(),
            });
            (
                transform,
                Some(Fit {
                    start: format!("{} point pairs", pa.len()),
                    ..fit
                }),
                Some(rms * 1e3),
            )
        }
    };
    let b_aligned: Vec<[f32; 3]> = b_local
        .par_iter()
        .map(|&p| local.transform_point3(p).as_vec3().to_array())
        .collect();
    let (deviation_mm, invented, direction) = deviation(a, b, &b_aligned);
    // The measured points: A's vertices, or B's aligned points; both in A's local frame.
    let measured: &[[f32; 3]] = if direction == Direction::BPointsToASurface {
        &b_aligned
    } else {
        &a.positions
    };
    let statistics = statistics_in(measured, &deviation_mm, &invented, options, a.origin_m)?;
    let origin = DVec3::from(a.origin_m);
    // World transform: x ↦ local(x − origin_a) + origin_a, with B's world point x.
    let world = DMat4::from_translation(origin) * local * DMat4::from_translation(-origin);
    let alignment = alignment_record(options, alignment, world, local, &statistics, pairs_rms_mm);
    Ok(Comparison {
        alignment,
        direction,
        deviation_mm,
        invented,
        statistics,
        b_aligned,
    })
}

/// The alignment as the record states it: the fit's figures, or for a given transform or none, the
/// transform's own.
fn alignment_record(
    options: &CompareOptions,
    fit: Option<Fit>,
    world: DMat4,
    local: DMat4,
    statistics: &Statistics,
    pairs_rms_mm: Option<f64>,
) -> Alignment {
    let (scale, rotation, _) = local.to_scale_rotation_translation();
    match fit {
        Some(fit) => Alignment {
            method: method_name(options),
            transform: world.to_cols_array(),
            rotation_deg: rotation.angle_between(DQuat::IDENTITY).to_degrees(),
            translation_mm: local.w_axis.truncate().length() * 1e3,
            rms_mm: fit.rms_m * 1e3,
            inlier_share: fit.inlier_share,
            iterations: fit.iterations,
            start: fit.start,
            scale: scale.x,
            pairs_rms_mm,
        },
        None if matches!(options.align, Align::Given(_)) => Alignment {
            method: "given: a recorded transform, measured again".into(),
            transform: world.to_cols_array(),
            rotation_deg: rotation.angle_between(DQuat::IDENTITY).to_degrees(),
            translation_mm: local.w_axis.truncate().length() * 1e3,
            rms_mm: statistics.rms_mm,
            inlier_share: 1.0,
            iterations: 0,
            start: "as recorded".into(),
            scale: scale.x,
            pairs_rms_mm: None,
        },
        None => Alignment {
            method: "none: the models as their files place them".into(),
            transform: world.to_cols_array(),
            rotation_deg: 0.0,
            translation_mm: 0.0,
            rms_mm: statistics.rms_mm,
            inlier_share: 1.0,
            iterations: 0,
            start: "as given".into(),
            scale: 1.0,
            pairs_rms_mm: None,
        },
    }
}

/// How the alignment was found, in words for the record.
fn method_name(options: &CompareOptions) -> String {
    let method = match &options.align {
        Align::Pairs { refine: true, .. } => {
            "picked point pairs (least squares), then point-to-plane ICP with a Tukey weight (surface A's \
             reconstruction filled in ignored)"
        }
        Align::Pairs { refine: false, .. } => "picked point pairs (least squares)",
        _ => {
            "principal axes, then point-to-plane ICP with a Tukey weight (B onto A; surface A's reconstruction \
             filled in ignored)"
        }
    };
    if options.scale {
        format!("{method}, with uniform scale")
    } else {
        method.to_string()
    }
}

/// The statistics over the measured points inside the region of interest (all of them without one).
fn statistics_in(
    measured: &[[f32; 3]],
    deviation_mm: &[f32],
    invented: &[bool],
    options: &CompareOptions,
    origin_m: [f64; 3],
) -> Result<Statistics, String> {
    let Some((low, high)) = options.roi else {
        return Ok(statistics(deviation_mm, invented, options.tolerance_mm));
    };
    let origin = DVec3::from(origin_m);
    let (low, high) = (DVec3::from(low) - origin, DVec3::from(high) - origin);
    let (inside, inside_invented): (Vec<f32>, Vec<bool>) = measured
        .iter()
        .zip(deviation_mm.iter().zip(invented))
        .filter(|(p, _)| {
            let p = DVec3::from(p.map(f64::from));
            p.cmpge(low).all() && p.cmple(high).all()
        })
        .map(|(_, (d, i))| (*d, *i))
        .unzip();
    if inside.is_empty() {
        return Err("no measured point lies in the region of interest".into());
    }
    Ok(statistics(&inside, &inside_invented, options.tolerance_mm))
}

/// A's vertices to B's surface (B already moved onto A); when B is a point cloud (a scan against a model), B's
/// points to A's surface.
fn deviation(
    a: &SceneModel,
    b: &SceneModel,
    b_aligned: &[[f32; 3]],
) -> (Vec<f32>, Vec<bool>, Direction) {
    if b.is_points() {
        let normals: Vec<DVec3> = a
            .indices
            .par_chunks_exact(3)
            .map(|t| face_normal(&a.positions, t))
            .collect();
        let (distances, invented) = signed_distances(b_aligned, a.bvh(), &normals, |t| {
            filled_in(&a.indices, &a.color_flag, t)
        });
        (distances, invented, Direction::BPointsToASurface)
    } else {
        let b_bvh = TriangleBvh::new(b_aligned, &b.indices);
        let normals: Vec<DVec3> = b
            .indices
            .par_chunks_exact(3)
            .map(|t| face_normal(b_aligned, t))
            .collect();
        let (distances, mut invented) = signed_distances(&a.positions, &b_bvh, &normals, |t| {
            filled_in(&b.indices, &b.color_flag, t)
        });
        for (flag, color) in invented.iter_mut().zip(&a.color_flag) {
            *flag |= color[3] == 0;
        }
        (distances, invented, Direction::AVerticesToBSurface)
    }
}

/// Whether all three corners of triangle `t` were filled in by reconstruction (alpha 0 in `color_flag`).
fn filled_in(indices: &[u32], color_flag: &[[u8; 4]], t: u32) -> bool {
    indices[3 * t as usize..3 * t as usize + 3]
        .iter()
        .all(|&v| color_flag.get(v as usize).is_some_and(|c| c[3] == 0))
}

fn face_normal(positions: &[[f32; 3]], t: &[u32]) -> DVec3 {
    let [p, q, r] = [0, 1, 2].map(|k| DVec3::from(positions[t[k] as usize].map(f64::from)));
    (q - p).cross(r - p).normalize_or_zero()
}

/// Signed distance of each point to the mesh, millimetres: the sign is the side of the nearest triangle's
/// normal (positive in front of it).
/// Signed distance of each point from the surface in `bvh` (millimetres, positive on the normals' side), and
/// whether its closest point lies on a triangle `invented` calls filled in.
fn signed_distances(
    points: &[[f32; 3]],
    bvh: &TriangleBvh,
    normals: &[DVec3],
    invented: impl Fn(u32) -> bool + Sync,
) -> (Vec<f32>, Vec<bool>) {
    let mut out = vec![0.0f32; points.len()];
    let mut on_invented = vec![false; points.len()];
    out.par_chunks_mut(1024)
        .zip(on_invented.par_chunks_mut(1024))
        .zip(points.par_chunks(1024))
        .for_each(|((out, on_invented), points)| {
            let mut guess = None;
            for ((d, flag), p) in out.iter_mut().zip(on_invented.iter_mut()).zip(points) {
                let p = p.map(f64::from);
                guess = bvh.closest_near(p, guess);
                *d = guess.map_or(f32::INFINITY, |c| {
                    let side =
                        (DVec3::from(p) - DVec3::from(c.point)).dot(normals[c.triangle as usize]);
                    let sign = if side < 0.0 { -1.0 } else { 1.0 };
                    (sign * c.distance * 1e3) as f32
                });
                *flag = guess.is_some_and(|c| invented(c.triangle));
            }
        });
    (out, on_invented)
}

/// Statistics of signed deviations (millimetres). `invented` flags the deviations that involve filled-in
/// surface, one per deviation (empty: none do).
#[must_use]
pub fn statistics(deviation_mm: &[f32], invented: &[bool], tolerance_mm: f64) -> Statistics {
    let count = deviation_mm.len();
    let n = count.max(1) as f64;
    let (sum_abs, sum_sq, sum) = deviation_mm
        .par_chunks(65_536)
        .map(|chunk| {
            chunk.iter().fold((0.0, 0.0, 0.0), |(a, s, m), &d| {
                let d = f64::from(d);
                (a + d.abs(), s + d * d, m + d)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((0.0, 0.0, 0.0), |(a, s, m), (x, y, z)| {
            (a + x, s + y, m + z)
        });
    let mut magnitudes: Vec<f32> = deviation_mm.iter().map(|d| d.abs()).collect();
    magnitudes.par_sort_unstable_by(f32::total_cmp);
    let percentile = |q: f64| {
        if magnitudes.is_empty() {
            return 0.0;
        }
        let rank = ((q * n).ceil() as usize).clamp(1, count) - 1;
        f64::from(magnitudes[rank])
    };
    let p95 = percentile(0.95);
    let max = magnitudes.last().map_or(0.0, |&m| f64::from(m));
    let within = deviation_mm
        .iter()
        .filter(|d| f64::from(d.abs()) <= tolerance_mm)
        .count();
    let range_mm = nice_range(p95.max(2.0 * tolerance_mm).max(1e-3));
    let bins = 20;
    let width = 2.0 * range_mm / f64::from(bins);
    let mut counts = vec![0u64; bins as usize];
    for &d in deviation_mm {
        let slot = ((f64::from(d) + range_mm) / width).floor();
        counts[slot.clamp(0.0, f64::from(bins - 1)) as usize] += 1;
    }
    let histogram = counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| Bin {
            from_mm: -range_mm + i as f64 * width,
            to_mm: -range_mm + (i + 1) as f64 * width,
            count,
        })
        .collect();
    Statistics {
        count,
        mean_mm: sum_abs / n,
        rms_mm: (sum_sq / n).sqrt(),
        p95_mm: p95,
        max_mm: max,
        signed_mean_mm: sum / n,
        signed_min_mm: deviation_mm
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min)
            .into(),
        signed_max_mm: deviation_mm
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
            .into(),
        within_tolerance: within as f64 / n,
        tolerance_mm,
        histogram,
        range_mm,
        invented_share: invented.iter().filter(|i| **i).count() as f64 / n,
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ at least `x`.
fn nice_range(x: f64) -> f64 {
    let base = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * base)
        .find(|&v| v >= x * (1.0 - 1e-12))
        .unwrap_or(10.0 * base)
}

struct Fit {
    transform: DMat4,
    rms_m: f64,
    inlier_share: f64,
    iterations: usize,
    start: String,
}

/// A's surface as the fit sees it.
struct Target<'a> {
    positions: &'a [[f32; 3]],
    indices: &'a [u32],
    normals: &'a [[i16; 4]],
    /// Alpha 0: the vertex was filled in by reconstruction, not measured.
    color_flag: &'a [[u8; 4]],
    bvh: &'a TriangleBvh,
}

impl Target<'_> {
    /// Whether all three corners of a triangle were filled in by reconstruction. Such surface is A's guess where
    /// no scan saw it: fitting B to it would align B with an invention.
    fn invented(&self, triangle: u32) -> bool {
        filled_in(self.indices, self.color_flag, triangle)
    }

    /// The smooth (interpolated vertex) normal at a point of a triangle: the facets' own normals jump at every
    /// edge, which makes point-to-plane steps jitter and biases them; the interpolated normal does not.
    fn normal_at(&self, triangle: u32, p: DVec3) -> DVec3 {
        let t = &self.indices[3 * triangle as usize..3 * triangle as usize + 3];
        let [a, b, c] =
            [0, 1, 2].map(|k| DVec3::from(self.positions[t[k] as usize].map(f64::from)));
        let n = (b - a).cross(c - a);
        let area2 = n.length_squared();
        if area2 <= 0.0 {
            return DVec3::ZERO;
        }
        // Barycentric weights from the sub-triangle areas.
        let wa = (b - p).cross(c - p).dot(n) / area2;
        let wb = (c - p).cross(a - p).dot(n) / area2;
        let wc = 1.0 - wa - wb;
        let unpack = |k: usize| {
            let v = self.normals[t[k] as usize];
            DVec3::new(f64::from(v[0]), f64::from(v[1]), f64::from(v[2])) / 32767.0
        };
        let smooth = unpack(0) * wa + unpack(1) * wb + unpack(2) * wc;
        let face = n / area2.sqrt();
        // Keep the facet's side; fall back to the facet normal where the vertex normals disagree with it.
        if smooth.dot(face) > 0.5 * smooth.length() {
            smooth.normalize_or_zero()
        } else {
            face
        }
    }
}

/// Tukey's biweight constant, in robust standard deviations: 98.1 % efficient for Gaussian noise (the textbook
/// 4.685 is 95 %, and its 2.6 % wider spread showed in the rotation error against Open3D's unweighted fit), while
/// a part that differs by more than 6 standard deviations of the scan noise still has no pull at all.
const TUKEY: f64 = 6.0;

/// Robust point-to-plane ICP of `b` (points in A's frame) onto A's surface, from the best of several starts.
fn align_icp(
    a_points: &[DVec3],
    target: &Target<'_>,
    b: &[DVec3],
    options: &CompareOptions,
) -> Fit {
    // Few points to choose a start and get close, then many to converge: the fit's precision grows with the
    // number of points averaged, its cost only with the iterations spent on them.
    let coarse = spread(b, 4000);
    let samples = spread(b, options.samples);
    let (ca, axes_a) = principal_axes(a_points);
    let (cb, axes_b) = principal_axes(b);
    // A scale model: the ratio of the spreads about the centroids.
    let factor = if options.scale {
        let spread_of = |points: &[DVec3], c: DVec3| {
            points
                .iter()
                .map(|p| (*p - c).length_squared())
                .sum::<f64>()
                / points.len().max(1) as f64
        };
        (spread_of(a_points, ca) / spread_of(b, cb).max(1e-30)).sqrt()
    } else {
        1.0
    };
    let mut starts = vec![("as given".to_string(), DMat4::IDENTITY)];
    for (k, flip) in [
        [1.0, 1.0, 1.0],
        [-1.0, -1.0, 1.0],
        [-1.0, 1.0, -1.0],
        [1.0, -1.0, -1.0],
    ]
    .iter()
    .enumerate()
    {
        let flipped = DMat3::from_cols(
            axes_b.x_axis * flip[0],
            axes_b.y_axis * flip[1],
            axes_b.z_axis * flip[2],
        );
        let rotation = axes_a * flipped.transpose();
        let transform = DMat4::from_translation(ca)
            * DMat4::from_mat3(rotation * factor)
            * DMat4::from_translation(-cb);
        starts.push((format!("principal axes {}", k + 1), transform));
    }
    let diagonal = diagonal_of(a_points);
    // The start as given first; when it already fits (most of B close to A), it is kept. Otherwise a few
    // steps from every start, and the lowest robust error wins (ties keep the earlier start).
    let given = icp(target, &coarse, DMat4::IDENTITY, 10, diagonal);
    let fits_as_given = !options.scale && given.inlier_share > 0.7 && given.rms_m < diagonal * 0.01;
    let (start, transform) = if fits_as_given {
        ("as given".to_string(), given.transform)
    } else {
        let (name, fit) = starts
            .into_iter()
            .skip(1)
            .map(|(name, start)| (name, icp(target, &coarse, start, 10, diagonal)))
            .fold(("as given".to_string(), given), |best, next| {
                if next.1.rms_m < best.1.rms_m * 0.999 {
                    next
                } else {
                    best
                }
            });
        (name, fit.transform)
    };
    let mut fit = icp(
        target,
        &samples,
        transform,
        options.max_iterations,
        diagonal,
    );
    fit.start = start;
    fit
}

/// An evenly spread subset of about `count` points (deterministic).
fn spread(points: &[DVec3], count: usize) -> Vec<DVec3> {
    let stride = (points.len() / count.max(1)).max(1);
    points.iter().step_by(stride).copied().collect()
}

/// The length of the bounding box's diagonal.
fn diagonal_of(points: &[DVec3]) -> f64 {
    let (low, high) = points.iter().fold(
        (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
        |(l, h), p| (l.min(*p), h.max(*p)),
    );
    (high - low).length()
}

/// The least-squares similarity (rotation, translation, and a uniform scale if `scale`) taking `from` onto `to`
/// (Umeyama 1991; the SVD of the cross-covariance from the eigenvectors of `HᵀH`). `None` when the points lie on
/// one line or coincide.
#[must_use]
pub fn umeyama(from: &[DVec3], to: &[DVec3], scale: bool) -> Option<DMat4> {
    let n = from.len().min(to.len());
    if n < 3 {
        return None;
    }
    let cf = from[..n].iter().copied().sum::<DVec3>() / n as f64;
    let ct = to[..n].iter().copied().sum::<DVec3>() / n as f64;
    // H = Σ (from − cf)(to − ct)ᵀ, as rows.
    let mut h = [[0.0; 3]; 3];
    let mut variance = 0.0;
    for (f, t) in from[..n].iter().zip(&to[..n]) {
        let (f, t) = ((*f - cf).to_array(), (*t - ct).to_array());
        for (i, row) in h.iter_mut().enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                *x += f[i] * t[j];
            }
        }
        variance += f.iter().map(|x| x * x).sum::<f64>();
    }
    let hm = DMat3::from_cols_array_2d(&h).transpose();
    // HᵀH = V S² Vᵀ; U = H V S⁻¹; the third column of U from the first two when the points are coplanar.
    let hth = (hm.transpose() * hm).to_cols_array_2d();
    let (values, vectors) = symmetric_eigen3(hth);
    if values[1] <= values[0] * 1e-18 || values[0] <= 0.0 {
        return None;
    }
    let v = DMat3::from_cols(
        DVec3::from(vectors[0]),
        DVec3::from(vectors[1]),
        DVec3::from(vectors[2]),
    );
    let singular = values.map(|x| x.max(0.0).sqrt());
    let u1 = hm * v.x_axis / singular[0];
    let u2 = hm * v.y_axis / singular[1];
    let u3 = if singular[2] > singular[0] * 1e-9 {
        hm * v.z_axis / singular[2]
    } else {
        u1.cross(u2)
    };
    let u = DMat3::from_cols(u1, u2, u3);
    // R = V D Uᵀ with D fixing a reflection.
    let d = if (v * u.transpose()).determinant() < 0.0 {
        -1.0
    } else {
        1.0
    };
    let rotation = v * DMat3::from_diagonal(DVec3::new(1.0, 1.0, d)) * u.transpose();
    let factor = if scale {
        (singular[0] + singular[1] + d * singular[2]) / variance.max(1e-300)
    } else {
        1.0
    };
    let translation = ct - rotation * cf * factor;
    Some(DMat4::from_translation(translation) * DMat4::from_mat3(rotation * factor))
}

/// Centroid and principal axes (columns, largest spread first, right-handed).
fn principal_axes(points: &[DVec3]) -> (DVec3, DMat3) {
    let n = points.len().max(1) as f64;
    let centroid = points.iter().copied().sum::<DVec3>() / n;
    let mut c = [[0.0; 3]; 3];
    for p in points {
        let d = *p - centroid;
        let d = [d.x, d.y, d.z];
        for i in 0..3 {
            for j in 0..3 {
                c[i][j] += d[i] * d[j] / n;
            }
        }
    }
    let (_, vectors) = symmetric_eigen3(c);
    let x = DVec3::from(vectors[0]);
    let y = DVec3::from(vectors[1]);
    let z = x.cross(y);
    (centroid, DMat3::from_cols(x, y, z))
}

/// Point-to-plane ICP from `start`; correspondences are exact closest points on A's triangles.
fn icp(
    target: &Target<'_>,
    samples: &[DVec3],
    start: DMat4,
    iterations: usize,
    diagonal: f64,
) -> Fit {
    let mut transform = start;
    let mut guesses: Vec<Option<codec::distance::Closest>> = vec![None; samples.len()];
    let mut rms = f64::INFINITY;
    let mut inliers = 0.0;
    let mut scale = f64::INFINITY;
    let mut done = 0;
    for iteration in 0..iterations {
        done = iteration + 1;
        let moved: Vec<DVec3> = samples
            .iter()
            .map(|&p| transform.transform_point3(p))
            .collect();
        // Residuals along A's normal at the closest point.
        // Each sample starts its search from its own answer in the previous iteration (it moved very little),
        // or from its neighbour's on the first.
        let pairs: Vec<(DVec3, DVec3, f64)> = moved
            .par_chunks(512)
            .zip(guesses.par_chunks_mut(512))
            .flat_map_iter(|(chunk, guesses)| {
                let mut previous = None;
                chunk
                    .iter()
                    .zip(guesses.iter_mut())
                    .filter_map(|(&p, guess)| {
                        let found = target.bvh.closest_near(p.to_array(), guess.or(previous));
                        *guess = found;
                        previous = found;
                        let c = found.filter(|c| !target.invented(c.triangle))?;
                        let n = target.normal_at(c.triangle, DVec3::from(c.point));
                        let r = (p - DVec3::from(c.point)).dot(n);
                        Some((p, n, r))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        // Tukey's biweight with a scale from the median absolute residual (robust to parts that differ).
        let mut magnitudes: Vec<f64> = pairs.iter().map(|(_, _, r)| r.abs()).collect();
        magnitudes.sort_by(f64::total_cmp);
        let median = magnitudes.get(magnitudes.len() / 2).copied().unwrap_or(0.0);
        // The scale never grows during a fit: were it re-estimated freely, a fit drawn towards points that do not
        // belong would widen its own window, take in more of them, and drift further (seen comparing a complete
        // model with a two-view reconstruction).
        scale = (TUKEY * 1.4826 * median).max(diagonal * 1e-7).min(scale);
        let mut ata = [[0.0; 6]; 6];
        let mut atb = [0.0; 6];
        let (mut sum_sq, mut kept) = (0.0, 0usize);
        for (p, n, r) in &pairs {
            let u = r / scale;
            if u.abs() >= 1.0 {
                continue;
            }
            let w = (1.0 - u * u) * (1.0 - u * u);
            let j = {
                let c = p.cross(*n);
                [c.x, c.y, c.z, n.x, n.y, n.z]
            };
            for row in 0..6 {
                for col in 0..6 {
                    ata[row][col] += w * j[row] * j[col];
                }
                atb[row] -= w * j[row] * r;
            }
            sum_sq += r * r;
            kept += 1;
        }
        rms = (sum_sq / kept.max(1) as f64).sqrt();
        inliers = kept as f64 / pairs.len().max(1) as f64;
        let Some(x) = solve6(ata, atb) else { break };
        let omega = DVec3::new(x[0], x[1], x[2]);
        let step_translation = DVec3::new(x[3], x[4], x[5]);
        let angle = omega.length();
        let rotation = if angle > 0.0 {
            DQuat::from_axis_angle(omega / angle, angle)
        } else {
            DQuat::IDENTITY
        };
        let next = DMat4::from_rotation_translation(rotation, step_translation) * transform;
        if !next.is_finite() {
            break;
        }
        transform = next;
        // Converged when a step turns by less than 3 µrad (0.0002°) and moves by less than 1e-6 of the size:
        // closest points jump between the triangles of a faceted surface, so steps jitter at about 1 µrad.
        if angle < 3e-6 && step_translation.length() < diagonal * 1e-6 {
            break;
        }
    }
    Fit {
        transform,
        rms_m: rms,
        inlier_share: inliers,
        iterations: done,
        start: String::new(),
    }
}
