//! The event log's writer: every event is committed before the request that caused it is answered,
//! and events that arrive together are committed together (group commit), so that a busy store pays
//! one fsync per batch instead of one per request. Each event becomes a leaf of the custody log
//! ([`crate::custody`]).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::Db;
use crate::custody::{Event, Signer};
use crate::reserve::Reserve;

type Pending = (Event, oneshot::Sender<Result<(), String>>);

/// The queue to the writer task.
#[derive(Debug, Clone)]
pub struct EventLog {
    queue: mpsc::UnboundedSender<Pending>,
}

/// Most events one transaction takes.
const MAX_BATCH: usize = 512;

impl EventLog {
    /// Start the writer task on the current runtime.
    pub fn start(db: Arc<Db>, signer: Arc<Signer>, reserve: Arc<Reserve>) -> Self {
        let (queue, mut incoming) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match incoming.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let mut result = write_batch(&db, &signer, &batch)
                    .await
                    .map_err(|e| e.to_string());
                // Out of space: spend the reserve on the log, then try once more.
                if result.as_ref().is_err_and(|e| e.contains("full")) && reserve.release() {
                    result = write_batch(&db, &signer, &batch)
                        .await
                        .map_err(|e| e.to_string());
                }
                for (_, done) in batch {
                    let _ = done.send(result.clone());
                }
            }
        });
        Self { queue }
    }

    /// Queue an event and wait until it is committed.
    pub async fn record(&self, event: Event) -> Result<(), String> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send((event, done))
            .map_err(|_| "the event writer has stopped".to_owned())?;
        committed
            .await
            .map_err(|_| "the event writer has stopped".to_owned())?
    }
}

/// Append `event` to the custody log inside the caller's transaction, so that a change and the event recording
/// it commit together or not at all ("what the log cannot record is not done"). The caller holds the write lock
/// (SQLite); on PostgreSQL the log's advisory lock orders concurrent instances.
pub async fn append_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    db: &Db,
    signer: &Signer,
    event: Event,
) -> Result<(), sqlx::Error> {
    tracing::info!(
        actor = event.actor,
        action = event.action,
        case = ?event.case_id,
        object = event.object,
        "event"
    );
    crate::custody::append(
        tx,
        db.dialect == crate::db::Dialect::Postgres,
        signer,
        std::slice::from_ref(&event),
    )
    .await
    .map(|_| ())
}

async fn write_batch(db: &Db, signer: &Signer, batch: &[Pending]) -> Result<(), sqlx::Error> {
    let _guard = db.write().await;
    let mut tx = db.pool.begin().await?;
    let events: Vec<Event> = batch.iter().map(|(e, _)| e.clone()).collect();
    crate::custody::append(
        &mut tx,
        db.dialect == crate::db::Dialect::Postgres,
        signer,
        &events,
    )
    .await?;
    tx.commit().await
}
