//! Housekeeping: deletes login codes a day after they were issued and refresh tokens a week
//! after they expired. Idempotent: running it twice removes nothing more.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use courtyard_domain::entities::{login_code, refresh_token};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

/// The job's name in logs.
pub const NAME: &str = "housekeeping";

/// What one run removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Login codes removed.
    pub login_codes: u64,
    /// Refresh tokens removed.
    pub refresh_tokens: u64,
}

impl Report {
    /// Rows removed in all.
    pub fn removed(&self) -> u64 {
        self.login_codes + self.refresh_tokens
    }
}

/// Runs the job once at `now`.
pub async fn run(db: &DatabaseConnection, now: DateTime<Utc>) -> anyhow::Result<Report> {
    let login_codes = login_code::Entity::delete_many()
        .filter(login_code::Column::CreatedAt.lt(now - Duration::days(1)))
        .exec(db)
        .await
        .context("deleting old login codes")?
        .rows_affected;
    let refresh_tokens = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(now - Duration::days(7)))
        .exec(db)
        .await
        .context("deleting expired refresh tokens")?
        .rows_affected;
    Ok(Report {
        login_codes,
        refresh_tokens,
    })
}
