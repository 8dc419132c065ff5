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
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::AppState;
use crate::api::{JsonBody, case_for, clean_sha256};
use crate::auth::{self, Action, Caller};
use crate::db::{now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};

/// The largest heat map accepted (it travels inside the JSON body, base64).
const MAX_HEAT_MAP_BYTES: usize = 700 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComparison {
    /// The report as `exhibit compare --report` writes it.
    report: Value,
    /// The heat map (PNG), base64.
    heat_map_png: Option<String>,
}

/// The figures every saved comparison must carry, checked before anything is stored.
struct Headline {
    a: String,
    b: String,
    method: String,
    summary: Value,
}

fn number(report: &Value, pointer: &str) -> ApiResult<f64> {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "field `report{}`: expected a finite number",
                pointer.replace('/', ".")
            ))
        })
}

fn headline(report: &Value) -> ApiResult<Headline> {
    let text = |pointer: &str| {
        report
            .pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "field `report{}`: expected a string",
                    pointer.replace('/', ".")
                ))
            })
    };
    let a = clean_sha256("report.a.sha256", text("/a/sha256")?)?;
    let b = clean_sha256("report.b.sha256", text("/b/sha256")?)?;
    let method =
        crate::api::clean_text("report.alignment.method", text("/alignment/method")?, 200)?;
    let transform: Vec<f64> = report
        .get("transform")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_f64)
                .filter(|v| v.is_finite())
                .collect()
        })
        .unwrap_or_default();
    if transform.len() != 16 {
        return Err(ApiError::bad_request(
            "field `report.transform`: expected 16 finite numbers (column-major, mapping B onto A)",
        ));
    }
    let within = number(report, "/within_tolerance")?;
    if !(0.0..=1.0).contains(&within) {
        return Err(ApiError::bad_request(
            "field `report.within_tolerance`: expected a share between 0 and 1",
        ));
    }
    let mut summary = json!({
        "method": method,
        "transform": transform,
        "rms_alignment_mm": number(report, "/alignment/rms_mm")?,
        "within_tolerance": within,
    });
    for field in ["mean_mm", "rms_mm", "p95_mm", "max_mm", "tolerance_mm"] {
        summary[field] = json!(number(report, &format!("/{field}"))?);
    }
    Ok(Headline {
        a,
        b,
        method,
        summary,
    })
}

/// The case a model hash is a version of.
async fn case_of_model(state: &AppState, sha256: &str) -> ApiResult<Option<i64>> {
    Ok(crate::share::model_facts(state, sha256)
        .await?
        .and_then(|f| f["case"].as_i64()))
}

/// `POST /api/cases/{case}/comparisons`.
pub async fn save(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
    JsonBody(body): JsonBody<NewComparison>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let case = case_for(&state, &caller, &case, Action::Compare).await?;
    let head = headline(&body.report)?;
    for (field, sha) in [("a", &head.a), ("b", &head.b)] {
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
    let id: i64 = {
        let _guard = state.db.write().await;
        let mut tx = state
            .db
            .pool
            .begin()
            .await
            .map_err(|e| ApiError::database("saving a comparison", &e))?;
        for (sha, bytes) in std::iter::once((&report_sha, report_bytes.len()))
            .chain(heat_sha.iter().zip(heat_map.iter().map(Vec::len)))
        {
            crate::db::record_blob(&mut tx, sha, bytes as u64, now)
                .await
                .map_err(|e| ApiError::database("saving a comparison", &e))?;
        }
        let id: i64 = sqlx::query(
            "INSERT INTO comparisons (case_id, a_sha256, b_sha256, report_sha256, heat_map_sha256, \
             summary, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(case)
        .bind(&head.a)
        .bind(&head.b)
        .bind(&report_sha)
        .bind(&heat_sha)
        .bind(head.summary.to_string())
        .bind(caller.user_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| ApiError::database("saving a comparison", &e))?
        .get(0);
        tx.commit()
            .await
            .map_err(|e| ApiError::database("saving a comparison", &e))?;
        id
    };
    auth::log_event(
        &state,
        &caller,
        "comparison_saved",
        Some(case),
        &format!("comparison {id}"),
        "ok",
        &format!(
            "A {} against B {} ({}), report {report_sha}",
            head.a, head.b, head.method
        ),
    )
    .await?;
    let mut saved = comparison_json(&state, id).await?;
    saved["checkpoint"] = json!(crate::log_api::current_checkpoint(&state).await?);
    Ok((StatusCode::CREATED, Json(saved)))
}

const COLUMNS: &str = "comparisons.id, comparisons.case_id, a_sha256, b_sha256, report_sha256, \
     heat_map_sha256, summary, users.name, users.role, comparisons.created_ms";

fn row_json(r: &sqlx::any::AnyRow) -> Value {
    let id: i64 = r.get(0);
    let heat: Option<String> = r.get(5);
    json!({
        "id": id,
        "case": r.get::<i64, _>(1),
        "a": r.get::<String, _>(2),
        "b": r.get::<String, _>(3),
        "report_sha256": r.get::<String, _>(4),
        "heat_map_sha256": heat,
        "summary": serde_json::from_str::<Value>(&r.get::<String, _>(6)).unwrap_or(Value::Null),
        "created_by": r.get::<String, _>(7),
        "created_by_role": r.get::<String, _>(8),
        "created_at": rfc3339(r.get(9)),
        "report": format!("/api/comparisons/{id}/report.json"),
        "heat_map": heat.map(|_| format!("/api/comparisons/{id}/heat-map.png")),
    })
}

/// One comparison's record (without the report itself).
pub(crate) async fn comparison_json(state: &AppState, id: i64) -> ApiResult<Value> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM comparisons JOIN users ON users.id = comparisons.created_by \
         WHERE comparisons.id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading a comparison", &e))?
    .ok_or_else(ApiError::not_found)?;
    Ok(row_json(&row))
}

/// Every comparison of a case, oldest first.
pub(crate) async fn of_case(state: &AppState, case: i64) -> ApiResult<Vec<Value>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM comparisons JOIN users ON users.id = comparisons.created_by \
         WHERE comparisons.case_id = $1 ORDER BY comparisons.id"
    ))
    .bind(case)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("listing comparisons", &e))?;
    Ok(rows.iter().map(row_json).collect())
}

/// `GET /api/cases/{case}/comparisons`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let case = case_for(&state, &caller, &case, Action::ReadCase).await?;
    Ok(Json(json!({ "comparisons": of_case(&state, case).await? })))
}

/// The comparison in the URL, when the caller may read its case (404 alike otherwise).
async fn readable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Value> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let record = comparison_json(state, id).await?;
    let case = record["case"].as_i64().unwrap_or_default();
    auth::authorize(
        state,
        caller,
        Action::ReadCase,
        Some(case),
        &format!("comparison {id}"),
    )
    .await?;
    Ok(record)
}

/// `GET /api/comparisons/{id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(readable(&state, &caller, &id).await?))
}

/// A blob of a comparison (its report or heat map), checked against its hash before it is served.
pub(crate) async fn part(state: &AppState, sha: &str, content_type: &'static str) -> Response {
    match crate::download::read_checked(state, sha).await {
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
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match readable(&state, &caller, &id).await {
        Ok(record) => {
            part(
                &state,
                record["report_sha256"].as_str().unwrap_or_default(),
                "application/json",
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /api/comparisons/{id}/heat-map.png`.
pub async fn heat_map(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    match readable(&state, &caller, &id).await {
        Ok(record) => match record["heat_map_sha256"].as_str() {
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
