//! The `fee_reminders` table.

use sea_orm::entity::prelude::*;

/// One entry of a household's reminder record (催缴记录): an automatic reminder or a contact
/// staff made.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fee_reminders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub household_id: Uuid,
    /// A `ContactChannel`: `auto` for the schedule's, else how staff reached them.
    pub channel: String,
    /// A `ReminderStep` (`due_soon`, `overdue_1`, ...), for automatic reminders.
    pub step: Option<String>,
    /// The month whose due date the step counts from, `YYYY-MM`.
    pub anchor_period: Option<String>,
    /// `reminder:{household}:{anchor_period}:{step}`: one reminder per step, whatever runs
    /// twice.
    pub dedupe_key: Option<String>,
    /// What the listed bills came to, fen.
    pub owed_fen: i64,
    /// Their late fees so far, fen.
    pub late_fee_fen: i64,
    /// The bills it was about, as they were: `[{bill_id, period, amount_fen, due_on}]`.
    pub bills: Json,
    /// The staff member who made a contact.
    pub staff_id: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    /// The date the resident promised to pay by.
    pub promised_on: Option<Date>,
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
