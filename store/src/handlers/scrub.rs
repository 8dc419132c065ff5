//! `POST /api/admin/scrub`: check every stored blob now (admin); the work is `services::scrub`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::services::auth::{self, Action, Caller};
use crate::services::scrub::{ScrubReport, scrub};

/// `POST /api/admin/scrub`.
#[utoipa::path(post, path = "/api/admin/scrub", tag = "custody",
    responses((status = 200, body = ScrubReport), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may not do this", body = ApiErrorBody)))]
pub async fn scrub_endpoint(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<ScrubReport>> {
    auth::authorize(&state, &caller, Action::Scrub, None, "store").await?;
    let report = scrub(&state.db, &state.blobs)
        .await
        .map_err(|e| ApiError::internal("scrubbing the store", e))?;
    auth::log_event(
        &state,
        &caller,
        "scrub",
        None,
        "store",
        if report.ok { "ok" } else { "damaged" },
        &report.problems.join("; "),
    )
    .await?;
    Ok(Json(report))
}
