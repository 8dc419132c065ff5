//! Users and their API tokens (stored as hashes, named, ending).

use sqlx::AnyPool;

use super::db_error;
use crate::error::ApiResult;

/// A user's name and role, inside the caller's transaction.
pub async fn name_and_role(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
) -> Result<(String, String), sqlx::Error> {
    sqlx::query_as::<_, (String, String)>("SELECT name, role FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await
}

/// A user's role; `None` when there is no such user.
pub async fn role_of(pool: &AnyPool, id: i64) -> ApiResult<Option<String>> {
    sqlx::query_scalar::<_, String>("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_error("reading a user"))
}

/// A new user (with a password hash, or none) and their first token, named "first" and ending at
/// `token_expires_ms`, inside the caller's transaction; the user's id.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    role: &str,
    password_hash: Option<&str>,
    token_hash: &str,
    now: i64,
    token_expires_ms: i64,
) -> Result<i64, sqlx::Error> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (name, role, created_ms, password_hash) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(role)
    .bind(now)
    .bind(password_hash)
    .fetch_one(&mut **tx)
    .await?;
    insert_token(tx, token_hash, id, "first", now, Some(token_expires_ms)).await?;
    Ok(id)
}

/// Every user's id, name and role, by id.
pub async fn all(pool: &AnyPool) -> ApiResult<Vec<(i64, String, String)>> {
    sqlx::query_as::<_, (i64, String, String)>("SELECT id, name, role FROM users ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(db_error("listing users"))
}

/// An API token as its owner and the admin see it: never the token, only the first 12 hex digits of its hash
/// (enough to name it, nothing to use it).
#[derive(Debug, serde::Serialize, serde::Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TokenSummary {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// Hex digits of a token's hash that name it.
pub const TOKEN_ID_DIGITS: usize = 12;

/// A new API token of `user_id`, inside the caller's transaction.
pub async fn insert_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hash: &str,
    user_id: i64,
    name: &str,
    now: i64,
    expires_ms: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tokens (hash, user_id, created_ms, name, expires_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(now)
    .bind(name)
    .bind(expires_ms)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Every token of a user, oldest first.
pub async fn tokens_of(pool: &AnyPool, user_id: i64) -> ApiResult<Vec<TokenSummary>> {
    sqlx::query_as::<_, TokenSummary>(
        "SELECT substr(hash, 1, 12) AS id, COALESCE(name, '') AS name, created_ms, expires_ms, revoked_ms \
         FROM tokens WHERE user_id = $1 ORDER BY created_ms, hash",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(db_error("listing tokens"))
}

/// Revoke the live token of `user_id` named by `id`; whether there was one.
pub async fn revoke_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: i64,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE tokens SET revoked_ms = $1 WHERE user_id = $2 AND substr(hash, 1, 12) = $3 AND revoked_ms IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map(|done| done.rows_affected() > 0)
}
