//! Courtyard's background workers: the outbox relay, notice fan-out and ticket
//! notifications, one sender per channel, the delayed-job promoter, the sweeper that
//! re-enqueues what a queue lost, the scheduler (birthdays, SLA watch) and housekeeping.
//! Each job is a small module under [`jobs`] with an idempotent handler; the runner drives
//! them until shutdown and lets a batch in progress finish.

mod circuit;
pub mod deliver;
mod fallback;
pub mod jobs;
pub mod lease;
pub mod pipeline;
pub mod queue;
pub mod registry;

use std::time::Duration;

use std::sync::Arc;

use tokio::{sync::watch, task::JoinSet};

use crate::{
    lease::{Lease, LocalLease},
    registry::Registry,
};

pub use crate::pipeline::Pipeline;
use crate::queue::streams;

/// Channels that have a sender (and a circuit breaker).
pub const CHANNELS: [&str; 4] = courtyard_domain::circuits::CHANNELS;

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
        // The scheduler: one process at a time holds the lease and runs the registered jobs.
        let registry = Arc::new(Registry::standard());
        let (p, lease, jobs) = (self.pipeline.clone(), self.lease.clone(), registry.clone());
        let tick = Duration::from_millis(self.pipeline.settings.sweep_interval_ms.max(10));
        let ttl = (tick * 3).max(Duration::from_secs(10));
        tasks.spawn(every(tick, shutdown.clone(), "scheduler", move || {
            let (p, lease, jobs) = (p.clone(), lease.clone(), jobs.clone());
            async move {
                if lease.hold(ttl).await? {
                    jobs.run_scheduled(&p).await;
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
                    let report =
                        jobs::housekeeping::run(&p.db, p.clock.now(), &p.retention).await?;
                    if report.removed() > 0 {
                        tracing::info!(?report, "housekeeping removed old records");
                    }
                    Ok(())
                }
            },
        ));
        let (p, consumer, stop) = (
            self.pipeline.clone(),
            self.consumer.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move { fanout_loop(p, registry, consumer, stop).await });
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

async fn fanout_loop(
    p: Pipeline,
    registry: Arc<Registry>,
    consumer: String,
    shutdown: watch::Receiver<bool>,
) {
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
            registry.settle(&p, job.id, &job.job).await;
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
