//! The browser's files and the case page: the web viewer under `/app/` (gzipped when accepted), the store's own
//! style sheets and page scripts under `/assets/`, and `/cases/{case}` (a shell whose script reads the API).

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody};
use crate::pages::{CasePage, WEB_APP_FILES, respond};

/// `GET /app/FILE`: the web viewer's files (`scripts/build-web`), by name from a fixed list.
#[utoipa::path(get, path = "/app/{file}", tag = "browser",
    params(("file" = String, Path, description = "exhibit_web.js, exhibit_web_bg.wasm, viewer.js or case.js")),
    responses((status = 200, description = "the file (gzipped when accepted)"),
        (status = 404, description = "no such file, or no web viewer", body = ApiErrorBody)))]
pub async fn web_app_file(
    State(state): State<Arc<AppState>>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let Some(&(_, content_type)) = WEB_APP_FILES.iter().find(|(name, _)| *name == file) else {
        return ApiError::not_found().into_response();
    };
    let Some(dir) = &state.config.web_dir else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "this store serves no web viewer (build it with scripts/build-web)",
        )
        .into_response();
    };
    // scripts/build-web writes a gzipped copy beside each file: a phone on a slow link fetches a third.
    let gzip_accepted = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if gzip_accepted && let Ok(bytes) = tokio::fs::read(dir.join(format!("{file}.gz"))).await {
        return (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, "gzip"),
                (header::VARY, "Accept-Encoding"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response();
    }
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::VARY, "Accept-Encoding"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::new(StatusCode::NOT_FOUND, format!("{file}: {e}")).into_response(),
    }
}

/// The store's own style sheets and page scripts, compiled in (they belong to the store's pages, not to the
/// web viewer, so they are there even when the viewer is not).
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "exhibit.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/exhibit.css"),
    ),
    (
        "report.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/report.css"),
    ),
    (
        "share-page.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/share-page.js"),
    ),
    (
        "case-page.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/case-page.js"),
    ),
];

/// `GET /assets/FILE`: the store's own style sheets and page scripts (pages carry no inline style or script).
#[utoipa::path(get, path = "/assets/{file}", tag = "browser",
    params(("file" = String, Path, description = "exhibit.css, report.css, share-page.js or case-page.js")),
    responses((status = 200, description = "the file"), (status = 404, description = "no such file", body = ApiErrorBody)))]
pub async fn asset(UrlPath(file): UrlPath<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, text)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *text,
        )
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}

/// `GET /cases/{case}`: the case page for signed-in users. The page itself holds no data: its script
/// (`/app/case.js`) asks the API with the token the user enters (kept in the tab's sessionStorage), so every
/// read is authorized and logged like any other.
#[utoipa::path(get, path = "/cases/{case}", tag = "browser",
    params(("case" = i64, Path, description = "the case's id")),
    responses((status = 200, description = "the page; its script asks the API", content_type = "text/html")))]
pub async fn case_page(
    State(state): State<Arc<AppState>>,
    UrlPath(case): UrlPath<String>,
) -> Response {
    let Ok(case) = case.parse::<i64>() else {
        return ApiError::not_found().into_response();
    };
    respond(
        StatusCode::OK,
        &CasePage {
            case,
            web_app: state.config.web_dir.is_some(),
        },
    )
}
