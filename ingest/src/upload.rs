//! The technician's upload client: tus 1.0 to the court store, resuming after network or server
//! failures, and checking that the store recorded exactly the file's hash.
//!
//! The upload's address is kept in a small state file (keyed by store, case, evidence and the file's
//! hash), so that a second run after a crash or Ctrl-C resumes instead of starting over.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// What to upload where.
#[derive(Clone, Debug)]
pub struct UploadRequest {
    /// The file: a GLB model (`kind` "model") or a raw scan (`kind` "scan").
    pub file: PathBuf,
    /// The store's base URL, e.g. `http://127.0.0.1:8080`.
    pub store: String,
    pub token: String,
    pub case: i64,
    pub evidence: i64,
    pub kind: String,
    /// Bytes per PATCH request.
    pub chunk_bytes: u64,
    /// Keep retrying failures for this long before giving up.
    pub retry_for: Duration,
    /// Where the resume state lives (default: the system's temporary folder).
    pub state_dir: Option<PathBuf>,
}

/// What the store recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadReceipt {
    pub sha256: String,
    pub bytes: u64,
    pub case: i64,
    pub evidence: i64,
    /// The model version this upload is (models only).
    pub version: Option<i64>,
    /// The offset the last resumption started from (after a failure, or from an earlier run); 0 when the
    /// upload never had to resume.
    pub resumed_from: u64,
    /// Requests that failed and were retried.
    pub retries: u32,
    /// The store's whole answer about the finished upload.
    pub result: serde_json::Value,
}

/// Why an upload did not complete.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the store refused the upload ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error(
        "gave up after {seconds} s of failures; the last: {last}. Run the same command again to resume"
    )]
    GaveUp { seconds: u64, last: String },
    #[error("the store recorded {recorded}, but the file hashes to {local}")]
    HashMismatch { local: String, recorded: String },
}

/// SHA-256 (hex) and size of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64), UploadError> {
    let file_error = |source| UploadError::File {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(file_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(file_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((codec::manifest::hex(&hasher.finalize()), total))
}

/// One failed request: `Retry` for what may pass on a second try, `Fatal` for a refusal.
enum Failure {
    Retry(String),
    Fatal(UploadError),
}

fn classify(response: reqwest::blocking::Response) -> Failure {
    let status = response.status().as_u16();
    let message = response
        .text()
        .ok()
        .and_then(|t| {
            serde_json::from_str::<serde_json::Value>(&t)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .or(Some(t))
        })
        .unwrap_or_default();
    // Server trouble, a busy or moved upload, a damaged chunk: ask for the offset and go on.
    if status >= 500 && status != 507 || matches!(status, 408 | 409 | 423 | 460) {
        Failure::Retry(format!("{status}: {message}"))
    } else if status == 507 {
        Failure::Retry(format!("{status} (store's disk full): {message}"))
    } else {
        Failure::Fatal(UploadError::Refused { status, message })
    }
}

fn state_file(request: &UploadRequest, sha256: &str) -> PathBuf {
    let key = format!(
        "{}|{}|{}|{}|{sha256}",
        request.store.trim_end_matches('/'),
        request.case,
        request.evidence,
        request.kind
    );
    let name = codec::manifest::sha256_hex(key.as_bytes());
    request
        .state_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("exhibit-uploads"))
        .join(format!("{}.url", &name[..32]))
}

/// One upload in progress: where it is on the store and how far it got.
struct Session<'a> {
    request: &'a UploadRequest,
    /// The one store client (`crate::client`), with the caller's token.
    store: crate::client::Store,
    sha256: String,
    size: u64,
    metadata: String,
    state_path: PathBuf,
    file: std::fs::File,
    /// The upload's URL on the store, once created (or read from the state file).
    location: Option<String>,
    /// The store's offset, when known without asking.
    offset: Option<u64>,
    resumed_from: Option<u64>,
}

impl Session<'_> {
    /// A tus request: the token, the protocol version, and the upload's time limit for one piece.
    fn tus(&self, method: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        self.store
            .request(method, url)
            .timeout(PIECE_TIMEOUT)
            .header("Tus-Resumable", "1.0.0")
    }

    /// The upload's URL and offset: create the upload, or ask the store where it got to.
    fn locate(&mut self) -> Result<(String, u64), Failure> {
        let Some(url) = self.location.clone() else {
            let response = self
                .tus(reqwest::Method::POST, &self.store.url("/api/uploads"))
                .header("Upload-Length", self.size)
                .header("Upload-Metadata", &self.metadata)
                .send()
                .map_err(|e| Failure::Retry(e.to_string()))?;
            if response.status().as_u16() != 201 {
                return Err(classify(response));
            }
            let path = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Failure::Retry("no Location in the answer".into()))?
                .to_owned();
            let url = if path.starts_with("http") {
                path
            } else {
                self.store.url(&path)
            };
            if let Some(dir) = self.state_path.parent() {
                let _ = fs_err::create_dir_all(dir);
            }
            let _ = fs_err::write(&self.state_path, &url);
            self.location = Some(url.clone());
            self.offset = Some(0);
            self.resumed_from.get_or_insert(0);
            return Ok((url, 0));
        };
        if let Some(at) = self.offset {
            return Ok((url, at));
        }
        let response = self
            .tus(reqwest::Method::HEAD, &url)
            .send()
            .map_err(|e| Failure::Retry(e.to_string()))?;
        match response.status().as_u16() {
            200 | 204 => {}
            404 => {
                // The store does not know it (a fresh store, or another user's): start over.
                self.location = None;
                let _ = fs_err::remove_file(&self.state_path);
                return Err(Failure::Retry(
                    "the store does not know the upload; starting over".into(),
                ));
            }
            _ => return Err(classify(response)),
        }
        let at = offset_of(&response)?;
        // Asking means resuming: after a failure, or from an earlier run's state file.
        self.resumed_from = Some(at);
        Ok((url, at))
    }

    /// Send the bytes from `at` on, one checked chunk per request.
    fn send_rest(
        &mut self,
        url: &str,
        mut at: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), Failure> {
        progress(at, self.size);
        while at < self.size {
            let len = self.request.chunk_bytes.max(1).min(self.size - at);
            let mut chunk = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            self.file
                .seek(SeekFrom::Start(at))
                .and_then(|_| self.file.read_exact(&mut chunk))
                .map_err(|source| {
                    Failure::Fatal(UploadError::File {
                        path: self.request.file.clone(),
                        source,
                    })
                })?;
            let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&chunk));
            let response = self
                .tus(reqwest::Method::PATCH, url)
                .header("Upload-Offset", at)
                .header("Upload-Checksum", format!("sha256 {checksum}"))
                .header("Content-Type", "application/offset+octet-stream")
                .body(chunk)
                .send()
                .map_err(|e| Failure::Retry(e.to_string()))?;
            if response.status().as_u16() != 204 {
                return Err(classify(response));
            }
            at = offset_of(&response)?;
            self.offset = Some(at);
            progress(at, self.size);
        }
        Ok(())
    }

    /// Every byte is there: read what the store recorded and check it is this file.
    fn receipt(&mut self, url: &str, retries: u32) -> Result<UploadReceipt, Failure> {
        let response = self
            .store
            .request(reqwest::Method::GET, url)
            .timeout(crate::client::API_TIMEOUT)
            .send()
            .map_err(|e| Failure::Retry(e.to_string()))?;
        if !response.status().is_success() {
            return Err(classify(response));
        }
        let status = response.json_value().map_err(Failure::Retry)?;
        if status["finished"] != serde_json::Value::Bool(true) {
            self.offset = None;
            return Err(Failure::Retry(
                "the store has not recorded the upload yet".into(),
            ));
        }
        let result = status["result"].clone();
        if let Some(error) = result.get("error") {
            return Err(Failure::Fatal(UploadError::Refused {
                status: 0,
                message: error.as_str().unwrap_or_default().to_owned(),
            }));
        }
        let recorded = result["sha256"].as_str().unwrap_or_default().to_owned();
        if recorded != self.sha256 {
            return Err(Failure::Fatal(UploadError::HashMismatch {
                local: self.sha256.clone(),
                recorded,
            }));
        }
        Ok(UploadReceipt {
            sha256: self.sha256.clone(),
            bytes: result["bytes"].as_u64().unwrap_or(self.size),
            case: result["case"].as_i64().unwrap_or(self.request.case),
            evidence: result["evidence"].as_i64().unwrap_or(self.request.evidence),
            version: result["version"].as_i64(),
            resumed_from: self.resumed_from.unwrap_or(0),
            retries,
            result,
        })
    }
}

fn offset_of(response: &reqwest::blocking::Response) -> Result<u64, Failure> {
    response
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Failure::Retry("no Upload-Offset in the answer".into()))
}

/// The longest one tus request may take (a piece of `chunk_bytes` on a slow line).
const PIECE_TIMEOUT: Duration = Duration::from_mins(10);

/// Upload a file, calling `progress(done, total)` as bytes are acknowledged.
pub fn upload(
    request: &UploadRequest,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<UploadReceipt, UploadError> {
    let (sha256, size) = hash_file(&request.file)?;
    let filename = request
        .file
        .file_name()
        .map_or_else(|| "upload".to_owned(), |n| n.to_string_lossy().into_owned());
    let store = crate::client::Store::new(&request.store, &request.token).map_err(|e| {
        UploadError::Refused {
            status: 0,
            message: e.to_string(),
        }
    })?;
    let metadata = [
        ("filename", filename.as_str()),
        ("sha256", sha256.as_str()),
        ("case", &request.case.to_string()),
        ("evidence", &request.evidence.to_string()),
        ("kind", request.kind.as_str()),
    ]
    .iter()
    .map(|(k, v)| {
        format!(
            "{k} {}",
            base64::engine::general_purpose::STANDARD.encode(v)
        )
    })
    .collect::<Vec<_>>()
    .join(",");
    let state_path = state_file(request, &sha256);
    let file = std::fs::File::open(&request.file).map_err(|source| UploadError::File {
        path: request.file.clone(),
        source,
    })?;
    let mut session = Session {
        request,
        store,
        sha256,
        size,
        metadata,
        location: fs_err::read_to_string(&state_path)
            .ok()
            .map(|s| s.trim().to_owned()),
        state_path,
        file,
        offset: None,
        resumed_from: None,
    };
    let started = Instant::now();
    let mut retries = 0u32;
    loop {
        let step = session.locate().and_then(|(url, at)| {
            session.send_rest(&url, at, progress)?;
            session.receipt(&url, retries)
        });
        let last_failure = match step {
            Ok(receipt) => {
                let _ = fs_err::remove_file(&session.state_path);
                return Ok(receipt);
            }
            Err(Failure::Fatal(error)) => {
                let _ = fs_err::remove_file(&session.state_path);
                return Err(error);
            }
            Err(Failure::Retry(why)) => why,
        };
        if started.elapsed() > request.retry_for {
            return Err(UploadError::GaveUp {
                seconds: started.elapsed().as_secs(),
                last: last_failure,
            });
        }
        retries += 1;
        // Back off a little more each time, up to 2 s; then ask the store for the offset again.
        std::thread::sleep(Duration::from_millis(
            (50 * u64::from(retries.min(40))).min(2000),
        ));
        session.offset = None;
    }
}

/// Parse a response body as JSON, with the body in the message when it is not.
trait JsonValue {
    fn json_value(self) -> Result<serde_json::Value, String>;
}

impl JsonValue for reqwest::blocking::Response {
    fn json_value(self) -> Result<serde_json::Value, String> {
        let text = self.text().map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))
    }
}
