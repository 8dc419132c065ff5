//! Pages: what people read in a browser, made from templates (`store/templates`) that escape every value by
//! default, with their style sheets and scripts as files (`store/assets`, served under `/assets/`) and the web
//! viewer's files (under `/app/`). No page carries an inline script or style: the Content Security Policy
//! (`security.rs`) refuses both, so markup that slipped into a value could not run even if it were not escaped.
//!
//! The top floor: handlers build the view models here from records; nothing here reads the database.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use askama::Template;

use crate::custody::Checkpoint;
use crate::error::ApiError;
use crate::records::cases::Case;
use crate::records::comparisons::Comparison;
use crate::records::confirmations::Confirmation;
use crate::records::evidence::{Evidence, Version};
use crate::records::models::ModelFacts;

pub mod views;

pub use views::{ComparisonView, ManifestView, PresentManifest};

/// The web viewer's files (`scripts/build-web`) with their content types: all that `/app/` serves, and all a
/// folder must hold to be served (one missing would leave pages half working).
pub const WEB_APP_FILES: [(&str, &str); 4] = [
    ("exhibit_web.js", "text/javascript; charset=utf-8"),
    ("exhibit_web_bg.wasm", "application/wasm"),
    ("viewer.js", "text/javascript; charset=utf-8"),
    ("case.js", "text/javascript; charset=utf-8"),
];

/// `dir` when it holds every file of [`WEB_APP_FILES`]; otherwise a sentence naming what it lacks.
pub fn check_web_dir(dir: &std::path::Path) -> Result<(), String> {
    let missing: Vec<&str> = WEB_APP_FILES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{} lacks {}", dir.display(), missing.join(", ")))
    }
}

/// A page as an answer: `status`, never cached (pages show live records), or a 500 when the template fails.
pub fn respond(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::response::Html(html),
        )
            .into_response(),
        Err(e) => ApiError::internal("drawing a page", e).into_response(),
    }
}

/// The seven standard views' buttons: six design-patent views and the isometric one.
const VIEWS: [(&str, &str); 7] = [
    ("front", "主视图 front"),
    ("back", "后视图 back"),
    ("left", "左视图 left"),
    ("right", "右视图 right"),
    ("top", "俯视图 top"),
    ("bottom", "仰视图 bottom"),
    ("iso", "立体图 iso"),
];

/// The live viewer on a share page (when the store serves the web viewer).
#[derive(Debug)]
pub struct LiveViewer {
    /// Two models: B placed by the saved comparison's transform (`[]`: as placed).
    pub compare: Option<CompareSettings>,
}

/// How the second model is shown.
#[derive(Debug)]
pub struct CompareSettings {
    /// JSON array of 16 numbers, or `[]`.
    pub transform_json: String,
    pub tolerance_mm: f64,
}

/// The second model of a comparison link.
#[derive(Debug)]
pub struct OtherModel {
    pub label: String,
    pub version: i64,
    pub sha256: String,
}

/// The page of a share link.
#[derive(Debug, Template)]
#[template(path = "share.html")]
pub struct SharePage {
    pub facts: ModelFacts,
    /// `/s/TOKEN`.
    pub base: String,
    pub expires: String,
    pub live: Option<LiveViewer>,
    pub comparison: Option<ComparisonView>,
    pub confirmations: Vec<Confirmation>,
    pub other: Option<OtherModel>,
    pub view: Option<String>,
    pub manifest: ManifestView,
    pub checkpoint: Option<Checkpoint>,
}

impl SharePage {
    pub fn views(&self) -> &'static [(&'static str, &'static str)] {
        &VIEWS
    }
}

/// A link that does not open: why, in both languages.
#[derive(Debug, Template)]
#[template(path = "closed.html")]
pub struct ClosedPage {
    pub zh: String,
    pub en: String,
}

/// The case page for signed-in users: its script asks the API.
#[derive(Debug, Template)]
#[template(path = "case.html")]
pub struct CasePage {
    pub case: i64,
    pub web_app: bool,
}

/// One evidence item in the custody report, with each version's manifest.
#[derive(Debug)]
pub struct ReportEvidence {
    pub item: Evidence,
    pub manifests: Vec<ManifestView>,
}

impl ReportEvidence {
    pub fn versions(&self) -> impl Iterator<Item = (&Version, &ManifestView)> {
        self.item.versions.iter().zip(&self.manifests)
    }

    /// The capture's facts as `key`, `value` texts.
    pub fn capture(&self) -> Vec<(String, String)> {
        self.item
            .capture
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "—".to_owned(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect()
    }
}

/// One event in the custody report's timeline.
#[derive(Debug)]
pub struct TimelineRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub leaf_hash: String,
}

impl TimelineRow {
    pub fn leaf_short(&self) -> &str {
        self.leaf_hash.get(..16).unwrap_or(&self.leaf_hash)
    }
}

/// The custody report of a case (printable, A4).
#[derive(Debug, Template)]
#[template(path = "report.html")]
pub struct CustodyReport {
    pub case: Case,
    pub generated: String,
    pub reader: String,
    /// The QR code of the live view, as SVG made by the `qrcode` crate from the store's own URL (no input of
    /// anyone's): the one value a template inserts unescaped.
    pub qr_svg: String,
    pub live_url: String,
    pub checkpoint: Option<Checkpoint>,
    pub evidence: Vec<ReportEvidence>,
    pub comparisons: Vec<Comparison>,
    pub timeline: Vec<TimelineRow>,
}
