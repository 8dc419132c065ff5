//! Browser sessions (stored as the SHA-256 of their token) and users' passwords.

use sqlx::AnyPool;

use super::db_error;
use crate::error::ApiResult;

/// A live session's user.
#[derive(Debug)]
pub struct SessionUser {
    pub user_id: i64,
    pub name: String,
    pub role: String,
}

/// A new session, inside the caller's transaction.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hash: &str,
    user_id: i64,
    now: i64,
    expires_ms: i64,
    source: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (hash, user_id, created_ms, expires_ms, source) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_ms)
    .bind(source)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The user of the session whose token hashes to `hash`, when it is neither revoked nor expired at `now`.
pub async fn live(pool: &AnyPool, hash: &str, now: i64) -> ApiResult<Option<SessionUser>> {
    sqlx::query_as::<_, (i64, String, String)>(
        "SELECT users.id, users.name, users.role FROM sessions JOIN users ON users.id = sessions.user_id \
         WHERE sessions.hash = $1 AND sessions.revoked_ms IS NULL AND sessions.expires_ms > $2",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map(|row| {
        row.map(|(user_id, name, role)| SessionUser {
            user_id,
            name,
            role,
        })
    })
    .map_err(db_error("checking the session"))
}

/// End one session; whether it was live.
pub async fn revoke(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_ms = $1 WHERE hash = $2 AND revoked_ms IS NULL")
        .bind(now)
        .bind(hash)
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected() > 0)
}

/// End every live session of a user (their password changed); how many.
pub async fn revoke_all_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_ms = $1 WHERE user_id = $2 AND revoked_ms IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected())
}

/// A user's id, role and password hash, by name; `None` when there is no such user.
pub async fn credentials(
    pool: &AnyPool,
    name: &str,
) -> ApiResult<Option<(i64, String, Option<String>)>> {
    sqlx::query_as::<_, (i64, String, Option<String>)>(
        "SELECT id, role, password_hash FROM users WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(db_error("reading a user's credentials"))
}

/// A user's password hash, by id (the outer `None`: no such user).
pub async fn password_hash_of(pool: &AnyPool, user_id: i64) -> ApiResult<Option<Option<String>>> {
    sqlx::query_scalar::<_, Option<String>>("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
        .map_err(db_error("reading a user's password"))
}

/// Set a user's password hash; whether the user exists.
pub async fn set_password(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: i64,
    phc: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(phc)
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map(|done| done.rows_affected() > 0)
}
