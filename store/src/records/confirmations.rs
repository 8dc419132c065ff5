//! Parties' confirmations and objections of one model version (当事人确认), with whether each signature
//! verifies.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::db_error;
use crate::db::rfc3339;
use crate::error::ApiResult;

/// A confirmation or objection as the API and bundles carry it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Confirmation {
    pub id: i64,
    pub by: String,
    pub role: String,
    pub side: Option<String>,
    /// `confirm` or `object`.
    pub decision: String,
    pub reason: String,
    /// The exact text signed.
    pub statement: String,
    /// Ed25519, base64.
    pub signature: String,
    /// Hex.
    pub public_key: String,
    /// `party` (the party signed) or `store` (a key the store holds for them).
    pub key_held_by: String,
    pub at: String,
    /// Checked when read, never taken from a sender.
    #[serde(default)]
    pub signature_verifies: bool,
}

impl Confirmation {
    /// Whether it is an objection.
    pub fn objects(&self) -> bool {
        self.decision == "object"
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    role: String,
    decision: String,
    reason: String,
    statement: String,
    signature: String,
    public_key: String,
    key_held_by: String,
    created_ms: i64,
    side: Option<String>,
}

/// The confirmations and objections of a version, oldest first.
pub async fn of_version(pool: &AnyPool, version_id: i64) -> ApiResult<Vec<Confirmation>> {
    let rows = sqlx::query_as::<_, Row>(
        "SELECT confirmations.id AS id, users.name AS name, users.role AS role, decision, reason, statement, \
         signature, public_key, key_held_by, confirmations.created_ms AS created_ms, case_members.side AS side \
         FROM confirmations JOIN users ON users.id = confirmations.user_id \
         JOIN versions ON versions.id = confirmations.version_id \
         JOIN evidence ON evidence.id = versions.evidence_id \
         LEFT JOIN case_members ON case_members.user_id = users.id AND case_members.case_id = evidence.case_id \
         WHERE version_id = $1 ORDER BY confirmations.id",
    )
    .bind(version_id)
    .fetch_all(pool)
    .await
    .map_err(db_error("reading confirmations"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let signature_verifies =
                crate::custody::verify_ed25519(r.statement.as_bytes(), &r.public_key, &r.signature)
                    .is_ok();
            Confirmation {
                id: r.id,
                by: r.name,
                role: r.role,
                side: r.side,
                decision: r.decision,
                reason: r.reason,
                statement: r.statement,
                signature: r.signature,
                public_key: r.public_key,
                key_held_by: r.key_held_by,
                at: rfc3339(r.created_ms),
                signature_verifies,
            }
        })
        .collect())
}

/// A confirmation or objection to record.
#[derive(Debug, Clone)]
pub struct NewConfirmation<'a> {
    pub version_id: i64,
    pub user_id: i64,
    pub decision: &'a str,
    pub reason: &'a str,
    pub statement: &'a str,
    pub signature: &'a str,
    pub public_key: &'a str,
    pub key_held_by: &'a str,
    pub created_ms: i64,
}

/// Record a confirmation inside the caller's transaction; its id.
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &NewConfirmation<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO confirmations (version_id, user_id, decision, reason, statement, signature, \
         public_key, key_held_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(c.version_id)
    .bind(c.user_id)
    .bind(c.decision)
    .bind(c.reason)
    .bind(c.statement)
    .bind(c.signature)
    .bind(c.public_key)
    .bind(c.key_held_by)
    .bind(c.created_ms)
    .fetch_one(&mut **tx)
    .await
}
