//! What every handler takes from a request: the caller (from the bearer token or the session cookie) and a size- and time-limited
//! JSON body. Their errors are the one `ApiError`.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::services::auth::{self, Caller};
use crate::{AppState, Peer};

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let source = source_of(parts);
        auth::caller(state, &parts.method, &parts.headers, &source).await
    }
}

/// The client's address as the accept loop recorded it.
pub fn source_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<Peer>()
        .map_or_else(|| "unknown".to_owned(), |p| p.0.to_string())
}

/// A JSON request body: 415 unless it says `application/json`, 413 above 1 MiB, and 400 naming the
/// field when it does not fit (instead of axum's 422 without a path).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

const MAX_JSON_BYTES: usize = 1 << 20;
/// Longest time a JSON body (at most 1 MiB) may take to arrive.
const JSON_BODY_TIME: std::time::Duration = std::time::Duration::from_mins(2);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &Arc<AppState>) -> ApiResult<Self> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {content_type:?}: this endpoint takes application/json"),
            ));
        }
        let limits = crate::body::BodyLimits {
            max_bytes: MAX_JSON_BYTES,
            idle: state.config.idle_timeout,
            total: JSON_BODY_TIME,
        };
        let bytes = crate::body::read(request.into_body(), limits, "the JSON body").await?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                ApiError::bad_request(format!("JSON body: {inner}"))
            } else {
                ApiError::bad_request(format!("JSON body, field `{path}`: {inner}"))
            }
        })?;
        Ok(Self(value))
    }
}
