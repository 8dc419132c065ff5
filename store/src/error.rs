//! One error type for every handler: an HTTP status and a sentence that says what was wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a request did wrong, or what went wrong while answering it.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// The status the client sees.
    pub status: StatusCode,
    /// The reason, in one sentence, naming the field, header or object concerned.
    pub message: String,
}

/// What every refusal and failure answers with: the reason and the status again.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    pub error: String,
    pub status: u16,
}

/// tus' status for a chunk whose checksum does not match its bytes (not in `http::StatusCode`).
pub const CHECKSUM_MISMATCH: u16 = 460;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// The one answer for "does not exist" and "exists in a case you may not see": nothing in it
    /// tells the two apart.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {error}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context}: {error}"),
        )
    }
    /// Storage errors: a full disk is the client's to retry later (507), anything else a 500.
    pub fn storage(context: &str, error: &std::io::Error) -> Self {
        if is_disk_full(error) {
            tracing::warn!("{context}: disk full");
            Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("{context}: the store's disk is full; nothing was kept, try again later"),
            )
        } else {
            Self::internal(context, error)
        }
    }
    pub fn database(context: &str, error: &sqlx::Error) -> Self {
        let text = error.to_string();
        // SQLite says "database or disk is full" (SQLITE_FULL); PostgreSQL "could not extend file".
        if text.contains("disk is full") || text.contains("No space left") {
            tracing::warn!("{context}: database disk full");
            return Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("{context}: the store's disk is full; nothing was kept, try again later"),
            );
        }
        Self::internal(context, error)
    }
}

/// Whether an I/O error means "no space left" (ENOSPC, or EDQUOT for a quota).
pub fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(28 | 122))
        || error.kind() == std::io::ErrorKind::StorageFull
        || error.to_string().contains("No space left")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            error: self.message,
            status: self.status.as_u16(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        // tus clients read this header on every answer, errors included.
        response
            .headers_mut()
            .insert("tus-resumable", HeaderValue::from_static("1.0.0"));
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
