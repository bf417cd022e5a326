//! The in-process queue for the embedded mode: the same contract as Redis Streams, held in
//! memory. What it holds is lost with the process; the outbox and the delivery rows in the
//! database are what make the embedded mode lossless across restarts.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::{
    DeadJob, Job, Leased, Queue,
    ratelimit::{Limits, Rate, Window},
};

#[derive(Default)]
struct State {
    next_id: u64,
    ready: HashMap<String, VecDeque<(u64, Job)>>,
    leased: HashMap<String, HashMap<u64, (Job, Instant)>>,
    delayed: Vec<(DateTime<Utc>, String, Job)>,
    dead: VecDeque<DeadJob>,
}

/// Dead letters kept, as the Redis queue keeps about as many (`XADD … MAXLEN ~ 100000`):
/// past it the oldest go, so a process that runs for months does not grow without bound.
pub const DEAD_LETTERS_KEPT: usize = 100_000;

/// In-process queue.
pub struct MemoryQueue {
    state: Mutex<State>,
    /// Dead letters kept (the oldest go first).
    dead_kept: usize,
    notify: Notify,
    limits: Mutex<Limits>,
    /// The origin of the rate limits' clock (they run on the monotonic clock).
    started: Instant,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            dead_kept: DEAD_LETTERS_KEPT,
            notify: Notify::new(),
            limits: Mutex::default(),
            started: Instant::now(),
        }
    }
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty queue that keeps at most `kept` dead letters (at least one).
    pub fn with_dead_letters_kept(kept: usize) -> Self {
        Self {
            dead_kept: kept.max(1),
            ..Self::default()
        }
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn push(&self, stream: &str, jobs: &[Job]) -> anyhow::Result<()> {
        {
            let mut state = self.lock();
            for job in jobs {
                state.next_id += 1;
                let id = state.next_id;
                state
                    .ready
                    .entry(stream.to_owned())
                    .or_default()
                    .push_back((id, job.clone()));
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn push_delayed(
        &self,
        stream: &str,
        job: &Job,
        due: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.lock()
            .delayed
            .push((due, stream.to_owned(), job.clone()));
        Ok(())
    }

    async fn promote_due(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let due: Vec<(String, Job)> = {
            let mut state = self.lock();
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.delayed)
                .into_iter()
                .partition(|(at, _, _)| *at <= now);
            state.delayed = later;
            due.into_iter()
                .map(|(_, stream, job)| (stream, job))
                .collect()
        };
        let moved = due.len();
        for (stream, job) in due {
            self.push(&stream, &[job]).await?;
        }
        Ok(moved)
    }

    async fn pull(
        &self,
        stream: &str,
        _consumer: &str,
        max: usize,
        lease: Duration,
        block: Duration,
    ) -> anyhow::Result<Vec<Leased>> {
        let deadline = Instant::now() + block;
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.lock();
                let now = Instant::now();
                let mut out = Vec::new();
                // Reclaim jobs whose consumer never acknowledged them.
                let leased = state.leased.entry(stream.to_owned()).or_default();
                for (id, (job, at)) in leased.iter_mut() {
                    if out.len() < max && now.duration_since(*at) >= lease {
                        *at = now;
                        out.push(Leased {
                            id: id.to_string(),
                            job: job.clone(),
                        });
                    }
                }
                while out.len() < max {
                    let Some((id, job)) = state.ready.get_mut(stream).and_then(VecDeque::pop_front)
                    else {
                        break;
                    };
                    state
                        .leased
                        .entry(stream.to_owned())
                        .or_default()
                        .insert(id, (job.clone(), now));
                    out.push(Leased {
                        id: id.to_string(),
                        job,
                    });
                }
                if !out.is_empty() {
                    return Ok(out);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }

    async fn ack(&self, stream: &str, ids: &[String]) -> anyhow::Result<()> {
        let mut state = self.lock();
        if let Some(leased) = state.leased.get_mut(stream) {
            for id in ids {
                if let Ok(id) = id.parse::<u64>() {
                    leased.remove(&id);
                }
            }
        }
        Ok(())
    }

    async fn dead_letter(&self, stream: &str, job: &Job, reason: &str) -> anyhow::Result<()> {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id.to_string();
        state.dead.push_back(DeadJob {
            id,
            stream: stream.to_owned(),
            job: job.clone(),
            reason: reason.to_owned(),
        });
        while state.dead.len() > self.dead_kept {
            state.dead.pop_front();
        }
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadJob>> {
        Ok(self.lock().dead.iter().take(limit).cloned().collect())
    }

    async fn remove_dead_letter(&self, id: &str) -> anyhow::Result<()> {
        self.lock().dead.retain(|d| d.id != id);
        Ok(())
    }

    async fn backlog(&self, stream: &str) -> anyhow::Result<usize> {
        let state = self.lock();
        Ok(state.ready.get(stream).map_or(0, VecDeque::len)
            + state.leased.get(stream).map_or(0, HashMap::len)
            + state.delayed.iter().filter(|(_, s, _)| s == stream).count())
    }

    async fn reserve_rate(&self, key: &str, rate: Rate, n: u32) -> anyhow::Result<Duration> {
        let now = self.started.elapsed();
        Ok(self.limits().reserve(key, rate, now, n))
    }

    async fn admit_within(
        &self,
        keys: &[String],
        windows: &[Window],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Option<DateTime<Utc>>>> {
        Ok(self.limits().admit(keys, windows, now))
    }
}
