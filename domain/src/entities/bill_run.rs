//! The `bill_runs` table.

use sea_orm::entity::prelude::*;

/// One generation of a community's bills for a month, with its progress.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bill_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    /// `YYYY-MM`.
    pub period: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub requested_by: Uuid,
    pub households_total: i32,
    pub households_done: i32,
    pub bills_created: i32,
    /// Metered items without this month's reading, summed over households.
    pub readings_missing: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    /// Moved on after every batch: a run whose heartbeat stopped was lost with its worker.
    pub heartbeat_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
