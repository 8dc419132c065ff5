//! Request bodies read with limits: at most so many bytes, no longer than so long between bytes and in all.
//! A client that declares a body and then stalls is answered (408) and let go, instead of holding the
//! request open as long as it likes.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use futures_util::StreamExt as _;

use crate::error::{ApiError, ApiResult};

/// How a body may be read.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// Most bytes (413 above).
    pub max_bytes: usize,
    /// Longest wait for the next bytes (408 after).
    pub idle: Duration,
    /// Longest time for the whole body (408 after).
    pub total: Duration,
}

/// Read the whole body within `limits`.
pub async fn read(body: Body, limits: BodyLimits, what: &str) -> ApiResult<Bytes> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    let started = tokio::time::Instant::now();
    loop {
        let left = limits.total.saturating_sub(started.elapsed());
        let next = tokio::time::timeout(limits.idle.min(left), stream.next()).await;
        let Ok(next) = next else {
            let why = if left <= limits.idle {
                format!("{what} took over {} s", limits.total.as_secs())
            } else {
                format!("{what} stalled: no bytes for {} s", limits.idle.as_secs())
            };
            return Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, why));
        };
        match next {
            None => return Ok(Bytes::from(out)),
            Some(Ok(chunk)) => {
                if out.len() + chunk.len() > limits.max_bytes {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("{what} is over {} bytes", limits.max_bytes),
                    ));
                }
                out.extend_from_slice(&chunk);
            }
            Some(Err(e)) => {
                return Err(ApiError::bad_request(format!("{what} broke off: {e}")));
            }
        }
    }
}
