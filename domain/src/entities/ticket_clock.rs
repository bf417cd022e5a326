//! The `ticket_clocks` table.

use sea_orm::entity::prelude::*;

/// One SLA clock of a ticket, per round of work.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_clocks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_id: Uuid,
    /// A `ClockKind`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub clock: String,
    /// 0 for the first work, then the rework count.
    #[sea_orm(primary_key, auto_increment = false)]
    pub round: i32,
    pub started_at: DateTimeUtc,
    pub warn_at: DateTimeUtc,
    pub due_at: DateTimeUtc,
    pub met_at: Option<DateTimeUtc>,
    pub warned_at: Option<DateTimeUtc>,
    pub breached_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
