//! The recipe: every option that decides a model's bytes, recorded in its manifest so that anyone holding the
//! sealed raw scans can make the model again and compare (`exhibit verify MODEL --rederive RAW...`).
//!
//! The steps in the manifest say what was done, partly in derived figures (a trim distance in millimetres
//! computed from the point spacing); the recipe says what was asked, in the config's own units, so that it
//! reads back into exactly the same [`IngestConfig`]. Lengths stay in metres as the config holds them: a
//! round trip through millimetres could change the last bit of a float and with it the output.
//! Pose files are not options here: they are inputs, listed and hashed with the scans.

use serde::{Deserialize, Serialize};

use crate::{IngestConfig, Unit};

/// What ingest was asked to do. `None` means "the default, chosen from the data".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// `--unit`: the unit the inputs were declared in.
    pub unit: Option<String>,
    /// `--columns`: what each column of a text point file is.
    pub columns: Option<Vec<String>>,
    /// `--precision-mm`, in metres.
    pub precision_m: f64,
    /// `--points`: keep a point cloud as points.
    pub points_only: bool,
    /// `--icp`: refine the pose file's poses.
    pub refine_registration: bool,
    /// `--depth`: the finest reconstruction grid.
    pub depth: Option<u32>,
    /// Screening weight of the reconstruction.
    pub screening: f64,
    /// Neighbours for normal estimation.
    pub normal_neighbours: usize,
    /// Where the scanner stood, when normals were turned towards it.
    pub viewpoint: Option<[f32; 3]>,
    /// A vertex counts as measured within this many point spacings of a point.
    pub measured_spacings: f64,
    /// `--trim-spacings`.
    pub trim_spacings: f64,
    /// Simplification error in metres (0: the precision).
    pub simplify_error_m: f64,
    /// `--voxel-mm`, in metres.
    pub voxel_m: Option<f64>,
    /// `--outlier-std` (0: off).
    pub outlier_ratio: f64,
    /// `--lod`: levels in the file, the model included.
    pub lod_levels: usize,
    /// No level of detail has fewer triangles than this.
    pub lod_min_triangles: usize,
}

impl Recipe {
    /// As it is written into the manifest.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        // A struct of numbers, strings and options always serializes.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Read a manifest's recipe; the message says which field is wrong.
    ///
    /// # Errors
    /// When the value is not a recipe this version of exhibit understands.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        serde_json::from_value(value.clone()).map_err(|e| format!("the manifest's recipe: {e}"))
    }

    /// The config that makes the same model again (no progress display, no separate pose file: the pose
    /// files are among the inputs).
    ///
    /// # Errors
    /// When the recorded unit is not one this version knows.
    pub fn to_config(&self) -> Result<IngestConfig, String> {
        let unit = match &self.unit {
            Some(name) => Some(name.parse::<Unit>()?),
            None => None,
        };
        Ok(IngestConfig {
            read: crate::ReadOptions {
                unit,
                columns: self.columns.clone(),
            },
            poses: None,
            encode: codec::EncodeConfig {
                precision_m: self.precision_m,
            },
            points_only: self.points_only,
            refine_registration: self.refine_registration,
            surface: crate::surface::SurfaceOptions {
                depth: self.depth,
                screening: self.screening,
                normal_neighbours: self.normal_neighbours,
                viewpoint: self.viewpoint,
                measured_spacings: self.measured_spacings,
                trim_spacings: self.trim_spacings,
                simplify_error_m: self.simplify_error_m,
                voxel_m: self.voxel_m,
                outlier_ratio: self.outlier_ratio,
                progress: None,
            },
            lod: crate::lod::LodOptions {
                levels: self.lod_levels,
                min_triangles: self.lod_min_triangles,
            },
        })
    }
}

impl IngestConfig {
    /// The recipe of this config: what the manifest records.
    #[must_use]
    pub fn recipe(&self) -> Recipe {
        let surface = &self.surface;
        Recipe {
            unit: self.read.unit.map(|u| u.to_string()),
            columns: self.read.columns.clone(),
            precision_m: self.encode.precision_m,
            points_only: self.points_only,
            refine_registration: self.refine_registration,
            depth: surface.depth,
            screening: surface.screening,
            normal_neighbours: surface.normal_neighbours,
            viewpoint: surface.viewpoint,
            measured_spacings: surface.measured_spacings,
            trim_spacings: surface.trim_spacings,
            simplify_error_m: surface.simplify_error_m,
            voxel_m: surface.voxel_m,
            outlier_ratio: surface.outlier_ratio,
            lod_levels: self.lod.levels,
            lod_min_triangles: self.lod.min_triangles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipe_reads_back_into_the_same_config() {
        let config = IngestConfig {
            read: crate::ReadOptions {
                unit: Some(Unit::UsSurveyFoot),
                columns: Some(vec!["x".into(), "y".into(), "z".into(), "_".into()]),
            },
            encode: codec::EncodeConfig {
                precision_m: 0.1e-3 / 3.0,
            },
            points_only: true,
            refine_registration: true,
            surface: crate::surface::SurfaceOptions {
                depth: Some(7),
                viewpoint: Some([0.1, -2.5, 1e-7]),
                voxel_m: Some(0.7e-3),
                outlier_ratio: 2.5,
                trim_spacings: 0.0,
                ..crate::surface::SurfaceOptions::default()
            },
            lod: crate::lod::LodOptions {
                levels: 3,
                min_triangles: 100,
            },
            poses: None,
        };
        let text = serde_json::to_string(&config.recipe().to_json()).unwrap();
        let back = Recipe::from_json(&serde_json::from_str(&text).unwrap())
            .unwrap()
            .to_config()
            .unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn an_unknown_option_or_unit_is_refused_by_name() {
        let mut value = IngestConfig::default().recipe().to_json();
        value["sharpen"] = serde_json::json!(true);
        assert!(Recipe::from_json(&value).unwrap_err().contains("sharpen"));
        let mut recipe = IngestConfig::default().recipe();
        recipe.unit = Some("furlong".into());
        assert!(recipe.to_config().unwrap_err().contains("furlong"));
    }
}
