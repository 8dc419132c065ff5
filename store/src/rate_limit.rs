//! Rate limits on what anyone may ask without a token: share-link pages and the custody log's proofs. Each
//! client address has a bucket of requests that refills at a steady rate; an empty bucket is 429 with
//! `Retry-After`. Signed-in callers are limited by who they are, not here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Requests a client may make at once, and per second after that.
const BURST: f64 = 240.0;
const PER_SECOND: f64 = 40.0;
/// Clients remembered before the idle ones are forgotten.
const MAX_CLIENTS: usize = 100_000;

/// The buckets, by client address.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Limiter {
    /// Take one request from `client`'s bucket; the seconds to wait when it is empty.
    pub fn take(&self, client: IpAddr) -> Result<(), f64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        if buckets.len() >= MAX_CLIENTS {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() * PER_SECOND < BURST);
        }
        let (tokens, at) = buckets.entry(client).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * PER_SECOND).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - *tokens) / PER_SECOND)
        }
    }
}

/// Whether a request is one anyone may make without a token, and so limited here.
fn is_public(request: &Request) -> bool {
    let path = request.uri().path();
    let anonymous = !request.headers().contains_key(header::AUTHORIZATION);
    anonymous && (path.starts_with("/s/") || path.starts_with("/api/log/"))
}

/// Middleware: limit public requests by client address.
pub async fn limit(
    State(state): State<std::sync::Arc<crate::AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if is_public(&request)
        && let Some(peer) = request.extensions().get::<crate::Peer>()
        && let Err(wait) = state.rate_limit.take(peer.0.ip())
    {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests from this address; wait a moment",
        )
        .into_response();
        let seconds = wait.ceil().max(1.0).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills() {
        let limiter = Limiter::default();
        let client: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let allowed = (0..1000).filter(|_| limiter.take(client).is_ok()).count();
        assert!((240..250).contains(&allowed), "{allowed}");
        assert!(
            limiter.take(other).is_ok(),
            "another client has its own bucket"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(limiter.take(client).is_ok(), "refilled");
    }
}
