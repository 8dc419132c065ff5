//! Previews: the PNG drawn for a model (kept as a blob), or why it could not be drawn.

use sqlx::AnyPool;

use super::db_error;
use crate::error::ApiResult;

/// The blob of `model`'s preview, when one was drawn.
pub async fn of_model(pool: &AnyPool, model: &str) -> ApiResult<Option<String>> {
    sqlx::query_scalar::<_, String>(
        "SELECT previews.png_sha256 FROM previews JOIN blobs ON blobs.sha256 = previews.png_sha256 \
         WHERE model_sha256 = $1",
    )
    .bind(model)
    .fetch_optional(pool)
    .await
    .map_err(db_error("reading a preview"))
}

/// Why `model`'s preview could not be drawn, when it could not.
pub async fn failure(pool: &AnyPool, model: &str) -> ApiResult<Option<String>> {
    sqlx::query_scalar::<_, String>("SELECT reason FROM preview_failures WHERE model_sha256 = $1")
        .bind(model)
        .fetch_optional(pool)
        .await
        .map_err(db_error("reading a preview"))
}

/// Keep `png_sha256` as `model`'s preview, inside the caller's transaction.
pub async fn keep(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    model: &str,
    png_sha256: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO previews (model_sha256, png_sha256) VALUES ($1, $2) \
         ON CONFLICT (model_sha256) DO UPDATE SET png_sha256 = $2",
    )
    .bind(model)
    .bind(png_sha256)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Record that `model` cannot be drawn (the first reason stays).
pub async fn keep_failure(
    pool: &AnyPool,
    model: &str,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO preview_failures (model_sha256, reason, at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (model_sha256) DO NOTHING",
    )
    .bind(model)
    .bind(reason)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
}
