//! Who may do what: bearer tokens and browser sessions (both stored hashed), roles, and the one table every
//! decision comes from.

use axum::http::{HeaderMap, Method};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use std::path::{Path, PathBuf};

use crate::AppState;
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::services::sign_in;

/// A user's role in the store. Judges and parties act only in the cases they are members of;
/// technicians work on every case; the appellate court reads every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Technician,
    Judge,
    Party,
    Appellate,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Technician,
        Role::Judge,
        Role::Party,
        Role::Appellate,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Technician => "technician",
            Self::Judge => "judge",
            Self::Party => "party",
            Self::Appellate => "appellate",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
    /// Whether this role needs a membership to act in a case.
    pub fn per_case(self) -> bool {
        matches!(self, Self::Judge | Self::Party)
    }
}

/// Everything a request can ask to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create users and hand out tokens.
    ManageUsers,
    /// Open a case.
    CreateCase,
    /// Make someone a judge or party of a case.
    ManageMembers,
    /// See a case, its evidence, versions and files, and download them.
    ReadCase,
    /// Add an evidence item to a case.
    AddEvidence,
    /// Upload a model or raw scan to an evidence item.
    Upload,
    /// Create a share link to a model of the case.
    Share,
    /// Revoke a share link of the case.
    RevokeShare,
    /// Check every stored blob (the scrub).
    Scrub,
    /// Confirm or object to a model version (当事人确认).
    Confirm,
    /// Export a case for the court of appeal (移送).
    Transfer,
    /// Import a case sent by another court.
    Import,
    /// Save a comparison of two models of the case (its report and heat map).
    Compare,
}

impl Action {
    pub const ALL: [Action; 13] = [
        Action::ManageUsers,
        Action::CreateCase,
        Action::ManageMembers,
        Action::ReadCase,
        Action::AddEvidence,
        Action::Upload,
        Action::Share,
        Action::RevokeShare,
        Action::Scrub,
        Action::Confirm,
        Action::Transfer,
        Action::Import,
        Action::Compare,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManageUsers => "manage_users",
            Self::CreateCase => "create_case",
            Self::ManageMembers => "manage_members",
            Self::ReadCase => "read_case",
            Self::AddEvidence => "add_evidence",
            Self::Upload => "upload",
            Self::Share => "share",
            Self::RevokeShare => "revoke_share",
            Self::Scrub => "scrub",
            Self::Confirm => "confirm",
            Self::Transfer => "transfer",
            Self::Import => "import",
            Self::Compare => "compare",
        }
    }
    /// Whether the action is about one case (and so answers 404 to outsiders).
    pub fn in_case(self) -> bool {
        !matches!(
            self,
            Self::ManageUsers | Self::CreateCase | Self::Scrub | Self::Import
        )
    }
}

/// The policy: for each action, the roles allowed when acting in their own case (members, or roles
/// that reach every case). A judge or party outside their case may do nothing in it.
pub const POLICY: &[(Action, &[Role])] = &[
    (Action::ManageUsers, &[Role::Admin]),
    (Action::CreateCase, &[Role::Admin]),
    (Action::ManageMembers, &[Role::Admin]),
    (
        Action::ReadCase,
        &[
            Role::Admin,
            Role::Technician,
            Role::Judge,
            Role::Party,
            Role::Appellate,
        ],
    ),
    (
        Action::AddEvidence,
        &[Role::Admin, Role::Technician, Role::Judge],
    ),
    (Action::Upload, &[Role::Admin, Role::Technician]),
    (Action::Share, &[Role::Admin, Role::Technician, Role::Judge]),
    (
        Action::RevokeShare,
        &[Role::Admin, Role::Technician, Role::Judge],
    ),
    (Action::Scrub, &[Role::Admin]),
    (
        Action::Confirm,
        &[Role::Admin, Role::Technician, Role::Party],
    ),
    (Action::Transfer, &[Role::Admin, Role::Judge]),
    (Action::Import, &[Role::Admin, Role::Appellate]),
    // A party may file its own comparison: it is recorded as the party's, by name and role.
    (
        Action::Compare,
        &[Role::Admin, Role::Technician, Role::Judge, Role::Party],
    ),
];

/// What the policy says for `role` doing `action` in a case it is (`member`) or is not a member of.
/// Outsiders get [`Decision::Hidden`]: the case does not exist for them.
pub fn decide(role: Role, action: Action, member: bool) -> Decision {
    let allowed = POLICY
        .iter()
        .find(|(a, _)| *a == action)
        .is_some_and(|(_, roles)| roles.contains(&role));
    if action.in_case() && role.per_case() && !member {
        return Decision::Hidden;
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::Denied
    }
}

/// The outcome of one authorization decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// 403: the caller may see the case but not do this.
    Denied,
    /// 404: the caller may not know the case exists.
    Hidden,
}

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    /// Where the request came from (peer address), for the log.
    pub source: String,
}

impl Caller {
    /// An event done by this caller, stamped now.
    pub fn event(
        &self,
        action: &str,
        case_id: Option<i64>,
        object: &str,
        outcome: &str,
        detail: &str,
    ) -> crate::custody::Event {
        crate::custody::Event {
            at_ms: now_ms(),
            actor: self.name.clone(),
            role: self.role.as_str().to_owned(),
            action: action.to_owned(),
            case_id,
            object: object.to_owned(),
            outcome: outcome.to_owned(),
            source: self.source.clone(),
            detail: detail.to_owned(),
        }
    }
}

/// The role recorded for a visit through a share link (the visitor is no user).
pub const SHARE_LINK_ROLE: &str = "share_link";

/// Whether `role` may read where requests came from (network addresses, browsers) in the custody timeline.
/// Parties may not: a party learns nothing about the judge's network or other visitors from the record.
pub fn sees_sources(role: Role) -> bool {
    !matches!(role, Role::Party)
}

/// What a share-link visit's detail says without the visitor's browser: the part visited. (Older events
/// appended the User-Agent to the detail; it is left out for those who may not see it.)
pub fn visit_detail_without_agent(detail: &str) -> String {
    ["comparison report", "heat map", "other"]
        .into_iter()
        .find(|part| detail.starts_with(part))
        .unwrap_or("")
        .to_owned()
}

/// `exh_` and 64 hex digits: 256 random bits.
pub fn new_token() -> String {
    format!("exh_{}", random_hex(32))
}

pub use crate::random::random_hex;

/// Tokens are stored as their SHA-256: a copy of the database hands out no access.
pub fn token_hash(token: &str) -> String {
    codec::manifest::hex(&Sha256::digest(token.as_bytes()))
}

/// The token of `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Look up the caller of a request: by its bearer token (the command line), else by its session cookie (a
/// signed-in browser). 401 when neither is there, or the one there is unknown, revoked or expired; 403 when a
/// state-changing request made with the cookie lacks the session's CSRF token.
pub async fn caller(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    source: &str,
) -> ApiResult<Caller> {
    let unauthorized = |why: &str| {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            format!("{why}: sign in, or send Authorization: Bearer <token>"),
        )
    };
    let now = now_ms();
    let (user_id, name, role) = if let Some(token) = bearer(headers) {
        let row = sqlx::query(
            "SELECT users.id, users.name, users.role, tokens.expires_ms FROM tokens \
             JOIN users ON users.id = tokens.user_id WHERE tokens.hash = $1 AND tokens.revoked_ms IS NULL",
        )
        .bind(token_hash(token))
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("checking the token", &e))?
        .ok_or_else(|| unauthorized("unknown or revoked token"))?;
        let expires: Option<i64> = row.get(3);
        if expires.is_some_and(|end| end <= now) {
            return Err(unauthorized("the token has expired"));
        }
        (row.get(0), row.get(1), row.get::<String, _>(2))
    } else if let Some(session) = sign_in::session_token(headers) {
        let user = crate::records::sessions::live(&state.db.pool, &token_hash(session), now)
            .await?
            .ok_or_else(|| unauthorized("the session has ended"))?;
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe && !sign_in::carries_csrf(headers, session) {
            return Err(ApiError::forbidden(format!(
                "a change made with the session cookie must carry the session's {} header",
                sign_in::CSRF_HEADER
            )));
        }
        (user.user_id, user.name, user.role)
    } else {
        return Err(unauthorized("not signed in"));
    };
    Ok(Caller {
        user_id,
        name,
        role: Role::parse(&role).ok_or_else(|| ApiError::internal("user role", role))?,
        source: source.to_owned(),
    })
}

/// Decide, log the decision as an event, and turn a refusal into 403 or 404.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    action: Action,
    case_id: Option<i64>,
    object: &str,
) -> ApiResult<()> {
    authorize_as(state, caller, action, case_id, object, action.as_str(), "").await
}

/// [`authorize`], logging the decision under a more precise name (`download` for a read) with a detail,
/// so that one event records both what was asked and whether it was allowed.
pub async fn authorize_as(
    state: &AppState,
    caller: &Caller,
    action: Action,
    case_id: Option<i64>,
    object: &str,
    logged_as: &str,
    detail: &str,
) -> ApiResult<()> {
    let member = match case_id {
        Some(case) if caller.role.per_case() => sqlx::query(
            "SELECT 1 FROM case_members WHERE case_id = $1 AND user_id = $2 AND role = $3",
        )
        .bind(case)
        .bind(caller.user_id)
        .bind(caller.role.as_str())
        .fetch_optional(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("checking case membership", &e))?
        .is_some(),
        _ => true,
    };
    let decision = decide(caller.role, action, member);
    let outcome = match decision {
        Decision::Allowed => "allowed",
        Decision::Denied => "denied",
        Decision::Hidden => "denied (hidden)",
    };
    log_event(state, caller, logged_as, case_id, object, outcome, detail).await?;
    match decision {
        Decision::Allowed => Ok(()),
        Decision::Denied => Err(ApiError::forbidden(format!(
            "a {} may not {}",
            caller.role.as_str(),
            action.as_str().replace('_', " ")
        ))),
        Decision::Hidden => Err(ApiError::not_found()),
    }
}

/// Record one event in the custody log and wait for its commit. What cannot be logged is not done:
/// the error goes back to the caller.
pub async fn log_event(
    state: &AppState,
    caller: &Caller,
    action: &str,
    case_id: Option<i64>,
    object: &str,
    outcome: &str,
    detail: &str,
) -> ApiResult<()> {
    record(
        state,
        caller.event(action, case_id, object, outcome, detail),
    )
    .await
}

/// Record one event by someone who may not be a user (a share-link visitor).
#[allow(
    clippy::too_many_arguments,
    reason = "an event is exactly these fields"
)]
pub async fn record_event(
    state: &AppState,
    actor: &str,
    role: &str,
    source: &str,
    action: &str,
    case_id: Option<i64>,
    object: &str,
    outcome: &str,
    detail: &str,
) -> ApiResult<()> {
    record(
        state,
        crate::custody::Event {
            at_ms: now_ms(),
            actor: actor.to_owned(),
            role: role.to_owned(),
            action: action.to_owned(),
            case_id,
            object: object.to_owned(),
            outcome: outcome.to_owned(),
            source: source.to_owned(),
            detail: detail.to_owned(),
        },
    )
    .await
}

/// Record `event` in the custody log and wait for its commit. What cannot be logged is not done: the error
/// goes back to the caller.
async fn record(state: &AppState, event: crate::custody::Event) -> ApiResult<()> {
    tracing::info!(
        actor = event.actor,
        role = event.role,
        action = event.action,
        case = ?event.case_id,
        object = event.object,
        outcome = event.outcome,
        "event"
    );
    let what = format!("{} {}", event.action, event.object);
    state.events.record(event).await.map_err(|e| {
        tracing::error!("recording the event {what}: {e}");
        crate::services::mutation::logging_failed(&e)
    })
}

/// On the first start (no users yet), create the admin and write its token to `DATA/admin.token`,
/// readable by the owner only.
pub async fn bootstrap_admin(db: &crate::Db, data: &Path) -> anyhow::Result<Option<PathBuf>> {
    let _guard = db.write().await;
    let mut tx = db.pool.begin().await?;
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?
        .get(0);
    if existing > 0 {
        return Ok(None);
    }
    let token = new_token();
    let id: i64 = sqlx::query(
        "INSERT INTO users (name, role, created_ms) VALUES ('admin', 'admin', $1) RETURNING id",
    )
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    sqlx::query("INSERT INTO tokens (hash, user_id, created_ms) VALUES ($1, $2, $3)")
        .bind(token_hash(&token))
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    let path = data.join("admin.token");
    crate::private_files::write_private(&path, format!("{token}\n").as_bytes())?;
    tx.commit().await?;
    Ok(Some(path))
}

/// The case a URL names: its id (digits only), or its court number (`(2026)鲁01知民初1号`, percent-encoded in
/// the URL). Court numbers always carry more than digits, so the two never collide. `None` when there is none.
pub async fn case_id(state: &AppState, text: &str) -> ApiResult<Option<i64>> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let Ok(id) = text.parse::<i64>() else {
            return Ok(None);
        };
        return Ok(crate::records::cases::exists(&state.db.pool, id)
            .await?
            .then_some(id));
    }
    if text.is_empty() || text.len() > 120 {
        return Ok(None);
    }
    crate::records::cases::id_by_number(&state.db.pool, text).await
}

/// The case named in the URL, when it exists and the caller may do `action` in it; 404 alike for a case
/// that does not exist and one the caller may not know of. Both are refusals, recorded in the custody log
/// alike, so that neither the answer nor the time it takes tells them apart.
pub async fn case_for(
    state: &AppState,
    caller: &Caller,
    case: &str,
    action: Action,
) -> ApiResult<i64> {
    case_for_as(state, caller, case, action, action.as_str()).await
}

/// [`case_for`], the decision logged under a more precise name (`custody_report` for a read), so that one
/// event records both what was asked and whether it was allowed.
pub async fn case_for_as(
    state: &AppState,
    caller: &Caller,
    case: &str,
    action: Action,
    logged_as: &str,
) -> ApiResult<i64> {
    let Some(id) = case_id(state, case).await? else {
        let shown: String = case.chars().take(40).filter(|c| !c.is_control()).collect();
        log_event(
            state,
            caller,
            logged_as,
            None,
            &format!("case {shown}"),
            "denied (hidden)",
            "",
        )
        .await?;
        return Err(ApiError::not_found());
    };
    authorize_as(
        state,
        caller,
        action,
        Some(id),
        &format!("case {id}"),
        logged_as,
        "",
    )
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outsiders_never_learn_a_case_exists() {
        for role in [Role::Judge, Role::Party] {
            for action in Action::ALL.into_iter().filter(|a| a.in_case()) {
                assert_eq!(
                    decide(role, action, false),
                    Decision::Hidden,
                    "{role:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn only_the_admin_manages_users_cases_and_the_scrub() {
        for action in [Action::ManageUsers, Action::CreateCase, Action::Scrub] {
            for role in Role::ALL {
                let expected = if role == Role::Admin {
                    Decision::Allowed
                } else {
                    Decision::Denied
                };
                assert_eq!(decide(role, action, true), expected, "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
