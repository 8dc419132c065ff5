//! Keys the store holds for users, sealed (see `sealed.rs`): the stored text only.

use sqlx::AnyPool;

use super::db_error;
use crate::error::ApiResult;

/// The stored (sealed) key of `user`.
pub async fn of_user(pool: &AnyPool, user: i64) -> ApiResult<Option<String>> {
    sqlx::query_scalar::<_, String>("SELECT secret FROM user_keys WHERE user_id = $1")
        .bind(user)
        .fetch_optional(pool)
        .await
        .map_err(db_error("reading a key"))
}

/// Keep `user`'s sealed key and its public half.
pub async fn insert(
    pool: &AnyPool,
    user: i64,
    sealed: &str,
    public_key: &str,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO user_keys (user_id, secret, public_key, created_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(user)
    .bind(sealed)
    .bind(public_key)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(db_error("storing a key"))
}

/// Every stored key, (user, stored text).
pub async fn all(pool: &AnyPool) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as::<_, (i64, String)>("SELECT user_id, secret FROM user_keys")
        .fetch_all(pool)
        .await
}

/// Replace `user`'s stored key text (sealing one an earlier version kept plain).
pub async fn replace(pool: &AnyPool, user: i64, sealed: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE user_keys SET secret = $1 WHERE user_id = $2")
        .bind(sealed)
        .bind(user)
        .execute(pool)
        .await
        .map(|_| ())
}
