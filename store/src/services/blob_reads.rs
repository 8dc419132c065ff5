//! Reading whole blobs the store recorded: their size, their bytes, and their bytes only when they still hash
//! to their name. What pages and reports read (manifests, comparison reports, previews) goes through here.

use axum::http::StatusCode;
use futures_util::StreamExt as _;

use sqlx::Row as _;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// A blob's size from its row; 404 when the store never recorded it.
pub async fn blob_size(state: &AppState, sha256: &str) -> ApiResult<u64> {
    let row = sqlx::query("SELECT bytes FROM blobs WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading a blob", &e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(row.get::<i64, _>(0) as u64)
}

/// The whole content of a small-enough blob (a model to read its manifest from), as stored.
pub async fn read_blob(state: &AppState, sha256: &str, length: u64) -> ApiResult<Vec<u8>> {
    let mut stream = state
        .blobs
        .read(sha256, 0, length)
        .await
        .map_err(|e| ApiError::storage("reading a blob", &e))?;
    let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| ApiError::storage("reading a blob", &e))?);
    }
    Ok(bytes)
}

/// The whole content of a recorded blob, only when it still hashes to its name: 404 when the store
/// never recorded it, 500 when storage lost or changed it.
pub async fn read_checked(state: &AppState, sha256: &str) -> ApiResult<Vec<u8>> {
    let size = blob_size(state, sha256).await?;
    let bytes = read_blob(state, sha256, size).await?;
    if codec::manifest::sha256_hex(&bytes) != sha256 {
        tracing::error!("blob {sha256} is damaged in storage");
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("blob {sha256} is damaged in storage"),
        ));
    }
    Ok(bytes)
}

/// A version's manifest as stored: none, damaged or unreadable, or read and checked (a stored manifest passed
/// the upload's checks; it is checked again all the same).
#[derive(Debug)]
pub enum StoredManifest {
    None,
    Damaged(String),
    Read(String, Box<codec::manifest::Manifest>),
}

/// Read the manifest blob `sha` of a version (when it has one).
pub async fn manifest(state: &AppState, sha: Option<&str>) -> StoredManifest {
    let Some(sha) = sha else {
        return StoredManifest::None;
    };
    let read = read_checked(state, sha)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice::<codec::manifest::Manifest>(&bytes).ok())
        .filter(|m| crate::validate::manifest(m).is_ok());
    match read {
        Some(m) => StoredManifest::Read(sha.to_owned(), Box::new(m)),
        None => StoredManifest::Damaged(sha.to_owned()),
    }
}
