//! The `devices` table.

use sea_orm::entity::prelude::*;

/// One row of `devices`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `resident` or `staff`.
    pub owner_kind: String,
    pub owner_id: Uuid,
    /// `ios` or `android`.
    pub platform: String,
    /// `apns` or `fcm`.
    pub provider: String,
    pub token: String,
    /// APNs topic (bundle id).
    pub topic: Option<String>,
    pub sandbox: bool,
    pub locale: String,
    pub active: bool,
    pub last_seen_at: DateTimeUtc,
    pub invalidated_at: Option<DateTimeUtc>,
    pub invalid_reason: Option<String>,
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
