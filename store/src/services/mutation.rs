//! A change to the store and the custody event that records it, committed together.
//!
//! The custody rule is "what the log cannot record is not done": a case created but not logged (the event
//! writer failing after the row committed) would be evidence of nothing. So every change runs in a
//! [`Mutation`]: begin, write the rows, then [`Mutation::commit`] with the event, which appends the event to the
//! log in the same transaction and commits both, or neither.

use sqlx::Any;
use tokio::sync::MutexGuard;

use crate::AppState;
use crate::custody::Event;
use crate::error::{ApiError, ApiResult};

/// An open transaction holding the store's write lock.
pub struct Mutation<'a> {
    state: &'a AppState,
    what: &'static str,
    pub tx: sqlx::Transaction<'static, Any>,
    // Dropped last: the lock outlives the transaction it orders.
    _guard: Option<MutexGuard<'a, ()>>,
}

impl std::fmt::Debug for Mutation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutation")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl<'a> Mutation<'a> {
    /// Take the write lock and begin; `what` names the change in errors ("creating a case").
    pub async fn begin(state: &'a AppState, what: &'static str) -> ApiResult<Self> {
        let guard = state.db.write().await;
        let tx = state
            .db
            .pool
            .begin()
            .await
            .map_err(|e| ApiError::database(what, &e))?;
        Ok(Self {
            state,
            what,
            tx,
            _guard: guard,
        })
    }

    /// The error for a failed statement of this change.
    pub fn failed(&self, error: &sqlx::Error) -> ApiError {
        ApiError::database(self.what, error)
    }

    /// Record `event` and commit it with the change.
    pub async fn commit(mut self, event: Event) -> ApiResult<()> {
        crate::custody::writer::append_in(&mut self.tx, &self.state.db, &self.state.signer, event)
            .await
            .map_err(|e| logging_failed(&e))?;
        self.tx
            .commit()
            .await
            .map_err(|e| ApiError::database(self.what, &e))
    }
}

/// The custody log could not record the change: a full disk is 507, anything else a 500, and either way the
/// change was rolled back.
pub(crate) fn logging_failed(error: &impl std::fmt::Display) -> ApiError {
    let text = error.to_string();
    if text.contains("full") || text.contains("No space left") {
        ApiError::new(
            axum::http::StatusCode::INSUFFICIENT_STORAGE,
            "the store's disk is full: the custody log cannot record this, so it was not done",
        )
    } else {
        ApiError::internal(
            "the custody log could not record this, so it was not done",
            error,
        )
    }
}
