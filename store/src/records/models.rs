//! A model version found by its hash, with the case and item it belongs to: what share links and
//! confirmations start from.

use serde::Serialize;
use sqlx::AnyPool;

use super::db_error;
use crate::db::rfc3339;
use crate::error::ApiResult;

/// The version of a model hash (the first, when the same bytes were uploaded twice) and where it sits.
#[derive(Clone, Debug, Serialize)]
pub struct ModelFacts {
    pub case: i64,
    pub evidence: i64,
    pub label: String,
    pub kind: String,
    pub version: i64,
    pub bytes: i64,
    pub manifest_sha256: Option<String>,
    pub filename: String,
    pub case_number: String,
    pub court: String,
    pub title: String,
    pub uploaded_at: String,
    pub version_id: i64,
    pub sha256: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    case_id: i64,
    evidence_id: i64,
    label: String,
    kind: String,
    number: i64,
    bytes: i64,
    manifest_sha256: Option<String>,
    filename: String,
    case_number: String,
    court: String,
    title: String,
    created_ms: i64,
    version_id: i64,
}

/// The facts of model `sha256`; `None` when no version has it.
pub async fn find(pool: &AnyPool, sha256: &str) -> ApiResult<Option<ModelFacts>> {
    let row = sqlx::query_as::<_, Row>(
        "SELECT evidence.case_id AS case_id, evidence.id AS evidence_id, evidence.label AS label, \
         evidence.kind AS kind, versions.number AS number, versions.bytes AS bytes, \
         versions.manifest_sha256 AS manifest_sha256, versions.filename AS filename, \
         cases.number AS case_number, cases.court AS court, cases.title AS title, \
         versions.created_ms AS created_ms, versions.id AS version_id FROM versions \
         JOIN evidence ON evidence.id = versions.evidence_id JOIN cases ON cases.id = evidence.case_id \
         WHERE versions.model_sha256 = $1 ORDER BY versions.id LIMIT 1",
    )
    .bind(sha256)
    .fetch_optional(pool)
    .await
    .map_err(db_error("reading a model"))?;
    Ok(row.map(|r| ModelFacts {
        case: r.case_id,
        evidence: r.evidence_id,
        label: r.label,
        kind: r.kind,
        version: r.number,
        bytes: r.bytes,
        manifest_sha256: r.manifest_sha256,
        filename: r.filename,
        case_number: r.case_number,
        court: r.court,
        title: r.title,
        uploaded_at: rfc3339(r.created_ms),
        version_id: r.version_id,
        sha256: sha256.to_owned(),
    }))
}
