//! The `service_packages` table.

use sea_orm::entity::prelude::*;

/// One month of a household's monthly package (包月): its weekly slot, its visits and price,
/// and the bill that pays for it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "service_packages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub community_id: Uuid,
    pub household_id: Uuid,
    /// Who subscribed.
    pub resident_id: Option<Uuid>,
    /// The front desk member who subscribed for them.
    pub registered_by: Option<Uuid>,
    /// A ticket `Source`: the visits' tickets carry it.
    pub source: String,
    /// The household's butler when subscribed: the visits' tickets carry them.
    pub butler_id: Option<Uuid>,
    pub service_id: Uuid,
    /// The service's name when subscribed.
    pub service_name: String,
    pub team_id: Uuid,
    /// The month, `YYYY-MM`.
    pub period: String,
    /// ISO weekday of the weekly slot, 1 (Monday) to 7.
    pub weekday: i16,
    /// The weekly slot's start, local `HH:MM`.
    pub start_time: String,
    /// Visits this month (the catalog's, fewer when it started late), carried ones included.
    pub visits: i32,
    /// Of those, carried over from the month before.
    pub carried: i32,
    /// What the month costs, fen.
    pub price_fen: i64,
    pub bill_id: Option<Uuid>,
    /// A `PackageState`.
    pub state: String,
    /// The month it renews.
    pub previous_id: Option<Uuid>,
    /// The next month's package, once renewed.
    pub renewed_by_id: Option<Uuid>,
    /// The refund of a paid month cancelled.
    pub refund_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub cancelled_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
