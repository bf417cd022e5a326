//! The `residents` table.

use sea_orm::entity::prelude::*;

/// One row of `residents`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "residents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    /// The 11-digit mobile number; unique per company.
    pub phone: String,
    pub birthday: Option<Date>,
    pub locale: String,
    pub wechat_openid: Option<String>,
    /// Start of quiet hours, `HH:MM` community time.
    pub quiet_start: Option<String>,
    /// End of quiet hours.
    pub quiet_end: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the resident's personal data was erased (the row stays, anonymised, so that
    /// tickets, payments and deliveries keep pointing at a row).
    pub erased_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
