//! `courtyard-workers`: the workers alone, for deployments that run them apart from the API.
//! The database must already be migrated (the API does that at start-up).

use std::sync::Arc;

use anyhow::Context;
use courtyard_domain::{Settings, SystemClock};
use courtyard_workers::{Pipeline, Workers, lease::RedisLease};
use secrecy::ExposeSecret;
use tracing_subscriber::EnvFilter;

// glibc's allocator spends a third of a busy API's CPU in malloc/free (measured with perf
// under the ticket load benchmark); mimalloc keeps per-thread free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(filter)
        .init();
    let settings = Settings::load(None)
        .map_err(|e| anyhow::anyhow!(e))
        .context("loading settings")?;
    // The same providers as the API's in-process workers: the real clients the settings
    // configure, the log for the rest.
    let pipeline = Pipeline::from_settings(&settings, Arc::new(SystemClock)).await?;
    let mut workers = Workers::new(pipeline);
    // With Redis, processes take turns at the scheduler through a lease, as the API's do.
    if let Some(url) = &settings.redis.url {
        let client = redis::Client::open(url.expose_secret()).context("parsing the Redis URL")?;
        let lease = RedisLease::connect(
            client,
            &settings.redis.key_prefix,
            "scheduler",
            workers.consumer(),
        )
        .await?;
        workers = workers.with_lease(Arc::new(lease));
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(workers.run(stopped));
    stop_signal().await?;
    let _ = stop.send(true);
    workers.await.context("joining workers")?;
    Ok(())
}

/// Ctrl-C, or SIGTERM (how container runtimes stop a process) on Unix.
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        tokio::select! {
            signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
