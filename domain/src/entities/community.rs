//! The `communities` table.

use sea_orm::entity::prelude::*;

/// One row of `communities`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "communities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub address: Option<String>,
    pub timezone: String,
    /// Opening time, `HH:MM`.
    pub work_start: String,
    /// Closing time, `HH:MM`.
    pub work_end: String,
    /// Working weekdays, JSON array of 1 (Monday) to 7.
    pub work_days: Json,
    /// Holidays, JSON array of ISO dates.
    pub holidays: Json,
    /// The community's `TicketPolicy`; NULL means the defaults.
    pub ticket_policy: Option<Json>,
    /// The community's `FeePolicy`; NULL means the defaults.
    pub fee_policy: Option<Json>,
    /// Its overdue-reminder schedule (`fees::reminders::ReminderPolicy`); none means the
    /// defaults.
    pub reminder_policy: Option<Json>,
    /// Service bookings: confirmation and work clocks, cancellation, payment windows; NULL
    /// means the defaults.
    pub service_policy: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
