//! A case's custody events as rows (the log itself, its leaves and proofs, is `custody`).

use sqlx::AnyPool;

use super::db_error;
use crate::error::ApiResult;

/// One event of a case.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseEvent {
    pub id: i64,
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub source: String,
    pub detail: String,
    pub leaf_hash: String,
}

/// Every event of `case`, in log order.
pub async fn of_case(pool: &AnyPool, case: i64) -> ApiResult<Vec<CaseEvent>> {
    sqlx::query_as::<_, CaseEvent>(
        "SELECT id, seq, at_ms, actor, role, action, object, outcome, source, detail, leaf_hash \
         FROM events WHERE case_id = $1 ORDER BY seq",
    )
    .bind(case)
    .fetch_all(pool)
    .await
    .map_err(db_error("reading events"))
}
