//! The `household_charges` table.

use sea_orm::entity::prelude::*;

/// A one-off charge waiting for (or put on) a household's bill.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "household_charges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub household_id: Uuid,
    pub description: String,
    pub amount_fen: i64,
    /// The repair whose accepted price this is.
    pub ticket_id: Option<Uuid>,
    /// The bill it went on; none while it waits.
    pub bill_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
