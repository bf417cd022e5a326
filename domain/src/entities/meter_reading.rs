//! The `meter_readings` table.

use sea_orm::entity::prelude::*;

/// One household meter's reading for a month.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meter_readings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub community_id: Uuid,
    pub household_id: Uuid,
    /// A `Meter`.
    pub meter: String,
    /// `YYYY-MM`.
    pub period: String,
    /// Thousandths of the meter's unit.
    pub value_milli: i64,
    /// A replaced meter's new initial value; none for an ordinary reading.
    pub initial_milli: Option<i64>,
    /// `manual` or `import`.
    pub source: String,
    pub entered_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
