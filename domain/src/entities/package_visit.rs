//! The `package_visits` table.

use sea_orm::entity::prelude::*;

/// One visit of a package month: the slot whose place it holds, and its booking once issued.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "package_visits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub package_id: Uuid,
    /// 1, 2, … in the month.
    pub position: i32,
    pub visit_on: Date,
    pub slot_id: Uuid,
    pub starts_at: DateTimeUtc,
    /// The booking issued for it.
    pub booking_id: Option<Uuid>,
    pub issued_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
