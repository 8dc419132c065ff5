//! The one HTTP client for the court store, used by every `exhibit` subcommand and by the tus upload: the
//! address and token given once, per-request time limits, and every refusal turned into an error that names
//! what was asked and the store's own reason. Typed lookups by court number or label live with the command
//! line, which knows the store's types; this module knows only HTTP and JSON.

/// The HTTP methods [`Store::change`] takes.
pub use reqwest::Method;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The longest an API call may take.
pub const API_TIMEOUT: Duration = Duration::from_mins(2);
/// The longest one blob or bundle transfer may take (a raw scan can be gigabytes).
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_hours(1);

/// Why a call to the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("--store {0:?}: expected an address such as http://127.0.0.1:8080")]
    BadAddress(String),
    #[error("cannot make an HTTP client: {0}")]
    Setup(String),
    #[error("{what}: cannot reach the store at {base}: {source}")]
    Unreachable {
        what: String,
        base: String,
        source: reqwest::Error,
    },
    #[error("{what}: the store refused ({status}): {reason}")]
    Refused {
        what: String,
        status: reqwest::StatusCode,
        reason: String,
    },
    #[error("{what}: the store's answer is not the JSON expected: {source}")]
    BadAnswer {
        what: String,
        source: serde_json::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// A court store reached over HTTP with one caller's token.
#[derive(Debug, Clone)]
pub struct Store {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Store {
    /// A client for the store at `base` (`http://127.0.0.1:8080`), calling as the holder of `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadAddress(base));
        }
        // Each request sets its own limit (an API call, a download, an upload piece). A connection the store
        // may already have closed for idleness (its idle timeout can be a second) is never reused: a request
        // sent on it would fail for no fault of the caller.
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_millis(500))
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(Self {
            base,
            token: token.to_owned(),
            http,
        })
    }

    /// The store's address, without a trailing slash.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token this client calls with.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The full address of `path` (below the store's address).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `url` (a full address) with the token, for protocols built on this client (tus).
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// `GET path`, its JSON answer as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ClientError> {
        let request = self
            .request(reqwest::Method::GET, &self.url(path))
            .timeout(API_TIMEOUT);
        self.answer(request, what)
    }

    /// `POST path` with `body` as JSON, the answer as `T`.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        what: &str,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|source| ClientError::BadAnswer {
            what: what.to_owned(),
            source,
        })?;
        let request = self
            .request(reqwest::Method::POST, &self.url(path))
            .timeout(API_TIMEOUT)
            .header("Content-Type", "application/json")
            .body(body);
        self.answer(request, what)
    }

    /// `method path` with `body` as JSON when given, for changes the store answers with no content (204):
    /// `PUT` a password, `DELETE` a token.
    pub fn change(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<(), ClientError> {
        let mut request = self.request(method, &self.url(path)).timeout(API_TIMEOUT);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        self.bytes(request, what).map(|_| ())
    }

    /// `GET path` with the token, its bytes as they came (a transfer bundle), with the long time limit.
    pub fn get_file(&self, path: &str, what: &str) -> Result<Vec<u8>, ClientError> {
        let request = self
            .request(reqwest::Method::GET, &self.url(path))
            .timeout(DOWNLOAD_TIMEOUT);
        self.bytes(request, what)
    }

    /// `POST path` with `bytes` as `application/octet-stream` (a transfer bundle), the JSON answer as `T`.
    pub fn post_file<T: DeserializeOwned>(
        &self,
        path: &str,
        bytes: Vec<u8>,
        what: &str,
    ) -> Result<T, ClientError> {
        let request = self
            .request(reqwest::Method::POST, &self.url(path))
            .timeout(DOWNLOAD_TIMEOUT)
            .header("Content-Type", "application/octet-stream")
            .body(bytes);
        self.answer(request, what)
    }

    /// The bytes at `url` (a full address the store gave, such as a QR code's), without the token.
    pub fn get_bytes(&self, url: &str, what: &str) -> Result<Vec<u8>, ClientError> {
        self.bytes(self.http.get(url).timeout(API_TIMEOUT), what)
    }

    /// Download blob `sha256` (`GET /api/blobs/{sha256}`, answered only to a reader of a case holding it) into
    /// `path`, checking its hash as it streams. `Ok(Err(why))` when the store refuses it or sends other bytes;
    /// `Err` when the store cannot be reached or the file cannot be written.
    pub fn download_blob(
        &self,
        sha256: &str,
        path: &std::path::Path,
    ) -> Result<Result<(), String>, ClientError> {
        use sha2::Digest as _;
        let base = &self.base;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Err(format!("{sha256:?} is not a SHA-256")));
        }
        let what = format!("downloading {sha256}");
        let mut response = self
            .request(
                reqwest::Method::GET,
                &self.url(&format!("/api/blobs/{}", sha256.to_ascii_lowercase())),
            )
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .map_err(|source| ClientError::Unreachable {
                what: what.clone(),
                base: base.clone(),
                source,
            })?;
        let status = response.status();
        if !status.is_success() {
            let reason = refusal_reason(&response.text().unwrap_or_default());
            return Ok(Err(if reason.is_empty() {
                format!("the store at {base} answered {status}")
            } else {
                format!("the store at {base} answered {status}: {reason}")
            }));
        }
        let io = |source: std::io::Error| ClientError::Io {
            what: format!("{what} into {}", path.display()),
            source,
        };
        let mut out = std::io::BufWriter::new(fs_err::File::create(path).map_err(io)?);
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        let mut received = 0u64;
        loop {
            let n = response.read(&mut buffer).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n]).map_err(io)?;
            received += n as u64;
        }
        out.flush().map_err(io)?;
        let got = codec::manifest::hex(&hasher.finalize());
        if !got.eq_ignore_ascii_case(sha256) {
            return Ok(Err(format!(
                "the store at {base} sent {received} bytes hashing to {got}, not {sha256}"
            )));
        }
        Ok(Ok(()))
    }

    fn bytes(
        &self,
        request: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let response = request.send().map_err(|source| ClientError::Unreachable {
            what: what.to_owned(),
            base: self.base.clone(),
            source,
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .map_err(|source| ClientError::Unreachable {
                what: what.to_owned(),
                base: self.base.clone(),
                source,
            })?;
        if !status.is_success() {
            return Err(ClientError::Refused {
                what: what.to_owned(),
                status,
                reason: refusal_reason(&String::from_utf8_lossy(&bytes)),
            });
        }
        Ok(bytes.to_vec())
    }

    fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> Result<T, ClientError> {
        let bytes = self.bytes(request, what)?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::BadAnswer {
            what: what.to_owned(),
            source,
        })
    }
}

/// The store's reason in a refusal: its JSON `error`, else the start of the body as it came.
#[must_use]
pub fn refusal_reason(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: String,
    }
    serde_json::from_str::<Refusal>(body)
        .map_or_else(|_| body.chars().take(300).collect(), |r| r.error)
        .trim()
        .to_owned()
}
