//! The `follow_ups` table.

use sea_orm::entity::prelude::*;

/// A task on a butler's list: visit or call a household about its arrears.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "follow_ups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub household_id: Uuid,
    /// The household's butler when it was raised; none when nobody is assigned (the
    /// supervisors' list then).
    pub butler_id: Option<Uuid>,
    /// `arrears`.
    pub reason: String,
    /// The reminder that raised it.
    pub reminder_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub done_at: Option<DateTimeUtc>,
    pub done_by: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub done_note: Option<String>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
