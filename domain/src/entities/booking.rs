//! The `bookings` table.

use sea_orm::entity::prelude::*;

/// A service booking's own facts; its lifecycle, history, clocks and rating are its ticket's
/// (kind `service_booking`, the same id).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "bookings")]
pub struct Model {
    /// The ticket's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_id: Uuid,
    pub community_id: Uuid,
    pub household_id: Uuid,
    pub service_id: Uuid,
    /// The service's name when booked.
    pub service_name: String,
    pub team_id: Uuid,
    /// The slot holding its place.
    pub slot_id: Uuid,
    /// When that slot starts (kept for the calendar and the cancellation notice).
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    /// Another slot staff proposed, holding a place until the resident answers.
    pub proposed_slot_id: Option<Uuid>,
    /// A `TimeStatus`.
    pub time_status: String,
    pub confirmed_at: Option<DateTimeUtc>,
    /// The catalog's pricing and price, frozen at booking.
    pub pricing: String,
    pub unit_fen: Option<i64>,
    /// Hours booked (per hour), else 1.
    pub quantity: i32,
    /// A `PayWhen`.
    pub pay: String,
    /// What it is expected to cost (fixed, per hour); none until counted or quoted.
    pub estimate_fen: Option<i64>,
    /// What the work came to (hours worked, items counted, the accepted quote).
    pub worked_quantity: Option<i32>,
    pub amount_fen: Option<i64>,
    /// Its bill: at booking when paid before, at completion when paid after, or the
    /// late-cancellation fee.
    pub bill_id: Option<Uuid>,
    /// A late cancellation's fee, fen.
    pub cancel_fee_fen: Option<i64>,
    /// The refund of a cancelled booking that was paid.
    pub refund_id: Option<Uuid>,
    /// The monthly package this visit belongs to.
    pub package_id: Option<Uuid>,
    /// A laundry order's step (a `LaundryStage`).
    pub laundry_stage: Option<String>,
    /// When the vendor returns a laundry order.
    pub return_on: Option<Date>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
