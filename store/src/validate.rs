//! Every untrusted value is checked here, where it enters: request bodies, the manifest inside an uploaded
//! GLB, comparison reports, imported bundles. One set of validators, so that a field checked on one way in
//! is checked the same on every other (an imported record passes the checks an API call passes).
//!
//! This is the store's lowest floor: it imports nothing of the store but its error type.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// A name or text from a client: no control characters, not empty, at most `max` characters.
pub fn clean_text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request(format!("field `{field}` is empty")));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "field `{field}` is longer than {max} characters"
        )));
    }
    if let Some((i, c)) = trimmed.char_indices().find(|(_, c)| c.is_control()) {
        return Err(ApiError::bad_request(format!(
            "field `{field}` has a control character (U+{:04X}) at byte {i}",
            c as u32
        )));
    }
    Ok(trimmed.to_owned())
}

/// Like [`clean_text`], but empty is allowed (an optional description or reason).
pub fn optional_text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    if value.trim().is_empty() {
        Ok(String::new())
    } else {
        clean_text(field, value, max)
    }
}

/// A file name: clean text without folders, so it can never name a path outside where it is put.
pub fn clean_filename(field: &str, value: &str) -> ApiResult<String> {
    let name = clean_text(field, value, 255)?;
    if name.contains(['/', '\\']) || name == "." || name == ".." || name.starts_with("..") {
        return Err(ApiError::bad_request(format!(
            "field `{field}`: {name:?} is not a plain file name (no folders, no ..)"
        )));
    }
    Ok(name)
}

/// A SHA-256 in lower-case hex, as every blob is named.
pub fn clean_sha256(field: &str, value: &str) -> ApiResult<String> {
    let v = value.trim().to_ascii_lowercase();
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v)
    } else {
        Err(ApiError::bad_request(format!(
            "field `{field}`: expected 64 hex digits (a SHA-256), got {:?}",
            value.chars().take(80).collect::<String>()
        )))
    }
}

/// A finite number (JSON cannot carry NaN, but a hostile writer can send 1e400, which parses as infinity).
pub fn finite(field: &str, value: f64) -> ApiResult<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "field `{field}`: expected a finite number"
        )))
    }
}

/// A share between 0 and 1.
pub fn fraction(field: &str, value: f64) -> ApiResult<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "field `{field}`: expected a share between 0 and 1, got {value}"
        )))
    }
}

/// The sides a party can take.
pub const SIDES: [&str; 3] = ["plaintiff", "defendant", "third_party"];

/// One of [`SIDES`].
pub fn side(field: &str, value: &str) -> ApiResult<String> {
    if SIDES.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(ApiError::bad_request(format!(
            "field `{field}`: {value:?} is not one of {}",
            SIDES.join(", ")
        )))
    }
}

/// The kinds of evidence item.
pub const EVIDENCE_KINDS: [&str; 4] = ["patented_design", "accused_product", "prior_art", "other"];

/// One of [`EVIDENCE_KINDS`].
pub fn evidence_kind(field: &str, value: &str) -> ApiResult<String> {
    if EVIDENCE_KINDS.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(ApiError::bad_request(format!(
            "field `{field}`: {value:?} is not one of {}",
            EVIDENCE_KINDS.join(", ")
        )))
    }
}

/// The facts of a capture (scanner, operator, date, place…): an object whose values are short texts or
/// numbers, nothing nested.
pub fn capture(
    field: &str,
    value: &serde_json::Value,
) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let object = match value {
        Value::Null => return Ok(serde_json::Map::new()),
        Value::Object(object) => object,
        _ => {
            return Err(ApiError::bad_request(format!(
                "field `{field}`: expected an object (scanner, operator, date, place…)"
            )));
        }
    };
    if object.len() > 64 {
        return Err(ApiError::bad_request(format!(
            "field `{field}`: more than 64 entries"
        )));
    }
    let mut clean = serde_json::Map::new();
    for (key, item) in object {
        let key = clean_text(&format!("{field} key"), key, 100)?;
        let item = match item {
            Value::String(text) => {
                Value::String(optional_text(&format!("{field}.{key}"), text, 1000)?)
            }
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => item.clone(),
            Value::Bool(_) | Value::Null => item.clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "field `{field}.{key}`: expected text, a number or true/false"
                )));
            }
        };
        clean.insert(key, item);
    }
    Ok(clean)
}

/// A manifest read from an uploaded GLB (or its sidecar): every field a page or report prints is checked as a
/// request's field would be. The first problem is named with its path.
pub fn manifest(m: &codec::manifest::Manifest) -> ApiResult<()> {
    clean_text("manifest.software", &m.software, 500)?;
    clean_sha256("manifest.bin_sha256", &m.bin_sha256)?;
    for (i, input) in m.inputs.iter().enumerate() {
        clean_text(&format!("manifest.inputs[{i}].name"), &input.name, 255)?;
        clean_sha256(&format!("manifest.inputs[{i}].sha256"), &input.sha256)?;
        clean_text(&format!("manifest.inputs[{i}].format"), &input.format, 100)?;
        if let Some(scan) = &input.used_by {
            // A material file or image has no unit of its own: its scan's applies.
            optional_text(&format!("manifest.inputs[{i}].unit"), &input.unit, 20)?;
            clean_text(&format!("manifest.inputs[{i}].used_by"), scan, 255)?;
        } else {
            clean_text(&format!("manifest.inputs[{i}].unit"), &input.unit, 20)?;
        }
    }
    for (i, texture) in m.textures.iter().enumerate() {
        let at = |field: &str| format!("manifest.textures[{i}].{field}");
        clean_text(&at("name"), &texture.name, 255)?;
        clean_text(&at("mime_type"), &texture.mime_type, 40)?;
        clean_sha256(&at("sha256"), &texture.sha256)?;
        clean_sha256(&at("origin.source_sha256"), &texture.origin.source_sha256)?;
        clean_text(&at("origin.transform"), &texture.origin.transform, 1000)?;
        finite(&at("origin.loss.ssim"), texture.origin.loss.ssim)?;
        for psnr in texture.origin.loss.psnr_db.iter().flatten() {
            finite(&at("origin.loss.psnr_db"), *psnr)?;
        }
        finite(&at("max_uv_error_texels"), texture.max_uv_error_texels)?;
    }
    for (i, step) in m.steps.iter().enumerate() {
        clean_text(&format!("manifest.steps[{i}].name"), &step.name, 100)?;
        clean_text(
            &format!("manifest.steps[{i}].software"),
            &step.software,
            500,
        )?;
    }
    let bounds = &m.error_bounds;
    finite("manifest.error_bounds.precision_mm", bounds.precision_mm)?;
    finite("manifest.error_bounds.grid_step_mm", bounds.grid_step_mm)?;
    finite(
        "manifest.error_bounds.max_position_error_mm",
        bounds.max_position_error_mm,
    )?;
    fraction(
        "manifest.surface.reconstructed_area_fraction",
        m.surface.reconstructed_area_fraction,
    )?;
    for (i, v) in m
        .geometry
        .bounds_min_m
        .iter()
        .chain(&m.geometry.bounds_max_m)
        .chain(&m.origin_m)
        .enumerate()
    {
        finite(&format!("manifest.geometry bounds/origin [{i}]"), *v)?;
    }
    for (i, attribute) in m.geometry.attributes.iter().enumerate() {
        clean_text(
            &format!("manifest.geometry.attributes[{i}]"),
            attribute,
            100,
        )?;
    }
    Ok(())
}

/// A comparison report as `exhibit compare --report` writes it: the parts the store reads, pages show and
/// bundles carry, typed. Other fields are kept in the stored bytes but never shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComparisonReport {
    pub a: ReportModel,
    pub b: ReportModel,
    /// Maps B onto A, 16 numbers, column-major.
    pub transform: Vec<f64>,
    pub mean_mm: f64,
    pub rms_mm: f64,
    pub p95_mm: f64,
    pub max_mm: f64,
    pub within_tolerance: f64,
    pub tolerance_mm: f64,
    pub alignment: ReportAlignment,
    #[serde(default)]
    pub statistics: Option<ReportStatistics>,
}

/// One side of a comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportModel {
    pub sha256: String,
}

/// How B was aligned onto A.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportAlignment {
    pub method: String,
    pub rms_mm: f64,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub rotation_deg: Option<f64>,
    #[serde(default)]
    pub translation_mm: Option<f64>,
}

/// The deviation's distribution.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportStatistics {
    #[serde(default)]
    pub histogram: Vec<HistogramBin>,
    #[serde(default)]
    pub invented_share: Option<f64>,
}

/// One bin of signed deviations.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct HistogramBin {
    pub from_mm: f64,
    pub to_mm: f64,
    pub count: u64,
}

impl ComparisonReport {
    /// Read and check a report: the two hashes, the transform, every figure finite, shares within 0..1, texts
    /// clean. The same check runs when a party saves a comparison and when a bundle brings one in.
    pub fn parse(value: &serde_json::Value) -> ApiResult<Self> {
        let report: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            ApiError::bad_request(format!("field `report.{}`: {}", e.path(), e.inner()))
        })?;
        report.check()?;
        Ok(report)
    }

    fn check(&self) -> ApiResult<()> {
        clean_sha256("report.a.sha256", &self.a.sha256)?;
        clean_sha256("report.b.sha256", &self.b.sha256)?;
        if self.transform.len() != 16 {
            return Err(ApiError::bad_request(
                "field `report.transform`: expected 16 finite numbers (column-major, mapping B onto A)",
            ));
        }
        for (i, v) in self.transform.iter().enumerate() {
            finite(&format!("report.transform[{i}]"), *v)?;
        }
        for (field, v) in [
            ("mean_mm", self.mean_mm),
            ("rms_mm", self.rms_mm),
            ("p95_mm", self.p95_mm),
            ("max_mm", self.max_mm),
            ("tolerance_mm", self.tolerance_mm),
            ("alignment.rms_mm", self.alignment.rms_mm),
        ] {
            finite(&format!("report.{field}"), v)?;
        }
        fraction("report.within_tolerance", self.within_tolerance)?;
        clean_text("report.alignment.method", &self.alignment.method, 200)?;
        if let Some(start) = &self.alignment.start {
            clean_text("report.alignment.start", start, 200)?;
        }
        for (field, v) in [
            ("alignment.rotation_deg", self.alignment.rotation_deg),
            ("alignment.translation_mm", self.alignment.translation_mm),
        ] {
            if let Some(v) = v {
                finite(&format!("report.{field}"), v)?;
            }
        }
        if let Some(statistics) = &self.statistics {
            if statistics.histogram.len() > 1000 {
                return Err(ApiError::bad_request(
                    "field `report.statistics.histogram`: more than 1000 bins",
                ));
            }
            for (i, bin) in statistics.histogram.iter().enumerate() {
                finite(
                    &format!("report.statistics.histogram[{i}].from_mm"),
                    bin.from_mm,
                )?;
                finite(
                    &format!("report.statistics.histogram[{i}].to_mm"),
                    bin.to_mm,
                )?;
            }
            if let Some(share) = statistics.invented_share {
                fraction("report.statistics.invented_share", share)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> serde_json::Value {
        serde_json::json!({
            "a": {"sha256": "a".repeat(64)}, "b": {"sha256": "b".repeat(64)},
            "transform": [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            "mean_mm": 0.1, "rms_mm": 0.2, "p95_mm": 0.3, "max_mm": 0.4, "within_tolerance": 0.9,
            "tolerance_mm": 0.5, "alignment": {"method": "icp", "rms_mm": 0.1, "start": "as given"},
            "statistics": {"histogram": [{"from_mm": -1.0, "to_mm": 1.0, "count": 3}], "invented_share": 0.0}
        })
    }

    /// Issue 21: a histogram edge that is a string (markup) is refused, not printed into the page's SVG.
    #[test]
    fn a_report_whose_numbers_are_strings_is_refused() {
        assert!(ComparisonReport::parse(&report()).is_ok());
        let mut bad = report();
        bad["statistics"]["histogram"][0]["from_mm"] = "<script>alert(1)</script>".into();
        let error = ComparisonReport::parse(&bad).unwrap_err();
        assert!(error.message.contains("histogram[0].from_mm"), "{error}");
        let mut bad = report();
        bad["alignment"]["start"] = "a\u{7}b".into();
        assert!(ComparisonReport::parse(&bad).is_err());
        let mut bad = report();
        bad["a"]["sha256"] = "<b>".into();
        assert!(ComparisonReport::parse(&bad).is_err());
    }

    #[test]
    fn captures_are_flat_and_clean() {
        let ok = serde_json::json!({"scanner": "EinScan", "points": 12});
        assert_eq!(capture("capture", &ok).unwrap().len(), 2);
        assert!(capture("capture", &serde_json::json!({"a": {"b": 1}})).is_err());
        assert!(capture("capture", &serde_json::json!([1])).is_err());
        assert!(
            capture("capture", &serde_json::Value::Null)
                .unwrap()
                .is_empty()
        );
    }
}
