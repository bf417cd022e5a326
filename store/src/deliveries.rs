//! The inbox-message and delivery inserts the fan-out jobs make: batches that skip rows
//! whose dedupe key exists (so a re-run adds nothing) and say which rows were new. On
//! PostgreSQL one `INSERT ... SELECT ... FROM UNNEST(...)` per batch; elsewhere sea-orm.

use std::collections::HashSet;

use anyhow::Context;
use chrono::{DateTime, Utc};
use courtyard_domain::entities::{delivery, message};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, QueryTrait,
    Statement, Value, sea_query::OnConflict,
};
use uuid::Uuid;

/// Ids per `IN (...)` list and rows per multi-row statement: well under SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters even at 16 columns a row.
pub const CHUNK: usize = 500;

/// Rows per `INSERT ... FROM UNNEST`: a batch's worth in one statement.
const INSERT_ROWS: usize = 1_000;
/// Stands for NULL in a `uuid[]` parameter (sea-query binds arrays without NULL elements).
const NO_ID: Uuid = Uuid::nil();

/// Inserts new inbox messages, skipping those whose dedupe key exists; returns the ids it
/// inserted. On PostgreSQL one `INSERT ... SELECT ... FROM UNNEST(...)` per [`INSERT_ROWS`], one
/// array parameter per column: PostgreSQL parses and plans it as one small statement,
/// where a `VALUES` list of the same rows costs it tens of microseconds a row.
pub async fn insert_messages(
    db: &DatabaseConnection,
    rows: &[message::Model],
) -> anyhow::Result<HashSet<Uuid>> {
    if db.get_database_backend() != DbBackend::Postgres {
        let models = rows.iter().cloned().map(IntoActiveModel::into_active_model);
        return insert_returning_ids::<message::Entity>(
            db,
            models.collect(),
            message::Column::DedupeKey,
        )
        .await;
    }
    const SQL: &str = "INSERT INTO messages \
        (id, resident_id, community_id, notice_id, dedupe_key, category, title, body, data, created_at) \
        SELECT id, resident_id, community_id, NULLIF(notice_id, $11), dedupe_key, category, title, body, data::json, created_at \
        FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[]) \
        AS t (id, resident_id, community_id, notice_id, dedupe_key, category, title, body, data, created_at) \
        ON CONFLICT (dedupe_key) DO NOTHING RETURNING id";
    let mut inserted = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(INSERT_ROWS) {
        // New messages are unread.
        debug_assert!(chunk.iter().all(|m| m.read_at.is_none()));
        let uuids =
            |f: fn(&message::Model) -> Uuid| Value::from(chunk.iter().map(f).collect::<Vec<_>>());
        let texts =
            |f: fn(&message::Model) -> String| Value::from(chunk.iter().map(f).collect::<Vec<_>>());
        let values = vec![
            uuids(|m| m.id),
            uuids(|m| m.resident_id),
            uuids(|m| m.community_id),
            uuids(|m| m.notice_id.unwrap_or(NO_ID)),
            texts(|m| m.dedupe_key.clone()),
            texts(|m| m.category.clone()),
            texts(|m| m.title.clone()),
            texts(|m| m.body.clone()),
            texts(|m| m.data.to_string()),
            Value::from(chunk.iter().map(|m| m.created_at).collect::<Vec<_>>()),
            Value::from(NO_ID),
        ];
        inserted.extend(insert_unnest(db, SQL, values).await?);
    }
    Ok(inserted)
}

/// Inserts new deliveries, skipping those whose dedupe key exists; returns the ids it
/// inserted. On PostgreSQL as [`insert_messages`] does.
pub async fn insert_deliveries(
    db: &DatabaseConnection,
    rows: &[&delivery::Model],
) -> anyhow::Result<HashSet<Uuid>> {
    if db.get_database_backend() != DbBackend::Postgres {
        let models = rows.iter().map(|d| (*d).clone().into_active_model());
        return insert_returning_ids::<delivery::Entity>(
            db,
            models.collect(),
            delivery::Column::DedupeKey,
        )
        .await;
    }
    const SQL: &str = "INSERT INTO deliveries \
        (id, message_id, resident_id, notice_id, channel, device_id, dedupe_key, status, attempts, created_at, updated_at, due_at) \
        SELECT id, message_id, resident_id, NULLIF(notice_id, $13), channel, NULLIF(device_id, $13), dedupe_key, status, attempts, created_at, updated_at, due_at \
        FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::text[], $9::int4[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[]) \
        AS t (id, message_id, resident_id, notice_id, channel, device_id, dedupe_key, status, attempts, created_at, updated_at, due_at) \
        ON CONFLICT (dedupe_key) DO NOTHING RETURNING id";
    let mut inserted = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(INSERT_ROWS) {
        // New deliveries have not been tried: no error, provider id, claim or send yet.
        debug_assert!(chunk.iter().all(|d| d.last_error.is_none()
            && d.provider_id.is_none()
            && d.claimed_at.is_none()
            && d.sent_at.is_none()));
        let uuids = |f: fn(&delivery::Model) -> Uuid| {
            Value::from(chunk.iter().map(|d| f(d)).collect::<Vec<_>>())
        };
        let texts = |f: fn(&delivery::Model) -> String| {
            Value::from(chunk.iter().map(|d| f(d)).collect::<Vec<_>>())
        };
        let times = |f: fn(&delivery::Model) -> DateTime<Utc>| {
            Value::from(chunk.iter().map(|d| f(d)).collect::<Vec<_>>())
        };
        let values = vec![
            uuids(|d| d.id),
            uuids(|d| d.message_id),
            uuids(|d| d.resident_id),
            uuids(|d| d.notice_id.unwrap_or(NO_ID)),
            texts(|d| d.channel.clone()),
            uuids(|d| d.device_id.unwrap_or(NO_ID)),
            texts(|d| d.dedupe_key.clone()),
            texts(|d| d.status.clone()),
            Value::from(chunk.iter().map(|d| d.attempts).collect::<Vec<_>>()),
            times(|d| d.created_at),
            times(|d| d.updated_at),
            times(|d| d.due_at),
            Value::from(NO_ID),
        ];
        inserted.extend(insert_unnest(db, SQL, values).await?);
    }
    Ok(inserted)
}

/// Runs a PostgreSQL `INSERT ... RETURNING id`; the ids inserted.
async fn insert_unnest(
    db: &DatabaseConnection,
    sql: &str,
    values: Vec<Value>,
) -> anyhow::Result<Vec<Uuid>> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .context("batch insert")?;
    rows.iter()
        .map(|row| Ok(row.try_get::<Uuid>("", "id")?))
        .collect()
}

/// Inserts rows, [`CHUNK`] to a statement, skipping those whose `key` already exists;
/// returns the ids of the rows it inserted.
async fn insert_returning_ids<E>(
    db: &DatabaseConnection,
    rows: Vec<E::ActiveModel>,
    key: E::Column,
) -> anyhow::Result<HashSet<Uuid>>
where
    E: EntityTrait,
{
    let mut inserted = HashSet::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::ActiveModel> = rows.by_ref().take(CHUNK).collect();
        let mut insert = E::insert_many(batch)
            .on_conflict(OnConflict::column(key).do_nothing().to_owned())
            .into_query();
        insert.returning_col("id");
        for row in db.query_all(&insert).await.context("batch insert")? {
            inserted.insert(row.try_get::<Uuid>("", "id")?);
        }
    }
    Ok(inserted)
}

/// Inserts rows in batches, skipping those whose `key` already exists.
pub async fn insert_ignoring_duplicates<E>(
    db: &DatabaseConnection,
    rows: Vec<E::ActiveModel>,
    key: E::Column,
) -> anyhow::Result<()>
where
    E: EntityTrait,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::ActiveModel> = rows.by_ref().take(200).collect();
        E::insert_many(batch)
            .on_conflict(OnConflict::column(key).do_nothing().to_owned())
            .exec_without_returning(db)
            .await
            .context("batch insert")?;
    }
    Ok(())
}
