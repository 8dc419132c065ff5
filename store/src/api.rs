//! Users, cases, members, evidence items and their versions: the JSON part of the API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path as UrlPath, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::auth::{self, Action, Caller, Role};
use crate::db::{Db, now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, Peer};

type AppStateRef = State<Arc<AppState>>;

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let source = source_of(parts);
        auth::caller(state, &parts.headers, &source).await
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

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, _: &S) -> ApiResult<Self> {
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
        let bytes = axum::body::to_bytes(request.into_body(), MAX_JSON_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the JSON body is over {MAX_JSON_BYTES} bytes"),
                )
            })?;
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

/// A name or text from a client: no control characters, not empty, at most `max` characters.
pub fn clean_text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request(format!("field `{field}` is empty")));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "field `{field}` is longer than {max} characters"
        )));
    }
    if let Some((i, c)) = trimmed.char_indices().find(|(_, c)| c.is_control()) {
        return Err(ApiError::bad_request(format!(
            "field `{field}` has a control character (U+{:04X}) at byte {i}",
            c as u32
        )));
    }
    Ok(trimmed.to_owned())
}

/// Text made safe to put into HTML.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A file name: clean text without folders, so it can never name a path outside where it is put.
pub fn clean_filename(field: &str, value: &str) -> ApiResult<String> {
    let name = clean_text(field, value, 255)?;
    if name.contains(['/', '\\']) || name == "." || name == ".." || name.starts_with("..") {
        return Err(ApiError::bad_request(format!(
            "field `{field}`: {name:?} is not a plain file name (no folders, no ..)"
        )));
    }
    Ok(name)
}

/// A SHA-256 in lower-case hex, as every blob is named.
pub fn clean_sha256(field: &str, value: &str) -> ApiResult<String> {
    let v = value.trim().to_ascii_lowercase();
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v)
    } else {
        Err(ApiError::bad_request(format!(
            "field `{field}`: expected 64 hex digits (a SHA-256), got {:?}",
            value.chars().take(80).collect::<String>()
        )))
    }
}

/// On the first start (no users yet), create the admin and write its token to `DATA/admin.token`,
/// readable by the owner only.
pub async fn bootstrap_admin(db: &Db, data: &Path) -> anyhow::Result<Option<PathBuf>> {
    let _guard = db.write().await;
    let mut tx = db.pool.begin().await?;
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?
        .get(0);
    if existing > 0 {
        return Ok(None);
    }
    let token = auth::new_token();
    let id: i64 = sqlx::query(
        "INSERT INTO users (name, role, created_ms) VALUES ('admin', 'admin', $1) RETURNING id",
    )
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    sqlx::query("INSERT INTO tokens (hash, user_id, created_ms) VALUES ($1, $2, $3)")
        .bind(auth::token_hash(&token))
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    let path = data.join("admin.token");
    write_private(&path, format!("{token}\n").as_bytes())?;
    tx.commit().await?;
    Ok(Some(path))
}

/// Write a file readable by its owner only (tokens, keys).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

pub async fn whoami(caller: Caller) -> Json<Value> {
    Json(json!({ "id": caller.user_id, "name": caller.name, "role": caller.role }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    role: String,
}

pub async fn create_user(
    State(state): AppStateRef,
    caller: Caller,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth::authorize(&state, &caller, Action::ManageUsers, None, "users").await?;
    let name = clean_text("name", &body.name, 120)?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request(format!(
            "field `role`: {:?} is not one of admin, technician, judge, party, appellate",
            body.role
        ))
    })?;
    let token = auth::new_token();
    let _guard = state.db.write().await;
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .map_err(|e| ApiError::database("creating a user", &e))?;
    let id: i64 =
        sqlx::query("INSERT INTO users (name, role, created_ms) VALUES ($1, $2, $3) RETURNING id")
            .bind(&name)
            .bind(role.as_str())
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                unique_or(
                    &e,
                    &format!("a user named {name:?} exists already"),
                    "creating a user",
                )
            })?
            .get(0);
    sqlx::query("INSERT INTO tokens (hash, user_id, created_ms) VALUES ($1, $2, $3)")
        .bind(auth::token_hash(&token))
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(|e| ApiError::database("creating a token", &e))?;
    tx.commit()
        .await
        .map_err(|e| ApiError::database("creating a user", &e))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": name, "role": role, "token": token })),
    ))
}

/// `GET /api/users`: every user's id, name and role (never a token), for those who manage users; the
/// command line finds a user by name with it.
pub async fn list_users(State(state): AppStateRef, caller: Caller) -> ApiResult<Json<Value>> {
    auth::authorize(&state, &caller, Action::ManageUsers, None, "users").await?;
    let rows = sqlx::query("SELECT id, name, role FROM users ORDER BY id")
        .fetch_all(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("listing users", &e))?;
    let users: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.get::<i64, _>(0),
                "name": r.get::<String, _>(1),
                "role": r.get::<String, _>(2),
            })
        })
        .collect();
    Ok(Json(json!({ "users": users })))
}

/// A unique-constraint violation becomes 409 with `message`; anything else a database error.
fn unique_or(error: &sqlx::Error, message: &str, context: &str) -> ApiError {
    let text = error.to_string().to_lowercase();
    if text.contains("unique") || text.contains("duplicate key") {
        ApiError::conflict(message)
    } else {
        ApiError::database(context, error)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    number: String,
    court: String,
    title: String,
    #[serde(default)]
    parties: Vec<PartyName>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartyName {
    name: String,
    side: String,
}

const SIDES: [&str; 3] = ["plaintiff", "defendant", "third_party"];

pub async fn create_case(
    State(state): AppStateRef,
    caller: Caller,
    JsonBody(body): JsonBody<NewCase>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth::authorize(&state, &caller, Action::CreateCase, None, "cases").await?;
    let number = clean_text("number", &body.number, 120)?;
    let court = clean_text("court", &body.court, 200)?;
    let title = clean_text("title", &body.title, 500)?;
    let mut parties = Vec::new();
    for (i, p) in body.parties.iter().enumerate() {
        let name = clean_text(&format!("parties[{i}].name"), &p.name, 200)?;
        if !SIDES.contains(&p.side.as_str()) {
            return Err(ApiError::bad_request(format!(
                "field `parties[{i}].side`: {:?} is not one of {}",
                p.side,
                SIDES.join(", ")
            )));
        }
        parties.push(json!({ "name": name, "side": p.side }));
    }
    let guard = state.db.write().await;
    let id: i64 = sqlx::query(
        "INSERT INTO cases (number, court, title, parties, created_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&number)
    .bind(&court)
    .bind(&title)
    .bind(Value::Array(parties).to_string())
    .bind(caller.user_id)
    .bind(now_ms())
    .fetch_one(&state.db.pool)
    .await
    .map_err(|e| {
        unique_or(
            &e,
            &format!("case {number} exists already"),
            "creating a case",
        )
    })?
    .get(0);
    drop(guard);
    auth::log_event(&state, &caller, "case_created", Some(id), &number, "ok", "").await?;
    let case = case_json(&state, id).await?;
    Ok((StatusCode::CREATED, Json(case)))
}

/// A case with its members, as the API shows it.
pub async fn case_json(state: &AppState, id: i64) -> ApiResult<Value> {
    let row = sqlx::query(
        "SELECT id, number, court, title, parties, created_ms FROM cases WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading a case", &e))?
    .ok_or_else(ApiError::not_found)?;
    let members = sqlx::query(
        "SELECT users.id, users.name, case_members.role, case_members.side FROM case_members \
         JOIN users ON users.id = case_members.user_id WHERE case_id = $1 ORDER BY users.id",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading members", &e))?;
    let parties: String = row.get(4);
    Ok(json!({
        "id": row.get::<i64, _>(0),
        "number": row.get::<String, _>(1),
        "court": row.get::<String, _>(2),
        "title": row.get::<String, _>(3),
        "parties": serde_json::from_str::<Value>(&parties).unwrap_or(Value::Null),
        "created_at": rfc3339(row.get(5)),
        "members": members.iter().map(|m| json!({
            "user": m.get::<i64, _>(0),
            "name": m.get::<String, _>(1),
            "role": m.get::<String, _>(2),
            "side": m.get::<Option<String>, _>(3),
        })).collect::<Vec<_>>(),
    }))
}

/// Case ids from the URL: anything that is not a number is a case that does not exist.
/// The case a URL names: its id (digits only), or its court number (`(2026)鲁01知民初1号`, percent-encoded in
/// the URL). Court numbers always carry more than digits, so the two never collide.
async fn case_id(state: &AppState, text: &str) -> ApiResult<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| ApiError::not_found());
    }
    if text.is_empty() || text.len() > 120 {
        return Err(ApiError::not_found());
    }
    sqlx::query("SELECT id FROM cases WHERE number = $1")
        .bind(text)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("finding a case by its number", &e))?
        .map(|row| row.get(0))
        .ok_or_else(ApiError::not_found)
}

pub async fn get_case(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    Ok(Json(case_json(&state, id).await?))
}

/// The case named in the URL, when it exists and the caller may do `action` in it; 404 alike for a case
/// that does not exist and one the caller may not know of.
pub async fn case_for(
    state: &AppState,
    caller: &Caller,
    case: &str,
    action: Action,
) -> ApiResult<i64> {
    let id = case_id(state, case).await?;
    ensure_case(state, id).await?;
    auth::authorize(state, caller, action, Some(id), &format!("case {id}")).await?;
    Ok(id)
}

/// 404 unless the case exists (checked before authorization decides, so both answers look alike).
async fn ensure_case(state: &AppState, id: i64) -> ApiResult<()> {
    sqlx::query("SELECT 1 FROM cases WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading a case", &e))?
        .map(|_| ())
        .ok_or_else(ApiError::not_found)
}

pub async fn list_cases(State(state): AppStateRef, caller: Caller) -> ApiResult<Json<Value>> {
    let rows = if caller.role.per_case() {
        sqlx::query(
            "SELECT cases.id FROM cases JOIN case_members ON case_members.case_id = cases.id \
             WHERE case_members.user_id = $1 ORDER BY cases.id",
        )
        .bind(caller.user_id)
        .fetch_all(&state.db.pool)
        .await
    } else {
        sqlx::query("SELECT id FROM cases ORDER BY id")
            .fetch_all(&state.db.pool)
            .await
    }
    .map_err(|e| ApiError::database("listing cases", &e))?;
    let mut cases = Vec::new();
    for row in rows {
        cases.push(case_json(&state, row.get(0)).await?);
    }
    auth::log_event(&state, &caller, "list_cases", None, "cases", "allowed", "").await?;
    Ok(Json(json!({ "cases": cases })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    user: i64,
    role: String,
    side: Option<String>,
}

pub async fn add_member(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
    JsonBody(body): JsonBody<NewMember>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = case_for(&state, &caller, &case, Action::ManageMembers).await?;
    let user_role: Option<String> = sqlx::query("SELECT role FROM users WHERE id = $1")
        .bind(body.user)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading a user", &e))?
        .map(|r| r.get(0));
    let Some(user_role) = user_role else {
        return Err(ApiError::bad_request(format!(
            "field `user`: there is no user {}",
            body.user
        )));
    };
    if body.role != "judge" && body.role != "party" {
        return Err(ApiError::bad_request(format!(
            "field `role`: {:?} is not judge or party (the other roles reach every case)",
            body.role
        )));
    }
    if user_role != body.role {
        return Err(ApiError::bad_request(format!(
            "field `role`: user {} is a {user_role}, not a {}",
            body.user, body.role
        )));
    }
    let side = match (&*body.role, body.side.as_deref()) {
        ("party", Some(side)) if SIDES.contains(&side) => Some(side.to_owned()),
        ("party", other) => {
            return Err(ApiError::bad_request(format!(
                "field `side`: a party needs one of {}, got {other:?}",
                SIDES.join(", ")
            )));
        }
        _ => None,
    };
    let guard = state.db.write().await;
    sqlx::query("INSERT INTO case_members (case_id, user_id, role, side) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(body.user)
        .bind(&body.role)
        .bind(&side)
        .execute(&state.db.pool)
        .await
        .map_err(|e| {
            unique_or(
                &e,
                "that user is a member of the case already",
                "adding a member",
            )
        })?;
    drop(guard);
    auth::log_event(
        &state,
        &caller,
        "member_added",
        Some(id),
        &format!("user {}", body.user),
        "ok",
        &body.role,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(case_json(&state, id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvidence {
    label: String,
    kind: String,
    submitted_by: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    capture: Value,
}

const EVIDENCE_KINDS: [&str; 4] = ["patented_design", "accused_product", "prior_art", "other"];

pub async fn add_evidence(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
    JsonBody(body): JsonBody<NewEvidence>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = case_for(&state, &caller, &case, Action::AddEvidence).await?;
    let label = clean_text("label", &body.label, 200)?;
    if !EVIDENCE_KINDS.contains(&body.kind.as_str()) {
        return Err(ApiError::bad_request(format!(
            "field `kind`: {:?} is not one of {}",
            body.kind,
            EVIDENCE_KINDS.join(", ")
        )));
    }
    let submitted_by = clean_text("submitted_by", &body.submitted_by, 200)?;
    let description = if body.description.trim().is_empty() {
        String::new()
    } else {
        clean_text("description", &body.description, 4000)?
    };
    if !(body.capture.is_object() || body.capture.is_null()) {
        return Err(ApiError::bad_request(
            "field `capture`: expected an object (scanner, operator, date, place…)",
        ));
    }
    let guard = state.db.write().await;
    let evidence: i64 = sqlx::query(
        "INSERT INTO evidence (case_id, label, kind, submitted_by, description, capture, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(id)
    .bind(&label)
    .bind(&body.kind)
    .bind(&submitted_by)
    .bind(&description)
    .bind(body.capture.to_string())
    .bind(now_ms())
    .fetch_one(&state.db.pool)
    .await
    .map_err(|e| unique_or(&e, &format!("evidence {label:?} exists in this case already"), "adding evidence"))?
    .get(0);
    drop(guard);
    auth::log_event(
        &state,
        &caller,
        "evidence_added",
        Some(id),
        &format!("evidence {evidence}"),
        "ok",
        &label,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(evidence_json(&state, evidence).await?.1),
    ))
}

/// An evidence item with its versions and raw files, and its case id.
pub async fn evidence_json(state: &AppState, id: i64) -> ApiResult<(i64, Value)> {
    let row = sqlx::query(
        "SELECT id, case_id, label, kind, submitted_by, description, capture, created_ms \
         FROM evidence WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading evidence", &e))?
    .ok_or_else(ApiError::not_found)?;
    let versions = sqlx::query(
        "SELECT versions.number, versions.model_sha256, versions.manifest_sha256, versions.bytes, \
         versions.filename, users.name, versions.created_ms, versions.id FROM versions \
         JOIN users ON users.id = versions.uploaded_by WHERE evidence_id = $1 ORDER BY number",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading versions", &e))?;
    let files = sqlx::query(
        "SELECT evidence_files.sha256, blobs.bytes, evidence_files.filename, users.name, \
         evidence_files.created_ms FROM evidence_files \
         JOIN blobs ON blobs.sha256 = evidence_files.sha256 \
         JOIN users ON users.id = evidence_files.uploaded_by WHERE evidence_id = $1 \
         ORDER BY evidence_files.id",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading files", &e))?;
    let capture: String = row.get(6);
    let case: i64 = row.get(1);
    let mut confirmations = Vec::new();
    for v in &versions {
        confirmations.push(crate::confirm::of_version(state, v.get(7)).await?);
    }
    Ok((
        case,
        json!({
            "id": row.get::<i64, _>(0),
            "case": case,
            "label": row.get::<String, _>(2),
            "kind": row.get::<String, _>(3),
            "submitted_by": row.get::<String, _>(4),
            "description": row.get::<String, _>(5),
            "capture": serde_json::from_str::<Value>(&capture).unwrap_or(Value::Null),
            "created_at": rfc3339(row.get(7)),
            "versions": versions.iter().zip(confirmations).map(|(v, confirmations)| json!({
                "version": v.get::<i64, _>(0),
                "sha256": v.get::<String, _>(1),
                "manifest_sha256": v.get::<Option<String>, _>(2),
                "bytes": v.get::<i64, _>(3),
                "filename": v.get::<String, _>(4),
                "uploaded_by": v.get::<String, _>(5),
                "created_at": rfc3339(v.get(6)),
                "confirmations": confirmations,
            })).collect::<Vec<_>>(),
            "files": files.iter().map(|f| json!({
                "sha256": f.get::<String, _>(0),
                "bytes": f.get::<i64, _>(1),
                "filename": f.get::<String, _>(2),
                "uploaded_by": f.get::<String, _>(3),
                "created_at": rfc3339(f.get(4)),
            })).collect::<Vec<_>>(),
        }),
    ))
}

pub async fn list_evidence(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    let rows = sqlx::query("SELECT id FROM evidence WHERE case_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("listing evidence", &e))?;
    let mut items = Vec::new();
    for row in rows {
        items.push(evidence_json(&state, row.get(0)).await?.1);
    }
    Ok(Json(json!({ "evidence": items })))
}

pub async fn get_evidence(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(evidence): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let id: i64 = evidence.parse().map_err(|_| ApiError::not_found())?;
    let (case, value) = evidence_json(&state, id).await?;
    auth::authorize(
        &state,
        &caller,
        Action::ReadCase,
        Some(case),
        &format!("evidence {id}"),
    )
    .await?;
    Ok(Json(value))
}

/// The case's events, oldest first: the custody timeline as recorded so far.
pub async fn case_events(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    let rows = sqlx::query(
        "SELECT id, at_ms, actor, role, action, object, outcome, source, detail FROM events \
         WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading events", &e))?;
    let events: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.get::<i64, _>(0),
                "at": rfc3339(r.get(1)),
                "actor": r.get::<String, _>(2),
                "role": r.get::<String, _>(3),
                "action": r.get::<String, _>(4),
                "object": r.get::<String, _>(5),
                "outcome": r.get::<String, _>(6),
                "source": r.get::<String, _>(7),
                "detail": r.get::<String, _>(8),
            })
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}

/// The case a blob belongs to, through a version or an evidence file (the first, when several).
pub async fn cases_of_blob(state: &AppState, sha256: &str) -> ApiResult<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT evidence.case_id FROM versions JOIN evidence ON evidence.id = versions.evidence_id \
         WHERE versions.model_sha256 = $1 OR versions.manifest_sha256 = $1 \
         UNION SELECT evidence.case_id FROM evidence_files \
         JOIN evidence ON evidence.id = evidence_files.evidence_id WHERE evidence_files.sha256 = $1",
    )
    .bind(sha256)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("finding a blob's case", &e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
