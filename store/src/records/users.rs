//! Users and their tokens (stored as hashes).

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

/// A new user with their first token's hash, inside the caller's transaction; the user's id.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    role: &str,
    token_hash: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (name, role, created_ms) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(role)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO tokens (hash, user_id, created_ms) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// Every user's id, name and role, by id.
pub async fn all(pool: &AnyPool) -> ApiResult<Vec<(i64, String, String)>> {
    sqlx::query_as::<_, (i64, String, String)>("SELECT id, name, role FROM users ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(db_error("listing users"))
}
