//! The `wechat_consents` table.

use sea_orm::entity::prelude::*;

/// A resident's unused WeChat one-time subscription consents for one category.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "wechat_consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub resident_id: Uuid,
    /// A notification `Category`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub category: String,
    /// Messages it still allows.
    pub remaining: i32,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
