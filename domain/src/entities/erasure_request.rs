//! The `erasure_requests` table.

use sea_orm::entity::prelude::*;

/// A request to close a resident's account and erase their personal data (PIPL art. 47),
/// carried out when `due_at` passes unless cancelled.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "erasure_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub resident_id: Uuid,
    /// `resident` (their own request) or `staff` (an admin's delete).
    pub requested_by_kind: String,
    pub requested_by: Uuid,
    pub requested_at: DateTimeUtc,
    pub due_at: DateTimeUtc,
    /// `scheduled`, `cancelled` or `done`.
    pub status: String,
    pub cancelled_at: Option<DateTimeUtc>,
    pub carried_out_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
