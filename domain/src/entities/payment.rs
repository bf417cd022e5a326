//! The `payments` table.

use sea_orm::entity::prelude::*;

/// One payment of one or more bills of a household: online (WeChat Pay, the dev provider) or recorded at the front desk.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub community_id: Uuid,
    pub household_id: Uuid,
    /// The resident who paid online.
    pub payer_id: Option<Uuid>,
    /// A `PaymentMethod`.
    pub method: String,
    /// `wechat_pay`, `dev` or `offline`.
    pub provider: String,
    /// A `PaymentState`.
    pub state: String,
    /// Principal plus late fees.
    pub amount_fen: i64,
    pub principal_fen: i64,
    pub late_fee_fen: i64,
    pub refunded_fen: i64,
    pub out_trade_no: String,
    pub prepay_id: Option<String>,
    pub transaction_id: Option<String>,
    /// An offline payment's reference (POS slip, bank transfer number).
    pub reference: Option<String>,
    /// The staff member who recorded an offline payment.
    pub recorded_by: Option<Uuid>,
    /// What it paid for, as it was when it was created: bills, lines and late fees.
    pub frozen: Json,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub paid_at: Option<DateTimeUtc>,
    /// When the reconciliation job last asked the provider about it.
    pub checked_at: Option<DateTimeUtc>,
    /// Paid at the provider after the order was ended here, with its bills settled
    /// otherwise: money for staff to refund.
    pub stray_paid_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
