//! The scheduler lease: one scheduler active at a time across all worker processes. With
//! Redis it is a key set with `NX PX` and renewed only by its holder (a Lua check-and-renew);
//! a holder that dies loses it when the key expires. Without Redis there is one process, so
//! the lease is always held.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use redis::{Script, aio::ConnectionManager};

/// A lease on a singleton role.
#[async_trait]
pub trait Lease: Send + Sync {
    /// Takes or renews the lease for `ttl`; true while this process holds it.
    async fn hold(&self, ttl: Duration) -> anyhow::Result<bool>;
}

/// The embedded mode's lease: this process is the only one.
pub struct LocalLease;

#[async_trait]
impl Lease for LocalLease {
    async fn hold(&self, _ttl: Duration) -> anyhow::Result<bool> {
        Ok(true)
    }
}

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
";

/// A lease kept in Redis.
pub struct RedisLease {
    conn: ConnectionManager,
    key: String,
    holder: String,
    script: Script,
}

impl RedisLease {
    /// The lease named `name` under `prefix`, held as `holder`.
    pub async fn connect(
        client: redis::Client,
        prefix: &str,
        name: &str,
        holder: &str,
    ) -> anyhow::Result<Self> {
        let conn = ConnectionManager::new(client)
            .await
            .context("connecting to Redis for the lease")?;
        Ok(Self {
            conn,
            key: format!("{prefix}lease:{name}"),
            holder: holder.to_owned(),
            script: Script::new(RENEW),
        })
    }
}

#[async_trait]
impl Lease for RedisLease {
    async fn hold(&self, ttl: Duration) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let held: i64 = self
            .script
            .key(&self.key)
            .arg(&self.holder)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .context("renewing the scheduler lease")?;
        Ok(held == 1)
    }
}
