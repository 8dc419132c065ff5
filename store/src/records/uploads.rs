//! Resumable uploads (tus): their rows and SQL. An upload's offset moves only from where a request started
//! (`UPDATE … WHERE committed = old`), so two instances can never both extend one upload.

use sqlx::AnyPool;

use super::db_error;
use crate::db::int;
use crate::error::{ApiError, ApiResult};

/// An upload as stored.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub user_id: i64,
    pub case_id: i64,
    pub evidence_id: i64,
    /// `model` or `scan`.
    pub kind: String,
    pub filename: String,
    pub sha256: String,
    pub length: u64,
    pub committed: u64,
    pub metadata: String,
    pub finished: bool,
    /// Once finished: what was recorded, or `{"error": why}`.
    pub result: Option<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    user_id: i64,
    case_id: i64,
    evidence_id: i64,
    kind: String,
    filename: String,
    sha256: String,
    length: i64,
    committed: i64,
    metadata: String,
    finished_ms: Option<i64>,
    result: Option<String>,
}

/// Upload `id`; `None` when there is none.
pub async fn find(pool: &AnyPool, id: &str) -> ApiResult<Option<Upload>> {
    let Some(row) = sqlx::query_as::<_, Row>(
        "SELECT id, user_id, case_id, evidence_id, kind, filename, sha256, length, committed, \
         metadata, finished_ms, result FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_error("reading an upload"))?
    else {
        return Ok(None);
    };
    let result = match row.result {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| ApiError::internal(&format!("upload {id}: its stored result"), e))?,
        ),
        None => None,
    };
    Ok(Some(Upload {
        id: row.id,
        user_id: row.user_id,
        case_id: row.case_id,
        evidence_id: row.evidence_id,
        kind: row.kind,
        filename: row.filename,
        sha256: row.sha256,
        length: u64::try_from(row.length).unwrap_or(0),
        committed: u64::try_from(row.committed).unwrap_or(0),
        metadata: row.metadata,
        finished: row.finished_ms.is_some(),
        result,
    }))
}

/// A new upload, nothing committed yet.
#[derive(Debug, Clone)]
pub struct NewUpload<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub case_id: i64,
    pub evidence_id: i64,
    pub kind: &'a str,
    pub filename: &'a str,
    pub sha256: &'a str,
    pub length: u64,
    pub metadata: &'a str,
    pub created_ms: i64,
}

/// Record a new upload.
pub async fn insert(pool: &AnyPool, upload: &NewUpload<'_>) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO uploads (id, user_id, case_id, evidence_id, kind, filename, sha256, length, \
         committed, metadata, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10)",
    )
    .bind(upload.id)
    .bind(upload.user_id)
    .bind(upload.case_id)
    .bind(upload.evidence_id)
    .bind(upload.kind)
    .bind(upload.filename)
    .bind(upload.sha256)
    .bind(int(upload.length))
    .bind(upload.metadata)
    .bind(upload.created_ms)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(db_error("creating an upload"))
}

/// Move the committed offset from `from` to `to`; false when another request moved it first.
pub async fn advance(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    from: u64,
    to: u64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query("UPDATE uploads SET committed = $1 WHERE id = $2 AND committed = $3")
        .bind(int(to))
        .bind(id)
        .bind(int(from))
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(updated == 1)
}

/// Record one stored piece (object stores keep an upload as pieces).
pub async fn add_piece(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    offset: u64,
    length: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO upload_parts (upload_id, at_offset, length) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(int(offset))
        .bind(int(length))
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// The pieces of upload `id`, (offset, length) in order.
pub async fn pieces(pool: &AnyPool, id: &str) -> ApiResult<Vec<(u64, u64)>> {
    let rows = sqlx::query_as::<_, (i64, i64)>(
        "SELECT at_offset, length FROM upload_parts WHERE upload_id = $1 ORDER BY at_offset",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db_error("reading upload pieces"))?;
    Ok(rows
        .into_iter()
        .map(|(offset, length)| {
            (
                u64::try_from(offset).unwrap_or(0),
                u64::try_from(length).unwrap_or(0),
            )
        })
        .collect())
}

/// Mark upload `id` finished with `result` (what was recorded, or `{"error": why}`).
pub async fn finish<'e, E>(
    executor: E,
    id: &str,
    result: &serde_json::Value,
    now: i64,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE uploads SET finished_ms = $1, result = $2 WHERE id = $3")
        .bind(now)
        .bind(result.to_string())
        .bind(id)
        .execute(executor)
        .await
        .map(|_| ())
}

/// Drop upload `id` and its pieces (tus termination), inside the caller's transaction.
pub async fn delete(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM upload_parts WHERE upload_id = $1",
        "DELETE FROM uploads WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Uploads whose last byte was committed but which were never recorded (a crash in between).
pub async fn complete_unrecorded(pool: &AnyPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar::<_, String>(
        "SELECT id FROM uploads WHERE finished_ms IS NULL AND committed = length",
    )
    .fetch_all(pool)
    .await
}
