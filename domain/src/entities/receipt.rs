//! The `receipts` table.

use sea_orm::entity::prelude::*;

/// The receipt (收据) of one succeeded payment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "receipts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub payment_id: Uuid,
    pub year: i32,
    pub seq: i64,
    /// `2026-000123`.
    pub number: String,
    /// What the receipt shows (`ReceiptContent`).
    pub content: Json,
    pub issued_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
