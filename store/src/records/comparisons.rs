//! Saved comparisons: which two models, the headline figures, who saved it.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::db_error;
use crate::db::rfc3339;
use crate::error::{ApiError, ApiResult};

/// The figures kept with a saved comparison (the report itself is a blob).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    pub method: String,
    /// Maps B onto A, 16 numbers, column-major.
    pub transform: Vec<f64>,
    pub rms_alignment_mm: f64,
    pub within_tolerance: f64,
    pub mean_mm: f64,
    pub rms_mm: f64,
    pub p95_mm: f64,
    pub max_mm: f64,
    pub tolerance_mm: f64,
    /// For a comparison that came in a transfer bundle: who saved it, where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_in_origin: Option<SavedElsewhere>,
}

impl Summary {
    pub fn of(report: &crate::validate::ComparisonReport) -> Self {
        Self {
            method: report.alignment.method.clone(),
            transform: report.transform.clone(),
            rms_alignment_mm: report.alignment.rms_mm,
            within_tolerance: report.within_tolerance,
            mean_mm: report.mean_mm,
            rms_mm: report.rms_mm,
            p95_mm: report.p95_mm,
            max_mm: report.max_mm,
            tolerance_mm: report.tolerance_mm,
            saved_in_origin: None,
        }
    }
}

/// Where an imported comparison was first saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SavedElsewhere {
    pub origin: String,
    pub id: i64,
    pub by: String,
    pub role: String,
    pub at: String,
}

/// A saved comparison as the API and bundles carry it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comparison {
    pub id: i64,
    pub case: i64,
    pub a: String,
    pub b: String,
    pub report_sha256: String,
    pub heat_map_sha256: Option<String>,
    pub summary: Summary,
    pub created_by: String,
    pub created_by_role: String,
    pub created_at: String,
    /// Where the API serves the report and heat map.
    pub report: String,
    pub heat_map: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    case_id: i64,
    a_sha256: String,
    b_sha256: String,
    report_sha256: String,
    heat_map_sha256: Option<String>,
    summary: String,
    name: String,
    role: String,
    created_ms: i64,
}

const SELECT: &str = "SELECT comparisons.id AS id, comparisons.case_id AS case_id, a_sha256, b_sha256, \
     report_sha256, heat_map_sha256, summary, users.name AS name, users.role AS role, \
     comparisons.created_ms AS created_ms FROM comparisons JOIN users ON users.id = comparisons.created_by";

fn typed(r: Row) -> ApiResult<Comparison> {
    let summary: Summary = serde_json::from_str(&r.summary)
        .map_err(|e| ApiError::internal(&format!("comparison {}: its stored summary", r.id), e))?;
    Ok(Comparison {
        id: r.id,
        case: r.case_id,
        a: r.a_sha256,
        b: r.b_sha256,
        report: format!("/api/comparisons/{}/report.json", r.id),
        heat_map: r
            .heat_map_sha256
            .as_ref()
            .map(|_| format!("/api/comparisons/{}/heat-map.png", r.id)),
        report_sha256: r.report_sha256,
        heat_map_sha256: r.heat_map_sha256,
        summary,
        created_by: r.name,
        created_by_role: r.role,
        created_at: rfc3339(r.created_ms),
    })
}

/// Comparison `id`, or 404.
pub async fn get(pool: &AnyPool, id: i64) -> ApiResult<Comparison> {
    let row = sqlx::query_as::<_, Row>(&format!("{SELECT} WHERE comparisons.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_error("reading a comparison"))?
        .ok_or_else(ApiError::not_found)?;
    typed(row)
}

/// Every comparison of a case, oldest first.
pub async fn of_case(pool: &AnyPool, case: i64) -> ApiResult<Vec<Comparison>> {
    sqlx::query_as::<_, Row>(&format!(
        "{SELECT} WHERE comparisons.case_id = $1 ORDER BY comparisons.id"
    ))
    .bind(case)
    .fetch_all(pool)
    .await
    .map_err(db_error("listing comparisons"))?
    .into_iter()
    .map(typed)
    .collect()
}

/// Record a comparison inside the caller's transaction; its id.
#[allow(
    clippy::too_many_arguments,
    reason = "a comparison row is exactly these fields"
)]
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case: i64,
    a: &str,
    b: &str,
    report_sha256: &str,
    heat_map_sha256: Option<&str>,
    summary: &Summary,
    created_by: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let summary = serde_json::to_string(summary).unwrap_or_default();
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO comparisons (case_id, a_sha256, b_sha256, report_sha256, heat_map_sha256, \
         summary, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(case)
    .bind(a)
    .bind(b)
    .bind(report_sha256)
    .bind(heat_map_sha256)
    .bind(summary)
    .bind(created_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}
