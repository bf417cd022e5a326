//! The `ticket_events` table.

use sea_orm::entity::prelude::*;

/// One entry of a ticket's history: who did what, when.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "ticket_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// resident, staff or system.
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    /// An `EventAction`.
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    pub data: Option<Json>,
    pub created_at: DateTimeUtc,
    /// The assignee as of this event (its notification is addressed from it).
    pub assignee_id: Option<Uuid>,
    /// The butler as of this event.
    pub butler_id: Option<Uuid>,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
