//! Redis Streams queue: one stream per kind of work, one consumer group (`workers`) that
//! every worker process joins, `XAUTOCLAIM` for jobs of crashed consumers, a sorted set for
//! delayed jobs and a dead-letter stream. Keys carry the configured prefix.

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::{
    Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
    streams::{StreamAutoClaimReply, StreamId, StreamReadReply},
};

use tokio::sync::Mutex;

use super::{
    DeadJob, Job, Leased, Queue,
    ratelimit::{Rate, Window, longest_ms},
};

const GROUP: &str = "workers";

/// Moves due members of the delayed set into their streams, atomically.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
for _, member in ipairs(due) do
  local sep = string.find(member, '|', 1, true)
  local stream = string.sub(member, 1, sep - 1)
  local rest = string.sub(member, sep + 1)
  local sep2 = string.find(rest, '|', 1, true)
  local job = string.sub(rest, sep2 + 1)
  redis.call('XADD', ARGV[2] .. 'stream:' .. stream, '*', 'job', job)
  redis.call('ZREM', KEYS[1], member)
end
return #due
";

/// [`Gcra::reserve`](super::ratelimit::Gcra::reserve) on the server's clock, so every
/// process follows one schedule: KEYS[1] holds the theoretical arrival time (µs); ARGV are
/// the interval and the burst tolerance (µs) and the sends to reserve. Returns the wait in
/// µs. (Times are doubles in Lua: µs since the epoch stay well inside their 2^53.)
const RESERVE: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = tat + tonumber(ARGV[3]) * tonumber(ARGV[1])
-- Once the schedule has caught up with the clock the key carries nothing: let it go.
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
local wait = tat - tonumber(ARGV[2]) - now
if wait < 0 then return 0 end
return math.ceil(wait)
";

/// [`SendLog::admit`](super::ratelimit::SendLog::admit) for each key in turn: KEYS are
/// sorted sets of send times (ms); ARGV[1] is now (ms), ARGV[2] the number of windows, then
/// each window's limit and length (ms), then the longest length, then one unique member per
/// key. Returns per key 0 (recorded) or when the send may go (ms).
const ADMIT: &str = r"
local now = tonumber(ARGV[1])
local windows = tonumber(ARGV[2])
local longest = tonumber(ARGV[3 + 2 * windows])
local verdicts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - longest)
  local free_at = 0
  for w = 1, windows do
    local limit = tonumber(ARGV[1 + 2 * w])
    local length = tonumber(ARGV[2 + 2 * w])
    local since = '(' .. string.format('%.0f', now - length)
    local inside = redis.call('ZCOUNT', key, since, '+inf')
    if inside >= limit then
      local edge = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', inside - limit, 1)
      local leaves = tonumber(edge[2]) + length
      if leaves > free_at then free_at = leaves end
    end
  end
  if free_at == 0 then
    redis.call('ZADD', key, now, ARGV[3 + 2 * windows + i])
    redis.call('PEXPIRE', key, longest)
  end
  verdicts[i] = free_at
end
return verdicts
";

/// Redis Streams queue.
#[derive(Clone)]
pub struct RedisQueue {
    client: redis::Client,
    conn: ConnectionManager,
    /// Blocking reads hold their connection for up to `block`; each (stream, consumer) gets
    /// its own so they never stall each other or the other commands.
    blocking: Arc<Mutex<HashMap<(String, String), ConnectionManager>>>,
    prefix: String,
    promote: Script,
    reserve: Script,
    admit: Script,
}

impl RedisQueue {
    /// A queue on `client` whose keys start with `prefix`.
    pub async fn connect(client: redis::Client, prefix: &str) -> anyhow::Result<Self> {
        // Requests go out at once: with Nagle's algorithm on (the redis crate's default) a
        // pipeline of a batch's jobs can wait for the server's delayed ACK, 40 ms.
        let info = client.get_connection_info().clone();
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let client =
            redis::Client::open(info.set_tcp_settings(tcp)).context("Redis connection settings")?;
        let conn = ConnectionManager::new(client.clone())
            .await
            .context("connecting to Redis")?;
        Ok(Self {
            client,
            conn,
            blocking: Arc::default(),
            prefix: prefix.to_owned(),
            promote: Script::new(PROMOTE),
            reserve: Script::new(RESERVE),
            admit: Script::new(ADMIT),
        })
    }

    async fn blocking_conn(
        &self,
        key: &str,
        consumer: &str,
        block: Duration,
    ) -> anyhow::Result<ConnectionManager> {
        let mut conns = self.blocking.lock().await;
        let slot = (key.to_owned(), consumer.to_owned());
        if let Some(conn) = conns.get(&slot) {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(block + Duration::from_secs(5)));
        let conn = ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .context("connecting to Redis for blocking reads")?;
        conns.insert(slot, conn.clone());
        Ok(conn)
    }

    fn stream_key(&self, stream: &str) -> String {
        format!("{}stream:{stream}", self.prefix)
    }

    fn delayed_key(&self) -> String {
        format!("{}delayed", self.prefix)
    }

    fn dead_key(&self) -> String {
        format!("{}dead", self.prefix)
    }

    fn limit_key(&self, key: &str) -> String {
        format!("{}limit:{key}", self.prefix)
    }

    /// Leases up to `max` stream entries: reclaimed ones first, else new ones.
    async fn pull_entries(
        &self,
        stream: &str,
        consumer: &str,
        max: usize,
        lease: Duration,
        block: Duration,
    ) -> anyhow::Result<Vec<StreamId>> {
        let key = self.stream_key(stream);
        let mut conn = self.conn.clone();
        let reclaimed: redis::RedisResult<StreamAutoClaimReply> = redis::cmd("XAUTOCLAIM")
            .arg(&key)
            .arg(GROUP)
            .arg(consumer)
            .arg(lease.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut conn)
            .await;
        let reclaimed = match reclaimed {
            Ok(reply) => reply.claimed,
            Err(e) if e.to_string().contains("NOGROUP") => {
                self.ensure_group(&key).await?;
                Vec::new()
            }
            Err(e) => return Err(e).context("XAUTOCLAIM"),
        };
        if !reclaimed.is_empty() {
            tracing::info!(
                stream,
                count = reclaimed.len(),
                "reclaimed jobs of a stalled consumer"
            );
            return Ok(reclaimed);
        }
        let mut conn = self.blocking_conn(&key, consumer, block).await?;
        let read: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(">")
            .query_async(&mut conn)
            .await;
        match read {
            Ok(reply) => Ok(reply
                .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                .unwrap_or_default()),
            Err(e) if e.to_string().contains("NOGROUP") => {
                self.ensure_group(&key).await?;
                Ok(Vec::new())
            }
            Err(e) => Err(e).context("XREADGROUP"),
        }
    }

    async fn ensure_group(&self, key: &str) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(key)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(e).context("creating the consumer group"),
        }
    }
}

/// `stream|unique|job`: the unique middle part keeps two equal jobs from collapsing into
/// one member of the delayed set.
fn delayed_member(stream: &str, job: &Job) -> anyhow::Result<String> {
    Ok(format!(
        "{stream}|{}|{}",
        uuid::Uuid::new_v4().simple(),
        serde_json::to_string(job)?
    ))
}

fn leased(entries: Vec<StreamId>) -> Vec<Leased> {
    entries
        .into_iter()
        .filter_map(|entry| {
            let raw: String = entry.get("job")?;
            match serde_json::from_str::<Job>(&raw) {
                Ok(job) => Some(Leased { id: entry.id, job }),
                Err(e) => {
                    tracing::error!(id = %entry.id, error = %e, "unreadable job skipped");
                    None
                }
            }
        })
        .collect()
}

#[async_trait]
impl Queue for RedisQueue {
    async fn push(&self, stream: &str, jobs: &[Job]) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let key = self.stream_key(stream);
        let mut pipe = redis::pipe();
        for job in jobs {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg("job")
                .arg(serde_json::to_string(job)?)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.context("XADD")?;
        Ok(())
    }

    async fn push_delayed(
        &self,
        stream: &str,
        job: &Job,
        due: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let member = delayed_member(stream, job)?;
        let mut conn = self.conn.clone();
        redis::cmd("ZADD")
            .arg(self.delayed_key())
            .arg(due.timestamp_millis())
            .arg(member)
            .query_async::<()>(&mut conn)
            .await
            .context("ZADD")?;
        Ok(())
    }

    async fn push_delayed_many(&self, jobs: &[(String, Job, DateTime<Utc>)]) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (stream, job, due) in jobs {
            pipe.cmd("ZADD")
                .arg(self.delayed_key())
                .arg(due.timestamp_millis())
                .arg(delayed_member(stream, job)?)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.context("ZADD")?;
        Ok(())
    }

    async fn promote_due(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let mut conn = self.conn.clone();
        let moved: usize = self
            .promote
            .key(self.delayed_key())
            .arg(now.timestamp_millis())
            .arg(&self.prefix)
            .invoke_async(&mut conn)
            .await
            .context("promoting delayed jobs")?;
        Ok(moved)
    }

    async fn pull(
        &self,
        stream: &str,
        consumer: &str,
        max: usize,
        lease: Duration,
        block: Duration,
    ) -> anyhow::Result<Vec<Leased>> {
        let entries = self
            .pull_entries(stream, consumer, max, lease, block)
            .await?;
        Ok(leased(entries))
    }

    async fn pull_json(
        &self,
        stream: &str,
        consumer: &str,
        max: usize,
        lease: Duration,
        block: Duration,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let entries = self
            .pull_entries(stream, consumer, max, lease, block)
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let raw: String = entry.get("job")?;
                Some((entry.id, raw))
            })
            .collect())
    }

    async fn push_json(&self, stream: &str, jobs: &[String]) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let key = self.stream_key(stream);
        let mut pipe = redis::pipe();
        for job in jobs {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg("job")
                .arg(job)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.context("XADD")?;
        Ok(())
    }

    async fn ack(&self, stream: &str, ids: &[String]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let key = self.stream_key(stream);
        let mut pipe = redis::pipe();
        pipe.cmd("XACK").arg(&key).arg(GROUP).arg(ids).ignore();
        pipe.cmd("XDEL").arg(&key).arg(ids).ignore();
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.context("XACK")?;
        Ok(())
    }

    async fn dead_letter(&self, stream: &str, job: &Job, reason: &str) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("XADD")
            .arg(self.dead_key())
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*")
            .arg("stream")
            .arg(stream)
            .arg("job")
            .arg(serde_json::to_string(job)?)
            .arg("reason")
            .arg(reason)
            .query_async::<()>(&mut conn)
            .await
            .context("XADD dead letter")?;
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadJob>> {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.dead_key())
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await
            .context("XRANGE dead letters")?;
        Ok(reply
            .ids
            .into_iter()
            .filter_map(|entry| {
                let job: String = entry.get("job")?;
                Some(DeadJob {
                    stream: entry.get("stream")?,
                    reason: entry.get("reason").unwrap_or_default(),
                    job: serde_json::from_str(&job).ok()?,
                    id: entry.id,
                })
            })
            .collect())
    }

    async fn remove_dead_letter(&self, id: &str) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("XDEL")
            .arg(self.dead_key())
            .arg(id)
            .query_async::<()>(&mut conn)
            .await
            .context("XDEL")?;
        Ok(())
    }

    async fn publish_circuit(
        &self,
        channel: &str,
        open: Option<&courtyard_domain::circuits::OpenCircuit>,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        let key = courtyard_domain::circuits::redis_key(&self.prefix, channel);
        let mut conn = self.conn.clone();
        match open {
            Some(open) => {
                let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                redis::cmd("SET")
                    .arg(&key)
                    .arg(serde_json::to_string(open)?)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut conn)
                    .await
                    .context("SET circuit")
            }
            None => redis::cmd("DEL")
                .arg(&key)
                .query_async::<()>(&mut conn)
                .await
                .context("DEL circuit"),
        }
    }

    async fn backlog(&self, stream: &str) -> anyhow::Result<usize> {
        let key = self.stream_key(stream);
        let mut conn = self.conn.clone();
        let length: usize = redis::cmd("XLEN")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .context("XLEN")?;
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.delayed_key())
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .context("ZRANGE")?;
        let parked = members
            .iter()
            .filter(|m| m.split('|').next() == Some(stream))
            .count();
        Ok(length + parked)
    }

    async fn reserve_rate(&self, key: &str, rate: Rate, n: u32) -> anyhow::Result<Duration> {
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        let mut conn = self.conn.clone();
        let wait: u64 = self
            .reserve
            .key(self.limit_key(key))
            .arg(micros(rate.interval()))
            .arg(micros(rate.tolerance()))
            .arg(n)
            .invoke_async(&mut conn)
            .await
            .context("reserving sends under a rate limit")?;
        Ok(Duration::from_micros(wait))
    }

    async fn admit_within(
        &self,
        keys: &[String],
        windows: &[Window],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Option<DateTime<Utc>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.admit.prepare_invoke();
        for key in keys {
            invocation.key(self.limit_key(key));
        }
        invocation.arg(now.timestamp_millis()).arg(windows.len());
        for window in windows {
            invocation.arg(window.limit).arg(window.length_ms());
        }
        invocation.arg(longest_ms(windows));
        for _ in keys {
            // Each send its own member: two sends in the same millisecond both count.
            invocation.arg(uuid::Uuid::new_v4().simple().to_string());
        }
        let mut conn = self.conn.clone();
        let verdicts: Vec<i64> = invocation
            .invoke_async(&mut conn)
            .await
            .context("checking sends against their windows")?;
        Ok(verdicts
            .into_iter()
            .map(|at| match at {
                0 => None,
                at => DateTime::from_timestamp_millis(at),
            })
            .collect())
    }
}
