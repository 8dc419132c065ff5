//! Appellate transfer (移送): one file holding a case, every blob of it, its confirmations, its custody
//! events with inclusion proofs against one signed checkpoint, all signed by the sending store.
//!
//! Layout, every byte covered: `EXHIBIT-TRANSFER-1\n`, the header's length in decimal and `\n`, the header
//! (JSON), the blobs in the header's order, then `\nSIG ` and the base64 Ed25519 signature over the SHA-256
//! of everything before it, and `\n`. A changed byte breaks a blob's hash, the header's meaning, or the
//! signature; [`verify`] says which.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::AppState;
use crate::custody::merkle;
use crate::custody::{self};
use crate::db::now_ms;
use crate::error::{ApiError, ApiErrorBody, ApiResult};
use crate::records::comparisons::{self, SavedElsewhere};
use crate::records::evidence::{self};
use crate::services::auth::{self, Action, Caller};
use crate::services::mutation::Mutation;
use crate::validate::{ComparisonReport, clean_filename, clean_sha256};

pub use crate::services::bundle::{
    BundleBlob, BundleEvent, BundleHeader, MAGIC, SIG, Verified, verify,
};

/// `GET /api/cases/{case}/bundle`: the case as one signed file.
#[utoipa::path(get, path = "/api/cases/{case}/bundle", tag = "transfer", params(("case" = String, Path, description = "the case's id, or its court number (percent-encoded)")),
    responses((status = 200, description = "the bundle: magic line, header length, header JSON, blobs, Ed25519 seal", content_type = "application/octet-stream"),
        (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may not do this", body = ApiErrorBody), (status = 404, description = "no such object, or one of a case the caller may not know of", body = ApiErrorBody)))]
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    UrlPath(case): UrlPath<String>,
) -> ApiResult<Response> {
    let id = auth::case_for_as(
        &state,
        &caller,
        &case,
        Action::Transfer,
        "transfer_exported",
    )
    .await?;
    let pool = &state.db.pool;
    let case = crate::records::cases::get(pool, id).await?;
    let items = evidence::of_case(pool, id).await?;
    let mut shas: Vec<String> = Vec::new();
    for item in &items {
        for v in &item.versions {
            shas.push(v.sha256.clone());
            shas.extend(v.manifest_sha256.clone());
        }
        shas.extend(item.files.iter().map(|f| f.sha256.clone()));
    }
    // Saved comparisons travel with their reports and heat maps.
    let saved = comparisons::of_case(pool, id).await?;
    for c in &saved {
        shas.push(c.report_sha256.clone());
        shas.extend(c.heat_map_sha256.clone());
    }
    shas.sort();
    shas.dedup();
    let checkpoint = crate::services::log::current_checkpoint(&state)
        .await?
        .ok_or_else(|| ApiError::internal("the custody log", "empty"))?;
    let leaves = custody::leaf_hashes(pool, checkpoint.size)
        .await
        .map_err(|e| ApiError::database("reading the log", &e))?;
    let stored = custody::stored_events(pool)
        .await
        .map_err(|e| ApiError::database("reading the log", &e))?;
    let events: Vec<BundleEvent> = stored
        .iter()
        .filter(|e| e.event.case_id == Some(id) && e.seq < checkpoint.size)
        .map(|e| BundleEvent {
            seq: e.seq,
            leaf: base64::engine::general_purpose::STANDARD
                .encode(custody::leaf_bytes(e.seq, &e.event)),
            proof: merkle::inclusion_proof(e.seq as usize, &leaves)
                .iter()
                .map(|h| codec::manifest::hex(h))
                .collect(),
        })
        .collect();
    let mut blobs = Vec::new();
    let mut blob_list = Vec::new();
    for sha in &shas {
        let bytes = crate::services::blob_reads::read_checked(&state, sha).await?;
        blob_list.push(BundleBlob {
            sha256: sha.clone(),
            bytes: bytes.len() as u64,
        });
        blobs.push(bytes);
    }
    let header = BundleHeader {
        format: "exhibit-transfer-1".to_owned(),
        exported_at: crate::db::rfc3339(now_ms()),
        origin: state.signer.origin.clone(),
        public_key: state.signer.public_key(),
        checkpoint,
        case,
        evidence: items,
        comparisons: saved,
        blobs: blob_list,
        events,
    };
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

/// The court keys this store accepts bundles from, as `exhibit serve --trust-court KEY` named them.
fn trusted_key_of<'a>(state: &'a AppState, key: &str) -> Option<&'a str> {
    state
        .config
        .trusted_courts
        .iter()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map(String::as_str)
}

/// `POST /api/transfers`: import a bundle after checking all of it (appellate court, admin). The caller is
/// authorized before a byte of the body is read, and the body is limited to the largest upload.
#[utoipa::path(post, path = "/api/transfers", tag = "transfer",
    request_body(content = Vec<u8>, description = "a bundle as `GET /api/cases/{case}/bundle` makes it", content_type = "application/octet-stream"),
    responses((status = 201, body = ImportReceipt), (status = 401, description = "no token, or an unknown or revoked one", body = ApiErrorBody), (status = 403, description = "the caller may not do this", body = ApiErrorBody),
        (status = 408, description = "the body stalled or took too long", body = ApiErrorBody),
        (status = 409, description = "the case is here already", body = ApiErrorBody),
        (status = 413, description = "the bundle is over the store's limit", body = ApiErrorBody),
        (status = 422, description = "the bundle does not verify (each problem named), is sealed by a court this store does not trust, or its records fail the API's checks", body = ApiErrorBody)))]
pub async fn import(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Body,
) -> ApiResult<(StatusCode, Json<ImportReceipt>)> {
    auth::authorize(&state, &caller, Action::Import, None, "transfers").await?;
    let limits = crate::body::BodyLimits {
        max_bytes: usize::try_from(state.config.max_upload_bytes).unwrap_or(usize::MAX),
        idle: state.config.idle_timeout,
        // A bundle at the upload limit over a slow line: about 1 MB/s.
        total: std::time::Duration::from_secs(60 + state.config.max_upload_bytes / 1_000_000),
    };
    let body = crate::body::read(body, limits, "the bundle").await?;
    // Which key sealed it decides nothing until it is one of ours.
    let claimed = crate::bundle_frame::parse(&body)
        .ok()
        .and_then(|frame| {
            frame
                .header
                .get("public_key")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let trusted = trusted_key_of(&state, &claimed);
    let verified = verify(&body, trusted).map_err(|problems| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the bundle does not verify: {}", problems.join("; ")),
        )
    })?;
    let records = checked_records(&verified.header, &verified.blobs)?;
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
    let now = now_ms();
    let mut change = Mutation::begin(&state, "importing the case").await?;
    for (sha, bytes) in verified
        .blobs
        .iter()
        .chain(std::iter::once(&(bundle_sha.clone(), body.to_vec())))
    {
        crate::db::record_blob(&mut change.tx, sha, bytes.len() as u64, now)
            .await
            .map_err(|e| change.failed(&e))?;
    }
    let case = crate::records::cases::insert(
        &mut change.tx,
        &records.number,
        &records.court,
        &records.title,
        &records.parties,
        caller.user_id,
        now,
    )
    .await
    .map_err(|e| {
        if e.to_string().to_lowercase().contains("unique") {
            ApiError::conflict(format!("case {} is here already", records.number))
        } else {
            change.failed(&e)
        }
    })?;
    for item in &records.items {
        insert_item(&mut change, case, item, caller.user_id, now).await?;
    }
    for c in &records.comparisons {
        let summary = crate::records::comparisons::Summary {
            saved_in_origin: Some(SavedElsewhere {
                origin: header.origin.clone(),
                id: c.id,
                by: c.by.clone(),
                role: c.role.clone(),
                at: c.at.clone(),
            }),
            ..crate::records::comparisons::Summary::of(&c.report)
        };
        comparisons::insert(
            &mut change.tx,
            case,
            &c.report.a.sha256,
            &c.report.b.sha256,
            &c.report_sha256,
            c.heat_map_sha256.as_deref(),
            &summary,
            caller.user_id,
            now,
        )
        .await
        .map_err(|e| change.failed(&e))?;
    }
    let checkpoint_text =
        serde_json::to_string(&header.checkpoint).map_err(|e| ApiError::internal("bundle", e))?;
    let received = crate::records::transfers::Received {
        case,
        bundle_sha256: &bundle_sha,
        source_origin: &header.origin,
        source_key: &header.public_key,
        source_checkpoint: &checkpoint_text,
        imported_by: caller.user_id,
        created_ms: now,
    };
    crate::records::transfers::insert(&mut change.tx, &received)
        .await
        .map_err(|e| change.failed(&e))?;
    change
        .commit(caller.event(
            "transfer_imported",
            Some(case),
            &format!("bundle {bundle_sha}"),
            "verified",
            &format!("from {:?} at checkpoint {checkpoint_text}", header.origin),
        ))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportReceipt {
            case,
            number: records.number,
            bundle_sha256: bundle_sha,
            checked: verified.checked,
            source_origin: header.origin.clone(),
            source_checkpoint: header.checkpoint.clone(),
            checkpoint: crate::services::log::current_checkpoint(&state).await?,
        }),
    ))
}

/// A case imported: its id here, what was checked, and both logs' checkpoints.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReceipt {
    pub case: i64,
    pub number: String,
    pub bundle_sha256: String,
    pub checked: u64,
    pub source_origin: String,
    pub source_checkpoint: custody::Checkpoint,
    pub checkpoint: Option<custody::Checkpoint>,
}

/// A bundle's records after the API's own checks: an imported record gets no more trust than a request.
struct ImportRecords {
    number: String,
    court: String,
    title: String,
    parties: Vec<crate::records::cases::Party>,
    items: Vec<ImportItem>,
    comparisons: Vec<ImportComparison>,
}

struct ImportItem {
    evidence: crate::records::evidence::CheckedEvidence,
    /// (number, sha256, manifest, bytes, filename)
    versions: Vec<(i64, String, Option<String>, i64, String)>,
    /// (sha256, filename)
    files: Vec<(String, String)>,
}

struct ImportComparison {
    id: i64,
    report: ComparisonReport,
    report_sha256: String,
    heat_map_sha256: Option<String>,
    by: String,
    role: String,
    at: String,
}

fn checked_records(header: &BundleHeader, blobs: &[(String, Vec<u8>)]) -> ApiResult<ImportRecords> {
    let in_bundle = |what: &str, e: ApiError| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the bundle's {what}: {}", e.message),
        )
    };
    let case = &header.case;
    let (number, court, title, parties) =
        crate::records::cases::checked_case(&case.number, &case.court, &case.title, &case.parties)
            .map_err(|e| in_bundle("case", e))?;
    let mut items = Vec::new();
    for item in &header.evidence {
        let what = format!("evidence {}", item.id);
        let evidence = evidence::checked_evidence(
            &item.label,
            &item.kind,
            &item.submitted_by,
            &item.description,
            &Value::Object(item.capture.clone()),
        )
        .map_err(|e| in_bundle(&what, e))?;
        let mut versions = Vec::new();
        for v in &item.versions {
            if v.version < 1 || v.bytes < 0 {
                return Err(in_bundle(
                    &what,
                    ApiError::bad_request(format!("version {} of {} bytes", v.version, v.bytes)),
                ));
            }
            versions.push((
                v.version,
                clean_sha256("sha256", &v.sha256).map_err(|e| in_bundle(&what, e))?,
                v.manifest_sha256
                    .as_deref()
                    .map(|m| clean_sha256("manifest_sha256", m))
                    .transpose()
                    .map_err(|e| in_bundle(&what, e))?,
                v.bytes,
                clean_filename("filename", &v.filename).map_err(|e| in_bundle(&what, e))?,
            ));
        }
        let mut files = Vec::new();
        for f in &item.files {
            files.push((
                clean_sha256("files.sha256", &f.sha256).map_err(|e| in_bundle(&what, e))?,
                clean_filename("files.filename", &f.filename).map_err(|e| in_bundle(&what, e))?,
            ));
        }
        items.push(ImportItem {
            evidence,
            versions,
            files,
        });
    }
    let mut compared = Vec::new();
    for c in &header.comparisons {
        let what = format!("comparison {}", c.id);
        // `verify` checked the report; the record's summary is rebuilt from it, never taken from the header.
        let report = blobs
            .iter()
            .find(|(sha, _)| *sha == c.report_sha256)
            .and_then(|(_, bytes)| serde_json::from_slice::<Value>(bytes).ok())
            .ok_or_else(|| in_bundle(&what, ApiError::bad_request("its report is missing")))
            .and_then(|value| ComparisonReport::parse(&value).map_err(|e| in_bundle(&what, e)))?;
        compared.push(ImportComparison {
            id: c.id,
            report,
            report_sha256: clean_sha256("report_sha256", &c.report_sha256)
                .map_err(|e| in_bundle(&what, e))?,
            heat_map_sha256: c
                .heat_map_sha256
                .as_deref()
                .map(|h| clean_sha256("heat_map_sha256", h))
                .transpose()
                .map_err(|e| in_bundle(&what, e))?,
            by: crate::validate::clean_text("created_by", &c.created_by, 200)
                .map_err(|e| in_bundle(&what, e))?,
            role: crate::validate::clean_text("created_by_role", &c.created_by_role, 40)
                .map_err(|e| in_bundle(&what, e))?,
            at: crate::validate::clean_text("created_at", &c.created_at, 40)
                .map_err(|e| in_bundle(&what, e))?,
        });
    }
    Ok(ImportRecords {
        number,
        court,
        title,
        parties,
        items,
        comparisons: compared,
    })
}

/// One checked evidence item into the imported case.
async fn insert_item(
    change: &mut Mutation<'_>,
    case: i64,
    item: &ImportItem,
    user: i64,
    now: i64,
) -> ApiResult<()> {
    let id = evidence::insert(&mut change.tx, case, &item.evidence, now)
        .await
        .map_err(|e| change.failed(&e))?;
    for (number, sha, manifest, bytes, filename) in &item.versions {
        let version = evidence::NewVersion {
            evidence: id,
            number: *number,
            model_sha256: sha,
            manifest_sha256: manifest.as_deref(),
            bytes: u64::try_from(*bytes).unwrap_or(0),
            filename,
            uploaded_by: user,
            created_ms: now,
        };
        evidence::insert_version(&mut change.tx, &version)
            .await
            .map_err(|e| change.failed(&e))?;
    }
    for (sha, filename) in &item.files {
        evidence::insert_file(&mut change.tx, id, sha, filename, user, now)
            .await
            .map_err(|e| change.failed(&e))?;
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
