//! Confirmation by the parties (当事人确认): each party, and the technician, confirms or objects to one
//! exact model version. A confirmation is an Ed25519 signature over the version's manifest hash, the
//! model's hash, the decision and the custody log's checkpoint at that moment; the key is the party's
//! own (they sign and send the signature) or one the store holds for them. A new version has none.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::custody::Checkpoint;
use crate::db::now_ms;
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::handlers::extract::JsonBody;
use crate::services::auth::{self, Action, Caller};
use crate::services::mutation::Mutation;
use crate::validate::{clean_sha256, clean_text};

/// The exact text a confirmation signs.
#[allow(
    clippy::too_many_arguments,
    reason = "the signed statement is exactly these fields"
)]
pub fn statement(
    case_number: &str,
    evidence: i64,
    version: i64,
    model_sha256: &str,
    manifest_sha256: &str,
    decision: &str,
    reason: &str,
    checkpoint: &Checkpoint,
) -> String {
    format!(
        "exhibit confirmation v1\ncase {case_number}\nevidence {evidence} version {version}\n\
         model {model_sha256}\nmanifest {manifest_sha256}\ndecision {decision}\nreason {reason}\n\
         checkpoint {} {} {}\n",
        checkpoint.origin, checkpoint.size, checkpoint.root
    )
}

/// Check a confirmation's signature over its statement.
pub fn verify_signature(statement: &str, public_key: &str, signature: &str) -> Result<(), String> {
    crate::custody::verify_ed25519(statement.as_bytes(), public_key, signature)
}

/// A party's decision on one version.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConfirmation {
    /// `confirm` or `object`.
    decision: String,
    /// Why (required for an objection).
    #[serde(default)]
    reason: String,
    /// The party's own signature over the statement (base64), with `public_key` and `checkpoint`; without
    /// them the store signs with the key it holds for the caller.
    signature: Option<String>,
    public_key: Option<String>,
    checkpoint: Option<Checkpoint>,
}

/// The version a model hash is, with its case.
struct Version {
    id: i64,
    number: i64,
    evidence: i64,
    case: i64,
    case_number: String,
    manifest: String,
}

impl Version {
    fn statement(
        &self,
        model: &str,
        decision: &str,
        reason: &str,
        checkpoint: &Checkpoint,
    ) -> String {
        statement(
            &self.case_number,
            self.evidence,
            self.number,
            model,
            &self.manifest,
            decision,
            reason,
            checkpoint,
        )
    }
}

async fn version_of(state: &AppState, sha256: &str) -> ApiResult<Version> {
    let facts = crate::records::models::find(&state.db.pool, sha256)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Version {
        id: facts.version_id,
        number: facts.version,
        evidence: facts.evidence,
        case: facts.case,
        case_number: facts.case_number,
        manifest: facts.manifest_sha256.unwrap_or_default(),
    })
}

/// The key the store holds for a user (made on first use), sealed in the database (see `sealed.rs`).
async fn held_key(state: &AppState, user: i64) -> ApiResult<ed25519_dalek::SigningKey> {
    let wrapping = state.signer.wrapping_key();
    let _guard = state.db.write().await;
    let stored: Option<String> = crate::records::keys::of_user(&state.db.pool, user).await?;
    if let Some(stored) = stored {
        let secret = crate::sealed::open(&wrapping, user, &stored)
            .map_err(|e| ApiError::internal("a held key", e))?;
        return Ok(ed25519_dalek::SigningKey::from_bytes(&secret));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ApiError::internal("randomness", e))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let sealed = crate::sealed::seal(&wrapping, user, &seed)
        .map_err(|e| ApiError::internal("sealing a key", e))?;
    crate::records::keys::insert(
        &state.db.pool,
        user,
        &sealed,
        &codec::manifest::hex(key.verifying_key().as_bytes()),
        now_ms(),
    )
    .await?;
    Ok(key)
}

/// Seal the held keys an earlier version stored in plain text (64 hex digits). Run once at start; a key
/// that is sealed already is left alone.
pub async fn seal_plain_keys(state: &AppState) -> anyhow::Result<u64> {
    let wrapping = state.signer.wrapping_key();
    let _guard = state.db.write().await;
    let rows = crate::records::keys::all(&state.db.pool).await?;
    let mut sealed = 0;
    for (user, secret) in rows {
        if crate::sealed::is_sealed(&secret) {
            continue;
        }
        let seed = crate::custody::unhex32(secret.trim())
            .ok_or_else(|| anyhow::anyhow!("user {user}'s held key is neither sealed nor a key"))?;
        let text = crate::sealed::seal(&wrapping, user, &seed).map_err(anyhow::Error::msg)?;
        crate::records::keys::replace(&state.db.pool, user, &text).await?;
        sealed += 1;
    }
    Ok(sealed)
}

/// A confirmation or objection recorded: the exact statement signed, the signature, and the log's
/// checkpoint after its event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfirmationReceipt {
    pub id: i64,
    pub version: i64,
    pub evidence: i64,
    pub model: String,
    pub decision: String,
    pub reason: String,
    pub statement: String,
    pub signature: String,
    pub public_key: String,
    pub key_held_by: String,
    pub checkpoint: Option<Checkpoint>,
}

/// `POST /api/versions/{sha256}/confirmations`.
#[utoipa::path(post, path = "/api/versions/{sha256}/confirmations", tag = "confirmations",
    params(("sha256" = String, Path, description = "the model version's SHA-256")),
    request_body = NewConfirmation,
    responses((status = 201, body = ConfirmationReceipt), (status = 400, description = "a field is missing or wrong; the reason names it", body = ApiErrorBody), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may see the case but not do this", body = ApiErrorBody), (status = 404, description = "no such case or object, or one the caller may not know of", body = ApiErrorBody)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(sha256): UrlPath<String>,
    JsonBody(body): JsonBody<NewConfirmation>,
) -> ApiResult<(StatusCode, Json<ConfirmationReceipt>)> {
    let sha256 = clean_sha256("sha256", &sha256).map_err(|_| ApiError::not_found())?;
    let version = version_of(&state, &sha256).await?;
    auth::authorize(
        &state,
        &caller,
        Action::Confirm,
        Some(version.case),
        &format!("model {sha256}"),
    )
    .await?;
    let decision = match body.decision.as_str() {
        "confirm" | "object" => body.decision.clone(),
        other => {
            return Err(ApiError::bad_request(format!(
                "field `decision`: {other:?} is not confirm or object"
            )));
        }
    };
    let reason = if body.reason.trim().is_empty() {
        if decision == "object" {
            return Err(ApiError::bad_request(
                "field `reason`: an objection says why",
            ));
        }
        String::new()
    } else {
        clean_text("reason", &body.reason, 4000)?
    };
    // The checkpoint the statement names: the party's (it must be one the log really had), or now's.
    let current = crate::services::log::current_checkpoint(&state).await?;
    let (checkpoint, signature, public_key, held_by) = match (
        &body.signature,
        &body.public_key,
        &body.checkpoint,
    ) {
        (Some(signature), Some(public_key), Some(checkpoint)) => {
            let logged =
                crate::custody::checkpoint_at(&state.db.pool, &state.signer, checkpoint.size)
                    .await
                    .map_err(|e| ApiError::database("reading a checkpoint", &e))?;
            if logged.as_ref() != Some(checkpoint) {
                return Err(ApiError::bad_request(
                    "field `checkpoint`: not a checkpoint of this store's log (take it from /api/log/checkpoint)",
                ));
            }
            let text = version.statement(&sha256, &decision, &reason, checkpoint);
            verify_signature(&text, public_key, signature).map_err(|e| {
                ApiError::bad_request(format!("field `signature`: {e} over the statement\n{text}"))
            })?;
            (
                checkpoint.clone(),
                signature.clone(),
                public_key.clone(),
                "party",
            )
        }
        (None, None, None) => {
            let checkpoint =
                current.ok_or_else(|| ApiError::internal("the custody log", "empty"))?;
            let key = held_key(&state, caller.user_id).await?;
            let text = version.statement(&sha256, &decision, &reason, &checkpoint);
            let signature = base64::engine::general_purpose::STANDARD
                .encode(key.sign(text.as_bytes()).to_bytes());
            (
                checkpoint,
                signature,
                codec::manifest::hex(key.verifying_key().as_bytes()),
                "store",
            )
        }
        _ => {
            return Err(ApiError::bad_request(
                "fields `signature`, `public_key` and `checkpoint` come together (a party's own key), or not at all",
            ));
        }
    };
    let text = version.statement(&sha256, &decision, &reason, &checkpoint);
    let mut change = Mutation::begin(&state, "recording a confirmation").await?;
    let row = crate::records::confirmations::NewConfirmation {
        version_id: version.id,
        user_id: caller.user_id,
        decision: &decision,
        reason: &reason,
        statement: &text,
        signature: &signature,
        public_key: &public_key,
        key_held_by: held_by,
        created_ms: now_ms(),
    };
    let id = crate::records::confirmations::insert(&mut change.tx, &row)
        .await
        .map_err(|e| change.failed(&e))?;
    change
        .commit(caller.event(
            if decision == "confirm" {
                "confirmation"
            } else {
                "objection"
            },
            Some(version.case),
            &format!("model {sha256}"),
            "recorded",
            &format!("confirmation {id}: {reason}"),
        ))
        .await?;
    let receipt = crate::services::log::current_checkpoint(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConfirmationReceipt {
            id,
            version: version.number,
            evidence: version.evidence,
            model: sha256,
            decision,
            reason,
            statement: text,
            signature,
            public_key,
            key_held_by: held_by.to_owned(),
            checkpoint: receipt,
        }),
    ))
}
