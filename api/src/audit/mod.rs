//! The audit trail as the API writes it. A write handler records its entry on the
//! transaction of the write ([`courtyard_store::audit::record`]); a staff read of a resident's
//! personal data is handed to the [`ReadTrail`], which stores reads in batches off the
//! request path. [`log`] is how admins and supervisors read the trail back.

pub mod log;

use std::time::Duration;

use chrono::{DateTime, Utc};
use courtyard_store::audit::{self, Entry, Origin};
use poem::Request;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

use crate::{client_ip::ProxyTrust, telemetry::RequestId};

/// The request's id and client address (behind `proxies`), as of `at`.
pub fn origin_of(proxies: &ProxyTrust, req: &Request, at: DateTime<Utc>) -> Origin {
    Origin {
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        client_ip: Some(proxies.client_of(req).to_string()),
        at,
    }
}

/// How many reads wait for the writer before a read waits for room.
const QUEUE: usize = 10_000;
/// The most reads one statement stores.
const BATCH: usize = 500;
/// How long the writer gathers reads after the first of a batch.
const GATHER: Duration = Duration::from_millis(50);

/// Staff reads of personal data on their way to the trail. Recording one costs a channel
/// send; a background task stores them in multi-row inserts. A full queue makes readers
/// wait (reads are never dropped); a database error is retried, then logged with the
/// number of entries it lost.
#[derive(Clone)]
pub struct ReadTrail {
    tx: mpsc::Sender<Entry>,
}

impl ReadTrail {
    /// Starts the writer on `db`.
    pub fn spawn(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_reads(db, rx));
        Self { tx }
    }

    /// Queues a read's entry.
    pub async fn record(&self, entry: Entry) {
        if let Err(mpsc::error::TrySendError::Full(entry)) = self.tx.try_send(entry) {
            metrics::counter!("audit_read_queue_full_total").increment(1);
            let _ = self.tx.send(entry).await;
        }
    }
}

async fn write_reads(db: DatabaseConnection, mut rx: mpsc::Receiver<Entry>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(entry)) => batch.push(entry),
                Ok(None) | Err(_) => break,
            }
        }
        let mut stored = false;
        for attempt in 0..3u32 {
            match audit::record_many(&db, &batch).await {
                Ok(()) => {
                    stored = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, entries = batch.len(), "storing audit reads failed");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        if stored {
            metrics::counter!("audit_reads_stored_total").increment(batch.len() as u64);
        } else {
            metrics::counter!("audit_reads_lost_total").increment(batch.len() as u64);
            tracing::error!(entries = batch.len(), "audit reads could not be stored");
        }
        batch.clear();
    }
}
