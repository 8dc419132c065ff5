//! The scrub: hash every recorded blob again and name exactly the ones that are damaged or gone.

use std::path::Path;

use serde::Serialize;
use sqlx::Row as _;

use crate::{Blobs, Db};

/// What the scrub found. `problems` names each damaged item; `unreferenced` lists stored files no row
/// records (left by a crash between storing and recording: harmless, and never served).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScrubReport {
    pub ok: bool,
    pub checked: u64,
    pub problems: Vec<String>,
    pub unreferenced: Vec<String>,
    /// The custody log's check, when the store's signing key was at hand (offline `verify --store`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<crate::custody::LogReport>,
}

/// Check every blob the database records against its storage.
pub async fn scrub(db: &Db, blobs: &Blobs) -> anyhow::Result<ScrubReport> {
    let rows = sqlx::query("SELECT sha256, bytes FROM blobs ORDER BY sha256")
        .fetch_all(&db.pool)
        .await?;
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut recorded = std::collections::HashSet::new();
    for row in rows {
        let sha: String = row.get(0);
        let bytes = row.get::<i64, _>(1) as u64;
        checked += 1;
        match blobs.rehash(&sha).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("blob {sha}: missing from storage"));
            }
            Err(e) => problems.push(format!("blob {sha}: cannot be read: {e}")),
            Ok((_, size)) if size != bytes => problems.push(format!(
                "blob {sha}: {size} bytes stored, {bytes} recorded ({})",
                if size < bytes { "truncated" } else { "grown" }
            )),
            Ok((actual, _)) if actual != sha => {
                problems.push(format!(
                    "blob {sha}: content changed, now hashes to {actual}"
                ));
            }
            Ok(_) => {}
        }
        recorded.insert(sha);
    }
    // Versions must point at recorded blobs (the schema's foreign keys say so; a hand edit may not).
    let dangling = sqlx::query(
        "SELECT versions.evidence_id, versions.number, versions.model_sha256 FROM versions \
         LEFT JOIN blobs ON blobs.sha256 = versions.model_sha256 WHERE blobs.sha256 IS NULL",
    )
    .fetch_all(&db.pool)
    .await?;
    for row in dangling {
        problems.push(format!(
            "evidence {} version {}: model {} is not recorded as a blob",
            row.get::<i64, _>(0),
            row.get::<i64, _>(1),
            row.get::<String, _>(2)
        ));
    }
    let unreferenced = blobs
        .list()
        .await?
        .into_iter()
        .filter(|(name, _)| !recorded.contains(name) && !name.starts_with(".tmp-"))
        .map(|(name, _)| name)
        .collect();
    Ok(ScrubReport {
        ok: problems.is_empty(),
        checked,
        problems,
        unreferenced,
        log: None,
    })
}

/// `exhibit verify --store DIR`: the scrub without a running server.
pub async fn scrub_offline(
    data: &Path,
    database: Option<&str>,
    blobs: Option<&str>,
    signing_key: Option<&Path>,
    receipts: &[crate::custody::Checkpoint],
) -> anyhow::Result<ScrubReport> {
    let db_file = data.join("exhibit.db");
    let url = if let Some(url) = database {
        url.to_owned()
    } else {
        anyhow::ensure!(
            db_file.is_file(),
            "{}: no store here (no exhibit.db)",
            data.display()
        );
        format!("sqlite://{}?mode=rw", db_file.display())
    };
    let db = Db::open(&url).await?;
    let blobs = Blobs::open(blobs, data)?;
    let mut report = scrub(&db, &blobs).await?;
    // The custody log: checked with the store's own key (its public half is what receipts name).
    let key = signing_key.map_or_else(|| data.join("signing.key"), Path::to_path_buf);
    if key.exists() {
        let origin = crate::custody::logged_origin(&db.pool)
            .await?
            .unwrap_or_default();
        let signer = crate::custody::Signer::load_or_create(&key, &origin)?;
        let events = crate::custody::stored_events(&db.pool).await?;
        let log = crate::custody::check_log(&events, &origin, &signer.public_key(), receipts);
        report.ok &= log.ok;
        report
            .problems
            .extend(log.problems.iter().map(|p| format!("custody log: {p}")));
        report.log = Some(log);
    } else {
        report.ok = false;
        report.problems.push(format!(
            "custody log: no signing key at {} to check it with",
            key.display()
        ));
    }
    Ok(report)
}
