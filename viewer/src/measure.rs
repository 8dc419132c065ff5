//! Measuring on a model: distances, angles and areas between picked surface points, each with the error
//! bound the model's manifest justifies, and cross-sections by a plane.
//!
//! A picked point lies exactly on the model's triangles (ray cast in `f64`), so a measurement's error is the
//! model's own: how far its surface may be from the scanned one. That bound comes from the manifest:
//! the quantization error measured after encoding (or, on a coarser level of detail, that level's measured
//! distance from the model), the measured deviation of simplification, and the registration RMS when the views
//! were refined by ICP. What the file does not record (the scanner's own accuracy; registration by a pose file
//! alone) is named, never guessed.

use codec::Manifest;
use rayon::prelude::*;
use serde::Serialize;

/// One contribution to the error bound of a surface point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetPart {
    /// What it is.
    pub name: &'static str,
    /// Millimetres.
    pub mm: f64,
}

/// How far any point of the displayed surface may be from the measured object, as far as the file says.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorBudget {
    /// The parts, added up (worst case).
    pub parts: Vec<BudgetPart>,
    /// The sum: the bound on one picked point, millimetres; `None` when the file records no errors at all.
    pub point_mm: Option<f64>,
    /// Sources of error the file does not record.
    pub not_recorded: Vec<String>,
}

impl ErrorBudget {
    /// The budget for level `level` (0: the model itself) of a model with this manifest.
    #[must_use]
    pub fn from_manifest(manifest: Option<&Manifest>, level: usize) -> Self {
        let Some(manifest) = manifest else {
            return Self {
                parts: Vec::new(),
                point_mm: None,
                not_recorded: vec!["the file has no exhibit manifest: no error is recorded".into()],
            };
        };
        let mut parts = Vec::new();
        let mut not_recorded = Vec::new();
        let level_record = manifest
            .levels
            .iter()
            .find(|l| l.level as usize == level && level > 0);
        match level_record {
            Some(record) => parts.push(BudgetPart {
                name: "level of detail and quantization (measured)",
                mm: record.max_error_mm,
            }),
            None => parts.push(BudgetPart {
                name: "quantization (measured)",
                mm: manifest.error_bounds.max_position_error_mm,
            }),
        }
        let step = |name: &str| manifest.steps.iter().find(|s| s.name == name);
        if let Some(simplify) = step("simplify")
            && let Some(mm) = simplify
                .result
                .get("error_mm")
                .and_then(serde_json::Value::as_f64)
        {
            parts.push(BudgetPart {
                name: "simplification (measured)",
                mm,
            });
        }
        if let Some(register) = step("register") {
            let icp: Vec<f64> = register
                .params
                .get("icp")
                .and_then(serde_json::Value::as_array)
                .map(|fits| {
                    fits.iter()
                        .filter_map(|f| f.get("rms_after_mm").and_then(serde_json::Value::as_f64))
                        .collect()
                })
                .unwrap_or_default();
            let views = register
                .result
                .get("views")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(1);
            if let Some(rms) = icp.iter().copied().reduce(f64::max) {
                parts.push(BudgetPart {
                    name: "registration RMS (ICP, largest view)",
                    mm: rms,
                });
            } else if views > 1 {
                not_recorded.push(
                    "registration of the views by a pose file: its error is not measured".into(),
                );
            }
        }
        if step("reconstruct").is_some() {
            not_recorded.push(
                "reconstructed surface between scan points: shown tinted, its distance from the object is unknown"
                    .into(),
            );
        }
        not_recorded.push("the scanner's own accuracy: not recorded in the file".into());
        let point_mm = Some(parts.iter().map(|p| p.mm).sum());
        Self {
            parts,
            point_mm,
            not_recorded,
        }
    }
}

/// What was measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Measurement {
    /// Straight-line distance between two surface points.
    Distance {
        /// The points, model frame, metres.
        points: [[f64; 3]; 2],
        /// Millimetres.
        mm: f64,
        /// Error bound, millimetres.
        bound_mm: Option<f64>,
    },
    /// The angle at the middle point between the other two.
    Angle {
        /// First arm's end, the vertex, second arm's end.
        points: [[f64; 3]; 3],
        /// Degrees.
        degrees: f64,
        /// Error bound, degrees.
        bound_degrees: Option<f64>,
    },
    /// Area of the polygon through the points (closed back to the first).
    Area {
        /// Corners in order.
        points: Vec<[f64; 3]>,
        /// Square millimetres.
        mm2: f64,
        /// Error bound, square millimetres.
        bound_mm2: Option<f64>,
    },
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn length(a: [f64; 3]) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

impl Measurement {
    /// The distance between two points; each may be off by `point_mm`, so the bound is twice that.
    #[must_use]
    pub fn distance(a: [f64; 3], b: [f64; 3], point_mm: Option<f64>) -> Self {
        Self::Distance {
            points: [a, b],
            mm: length(sub(b, a)) * 1e3,
            bound_mm: point_mm.map(|e| 2.0 * e),
        }
    }

    /// The angle at `vertex`. Moving both ends of an arm of length L by at most e turns it by at most
    /// asin(2e / L); the bound adds both arms.
    #[must_use]
    pub fn angle(a: [f64; 3], vertex: [f64; 3], c: [f64; 3], point_mm: Option<f64>) -> Self {
        let (u, v) = (sub(a, vertex), sub(c, vertex));
        let radians = length(cross(u, v)).atan2(u[0] * v[0] + u[1] * v[1] + u[2] * v[2]);
        let turn = |arm: [f64; 3], e: f64| {
            let l = length(arm) * 1e3;
            if l <= 2.0 * e {
                std::f64::consts::PI
            } else {
                (2.0 * e / l).asin()
            }
        };
        Self::Angle {
            points: [a, vertex, c],
            degrees: radians.to_degrees(),
            bound_degrees: point_mm.map(|e| {
                (turn(u, e) + turn(v, e))
                    .min(std::f64::consts::PI)
                    .to_degrees()
            }),
        }
    }

    /// The area of the polygon (its vector area, so a non-planar loop gives its projected area). Moving each
    /// corner by at most e changes the area by at most e × perimeter + π e² (the Steiner bound).
    #[must_use]
    pub fn area(points: Vec<[f64; 3]>, point_mm: Option<f64>) -> Self {
        let n = points.len();
        let mut vector = [0.0; 3];
        let mut perimeter = 0.0;
        for i in 0..n {
            let (p, q) = (points[i], points[(i + 1) % n]);
            let c = cross(p, q);
            vector = [vector[0] + c[0], vector[1] + c[1], vector[2] + c[2]];
            perimeter += length(sub(q, p));
        }
        let mm2 = 0.5 * length(vector) * 1e6;
        let perimeter_mm = perimeter * 1e3;
        Self::Area {
            points,
            mm2,
            bound_mm2: point_mm.map(|e| e * perimeter_mm + std::f64::consts::PI * e * e),
        }
    }

    /// How the viewer writes it: the value, its bound and unit, e.g. `152.41 ± 0.34 mm`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Distance { mm, bound_mm, .. } => with_bound(*mm, *bound_mm, "mm"),
            Self::Angle {
                degrees,
                bound_degrees,
                ..
            } => with_bound(*degrees, *bound_degrees, "°"),
            Self::Area { mm2, bound_mm2, .. } => with_bound(*mm2, *bound_mm2, "mm²"),
        }
    }

    /// The picked points, in order (model frame, metres).
    #[must_use]
    pub fn points(&self) -> &[[f64; 3]] {
        match self {
            Self::Distance { points, .. } => points,
            Self::Angle { points, .. } => points,
            Self::Area { points, .. } => points,
        }
    }

    /// Where its label goes: the middle of a distance or an area, the vertex of an angle (model frame, metres).
    #[must_use]
    pub fn label_anchor(&self) -> [f64; 3] {
        let points = match self {
            Self::Angle { points, .. } => &points[1..2],
            _ => self.points(),
        };
        let n = points.len().max(1) as f64;
        points
            .iter()
            .fold([0.0; 3], |acc, p| [0, 1, 2].map(|i| acc[i] + p[i] / n))
    }

    /// The measured value and its bound (mm, degrees or mm²).
    #[must_use]
    pub fn value_and_bound(&self) -> (f64, Option<f64>) {
        match self {
            Self::Distance { mm, bound_mm, .. } => (*mm, *bound_mm),
            Self::Angle {
                degrees,
                bound_degrees,
                ..
            } => (*degrees, *bound_degrees),
            Self::Area { mm2, bound_mm2, .. } => (*mm2, *bound_mm2),
        }
    }
}

/// `value ± bound unit`, with as many decimals as the bound's second significant digit needs; the bound is
/// rounded up, never down. Without a bound, the value is followed by "(no error bound)".
#[must_use]
pub fn with_bound(value: f64, bound: Option<f64>, unit: &str) -> String {
    let space = if unit == "°" { "" } else { " " };
    match bound {
        Some(bound) if bound > 0.0 && bound.is_finite() => {
            let places = (1 - bound.log10().floor() as i32).clamp(0, 6);
            let decimals = places as usize;
            let scale = 10f64.powi(places);
            let rounded_up = (bound * scale).ceil() / scale;
            format!("{value:.decimals$} ± {rounded_up:.decimals$}{space}{unit}")
        }
        Some(_) => format!("{value:.3} ± 0{space}{unit}"),
        None => format!("{value:.2}{space}{unit} (no error bound)"),
    }
}

/// Where a plane cuts a triangle mesh: segments (model frame, metres) and their total length.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// Each segment's two ends.
    pub segments: Vec<[[f64; 3]; 2]>,
    /// Total length of the outline, millimetres.
    pub length_mm: f64,
}

/// Cut the triangles by the plane `n·p + d = 0` (`plane = [nx, ny, nz, d]`, model frame).
#[must_use]
pub fn section(positions: &[[f32; 3]], indices: &[u32], plane: [f64; 4]) -> Section {
    let side = |p: [f32; 3]| {
        plane[0] * f64::from(p[0])
            + plane[1] * f64::from(p[1])
            + plane[2] * f64::from(p[2])
            + plane[3]
    };
    let segments: Vec<[[f64; 3]; 2]> = indices
        .par_chunks_exact(3)
        .with_min_len(4096)
        .filter_map(|t| {
            let corners = [0, 1, 2].map(|k| positions[t[k] as usize]);
            let s = corners.map(side);
            let mut ends = Vec::with_capacity(2);
            for k in 0..3 {
                let (a, b) = (k, (k + 1) % 3);
                // A corner exactly on the plane belongs to the edge leaving it, so it is counted once.
                if (s[a] < 0.0) != (s[b] < 0.0) {
                    let f = s[a] / (s[a] - s[b]);
                    let pa = corners[a].map(f64::from);
                    let pb = corners[b].map(f64::from);
                    ends.push([0, 1, 2].map(|i| pa[i] + (pb[i] - pa[i]) * f));
                }
            }
            (ends.len() == 2).then(|| [ends[0], ends[1]])
        })
        .collect();
    let length_mm = segments
        .iter()
        .map(|[a, b]| length(sub(*b, *a)))
        .sum::<f64>()
        * 1e3;
    Section {
        segments,
        length_mm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_the_bound_up_and_keep_the_unit() {
        assert_eq!(with_bound(152.4123, Some(0.3312), "mm"), "152.41 ± 0.34 mm");
        assert_eq!(with_bound(99.99, Some(3.21), "mm"), "100.0 ± 3.3 mm");
        assert_eq!(with_bound(90.0, Some(0.05), "°"), "90.000 ± 0.050°");
        assert_eq!(with_bound(12.0, None, "mm"), "12.00 mm (no error bound)");
    }

    #[test]
    fn distance_angle_and_area_of_a_right_triangle() {
        let (a, b, c) = ([0.0, 0.0, 0.0], [0.03, 0.0, 0.0], [0.0, 0.04, 0.0]);
        let Measurement::Distance { mm, bound_mm, .. } = Measurement::distance(b, c, Some(0.1))
        else {
            unreachable!()
        };
        assert!((mm - 50.0).abs() < 1e-9);
        assert_eq!(bound_mm, Some(0.2));
        let (degrees, bound) = Measurement::angle(b, a, c, Some(0.1)).value_and_bound();
        assert!((degrees - 90.0).abs() < 1e-9);
        let expected = ((0.2f64 / 30.0).asin() + (0.2f64 / 40.0).asin()).to_degrees();
        assert!((bound.unwrap() - expected).abs() < 1e-12);
        let (mm2, bound) = Measurement::area(vec![a, b, c], Some(0.1)).value_and_bound();
        assert!((mm2 - 600.0).abs() < 1e-6);
        assert!((bound.unwrap() - (0.1 * 120.0 + std::f64::consts::PI * 0.01)).abs() < 1e-9);
    }

    #[test]
    fn a_section_through_a_cube_is_its_perimeter() {
        // A unit cube of 12 triangles, cut half way up: a square outline of 4 m.
        let positions: Vec<[f32; 3]> = (0..8)
            .map(|i| [0, 1, 2].map(|a| ((i >> a) & 1) as f32))
            .collect();
        let faces = [
            [0, 2, 3, 1],
            [4, 5, 7, 6],
            [0, 1, 5, 4],
            [2, 6, 7, 3],
            [0, 4, 6, 2],
            [1, 3, 7, 5],
        ];
        let indices: Vec<u32> = faces
            .iter()
            .flat_map(|q| [q[0], q[1], q[2], q[0], q[2], q[3]])
            .collect();
        let cut = section(&positions, &indices, [0.0, 1.0, 0.0, -0.5]);
        assert_eq!(cut.segments.len(), 8);
        assert!((cut.length_mm - 4000.0).abs() < 1e-6, "{}", cut.length_mm);
    }
}
