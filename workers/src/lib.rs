//! Courtyard's background workers. Each job is a small named type with an idempotent
//! handler; the runner drives them until shutdown and lets a running job finish.
//!
//! Today's jobs: housekeeping of spent credentials. The notification pipeline (outbox relay,
//! channel senders, scheduler) lands here next.

pub mod channels;
pub mod jobs;

use std::{sync::Arc, time::Duration};

use courtyard_domain::Clock;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

/// The worker runtime: shared handles for every job.
#[derive(Clone)]
pub struct Workers {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl Workers {
    /// Workers over a (migrated) database.
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Runs every periodic job until `shutdown` turns true; a job in progress finishes first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!("workers started");
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match jobs::housekeeping::run(&self.db, self.clock.now()).await {
                        Ok(report) if report.removed() > 0 => tracing::info!(?report, "housekeeping"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = ?e, "housekeeping failed; retrying next tick"),
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        tracing::info!("workers stopped");
    }
}
