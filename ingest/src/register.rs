//! Registration of views: starting from the given poses, each view is refined onto the views before it
//! with point-to-plane ICP (Chen & Medioni 1991): correspondences are nearest points within a distance
//! that shrinks as the fit improves, each linearized step solves a 6×6 system, and the view's RMS
//! distance is recorded. A view that does not converge is an error that names it; a refinement that
//! would leave a view farther from the others than its given pose is not applied.

#![allow(
    clippy::needless_range_loop,
    reason = "6×6 and 3×3 matrix code indexes rows and columns together, like the formulas"
)]

use codec::linalg::solve6;
use rayon::prelude::*;

use crate::surface::knn::PointGrid;
use crate::surface::normals;
use crate::views::Pose;

/// ICP settings.
#[derive(Clone, Debug, PartialEq)]
pub struct IcpOptions {
    pub max_iterations: usize,
    /// Correspondences farther apart than this many point spacings are ignored (first iteration).
    pub max_distance_spacings: f64,
    /// Converged when a step turns less than this (radians) and moves less than this times the spacing.
    pub tolerance: f64,
}

impl Default for IcpOptions {
    fn default() -> Self {
        Self {
            max_iterations: 50,
            max_distance_spacings: 10.0,
            tolerance: 1e-6,
        }
    }
}

/// One view's refinement.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewFit {
    /// The correction applied after the given pose.
    pub correction: Pose,
    /// RMS distance to the views before it over the final correspondence distance, with the given pose
    /// and with the refined one.
    pub rms_before_m: f64,
    pub rms_after_m: f64,
    pub iterations: usize,
    /// Share of the view's points within the final correspondence distance of the views before it.
    pub overlap: f64,
}

/// Why a view could not be registered.
#[derive(Clone, Debug, PartialEq)]
pub struct NotConverged {
    pub view: usize,
    pub reason: String,
}

fn mul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    [0, 1, 2].map(|i| [0, 1, 2].map(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

/// `second ∘ first`: apply `first`, then `second`.
#[must_use]
pub fn compose(first: &Pose, second: &Pose) -> Pose {
    Pose {
        rotation: mul(&second.rotation, &first.rotation),
        translation: [0, 1, 2].map(|i| {
            (0..3)
                .map(|k| second.rotation[i][k] * first.translation[k])
                .sum::<f64>()
                + second.translation[i]
        }),
    }
}

const IDENTITY: Pose = Pose {
    rotation: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    translation: [0.0; 3],
};

fn transform(pose: &Pose, p: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| (0..3).map(|k| pose.rotation[i][k] * p[k]).sum::<f64>() + pose.translation[i])
}

/// Rotation by small angles about x, y, z (applied x first), as a proper rotation matrix.
fn rotation_from(angles: [f64; 3]) -> [[f64; 3]; 3] {
    let [a, b, c] = angles;
    let rx = [
        [1.0, 0.0, 0.0],
        [0.0, a.cos(), -a.sin()],
        [0.0, a.sin(), a.cos()],
    ];
    let ry = [
        [b.cos(), 0.0, b.sin()],
        [0.0, 1.0, 0.0],
        [-b.sin(), 0.0, b.cos()],
    ];
    let rz = [
        [c.cos(), -c.sin(), 0.0],
        [c.sin(), c.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    mul(&rz, &mul(&ry, &rx))
}

/// A chunk's share of the linearized least-squares problem: `AᵀA`, `Aᵀb`, squared distances, count.
type NormalEquations = ([[f64; 6]; 6], [f64; 6], f64, usize);

/// Refine `source` (points in world metres, already posed) onto `target` (world metres, with unit
/// normals); `frame` is subtracted from both before they become f32, so survey coordinates keep their
/// precision.
fn refine(
    source: &[[f64; 3]],
    target: &[[f32; 3]],
    target_normals: &[[f32; 3]],
    grid: &PointGrid<'_>,
    frame: [f64; 3],
    spacing: f64,
    options: &IcpOptions,
) -> Result<ViewFit, String> {
    let mut pose = IDENTITY;
    let mut max_distance = options.max_distance_spacings * spacing;
    let mut last_rms = f64::INFINITY;
    for iteration in 0..options.max_iterations {
        // Correspondences, in source order; partial sums per fixed chunk keep the result thread-independent.
        let chunks: Vec<NormalEquations> = source
            .par_chunks(2048)
            .map(|chunk| {
                let mut ata = [[0.0; 6]; 6];
                let mut atb = [0.0; 6];
                let (mut sq, mut count) = (0.0, 0);
                for &p in chunk {
                    let w = transform(&pose, p);
                    let local = [0, 1, 2].map(|a| (w[a] - frame[a]) as f32);
                    let Some((distance, j)) = grid.nearest_within(local, max_distance as f32)
                    else {
                        continue;
                    };
                    let q = target[j as usize].map(f64::from);
                    let n = target_normals[j as usize].map(f64::from);
                    let l = local.map(f64::from);
                    let r = (0..3).map(|a| (l[a] - q[a]) * n[a]).sum::<f64>();
                    let c = [
                        l[1] * n[2] - l[2] * n[1],
                        l[2] * n[0] - l[0] * n[2],
                        l[0] * n[1] - l[1] * n[0],
                    ];
                    let row = [c[0], c[1], c[2], n[0], n[1], n[2]];
                    for i in 0..6 {
                        for k in 0..6 {
                            ata[i][k] += row[i] * row[k];
                        }
                        atb[i] -= row[i] * r;
                    }
                    sq += f64::from(distance).powi(2);
                    count += 1;
                }
                (ata, atb, sq, count)
            })
            .collect();
        let mut ata = [[0.0; 6]; 6];
        let mut atb = [0.0; 6];
        let (mut sq, mut count) = (0.0, 0);
        for (a, b, s, c) in chunks {
            for i in 0..6 {
                for k in 0..6 {
                    ata[i][k] += a[i][k];
                }
                atb[i] += b[i];
            }
            sq += s;
            count += c;
        }
        let overlap = count as f64 / source.len().max(1) as f64;
        if count < 100 || overlap < 0.05 {
            return Err(format!(
                "only {count} of {} points lie within {:.3} mm of the views before it (iteration {iteration})",
                source.len(),
                max_distance * 1e3
            ));
        }
        let rms = (sq / count as f64).sqrt();
        let Some(x) = solve6(ata, atb) else {
            return Err(
                "the correspondences do not fix the motion (a flat or symmetric overlap)".into(),
            );
        };
        // The step acts in the frame-relative coordinates; as a world transform it also moves the origin.
        let rotation = rotation_from([x[0], x[1], x[2]]);
        let shift = [0, 1, 2]
            .map(|i| x[3 + i] + frame[i] - (0..3).map(|k| rotation[i][k] * frame[k]).sum::<f64>());
        let step = Pose {
            rotation,
            translation: shift,
        };
        pose = compose(&pose, &step);
        // Correspondences tighten as the fit improves, never below three spacings.
        max_distance = (3.0 * rms).max(3.0 * spacing).min(max_distance);
        let angle = (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
        let moved = (x[3] * x[3] + x[4] * x[4] + x[5] * x[5]).sqrt();
        if angle < options.tolerance && moved < options.tolerance * spacing.max(1e-9) * 1e3 {
            // Before and after, over the same correspondence distance: comparable figures.
            let rms_at = |pose: &Pose| {
                let (sq, count) = source
                    .par_chunks(2048)
                    .map(|chunk| {
                        chunk.iter().fold((0.0, 0usize), |(sq, count), &p| {
                            let w = transform(pose, p);
                            let local = [0, 1, 2].map(|a| (w[a] - frame[a]) as f32);
                            match grid.nearest_within(local, max_distance as f32) {
                                Some((d, _)) => (sq + f64::from(d).powi(2), count + 1),
                                None => (sq, count),
                            }
                        })
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .fold((0.0, 0usize), |(a, b), (c, d)| (a + c, b + d));
                ((sq / count.max(1) as f64).sqrt(), count)
            };
            let (before, _) = rms_at(&IDENTITY);
            let (after, kept) = rms_at(&pose);
            // A refinement that leaves the points farther from the other views than the given pose
            // did is not taken: the given pose stays, and the record shows both figures.
            let pose = if after <= before { pose } else { IDENTITY };
            let after = after.min(before);
            return Ok(ViewFit {
                correction: pose,
                rms_before_m: before,
                rms_after_m: after,
                iterations: iteration + 1,
                overlap: kept as f64 / source.len().max(1) as f64,
            });
        }
        last_rms = rms;
    }
    Err(format!(
        "no convergence in {} iterations (RMS {:.4} mm)",
        options.max_iterations,
        last_rms * 1e3
    ))
}

/// Refine every view but the first onto the union of the views before it. `views` holds each view's
/// posed points in world metres; returns one fit per view (the first: the identity, RMS 0).
pub fn register_views(
    views: &[Vec<[f64; 3]>],
    options: &IcpOptions,
) -> Result<Vec<ViewFit>, NotConverged> {
    let frame = views
        .iter()
        .find_map(|v| v.first())
        .map_or([0.0; 3], |p| p.map(f64::round));
    let mut fits = vec![ViewFit {
        correction: IDENTITY,
        rms_before_m: 0.0,
        rms_after_m: 0.0,
        iterations: 0,
        overlap: 1.0,
    }];
    let mut merged: Vec<[f32; 3]> = views
        .first()
        .map(|v| {
            v.iter()
                .map(|p| [0, 1, 2].map(|a| (p[a] - frame[a]) as f32))
                .collect()
        })
        .unwrap_or_default();
    for (index, view) in views.iter().enumerate().skip(1) {
        let grid = PointGrid::new(&merged);
        let mut target_normals = normals::estimate(&merged, &grid, 12);
        // Orientation does not matter for point-to-plane distances; a fixed rule keeps it deterministic.
        for n in &mut target_normals {
            if n[2] < 0.0 {
                *n = n.map(|c| -c);
            }
        }
        let spacing = grid.median_spacing().max(1e-9);
        let fit = refine(
            view,
            &merged,
            &target_normals,
            &grid,
            frame,
            spacing,
            options,
        )
        .map_err(|reason| NotConverged {
            view: index,
            reason,
        })?;
        merged.extend(view.iter().map(|&p| {
            let w = transform(&fit.correction, p);
            [0, 1, 2].map(|a| (w[a] - frame[a]) as f32)
        }));
        fits.push(fit);
    }
    Ok(fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surface(n: usize, shift: [f64; 3]) -> Vec<[f64; 3]> {
        // A bumpy patch, not symmetric, so that every motion is fixed by it.
        (0..n)
            .map(|i| {
                let (u, v) = ((i % 100) as f64 * 0.002, (i / 100) as f64 * 0.002);
                let z = 0.01 * (u * 40.0).sin() * (v * 25.0).cos() + 0.2 * u * u;
                [u + shift[0], v + shift[1], z + shift[2]]
            })
            .collect()
    }

    #[test]
    fn a_small_known_motion_is_undone() {
        let base = surface(10_000, [1000.0, 2000.0, 50.0]);
        let motion = Pose {
            rotation: rotation_from([0.01, -0.02, 0.015]),
            translation: [0.002, -0.001, 0.0015],
        };
        // The moved view, expressed around the patch so the motion is small there.
        let centre = [1000.1, 2000.1, 50.0];
        let moved: Vec<[f64; 3]> = base
            .iter()
            .map(|p| {
                let local = [0, 1, 2].map(|a| p[a] - centre[a]);
                let m = transform(&motion, local);
                [0, 1, 2].map(|a| m[a] + centre[a])
            })
            .collect();
        let fits = register_views(&[base.clone(), moved.clone()], &IcpOptions::default()).unwrap();
        let fit = &fits[1];
        let worst = moved
            .iter()
            .zip(&base)
            .map(|(m, b)| {
                let back = transform(&fit.correction, *m);
                (0..3).map(|a| (back[a] - b[a]).powi(2)).sum::<f64>().sqrt()
            })
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-5,
            "worst {worst} after {} iterations",
            fit.iterations
        );
        assert!(fit.rms_after_m < fit.rms_before_m);
    }

    #[test]
    fn a_view_that_does_not_overlap_is_named() {
        let a = surface(5_000, [0.0; 3]);
        let b = surface(5_000, [5.0, 0.0, 0.0]);
        let error = register_views(&[a, b], &IcpOptions::default()).unwrap_err();
        assert_eq!(error.view, 1);
        assert!(error.reason.contains("lie within"), "{}", error.reason);
    }
}
