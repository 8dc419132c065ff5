//! Several views of one object: scanner poses, and merging views into one frame.
//!
//! The Stanford `.conf` format lists `bmesh FILE tx ty tz qx qy qz qw` per range scan. Public tools
//! disagree on how to apply it, so the convention was measured, not assumed: with
//! `world = R(q)ᵀ · p + t` (the conjugate of the written quaternion), bun045, bun315 and chin land on
//! bun000 with median nearest-neighbour gaps of 0.33, 0.37 and 1.6 mm; with `R(q) · p + t` the gaps are
//! 29, 22 and 130 mm (Open3D, every 20th point; `tests/it/scans.rs` checks it again on every run).

use std::path::{Path, PathBuf};

use codec::Mesh;

use crate::Geometry;
use crate::error::ParseError;

/// A rigid transform in metres: `world = rotation · p + translation`, rotation row-major.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// Row-major 3x3 rotation.
    pub rotation: [[f64; 3]; 3],
    /// Translation in metres.
    pub translation: [f64; 3],
}

impl Pose {
    /// A Stanford `.conf` entry: translation and the quaternion as written (x y z w), applied conjugated.
    #[must_use]
    pub fn from_stanford(translation: [f64; 3], q: [f64; 4]) -> Self {
        let [x, y, z, w] = q;
        let norm = (x * x + y * y + z * z + w * w).sqrt();
        let (x, y, z, w) = if norm > 0.0 {
            (x / norm, y / norm, z / norm, w / norm)
        } else {
            (0.0, 0.0, 0.0, 1.0)
        };
        let r = [
            [
                1.0 - 2.0 * (y * y + z * z),
                2.0 * (x * y - z * w),
                2.0 * (x * z + y * w),
            ],
            [
                2.0 * (x * y + z * w),
                1.0 - 2.0 * (x * x + z * z),
                2.0 * (y * z - x * w),
            ],
            [
                2.0 * (x * z - y * w),
                2.0 * (y * z + x * w),
                1.0 - 2.0 * (x * x + y * y),
            ],
        ];
        // The transpose: the conjugate rotation.
        let rotation = [0, 1, 2].map(|i| [0, 1, 2].map(|j| r[j][i]));
        Self {
            rotation,
            translation,
        }
    }

    fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        [0, 1, 2].map(|i| {
            self.rotation[i][0] * p[0]
                + self.rotation[i][1] * p[1]
                + self.rotation[i][2] * p[2]
                + self.translation[i]
        })
    }

    fn rotate(&self, n: [f32; 3]) -> [f32; 3] {
        let n = n.map(f64::from);
        [0, 1, 2].map(|i| {
            (self.rotation[i][0] * n[0] + self.rotation[i][1] * n[1] + self.rotation[i][2] * n[2])
                as f32
        })
    }
}

/// A view's points in world metres, posed (meshes: their vertices).
#[must_use]
pub fn world_positions(geometry: &Geometry, pose: Option<&Pose>) -> Vec<[f64; 3]> {
    let (origin, positions) = match geometry {
        Geometry::Mesh(mesh) => (mesh.origin_m, &mesh.positions),
        Geometry::Points(cloud) => (cloud.origin_m, &cloud.positions),
    };
    positions
        .iter()
        .map(|p| {
            let world = [0, 1, 2].map(|a| origin[a] + f64::from(p[a]));
            pose.map_or(world, |pose| pose.apply(world))
        })
        .collect()
}

/// The views a pose file lists: file path (beside the pose file) and pose, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct PoseFile {
    /// One entry per `bmesh` line.
    pub views: Vec<(PathBuf, Pose)>,
}

/// Parse a Stanford `.conf` file (`camera` lines are ignored, `bmesh` lines give views).
pub(crate) fn parse_conf(text: &[u8], folder: &Path) -> Result<PoseFile, ParseError> {
    let mut views = Vec::new();
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        let line_number = index as u64 + 1;
        let text = std::str::from_utf8(line)
            .map_err(|_| ParseError::line(line_number, "line is not text"))?;
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        match words.first() {
            Some(&"bmesh") => {
                if words.len() != 9 {
                    return Err(ParseError::line(
                        line_number,
                        format!(
                            "bmesh needs a file and 7 numbers, found {} values",
                            words.len() - 1
                        ),
                    ));
                }
                let mut v = [0.0f64; 7];
                for (k, word) in words[2..9].iter().enumerate() {
                    v[k] = word.parse().map_err(|_| {
                        ParseError::line(line_number, format!("{word:?} is not a number"))
                    })?;
                }
                if !v.iter().all(|c| c.is_finite()) {
                    return Err(ParseError::line(line_number, "pose values must be finite"));
                }
                views.push((
                    folder.join(words[1]),
                    Pose::from_stanford([v[0], v[1], v[2]], [v[3], v[4], v[5], v[6]]),
                ));
            }
            Some(&"camera") | None => {}
            Some(other) => {
                return Err(ParseError::line(
                    line_number,
                    format!("unknown line {other:?}: expected camera or bmesh"),
                ));
            }
        }
    }
    Ok(PoseFile { views })
}

/// Views in one frame: each posed (when it has a pose), all concatenated. Every view must be of the same
/// kind; attributes only some views have are left out, and the returned sentences say which.
pub(crate) fn merge(
    views: &[(Geometry, Option<Pose>)],
) -> Result<(Geometry, f64, Vec<String>), String> {
    let mut notes = Vec::new();
    let meshes = views
        .iter()
        .filter(|(g, _)| matches!(g, Geometry::Mesh(_)))
        .count();
    if meshes != 0 && meshes != views.len() {
        return Err("some inputs are meshes and some point clouds: give one kind at a time".into());
    }
    let mut positions: Vec<[f64; 3]> = Vec::new();
    let mut indices = Vec::new();
    let (mut normals, mut colors, mut intensity, mut measured) = (
        Some(Vec::new()),
        Some(Vec::new()),
        Some(Vec::new()),
        Some(Vec::new()),
    );
    for (geometry, pose) in views {
        let (origin, rel, n, c, i, m, tri) = match geometry {
            Geometry::Mesh(mesh) => (
                mesh.origin_m,
                &mesh.positions,
                &mesh.normals,
                &mesh.colors_srgb,
                &None,
                &mesh.measured,
                Some(&mesh.indices),
            ),
            Geometry::Points(cloud) => (
                cloud.origin_m,
                &cloud.positions,
                &cloud.normals,
                &cloud.colors_srgb,
                &cloud.intensity,
                &None,
                None,
            ),
        };
        let base = positions.len() as u32;
        for p in rel {
            let world = [0, 1, 2].map(|a| origin[a] + f64::from(p[a]));
            positions.push(pose.as_ref().map_or(world, |pose| pose.apply(world)));
        }
        if let Some(t) = tri {
            indices.extend(t.iter().map(|i| i + base));
        }
        let rotated = n.as_ref().map(|n| {
            n.iter()
                .map(|&v| pose.as_ref().map_or(v, |pose| pose.rotate(v)))
                .collect::<Vec<_>>()
        });
        join(&mut normals, rotated);
        join(&mut colors, c.clone());
        join(&mut intensity, i.clone());
        join(&mut measured, m.clone());
    }
    let any = |attribute: fn(&Geometry) -> bool| views.iter().any(|(g, _)| attribute(g));
    let any_normals = any(|g| match g {
        Geometry::Mesh(m) => m.normals.is_some(),
        Geometry::Points(p) => p.normals.is_some(),
    });
    let any_colors = any(|g| match g {
        Geometry::Mesh(m) => m.colors_srgb.is_some(),
        Geometry::Points(p) => p.colors_srgb.is_some(),
    });
    let any_intensity = any(|g| matches!(g, Geometry::Points(p) if p.intensity.is_some()));
    for (name, some, all) in [
        ("normals", any_normals, normals.is_some()),
        ("colours", any_colors, colors.is_some()),
        ("intensity", any_intensity, intensity.is_some()),
    ] {
        if some && !all {
            notes.push(format!(
                "{name} are on only some views: left out of the merged model"
            ));
        }
    }
    let textured = views
        .iter()
        .filter(|(g, _)| matches!(g, Geometry::Mesh(m) if m.texturing.is_some()))
        .count();
    if textured > 0 {
        notes.push(format!(
            "textures of {textured} view(s) not kept: merged views keep geometry and vertex colours only"
        ));
    }
    let placed = crate::raw::to_cloud(
        crate::RawMesh {
            positions,
            normals: normals.clone(),
            colors_srgb: colors.clone(),
            intensity: intensity.clone(),
            ..crate::RawMesh::default()
        },
        crate::Unit::Metre,
    );
    let cloud = placed.geometry;
    let geometry = if meshes > 0 {
        Geometry::Mesh(Mesh {
            origin_m: cloud.origin_m,
            positions: cloud.positions,
            indices,
            normals: cloud.normals,
            colors_srgb: cloud.colors_srgb,
            measured: measured.filter(|m: &Vec<bool>| !m.is_empty()),
            intensity: cloud.intensity,
            texturing: None,
        })
    } else {
        Geometry::Points(cloud)
    };
    Ok((geometry, placed.max_rounding_m, notes))
}

/// Append a view's attribute, or give it up for every view when one view lacks it.
fn join<T>(all: &mut Option<Vec<T>>, part: Option<Vec<T>>) {
    match (all.as_mut(), part) {
        (Some(all), Some(part)) => all.extend(part),
        _ => *all = None,
    }
}
