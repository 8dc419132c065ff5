//! Share links: view-only, expiring, revocable one by one, scoped to one model version (or the two
//! models of a comparison). The token is 128 random bits, given out once and stored only as its hash.
//! Each link has a page (the model's facts, a render, a download), and a QR code of itself.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::db::{now_ms, rfc3339};
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::handlers::extract::JsonBody;
use crate::pages;
use crate::records::{self, comparisons::Comparison, models};
use crate::services::auth::{self, Action, Caller};
use crate::services::mutation::Mutation;
use crate::validate::{ComparisonReport, clean_sha256, clean_text};

/// Default lifetime of a link, and the longest allowed.
const DEFAULT_EXPIRY_S: i64 = 7 * 24 * 3600;
const MAX_EXPIRY_S: i64 = 366 * 24 * 3600;

/// A share link to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// SHA-256 of a model version (or give `comparison`).
    model: Option<String>,
    /// A second model of the same case, for a comparison link.
    other: Option<String>,
    /// A saved comparison: the link shows its two models, figures and heat map.
    comparison: Option<i64>,
    /// Seconds until the link stops working.
    expires_in_s: Option<i64>,
    /// The camera the viewer should open with (carried in the link's fragment).
    view: Option<String>,
}

/// A link made: its address (the token is in it and shown once), expiry and QR codes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareCreated {
    pub id: i64,
    pub url: String,
    pub token: String,
    pub expires_at: String,
    pub qr_png: String,
    pub qr_svg: String,
    pub model: String,
    pub other: Option<String>,
    pub comparison: Option<i64>,
}

/// `POST /api/shares`: a view-only, expiring link to one model version (or a saved comparison's two).
#[utoipa::path(post, path = "/api/shares", tag = "shares", request_body = NewShare,
    responses((status = 201, body = ShareCreated), (status = 400, description = "a field is missing or wrong; the reason names it", body = ApiErrorBody), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(body): JsonBody<NewShare>,
) -> ApiResult<(StatusCode, Json<ShareCreated>)> {
    // A saved comparison names its two models; the link is to them.
    let (model, other) = match (body.comparison, &body.model, &body.other) {
        (Some(id), None, None) => {
            let saved = records::comparisons::get(&state.db.pool, id).await?;
            (saved.a, Some(saved.b))
        }
        (Some(_), _, _) => {
            return Err(ApiError::bad_request(
                "field `comparison`: a comparison link names its models itself; leave out `model` and `other`",
            ));
        }
        (None, Some(model), other) => (clean_sha256("model", model)?, other.clone()),
        (None, None, _) => {
            return Err(ApiError::bad_request(
                "field `model`: the SHA-256 of a model version (or `comparison`, a saved comparison's id)",
            ));
        }
    };
    let facts = models::find(&state.db.pool, &model)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let case = facts.case;
    auth::authorize(
        &state,
        &caller,
        Action::Share,
        Some(case),
        &format!("model {model}"),
    )
    .await?;
    let other = match &other {
        Some(other) => {
            let other = clean_sha256("other", other)?;
            let other_facts = models::find(&state.db.pool, &other).await?.ok_or_else(|| {
                ApiError::bad_request("field `other`: no model version has that hash")
            })?;
            if other_facts.case != facts.case {
                return Err(ApiError::bad_request(
                    "field `other`: a comparison link joins two models of the same case",
                ));
            }
            Some(other)
        }
        None => None,
    };
    let expires_in = body.expires_in_s.unwrap_or(DEFAULT_EXPIRY_S);
    if !(1..=MAX_EXPIRY_S).contains(&expires_in) {
        return Err(ApiError::bad_request(format!(
            "field `expires_in_s`: {expires_in} is not between 1 and {MAX_EXPIRY_S} seconds"
        )));
    }
    let view = match &body.view {
        Some(v) => Some(clean_text("view", v, 500)?),
        None => None,
    };
    let token = auth::random_hex(16);
    let now = now_ms();
    let expires_ms = now + expires_in * 1000;
    let mut change = Mutation::begin(&state, "creating a share link").await?;
    let token_hash = auth::token_hash(&token);
    let row = records::shares::NewShareRow {
        token_hash: &token_hash,
        case,
        model: &model,
        other: other.as_deref(),
        view: view.as_deref(),
        created_by: caller.user_id,
        created_ms: now,
        expires_ms,
        comparison: body.comparison,
    };
    let id = records::shares::insert(&mut change.tx, &row)
        .await
        .map_err(|e| change.failed(&e))?;
    change
        .commit(caller.event(
            "share_created",
            Some(case),
            &format!("share {id}"),
            "ok",
            &format!(
                "model {model}{} until {}",
                body.comparison
                    .map(|c| format!(", comparison {c}"))
                    .unwrap_or_default(),
                rfc3339(expires_ms)
            ),
        ))
        .await?;
    let base = format!("{}/s/{token}", state.public_url);
    Ok((
        StatusCode::CREATED,
        Json(ShareCreated {
            id,
            url: link_url(&base),
            token,
            expires_at: rfc3339(expires_ms),
            qr_png: format!("{base}/qr.png"),
            qr_svg: format!("{base}/qr.svg"),
            model,
            other,
            comparison: body.comparison,
        }),
    ))
}

/// The link as people receive it: the store's address and the token, nothing more. The camera is stored with
/// the link and shown on its page, so the link stays about 60 characters and its QR code a small symbol
/// (version 4 or 5) with large modules that a phone reads across a courtroom.
fn link_url(base: &str) -> String {
    base.to_owned()
}

/// Whose links.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// The case's id.
    case: i64,
}

/// One link of a case, as its makers see it (never its token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareSummary {
    pub id: i64,
    pub model: String,
    pub other: Option<String>,
    pub comparison: Option<i64>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

/// The links of a case.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareList {
    pub shares: Vec<ShareSummary>,
}

/// `GET /api/shares?case=ID`: the case's links and their state.
#[utoipa::path(get, path = "/api/shares", tag = "shares", params(ListQuery),
    responses((status = 200, body = ShareList), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<ShareList>> {
    auth::authorize(
        &state,
        &caller,
        Action::Share,
        Some(query.case),
        &format!("case {} shares", query.case),
    )
    .await?;
    let rows = records::shares::of_case(&state.db.pool, query.case).await?;
    let now = now_ms();
    let shares = rows
        .into_iter()
        .map(|r| ShareSummary {
            id: r.id,
            model: r.model_sha256,
            other: r.other_sha256,
            comparison: r.comparison_id,
            created_by: r.name,
            created_at: rfc3339(r.created_ms),
            expires_at: rfc3339(r.expires_ms),
            revoked_at: r.revoked_ms.map(rfc3339),
            state: if r.revoked_ms.is_some() {
                "revoked"
            } else if r.expires_ms <= now {
                "expired"
            } else {
                "active"
            }
            .to_owned(),
        })
        .collect();
    Ok(Json(ShareList { shares }))
}

/// `DELETE /api/shares/{id}`: the link stops working at once.
#[utoipa::path(delete, path = "/api/shares/{id}", tag = "shares",
    params(("id" = i64, Path, description = "the link's id")),
    responses((status = 204, description = "revoked"), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody)))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let case = records::shares::case_of(&state.db.pool, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    auth::authorize(
        &state,
        &caller,
        Action::RevokeShare,
        Some(case),
        &format!("share {id}"),
    )
    .await?;
    let mut change = Mutation::begin(&state, "revoking a share link").await?;
    records::shares::revoke(&mut change.tx, id, now_ms())
        .await
        .map_err(|e| change.failed(&e))?;
    change
        .commit(caller.event(
            "share_revoked",
            Some(case),
            &format!("share {id}"),
            "ok",
            "",
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A live link's row.
#[derive(Debug)]
struct Link {
    id: i64,
    case: i64,
    model: String,
    other: Option<String>,
    view: Option<String>,
    expires_ms: i64,
    token: String,
    comparison: Option<i64>,
}

/// Why a link does not open.
enum Closed {
    Unknown,
    Expired(i64),
    Revoked(i64),
    Error(ApiError),
}

async fn open_link(state: &AppState, token: &str) -> Result<Link, Closed> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Closed::Unknown);
    }
    let row = records::shares::by_token_hash(&state.db.pool, &auth::token_hash(token))
        .await
        .map_err(Closed::Error)?
        .ok_or(Closed::Unknown)?;
    if let Some(revoked) = row.revoked_ms {
        return Err(Closed::Revoked(revoked));
    }
    if row.expires_ms <= now_ms() {
        return Err(Closed::Expired(row.expires_ms));
    }
    Ok(Link {
        id: row.id,
        case: row.case_id,
        model: row.model_sha256,
        other: row.other_sha256,
        view: row.view,
        expires_ms: row.expires_ms,
        token: token.to_owned(),
        comparison: row.comparison_id,
    })
}

/// The page for a link that does not open: 404 for an unknown one, 410 for an expired or revoked one,
/// always a page that says so in words (in Chinese and English), never an empty screen.
fn closed_page(closed: Closed) -> Response {
    let (status, zh, en) = match closed {
        Closed::Unknown => (
            StatusCode::NOT_FOUND,
            "此分享链接不存在。".to_owned(),
            "This share link does not exist.".to_owned(),
        ),
        Closed::Expired(at) => (
            StatusCode::GONE,
            format!("此分享链接已于 {} 过期。", rfc3339(at)),
            format!("This share link expired at {}.", rfc3339(at)),
        ),
        Closed::Revoked(at) => (
            StatusCode::GONE,
            format!("此分享链接已于 {} 被撤销。", rfc3339(at)),
            format!("This share link was revoked at {}.", rfc3339(at)),
        ),
        Closed::Error(e) => return e.into_response(),
    };
    pages::respond(status, &pages::ClosedPage { zh, en })
}

/// Record a visit through a link; the visit is refused when it cannot be recorded.
async fn source_and_log(
    state: &AppState,
    headers: &HeaderMap,
    source: &str,
    link: &Link,
    action: &str,
    detail: &str,
) -> ApiResult<()> {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The browser goes with the address into `source`, which parties never see.
    let agent: String = agent
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    auth::record_event(
        state,
        &format!("share {}", link.id),
        auth::SHARE_LINK_ROLE,
        &format!("{source} · {agent}"),
        action,
        Some(link.case),
        &format!("model {}", link.model),
        "ok",
        detail,
    )
    .await
}

/// `GET /s/{token}`: the link's page (the model's facts, live viewer, render, QR code, download).
#[utoipa::path(get, path = "/s/{token}", tag = "share links", params(("token" = String, Path, description = "the link's token, 32 hex digits")),
    responses((status = 200, description = "the page", content_type = "text/html"), (status = 404, description = "no such link (a page saying so)", content_type = "text/html"), (status = 410, description = "the link expired or was revoked (a page saying when)", content_type = "text/html"), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn page(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    let source = peer.map_or_else(|| "unknown".to_owned(), |p| p.0.0.to_string());
    let link = match open_link(&state, &token).await {
        Ok(link) => link,
        Err(closed) => return closed_page(closed),
    };
    if let Err(e) = source_and_log(&state, &headers, &source, &link, "share_viewed", "").await {
        return e.into_response();
    }
    match page_html(&state, &link).await {
        Ok(page) => pages::respond(StatusCode::OK, &page),
        Err(e) => e.into_response(),
    }
}

/// A saved comparison with its report read back and checked.
async fn comparison_view(state: &AppState, saved: Comparison) -> pages::ComparisonView {
    let report = crate::services::blob_reads::read_checked(state, &saved.report_sha256)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|value| ComparisonReport::parse(&value).ok());
    pages::ComparisonView { saved, report }
}

async fn page_html(state: &AppState, link: &Link) -> ApiResult<pages::SharePage> {
    let pool = &state.db.pool;
    let facts = models::find(pool, &link.model)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let manifest = pages::ManifestView::from(
        crate::services::blob_reads::manifest(state, facts.manifest_sha256.as_deref()).await,
    );
    // The log's checkpoint, this visit included: the page is a receipt too.
    let checkpoint = crate::services::log::current_checkpoint(state).await?;
    let other = match &link.other {
        Some(other) => models::find(pool, other).await?.map(|f| pages::OtherModel {
            label: f.label,
            version: f.version,
            sha256: f.sha256,
        }),
        None => None,
    };
    let saved = match link.comparison {
        Some(id) => Some(records::comparisons::get(pool, id).await?),
        None => None,
    };
    // Two models: the live view places B by the saved comparison's transform, or as placed.
    let compare = match (&link.other, &saved) {
        (None, _) => None,
        (Some(_), None) => Some(pages::CompareSettings {
            transform_json: "[]".to_owned(),
            tolerance_mm: 0.5,
        }),
        (Some(_), Some(saved)) => Some(pages::CompareSettings {
            transform_json: serde_json::to_string(&saved.summary.transform)
                .unwrap_or_else(|_| "[]".to_owned()),
            tolerance_mm: saved.summary.tolerance_mm,
        }),
    };
    let comparison = match saved {
        Some(saved) => Some(comparison_view(state, saved).await),
        None => None,
    };
    let confirmations = records::confirmations::of_version(pool, facts.version_id).await?;
    Ok(pages::SharePage {
        base: format!("/s/{}", link.token),
        expires: rfc3339(link.expires_ms),
        live: state
            .config
            .web_dir
            .is_some()
            .then_some(pages::LiveViewer { compare }),
        comparison,
        confirmations,
        other,
        view: link.view.clone(),
        manifest,
        checkpoint,
        facts,
    })
}

fn link_or_page(result: Result<Link, Closed>) -> Result<Link, Box<Response>> {
    result.map_err(|c| Box::new(closed_page(c)))
}

/// `GET /s/{token}/model.glb`: the model, as stored (Range and zstd as for blobs).
#[utoipa::path(get, path = "/s/{token}/model.glb", tag = "share links", params(("token" = String, Path, description = "the link's token, 32 hex digits")),
    responses((status = 200, description = "the GLB", content_type = "application/octet-stream"), (status = 404, description = "no such link (a page saying so)", content_type = "text/html"), (status = 410, description = "the link expired or was revoked (a page saying when)", content_type = "text/html"), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn model(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    link_download(&state, &token, &headers, peer, false).await
}

/// `GET /s/{token}/other.glb`: a comparison link's second model.
#[utoipa::path(get, path = "/s/{token}/other.glb", tag = "share links", params(("token" = String, Path, description = "the link's token, 32 hex digits")),
    responses((status = 200, description = "the GLB", content_type = "application/octet-stream"), (status = 404, description = "no such link (a page saying so)", content_type = "text/html"), (status = 410, description = "the link expired or was revoked (a page saying when)", content_type = "text/html"), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn other_model(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    link_download(&state, &token, &headers, peer, true).await
}

/// A model through a link (the first, or a comparison's second), logged as the link's download.
async fn link_download(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    other: bool,
) -> Response {
    let source = peer.map_or_else(|| "unknown".to_owned(), |p| p.0.0.to_string());
    let link = match link_or_page(open_link(state, token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    let sha = if other {
        link.other.clone()
    } else {
        Some(link.model.clone())
    };
    let Some(sha) = sha else {
        return ApiError::not_found().into_response();
    };
    let detail = if other { "other" } else { "" };
    if let Err(e) = source_and_log(state, headers, &source, &link, "share_download", detail).await {
        return e.into_response();
    }
    crate::handlers::download::serve_blob(state, headers, &sha)
        .await
        .into_response()
}

/// The model drawn by the previewer, made once and kept as a blob.
#[utoipa::path(get, path = "/s/{token}/render.png", tag = "share links", params(("token" = String, Path, description = "the link's token, 32 hex digits")),
    responses((status = 200, description = "the render", content_type = "image/png"),
        (status = 422, description = "this model cannot be drawn (the reason is kept)", body = ApiErrorBody),
        (status = 503, description = "the renderer is busy", body = ApiErrorBody), (status = 404, description = "no such link (a page saying so)", content_type = "text/html"), (status = 410, description = "the link expired or was revoked (a page saying when)", content_type = "text/html"), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn render(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
) -> Response {
    let link = match link_or_page(open_link(&state, &token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    match preview_png(&state, &link.model).await {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            png,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn preview_png(state: &AppState, model: &str) -> ApiResult<Vec<u8>> {
    if let Some(sha) = records::previews::of_model(&state.db.pool, model).await? {
        if let Ok(bytes) = crate::services::blob_reads::read_checked(state, &sha).await {
            return Ok(bytes);
        }
        tracing::warn!("preview {sha} is damaged; drawing it again");
    }
    let Some(previewer) = state.config.previewer.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this store draws no previews (started without a renderer)",
        ));
    };
    // A model that failed once fails again: say so from the record instead of drawing it again.
    if let Some(reason) = records::previews::failure(&state.db.pool, model).await? {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, reason));
    }
    let size = crate::services::blob_reads::blob_size(state, model).await?;
    if size > MAX_PREVIEW_BYTES {
        return Err(preview_failed(
            state,
            model,
            format!(
                "the model is {size} bytes; previews are drawn for models up to {MAX_PREVIEW_BYTES}"
            ),
        )
        .await);
    }
    // One render at a time: each takes every core of a CPU renderer, and a queue of them must not grow
    // without bound. A request that waits too long is told to come back.
    let _permit = tokio::time::timeout(PREVIEW_WAIT, state.preview_slots.acquire())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is drawing other previews; try again in a minute",
            )
        })?
        .map_err(|e| ApiError::internal("preview slots", e))?;
    let glb = crate::services::blob_reads::read_checked(state, model).await?;
    let drawn = tokio::task::spawn_blocking(move || previewer(&glb))
        .await
        .map_err(|e| ApiError::internal("drawing a preview", e))?;
    let png = match drawn {
        Ok(png) => png,
        Err(e) => {
            return Err(preview_failed(state, model, format!("drawing a preview: {e:#}")).await);
        }
    };
    let sha = codec::manifest::sha256_hex(&png);
    state
        .blobs
        .put(&sha, png.clone())
        .await
        .map_err(|e| ApiError::storage("storing a preview", &e))?;
    let _guard = state.db.write().await;
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .map_err(|e| ApiError::database("storing a preview", &e))?;
    crate::db::record_blob(&mut tx, &sha, png.len() as u64, now_ms())
        .await
        .map_err(|e| ApiError::database("storing a preview", &e))?;
    records::previews::keep(&mut tx, model, &sha)
        .await
        .map_err(|e| ApiError::database("storing a preview", &e))?;
    tx.commit()
        .await
        .map_err(|e| ApiError::database("storing a preview", &e))?;
    Ok(png)
}

/// The largest model the store draws a preview of.
const MAX_PREVIEW_BYTES: u64 = 256 << 20;
/// How long a preview request waits for the renderer.
const PREVIEW_WAIT: std::time::Duration = std::time::Duration::from_mins(1);

/// Record that a model's preview cannot be drawn (so it is not tried again), and the answer saying why.
async fn preview_failed(state: &AppState, model: &str, reason: String) -> ApiError {
    tracing::warn!("preview of {model}: {reason}");
    let _guard = state.db.write().await;
    if let Err(e) = records::previews::keep_failure(&state.db.pool, model, &reason, now_ms()).await
    {
        tracing::warn!("recording a failed preview: {e}");
    }
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, reason)
}

fn qr_of(state: &AppState, link: &Link) -> ApiResult<qrcode::QrCode> {
    let url = link_url(&format!("{}/s/{}", state.public_url, link.token));
    qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::internal("drawing the QR code", e))
}

/// `GET /s/{token}/qr.png`: the link's QR code.
#[utoipa::path(get, path = "/s/{token}/qr.png", tag = "share links", params(("token" = String, Path, description = "the link's token, 32 hex digits")),
    responses((status = 200, description = "the QR code", content_type = "image/png"), (status = 404, description = "no such link (a page saying so)", content_type = "text/html"), (status = 410, description = "the link expired or was revoked (a page saying when)", content_type = "text/html"), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn qr_png(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
) -> Response {
    let link = match link_or_page(open_link(&state, &token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    let result = qr_of(&state, &link).and_then(|code| {
        let image = code
            .render::<image::Luma<u8>>()
            .min_dimensions(320, 320)
            .quiet_zone(true)
            .build();
        let mut png = Vec::new();
        image::DynamicImage::ImageLuma8(image)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| ApiError::internal("encoding the QR code", e))?;
        Ok(png)
    });
    match result {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            png,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /s/{token}/qr.svg`: the link's QR code.
#[utoipa::path(get, path = "/s/{token}/qr.svg", tag = "share links", params(("token" = String, Path, description = "the link's token, 32 hex digits")),
    responses((status = 200, description = "the QR code", content_type = "image/svg+xml"), (status = 404, description = "no such link (a page saying so)", content_type = "text/html"), (status = 410, description = "the link expired or was revoked (a page saying when)", content_type = "text/html"), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn qr_svg(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
) -> Response {
    let link = match link_or_page(open_link(&state, &token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    match qr_of(&state, &link) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build();
            (
                [
                    (header::CONTENT_TYPE, "image/svg+xml"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                svg,
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// A comparison link's heat map, or its report (`which`), logged as the link's download.
async fn comparison_part(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
    heat_map: bool,
) -> Response {
    let source = peer.map_or_else(|| "unknown".to_owned(), |p| p.0.0.to_string());
    let link = match link_or_page(open_link(state, token).await) {
        Ok(link) => link,
        Err(page) => return *page,
    };
    let Some(id) = link.comparison else {
        return ApiError::new(StatusCode::NOT_FOUND, "this link is not to a comparison")
            .into_response();
    };
    let saved = match records::comparisons::get(&state.db.pool, id).await {
        Ok(saved) => saved,
        Err(e) => return e.into_response(),
    };
    let (sha, content_type, detail) = if heat_map {
        (saved.heat_map_sha256, "image/png", "heat map")
    } else {
        (
            Some(saved.report_sha256),
            "application/json",
            "comparison report",
        )
    };
    let Some(sha) = sha else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "this comparison was saved without a heat map",
        )
        .into_response();
    };
    if let Err(e) = source_and_log(state, headers, &source, &link, "share_download", detail).await {
        return e.into_response();
    }
    crate::handlers::comparisons::part(state, &sha, content_type).await
}

/// `GET /s/{token}/heat-map.png`: a comparison link's heat map.
#[utoipa::path(get, path = "/s/{token}/heat-map.png", tag = "share links", params(("token" = String, Path, description = "the link's token, 32 hex digits")),
    responses((status = 200, description = "the heat map", content_type = "image/png"), (status = 404, description = "no such link (a page saying so)", content_type = "text/html"), (status = 410, description = "the link expired or was revoked (a page saying when)", content_type = "text/html"), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn heat_map(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    comparison_part(&state, &token, &headers, peer, true).await
}

/// `GET /s/{token}/comparison.json`: a comparison link's report, as saved.
#[utoipa::path(get, path = "/s/{token}/comparison.json", tag = "share links", params(("token" = String, Path, description = "the link's token, 32 hex digits")),
    responses((status = 200, description = "the report", content_type = "application/json"), (status = 404, description = "no such link (a page saying so)", content_type = "text/html"), (status = 410, description = "the link expired or was revoked (a page saying when)", content_type = "text/html"), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn comparison_report(
    State(state): State<Arc<AppState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::Peer>>,
) -> Response {
    comparison_part(&state, &token, &headers, peer, false).await
}
