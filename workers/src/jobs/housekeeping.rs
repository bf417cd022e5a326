//! Housekeeping: removes what the retention settings say is no longer kept (login codes,
//! expired refresh tokens, settled deliveries, audit rows), in bounded batches so a run never
//! holds a long lock or a long transaction; what is left waits for the next run.
//! Idempotent: running it twice removes nothing more.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use courtyard_domain::{
    entities::{delivery, login_code, refresh_token},
    settings::RetentionSettings,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// The job's name in logs.
pub const NAME: &str = "housekeeping";

/// A delivery in one of these states is settled: nothing will send it again.
const SETTLED: [&str; 5] = ["sent", "failed", "suppressed", "dead", "invalid_token"];

/// What one run removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Login codes removed.
    pub login_codes: u64,
    /// Refresh tokens removed.
    pub refresh_tokens: u64,
    /// Settled deliveries removed.
    pub deliveries: u64,
    /// Audit rows removed.
    pub audit_rows: u64,
}

impl Report {
    /// Rows removed in all.
    pub fn removed(&self) -> u64 {
        self.login_codes + self.refresh_tokens + self.deliveries + self.audit_rows
    }
}

/// Deletes, batch by batch, the ids `next` picks (at most `batch` each) until it picks
/// none or `max` batches went.
async fn in_batches<F, Fut>(max: u32, mut next: F) -> anyhow::Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let mut removed = 0;
    for _ in 0..max {
        let n = next().await?;
        removed += n;
        if n == 0 {
            break;
        }
    }
    Ok(removed)
}

/// Deletes up to `batch` rows of `E` matching `old`, oldest by `age` first: their ids
/// picked, then deleted by id (still matching `old`). Returns how many went.
async fn delete_batch<E: EntityTrait>(
    db: &DatabaseConnection,
    id: E::Column,
    age: E::Column,
    old: Condition,
    batch: u64,
) -> Result<u64, DbErr> {
    let ids: Vec<Uuid> = E::find()
        .select_only()
        .column(id)
        .filter(old.clone())
        .order_by_asc(age)
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(E::delete_many()
        .filter(id.is_in(ids))
        .filter(old)
        .exec(db)
        .await?
        .rows_affected)
}

/// Runs the job once at `now`.
pub async fn run(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    retention: &RetentionSettings,
) -> anyhow::Result<Report> {
    let batch = retention.batch.max(1);
    let max = retention.max_batches.max(1);

    let codes_before = now - Duration::days(retention.login_codes_days);
    let login_codes = in_batches(max, || async {
        delete_batch::<login_code::Entity>(
            db,
            login_code::Column::Id,
            login_code::Column::CreatedAt,
            Condition::all().add(login_code::Column::CreatedAt.lt(codes_before)),
            batch,
        )
        .await
        .context("deleting old login codes")
    })
    .await?;

    let tokens_before = now - Duration::days(retention.refresh_tokens_days);
    let refresh_tokens = in_batches(max, || async {
        delete_batch::<refresh_token::Entity>(
            db,
            refresh_token::Column::Id,
            refresh_token::Column::ExpiresAt,
            Condition::all().add(refresh_token::Column::ExpiresAt.lt(tokens_before)),
            batch,
        )
        .await
        .context("deleting expired refresh tokens")
    })
    .await?;

    let deliveries_before = now - Duration::days(retention.deliveries_days);
    let deliveries = in_batches(max, || async {
        delete_batch::<delivery::Entity>(
            db,
            delivery::Column::Id,
            delivery::Column::UpdatedAt,
            Condition::all()
                .add(delivery::Column::UpdatedAt.lt(deliveries_before))
                .add(delivery::Column::Status.is_in(SETTLED)),
            batch,
        )
        .await
        .context("deleting settled deliveries")
    })
    .await?;

    let audit_before = now - Duration::days(retention.audit_days);
    let audit_rows = in_batches(max, || async {
        courtyard_store::audit::purge_before(db, audit_before, batch)
            .await
            .context("deleting old audit rows")
    })
    .await?;

    Ok(Report {
        login_codes,
        refresh_tokens,
        deliveries,
        audit_rows,
    })
}
