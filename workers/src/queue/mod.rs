//! The job queue between outbox relay, fan-out and channel senders: Redis Streams with
//! consumer groups (production) or an in-process queue with the same contract (embedded).
//!
//! Contract: `push` appends; `pull` leases up to `max` jobs to a consumer, first reclaiming
//! jobs leased longer than `lease` ago by consumers that died (`XAUTOCLAIM`); `ack` removes
//! them; `push_delayed` parks a job until a time (retries, quiet hours) and `promote_due`
//! moves due ones back; `dead_letter` keeps jobs that ran out of attempts. Delivery is
//! at-least-once: handlers are idempotent, and the database outbox and delivery rows stay
//! the source of truth when the queue loses anything.
//!
//! The queue also keeps the state of the senders' rate limits (`reserve_rate`,
//! `admit_within`), so a limit holds across exactly the processes that share the queue:
//! every worker on one Redis, or the one process of the in-process queue.

mod memory;
pub mod ratelimit;
mod redis_streams;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use memory::{DEAD_LETTERS_KEPT, MemoryQueue};
pub use ratelimit::{Rate, Window};
pub use redis_streams::RedisQueue;

/// A unit of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// What handler runs it (`notice.fanout`, `send`).
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
}

/// A job leased to a consumer, with the id to acknowledge it by.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    /// Queue-specific id (a stream entry id).
    pub id: String,
    /// The job.
    pub job: Job,
}

/// A job that ran out of attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadJob {
    /// Queue-specific id.
    pub id: String,
    /// The stream it came from.
    pub stream: String,
    /// The job.
    pub job: Job,
    /// Why it died.
    pub reason: String,
}

/// Streams, one per kind of work and channel.
pub mod streams {
    /// Notice fan-out jobs.
    pub const FANOUT: &str = "fanout";
    /// The stream a channel's send jobs go to.
    pub fn send(channel: &str) -> String {
        format!("send.{channel}")
    }
}

/// The queue contract.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Appends jobs to `stream`.
    async fn push(&self, stream: &str, jobs: &[Job]) -> anyhow::Result<()>;
    /// Parks a job until `due`.
    async fn push_delayed(&self, stream: &str, job: &Job, due: DateTime<Utc>)
    -> anyhow::Result<()>;
    /// Parks many jobs, each `(stream, job, due)`.
    async fn push_delayed_many(&self, jobs: &[(String, Job, DateTime<Utc>)]) -> anyhow::Result<()> {
        for (stream, job, due) in jobs {
            self.push_delayed(stream, job, *due).await?;
        }
        Ok(())
    }
    /// Moves parked jobs due by `now` to their streams; returns how many moved.
    async fn promote_due(&self, now: DateTime<Utc>) -> anyhow::Result<usize>;
    /// Leases up to `max` jobs (reclaiming those leased more than `lease` ago), waiting up to
    /// `block` when there are none.
    async fn pull(
        &self,
        stream: &str,
        consumer: &str,
        max: usize,
        lease: Duration,
        block: Duration,
    ) -> anyhow::Result<Vec<Leased>>;
    /// As [`pull`](Self::pull), each job as its JSON text (a serialized [`Job`]), for
    /// consumers that read the payload straight into their own type.
    async fn pull_json(
        &self,
        stream: &str,
        consumer: &str,
        max: usize,
        lease: Duration,
        block: Duration,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let leased = self.pull(stream, consumer, max, lease, block).await?;
        leased
            .into_iter()
            .map(|l| Ok((l.id, serde_json::to_string(&l.job)?)))
            .collect()
    }
    /// As [`push`](Self::push), each job given as its JSON text (a serialized [`Job`]), for
    /// producers that write the payload straight from their own type.
    async fn push_json(&self, stream: &str, jobs: &[String]) -> anyhow::Result<()> {
        let jobs = jobs
            .iter()
            .map(|job| serde_json::from_str::<Job>(job))
            .collect::<Result<Vec<_>, _>>()?;
        self.push(stream, &jobs).await
    }
    /// Acknowledges finished jobs.
    async fn ack(&self, stream: &str, ids: &[String]) -> anyhow::Result<()>;
    /// Keeps a job that ran out of attempts.
    async fn dead_letter(&self, stream: &str, job: &Job, reason: &str) -> anyhow::Result<()>;
    /// The dead-lettered jobs, oldest first.
    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadJob>>;
    /// Removes a dead letter (after a replay).
    async fn remove_dead_letter(&self, id: &str) -> anyhow::Result<()>;
    /// Jobs waiting or leased in `stream` plus parked ones: zero once everything is done.
    async fn backlog(&self, stream: &str) -> anyhow::Result<usize>;
    /// Reserves `n` sends under `rate`, on one schedule (kept under `key`) for every process
    /// sharing this queue; returns how long to wait before making them. It never refuses:
    /// each caller waits its turn behind the reservations made before it.
    async fn reserve_rate(&self, key: &str, rate: Rate, n: u32) -> anyhow::Result<Duration>;
    /// For each of `keys` in turn (a key may repeat), records a send at `now` if every one of
    /// `windows` has room for it under that key and answers `None`; else records nothing
    /// and answers when the send may go.
    async fn admit_within(
        &self,
        keys: &[String],
        windows: &[Window],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Option<DateTime<Utc>>>>;
    /// Tells other processes (the API's `/readyz` and `/metrics`) that `channel`'s circuit
    /// is open, until `ttl` passes without news, or closed (`None`). The in-process queue
    /// has no other process to tell: its API reads the circuits themselves.
    async fn publish_circuit(
        &self,
        _channel: &str,
        _open: Option<&courtyard_domain::circuits::OpenCircuit>,
        _ttl: Duration,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}
