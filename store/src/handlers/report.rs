//! The custody report of a case: one printable HTML page (A4) in Chinese and English, with every evidence
//! item's hashes, capture facts, processing steps, confirmations and objections, the custody timeline
//! with each event's position and leaf hash in the log, the log's signed checkpoint, and a QR code to
//! the case's live view. The page is `templates/report.html`; this handler gathers its records.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::AppState;
use crate::db::rfc3339;
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::pages::{self, CustodyReport, ReportEvidence, TimelineRow};
use crate::records::{cases, comparisons, evidence};
use crate::services::auth::{self, Action, Caller};

/// `GET /api/cases/{case}/report`: the custody report, one printable page (A4) in Chinese and English.
#[utoipa::path(get, path = "/api/cases/{case}/report", tag = "custody", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    responses((status = 200, description = "the report", content_type = "text/html"), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody)))]
pub async fn case_report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Response> {
    let id = auth::case_for_as(&state, &caller, &case, Action::ReadCase, "custody_report").await?;
    let report = gather(&state, id, &caller.name).await?;
    Ok(pages::respond(StatusCode::OK, &report))
}

async fn gather(state: &AppState, id: i64, reader: &str) -> ApiResult<CustodyReport> {
    let pool = &state.db.pool;
    let case = cases::get(pool, id).await?;
    let checkpoint = crate::services::log::current_checkpoint(state).await?;
    let live_url = format!("{}/cases/{id}", state.public_url);
    let qr_svg = qrcode::QrCode::new(live_url.as_bytes())
        .map(|c| {
            c.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(120, 120)
                .build()
        })
        .map_err(|e| ApiError::internal("drawing the report's QR code", e))?;
    let mut items = Vec::new();
    for item in evidence::of_case(pool, id).await? {
        let mut manifests = Vec::with_capacity(item.versions.len());
        for version in &item.versions {
            manifests.push(pages::ManifestView::from(
                crate::services::blob_reads::manifest(state, version.manifest_sha256.as_deref())
                    .await,
            ));
        }
        items.push(ReportEvidence { item, manifests });
    }
    let timeline = crate::records::events::of_case(pool, id)
        .await?
        .into_iter()
        .map(|e| TimelineRow {
            seq: e.seq,
            at: rfc3339(e.at_ms),
            actor: e.actor,
            role: e.role,
            action: e.action,
            object: e.object,
            outcome: e.outcome,
            leaf_hash: e.leaf_hash,
        })
        .collect();
    Ok(CustodyReport {
        case,
        generated: rfc3339(crate::db::now_ms()),
        reader: reader.to_owned(),
        qr_svg,
        live_url,
        checkpoint,
        evidence: items,
        comparisons: comparisons::of_case(pool, id).await?,
        timeline,
    })
}
