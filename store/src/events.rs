//! The event log's writer: every event is committed before the request that caused it is answered,
//! and events that arrive together are committed together (group commit), so that a busy store pays
//! one fsync per batch instead of one per request.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::Db;

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
    pub fn start(db: Arc<Db>) -> Self {
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
                let result = write_batch(&db, &batch).await.map_err(|e| e.to_string());
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

async fn write_batch(db: &Db, batch: &[Pending]) -> Result<(), sqlx::Error> {
    let _guard = db.write().await;
    let mut tx = db.pool.begin().await?;
    for (event, _) in batch {
        sqlx::query(
            "INSERT INTO events (at_ms, actor, role, action, case_id, object, outcome, source, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(event.at_ms)
        .bind(&event.actor)
        .bind(&event.role)
        .bind(&event.action)
        .bind(event.case_id)
        .bind(&event.object)
        .bind(&event.outcome)
        .bind(&event.source)
        .bind(&event.detail)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
