//! The `refunds` table.

use sea_orm::entity::prelude::*;

/// One refund of a paid payment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub payment_id: Uuid,
    /// Our refund number, reused on retry.
    pub out_refund_no: String,
    pub amount_fen: i64,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    /// A `RefundState`.
    pub state: String,
    /// The provider's refund id.
    pub refund_id: Option<String>,
    pub requested_by: Uuid,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the reconciliation job last asked the provider about it.
    pub checked_at: Option<DateTimeUtc>,
    pub succeeded_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
