//! The `audit_events` table: append-only (triggers refuse UPDATE, and DELETE of rows newer
//! than `audit_horizon.purge_before`).

use sea_orm::entity::prelude::*;

/// One row of `audit_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `None` for a failed login whose account is unknown.
    pub company_id: Option<Uuid>,
    /// `staff`, `resident`, `anonymous` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    /// The operation (its OpenAPI operation id) or event (`login_failed`, …).
    pub action: String,
    pub object_type: String,
    pub object_id: Option<Uuid>,
    pub community_id: Option<Uuid>,
    /// The resident whose data was read or changed, if any.
    pub resident_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub details: Json,
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
