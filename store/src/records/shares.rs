//! Share links: their rows and SQL. A link's token is stored only as its hash.

use sqlx::AnyPool;

use super::db_error;
use crate::error::ApiResult;

/// A link's row, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShareRow {
    pub id: i64,
    pub case_id: i64,
    pub model_sha256: String,
    pub other_sha256: Option<String>,
    pub view: Option<String>,
    pub expires_ms: i64,
    pub revoked_ms: Option<i64>,
    pub comparison_id: Option<i64>,
}

/// A link of a case as its makers list it, with who made it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedShare {
    pub id: i64,
    pub model_sha256: String,
    pub other_sha256: Option<String>,
    pub name: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked_ms: Option<i64>,
    pub comparison_id: Option<i64>,
}

/// A new link.
#[derive(Debug, Clone)]
pub struct NewShareRow<'a> {
    pub token_hash: &'a str,
    pub case: i64,
    pub model: &'a str,
    pub other: Option<&'a str>,
    pub view: Option<&'a str>,
    pub created_by: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub comparison: Option<i64>,
}

const COLUMNS: &str =
    "id, case_id, model_sha256, other_sha256, view, expires_ms, revoked_ms, comparison_id";

/// The link whose token hashes to `token_hash`.
pub async fn by_token_hash(pool: &AnyPool, token_hash: &str) -> ApiResult<Option<ShareRow>> {
    sqlx::query_as::<_, ShareRow>(&format!(
        "SELECT {COLUMNS} FROM shares WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    .map_err(db_error("reading a share link"))
}

/// The case of link `id`.
pub async fn case_of(pool: &AnyPool, id: i64) -> ApiResult<Option<i64>> {
    sqlx::query_scalar::<_, i64>("SELECT case_id FROM shares WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_error("reading a share link"))
}

/// Every link of a case, oldest first.
pub async fn of_case(pool: &AnyPool, case: i64) -> ApiResult<Vec<ListedShare>> {
    sqlx::query_as::<_, ListedShare>(
        "SELECT shares.id AS id, model_sha256, other_sha256, users.name AS name, shares.created_ms AS created_ms, \
         expires_ms, revoked_ms, comparison_id FROM shares JOIN users ON users.id = shares.created_by \
         WHERE case_id = $1 ORDER BY shares.id",
    )
    .bind(case)
    .fetch_all(pool)
    .await
    .map_err(db_error("listing share links"))
}

/// Record a link inside the caller's transaction; its id.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &NewShareRow<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO shares (token_hash, case_id, model_sha256, other_sha256, view, created_by, \
         created_ms, expires_ms, comparison_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         RETURNING id",
    )
    .bind(row.token_hash)
    .bind(row.case)
    .bind(row.model)
    .bind(row.other)
    .bind(row.view)
    .bind(row.created_by)
    .bind(row.created_ms)
    .bind(row.expires_ms)
    .bind(row.comparison)
    .fetch_one(&mut **tx)
    .await
}

/// Revoke link `id` (a link revoked already keeps its first time), inside the caller's transaction.
pub async fn revoke(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shares SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}
