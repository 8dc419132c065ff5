//! Users, cases, members, evidence items and their versions: the JSON part of the API.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::db::{now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::handlers::extract::JsonBody;
pub use crate::private_files::write_private;
use crate::records::{cases, evidence};
use crate::services::auth::{self, Action, Caller, Role, case_for};
use crate::services::mutation::Mutation;
pub use crate::validate::{clean_filename, clean_sha256, clean_text};

type AppStateRef = State<Arc<AppState>>;

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
    let mut change = Mutation::begin(&state, "creating a user").await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (name, role, created_ms) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&name)
    .bind(role.as_str())
    .bind(now_ms())
    .fetch_one(&mut *change.tx)
    .await
    .map_err(|e| {
        unique_or(
            &e,
            &format!("a user named {name:?} exists already"),
            "creating a user",
        )
    })?;
    sqlx::query("INSERT INTO tokens (hash, user_id, created_ms) VALUES ($1, $2, $3)")
        .bind(auth::token_hash(&token))
        .bind(id)
        .bind(now_ms())
        .execute(&mut *change.tx)
        .await
        .map_err(|e| change.failed(&e))?;
    change
        .commit(caller.event(
            "user_created",
            None,
            &format!("user {id}"),
            "ok",
            role.as_str(),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": name, "role": role, "token": token })),
    ))
}

/// A user as `GET /api/users` lists them (never a token).
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct UserSummary {
    id: i64,
    name: String,
    role: String,
}

/// `GET /api/users`: every user's id, name and role (never a token), for those who manage users; the
/// command line finds a user by name with it.
pub async fn list_users(State(state): AppStateRef, caller: Caller) -> ApiResult<Json<Value>> {
    auth::authorize(&state, &caller, Action::ManageUsers, None, "users").await?;
    let users = sqlx::query_as::<_, UserSummary>("SELECT id, name, role FROM users ORDER BY id")
        .fetch_all(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("listing users", &e))?;
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
    parties: Vec<cases::Party>,
}

pub async fn create_case(
    State(state): AppStateRef,
    caller: Caller,
    JsonBody(body): JsonBody<NewCase>,
) -> ApiResult<(StatusCode, Json<cases::Case>)> {
    auth::authorize(&state, &caller, Action::CreateCase, None, "cases").await?;
    let (number, court, title, parties) =
        cases::checked_case(&body.number, &body.court, &body.title, &body.parties)?;
    let mut change = Mutation::begin(&state, "creating a case").await?;
    let id = cases::insert(
        &mut change.tx,
        &number,
        &court,
        &title,
        &parties,
        caller.user_id,
        now_ms(),
    )
    .await
    .map_err(|e| {
        unique_or(
            &e,
            &format!("case {number} exists already"),
            "creating a case",
        )
    })?;
    change
        .commit(caller.event("case_created", Some(id), &number, "ok", ""))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(cases::get(&state.db.pool, id).await?),
    ))
}

pub async fn get_case(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<cases::Case>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    Ok(Json(cases::get(&state.db.pool, id).await?))
}

pub async fn list_cases(State(state): AppStateRef, caller: Caller) -> ApiResult<Json<Value>> {
    let member = caller.role.per_case().then_some(caller.user_id);
    let mut listed = Vec::new();
    for id in cases::ids(&state.db.pool, member).await? {
        listed.push(cases::get(&state.db.pool, id).await?);
    }
    auth::log_event(&state, &caller, "list_cases", None, "cases", "allowed", "").await?;
    Ok(Json(json!({ "cases": listed })))
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
) -> ApiResult<(StatusCode, Json<cases::Case>)> {
    let id = case_for(&state, &caller, &case, Action::ManageMembers).await?;
    let user_role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(body.user)
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading a user", &e))?;
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
        ("party", Some(side)) => Some(crate::validate::side("side", side)?),
        ("party", None) => {
            return Err(ApiError::bad_request(format!(
                "field `side`: a party needs one of {}",
                crate::validate::SIDES.join(", ")
            )));
        }
        _ => None,
    };
    let mut change = Mutation::begin(&state, "adding a member").await?;
    sqlx::query("INSERT INTO case_members (case_id, user_id, role, side) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(body.user)
        .bind(&body.role)
        .bind(&side)
        .execute(&mut *change.tx)
        .await
        .map_err(|e| {
            unique_or(
                &e,
                "that user is a member of the case already",
                "adding a member",
            )
        })?;
    change
        .commit(caller.event(
            "member_added",
            Some(id),
            &format!("user {}", body.user),
            "ok",
            &body.role,
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(cases::get(&state.db.pool, id).await?),
    ))
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

pub async fn add_evidence(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
    JsonBody(body): JsonBody<NewEvidence>,
) -> ApiResult<(StatusCode, Json<evidence::Evidence>)> {
    let id = case_for(&state, &caller, &case, Action::AddEvidence).await?;
    let evidence::CheckedEvidence {
        label,
        kind,
        submitted_by,
        description,
        capture,
    } = evidence::checked_evidence(
        &body.label,
        &body.kind,
        &body.submitted_by,
        &body.description,
        &body.capture,
    )?;
    let mut change = Mutation::begin(&state, "adding evidence").await?;
    let item: i64 = sqlx::query_scalar(
        "INSERT INTO evidence (case_id, label, kind, submitted_by, description, capture, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(id)
    .bind(&label)
    .bind(&kind)
    .bind(&submitted_by)
    .bind(&description)
    .bind(Value::Object(capture).to_string())
    .bind(now_ms())
    .fetch_one(&mut *change.tx)
    .await
    .map_err(|e| unique_or(&e, &format!("evidence {label:?} exists in this case already"), "adding evidence"))?;
    change
        .commit(caller.event(
            "evidence_added",
            Some(id),
            &format!("evidence {item}"),
            "ok",
            &label,
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(evidence::get(&state.db.pool, item).await?),
    ))
}

pub async fn list_evidence(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    Ok(Json(
        json!({ "evidence": evidence::of_case(&state.db.pool, id).await? }),
    ))
}

pub async fn get_evidence(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(item): UrlPath<String>,
) -> ApiResult<Json<evidence::Evidence>> {
    let found = match item.parse::<i64>() {
        Ok(id) => evidence::find(&state.db.pool, id).await?,
        Err(_) => None,
    };
    let Some(found) = found else {
        // Recorded like a hidden item, so that the two look alike.
        auth::log_event(
            &state,
            &caller,
            Action::ReadCase.as_str(),
            None,
            "evidence",
            "denied (hidden)",
            "",
        )
        .await?;
        return Err(ApiError::not_found());
    };
    auth::authorize(
        &state,
        &caller,
        Action::ReadCase,
        Some(found.case),
        &format!("evidence {}", found.id),
    )
    .await?;
    Ok(Json(found))
}

/// One event of a case's timeline.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct TimelineEvent {
    id: i64,
    #[sqlx(rename = "at_ms")]
    #[serde(skip)]
    at_ms: i64,
    #[sqlx(skip)]
    at: String,
    actor: String,
    role: String,
    action: String,
    object: String,
    outcome: String,
    /// Where the request came from; `None` for parties, who never see other people's addresses.
    source: Option<String>,
    detail: String,
}

/// The case's events, oldest first: the custody timeline as recorded so far. Parties see no network
/// addresses and no visitors' browsers: those are for the court.
pub async fn case_events(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    let mut events = sqlx::query_as::<_, TimelineEvent>(
        "SELECT id, at_ms, actor, role, action, object, outcome, source, detail FROM events \
         WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await
    .map_err(|e| ApiError::database("reading events", &e))?;
    let private = !auth::sees_sources(caller.role);
    for event in &mut events {
        event.at = rfc3339(event.at_ms);
        if private {
            event.source = None;
            if event.role == auth::SHARE_LINK_ROLE {
                event.detail = auth::visit_detail_without_agent(&event.detail);
            }
        }
    }
    Ok(Json(json!({ "events": events })))
}

/// The cases a blob belongs to.
pub async fn cases_of_blob(state: &AppState, sha256: &str) -> ApiResult<Vec<i64>> {
    evidence::cases_of_blob(&state.db.pool, sha256).await
}
