//! The metadata database: SQLite by default, PostgreSQL at scale, one set of queries for both.
//!
//! Queries use `$1`-style parameters, which both SQLite and PostgreSQL understand, and only the types
//! sqlx's `Any` driver carries (BIGINT, TEXT). The two schemas differ in one word: how an id counts up.

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor as _};
use tokio::sync::{Mutex, MutexGuard};

/// Which database the URL named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The pool, and for SQLite the one-writer lock.
#[derive(Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// SQLite allows one writer; a deferred transaction that reads and then writes can fail with
    /// `SQLITE_BUSY` instead of waiting. Writers queue here instead. PostgreSQL needs no such lock.
    write_lock: Option<Mutex<()>>,
}

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS users (
    id {ID},
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    id {ID},
    number TEXT NOT NULL UNIQUE,
    court TEXT NOT NULL,
    title TEXT NOT NULL,
    parties TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS case_members (
    case_id BIGINT NOT NULL REFERENCES cases(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    side TEXT,
    PRIMARY KEY (case_id, user_id)
);
CREATE TABLE IF NOT EXISTS evidence (
    id {ID},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    description TEXT NOT NULL,
    capture TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (case_id, label)
);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    id {ID},
    evidence_id BIGINT NOT NULL REFERENCES evidence(id),
    number BIGINT NOT NULL,
    model_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    manifest_sha256 TEXT REFERENCES blobs(sha256),
    bytes BIGINT NOT NULL,
    filename TEXT NOT NULL,
    uploaded_by BIGINT NOT NULL REFERENCES users(id),
    created_ms BIGINT NOT NULL,
    UNIQUE (evidence_id, number)
);
CREATE TABLE IF NOT EXISTS evidence_files (
    id {ID},
    evidence_id BIGINT NOT NULL REFERENCES evidence(id),
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    filename TEXT NOT NULL,
    uploaded_by BIGINT NOT NULL REFERENCES users(id),
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    case_id BIGINT NOT NULL,
    evidence_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    length BIGINT NOT NULL,
    committed BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    result TEXT
);
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads(id),
    at_offset BIGINT NOT NULL,
    length BIGINT NOT NULL,
    PRIMARY KEY (upload_id, at_offset)
);
CREATE TABLE IF NOT EXISTS shares (
    id {ID},
    token_hash TEXT NOT NULL UNIQUE,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    model_sha256 TEXT NOT NULL,
    other_sha256 TEXT,
    view TEXT,
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    comparison_id BIGINT
);
CREATE TABLE IF NOT EXISTS comparisons (
    id {ID},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    a_sha256 TEXT NOT NULL,
    b_sha256 TEXT NOT NULL,
    report_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    heat_map_sha256 TEXT REFERENCES blobs(sha256),
    summary TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS previews (
    model_sha256 TEXT PRIMARY KEY,
    png_sha256 TEXT NOT NULL REFERENCES blobs(sha256)
);
CREATE TABLE IF NOT EXISTS preview_failures (
    model_sha256 TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS log_nodes (
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS events (
    id {ID},
    seq BIGINT NOT NULL UNIQUE,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    case_id BIGINT,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT NOT NULL,
    leaf_hash TEXT NOT NULL,
    root_after TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS user_keys (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    secret TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS confirmations (
    id {ID},
    version_id BIGINT NOT NULL REFERENCES versions(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    statement TEXT NOT NULL,
    signature TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_held_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS transfers (
    id {ID},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    bundle_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    source_origin TEXT NOT NULL,
    source_key TEXT NOT NULL,
    source_checkpoint TEXT NOT NULL,
    imported_by BIGINT NOT NULL REFERENCES users(id),
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS log_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    frontier TEXT NOT NULL,
    origin TEXT NOT NULL
);
";

impl Db {
    /// Connect (creating the SQLite file when needed) and bring the schema up to date.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            anyhow::bail!("--database {url}: expected sqlite:PATH or postgres://…");
        };
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|e| anyhow::anyhow!("--database {url}: {e}"))?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30));
        if dialect == Dialect::Sqlite {
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    // Durability first: an acknowledged upload must survive a power cut.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    Ok(())
                })
            });
        }
        let pool = pool
            .connect_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("opening the database {url}: {e}"))?;
        let db = Self {
            pool,
            dialect,
            write_lock: (dialect == Dialect::Sqlite).then(|| Mutex::new(())),
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let id = match self.dialect {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        let schema = SCHEMA.replace("{ID}", id);
        let _guard = self.write().await;
        // Several instances may start at once against one PostgreSQL: serialize the DDL.
        let mut tx = self.pool.begin().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7202611)")
                .execute(&mut *tx)
                .await?;
        }
        for statement in schema.split(';').filter(|s| !s.trim().is_empty()) {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(|e| anyhow::anyhow!("creating the schema: {e}\n{statement}"))?;
        }
        // Columns added after a table was first made: a store made by an earlier version gains them.
        for (table, column, kind) in [
            ("shares", "comparison_id", "BIGINT"),
            // Browser sign-in: an argon2id PHC string; NULL for a user who signs in with tokens only.
            ("users", "password_hash", "TEXT"),
            // Tokens named by their holder, and ending: NULL for the first admin's and older tokens.
            ("tokens", "name", "TEXT"),
            ("tokens", "expires_ms", "BIGINT"),
        ] {
            // PostgreSQL says IF NOT EXISTS (a failed probe would abort its transaction); SQLite cannot,
            // so it is probed.
            let add = match self.dialect {
                Dialect::Postgres => true,
                Dialect::Sqlite => sqlx::query(&format!("SELECT {column} FROM {table} LIMIT 0"))
                    .execute(&mut *tx)
                    .await
                    .is_err(),
            };
            let if_missing = if self.dialect == Dialect::Postgres {
                "IF NOT EXISTS "
            } else {
                ""
            };
            if add {
                sqlx::query(&format!(
                    "ALTER TABLE {table} ADD COLUMN {if_missing}{column} {kind}"
                ))
                .execute(&mut *tx)
                .await
                .map_err(|e| anyhow::anyhow!("adding {table}.{column}: {e}"))?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Hold this while writing (SQLite: one writer at a time; PostgreSQL: no-op).
    pub async fn write(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }
}

/// A byte count or offset as the database stores it (BIGINT). Uploads are capped far below 2^63.
pub fn int(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// Record a stored blob (its hash and size) inside the caller's transaction; recording it again changes
/// nothing (blobs are named by their content).
pub async fn record_blob(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sha256: &str,
    bytes: u64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO blobs (sha256, bytes, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(int(bytes))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// RFC 3339 text of a millisecond timestamp, UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
