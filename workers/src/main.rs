//! `courtyard-workers`: the workers alone, for deployments that run them apart from the API.

use std::sync::Arc;

use anyhow::Context;
use courtyard_domain::{Settings, SystemClock};
use sea_orm::{ConnectOptions, Database};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().json().flatten_event(true).init();
    let settings = Settings::load(None).context("loading settings")?;
    let mut options = ConnectOptions::new(settings.database.url.expose_secret().to_owned());
    options
        .max_connections(settings.database.max_connections)
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .context("connecting to the database")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers =
        tokio::spawn(courtyard_workers::Workers::new(db, Arc::new(SystemClock)).run(stopped));
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    let _ = stop.send(true);
    workers.await.context("joining workers")?;
    Ok(())
}
