//! The custody log over HTTP: the current checkpoint, inclusion and consistency proofs (public: they
//! carry only hashes), entries (to the case's readers), and the full check (admin).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::custody::merkle;
use crate::custody::{self, Checkpoint};
use crate::error::{ApiError, ApiResult};
use crate::handlers::extract::JsonBody;
use crate::services::auth::{self, Action, Caller};
use crate::services::log::{checkpoint, size};

/// `GET /api/log/checkpoint`: the latest signed checkpoint, with the key and origin to check it by.
pub async fn latest(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let size = size(&state).await?;
    let checkpoint = if size == 0 {
        Value::Null
    } else {
        serde_json::to_value(checkpoint(&state, size).await?).unwrap_or(Value::Null)
    };
    Ok(Json(json!({
        "origin": state.signer.origin,
        "public_key": state.signer.public_key(),
        "checkpoint": checkpoint,
    })))
}

#[derive(Debug, Deserialize)]
pub struct InclusionQuery {
    seq: u64,
    size: Option<u64>,
}

/// `GET /api/log/inclusion?seq=N[&size=S]`: the audit path of event N in the tree of S events.
pub async fn inclusion(
    State(state): State<Arc<AppState>>,
    Query(query): Query<InclusionQuery>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "seq": query.seq,
        "leaf_hash": codec::manifest::hex(&leaf_hash),
        "proof": custody::proof_json(&proof),
        "checkpoint": checkpoint(&state, size).await?,
    })))
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// `GET /api/log/consistency?from=A[&to=B]`: proof that the tree of B events extends the one of A.
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ConsistencyQuery>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "from": checkpoint(&state, query.from).await?,
        "to": checkpoint(&state, to).await?,
        "proof": custody::proof_json(&proof),
    })))
}

/// `GET /api/log/entries/{seq}`: one event and its exact leaf bytes, to the readers of its case.
pub async fn entry(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(seq): UrlPath<String>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "seq": seq,
        "leaf": leaf_text,
        "leaf_hash": stored.leaf_hash,
        "event": event,
        "checkpoint": checkpoint(&state, seq + 1).await?,
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Checkpoints handed out earlier (receipts): the log must still extend each.
    #[serde(default)]
    receipts: Vec<Checkpoint>,
}

/// `POST /api/admin/log-check`: walk the whole log (admin).
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
