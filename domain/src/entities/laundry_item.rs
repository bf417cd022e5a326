//! The `laundry_items` table.

use sea_orm::entity::prelude::*;

/// One item of a laundry order: as counted at pickup, and as checked on its return.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "laundry_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub booking_id: Uuid,
    /// 1, 2, … as counted.
    pub position: i32,
    pub name: String,
    /// Its condition at pickup; empty when unremarkable.
    pub condition_in: String,
    /// Links to photos at pickup.
    pub photos_in: Json,
    /// Whether it came back; none until checked.
    pub returned: Option<bool>,
    /// Whether it came back damaged.
    pub damaged: Option<bool>,
    pub condition_out: Option<String>,
    pub photos_out: Option<Json>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
