//! The custody log: every event is a leaf of one append-only RFC 6962 Merkle tree, and every append is
//! sealed by a checkpoint (tree size and root) signed with the store's Ed25519 key.
//!
//! Each event row keeps its leaf hash, the root after it and that checkpoint's signature, so a check can
//! walk the log from the start and name the first event that is not what was signed: an edited row
//! hashes differently, a deleted or reordered one breaks the sequence, a forged one has no valid
//! signature. Cutting off the tail leaves a shorter, valid log; it is caught against any receipt the
//! store handed out earlier (a checkpoint of a larger tree: "the log was rolled back").

use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row as _;

pub mod merkle;
pub mod writer;

use merkle::Hash;

/// One row of `events`.
#[derive(Clone, Debug)]
pub struct Event {
    pub at_ms: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub case_id: Option<i64>,
    pub object: String,
    pub outcome: String,
    pub source: String,
    pub detail: String,
}

/// The text a checkpoint's signature covers.
fn signed_text(origin: &str, size: u64, root: &Hash) -> String {
    format!(
        "exhibit custody checkpoint v1\n{origin}\n{size}\n{}\n",
        hex(root)
    )
}

fn hex(h: &[u8]) -> String {
    codec::manifest::hex(h)
}

/// 64 hex digits as 32 bytes (hashes, keys).
pub fn unhex32(text: &str) -> Option<Hash> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Check an Ed25519 signature (base64) by a public key (hex) over `message`.
pub fn verify_ed25519(message: &[u8], public_key: &str, signature: &str) -> Result<(), String> {
    let key = unhex32(public_key).ok_or("the public key is not 64 hex digits")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|e| e.to_string())?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .ok()
        .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
        .ok_or("the signature is not 64 bytes of base64")?;
    key.verify(message, &signature)
        .map_err(|_| "the signature does not verify".to_owned())
}

/// A signed statement: "the log of `origin` had `size` events, and this was its root".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// Ed25519 signature over the checkpoint text, base64.
    pub signature: String,
    /// The signing key, hex (32 bytes).
    pub public_key: String,
}

/// Why a checkpoint or proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint is for origin {got:?}, not {expected:?}")]
    WrongOrigin { got: String, expected: String },
    #[error("the checkpoint is signed by key {got}, not the store's key {expected}")]
    WrongKey { got: String, expected: String },
    #[error("the checkpoint's signature does not verify")]
    BadSignature,
    #[error("the checkpoint is malformed: {0}")]
    Malformed(String),
    #[error("the log was rolled back: a receipt shows {earlier} events, the log now has {now}")]
    RolledBack { earlier: u64, now: u64 },
    #[error("the log was rewritten: {0}")]
    Inconsistent(String),
}

impl Checkpoint {
    /// Check the signature, and that it is by `public_key` for `origin`.
    pub fn verify(&self, origin: &str, public_key: &str) -> Result<Hash, CheckpointError> {
        if self.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                got: self.origin.clone(),
                expected: origin.to_owned(),
            });
        }
        if self.public_key != public_key {
            return Err(CheckpointError::WrongKey {
                got: self.public_key.clone(),
                expected: public_key.to_owned(),
            });
        }
        self.verify_signature()
    }

    /// Check the signature by the key the checkpoint names; the root on success.
    pub fn verify_signature(&self) -> Result<Hash, CheckpointError> {
        let root = unhex32(&self.root)
            .ok_or_else(|| CheckpointError::Malformed(format!("root {:?}", self.root)))?;
        let key_bytes = unhex32(&self.public_key).ok_or_else(|| {
            CheckpointError::Malformed(format!("public key {:?}", self.public_key))
        })?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes)
            .map_err(|e| CheckpointError::Malformed(format!("public key: {e}")))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .ok()
            .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
            .ok_or_else(|| CheckpointError::Malformed("signature".into()))?;
        key.verify(
            signed_text(&self.origin, self.size, &root).as_bytes(),
            &signature,
        )
        .map_err(|_| CheckpointError::BadSignature)?;
        Ok(root)
    }

    /// Check that `newer` extends `self` (same origin and key), given a consistency proof from the store.
    pub fn check_extended_by(
        &self,
        newer: &Checkpoint,
        proof: &[Hash],
    ) -> Result<(), CheckpointError> {
        let old_root = self.verify_signature()?;
        let new_root = newer.verify(&self.origin, &self.public_key)?;
        if newer.size < self.size {
            return Err(CheckpointError::RolledBack {
                earlier: self.size,
                now: newer.size,
            });
        }
        merkle::verify_consistency(self.size, newer.size, proof, &old_root, &new_root)
            .map_err(|e| CheckpointError::Inconsistent(e.to_string()))
    }
}

/// The store's signing key and the log's name.
#[derive(Debug)]
pub struct Signer {
    key: ed25519_dalek::SigningKey,
    pub origin: String,
}

impl Signer {
    /// Read the key from `path` (hex seed), or make one there (readable by the owner only).
    pub fn load_or_create(path: &Path, origin: &str) -> anyhow::Result<Self> {
        let seed = if path.exists() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading the signing key {}: {e}", path.display()))?;
            unhex32(text.trim()).ok_or_else(|| {
                anyhow::anyhow!("{}: not a signing key (64 hex digits)", path.display())
            })?
        } else {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            crate::private_files::write_private(path, format!("{}\n", hex(&seed)).as_bytes())?;
            seed
        };
        Ok(Self {
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
            origin: origin.to_owned(),
        })
    }

    /// The private key, for the other signatures the store makes (transfer bundles).
    pub(crate) fn signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.key
    }

    /// The key that seals the keys the store holds for users (see `sealed.rs`).
    pub fn wrapping_key(&self) -> [u8; 32] {
        crate::sealed::wrapping_key(&self.key.to_bytes())
    }

    pub fn public_key(&self) -> String {
        hex(self.key.verifying_key().as_bytes())
    }

    pub fn checkpoint(&self, size: u64, root: &Hash) -> Checkpoint {
        let signature = self
            .key
            .sign(signed_text(&self.origin, size, root).as_bytes());
        Checkpoint {
            origin: self.origin.clone(),
            size,
            root: hex(root),
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
            public_key: self.public_key(),
        }
    }
}

/// The right edge of the tree: the roots of its perfect subtrees, largest (leftmost) first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    pub size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// Append a leaf hash; the complete subtrees it completes (the leaf itself first), for `log_nodes`.
    pub fn push(&mut self, leaf: Hash) -> Vec<(merkle::NodeId, Hash)> {
        let mut made = vec![((0, self.size), leaf)];
        let mut hash = leaf;
        let mut size = self.size;
        let mut level = 0;
        while size & 1 == 1 {
            let left = self.nodes.pop().unwrap_or_default();
            hash = merkle::node_hash(&left, &hash);
            size >>= 1;
            level += 1;
            made.push(((level, self.size >> level), hash));
        }
        self.nodes.push(hash);
        self.size += 1;
        made
    }

    /// The root of the tree so far (RFC 6962: the subtrees folded from the right).
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return merkle::empty_root();
        };
        nodes.fold(*last, |right, left| merkle::node_hash(left, &right))
    }

    fn encode(&self) -> String {
        self.nodes
            .iter()
            .map(|n| hex(n))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn decode(size: u64, text: &str) -> Option<Self> {
        let nodes: Option<Vec<Hash>> = text
            .split(',')
            .filter(|s| !s.is_empty())
            .map(unhex32)
            .collect();
        let nodes = nodes?;
        (nodes.len() == size.count_ones() as usize).then_some(Self { size, nodes })
    }
}

/// The bytes of an event's leaf: its fields as JSON with sorted keys, its position included.
pub fn leaf_bytes(seq: u64, event: &Event) -> Vec<u8> {
    // serde_json's map keeps keys sorted, so these bytes are canonical.
    let value = json!({
        "seq": seq,
        "at_ms": event.at_ms,
        "actor": event.actor,
        "role": event.role,
        "action": event.action,
        "case": event.case_id,
        "object": event.object,
        "outcome": event.outcome,
        "source": event.source,
        "detail": event.detail,
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Append events in the caller's transaction: each gets the next position, its leaf hash, the root after
/// it and that checkpoint's signature. The caller holds the write lock (SQLite); on PostgreSQL an
/// advisory lock makes concurrent instances append one after another. Returns the last checkpoint.
pub async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    postgres: bool,
    signer: &Signer,
    events: &[Event],
) -> Result<Option<Checkpoint>, sqlx::Error> {
    if postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7202612)")
            .execute(&mut **tx)
            .await?;
    }
    let head = sqlx::query("SELECT size, frontier FROM log_head WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?;
    let mut frontier = match head {
        Some(row) => {
            let size = row.get::<i64, _>(0) as u64;
            let text: String = row.get(1);
            Frontier::decode(size, &text).ok_or_else(|| {
                sqlx::Error::Protocol(format!("log_head holds a damaged frontier for size {size}"))
            })?
        }
        None => Frontier::default(),
    };
    let mut last = None;
    for event in events {
        let seq = frontier.size;
        let leaf = merkle::leaf_hash(&leaf_bytes(seq, event));
        for ((level, index), hash) in frontier.push(leaf) {
            insert_node(tx, level, index, &hash).await?;
        }
        let root = frontier.root();
        let checkpoint = signer.checkpoint(frontier.size, &root);
        sqlx::query(
            "INSERT INTO events (seq, at_ms, actor, role, action, case_id, object, outcome, source, \
             detail, leaf_hash, root_after, signature) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(crate::db::int(seq))
        .bind(event.at_ms)
        .bind(&event.actor)
        .bind(&event.role)
        .bind(&event.action)
        .bind(event.case_id)
        .bind(&event.object)
        .bind(&event.outcome)
        .bind(&event.source)
        .bind(&event.detail)
        .bind(hex(&leaf))
        .bind(&checkpoint.root)
        .bind(&checkpoint.signature)
        .execute(&mut **tx)
        .await?;
        last = Some(checkpoint);
    }
    sqlx::query(
        "INSERT INTO log_head (id, size, frontier, origin) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET size = $1, frontier = $2, origin = $3",
    )
    .bind(crate::db::int(frontier.size))
    .bind(frontier.encode())
    .bind(&signer.origin)
    .execute(&mut **tx)
    .await?;
    Ok(last)
}

/// Keep one complete subtree's hash (proofs read these instead of every leaf).
async fn insert_node(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    level: u32,
    index: u64,
    hash: &Hash,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO log_nodes (level, idx, hash) VALUES ($1, $2, $3) ON CONFLICT (level, idx) DO NOTHING",
    )
    .bind(i64::from(level))
    .bind(crate::db::int(index))
    .bind(hex(hash))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Fill `log_nodes` for a log written before the store kept them (once, at start; O(n)).
pub async fn fill_nodes(db: &crate::Db) -> Result<u64, sqlx::Error> {
    let size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(size), 0) FROM log_head")
        .fetch_one(&db.pool)
        .await?;
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_nodes WHERE level = 0")
        .fetch_one(&db.pool)
        .await?;
    if kept >= size {
        return Ok(0);
    }
    let leaves = leaf_hashes(&db.pool, size as u64).await?;
    let _guard = db.write().await;
    let mut tx = db.pool.begin().await?;
    let nodes = merkle::all_nodes(&leaves);
    for ((level, index), hash) in &nodes {
        insert_node(&mut tx, *level, *index, hash).await?;
    }
    tx.commit().await?;
    Ok(nodes.len() as u64)
}

/// The complete-subtree hashes `ids`, read in one query.
pub async fn nodes(
    pool: &sqlx::AnyPool,
    ids: &[merkle::NodeId],
) -> Result<std::collections::HashMap<merkle::NodeId, Hash>, sqlx::Error> {
    let mut found = std::collections::HashMap::new();
    // A proof needs at most a few hundred; SQLite takes up to 32766 parameters.
    for chunk in ids.chunks(400) {
        let condition = (0..chunk.len())
            .map(|i| format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2))
            .collect::<Vec<_>>()
            .join(" OR ");
        let text = format!("SELECT level, idx, hash FROM log_nodes WHERE {condition}");
        let mut query = sqlx::query_as::<_, (i64, i64, String)>(&text);
        for (level, index) in chunk {
            query = query.bind(i64::from(*level)).bind(crate::db::int(*index));
        }
        for (level, index, hash) in query.fetch_all(pool).await? {
            if let (Ok(level), Ok(index), Some(hash)) =
                (u32::try_from(level), u64::try_from(index), unhex32(&hash))
            {
                found.insert((level, index), hash);
            }
        }
    }
    Ok(found)
}

/// A proof computed from stored subtree hashes: `proof` is run once to learn which it needs, they are read in
/// one query, and it is run again with them. An absent hash is a damaged log, and an error.
pub async fn proof_from_nodes(
    pool: &sqlx::AnyPool,
    proof: impl Fn(&mut dyn FnMut(merkle::NodeId) -> Hash) -> Vec<Hash>,
) -> Result<Vec<Hash>, sqlx::Error> {
    let mut needed = Vec::new();
    proof(&mut |id| {
        needed.push(id);
        [0; 32]
    });
    needed.sort_unstable();
    needed.dedup();
    let found = nodes(pool, &needed).await?;
    if let Some(missing) = needed.iter().find(|id| !found.contains_key(id)) {
        return Err(sqlx::Error::Protocol(format!(
            "the log's subtree {missing:?} is missing from log_nodes"
        )));
    }
    Ok(proof(&mut |id| found[&id]))
}

/// An event row as stored, for checking.
#[derive(Debug)]
pub struct StoredEvent {
    pub id: i64,
    pub seq: u64,
    pub event: Event,
    pub leaf_hash: String,
    pub root_after: String,
    pub signature: String,
}

const EVENT_COLUMNS: &str = "SELECT id, seq, at_ms, actor, role, action, case_id, object, outcome, \
     source, detail, leaf_hash, root_after, signature FROM events";

/// Every event, in log order.
pub async fn stored_events(pool: &sqlx::AnyPool) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let rows = sqlx::query(&format!("{EVENT_COLUMNS} ORDER BY seq, id"))
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(stored_event_of).collect())
}

/// The event at position `seq`.
pub async fn stored_event(
    pool: &sqlx::AnyPool,
    seq: u64,
) -> Result<Option<StoredEvent>, sqlx::Error> {
    let row = sqlx::query(&format!("{EVENT_COLUMNS} WHERE seq = $1"))
        .bind(crate::db::int(seq))
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(stored_event_of))
}

fn stored_event_of(r: &sqlx::any::AnyRow) -> StoredEvent {
    StoredEvent {
        id: r.get(0),
        seq: r.get::<i64, _>(1) as u64,
        event: Event {
            at_ms: r.get(2),
            actor: r.get(3),
            role: r.get(4),
            action: r.get(5),
            case_id: r.get(6),
            object: r.get(7),
            outcome: r.get(8),
            source: r.get(9),
            detail: r.get(10),
        },
        leaf_hash: r.get(11),
        root_after: r.get(12),
        signature: r.get(13),
    }
}

/// The result of walking the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogReport {
    pub ok: bool,
    /// Events checked.
    pub checked: u64,
    pub problems: Vec<String>,
    /// The checkpoint of the log as it stands (when it checked out).
    pub checkpoint: Option<Checkpoint>,
}

/// Walk the log from the first event, recomputing every leaf and root and checking every signature;
/// stop at the first event that is not what was signed and name it. `receipts` are checkpoints handed
/// out earlier: the log must still extend each of them.
pub fn check_log(
    events: &[StoredEvent],
    origin: &str,
    public_key: &str,
    receipts: &[Checkpoint],
) -> LogReport {
    let mut problems = Vec::new();
    let mut frontier = Frontier::default();
    let mut roots: Vec<Hash> = Vec::with_capacity(events.len());
    for (position, stored) in events.iter().enumerate() {
        let position = position as u64;
        let name = format!(
            "event {} (row {}, {} by {:?} at {})",
            stored.seq,
            stored.id,
            stored.event.action,
            stored.event.actor,
            crate::db::rfc3339(stored.event.at_ms)
        );
        if stored.seq != position {
            problems.push(format!(
                "{name}: expected event {position} here; events are missing, reordered or inserted"
            ));
            break;
        }
        let leaf = merkle::leaf_hash(&leaf_bytes(stored.seq, &stored.event));
        frontier.push(leaf);
        let root = frontier.root();
        let signed = Checkpoint {
            origin: origin.to_owned(),
            size: position + 1,
            root: hex(&root),
            signature: stored.signature.clone(),
            public_key: public_key.to_owned(),
        };
        if hex(&leaf) != stored.leaf_hash || signed.root != stored.root_after {
            problems.push(format!(
                "{name}: its content is not what was logged (edited)"
            ));
            break;
        }
        if signed.verify_signature().is_err() {
            problems.push(format!(
                "{name}: its checkpoint is not signed by the store's key (forged)"
            ));
            break;
        }
        roots.push(root);
    }
    let size = roots.len() as u64;
    if problems.is_empty() {
        for receipt in receipts {
            if let Err(e) = receipt.verify(origin, public_key) {
                problems.push(format!("receipt for size {}: {e}", receipt.size));
                continue;
            }
            if receipt.size > size {
                problems.push(
                    CheckpointError::RolledBack {
                        earlier: receipt.size,
                        now: size,
                    }
                    .to_string(),
                );
            } else if receipt.size > 0 && hex(&roots[(receipt.size - 1) as usize]) != receipt.root {
                problems.push(format!(
                    "receipt for size {}: the log's root at that size differs: the log was rewritten",
                    receipt.size
                ));
            }
        }
    }
    let ok = problems.is_empty();
    LogReport {
        ok,
        checked: size,
        problems,
        checkpoint: (ok && size > 0).then(|| Checkpoint {
            origin: origin.to_owned(),
            size,
            root: hex(roots.last().map_or(&merkle::empty_root(), |r| r)),
            signature: events
                .last()
                .map(|e| e.signature.clone())
                .unwrap_or_default(),
            public_key: public_key.to_owned(),
        }),
    }
}

/// The origin the log's checkpoints name (from its head; `None` for an empty log).
pub async fn logged_origin(pool: &sqlx::AnyPool) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT origin FROM log_head WHERE id = 1")
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The leaf hashes of the first `size` events (for proofs), read from the rows.
pub async fn leaf_hashes(pool: &sqlx::AnyPool, size: u64) -> Result<Vec<Hash>, sqlx::Error> {
    let rows = sqlx::query("SELECT leaf_hash FROM events WHERE seq < $1 ORDER BY seq")
        .bind(crate::db::int(size))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| unhex32(&r.get::<String, _>(0)))
        .collect())
}

/// The checkpoint after event `seq` (tree size `seq + 1`), from its row.
pub async fn checkpoint_at(
    pool: &sqlx::AnyPool,
    signer: &Signer,
    size: u64,
) -> Result<Option<Checkpoint>, sqlx::Error> {
    if size == 0 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT root_after, signature FROM events WHERE seq = $1")
        .bind(crate::db::int(size - 1))
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| Checkpoint {
        origin: signer.origin.clone(),
        size,
        root: r.get(0),
        signature: r.get(1),
        public_key: signer.public_key(),
    }))
}

/// A proof as hex hashes, as the API sends it.
pub fn proof_hex(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(|h| hex(h)).collect()
}

/// A proof as JSON: hex hashes.
pub fn proof_json(proof: &[Hash]) -> Value {
    Value::Array(proof.iter().map(|h| Value::String(hex(h))).collect())
}

/// Hex hashes back into a proof.
pub fn proof_from_json(value: &Value) -> Option<Vec<Hash>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().and_then(unhex32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_gives_the_same_roots_as_the_whole_tree() {
        let leaves: Vec<Hash> = (0u32..100)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut frontier = Frontier::default();
        for (n, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(
                frontier.root(),
                merkle::root(&leaves[..=n]),
                "size {}",
                n + 1
            );
            let again = Frontier::decode(frontier.size, &frontier.encode()).unwrap();
            assert_eq!(again, frontier);
        }
    }

    #[test]
    fn checkpoints_check_origin_key_and_signature() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(&dir.path().join("key"), "court-a").unwrap();
        let other = Signer::load_or_create(&dir.path().join("other"), "court-a").unwrap();
        let root = merkle::leaf_hash(b"x");
        let cp = signer.checkpoint(5, &root);
        assert_eq!(cp.verify("court-a", &signer.public_key()).unwrap(), root);
        assert!(matches!(
            cp.verify("court-b", &signer.public_key()),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        assert!(matches!(
            cp.verify("court-a", &other.public_key()),
            Err(CheckpointError::WrongKey { .. })
        ));
        let forged = Checkpoint {
            public_key: cp.public_key.clone(),
            ..other.checkpoint(5, &root)
        };
        assert_eq!(
            forged.verify("court-a", &signer.public_key()),
            Err(CheckpointError::BadSignature)
        );
        let bigger = Checkpoint {
            size: 6,
            ..cp.clone()
        };
        assert_eq!(
            bigger.verify_signature(),
            Err(CheckpointError::BadSignature),
            "the size is signed"
        );
        // The same key file gives the same key.
        let again = Signer::load_or_create(&dir.path().join("key"), "court-a").unwrap();
        assert_eq!(again.public_key(), signer.public_key());
    }

    #[test]
    fn an_older_tree_presented_as_newer_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(&dir.path().join("key"), "o").unwrap();
        let leaves: Vec<Hash> = (0u32..10)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let old = signer.checkpoint(8, &merkle::root(&leaves[..8]));
        let new = signer.checkpoint(10, &merkle::root(&leaves));
        let proof = merkle::consistency_proof(8, &leaves);
        old.check_extended_by(&new, &proof).unwrap();
        let smaller = signer.checkpoint(5, &merkle::root(&leaves[..5]));
        assert!(matches!(
            old.check_extended_by(&smaller, &[]),
            Err(CheckpointError::RolledBack { earlier: 8, now: 5 })
        ));
        let mut rewritten = leaves.clone();
        rewritten[3] = merkle::leaf_hash(b"forged");
        let fork = signer.checkpoint(10, &merkle::root(&rewritten));
        let fork_proof = merkle::consistency_proof(8, &rewritten);
        assert!(matches!(
            old.check_extended_by(&fork, &fork_proof),
            Err(CheckpointError::Inconsistent(_))
        ));
    }
}
