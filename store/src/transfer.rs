//! Appellate transfer (移送): one file holding a case, every blob of it, its confirmations, its custody
//! events with inclusion proofs against one signed checkpoint, all signed by the sending store.
//!
//! Layout, every byte covered: `EXHIBIT-TRANSFER-1\n`, the header's length in decimal and `\n`, the header
//! (JSON), the blobs in the header's order, then `\nSIG ` and the base64 Ed25519 signature over the SHA-256
//! of everything before it, and `\n`. A changed byte breaks a blob's hash, the header's meaning, or the
//! signature; [`verify`] says which.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use crate::AppState;
use crate::auth::{self, Action, Caller};
use crate::custody::{self, Checkpoint};
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::merkle;

pub use crate::bundle_frame::{MAGIC, SIG};

/// `GET /api/cases/{case}/bundle`: the case as one signed file.
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Response> {
    let id: i64 = case.parse().map_err(|_| ApiError::not_found())?;
    let case = crate::api::case_json(&state, id).await?;
    auth::authorize_as(
        &state,
        &caller,
        Action::Transfer,
        Some(id),
        &format!("case {id}"),
        "transfer_exported",
        "",
    )
    .await?;
    let rows = sqlx::query("SELECT id FROM evidence WHERE case_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading evidence", &e))?;
    let mut evidence = Vec::new();
    let mut shas: Vec<String> = Vec::new();
    for row in rows {
        let (_, item) = crate::api::evidence_json(&state, row.get(0)).await?;
        for v in item["versions"].as_array().into_iter().flatten() {
            shas.extend(v["sha256"].as_str().map(str::to_owned));
            shas.extend(v["manifest_sha256"].as_str().map(str::to_owned));
        }
        for f in item["files"].as_array().into_iter().flatten() {
            shas.extend(f["sha256"].as_str().map(str::to_owned));
        }
        evidence.push(item);
    }
    // Saved comparisons travel with their reports and heat maps.
    let comparisons = crate::comparisons::of_case(&state, id).await?;
    for c in &comparisons {
        shas.extend(c["report_sha256"].as_str().map(str::to_owned));
        shas.extend(c["heat_map_sha256"].as_str().map(str::to_owned));
    }
    shas.sort();
    shas.dedup();
    let checkpoint = crate::log_api::current_checkpoint(&state)
        .await?
        .ok_or_else(|| ApiError::internal("the custody log", "empty"))?;
    let leaves = custody::leaf_hashes(&state.db.pool, checkpoint.size)
        .await
        .map_err(|e| ApiError::database("reading the log", &e))?;
    let stored = custody::stored_events(&state.db.pool)
        .await
        .map_err(|e| ApiError::database("reading the log", &e))?;
    let events: Vec<Value> = stored
        .iter()
        .filter(|e| e.event.case_id == Some(id) && e.seq < checkpoint.size)
        .map(|e| {
            let leaf = custody::leaf_bytes(e.seq, &e.event);
            json!({
                "seq": e.seq,
                "leaf": base64::engine::general_purpose::STANDARD.encode(&leaf),
                "proof": custody::proof_json(&merkle::inclusion_proof(e.seq as usize, &leaves)),
            })
        })
        .collect();
    let mut blobs = Vec::new();
    let mut blob_list = Vec::new();
    for sha in &shas {
        let bytes = crate::download::read_checked(&state, sha).await?;
        blob_list.push(json!({ "sha256": sha, "bytes": bytes.len() }));
        blobs.push(bytes);
    }
    let header = json!({
        "format": "exhibit-transfer-1",
        "exported_at": crate::db::rfc3339(now_ms()),
        "origin": state.signer.origin,
        "public_key": state.signer.public_key(),
        "checkpoint": checkpoint,
        "case": case,
        "evidence": evidence,
        "comparisons": comparisons,
        "blobs": blob_list,
        "events": events,
    });
    let header = serde_json::to_vec(&header).map_err(|e| ApiError::internal("bundle", e))?;
    let mut out =
        Vec::with_capacity(header.len() + blobs.iter().map(Vec::len).sum::<usize>() + 200);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(format!("{}\n", header.len()).as_bytes());
    out.extend_from_slice(&header);
    for b in &blobs {
        out.extend_from_slice(b);
    }
    let digest = Sha256::digest(&out);
    let signature = state.signer.sign_bytes(&digest);
    out.extend_from_slice(SIG);
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(signature)
            .as_bytes(),
    );
    out.push(b'\n');
    let name = format!("attachment; filename=\"case-{id}.exhibit-transfer\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        out,
    )
        .into_response())
}

/// What a checked bundle holds.
#[derive(Debug)]
pub struct Verified {
    pub header: Value,
    /// (sha256, bytes) in the header's order.
    pub blobs: Vec<(String, Vec<u8>)>,
    /// Items checked.
    pub checked: u64,
}

/// Check every part of a bundle; the list of what failed otherwise. `pinned_key` is the sending store's key
/// when the receiver knows it.
pub fn verify(bytes: &[u8], pinned_key: Option<&str>) -> Result<Verified, Vec<String>> {
    let frame = crate::bundle_frame::parse(bytes).map_err(|why| vec![why])?;
    let header = frame.header;
    let sig_at = frame.sig_at;
    let mut problems = frame.problems;
    let mut checked = 0u64;
    // Blobs: each must be exactly its hash.
    let mut blobs = Vec::new();
    for span in frame.blobs {
        let data = &bytes[span.start..span.end];
        checked += 1;
        if codec::manifest::sha256_hex(data) != span.sha256 {
            problems.push(format!(
                "blob {} (bytes {}..{}): its content does not hash to its name",
                span.sha256, span.start, span.end
            ));
        }
        blobs.push((span.sha256, data.to_vec()));
    }
    // The checkpoint, and every event's inclusion in it.
    let key = header["public_key"].as_str().unwrap_or_default().to_owned();
    if let Some(pinned) = pinned_key
        && pinned != key
    {
        problems.push(format!(
            "the bundle is signed by key {key}, not the expected {pinned}"
        ));
    }
    let checkpoint: Option<Checkpoint> = serde_json::from_value(header["checkpoint"].clone()).ok();
    let root = match &checkpoint {
        None => {
            problems.push("no readable checkpoint".into());
            None
        }
        Some(cp) => match cp.verify(header["origin"].as_str().unwrap_or_default(), &key) {
            Ok(root) => Some(root),
            Err(e) => {
                problems.push(format!("checkpoint: {e}"));
                None
            }
        },
    };
    let case_id = header["case"]["id"].as_i64();
    for event in header["events"].as_array().into_iter().flatten() {
        let seq = event["seq"].as_u64().unwrap_or(u64::MAX);
        let leaf = base64::engine::general_purpose::STANDARD
            .decode(event["leaf"].as_str().unwrap_or_default())
            .unwrap_or_default();
        checked += 1;
        let case_of_leaf = serde_json::from_slice::<Value>(&leaf)
            .ok()
            .and_then(|v| v["case"].as_i64());
        if case_of_leaf != case_id {
            problems.push(format!("event {seq}: not an event of this case"));
        }
        let proof = custody::proof_from_json(&event["proof"]).unwrap_or_default();
        if let (Some(root), Some(cp)) = (root, &checkpoint)
            && let Err(e) =
                merkle::verify_inclusion(&merkle::leaf_hash(&leaf), seq, cp.size, &proof, &root)
        {
            problems.push(format!("event {seq}: not in the signed log: {e}"));
        }
    }
    // Every version, manifest and raw file the evidence names is in the bundle; confirmations verify.
    let names: std::collections::HashSet<&str> = blobs.iter().map(|(s, _)| s.as_str()).collect();
    for item in header["evidence"].as_array().into_iter().flatten() {
        for v in item["versions"].as_array().into_iter().flatten() {
            for sha in [&v["sha256"], &v["manifest_sha256"]]
                .into_iter()
                .filter_map(Value::as_str)
            {
                if !names.contains(sha) {
                    problems.push(format!(
                        "evidence {} version {}: blob {sha} is missing",
                        item["id"], v["version"]
                    ));
                }
            }
            for c in v["confirmations"].as_array().into_iter().flatten() {
                checked += 1;
                if let Err(e) = crate::confirm::verify_signature(
                    c["statement"].as_str().unwrap_or_default(),
                    c["public_key"].as_str().unwrap_or_default(),
                    c["signature"].as_str().unwrap_or_default(),
                ) {
                    problems.push(format!("confirmation {} by {}: {e}", c["id"], c["by"]));
                }
            }
        }
    }
    checked += check_comparisons(&header, &blobs, &names, &mut problems);
    // Last, the seal over every byte before it.
    // Exactly the base64 signature and one newline: nothing after it goes unchecked.
    let sealed = crate::bundle_frame::signature(bytes, sig_at).is_some_and(|signature| {
        custody::verify_ed25519(&Sha256::digest(&bytes[..sig_at]), &key, signature).is_ok()
    });
    if !sealed {
        problems
            .push("the bundle's signature does not verify: bytes were changed after export".into());
    }
    if problems.is_empty() {
        Ok(Verified {
            header,
            blobs,
            checked,
        })
    } else {
        Err(problems)
    }
}

/// Every comparison's report and heat map are in the bundle, and each report is about the two models its
/// record names, both versions in the bundle. Returns how many comparisons were checked.
fn check_comparisons(
    header: &Value,
    blobs: &[(String, Vec<u8>)],
    names: &std::collections::HashSet<&str>,
    problems: &mut Vec<String>,
) -> u64 {
    let mut checked = 0;
    let versions: std::collections::HashSet<&str> = header["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|item| item["versions"].as_array().into_iter().flatten())
        .filter_map(|v| v["sha256"].as_str())
        .collect();
    for c in header["comparisons"].as_array().into_iter().flatten() {
        checked += 1;
        let id = &c["id"];
        for field in ["report_sha256", "heat_map_sha256"] {
            if let Some(sha) = c[field].as_str()
                && !names.contains(sha)
            {
                problems.push(format!("comparison {id}: blob {sha} is missing"));
            }
        }
        let report = c["report_sha256"]
            .as_str()
            .and_then(|sha| blobs.iter().find(|(s, _)| s == sha))
            .and_then(|(_, bytes)| serde_json::from_slice::<Value>(bytes).ok());
        for side in ["a", "b"] {
            let named = c[side].as_str().unwrap_or_default();
            if !versions.contains(named) {
                problems.push(format!(
                    "comparison {id}: model {side} {named} is not a version in the bundle"
                ));
            }
            if let Some(report) = &report
                && report[side]["sha256"].as_str() != Some(named)
            {
                problems.push(format!(
                    "comparison {id}: its report is not about model {side} {named}"
                ));
            }
        }
    }
    checked
}

/// `POST /api/transfers`: import a bundle after checking all of it (appellate court, admin).
pub async fn import(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth::authorize(&state, &caller, Action::Import, None, "transfers").await?;
    let verified = verify(&body, None).map_err(|problems| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the bundle does not verify: {}", problems.join("; ")),
        )
    })?;
    let header = &verified.header;
    let bundle_sha = codec::manifest::sha256_hex(&body);
    for (sha, bytes) in verified
        .blobs
        .iter()
        .chain(std::iter::once(&(bundle_sha.clone(), body.to_vec())))
    {
        state
            .blobs
            .put(sha, bytes.clone())
            .await
            .map_err(|e| ApiError::storage("storing a transferred blob", &e))?;
    }
    let number = header["case"]["number"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let now = now_ms();
    let db_error = |e: sqlx::Error| ApiError::database("importing the case", &e);
    let guard = state.db.write().await;
    let mut tx = state.db.pool.begin().await.map_err(db_error)?;
    for (sha, bytes) in verified
        .blobs
        .iter()
        .chain(std::iter::once(&(bundle_sha.clone(), body.to_vec())))
    {
        crate::db::record_blob(&mut tx, sha, bytes.len() as u64, now)
            .await
            .map_err(db_error)?;
    }
    let case: i64 = sqlx::query(
        "INSERT INTO cases (number, court, title, parties, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&number)
    .bind(header["case"]["court"].as_str().unwrap_or_default())
    .bind(header["case"]["title"].as_str().unwrap_or_default())
    .bind(header["case"]["parties"].to_string())
    .bind(caller.user_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| if e.to_string().to_lowercase().contains("unique") { ApiError::conflict(format!("case {number} is here already")) } else { db_error(e) })?
    .get(0);
    for item in header["evidence"].as_array().into_iter().flatten() {
        let evidence: i64 = sqlx::query(
            "INSERT INTO evidence (case_id, label, kind, submitted_by, description, capture, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(case)
        .bind(item["label"].as_str().unwrap_or_default())
        .bind(item["kind"].as_str().unwrap_or_default())
        .bind(item["submitted_by"].as_str().unwrap_or_default())
        .bind(item["description"].as_str().unwrap_or_default())
        .bind(item["capture"].to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?
        .get(0);
        for v in item["versions"].as_array().into_iter().flatten() {
            sqlx::query(
                "INSERT INTO versions (evidence_id, number, model_sha256, manifest_sha256, bytes, filename, uploaded_by, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(evidence)
            .bind(v["version"].as_i64().unwrap_or(1))
            .bind(v["sha256"].as_str().unwrap_or_default())
            .bind(v["manifest_sha256"].as_str())
            .bind(v["bytes"].as_i64().unwrap_or(0))
            .bind(v["filename"].as_str().unwrap_or_default())
            .bind(caller.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        for f in item["files"].as_array().into_iter().flatten() {
            sqlx::query("INSERT INTO evidence_files (evidence_id, sha256, filename, uploaded_by, created_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(evidence)
                .bind(f["sha256"].as_str().unwrap_or_default())
                .bind(f["filename"].as_str().unwrap_or_default())
                .bind(caller.user_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
    }
    import_comparisons(&mut tx, case, header, caller.user_id, now)
        .await
        .map_err(db_error)?;
    sqlx::query("INSERT INTO transfers (case_id, bundle_sha256, source_origin, source_key, source_checkpoint, imported_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(case)
        .bind(&bundle_sha)
        .bind(header["origin"].as_str().unwrap_or_default())
        .bind(header["public_key"].as_str().unwrap_or_default())
        .bind(header["checkpoint"].to_string())
        .bind(caller.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    drop(guard);
    auth::log_event(
        &state,
        &caller,
        "transfer_imported",
        Some(case),
        &format!("bundle {bundle_sha}"),
        "verified",
        &format!(
            "from {} at checkpoint {}",
            header["origin"], header["checkpoint"]
        ),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "case": case,
            "number": number,
            "bundle_sha256": bundle_sha,
            "checked": verified.checked,
            "source_origin": header["origin"],
            "source_checkpoint": header["checkpoint"],
            "checkpoint": crate::log_api::current_checkpoint(&state).await?,
        })),
    ))
}

/// The bundle's saved comparisons, recorded in the imported case; who saved each, and where, stays with it.
async fn import_comparisons(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case: i64,
    header: &Value,
    user: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    for c in header["comparisons"].as_array().into_iter().flatten() {
        // Who saved it, where, stays with it: the importing user is not its author.
        let mut summary = c["summary"].clone();
        summary["saved_in_origin"] = json!({
            "origin": header["origin"],
            "id": c["id"],
            "by": c["created_by"],
            "role": c["created_by_role"],
            "at": c["created_at"],
        });
        sqlx::query(
            "INSERT INTO comparisons (case_id, a_sha256, b_sha256, report_sha256, heat_map_sha256, \
             summary, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(case)
        .bind(c["a"].as_str().unwrap_or_default())
        .bind(c["b"].as_str().unwrap_or_default())
        .bind(c["report_sha256"].as_str().unwrap_or_default())
        .bind(c["heat_map_sha256"].as_str())
        .bind(summary.to_string())
        .bind(user)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl custody::Signer {
    /// Sign bytes with the store's key (the transfer bundle's seal).
    pub fn sign_bytes(&self, bytes: &[u8]) -> [u8; 64] {
        self.signing_key().sign(bytes).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(header: &str, rest: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(format!("{}\n{header}", header.len()).as_bytes());
        bytes.extend_from_slice(rest);
        bytes
    }

    /// Lengths from a hostile file are only ever compared, never added past the end of memory: each answer is
    /// a list of reasons, not a panic.
    #[test]
    fn hostile_lengths_are_refused_with_reasons() {
        for length in [
            "18446744073709551615",
            "18446744073709551600",
            "99999999999999999999",
        ] {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(format!("{length}\n{{}}\nSIG x\n").as_bytes());
            let problems = verify(&bytes, None).unwrap_err();
            assert!(problems[0].contains("header"), "{length}: {problems:?}");
        }
        for blob_bytes in [u64::MAX, u64::MAX - 10, 1 << 62] {
            let header = format!(
                r#"{{"blobs":[{{"sha256":"ab","bytes":{blob_bytes}}}],"public_key":"00"}}"#
            );
            let problems = verify(&bundle(&header, b"abc\nSIG x\n"), None).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains("runs past")),
                "{blob_bytes}: {problems:?}"
            );
        }
        // Events with absurd sequence numbers and proofs, and a checkpoint of absurd size.
        let header = r#"{"blobs":[],"public_key":"00","checkpoint":{"size":18446744073709551615},
            "events":[{"seq":18446744073709551615,"leaf":"!!","proof":["zz"]}]}"#;
        assert!(verify(&bundle(header, b"\nSIG x\n"), None).is_err());
    }
}
