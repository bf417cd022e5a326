//! The queries and transactions the API and the workers share: connecting (and migrating),
//! the outbox write, the ticket event write, communities as recently read, and where photo
//! bytes are kept. Errors here are `sea_orm::DbErr` or `anyhow` with context; each caller
//! maps them to its own error type (the API to problems, jobs to retries).

pub mod addresses;
pub mod audit;
pub mod bookings;
pub mod communities;
pub mod consents;
pub mod deliveries;
pub mod fees;
pub mod idempotency;
pub mod outbox;
pub mod payments;
pub mod photos;
pub mod privacy;
pub mod refunds;
pub mod tickets;

use std::time::Duration;

use anyhow::Context;
use courtyard_domain::Settings;
use courtyard_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use secrecy::ExposeSecret;

/// A pool on the configured database (SQLite in WAL mode with foreign keys, or PostgreSQL).
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(settings.database.url.expose_secret().to_owned());
    options
        .max_connections(settings.database.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options)
        .await
        .context("connecting to the database")
}

/// Begins a transaction that will write: on SQLite `BEGIN IMMEDIATE`, which takes the write
/// lock at once (waiting out the busy timeout) instead of failing with `SQLITE_BUSY` when it
/// first writes after another writer committed; on PostgreSQL a plain `BEGIN`.
pub async fn begin_write(
    db: &sea_orm::DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Whether a database error is a unique-constraint violation (either database).
pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// [`connect`], then applies every pending migration.
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = connect(settings).await?;
    Migrator::up(&db, None)
        .await
        .context("applying migrations")?;
    Ok(db)
}
