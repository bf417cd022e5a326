//! The job registry: every job the workers run, queued or scheduled, in one place.
//!
//! A queued job is a payload type from `domain::jobs` (its kind, shared with the producer
//! that writes it into the outbox) with an idempotent [`Handler`]; the fan-out stream's
//! loop runs each leased job through [`Registry::run`]. A job nobody can run (an unknown
//! kind, an unreadable payload) goes to the dead letters, never the floor. A scheduled job
//! is a [`Scheduled`] that the scheduler runs every tick while it holds the lease.

use std::{collections::BTreeMap, future::Future, pin::Pin};

use async_trait::async_trait;
use courtyard_domain::jobs::{
    BillRun, BillsIssued, NoticeFanout, OutboxJob, PaymentReceived, TicketNotify,
};

use crate::{
    jobs,
    pipeline::Pipeline,
    queue::{Job, streams},
};

/// The idempotent handler of a queued job's payload.
#[async_trait]
pub trait Handler: OutboxJob + Send + Sync + 'static {
    /// Runs the job; an error leaves it unacknowledged, to be reclaimed and run again.
    async fn handle(self, p: &Pipeline) -> anyhow::Result<()>;
}

#[async_trait]
impl Handler for NoticeFanout {
    async fn handle(self, p: &Pipeline) -> anyhow::Result<()> {
        jobs::fanout::run(p, &self).await
    }
}

#[async_trait]
impl Handler for TicketNotify {
    async fn handle(self, p: &Pipeline) -> anyhow::Result<()> {
        jobs::ticket_notify::run(p, &self).await
    }
}

#[async_trait]
impl Handler for BillRun {
    async fn handle(self, p: &Pipeline) -> anyhow::Result<()> {
        jobs::bills::run(p, &self).await
    }
}

#[async_trait]
impl Handler for BillsIssued {
    async fn handle(self, p: &Pipeline) -> anyhow::Result<()> {
        jobs::bills::issued(p, &self).await
    }
}

#[async_trait]
impl Handler for PaymentReceived {
    async fn handle(self, p: &Pipeline) -> anyhow::Result<()> {
        jobs::bills::received(p, &self).await
    }
}

/// A job the scheduler runs every tick under the lease.
#[async_trait]
pub trait Scheduled: Send + Sync {
    /// Its name in logs.
    fn name(&self) -> &'static str;
    /// Does what is due now; returns how much it did.
    async fn run_once(&self, p: &Pipeline) -> anyhow::Result<usize>;
}

struct Birthdays;

#[async_trait]
impl Scheduled for Birthdays {
    fn name(&self) -> &'static str {
        jobs::birthdays::NAME
    }
    async fn run_once(&self, p: &Pipeline) -> anyhow::Result<usize> {
        jobs::birthdays::run_once(p).await
    }
}

struct SlaWatch;

#[async_trait]
impl Scheduled for SlaWatch {
    fn name(&self) -> &'static str {
        jobs::sla_watch::NAME
    }
    async fn run_once(&self, p: &Pipeline) -> anyhow::Result<usize> {
        jobs::sla_watch::run_once(p).await
    }
}

struct PaymentsReconcile;

#[async_trait]
impl Scheduled for PaymentsReconcile {
    fn name(&self) -> &'static str {
        jobs::payments_reconcile::NAME
    }
    async fn run_once(&self, p: &Pipeline) -> anyhow::Result<usize> {
        jobs::payments_reconcile::run_once(p).await
    }
}

struct BookingExpiry;

#[async_trait]
impl Scheduled for BookingExpiry {
    fn name(&self) -> &'static str {
        jobs::bookings::NAME
    }
    async fn run_once(&self, p: &Pipeline) -> anyhow::Result<usize> {
        jobs::bookings::run_once(p).await
    }
}

struct PackageVisits;

#[async_trait]
impl Scheduled for PackageVisits {
    fn name(&self) -> &'static str {
        jobs::packages::NAME
    }
    async fn run_once(&self, p: &Pipeline) -> anyhow::Result<usize> {
        jobs::packages::run_once(p).await
    }
}

struct Privacy;

#[async_trait]
impl Scheduled for Privacy {
    fn name(&self) -> &'static str {
        jobs::privacy::NAME
    }
    async fn run_once(&self, p: &Pipeline) -> anyhow::Result<usize> {
        jobs::privacy::run_once(p).await
    }
}

struct FeeReminders;

#[async_trait]
impl Scheduled for FeeReminders {
    fn name(&self) -> &'static str {
        jobs::reminders::NAME
    }
    async fn run_once(&self, p: &Pipeline) -> anyhow::Result<usize> {
        jobs::reminders::run_once(p).await
    }
}

type BoxedRun = for<'a> fn(
    &'a Pipeline,
    serde_json::Value,
) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;

/// Why a queued job did not finish.
#[derive(Debug)]
pub enum Failure {
    /// Nothing can run it (unknown kind, unreadable payload): dead-letter it.
    Unrunnable(String),
    /// Its handler failed: leave it to be reclaimed and retried.
    Failed(anyhow::Error),
}

fn run_as<J: Handler>(
    p: &Pipeline,
    payload: serde_json::Value,
) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + '_>> {
    Box::pin(async move {
        let job: J = serde_json::from_value(payload)
            .map_err(|e| Failure::Unrunnable(format!("unreadable {} payload: {e}", J::KIND)))?;
        job.handle(p).await.map_err(Failure::Failed)
    })
}

/// Every queued and scheduled job.
pub struct Registry {
    queued: BTreeMap<&'static str, BoxedRun>,
    scheduled: Vec<Box<dyn Scheduled>>,
}

impl Registry {
    /// The workers' jobs.
    pub fn standard() -> Self {
        let mut registry = Self {
            queued: BTreeMap::new(),
            scheduled: vec![
                Box::new(Birthdays),
                Box::new(SlaWatch),
                Box::new(PaymentsReconcile),
                Box::new(FeeReminders),
                Box::new(BookingExpiry),
                Box::new(PackageVisits),
                Box::new(Privacy),
            ],
        };
        registry.register::<NoticeFanout>();
        registry.register::<TicketNotify>();
        registry.register::<BillRun>();
        registry.register::<BillsIssued>();
        registry.register::<PaymentReceived>();
        registry
    }

    fn register<J: Handler>(&mut self) {
        self.queued.insert(J::KIND, run_as::<J>);
    }

    /// The kinds of queued job it runs.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.queued.keys().copied()
    }

    /// Runs one queued job by its kind.
    pub async fn run(&self, p: &Pipeline, job: &Job) -> Result<(), Failure> {
        match self.queued.get(job.kind.as_str()) {
            Some(run) => run(p, job.payload.clone()).await,
            None => Err(Failure::Unrunnable(format!(
                "no handler for job kind `{}`",
                job.kind
            ))),
        }
    }

    /// Runs one leased fan-out job to its end: acknowledged when done, dead-lettered (then
    /// acknowledged) when nothing can run it, left for reclaiming when its handler failed.
    pub async fn settle(&self, p: &Pipeline, id: String, job: &Job) {
        let ack = match self.run(p, job).await {
            Ok(()) => true,
            Err(Failure::Unrunnable(reason)) => {
                tracing::error!(kind = %job.kind, %reason, "job cannot run; dead-lettered");
                match p.queue.dead_letter(streams::FANOUT, job, &reason).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = ?e, "dead-lettering failed; the job will come back");
                        false
                    }
                }
            }
            // Left unacknowledged, the job is reclaimed after the lease and runs again.
            Err(Failure::Failed(e)) => {
                tracing::error!(kind = %job.kind, error = ?e, "job failed; it will be retried");
                false
            }
        };
        if ack && let Err(e) = p.queue.ack(streams::FANOUT, &[id]).await {
            tracing::warn!(error = ?e, "ack failed; the job will run again (idempotent)");
        }
    }

    /// Runs every scheduled job once, each on its own: a failing one does not hold up the
    /// others.
    pub async fn run_scheduled(&self, p: &Pipeline) {
        for job in &self.scheduled {
            if let Err(e) = job.run_once(p).await {
                tracing::warn!(job = job.name(), error = ?e, "job failed; retrying next tick");
            }
        }
    }
}
