//! The `ticket_photos` table.

use sea_orm::entity::prelude::*;

/// A photo attached to a ticket; the bytes live in the photo store.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "ticket_photos")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// report (with the report) or completion (with the finished work).
    pub stage: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub storage_key: String,
    /// resident or staff.
    pub uploaded_by_kind: String,
    pub uploaded_by: Uuid,
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
