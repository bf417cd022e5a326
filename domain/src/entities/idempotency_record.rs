//! The `idempotency_records` table.

use sea_orm::entity::prelude::*;

/// One `Idempotency-Key` of one principal on one route: claimed while the request runs
/// (`status` empty), then its saved response.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub principal_id: Uuid,
    /// `POST /v1/repairs`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub route: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// SHA-256 of the operation and body: the same key with another request is refused.
    pub fingerprint: String,
    /// The saved status; none while the request is in flight.
    pub status: Option<i32>,
    /// The saved headers a replay repeats (JSON object).
    #[sea_orm(column_type = "Text", nullable)]
    pub headers: Option<String>,
    /// The saved body.
    #[sea_orm(column_type = "Text", nullable)]
    pub body: Option<String>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
