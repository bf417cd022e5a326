//! The `notices` table.

use sea_orm::entity::prelude::*;

/// One row of `notices`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub community_id: Uuid,
    pub category: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub reason: Option<String>,
    pub starts_at: Option<DateTimeUtc>,
    pub restores_at: Option<DateTimeUtc>,
    /// JSON `{building_ids, unit_ids, household_ids}`; all empty = the whole community.
    pub audience: Json,
    /// JSON array of channels.
    pub channels: Json,
    pub urgent: bool,
    /// scheduled, sending, sent, cancelled.
    pub status: String,
    pub send_at: DateTimeUtc,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// Residents the notice reached (inbox messages), set by the fan-out.
    pub targeted: i32,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
