//! The `resident_consents` table.

use sea_orm::entity::prelude::*;

/// One grant or withdrawal of a resident's consent: the privacy policy version accepted at
/// login, or SMS for service notices.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "resident_consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub resident_id: Uuid,
    /// `privacy_policy` or `sms_notices`.
    pub kind: String,
    /// The policy version (privacy policy).
    pub version: Option<String>,
    pub granted: bool,
    pub client_ip: Option<String>,
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
