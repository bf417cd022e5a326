//! The ticket writes and readings both sides share: the event + outbox write every step
//! makes, and a stored row read back as the state machine's inputs.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{ticket, ticket_event},
    jobs::TicketNotify,
    new_id,
    people::InvalidValue,
    ticket_messages::ActorKind,
    tickets::{EventAction, Facts, PriceStatus, TicketKind, TicketState},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::outbox;

/// Who did something, for the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// Resident, staff or the system.
    pub kind: ActorKind,
    /// The resident's or staff member's id; none for the system.
    pub id: Option<Uuid>,
}

impl Actor {
    /// The system (SLA watch, scheduler).
    pub const SYSTEM: Actor = Actor {
        kind: ActorKind::System,
        id: None,
    };
}

/// One entry of a ticket's history.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The ticket.
    pub ticket_id: Uuid,
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: EventAction,
    /// The state before.
    pub from: Option<TicketState>,
    /// The state after.
    pub to: Option<TicketState>,
    /// A note (blank notes are not kept).
    pub note: Option<String>,
    /// Details (assignee, price, stars, clock...).
    pub data: Option<serde_json::Value>,
}

/// Writes `event` and, when it tells someone ([`EventAction::tells_someone`]), the outbox
/// row that has the workers tell them, in the caller's transaction. Returns the event's id.
pub async fn record_event(
    txn: &impl ConnectionTrait,
    event: NewEvent,
    now: DateTime<Utc>,
) -> Result<Uuid, DbErr> {
    let id = new_id();
    ticket_event::ActiveModel {
        id: Set(id),
        ticket_id: Set(event.ticket_id),
        actor_kind: Set(event.actor.kind.as_str().into()),
        actor_id: Set(event.actor.id),
        action: Set(event.action.as_str().into()),
        from_state: Set(event.from.map(|s| s.as_str().to_owned())),
        to_state: Set(event.to.map(|s| s.as_str().to_owned())),
        note: Set(event.note.filter(|n| !n.trim().is_empty())),
        data: Set(event.data),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    if event.action.tells_someone() {
        outbox::enqueue(txn, &TicketNotify::of(id), now, now).await?;
    }
    Ok(id)
}

/// A stored ticket's state.
pub fn state_of(row: &ticket::Model) -> Result<TicketState, InvalidValue> {
    TicketState::parse(&row.state)
}

/// A stored ticket read as the state machine's facts (kind and price status).
pub fn facts_of(row: &ticket::Model) -> Result<Facts, InvalidValue> {
    Ok(Facts {
        kind: TicketKind::parse(&row.kind)?,
        price: row
            .price_status
            .as_deref()
            .map(PriceStatus::parse)
            .transpose()?,
    })
}
