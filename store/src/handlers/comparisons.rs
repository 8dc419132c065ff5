//! Saved comparisons: the report of `exhibit compare` (both models' hashes, the alignment and its
//! transform, the deviation statistics and histogram) kept with the case, with its heat map, so that a
//! judgment can cite it and a share link can show it.
//!
//! The store does not compute deviations (it never links the renderer or the geometry code); it checks
//! that the report is about two model versions of this case and that its figures are well-formed, keeps
//! the report's exact bytes as a blob (named by their hash, so any later change shows), and records who
//! saved it in the custody log. Anyone holding the two models can run `exhibit compare` again with the
//! recorded options and get the same figures: the comparison is deterministic.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::custody::Checkpoint;
use crate::db::now_ms;
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::handlers::extract::JsonBody;
use crate::records::comparisons::{self, Comparison, Summary};
use crate::records::models;
use crate::services::auth::case_for;
use crate::services::auth::{self, Action, Caller};
use crate::services::mutation::Mutation;
use crate::validate::{ComparisonReport, clean_sha256};

/// The largest heat map accepted (it travels inside the JSON body, base64).
const MAX_HEAT_MAP_BYTES: usize = 700 * 1024;

/// A comparison to keep with the case.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComparison {
    /// The report as `exhibit compare --report` writes it.
    #[schema(value_type = Object)]
    report: Value,
    /// The heat map (PNG), base64.
    heat_map_png: Option<String>,
}

/// The case a model hash is a version of.
async fn case_of_model(state: &AppState, sha256: &str) -> ApiResult<Option<i64>> {
    Ok(models::find(&state.db.pool, sha256).await?.map(|f| f.case))
}

/// A comparison as saved, with the log's checkpoint after its event: the receipt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedComparison {
    #[serde(flatten)]
    pub comparison: Comparison,
    pub checkpoint: Option<Checkpoint>,
}

/// `POST /api/cases/{case}/comparisons`: keep a comparison (its report checked, its figures typed) with the case.
#[utoipa::path(post, path = "/api/cases/{case}/comparisons", tag = "comparisons", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    request_body = NewComparison,
    responses((status = 201, body = SavedComparison), (status = 400, description = "a field is missing or wrong; the reason names it", body = ApiErrorBody), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody), (status = 404, description = "no such case or object, or one the caller may not know of", body = ApiErrorBody),
        (status = 413, description = "the heat map is too large", body = ApiErrorBody)))]
pub async fn save(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
    JsonBody(body): JsonBody<NewComparison>,
) -> ApiResult<(StatusCode, Json<SavedComparison>)> {
    let case = case_for(&state, &caller, &case, Action::Compare).await?;
    let report = ComparisonReport::parse(&body.report)?;
    let summary = Summary::of(&report);
    let (a, b) = (
        clean_sha256("report.a.sha256", &report.a.sha256)?,
        clean_sha256("report.b.sha256", &report.b.sha256)?,
    );
    for (field, sha) in [("a", &a), ("b", &b)] {
        if case_of_model(&state, sha).await? != Some(case) {
            return Err(ApiError::bad_request(format!(
                "field `report.{field}.sha256`: {sha} is not a model version of this case"
            )));
        }
    }
    let heat_map = match &body.heat_map_png {
        None => None,
        Some(text) => {
            let png = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| {
                    ApiError::bad_request(format!("field `heat_map_png`: not base64: {e}"))
                })?;
            if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
                return Err(ApiError::bad_request(
                    "field `heat_map_png`: not a PNG image",
                ));
            }
            if png.len() > MAX_HEAT_MAP_BYTES {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("field `heat_map_png`: over {MAX_HEAT_MAP_BYTES} bytes"),
                ));
            }
            Some(png)
        }
    };
    // The report's bytes as received, re-serialized with sorted keys: the same report is the same blob.
    let report_bytes = serde_json::to_vec(&body.report)
        .map_err(|e| ApiError::internal("serializing a report", e))?;
    let report_sha = codec::manifest::sha256_hex(&report_bytes);
    let heat_sha = heat_map
        .as_ref()
        .map(|png| codec::manifest::sha256_hex(png));
    state
        .blobs
        .put(&report_sha, report_bytes.clone())
        .await
        .map_err(|e| ApiError::storage("storing a comparison", &e))?;
    if let (Some(png), Some(sha)) = (&heat_map, &heat_sha) {
        state
            .blobs
            .put(sha, png.clone())
            .await
            .map_err(|e| ApiError::storage("storing a heat map", &e))?;
    }
    let now = now_ms();
    let mut change = Mutation::begin(&state, "saving a comparison").await?;
    for (sha, bytes) in std::iter::once((&report_sha, report_bytes.len()))
        .chain(heat_sha.iter().zip(heat_map.iter().map(Vec::len)))
    {
        crate::db::record_blob(&mut change.tx, sha, bytes as u64, now)
            .await
            .map_err(|e| change.failed(&e))?;
    }
    let id = comparisons::insert(
        &mut change.tx,
        case,
        &a,
        &b,
        &report_sha,
        heat_sha.as_deref(),
        &summary,
        caller.user_id,
        now,
    )
    .await
    .map_err(|e| change.failed(&e))?;
    change
        .commit(caller.event(
            "comparison_saved",
            Some(case),
            &format!("comparison {id}"),
            "ok",
            &format!(
                "A {a} against B {b} ({}), report {report_sha}",
                summary.method
            ),
        ))
        .await?;
    let comparison = comparisons::get(&state.db.pool, id).await?;
    let checkpoint = crate::services::log::current_checkpoint(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(SavedComparison {
            comparison,
            checkpoint,
        }),
    ))
}

/// The comparisons saved with a case.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComparisonList {
    pub comparisons: Vec<Comparison>,
}

/// `GET /api/cases/{case}/comparisons`.
#[utoipa::path(get, path = "/api/cases/{case}/comparisons", tag = "comparisons", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    responses((status = 200, body = ComparisonList), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such case or object, or one the caller may not know of", body = ApiErrorBody)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<ComparisonList>> {
    let case = case_for(&state, &caller, &case, Action::ReadCase).await?;
    Ok(Json(ComparisonList {
        comparisons: comparisons::of_case(&state.db.pool, case).await?,
    }))
}

/// The comparison in the URL, when the caller may read its case (404 alike otherwise).
async fn readable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Comparison> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let record = comparisons::get(&state.db.pool, id).await?;
    auth::authorize(
        state,
        caller,
        Action::ReadCase,
        Some(record.case),
        &format!("comparison {id}"),
    )
    .await?;
    Ok(record)
}

/// `GET /api/comparisons/{id}`.
#[utoipa::path(get, path = "/api/comparisons/{id}", tag = "comparisons", params(("id" = i64, Path, description = "the comparison's id")),
    responses((status = 200, body = Comparison), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such case or object, or one the caller may not know of", body = ApiErrorBody)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Comparison>> {
    Ok(Json(readable(&state, &caller, &id).await?))
}

/// A blob of a comparison (its report or heat map), checked against its hash before it is served.
pub(crate) async fn part(state: &AppState, sha: &str, content_type: &'static str) -> Response {
    match crate::services::blob_reads::read_checked(state, sha).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/comparisons/{id}/report.json`: the report's exact stored bytes.
#[utoipa::path(get, path = "/api/comparisons/{id}/report.json", tag = "comparisons", params(("id" = i64, Path, description = "the comparison's id")),
    responses((status = 200, description = "the report as saved, byte for byte", content_type = "application/json"),
        (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such case or object, or one the caller may not know of", body = ApiErrorBody)))]
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match readable(&state, &caller, &id).await {
        Ok(record) => part(&state, &record.report_sha256, "application/json").await,
        Err(e) => e.into_response(),
    }
}

/// `GET /api/comparisons/{id}/heat-map.png`.
#[utoipa::path(get, path = "/api/comparisons/{id}/heat-map.png", tag = "comparisons", params(("id" = i64, Path, description = "the comparison's id")),
    responses((status = 200, description = "the heat map saved with it", content_type = "image/png"),
        (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such case or object, or one the caller may not know of", body = ApiErrorBody)))]
pub async fn heat_map(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match readable(&state, &caller, &id).await {
        Ok(record) => match &record.heat_map_sha256 {
            Some(sha) => part(&state, sha, "image/png").await,
            None => ApiError::new(
                StatusCode::NOT_FOUND,
                "this comparison was saved without a heat map",
            )
            .into_response(),
        },
        Err(e) => e.into_response(),
    }
}
