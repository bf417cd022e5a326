//! The `fee_reminder_bills` table.

use sea_orm::entity::prelude::*;

/// A bill a reminder was about.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fee_reminder_bills")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub reminder_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub bill_id: Uuid,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
