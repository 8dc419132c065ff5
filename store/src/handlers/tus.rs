//! Resumable uploads: the tus 1.0 protocol (core, creation, checksum, termination), so that standard
//! clients (tus-js-client, tuspy) and `exhibit upload` all work.
//!
//! An upload names its case, evidence item, file name and declared SHA-256 in `Upload-Metadata`. Each
//! PATCH appends bytes; the committed offset in the database only moves after the bytes are fsynced.
//! When the last byte arrives the store hashes everything, refuses a mismatch, and in one transaction
//! records the blob and the new model version (or raw-scan file). Only then does it answer 2xx.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::blobs::{FinishError, Piece, PieceEnd};
use crate::db::now_ms;
use crate::error::{ApiError, ApiErrorBody, ApiResult, CHECKSUM_MISMATCH};
use crate::records;
use crate::records::uploads::Upload;
use crate::services::auth::{self, Action, Caller};
use crate::validate::{clean_filename, clean_sha256};

const TUS_VERSION: &str = "1.0.0";
const OFFSET_CONTENT_TYPE: &str = "application/offset+octet-stream";

fn tus_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn require_tus(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        other => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("Tus-Resumable: this store speaks tus 1.0.0, the request said {other:?}"),
        )),
    }
}

fn number_header(headers: &HeaderMap, name: &str) -> ApiResult<u64> {
    let text = headers
        .get(name)
        .ok_or_else(|| ApiError::bad_request(format!("header {name} is missing")))?
        .to_str()
        .map_err(|_| ApiError::bad_request(format!("header {name} is not text")))?;
    text.trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("header {name}: {text:?} is not a byte count")))
}

/// `Upload-Metadata`, with errors as 400s.
fn parse_metadata(text: &str) -> ApiResult<Vec<(String, String)>> {
    crate::headers::parse_upload_metadata(text).map_err(ApiError::bad_request)
}

/// `OPTIONS /api/uploads`: the tus versions, extensions and checksum algorithms.
#[utoipa::path(options, path = "/api/uploads", tag = "uploads",
    responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Checksum-Algorithm, Tus-Max-Size")))]
pub async fn options() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut response);
    let headers = response.headers_mut();
    headers.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    headers.insert(
        "tus-extension",
        HeaderValue::from_static("creation,checksum,termination"),
    );
    headers.insert("tus-checksum-algorithm", HeaderValue::from_static("sha256"));
    response
}

async fn load(state: &AppState, id: &str) -> ApiResult<Upload> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found());
    }
    records::uploads::find(&state.db.pool, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// An upload is its uploader's (and the admin's): everyone else gets 404.
async fn load_own(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Upload> {
    let upload = load(state, id).await?;
    if upload.user_id != caller.user_id && caller.role != auth::Role::Admin {
        return Err(ApiError::not_found());
    }
    Ok(upload)
}

/// In low-space mode uploads wait (507) until the custody log's reserve can be made again.
fn require_space(state: &AppState) -> ApiResult<()> {
    if state.reserve.is_low() && !state.reserve.ensure() {
        return Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "the store's disk is full: uploads are paused until space is freed (reading goes on)",
        ));
    }
    Ok(())
}

/// `POST /api/uploads` (tus creation): `Upload-Length`, and `Upload-Metadata` with `sha256` (required), `filename`,
/// `case`, `evidence`, `kind` (`model` or `scan`).
#[utoipa::path(post, path = "/api/uploads", tag = "uploads",
    params(("Tus-Resumable" = String, Header, description = "1.0.0"), ("Upload-Length" = u64, Header), ("Upload-Metadata" = String, Header)),
    responses((status = 201, description = "created; Location names it"), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may not do this", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody),
        (status = 413, description = "over the store's limit", body = ApiErrorBody),
        (status = 507, description = "the store's disk is full", body = ApiErrorBody)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    require_tus(&headers)?;
    require_space(&state)?;
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            "Upload-Defer-Length: not supported; send Upload-Length",
        ));
    }
    let length = number_header(&headers, "upload-length")?;
    if length > state.config.max_upload_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Upload-Length {length} is over this store's limit of {} bytes",
                state.config.max_upload_bytes
            ),
        ));
    }
    let metadata_text = headers
        .get("upload-metadata")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let metadata = parse_metadata(metadata_text)?;
    let field = |key: &str| -> ApiResult<String> {
        metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| ApiError::bad_request(format!("Upload-Metadata `{key}` is missing")))
    };
    let sha256 = clean_sha256("Upload-Metadata sha256", &field("sha256")?)?;
    let filename = clean_filename("Upload-Metadata filename", &field("filename")?)?;
    let case_id: i64 = field("case")?
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("Upload-Metadata `case`: not a case id"))?;
    let evidence_id: i64 = field("evidence")?
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("Upload-Metadata `evidence`: not an evidence id"))?;
    let kind = metadata
        .iter()
        .find(|(k, _)| k == "kind")
        .map_or_else(|| "model".to_owned(), |(_, v)| v.clone());
    if kind != "model" && kind != "scan" {
        return Err(ApiError::bad_request(format!(
            "Upload-Metadata `kind`: {kind:?} is not model or scan"
        )));
    }
    // The evidence item must exist in that case; otherwise, as for a hidden case, 404.
    let evidence_case = records::evidence::case_of(&state.db.pool, evidence_id).await?;
    if evidence_case != Some(case_id) {
        return Err(ApiError::not_found());
    }
    auth::authorize(
        &state,
        &caller,
        Action::Upload,
        Some(case_id),
        &format!("evidence {evidence_id}"),
    )
    .await?;
    let id = auth::random_hex(16);
    {
        let _guard = state.db.write().await;
        records::uploads::insert(
            &state.db.pool,
            &records::uploads::NewUpload {
                id: &id,
                user_id: caller.user_id,
                case_id,
                evidence_id,
                kind: &kind,
                filename: &filename,
                sha256: &sha256,
                length,
                metadata: metadata_text,
                created_ms: now_ms(),
            },
        )
        .await?;
    }
    auth::log_event(
        &state,
        &caller,
        "upload_started",
        Some(case_id),
        &format!("evidence {evidence_id}"),
        "ok",
        &format!("{filename} {sha256} {length} bytes"),
    )
    .await?;
    let mut response = StatusCode::CREATED.into_response();
    tus_headers(&mut response);
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/uploads/{id}"))
            .map_err(|e| ApiError::internal("location", e))?,
    );
    response
        .headers_mut()
        .insert("upload-offset", HeaderValue::from_static("0"));
    // An empty file is complete at creation.
    if length == 0 {
        let upload = load(&state, &id).await?;
        finish(&state, &upload).await?;
    }
    Ok(response)
}

fn offset_response(status: StatusCode, upload: &Upload, offset: u64) -> Response {
    let mut response = status.into_response();
    tus_headers(&mut response);
    let headers = response.headers_mut();
    headers.insert("upload-offset", HeaderValue::from(offset));
    headers.insert("upload-length", HeaderValue::from(upload.length));
    if let Ok(v) = HeaderValue::from_str(&upload.metadata) {
        headers.insert("upload-metadata", v);
    }
    response
}

/// `HEAD /api/uploads/{id}`: the committed offset (only reads).
#[utoipa::path(head, path = "/api/uploads/{id}", tag = "uploads", params(("id" = String, Path, description = "the upload's id"), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses((status = 200, description = "Upload-Offset and Upload-Length"), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody),
        (status = 410, description = "the upload was refused", body = ApiErrorBody)))]
pub async fn head(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    require_tus(&headers)?;
    // HEAD only reads: finishing here raced the final PATCH's own finish (spurious 500s). A complete upload
    // that is not yet recorded is finished by the PATCH, by `GET` of the upload, or at the next start.
    let upload = load_own(&state, &caller, &id).await?;
    if let Some(error) = upload.result.as_ref().and_then(|r| r.get("error")) {
        return Err(ApiError::new(
            StatusCode::GONE,
            format!("this upload was refused: {}", error.as_str().unwrap_or("")),
        ));
    }
    Ok(offset_response(StatusCode::OK, &upload, upload.committed))
}

/// An upload's record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadStatus {
    pub id: String,
    pub case: i64,
    pub evidence: i64,
    pub kind: String,
    pub filename: String,
    pub sha256: String,
    pub length: u64,
    pub offset: u64,
    pub finished: bool,
    /// Once finished: the version or file recorded (with its checkpoint), or `{"error": why}`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
}

/// The upload's record, with its result (model version or file) once finished.
#[utoipa::path(get, path = "/api/uploads/{id}", tag = "uploads", params(("id" = String, Path, description = "the upload's id")),
    responses((status = 200, body = UploadStatus), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody)))]
pub async fn status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<UploadStatus>> {
    let mut upload = load_own(&state, &caller, &id).await?;
    if !upload.finished && upload.committed == upload.length {
        // A server that died between the last byte and its record: finish the job now, unless a request on
        // this instance is at it (it holds the upload; the client asks again).
        if let Some(_busy) = Busy::take(&state, &id) {
            upload = load(&state, &id).await?;
            if !upload.finished {
                finish(&state, &upload).await?;
                upload = load(&state, &id).await?;
            }
        }
    }
    Ok(Json(UploadStatus {
        id: upload.id,
        case: upload.case_id,
        evidence: upload.evidence_id,
        kind: upload.kind,
        filename: upload.filename,
        sha256: upload.sha256,
        length: upload.length,
        offset: upload.committed,
        finished: upload.finished,
        result: upload.result,
    }))
}

/// Marks an upload as being written by this instance; released on drop.
struct Busy<'a> {
    state: &'a AppState,
    id: String,
}

impl<'a> Busy<'a> {
    /// Hold upload `id` on this instance; `None` while another request holds it.
    fn take(state: &'a AppState, id: &str) -> Option<Self> {
        let mut busy = state.busy_uploads.lock().ok()?;
        busy.insert(id.to_owned()).then(|| Self {
            state,
            id: id.to_owned(),
        })
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.state.busy_uploads.lock() {
            busy.remove(&self.id);
        }
    }
}

/// `PATCH /api/uploads/{id}`: bytes at `Upload-Offset`, with `Upload-Checksum: sha256 …`; fsynced before the
/// offset is committed; at the last byte the whole is hashed, checked and recorded.
#[utoipa::path(patch, path = "/api/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "the upload's id"), ("Tus-Resumable" = String, Header, description = "1.0.0"), ("Upload-Offset" = u64, Header), ("Upload-Checksum" = Option<String>, Header)),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "kept; Upload-Offset says up to where"), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody),
        (status = 409, description = "Upload-Offset is not the upload's offset", body = ApiErrorBody),
        (status = 423, description = "another request is writing this upload", body = ApiErrorBody),
        (status = 460, description = "the checksum or the whole file's hash does not match", body = ApiErrorBody),
        (status = 422, description = "a model that is not a GLB, or whose manifest fails the checks", body = ApiErrorBody),
        (status = 507, description = "the store's disk is full", body = ApiErrorBody)))]
pub async fn patch(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    require_tus(&headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != OFFSET_CONTENT_TYPE {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {content_type:?}: a PATCH carries {OFFSET_CONTENT_TYPE}"),
        ));
    }
    require_space(&state)?;
    let offset = number_header(&headers, "upload-offset")?;
    let checksum = match headers.get("upload-checksum").and_then(|v| v.to_str().ok()) {
        None => None,
        Some(text) => {
            let (algorithm, value) = text.trim().split_once(' ').unwrap_or((text, ""));
            if algorithm != "sha256" {
                return Err(ApiError::bad_request(format!(
                    "Upload-Checksum: algorithm {algorithm:?} is not supported (sha256 is)"
                )));
            }
            Some(
                base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|e| {
                        ApiError::bad_request(format!("Upload-Checksum: not base64: {e}"))
                    })?,
            )
        }
    };
    let upload = load_own(&state, &caller, &id).await?;
    if upload
        .result
        .as_ref()
        .is_some_and(|r| r.get("error").is_some())
    {
        return Err(ApiError::new(StatusCode::GONE, "this upload was refused"));
    }
    let Some(_busy) = Busy::take(&state, &id) else {
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "another request is writing this upload; wait for it, then HEAD for the offset",
        ));
    };
    // Read again under the lock: the offset may have moved while we waited.
    let upload = load(&state, &upload.id).await?;
    if offset != upload.committed {
        return Err(ApiError::conflict(format!(
            "Upload-Offset {offset} does not match the upload's offset {}",
            upload.committed
        )));
    }
    let mut piece = Piece {
        body: body.into_data_stream().boxed(),
        limit: upload.length - upload.committed,
        idle: state.config.idle_timeout,
        checksum,
        ended_early: None,
    };
    let written = state
        .blobs
        .write_piece(&upload.id, offset, &mut piece)
        .await
        .map_err(|e| ApiError::storage("writing the upload", &e))?;
    if written > 0 {
        commit_piece(&state, &upload, offset, written).await?;
    }
    let new_offset = offset + written;
    match piece.ended_early {
        Some(PieceEnd::ChecksumMismatch) => {
            return Err(ApiError::new(
                StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
                "Upload-Checksum does not match the bytes received; nothing was kept",
            ));
        }
        Some(PieceEnd::TooLarge) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body runs past Upload-Length {}; nothing of it was kept",
                    upload.length
                ),
            ));
        }
        Some(PieceEnd::Stalled) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "no bytes for {} s; kept up to offset {new_offset}",
                    state.config.idle_timeout.as_secs()
                ),
            ));
        }
        Some(PieceEnd::Disconnected(why)) => {
            return Err(ApiError::bad_request(format!(
                "the body broke off ({why}); kept up to offset {new_offset}"
            )));
        }
        None => {}
    }
    let mut response = if new_offset == upload.length {
        let upload = load(&state, &upload.id).await?;
        let result = finish(&state, &upload).await?;
        let mut response = offset_response(StatusCode::NO_CONTENT, &upload, new_offset);
        if let Some(version) = result.get("version").and_then(Value::as_i64) {
            response
                .headers_mut()
                .insert("exhibit-version", HeaderValue::from(version));
        }
        response
    } else {
        offset_response(StatusCode::NO_CONTENT, &upload, new_offset)
    };
    if let Ok(v) = HeaderValue::from_str(&upload.sha256) {
        response.headers_mut().insert("exhibit-sha256", v);
    }
    Ok(response)
}

/// Move the committed offset, but only from where this request started: a second instance that
/// wrote the same offset meanwhile makes this one a conflict.
async fn commit_piece(
    state: &AppState,
    upload: &Upload,
    offset: u64,
    written: u64,
) -> ApiResult<()> {
    let _guard = state.db.write().await;
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .map_err(|e| ApiError::database("recording the upload", &e))?;
    let moved = records::uploads::advance(&mut tx, &upload.id, offset, offset + written)
        .await
        .map_err(|e| ApiError::database("recording the upload", &e))?;
    if !moved {
        return Err(ApiError::conflict(
            "the upload moved on while this request was writing; HEAD for the offset",
        ));
    }
    if state.blobs.keeps_pieces() {
        records::uploads::add_piece(&mut tx, &upload.id, offset, written)
            .await
            .map_err(|e| ApiError::database("recording the upload", &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| ApiError::database("recording the upload", &e))
}

async fn pieces(state: &AppState, id: &str) -> ApiResult<Vec<(u64, u64)>> {
    records::uploads::pieces(&state.db.pool, id).await
}

/// The manifest inside a GLB (`asset.extras.exhibit`), as the sidecar's exact bytes; `None` for a GLB
/// made elsewhere. Anything that is not a GLB is refused.
fn manifest_of(bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let chunks = codec::glb::parse_glb(bytes).map_err(|e| e.to_string())?;
    let root: Value =
        serde_json::from_slice(chunks.json).map_err(|e| format!("GLB JSON chunk: {e}"))?;
    let Some(manifest) = root.pointer("/asset/extras/exhibit") else {
        return Ok(None);
    };
    let manifest: codec::manifest::Manifest = serde_json::from_value(manifest.clone())
        .map_err(|e| format!("asset.extras.exhibit is not a readable manifest: {e}"))?;
    // What pages and reports print from it is checked as a request's fields are.
    crate::validate::manifest(&manifest)
        .map_err(|e| format!("asset.extras.exhibit: {}", e.message))?;
    Ok(Some(manifest.to_pretty_json()))
}

/// Check the whole upload against its declared hash, store it, and record it as evidence, all or
/// nothing. Safe to run again after a crash at any point.
async fn finish(state: &AppState, upload: &Upload) -> ApiResult<Value> {
    if upload.finished {
        return Ok(upload.result.clone().unwrap_or(Value::Null));
    }
    let pieces = pieces(state, &upload.id).await?;
    match state
        .blobs
        .finish(&upload.id, &pieces, upload.length, &upload.sha256)
        .await
    {
        Ok(()) => {}
        Err(FinishError::Mismatch { declared, actual }) => {
            let why = format!("the bytes received hash to {actual}, not the declared {declared}");
            refuse(state, upload, &pieces, &why).await?;
            return Err(ApiError::new(
                StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
                why,
            ));
        }
        Err(FinishError::Io(e)) => return Err(ApiError::storage("storing the upload", &e)),
    }
    let mut manifest = None;
    if upload.kind == "model" {
        let bytes =
            crate::services::blob_reads::read_blob(state, &upload.sha256, upload.length).await?;
        match manifest_of(&bytes) {
            Ok(m) => manifest = m,
            Err(why) => {
                let why = format!("{} is not a GLB model: {why}", upload.filename);
                refuse(state, upload, &pieces, &why).await?;
                return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why));
            }
        }
    }
    let manifest_sha = match &manifest {
        Some(bytes) => {
            let sha = codec::manifest::sha256_hex(bytes);
            state
                .blobs
                .put(&sha, bytes.clone())
                .await
                .map_err(|e| ApiError::storage("storing the manifest", &e))?;
            Some((sha, bytes.len()))
        }
        None => None,
    };
    let result = record(state, upload, manifest_sha).await?;
    state.blobs.discard(&upload.id, &pieces).await;
    Ok(result)
}

async fn refuse(
    state: &AppState,
    upload: &Upload,
    pieces: &[(u64, u64)],
    why: &str,
) -> ApiResult<()> {
    state.blobs.discard(&upload.id, pieces).await;
    let guard = state.db.write().await;
    records::uploads::finish(
        &state.db.pool,
        &upload.id,
        &json!({ "error": why }),
        now_ms(),
    )
    .await
    .map_err(|e| ApiError::database("recording a refused upload", &e))?;
    drop(guard);
    auth::record_event(
        state,
        &format!("user {}", upload.user_id),
        "uploader",
        "",
        "upload_refused",
        Some(upload.case_id),
        &format!("evidence {}", upload.evidence_id),
        "refused",
        why,
    )
    .await?;
    Ok(())
}

/// One transaction: the blob row(s), the version or file row, the upload marked finished.
async fn record(
    state: &AppState,
    upload: &Upload,
    manifest: Option<(String, usize)>,
) -> ApiResult<Value> {
    let now = now_ms();
    let db_error = |e: sqlx::Error| ApiError::database("recording the upload", &e);
    let _guard = state.db.write().await;
    let mut tx = state.db.pool.begin().await.map_err(db_error)?;
    crate::db::record_blob(&mut tx, &upload.sha256, upload.length, now)
        .await
        .map_err(db_error)?;
    if let Some((sha, len)) = &manifest {
        crate::db::record_blob(&mut tx, sha, *len as u64, now)
            .await
            .map_err(db_error)?;
    }
    let mut result = json!({
        "sha256": upload.sha256,
        "bytes": upload.length,
        "case": upload.case_id,
        "evidence": upload.evidence_id,
        "kind": upload.kind,
        "filename": upload.filename,
    });
    if upload.kind == "model" {
        // The same model again is the same version: versions change only when the bytes do.
        let latest = records::evidence::latest_version(&mut tx, upload.evidence_id)
            .await
            .map_err(db_error)?;
        let version = match latest {
            Some((number, sha)) if sha == upload.sha256 => number,
            other => {
                let number = other.map_or(1, |(number, _)| number + 1);
                let new = records::evidence::NewVersion {
                    evidence: upload.evidence_id,
                    number,
                    model_sha256: &upload.sha256,
                    manifest_sha256: manifest.as_ref().map(|m| m.0.as_str()),
                    bytes: upload.length,
                    filename: &upload.filename,
                    uploaded_by: upload.user_id,
                    created_ms: now,
                };
                records::evidence::insert_version(&mut tx, &new)
                    .await
                    .map_err(db_error)?;
                number
            }
        };
        result["version"] = json!(version);
        result["manifest_sha256"] = json!(manifest.map(|m| m.0));
    } else {
        records::evidence::insert_file(
            &mut tx,
            upload.evidence_id,
            &upload.sha256,
            &upload.filename,
            upload.user_id,
            now,
        )
        .await
        .map_err(db_error)?;
    }
    // The upload's custody event, in the same transaction; its checkpoint is the receipt's.
    let (actor, role) = records::users::name_and_role(&mut tx, upload.user_id)
        .await
        .map_err(db_error)?;
    let event = crate::custody::Event {
        at_ms: now,
        actor,
        role,
        action: "upload".to_owned(),
        case_id: Some(upload.case_id),
        object: format!("evidence {}", upload.evidence_id),
        outcome: "stored".to_owned(),
        source: String::new(),
        detail: result.to_string(),
    };
    let checkpoint = crate::custody::append(
        &mut tx,
        state.db.dialect == crate::db::Dialect::Postgres,
        &state.signer,
        &[event],
    )
    .await
    .map_err(db_error)?;
    result["checkpoint"] = serde_json::to_value(&checkpoint).unwrap_or(Value::Null);
    records::uploads::finish(&mut *tx, &upload.id, &result, now)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(result)
}

/// `DELETE /api/uploads/{id}` (tus termination): an unfinished upload and its parts are dropped.
#[utoipa::path(delete, path = "/api/uploads/{id}", tag = "uploads", params(("id" = String, Path, description = "the upload's id"), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses((status = 204, description = "dropped"), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody)))]
pub async fn terminate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    require_tus(&headers)?;
    let upload = load_own(&state, &caller, &id).await?;
    if upload.finished
        && upload
            .result
            .as_ref()
            .is_some_and(|r| r.get("error").is_none())
    {
        return Err(ApiError::conflict(
            "this upload is finished and recorded as evidence; evidence is never deleted",
        ));
    }
    let pieces = pieces(&state, &id).await?;
    state.blobs.discard(&id, &pieces).await;
    {
        let _guard = state.db.write().await;
        let mut tx = state
            .db
            .pool
            .begin()
            .await
            .map_err(|e| ApiError::database("terminating an upload", &e))?;
        records::uploads::delete(&mut tx, &id)
            .await
            .map_err(|e| ApiError::database("terminating an upload", &e))?;
        tx.commit()
            .await
            .map_err(|e| ApiError::database("terminating an upload", &e))?;
    }
    auth::log_event(
        &state,
        &caller,
        "upload_terminated",
        Some(upload.case_id),
        &format!("evidence {}", upload.evidence_id),
        "ok",
        "",
    )
    .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut response);
    Ok(response)
}

/// At start: finish uploads whose last byte was committed before the server died.
pub async fn finish_pending(state: &AppState) {
    let ids = match records::uploads::complete_unrecorded(&state.db.pool).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!("looking for unfinished uploads: {e}");
            return;
        }
    };
    for id in ids {
        match load(state, &id).await {
            Ok(upload) => {
                if let Err(e) = finish(state, &upload).await {
                    tracing::warn!("finishing upload {id} after a restart: {}", e.message);
                }
            }
            Err(e) => tracing::warn!("reading upload {id}: {}", e.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_key_space_base64_pairs() {
        let parsed = parse_metadata("filename bGFtcC5nbGI=, kind bW9kZWw=,empty").unwrap();
        assert_eq!(
            parsed,
            vec![
                ("filename".to_owned(), "lamp.glb".to_owned()),
                ("kind".to_owned(), "model".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
        let bad = parse_metadata("filename ***").unwrap_err();
        assert!(bad.message.contains("filename") && bad.message.contains("base64"));
        let not_text = parse_metadata("filename //79").unwrap_err();
        assert!(not_text.message.contains("UTF-8"));
    }

    #[test]
    fn metadata_parser_takes_any_text_without_panicking() {
        // A seeded stand-in for fuzzing: random headers from the characters the format uses.
        let alphabet = "ab=+/ ,\u{0}\u{7f}é中AZ09";
        let chars: Vec<char> = alphabet.chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let text: String = (0..len)
                .map(|i| chars[((state >> (i % 8 * 8)) as usize + i) % chars.len()])
                .collect();
            let _ = parse_metadata(&text);
        }
    }
}
