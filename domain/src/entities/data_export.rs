//! The `data_exports` table.

use sea_orm::entity::prelude::*;

/// A resident's copy of everything held about them (PIPL art. 45), built by the workers and
/// downloadable until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "data_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub resident_id: Uuid,
    /// `pending`, `ready` or `failed`.
    pub status: String,
    pub requested_at: DateTimeUtc,
    pub ready_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    /// The JSON document, once built (removed when it expires).
    #[sea_orm(column_type = "Text", nullable)]
    #[serde(skip)]
    pub document: Option<String>,
    pub size_bytes: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
