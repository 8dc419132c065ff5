//! Evidence items, their model versions and raw files.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::confirmations::{self, Confirmation};
use super::db_error;
use crate::db::rfc3339;
use crate::error::{ApiError, ApiResult};

/// An evidence item with its versions and raw files.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub id: i64,
    pub case: i64,
    pub label: String,
    pub kind: String,
    pub submitted_by: String,
    pub description: String,
    /// Scanner, operator, date, place…: short texts and numbers (see `validate::capture`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub capture: serde_json::Map<String, serde_json::Value>,
    pub created_at: String,
    pub versions: Vec<Version>,
    pub files: Vec<EvidenceFile>,
}

/// One immutable model version.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Version {
    /// 1, 2, … within the item.
    pub version: i64,
    pub sha256: String,
    pub manifest_sha256: Option<String>,
    pub bytes: i64,
    pub filename: String,
    pub uploaded_by: String,
    pub created_at: String,
    pub confirmations: Vec<Confirmation>,
    /// The row's id (confirmations point at it); never sent.
    #[serde(skip)]
    pub row_id: i64,
}

/// A raw scan kept with the item.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceFile {
    pub sha256: String,
    pub bytes: i64,
    pub filename: String,
    pub uploaded_by: String,
    pub created_at: String,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: i64,
    case_id: i64,
    label: String,
    kind: String,
    submitted_by: String,
    description: String,
    capture: String,
    created_ms: i64,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    number: i64,
    model_sha256: String,
    manifest_sha256: Option<String>,
    bytes: i64,
    filename: String,
    uploader: String,
    created_ms: i64,
    id: i64,
}

#[derive(sqlx::FromRow)]
struct FileRow {
    sha256: String,
    bytes: i64,
    filename: String,
    uploader: String,
    created_ms: i64,
}

/// The item `id`; `None` when there is none.
pub async fn find(pool: &AnyPool, id: i64) -> ApiResult<Option<Evidence>> {
    let Some(row) = sqlx::query_as::<_, ItemRow>(
        "SELECT id, case_id, label, kind, submitted_by, description, capture, created_ms \
         FROM evidence WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_error("reading evidence"))?
    else {
        return Ok(None);
    };
    let version_rows = sqlx::query_as::<_, VersionRow>(
        "SELECT versions.number AS number, versions.model_sha256 AS model_sha256, \
         versions.manifest_sha256 AS manifest_sha256, versions.bytes AS bytes, versions.filename AS filename, \
         users.name AS uploader, versions.created_ms AS created_ms, versions.id AS id FROM versions \
         JOIN users ON users.id = versions.uploaded_by WHERE evidence_id = $1 ORDER BY number",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db_error("reading versions"))?;
    let files = sqlx::query_as::<_, FileRow>(
        "SELECT evidence_files.sha256 AS sha256, blobs.bytes AS bytes, evidence_files.filename AS filename, \
         users.name AS uploader, evidence_files.created_ms AS created_ms FROM evidence_files \
         JOIN blobs ON blobs.sha256 = evidence_files.sha256 \
         JOIN users ON users.id = evidence_files.uploaded_by WHERE evidence_id = $1 \
         ORDER BY evidence_files.id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db_error("reading files"))?;
    let mut versions = Vec::with_capacity(version_rows.len());
    for v in version_rows {
        versions.push(Version {
            version: v.number,
            sha256: v.model_sha256,
            manifest_sha256: v.manifest_sha256,
            bytes: v.bytes,
            filename: v.filename,
            uploaded_by: v.uploader,
            created_at: rfc3339(v.created_ms),
            confirmations: confirmations::of_version(pool, v.id).await?,
            row_id: v.id,
        });
    }
    // Stored as written by the API (an object, or `null` for none).
    let capture = match serde_json::from_str::<serde_json::Value>(&row.capture) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(serde_json::Value::Null) => serde_json::Map::new(),
        Ok(other) => {
            return Err(ApiError::internal(
                &format!("evidence {id}: its stored capture"),
                format!("not an object: {other}"),
            ));
        }
        Err(e) => {
            return Err(ApiError::internal(
                &format!("evidence {id}: its stored capture"),
                e,
            ));
        }
    };
    Ok(Some(Evidence {
        id: row.id,
        case: row.case_id,
        label: row.label,
        kind: row.kind,
        submitted_by: row.submitted_by,
        description: row.description,
        capture,
        created_at: rfc3339(row.created_ms),
        versions,
        files: files
            .into_iter()
            .map(|f| EvidenceFile {
                sha256: f.sha256,
                bytes: f.bytes,
                filename: f.filename,
                uploaded_by: f.uploader,
                created_at: rfc3339(f.created_ms),
            })
            .collect(),
    }))
}

/// The item `id`, or 404.
pub async fn get(pool: &AnyPool, id: i64) -> ApiResult<Evidence> {
    find(pool, id).await?.ok_or_else(ApiError::not_found)
}

/// Every item of a case, oldest first.
pub async fn of_case(pool: &AnyPool, case: i64) -> ApiResult<Vec<Evidence>> {
    let ids =
        sqlx::query_scalar::<_, i64>("SELECT id FROM evidence WHERE case_id = $1 ORDER BY id")
            .bind(case)
            .fetch_all(pool)
            .await
            .map_err(db_error("listing evidence"))?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        items.push(get(pool, id).await?);
    }
    Ok(items)
}

/// The cases a blob belongs to, through a version or a raw file.
pub async fn cases_of_blob(pool: &AnyPool, sha256: &str) -> ApiResult<Vec<i64>> {
    sqlx::query_scalar::<_, i64>(
        "SELECT evidence.case_id FROM versions JOIN evidence ON evidence.id = versions.evidence_id \
         WHERE versions.model_sha256 = $1 OR versions.manifest_sha256 = $1 \
         UNION SELECT evidence.case_id FROM evidence_files \
         JOIN evidence ON evidence.id = evidence_files.evidence_id WHERE evidence_files.sha256 = $1",
    )
    .bind(sha256)
    .fetch_all(pool)
    .await
    .map_err(db_error("finding a blob's case"))
}

/// An evidence item's fields after the checks.
#[derive(Debug)]
pub struct CheckedEvidence {
    pub label: String,
    pub kind: String,
    pub submitted_by: String,
    pub description: String,
    pub capture: serde_json::Map<String, serde_json::Value>,
}

/// The fields of a new evidence item, checked: by the API and for every item a bundle brings in.
pub fn checked_evidence(
    label: &str,
    kind: &str,
    submitted_by: &str,
    description: &str,
    capture: &serde_json::Value,
) -> ApiResult<CheckedEvidence> {
    Ok(CheckedEvidence {
        label: crate::validate::clean_text("label", label, 200)?,
        kind: crate::validate::evidence_kind("kind", kind)?,
        submitted_by: crate::validate::clean_text("submitted_by", submitted_by, 200)?,
        description: crate::validate::optional_text("description", description, 4000)?,
        capture: crate::validate::capture("capture", capture)?,
    })
}

/// The newest version of item `evidence` (number and model hash), inside the caller's transaction.
pub async fn latest_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    evidence: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as::<_, (i64, String)>(
        "SELECT number, model_sha256 FROM versions WHERE evidence_id = $1 ORDER BY number DESC LIMIT 1",
    )
    .bind(evidence)
    .fetch_optional(&mut **tx)
    .await
}

/// A new model version.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub evidence: i64,
    pub number: i64,
    pub model_sha256: &'a str,
    pub manifest_sha256: Option<&'a str>,
    pub bytes: u64,
    pub filename: &'a str,
    pub uploaded_by: i64,
    pub created_ms: i64,
}

/// Record a version inside the caller's transaction.
pub async fn insert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    v: &NewVersion<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO versions (evidence_id, number, model_sha256, manifest_sha256, bytes, \
         filename, uploaded_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(v.evidence)
    .bind(v.number)
    .bind(v.model_sha256)
    .bind(v.manifest_sha256)
    .bind(crate::db::int(v.bytes))
    .bind(v.filename)
    .bind(v.uploaded_by)
    .bind(v.created_ms)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Record a raw file of item `evidence` inside the caller's transaction.
pub async fn insert_file(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    evidence: i64,
    sha256: &str,
    filename: &str,
    uploaded_by: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO evidence_files (evidence_id, sha256, filename, uploaded_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(evidence)
    .bind(sha256)
    .bind(filename)
    .bind(uploaded_by)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The case of item `evidence`.
pub async fn case_of(pool: &AnyPool, evidence: i64) -> ApiResult<Option<i64>> {
    sqlx::query_scalar::<_, i64>("SELECT case_id FROM evidence WHERE id = $1")
        .bind(evidence)
        .fetch_optional(pool)
        .await
        .map_err(db_error("reading evidence"))
}

/// Record a checked evidence item of `case` inside the caller's transaction; its id.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case: i64,
    item: &CheckedEvidence,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO evidence (case_id, label, kind, submitted_by, description, capture, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(case)
    .bind(&item.label)
    .bind(&item.kind)
    .bind(&item.submitted_by)
    .bind(&item.description)
    .bind(serde_json::Value::Object(item.capture.clone()).to_string())
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}
