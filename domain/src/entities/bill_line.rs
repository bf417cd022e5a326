//! The `bill_lines` table.

use sea_orm::entity::prelude::*;

/// One line of a bill, frozen when the bill is issued.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "bill_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub bill_id: Uuid,
    pub position: i32,
    pub fee_item_id: Option<Uuid>,
    pub charge_id: Option<Uuid>,
    pub name: String,
    /// The band of a tiered price (1 for the first).
    pub band: Option<i32>,
    /// A `FeeUnit`.
    pub unit: String,
    pub quantity_milli: i64,
    pub unit_price_centi_fen: i64,
    pub amount_fen: i64,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
