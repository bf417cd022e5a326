//! Courtyard's background workers: the outbox relay, notice fan-out and ticket
//! notifications, one sender per channel, the delayed-job promoter, the sweeper that
//! re-enqueues what a queue lost, the scheduler (birthdays, SLA watch) and housekeeping.
//! Each job is a small module under [`jobs`] with an idempotent handler; the runner drives
//! them until shutdown and lets a batch in progress finish.

pub mod deliver;
pub mod jobs;
pub mod lease;
pub mod pipeline;
pub mod queue;

use std::time::Duration;

use std::sync::Arc;

use tokio::{sync::watch, task::JoinSet};

use crate::lease::{Lease, LocalLease};

pub use crate::pipeline::Pipeline;
use crate::queue::streams;

/// Channels that have a sender.
pub const CHANNELS: [&str; 4] = ["apns", "fcm", "sms", "wechat"];

/// The worker runtime.
#[derive(Clone)]
pub struct Workers {
    pipeline: Pipeline,
    consumer: String,
    lease: Arc<dyn Lease>,
}

impl Workers {
    /// Workers over a (migrated) database and a queue.
    pub fn new(pipeline: Pipeline) -> Self {
        let consumer = format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple());
        Self {
            pipeline,
            consumer,
            lease: Arc::new(LocalLease),
        }
    }

    /// Shares the scheduler role with other processes through `lease`.
    pub fn with_lease(mut self, lease: Arc<dyn Lease>) -> Self {
        self.lease = lease;
        self
    }

    /// This process's consumer name (stream consumer, lease holder).
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The shared pipeline handles.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Runs every job until `shutdown` turns true; batches in progress finish first.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        tracing::info!(consumer = %self.consumer, "workers started");
        let mut tasks = JoinSet::new();
        let p = self.pipeline.clone();
        tasks.spawn(every(
            Duration::from_millis(100),
            shutdown.clone(),
            jobs::relay::NAME,
            move || {
                let p = p.clone();
                async move { jobs::relay::run_once(&p).await.map(|_| ()) }
            },
        ));
        let p = self.pipeline.clone();
        tasks.spawn(every(
            Duration::from_millis(250),
            shutdown.clone(),
            "delayed_promoter",
            move || {
                let p = p.clone();
                async move { p.queue.promote_due(p.clock.now()).await.map(|_| ()) }
            },
        ));
        let p = self.pipeline.clone();
        tasks.spawn(every(
            Duration::from_millis(self.pipeline.settings.sweep_interval_ms.max(10)),
            shutdown.clone(),
            jobs::sweeper::NAME,
            move || {
                let p = p.clone();
                async move { jobs::sweeper::run_once(&p).await.map(|_| ()) }
            },
        ));
        // The scheduler: one process at a time holds the lease and runs the day's jobs.
        let (p, lease) = (self.pipeline.clone(), self.lease.clone());
        let tick = Duration::from_millis(self.pipeline.settings.sweep_interval_ms.max(10));
        let ttl = (tick * 3).max(Duration::from_secs(10));
        tasks.spawn(every(tick, shutdown.clone(), "scheduler", move || {
            let (p, lease) = (p.clone(), lease.clone());
            async move {
                if !lease.hold(ttl).await? {
                    return Ok(());
                }
                // Each on its own: a failing one does not hold up the other.
                let birthdays = jobs::birthdays::run_once(&p).await.map(|_| ());
                let sla = jobs::sla_watch::run_once(&p).await.map(|_| ());
                for (job, result) in [
                    (jobs::birthdays::NAME, birthdays),
                    (jobs::sla_watch::NAME, sla),
                ] {
                    if let Err(e) = result {
                        tracing::warn!(job, error = ?e, "job failed; retrying next tick");
                    }
                }
                Ok(())
            }
        }));
        let p = self.pipeline.clone();
        tasks.spawn(every(
            Duration::from_secs(600),
            shutdown.clone(),
            jobs::housekeeping::NAME,
            move || {
                let p = p.clone();
                async move {
                    jobs::housekeeping::run(&p.db, p.clock.now())
                        .await
                        .map(|_| ())
                }
            },
        ));
        let (p, consumer, stop) = (
            self.pipeline.clone(),
            self.consumer.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move { fanout_loop(p, consumer, stop).await });
        for channel in CHANNELS {
            let (p, consumer, stop) = (
                self.pipeline.clone(),
                self.consumer.clone(),
                shutdown.clone(),
            );
            tasks.spawn(async move { send_loop(p, channel, consumer, stop).await });
        }
        while tasks.join_next().await.is_some() {}
        tracing::info!("workers stopped");
    }
}

async fn every<F, Fut>(
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
    name: &'static str,
    mut run: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = run().await {
                    tracing::warn!(job = name, error = ?e, "job failed; retrying next tick");
                }
            }
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
}

async fn fanout_loop(p: Pipeline, consumer: String, shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        let leased = match p
            .queue
            .pull(
                streams::FANOUT,
                &consumer,
                1,
                Duration::from_millis(p.settings.lease_ms),
                Duration::from_millis(500),
            )
            .await
        {
            Ok(leased) => leased,
            Err(e) => {
                tracing::warn!(error = ?e, "fan-out queue unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for job in leased {
            let result = run_fanout_job(&p, &job.job).await;
            match result {
                Ok(()) => {
                    if let Err(e) = p.queue.ack(streams::FANOUT, &[job.id]).await {
                        tracing::warn!(error = ?e, "fan-out ack failed; the job will run again (idempotent)");
                    }
                }
                // Left unacknowledged, the job is reclaimed after the lease and runs again.
                Err(e) => tracing::error!(error = ?e, "fan-out failed; it will be retried"),
            }
        }
    }
}

/// Runs one job of the fan-out stream by its kind.
async fn run_fanout_job(p: &Pipeline, job: &queue::Job) -> anyhow::Result<()> {
    fn input<T: serde::de::DeserializeOwned>(job: &queue::Job) -> anyhow::Result<T> {
        serde_json::from_value(job.payload.clone())
            .map_err(|e| anyhow::anyhow!("unreadable {} job: {e}", job.kind))
    }
    match job.kind.as_str() {
        jobs::relay::NOTICE_FANOUT => jobs::fanout::run(p, &input(job)?).await,
        jobs::relay::TICKET_NOTIFY => jobs::ticket_notify::run(p, &input(job)?).await,
        other => {
            // Nothing here can run it; retrying would only keep it at the head of the stream.
            tracing::error!(kind = other, "unknown fan-out job kind; dropped");
            Ok(())
        }
    }
}

async fn send_loop(
    p: Pipeline,
    channel: &'static str,
    consumer: String,
    shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        if let Err(e) =
            jobs::send::run_batch(&p, channel, &consumer, Duration::from_millis(500)).await
        {
            tracing::warn!(channel, error = ?e, "send batch failed; its jobs will be reclaimed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into())
}
