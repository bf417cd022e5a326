//! The `notification_preferences` table.

use sea_orm::entity::prelude::*;

/// One row of `notification_preferences`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "notification_preferences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub resident_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category: String,
    /// JSON array of wanted channels.
    pub channels: Json,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
