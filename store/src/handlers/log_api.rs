//! The custody log over HTTP: the current checkpoint, inclusion and consistency proofs (public: they
//! carry only hashes), entries (to the case's readers), and the full check (admin).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::custody::merkle;
use crate::custody::{self, Checkpoint};
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::handlers::extract::JsonBody;
use crate::services::auth::{self, Action, Caller};
use crate::services::log::{checkpoint, size};

/// The log's name, its key, and its latest signed checkpoint (none while it is empty).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogState {
    pub origin: String,
    /// Ed25519, hex: the key a receiving court names with `--trust-court`.
    pub public_key: String,
    pub checkpoint: Option<Checkpoint>,
}

/// `GET /api/log/checkpoint`: the latest signed checkpoint, with the key and origin to check it by.
#[utoipa::path(get, path = "/api/log/checkpoint", tag = "custody",
    responses((status = 200, body = LogState), (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn latest(State(state): State<Arc<AppState>>) -> ApiResult<Json<LogState>> {
    let size = size(&state).await?;
    let checkpoint = if size == 0 {
        None
    } else {
        Some(checkpoint(&state, size).await?)
    };
    Ok(Json(LogState {
        origin: state.signer.origin.clone(),
        public_key: state.signer.public_key(),
        checkpoint,
    }))
}

/// Which event, in which tree.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct InclusionQuery {
    /// The event's position.
    seq: u64,
    /// The tree's size (default: the log as it stands).
    size: Option<u64>,
}

/// An event's audit path to a signed checkpoint (RFC 6962).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InclusionProof {
    pub seq: u64,
    /// The event's leaf hash, hex.
    pub leaf_hash: String,
    /// Hex hashes, leaf to root.
    pub proof: Vec<String>,
    pub checkpoint: Checkpoint,
}

/// `GET /api/log/inclusion?seq=N[&size=S]`: the audit path of event N in the tree of S events.
#[utoipa::path(get, path = "/api/log/inclusion", tag = "custody", params(InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 400, description = "outside the log; the reason says where", body = ApiErrorBody),
        (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn inclusion(
    State(state): State<Arc<AppState>>,
    Query(query): Query<InclusionQuery>,
) -> ApiResult<Json<InclusionProof>> {
    let current = size(&state).await?;
    let size = query.size.unwrap_or(current);
    if size > current || query.seq >= size {
        return Err(ApiError::bad_request(format!(
            "event {} in a tree of {size}: the log has {current} events",
            query.seq
        )));
    }
    let (seq, size_now) = (query.seq, size);
    let proof = custody::proof_from_nodes(&state.db.pool, |node| {
        merkle::inclusion_proof_from_nodes(seq, size_now, &mut |id| node(id))
    })
    .await
    .map_err(|e| ApiError::database("reading the log", &e))?;
    let leaf_hash = custody::nodes(&state.db.pool, &[(0, seq)])
        .await
        .map_err(|e| ApiError::database("reading the log", &e))?
        .remove(&(0, seq))
        .ok_or_else(|| ApiError::internal("the log", format!("leaf {seq} is missing")))?;
    Ok(Json(InclusionProof {
        seq: query.seq,
        leaf_hash: codec::manifest::hex(&leaf_hash),
        proof: custody::proof_hex(&proof),
        checkpoint: checkpoint(&state, size).await?,
    }))
}

/// Which two trees.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConsistencyQuery {
    /// The older tree's size (1 or more).
    from: u64,
    /// The newer tree's size (default: the log as it stands).
    to: Option<u64>,
}

/// Proof that one signed tree extends another (RFC 6962): the log was only appended to in between.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub from: Checkpoint,
    pub to: Checkpoint,
    /// Hex hashes.
    pub proof: Vec<String>,
}

/// `GET /api/log/consistency?from=A[&to=B]`: proof that the tree of B events extends the one of A.
#[utoipa::path(get, path = "/api/log/consistency", tag = "custody", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 400, description = "outside the log; the reason says where", body = ApiErrorBody),
        (status = 429, description = "too many requests from this address", body = ApiErrorBody)))]
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProof>> {
    let current = size(&state).await?;
    let to = query.to.unwrap_or(current);
    if query.from == 0 || query.from > to || to > current {
        return Err(ApiError::bad_request(format!(
            "consistency from {} to {to}: the log has {current} events (from must be 1..=to)",
            query.from
        )));
    }
    let from = query.from;
    let proof = custody::proof_from_nodes(&state.db.pool, |node| {
        merkle::consistency_proof_from_nodes(from, to, &mut |id| node(id))
    })
    .await
    .map_err(|e| ApiError::database("reading the log", &e))?;
    Ok(Json(ConsistencyProof {
        from: checkpoint(&state, query.from).await?,
        to: checkpoint(&state, to).await?,
        proof: custody::proof_hex(&proof),
    }))
}

/// One event of the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    pub seq: u64,
    /// The leaf's exact bytes (base64), which hash to `leaf_hash`; left out for parties (it holds addresses).
    pub leaf: Option<String>,
    pub leaf_hash: String,
    /// The event's fields.
    #[schema(value_type = Object)]
    pub event: Value,
    /// The checkpoint of the tree this event completed.
    pub checkpoint: Checkpoint,
}

/// `GET /api/log/entries/{seq}`: one event and its exact leaf bytes, to the readers of its case.
#[utoipa::path(get, path = "/api/log/entries/{seq}", tag = "custody",
    params(("seq" = u64, Path, description = "the event's position in the log")),
    responses((status = 200, body = LogEntry), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may not do this", body = ApiErrorBody), (status = 404, description = "no such event, or one of a case the caller may not know of", body = ApiErrorBody)))]
pub async fn entry(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(seq): UrlPath<String>,
) -> ApiResult<Json<LogEntry>> {
    let seq: u64 = seq.parse().map_err(|_| ApiError::not_found())?;
    let stored = custody::stored_event(&state.db.pool, seq)
        .await
        .map_err(|e| ApiError::database("reading the log", &e))?
        .ok_or_else(ApiError::not_found)?;
    match stored.event.case_id {
        Some(case) => {
            auth::authorize(
                &state,
                &caller,
                Action::ReadCase,
                Some(case),
                &format!("log entry {seq}"),
            )
            .await?;
        }
        None => {
            auth::authorize(
                &state,
                &caller,
                Action::Scrub,
                None,
                &format!("log entry {seq}"),
            )
            .await?;
        }
    }
    let leaf = custody::leaf_bytes(seq, &stored.event);
    let mut event = serde_json::from_slice::<Value>(&leaf)
        .map_err(|e| ApiError::internal("an event's leaf", e))?;
    // Parties see no addresses or browsers: they get the event without them, and its leaf hash (not the
    // leaf's bytes, which hold them) to check it against the log.
    let leaf_text = if auth::sees_sources(caller.role) {
        Some(base64::engine::general_purpose::STANDARD.encode(&leaf))
    } else {
        if let Some(fields) = event.as_object_mut() {
            fields.remove("source");
            if stored.event.role == auth::SHARE_LINK_ROLE {
                fields.insert(
                    "detail".into(),
                    auth::visit_detail_without_agent(&stored.event.detail).into(),
                );
            }
        }
        None
    };
    Ok(Json(LogEntry {
        seq,
        leaf: leaf_text,
        leaf_hash: stored.leaf_hash,
        event,
        checkpoint: checkpoint(&state, seq + 1).await?,
    }))
}

/// What the check must also hold the log to.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Checkpoints handed out earlier (receipts): the log must still extend each.
    #[serde(default)]
    receipts: Vec<Checkpoint>,
}

/// `POST /api/admin/log-check`: walk the whole log (admin).
#[utoipa::path(post, path = "/api/admin/log-check", tag = "custody", request_body = CheckRequest,
    responses((status = 200, body = custody::LogReport), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may not do this", body = ApiErrorBody)))]
pub async fn check(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(body): JsonBody<CheckRequest>,
) -> ApiResult<Json<custody::LogReport>> {
    auth::authorize(&state, &caller, Action::Scrub, None, "custody log").await?;
    let events = custody::stored_events(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading the log", &e))?;
    Ok(Json(custody::check_log(
        &events,
        &state.signer.origin,
        &state.signer.public_key(),
        &body.receipts,
    )))
}
