//! The `booking_claims` table.

use sea_orm::entity::prelude::*;

/// A claim on a booking: an item missing or damaged, and how the office settled it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "booking_claims")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub booking_id: Uuid,
    /// The laundry item it is about, if any.
    pub item_id: Option<Uuid>,
    /// A `ClaimKind`.
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub note: String,
    /// Links to photos of the damage.
    pub photos: Json,
    /// A `ClaimState`.
    pub state: String,
    /// Compensation agreed when settled, fen.
    pub compensation_fen: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub resolution: Option<String>,
    /// `resident`, `staff` or `system` (a check on return).
    pub raised_by_kind: String,
    pub raised_by: Option<Uuid>,
    pub settled_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub settled_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
