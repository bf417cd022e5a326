//! The `households` table.

use sea_orm::entity::prelude::*;

/// One row of `households`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "households")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub building_id: Uuid,
    pub unit_id: Uuid,
    pub room_number: String,
    pub floor: Option<i32>,
    /// Floor area in hundredths of a square metre.
    pub floor_area_centi_m2: i64,
    /// Parking spaces the household pays a per-space fee for.
    pub parking_spaces: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
