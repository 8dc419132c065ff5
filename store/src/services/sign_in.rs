//! Signing in from a browser: passwords hashed with argon2id, sessions held in an `HttpOnly; Secure;
//! SameSite=Strict` cookie, a CSRF token every state-changing request made with that cookie must carry, and a
//! limit on failed attempts per name and per client address.
//!
//! The session token is 256 random bits, stored as its SHA-256 (a copy of the database opens no session).
//! The CSRF token is derived from the session token (SHA-256 of a label and the token), so it needs no storage
//! and only a page that could read the store's answers (same origin) can learn it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "exhibit_session";
/// The header a state-changing request authenticated by the session cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session lasts one court day, then its holder signs in again.
pub const SESSION_LIFETIME: Duration = Duration::from_hours(8);
/// Shortest password accepted (characters).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (bytes): argon2 takes any length, a request body should not.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Failed sign-ins tolerated per name, and per client address, within [`FAILURE_WINDOW`].
const MAX_FAILURES_PER_NAME: usize = 5;
const MAX_FAILURES_PER_SOURCE: usize = 20;
const FAILURE_WINDOW: Duration = Duration::from_mins(15);
/// Names and addresses remembered before the oldest are forgotten.
const MAX_REMEMBERED: usize = 100_000;

fn hasher() -> argon2::Argon2<'static> {
    // argon2id with the RFC 9106 / OWASP second recommendation: 19 MiB, two passes, one lane.
    argon2::Argon2::default()
}

/// The PHC string (`$argon2id$v=19$…`) of `password`, after checking its length.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ApiError::internal("random salt", e.to_string()))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| ApiError::internal("salt", e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::internal("hashing a password", e.to_string()))
}

/// Refuse a password too short to resist guessing, or too long to hash.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(format!(
            "field `password`: at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!(
            "field `password`: at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Whether `password` matches the stored PHC string. A user without a password, or an unknown user, is checked
/// against a fixed hash all the same, so the time taken does not tell them apart from a wrong password.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    // The hash of a random password nobody knows, made once: same cost as a real one.
    static DECOY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut secret = [0u8; 32];
        let _ = getrandom::fill(&mut secret);
        hash_password(&codec::manifest::hex(&secret)).unwrap_or_default()
    });
    let (phc, real) = match stored {
        Some(phc) => (phc, true),
        None => (DECOY.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    real && matches
}

/// [`hash_password`] on a blocking thread: argon2 takes tens of milliseconds of one core, never an async thread's.
pub async fn hash_password_off_thread(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::internal("hashing a password", e.to_string()))?
}

/// [`verify_password`] on a blocking thread.
pub async fn verify_password_off_thread(
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || verify_password(&password, stored.as_deref()))
        .await
        .map_err(|e| ApiError::internal("checking a password", e.to_string()))
}

/// The CSRF token of a session: SHA-256 of a label and the session token, hex.
pub fn csrf_token(session_token: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"exhibit csrf v1\0");
    digest.update(session_token.as_bytes());
    codec::manifest::hex(&digest.finalize())
}

/// The session token in the request's `Cookie` header(s), if any.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Whether the request carries the session's CSRF token in [`CSRF_HEADER`] (compared in constant time).
pub fn carries_csrf(headers: &HeaderMap, session_token: &str) -> bool {
    let Some(sent) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let expected = csrf_token(session_token);
    sent.len() == expected.len()
        && sent
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(token: &str) -> HeaderValue {
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "exhibit_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
    )
}

/// Failed sign-ins by name and by client address, in memory (each instance counts its own; the custody log
/// has every attempt of every instance).
#[derive(Debug, Default)]
pub struct FailureLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureLimiter {
    /// `Err(seconds to wait)` when `name` or `source` has failed too often within the window.
    pub fn check(&self, name: &str, source: &str) -> Result<(), u64> {
        let Ok(mut failures) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let mut wait = 0;
        for (key, limit) in [
            (name_key(name), MAX_FAILURES_PER_NAME),
            (source_key(source), MAX_FAILURES_PER_SOURCE),
        ] {
            if let Some(times) = failures.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW)
                {
                    times.pop_front();
                }
                if times.len() >= limit
                    && let Some(oldest) = times.front()
                {
                    let left = FAILURE_WINDOW.saturating_sub(now.duration_since(*oldest));
                    wait = wait.max(left.as_secs().max(1));
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    /// Count one failure against `name` and `source`.
    pub fn fail(&self, name: &str, source: &str) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_REMEMBERED {
            let now = Instant::now();
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) <= FAILURE_WINDOW)
            });
        }
        for key in [name_key(name), source_key(source)] {
            failures.entry(key).or_default().push_back(Instant::now());
        }
    }

    /// A successful sign-in forgets the name's failures (not the address's).
    pub fn succeeded(&self, name: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&name_key(name));
        }
    }
}

fn name_key(name: &str) -> String {
    format!("name:{}", name.to_lowercase())
}

/// The address without its port: a client picks a new port for each connection.
fn source_key(source: &str) -> String {
    let host = source
        .parse::<std::net::SocketAddr>()
        .map_or_else(|_| source.to_owned(), |a| a.ip().to_string());
    format!("source:{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_argon2id_salted_and_verified() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify_password("correct horse battery", Some(&a)));
        assert!(!verify_password("correct horse batterz", Some(&a)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("anything at all", Some("not a hash")));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_csrf_must_match() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; exhibit_session=abc123 ; other=1"),
        );
        assert_eq!(session_token(&headers), Some("abc123"));
        assert!(!carries_csrf(&headers, "abc123"));
        headers.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&csrf_token("abc123")).unwrap(),
        );
        assert!(carries_csrf(&headers, "abc123"));
        assert!(!carries_csrf(&headers, "abc124"));
        let cookie = session_cookie("abc123");
        let cookie = cookie.to_str().unwrap();
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
    }

    #[test]
    fn failures_lock_a_name_and_an_address_for_a_while() {
        let limiter = FailureLimiter::default();
        for _ in 0..MAX_FAILURES_PER_NAME {
            assert!(limiter.check("Judge", "127.0.0.1:5000").is_ok());
            limiter.fail("judge", "127.0.0.1:5001");
        }
        let wait = limiter.check("JUDGE", "127.0.0.2:1").unwrap_err();
        assert!(wait > 0 && wait <= FAILURE_WINDOW.as_secs(), "{wait}");
        // Another name from the same address is still let through (until the address's own limit).
        assert!(limiter.check("clerk", "127.0.0.1:5002").is_ok());
        for _ in 0..MAX_FAILURES_PER_SOURCE {
            limiter.fail("someone", "127.0.0.9:1");
        }
        assert!(limiter.check("fresh name", "127.0.0.9:2").is_err());
        limiter.succeeded("judge");
        assert!(limiter.check("judge", "127.0.0.3:1").is_ok());
    }
}
