//! The `services` table.

use sea_orm::entity::prelude::*;

/// One entry of a community's public price list (服务收费标准).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "services")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    /// The team that does it.
    pub team_id: Uuid,
    /// A `ServiceCategory`.
    pub category: String,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// A `Pricing`.
    pub pricing: String,
    /// The price, or the price of one hour or item; none when quoted on site.
    pub price_fen: Option<i64>,
    /// The fewest hours a per-hour booking takes.
    pub min_quantity: i32,
    /// How long the job takes, minutes (one slot of the team).
    pub duration_minutes: i32,
    /// A `PayWhen`.
    pub pay: String,
    /// Links to photos of the service.
    pub photos: Json,
    pub active: bool,
    /// A monthly package's visits a month; none for other pricing.
    pub visits_per_month: Option<i32>,
    /// Order on the price list.
    pub position: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
