//! Headers every response carries: a strict Content Security Policy (scripts only from the store's own files,
//! WebAssembly allowed, never framed), no MIME sniffing, no referrer. With pages that escape by default and
//! no inline script, markup that slipped into a page still cannot run.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy: everything from the store itself; scripts only from its files (no inline script, no `eval`),
/// WebAssembly compiled; no page of the store inside another site's frame.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'";

/// Middleware: add the security headers to the response (a handler's own values are kept).
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}
