//! Cases received from another court: which bundle, from which log, at which checkpoint.

/// Where an imported case came from.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    pub case: i64,
    pub bundle_sha256: &'a str,
    pub source_origin: &'a str,
    pub source_key: &'a str,
    /// The sending log's checkpoint, as JSON.
    pub source_checkpoint: &'a str,
    pub imported_by: i64,
    pub created_ms: i64,
}

/// Record an import inside the caller's transaction.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &Received<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO transfers (case_id, bundle_sha256, source_origin, source_key, source_checkpoint, \
         imported_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(row.case)
    .bind(row.bundle_sha256)
    .bind(row.source_origin)
    .bind(row.source_key)
    .bind(row.source_checkpoint)
    .bind(row.imported_by)
    .bind(row.created_ms)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
