//! `courtyard-workers`: the workers alone, for deployments that run them apart from the API.

use std::sync::Arc;

use anyhow::Context;
use courtyard_domain::{Settings, SystemClock};
use courtyard_workers::{
    Pipeline, Workers,
    deliver::LogDeliverer,
    queue::{MemoryQueue, Queue, RedisQueue},
};
use sea_orm::{ConnectOptions, Database};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().json().flatten_event(true).init();
    let settings = Settings::load(None)
        .map_err(|e| anyhow::anyhow!(e))
        .context("loading settings")?;
    let mut options = ConnectOptions::new(settings.database.url.expose_secret().to_owned());
    options
        .max_connections(settings.database.max_connections)
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .context("connecting to the database")?;
    let queue: Arc<dyn Queue> = match &settings.redis.url {
        Some(url) => {
            let client =
                redis::Client::open(url.expose_secret()).context("parsing the Redis URL")?;
            Arc::new(RedisQueue::connect(client, &settings.redis.key_prefix).await?)
        }
        None => {
            tracing::warn!("no Redis configured: the in-process queue only serves this process");
            Arc::new(MemoryQueue::new())
        }
    };
    let pipeline = Pipeline {
        db,
        queue,
        clock: Arc::new(SystemClock),
        deliverer: Arc::new(LogDeliverer),
        settings: settings.notifications.clone(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(Workers::new(pipeline).run(stopped));
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    let _ = stop.send(true);
    workers.await.context("joining workers")?;
    Ok(())
}
