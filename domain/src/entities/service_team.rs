//! The `service_teams` table.

use sea_orm::entity::prelude::*;

/// A team that does household services in a community: its leader gets the work orders,
/// its size is how many bookings one slot takes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_teams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub name: String,
    /// A `Department`: cleaning, greenery or engineering.
    pub department: String,
    /// The staff member who gets the work orders.
    pub leader_id: Uuid,
    /// How many crews work at once: each slot's capacity.
    pub size: i32,
    /// The length of one slot, minutes.
    pub slot_minutes: i32,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
