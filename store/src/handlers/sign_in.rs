//! Signing in and out of the browser, passwords, API tokens (several per user, named, ending, revocable), and
//! removing a member from a case. Every sign-in, failure, sign-out, password change, token made and token
//! revoked is a custody event.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::db::now_ms;
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::handlers::extract::JsonBody;
use crate::records::{self, users::TokenSummary};
use crate::services::auth::{self, Action, Caller, Role};
use crate::services::mutation::Mutation;
use crate::services::sign_in;
use crate::validate::clean_text;

type AppStateRef = State<Arc<AppState>>;

/// A sign-in with a name and password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    name: String,
    password: String,
}

/// The signed-in user, and the token every change made with the session cookie must carry in
/// `X-CSRF-Token`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub csrf: String,
}

/// The name as a log may show it: at most 120 characters, no control characters (it is untrusted input).
fn shown_name(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(120).collect()
}

/// `POST /api/session`: sign in with a name and password; the session is an `HttpOnly; Secure;
/// SameSite=Strict` cookie.
#[utoipa::path(post, path = "/api/session", tag = "users", request_body = SignIn,
    responses((status = 200, body = Session, description = "signed in; the cookie is set"),
        (status = 401, description = "wrong name or password (never which)", body = ApiErrorBody),
        (status = 429, description = "too many failed sign-ins for this name or address; Retry-After says when to try again", body = ApiErrorBody)))]
pub async fn sign_in(
    State(state): AppStateRef,
    parts: axum::http::request::Parts,
    JsonBody(body): JsonBody<SignIn>,
) -> ApiResult<Response> {
    let source = crate::handlers::extract::source_of(&parts);
    let claimed = shown_name(&body.name);
    let refuse = async |role: &str, outcome: &str, detail: &str| {
        auth::record_event(
            &state, &claimed, role, &source, "sign_in", None, "session", outcome, detail,
        )
        .await
    };
    if let Err(wait) = state.sign_in_failures.check(&body.name, &source) {
        refuse("unknown", "denied (rate limited)", "").await?;
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed sign-ins: try again in {wait} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        return Ok(response);
    }
    let user = if body.name.chars().count() <= 120 {
        records::sessions::credentials(&state.db.pool, &body.name).await?
    } else {
        None
    };
    let stored = user.as_ref().and_then(|(_, _, phc)| phc.clone());
    let matches = sign_in::verify_password_off_thread(body.password.clone(), stored).await?;
    let Some((user_id, role, _)) = user.filter(|_| matches) else {
        state.sign_in_failures.fail(&body.name, &source);
        refuse("unknown", "denied", "wrong name or password").await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong name or password",
        ));
    };
    state.sign_in_failures.succeeded(&body.name);
    let role = Role::parse(&role).ok_or_else(|| ApiError::internal("user role", role))?;
    let token = auth::new_token();
    let now = now_ms();
    let lifetime = i64::try_from(sign_in::SESSION_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    let mut change = Mutation::begin(&state, "signing in").await?;
    records::sessions::insert(
        &mut change.tx,
        &auth::token_hash(&token),
        user_id,
        now,
        now.saturating_add(lifetime),
        &source,
    )
    .await
    .map_err(|e| change.failed(&e))?;
    let caller = Caller {
        user_id,
        name: claimed.clone(),
        role,
        source: source.clone(),
    };
    change
        .commit(caller.event("sign_in", None, "session", "ok", "password"))
        .await?;
    let mut response = Json(Session {
        id: user_id,
        name: claimed,
        role,
        csrf: sign_in::csrf_token(&token),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, sign_in::session_cookie(&token));
    Ok(response)
}

/// `GET /api/session`: who is signed in with this cookie, and the session's CSRF token (a page reloaded
/// asks again; only a page of the store's own origin can read the answer).
#[utoipa::path(get, path = "/api/session", tag = "users",
    responses((status = 200, body = Session), (status = 401, description = "not signed in, or the session has ended", body = ApiErrorBody)))]
pub async fn current(caller: Caller, headers: HeaderMap) -> ApiResult<Json<Session>> {
    let session = sign_in::session_token(&headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not signed in with a session (a token has no CSRF token)",
        )
    })?;
    Ok(Json(Session {
        id: caller.user_id,
        name: caller.name,
        role: caller.role,
        csrf: sign_in::csrf_token(session),
    }))
}

/// `DELETE /api/session`: sign out; the session ends for good and the cookie is cleared.
#[utoipa::path(delete, path = "/api/session", tag = "users",
    responses((status = 204, description = "signed out"), (status = 401, description = "not signed in", body = ApiErrorBody),
        (status = 403, description = "the X-CSRF-Token header is missing or wrong", body = ApiErrorBody)))]
pub async fn sign_out(
    State(state): AppStateRef,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = sign_in::session_token(&headers)
        .ok_or_else(|| ApiError::bad_request("there is no session cookie to end"))?;
    let mut change = Mutation::begin(&state, "signing out").await?;
    records::sessions::revoke(&mut change.tx, &auth::token_hash(session), now_ms())
        .await
        .map_err(|e| change.failed(&e))?;
    change
        .commit(caller.event("sign_out", None, "session", "ok", ""))
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, sign_in::cleared_cookie());
    Ok(response)
}

/// A new password: the admin sets anyone's; a user changes their own with their current one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    password: String,
    /// Required when users change their own password.
    current_password: Option<String>,
}

/// Whether `caller` is acting on their own credentials; anyone else's need the admin's right to manage users
/// (the decision logged as `manage_users`, the change itself under its own name).
async fn may_manage(state: &AppState, caller: &Caller, user: i64) -> ApiResult<bool> {
    if caller.user_id == user {
        return Ok(true);
    }
    auth::authorize(
        state,
        caller,
        Action::ManageUsers,
        None,
        &format!("user {user}"),
    )
    .await?;
    Ok(false)
}

/// `PUT /api/users/{user}/password`: set a password, which ends the user's sessions.
#[utoipa::path(put, path = "/api/users/{user}/password", tag = "users", request_body = NewPassword,
    params(("user" = i64, Path, description = "the user's id")),
    responses((status = 204, description = "set; the user's sessions have ended"),
        (status = 400, description = "too short or too long, or the current password is missing", body = ApiErrorBody),
        (status = 401, description = "not signed in, or the current password is wrong", body = ApiErrorBody),
        (status = 403, description = "another user's password, and the caller is not the admin", body = ApiErrorBody),
        (status = 404, description = "no such user", body = ApiErrorBody)))]
pub async fn set_password(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(user): UrlPath<i64>,
    JsonBody(body): JsonBody<NewPassword>,
) -> ApiResult<StatusCode> {
    let own = may_manage(&state, &caller, user).await?;
    let stored = records::sessions::password_hash_of(&state.db.pool, user)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if own && stored.is_some() {
        let current = body.current_password.clone().ok_or_else(|| {
            ApiError::bad_request("field `current_password`: needed to change your own password")
        })?;
        let matches = sign_in::verify_password_off_thread(current, stored).await?;
        if !matches {
            auth::log_event(
                &state,
                &caller,
                "password_set",
                None,
                &format!("user {user}"),
                "denied",
                "wrong current password",
            )
            .await?;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the current password is wrong",
            ));
        }
    }
    let phc = sign_in::hash_password_off_thread(body.password.clone()).await?;
    let mut change = Mutation::begin(&state, "setting a password").await?;
    records::sessions::set_password(&mut change.tx, user, &phc)
        .await
        .map_err(|e| change.failed(&e))?;
    let ended = records::sessions::revoke_all_of(&mut change.tx, user, now_ms())
        .await
        .map_err(|e| change.failed(&e))?;
    change
        .commit(caller.event(
            "password_set",
            None,
            &format!("user {user}"),
            "ok",
            &format!("{ended} session(s) ended"),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new API token for the command line.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for ("laptop in court 3"), shown in the list.
    name: String,
    /// Seconds until it stops working: at least 1, at most ten years; 90 days when left out.
    expires_in_seconds: Option<u64>,
}

/// A token made: the token itself is shown this once (the store keeps only its hash).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenCreated {
    pub id: String,
    pub name: String,
    pub token: String,
    pub expires_ms: i64,
}

/// A token's life when none is asked for.
pub const DEFAULT_TOKEN_SECONDS: u64 = 90 * 24 * 3600;
const MAX_TOKEN_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// `POST /api/users/{user}/tokens`: a new API token (the admin for anyone, a user for themselves).
#[utoipa::path(post, path = "/api/users/{user}/tokens", tag = "users", request_body = NewToken,
    params(("user" = i64, Path, description = "the user's id")),
    responses((status = 201, body = TokenCreated), (status = 400, description = "a field is missing or wrong; the reason names it", body = ApiErrorBody),
        (status = 401, description = "not signed in", body = ApiErrorBody), (status = 403, description = "another user's tokens, and the caller is not the admin", body = ApiErrorBody),
        (status = 404, description = "no such user", body = ApiErrorBody)))]
pub async fn create_token(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(user): UrlPath<i64>,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    may_manage(&state, &caller, user).await?;
    records::users::role_of(&state.db.pool, user)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let name = clean_text("name", &body.name, 120)?;
    let seconds = body.expires_in_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS);
    if !(1..=MAX_TOKEN_SECONDS).contains(&seconds) {
        return Err(ApiError::bad_request(format!(
            "field `expires_in_seconds`: between 1 and {MAX_TOKEN_SECONDS}"
        )));
    }
    let token = auth::new_token();
    let hash = auth::token_hash(&token);
    let now = now_ms();
    let expires_ms = now.saturating_add(i64::try_from(seconds * 1000).unwrap_or(i64::MAX));
    let mut change = Mutation::begin(&state, "making a token").await?;
    records::users::insert_token(&mut change.tx, &hash, user, &name, now, Some(expires_ms))
        .await
        .map_err(|e| change.failed(&e))?;
    let id = hash[..records::users::TOKEN_ID_DIGITS].to_owned();
    change
        .commit(caller.event(
            "token_created",
            None,
            &format!("user {user}"),
            "ok",
            &format!("token {id}"),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id,
            name,
            token,
            expires_ms,
        }),
    ))
}

/// A user's tokens.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenSummary>,
}

/// `GET /api/users/{user}/tokens`: a user's tokens, never the tokens themselves.
#[utoipa::path(get, path = "/api/users/{user}/tokens", tag = "users",
    params(("user" = i64, Path, description = "the user's id")),
    responses((status = 200, body = TokenList), (status = 401, description = "not signed in", body = ApiErrorBody),
        (status = 403, description = "another user's tokens, and the caller is not the admin", body = ApiErrorBody)))]
pub async fn list_tokens(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath(user): UrlPath<i64>,
) -> ApiResult<Json<TokenList>> {
    may_manage(&state, &caller, user).await?;
    Ok(Json(TokenList {
        tokens: records::users::tokens_of(&state.db.pool, user).await?,
    }))
}

/// `DELETE /api/users/{user}/tokens/{token}`: revoke a token for good.
#[utoipa::path(delete, path = "/api/users/{user}/tokens/{token}", tag = "users",
    params(("user" = i64, Path, description = "the user's id"), ("token" = String, Path, description = "the token's id (12 hex digits)")),
    responses((status = 204, description = "revoked"), (status = 401, description = "not signed in", body = ApiErrorBody),
        (status = 403, description = "another user's tokens, and the caller is not the admin", body = ApiErrorBody),
        (status = 404, description = "no such live token", body = ApiErrorBody)))]
pub async fn revoke_token(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath((user, token)): UrlPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    may_manage(&state, &caller, user).await?;
    if token.len() != records::users::TOKEN_ID_DIGITS
        || !token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(ApiError::bad_request(
            "a token's id is 12 lower-case hex digits (exhibit user token list)",
        ));
    }
    let mut change = Mutation::begin(&state, "revoking a token").await?;
    let revoked = records::users::revoke_token(&mut change.tx, user, &token, now_ms())
        .await
        .map_err(|e| change.failed(&e))?;
    if !revoked {
        return Err(ApiError::not_found());
    }
    change
        .commit(caller.event(
            "token_revoked",
            None,
            &format!("user {user}"),
            "ok",
            &format!("token {token}"),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/cases/{case}/members/{user}`: remove a judge or party from a case (admin). What they did stays
/// in the record; from now on the case is hidden from them.
#[utoipa::path(delete, path = "/api/cases/{case}/members/{user}", tag = "cases",
    params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)"), ("user" = i64, Path, description = "the member's user id")),
    responses((status = 204, description = "removed"), (status = 401, description = "not signed in", body = ApiErrorBody),
        (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody),
        (status = 404, description = "no such case, or no such member", body = ApiErrorBody)))]
pub async fn remove_member(
    State(state): AppStateRef,
    caller: Caller,
    UrlPath((case, user)): UrlPath<(String, i64)>,
) -> ApiResult<StatusCode> {
    let id = auth::case_for(&state, &caller, &case, Action::ManageMembers).await?;
    let mut change = Mutation::begin(&state, "removing a member").await?;
    let removed = records::cases::remove_member(&mut change.tx, id, user)
        .await
        .map_err(|e| change.failed(&e))?;
    if !removed {
        return Err(ApiError::not_found());
    }
    change
        .commit(caller.event(
            "member_removed",
            Some(id),
            &format!("user {user}"),
            "ok",
            "",
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
