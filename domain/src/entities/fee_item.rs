//! The `fee_items` table.

use sea_orm::entity::prelude::*;

/// One fee item of a community: what it charges for and at what rate.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fee_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub name: String,
    /// A `FeeKind`.
    pub kind: String,
    /// A `Meter`, for metered items.
    pub meter: Option<String>,
    /// Price bands (`StoredBand`s).
    pub tiers: Json,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
