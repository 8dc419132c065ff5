//! Users, cases, members, evidence items and their versions: the JSON part of the API.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::db::{now_ms, rfc3339};
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::handlers::extract::JsonBody;
pub use crate::private_files::write_private;
use crate::records::{self, cases, evidence};
use crate::services::auth::{self, Action, Caller, Role, case_for};
use crate::services::mutation::Mutation;
pub use crate::validate::{clean_filename, clean_sha256, clean_text};

type AppStateRef = State<Arc<AppState>>;

/// `GET /healthz`: 200 once the store is ready.
#[utoipa::path(get, path = "/healthz", tag = "store", responses((status = 200, description = "ok", content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /api/openapi.json`: the API described, generated from the handlers and types themselves.
#[utoipa::path(get, path = "/api/openapi.json", tag = "store",
    responses((status = 200, description = "this document (OpenAPI 3.1)", content_type = "application/json")))]
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::handlers::openapi::document_json(),
    )
        .into_response()
}

/// Who the token belongs to.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Whoami {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/whoami", tag = "users",
    responses((status = 200, body = Whoami), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody)))]
pub async fn whoami(caller: Caller) -> Json<Whoami> {
    Json(Whoami {
        id: caller.user_id,
        name: caller.name,
        role: caller.role,
    })
}

/// A new user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    role: String,
    /// For signing in from a browser (at least 12 characters); without it, the user has only tokens.
    password: Option<String>,
}

/// A user made, with their first token (shown once; the store keeps only its hash; it ends after 90 days).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserCreated {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub token: String,
}

/// Create a user and their first token (admin).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserCreated), (status = 400, description = "a field is missing or wrong; the reason names it", body = ApiErrorBody), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody),
        (status = 409, description = "a user of that name exists", body = ApiErrorBody)))]
pub async fn create_user(
    State(state): AppStateRef,
    caller: Caller,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<(StatusCode, Json<UserCreated>)> {
    auth::authorize(&state, &caller, Action::ManageUsers, None, "users").await?;
    let name = clean_text("name", &body.name, 120)?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request(format!(
            "field `role`: {:?} is not one of admin, technician, judge, party, appellate",
            body.role
        ))
    })?;
    let password_hash = match body.password {
        Some(password) => Some(crate::services::sign_in::hash_password_off_thread(password).await?),
        None => None,
    };
    let token = auth::new_token();
    let now = now_ms();
    let token_seconds =
        i64::try_from(crate::handlers::sign_in::DEFAULT_TOKEN_SECONDS).unwrap_or(i64::MAX);
    let mut change = Mutation::begin(&state, "creating a user").await?;
    let id = records::users::insert(
        &mut change.tx,
        &name,
        role.as_str(),
        password_hash.as_deref(),
        &auth::token_hash(&token),
        now,
        now.saturating_add(token_seconds * 1000),
    )
    .await
    .map_err(|e| {
        unique_or(
            &e,
            &format!("a user named {name:?} exists already"),
            "creating a user",
        )
    })?;
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
        Json(UserCreated {
            id,
            name,
            role,
            token,
        }),
    ))
}

/// A user as `GET /api/users` lists them (never a token).
#[derive(Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserSummary {
    pub id: i64,
    pub name: String,
    pub role: String,
}

/// Every user.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Vec<UserSummary>,
}

/// `GET /api/users`: every user's id, name and role (never a token), for those who manage users; the
/// command line finds a user by name with it.
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = UserList), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody)))]
pub async fn list_users(State(state): AppStateRef, caller: Caller) -> ApiResult<Json<UserList>> {
    auth::authorize(&state, &caller, Action::ManageUsers, None, "users").await?;
    let users = records::users::all(&state.db.pool)
        .await?
        .into_iter()
        .map(|(id, name, role)| UserSummary { id, name, role })
        .collect();
    Ok(Json(UserList { users }))
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

/// A new case.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    number: String,
    court: String,
    title: String,
    #[serde(default)]
    parties: Vec<cases::Party>,
}

/// Open a case (admin).
#[utoipa::path(post, path = "/api/cases", tag = "cases", request_body = NewCase,
    responses((status = 201, body = cases::Case), (status = 400, description = "a field is missing or wrong; the reason names it", body = ApiErrorBody), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody),
        (status = 409, description = "a case with that number exists", body = ApiErrorBody)))]
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

/// A case with its members.
#[utoipa::path(get, path = "/api/cases/{case}", tag = "cases", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    responses((status = 200, body = cases::Case), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such case, or one the caller may not know of", body = ApiErrorBody)))]
pub async fn get_case(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<cases::Case>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    Ok(Json(cases::get(&state.db.pool, id).await?))
}

/// The cases a caller may see.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseList {
    pub cases: Vec<cases::Case>,
}

/// The cases the caller may see (a judge's or party's own; every case for the other roles).
#[utoipa::path(get, path = "/api/cases", tag = "cases",
    responses((status = 200, body = CaseList), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody)))]
pub async fn list_cases(State(state): AppStateRef, caller: Caller) -> ApiResult<Json<CaseList>> {
    let member = caller.role.per_case().then_some(caller.user_id);
    let mut listed = Vec::new();
    for id in cases::ids(&state.db.pool, member).await? {
        listed.push(cases::get(&state.db.pool, id).await?);
    }
    auth::log_event(&state, &caller, "list_cases", None, "cases", "allowed", "").await?;
    Ok(Json(CaseList { cases: listed }))
}

/// A user made a judge or party of a case.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    user: i64,
    role: String,
    side: Option<String>,
}

/// Make a user a judge or party of the case (admin).
#[utoipa::path(post, path = "/api/cases/{case}/members", tag = "cases", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    request_body = NewMember,
    responses((status = 201, body = cases::Case), (status = 400, description = "a field is missing or wrong; the reason names it", body = ApiErrorBody), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody), (status = 404, description = "no such case, or one the caller may not know of", body = ApiErrorBody),
        (status = 409, description = "a member already", body = ApiErrorBody)))]
pub async fn add_member(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
    JsonBody(body): JsonBody<NewMember>,
) -> ApiResult<(StatusCode, Json<cases::Case>)> {
    let id = case_for(&state, &caller, &case, Action::ManageMembers).await?;
    let user_role = records::users::role_of(&state.db.pool, body.user).await?;
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
    records::cases::add_member(&mut change.tx, id, body.user, &body.role, side.as_deref())
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

/// A new evidence item.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvidence {
    label: String,
    kind: String,
    submitted_by: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    capture: Value,
}

/// Add an evidence item to the case.
#[utoipa::path(post, path = "/api/cases/{case}/evidence", tag = "evidence", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    request_body = NewEvidence,
    responses((status = 201, body = evidence::Evidence), (status = 400, description = "a field is missing or wrong; the reason names it", body = ApiErrorBody), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody), (status = 404, description = "no such case, or one the caller may not know of", body = ApiErrorBody),
        (status = 409, description = "an item with that label exists in the case", body = ApiErrorBody)))]
pub async fn add_evidence(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
    JsonBody(body): JsonBody<NewEvidence>,
) -> ApiResult<(StatusCode, Json<evidence::Evidence>)> {
    let id = case_for(&state, &caller, &case, Action::AddEvidence).await?;
    let checked = evidence::checked_evidence(
        &body.label,
        &body.kind,
        &body.submitted_by,
        &body.description,
        &body.capture,
    )?;
    let label = checked.label.clone();
    let mut change = Mutation::begin(&state, "adding evidence").await?;
    let item = evidence::insert(&mut change.tx, id, &checked, now_ms())
        .await
        .map_err(|e| {
            unique_or(
                &e,
                &format!("evidence {label:?} exists in this case already"),
                "adding evidence",
            )
        })?;
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

/// The evidence items of a case.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceList {
    pub evidence: Vec<evidence::Evidence>,
}

/// The case's evidence items, with their versions, confirmations and raw files.
#[utoipa::path(get, path = "/api/cases/{case}/evidence", tag = "evidence", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    responses((status = 200, body = EvidenceList), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such case, or one the caller may not know of", body = ApiErrorBody)))]
pub async fn list_evidence(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<EvidenceList>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    Ok(Json(EvidenceList {
        evidence: evidence::of_case(&state.db.pool, id).await?,
    }))
}

/// One evidence item.
#[utoipa::path(get, path = "/api/evidence/{evidence}", tag = "evidence",
    params(("evidence" = i64, Path, description = "the item's id")),
    responses((status = 200, body = evidence::Evidence), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such case, or one the caller may not know of", body = ApiErrorBody)))]
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    id: i64,
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

/// A case's custody timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub events: Vec<TimelineEvent>,
}

/// The case's events, oldest first: the custody timeline as recorded so far. Parties see no network
/// addresses and no visitors' browsers: those are for the court.
#[utoipa::path(get, path = "/api/cases/{case}/events", tag = "custody", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    responses((status = 200, body = EventList), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 404, description = "no such case, or one the caller may not know of", body = ApiErrorBody)))]
pub async fn case_events(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Json<EventList>> {
    let id = case_for(&state, &caller, &case, Action::ReadCase).await?;
    let private = !auth::sees_sources(caller.role);
    let events = records::events::of_case(&state.db.pool, id)
        .await?
        .into_iter()
        .map(|e| {
            let visit = e.role == auth::SHARE_LINK_ROLE;
            TimelineEvent {
                id: e.id,
                at: rfc3339(e.at_ms),
                actor: e.actor,
                role: e.role,
                action: e.action,
                object: e.object,
                outcome: e.outcome,
                source: (!private).then_some(e.source),
                detail: if private && visit {
                    auth::visit_detail_without_agent(&e.detail)
                } else {
                    e.detail
                },
            }
        })
        .collect();
    Ok(Json(EventList { events }))
}

/// The cases a blob belongs to.
pub async fn cases_of_blob(state: &AppState, sha256: &str) -> ApiResult<Vec<i64>> {
    evidence::cases_of_blob(&state.db.pool, sha256).await
}
