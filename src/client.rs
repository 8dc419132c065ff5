//! The command line's one client for the court store's JSON API: the address and token given once, every
//! refusal turned into an error that names what was asked and the store's reason.
//!
//! Cases are named by id or court number and evidence items by id or label everywhere on the command line;
//! [`Store::case_id`] and [`Store::evidence_id`] turn those names into the ids the upload protocol carries.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The longest an API call may take; downloads of blobs have [`DOWNLOAD_TIMEOUT`].
const API_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(2);
/// The longest one blob download may take (a raw scan can be gigabytes).
const DOWNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_hours(1);

/// A court store reached over HTTP with one caller's token.
#[derive(Debug, Clone)]
pub struct Store {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

/// A case as the API answers with it: the store's own type, so the two never drift apart.
pub use store::records::cases::Case;

/// A user as `GET /api/users` lists them, and `POST /api/users` answers (with the token, shown once).
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `GET /api/users`'s answer.
#[derive(Debug, serde::Deserialize)]
pub struct Users {
    pub users: Vec<User>,
}

impl Store {
    /// A client for the store at `base` (`http://127.0.0.1:8080`), calling as the holder of `token`.
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--store {base:?}: expected an address such as http://127.0.0.1:8080");
        }
        // Each request sets its own limit: two minutes for an API call, an hour for a download.
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .context("cannot make an HTTP client")?;
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

    /// `GET path` (below the address), its JSON answer as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> anyhow::Result<T> {
        let request = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .timeout(API_TIMEOUT);
        self.answer(request, what)
    }

    /// `POST path` with `body` as JSON, the answer as `T`.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        what: &str,
    ) -> anyhow::Result<T> {
        let body = serde_json::to_vec(body).context("encoding the request")?;
        let request = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .timeout(API_TIMEOUT)
            .header("Content-Type", "application/json")
            .body(body);
        self.answer(request, what)
    }

    /// `GET path` with the token, its bytes as they came (a transfer bundle): the long download timeout, and
    /// the store's reason when it refuses.
    pub fn get_file(&self, path: &str, what: &str) -> anyhow::Result<Vec<u8>> {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .with_context(|| format!("{what}: cannot reach the store at {}", self.base))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .with_context(|| format!("{what}: reading the store's answer"))?;
        if !status.is_success() {
            bail!(
                "{what}: the store refused ({status}): {}",
                refusal_reason(&String::from_utf8_lossy(&bytes))
            );
        }
        Ok(bytes.to_vec())
    }

    /// `POST path` with `bytes` as `application/octet-stream` (a transfer bundle), the JSON answer as `T`.
    pub fn post_file<T: DeserializeOwned>(
        &self,
        path: &str,
        bytes: Vec<u8>,
        what: &str,
    ) -> anyhow::Result<T> {
        let request = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .timeout(DOWNLOAD_TIMEOUT)
            .header("Content-Type", "application/octet-stream")
            .body(bytes);
        self.answer(request, what)
    }

    /// The bytes at `url` (a full address the store gave, such as a QR code's).
    pub fn get_bytes(&self, url: &str, what: &str) -> anyhow::Result<Vec<u8>> {
        let response = self
            .http
            .get(url)
            .timeout(API_TIMEOUT)
            .send()
            .with_context(|| format!("{what}: cannot reach {url}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .with_context(|| format!("{what}: reading the answer from {url}"))?;
        if !status.is_success() {
            bail!("{what}: the store answered {status} for {url}");
        }
        Ok(bytes.to_vec())
    }

    /// Download blob `sha256` (`GET /api/blobs/{sha256}`, answered only to a reader of a case holding it) into
    /// `path`, checking its hash as it streams. `Ok(Err(why))` when the store refuses it or sends other bytes;
    /// `Err` when the store cannot be reached or the file cannot be written.
    pub fn download_blob(
        &self,
        sha256: &str,
        path: &std::path::Path,
    ) -> anyhow::Result<Result<(), String>> {
        use sha2::Digest as _;
        use std::io::{Read as _, Write as _};
        let base = &self.base;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Err(format!("{sha256:?} is not a SHA-256")));
        }
        let mut response = self
            .http
            .get(self.url(&format!("/api/blobs/{}", sha256.to_ascii_lowercase())))
            .bearer_auth(&self.token)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .with_context(|| format!("cannot reach the store at {base}"))?;
        let status = response.status();
        if !status.is_success() {
            let reason = refusal_reason(&response.text().unwrap_or_default());
            return Ok(Err(if reason.is_empty() {
                format!("the store at {base} answered {status}")
            } else {
                format!("the store at {base} answered {status}: {reason}")
            }));
        }
        let mut out = std::io::BufWriter::new(fs_err::File::create(path)?);
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        let mut received = 0u64;
        loop {
            let n = response
                .read(&mut buffer)
                .with_context(|| format!("downloading {sha256} from {base}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])
                .with_context(|| format!("cannot write {}", path.display()))?;
            received += n as u64;
        }
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        let got = codec::manifest::hex(&hasher.finalize());
        if !got.eq_ignore_ascii_case(sha256) {
            return Ok(Err(format!(
                "the store at {base} sent {received} bytes hashing to {got}, not {sha256}"
            )));
        }
        Ok(Ok(()))
    }

    /// The id of the case named `case`: an id as it is, a court number looked up (the store answers 404 alike
    /// for a case that does not exist and one the caller may not see).
    pub fn case_id(&self, case: &str) -> anyhow::Result<i64> {
        if let Some(id) = as_id(case) {
            return Ok(id);
        }
        Ok(self.case(case)?.id)
    }

    /// The case named `case` (id or court number).
    pub fn case(&self, case: &str) -> anyhow::Result<Case> {
        self.get(
            &format!("/api/cases/{}", segment(case)),
            &format!("reading case {case}"),
        )
    }

    /// The id of the evidence item named `evidence` in case `case`: an id as it is, a label looked up.
    pub fn evidence_id(&self, case: i64, evidence: &str) -> anyhow::Result<i64> {
        if let Some(id) = as_id(evidence) {
            return Ok(id);
        }
        let list: Value = self.get(
            &format!("/api/cases/{case}/evidence"),
            &format!("listing the evidence of case {case}"),
        )?;
        let items = list["evidence"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .find(|item| item["label"].as_str() == Some(evidence))
            .and_then(|item| item["id"].as_i64())
            .with_context(|| {
                let labels: Vec<&str> = items.iter().filter_map(|i| i["label"].as_str()).collect();
                format!(
                    "case {case} has no evidence item labelled {evidence:?} (it has: {})",
                    if labels.is_empty() {
                        "none".to_owned()
                    } else {
                        labels.join(", ")
                    }
                )
            })
    }

    /// The id of the user named `user`: an id as it is, a name looked up (needs the right to manage users).
    pub fn user_id(&self, user: &str) -> anyhow::Result<i64> {
        if let Some(id) = as_id(user) {
            return Ok(id);
        }
        let list: Users = self.get("/api/users", "listing users")?;
        list.users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.id)
            .with_context(|| format!("the store has no user named {user:?}"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<T> {
        let response = request
            .send()
            .with_context(|| format!("{what}: cannot reach the store at {}", self.base))?;
        let status = response.status();
        let text = response
            .text()
            .with_context(|| format!("{what}: reading the store's answer"))?;
        if !status.is_success() {
            bail!(
                "{what}: the store refused ({status}): {}",
                refusal_reason(&text)
            );
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{what}: the store's answer is not the JSON expected"))
    }
}

/// The store's reason in a refusal: its JSON `error`, else the start of the body as it came.
fn refusal_reason(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect())
        .trim()
        .to_owned()
}

/// A name that is all digits is an id (court numbers, labels and names always hold more than digits).
fn as_id(name: &str) -> Option<i64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// One URL path segment: a court number such as `(2026)鲁01知民初1号` percent-encoded.
#[must_use]
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn court_numbers_become_one_path_segment() {
        assert_eq!(segment("12"), "12");
        assert_eq!(
            segment("(2026)鲁01知民初1号"),
            "%282026%29%E9%B2%8101%E7%9F%A5%E6%B0%91%E5%88%9D1%E5%8F%B7"
        );
        assert_eq!(segment("a/b?c#d"), "a%2Fb%3Fc%23d");
    }
}
