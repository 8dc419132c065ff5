//! The custody log's current state, as handlers and pages quote it.

use sqlx::Row as _;

use crate::AppState;
use crate::custody::{self, Checkpoint};
use crate::error::{ApiError, ApiResult};

/// The log's size as committed.
pub async fn size(state: &AppState) -> ApiResult<u64> {
    let row = sqlx::query("SELECT size FROM log_head WHERE id = 1")
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading the log", &e))?;
    Ok(row.map_or(0, |r| r.get::<i64, _>(0) as u64))
}

pub async fn checkpoint(state: &AppState, size: u64) -> ApiResult<Checkpoint> {
    custody::checkpoint_at(&state.db.pool, &state.signer, size)
        .await
        .map_err(|e| ApiError::database("reading a checkpoint", &e))?
        .ok_or_else(|| ApiError::bad_request(format!("the log has no checkpoint of size {size}")))
}

/// The latest checkpoint (`None` for an empty log).
pub async fn current_checkpoint(state: &AppState) -> ApiResult<Option<Checkpoint>> {
    let size = size(state).await?;
    if size == 0 {
        return Ok(None);
    }
    checkpoint(state, size).await.map(Some)
}
