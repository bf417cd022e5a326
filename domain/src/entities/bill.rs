//! The `bills` table.

use sea_orm::entity::prelude::*;

/// One household's bill: its monthly fees, or a service booking's.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "bills")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub household_id: Uuid,
    /// `YYYY-MM`.
    pub period: String,
    /// `fees` (the monthly bill, one live a month) or `service` (a booking's).
    pub kind: String,
    /// A `BillState`.
    pub state: String,
    /// The sum of its lines.
    pub amount_fen: i64,
    pub due_on: Date,
    pub run_id: Option<Uuid>,
    /// The cancelled bill this one re-issues.
    pub replaces_id: Option<Uuid>,
    pub issued_at: DateTimeUtc,
    /// When it was paid, waived or cancelled.
    pub closed_at: Option<DateTimeUtc>,
    pub closed_by: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub close_reason: Option<String>,
    /// The payment holding it: its pending order, then the payment that paid it.
    pub payment_id: Option<Uuid>,
    /// An admin waived its late fee: when, who, why.
    pub late_fee_waived_at: Option<DateTimeUtc>,
    pub late_fee_waived_by: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub late_fee_waive_reason: Option<String>,
    pub updated_at: DateTimeUtc,
}

/// A monthly bill's kind.
pub const KIND_FEES: &str = "fees";
/// A service booking's bill's kind.
pub const KIND_SERVICE: &str = "service";

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
