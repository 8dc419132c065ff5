//! Checking an appellate transfer bundle (移送) without trusting any of it: its layout (`bundle_frame`), every
//! blob's hash, every custody event's inclusion in the sending log's signed checkpoint, every confirmation's
//! signature, that every version, manifest, raw file and comparison report the records name is in it at its
//! size, and the seal over every byte, by a court key the reader trusts. `exhibit verify` runs this offline;
//! the store runs it before an import.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::custody::{self, Checkpoint, merkle};
use crate::records::cases::Case;
use crate::records::comparisons::Comparison;
use crate::records::evidence::Evidence;
use crate::validate::ComparisonReport;

pub use crate::bundle_frame::{MAGIC, SIG};

/// A bundle's header: what the case holds and where each blob lies, typed. Every field is read from a file
/// that came from elsewhere, so each is checked before use (see [`verify`], and the import in `handlers::transfer`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleHeader {
    /// `exhibit-transfer-1`.
    pub format: String,
    pub exported_at: String,
    /// The sending store's log name and key.
    pub origin: String,
    pub public_key: String,
    /// The sending log's checkpoint every event is proven against.
    pub checkpoint: Checkpoint,
    pub case: Case,
    pub evidence: Vec<Evidence>,
    pub comparisons: Vec<Comparison>,
    /// The blobs after the header, in order.
    pub blobs: Vec<BundleBlob>,
    /// The case's custody events with their inclusion proofs.
    pub events: Vec<BundleEvent>,
}

/// One blob's name and size.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleBlob {
    pub sha256: String,
    pub bytes: u64,
}

/// One custody event: its exact leaf bytes (base64) and the audit path to the checkpoint (hex hashes).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEvent {
    pub seq: u64,
    pub leaf: String,
    pub proof: Vec<String>,
}

/// What a checked bundle holds.
#[derive(Debug)]
pub struct Verified {
    pub header: BundleHeader,
    /// (sha256, bytes) in the header's order.
    pub blobs: Vec<(String, Vec<u8>)>,
    /// Items checked.
    pub checked: u64,
}

/// Check every part of a bundle against the sending court's key `trusted_key` (hex); the list of what failed
/// otherwise. A bundle is only as good as the key that sealed it: one signed by the key it carries itself
/// proves nothing, so without a key the receiver knows, the answer is a refusal that names the bundle's key.
pub fn verify(bytes: &[u8], trusted_key: Option<&str>) -> Result<Verified, Vec<String>> {
    let frame = crate::bundle_frame::parse(bytes).map_err(|why| vec![why])?;
    let sig_at = frame.sig_at;
    let mut problems = frame.problems;
    let header: BundleHeader = match serde_path_to_error::deserialize(&frame.header) {
        Ok(header) => header,
        Err(e) => {
            problems.push(format!(
                "the header does not describe a bundle: field `{}`: {}",
                e.path(),
                e.inner()
            ));
            return Err(problems);
        }
    };
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
    let key = header.public_key.clone();
    match trusted_key {
        Some(trusted) if trusted != key => problems.push(format!(
            "the bundle is signed by key {key}, not the trusted court key {trusted}"
        )),
        Some(_) => {}
        None => problems.push(format!(
            "the bundle is signed by key {key}, which is not named as a trusted court key \
             (a bundle carries its own key, so that alone proves nothing)"
        )),
    }
    // The checkpoint, and every event's inclusion in it.
    let root = match header.checkpoint.verify(&header.origin, &key) {
        Ok(root) => Some(root),
        Err(e) => {
            problems.push(format!("checkpoint: {e}"));
            None
        }
    };
    for event in &header.events {
        checked += 1;
        let leaf = base64::engine::general_purpose::STANDARD
            .decode(&event.leaf)
            .unwrap_or_default();
        let case_of_leaf = serde_json::from_slice::<Value>(&leaf)
            .ok()
            .and_then(|v| v.get("case").and_then(Value::as_i64));
        if case_of_leaf != Some(header.case.id) {
            problems.push(format!("event {}: not an event of this case", event.seq));
        }
        let proof: Option<Vec<merkle::Hash>> =
            event.proof.iter().map(|h| custody::unhex32(h)).collect();
        match (root, proof) {
            (_, None) => problems.push(format!("event {}: its proof is not hex hashes", event.seq)),
            (Some(root), Some(proof)) => {
                if let Err(e) = merkle::verify_inclusion(
                    &merkle::leaf_hash(&leaf),
                    event.seq,
                    header.checkpoint.size,
                    &proof,
                    &root,
                ) {
                    problems.push(format!("event {}: not in the signed log: {e}", event.seq));
                }
            }
            (None, Some(_)) => {}
        }
    }
    // Every version, manifest and raw file the evidence names is in the bundle, at the size it says;
    // confirmations verify.
    let sizes: HashMap<&str, usize> = blobs.iter().map(|(s, b)| (s.as_str(), b.len())).collect();
    let need = |what: String, sha: &str, bytes: Option<i64>, problems: &mut Vec<String>| match sizes
        .get(sha)
    {
        None => problems.push(format!("{what}: blob {sha} is missing from the bundle")),
        Some(size) if bytes.is_some_and(|b| usize::try_from(b).ok() != Some(*size)) => {
            problems.push(format!(
                "{what}: blob {sha} is {size} bytes, not the {} the record says",
                bytes.unwrap_or_default()
            ));
        }
        Some(_) => {}
    };
    for item in &header.evidence {
        if item.case != header.case.id {
            problems.push(format!("evidence {}: not of this case", item.id));
        }
        for v in &item.versions {
            need(
                format!("evidence {} version {}", item.id, v.version),
                &v.sha256,
                Some(v.bytes),
                &mut problems,
            );
            if let Some(manifest) = &v.manifest_sha256 {
                need(
                    format!("evidence {} version {} manifest", item.id, v.version),
                    manifest,
                    None,
                    &mut problems,
                );
            }
            for c in &v.confirmations {
                checked += 1;
                if let Err(e) = crate::custody::verify_ed25519(
                    c.statement.as_bytes(),
                    &c.public_key,
                    &c.signature,
                ) {
                    problems.push(format!("confirmation {} by {}: {e}", c.id, c.by));
                }
            }
        }
        for f in &item.files {
            need(
                format!("evidence {} raw file {:?}", item.id, f.filename),
                &f.sha256,
                Some(f.bytes),
                &mut problems,
            );
        }
    }
    checked += check_comparisons(&header, &blobs, &mut problems);
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
    header: &BundleHeader,
    blobs: &[(String, Vec<u8>)],
    problems: &mut Vec<String>,
) -> u64 {
    let mut checked = 0;
    let versions: HashSet<&str> = header
        .evidence
        .iter()
        .flat_map(|item| item.versions.iter().map(|v| v.sha256.as_str()))
        .collect();
    for c in &header.comparisons {
        checked += 1;
        let id = c.id;
        for sha in std::iter::once(&c.report_sha256).chain(&c.heat_map_sha256) {
            if !blobs.iter().any(|(s, _)| s == sha) {
                problems.push(format!("comparison {id}: blob {sha} is missing"));
            }
        }
        let report = blobs
            .iter()
            .find(|(s, _)| *s == c.report_sha256)
            .and_then(|(_, bytes)| serde_json::from_slice::<Value>(bytes).ok());
        let report = match report.as_ref().map(ComparisonReport::parse) {
            Some(Ok(report)) => Some(report),
            Some(Err(e)) => {
                problems.push(format!("comparison {id}: its report: {}", e.message));
                None
            }
            None => None,
        };
        for (side, named, reported) in [
            ("a", &c.a, report.as_ref().map(|r| &r.a.sha256)),
            ("b", &c.b, report.as_ref().map(|r| &r.b.sha256)),
        ] {
            if !versions.contains(named.as_str()) {
                problems.push(format!(
                    "comparison {id}: model {side} {named} is not a version in the bundle"
                ));
            }
            if report.is_some() && reported != Some(named) {
                problems.push(format!(
                    "comparison {id}: its report is not about model {side} {named}"
                ));
            }
        }
    }
    checked
}
