//! The `tickets` table.

use sea_orm::entity::prelude::*;

/// One row of `tickets`: a repair or a complaint.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub community_id: Uuid,
    /// repair or complaint.
    pub kind: String,
    /// None for a public-area repair.
    pub household_id: Option<Uuid>,
    /// The resident it is for (who reported it, or for whom the front desk registered it).
    pub resident_id: Option<Uuid>,
    /// The front-desk staff member who registered it.
    pub registered_by: Option<Uuid>,
    /// app, phone, walk_in.
    pub source: String,
    /// A repair or complaint category.
    pub category: String,
    /// Repairs: emergency, simple, ordinary.
    pub urgency: Option<String>,
    /// Complaints: ordinary, serious.
    pub severity: Option<String>,
    /// Where, for public areas.
    pub location: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub preferred_from: Option<DateTimeUtc>,
    pub preferred_to: Option<DateTimeUtc>,
    /// A `TicketState`.
    pub state: String,
    pub department: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub butler_id: Option<Uuid>,
    pub price_fen: Option<i64>,
    /// proposed, accepted, declined.
    pub price_status: Option<String>,
    pub price_note: Option<String>,
    pub rework_count: i32,
    pub rating: Option<i32>,
    pub satisfied: Option<bool>,
    pub rating_comment: Option<String>,
    /// app or phone.
    pub rated_via: Option<String>,
    pub rated_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub dispatched_at: Option<DateTimeUtc>,
    pub answered_at: Option<DateTimeUtc>,
    pub arrived_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// The earliest unmet SLA deadline of the current round (kept by every transition).
    pub next_due_at: Option<DateTimeUtc>,
    /// Whether any work clock ran out (set by the SLA watch).
    pub breached: bool,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
