//! The ticket writes and readings both sides share: the event + outbox write every step
//! makes, and a stored row read back as the state machine's inputs.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{ticket, ticket_clock, ticket_event},
    jobs::TicketNotify,
    new_id,
    people::InvalidValue,
    ticket_messages::ActorKind,
    tickets::{EventAction, Facts, PriceStatus, TicketKind, TicketState},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::outbox;

mod create;
mod transition;

pub use create::{CreationEvent, NewEvents, NewTicket, create, create_in, create_orm, create_pg};
pub use transition::{NEXT_DUE_SQL, Transition, apply, apply_in};

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
    // Who holds the ticket as the event leaves it (the ticket was written first, in this
    // transaction): its notification is addressed from this, whenever its job runs. A
    // ticket an event leaves submitted has nobody assigned yet.
    let (assignee_id, butler_id) = ticket::Entity::find_by_id(event.ticket_id)
        .select_only()
        .columns([ticket::Column::AssigneeId, ticket::Column::ButlerId])
        .into_tuple::<(Option<Uuid>, Option<Uuid>)>()
        .one(txn)
        .await?
        .unwrap_or_default();
    let assignee_id = assignee_id.filter(|_| event.to != Some(TicketState::Submitted));
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
        assignee_id: Set(assignee_id),
        butler_id: Set(butler_id),
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

/// A stored ticket read as the state machine's facts (kind and price status); a booking's
/// own facts are `bookings::facts`'.
pub fn facts_of(row: &ticket::Model) -> Result<Facts, InvalidValue> {
    Ok(Facts {
        kind: TicketKind::parse(&row.kind)?,
        price: row
            .price_status
            .as_deref()
            .map(PriceStatus::parse)
            .transpose()?,
        booking: None,
    })
}

/// Reads one page of tickets, newest first: on PostgreSQL behind an `OFFSET 0` fence,
/// which keeps it from walking the primary key backwards looking for a resident's few
/// tickets among everyone's (a plan its estimates favour once the table is analysed).
pub async fn list_page<C: ConnectionTrait>(
    db: &C,
    select: sea_orm::Select<ticket::Entity>,
    limit: u64,
) -> Result<Vec<ticket::Model>, DbErr> {
    use sea_orm::{DbBackend, QueryTrait, Statement};
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return select
            .order_by_desc(ticket::Column::Id)
            .limit(limit)
            .all(db)
            .await;
    }
    let inner = backend.build(&select.into_query());
    let sql = format!(
        r#"SELECT * FROM ({} OFFSET 0) AS "tickets" ORDER BY "tickets"."id" DESC LIMIT {limit}"#,
        inner.sql
    );
    let statement = match inner.values {
        Some(values) => Statement::from_sql_and_values(backend, sql, values),
        None => Statement::from_string(backend, sql),
    };
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| match row.try_as_pg_row() {
            Some(pg) => ticket_from_pg(pg)
                .map_err(|e| sea_orm::DbErr::Custom(format!("reading a ticket row: {e}"))),
            None => sea_orm::FromQueryResult::from_query_result(row, ""),
        })
        .collect()
}

/// A ticket read straight from PostgreSQL's row, by column name: sea-orm's generic decoder
/// formats an error for every NULL column, and a list page has hundreds. A column the
/// entity gains and this misses fails to compile (the struct literal); a name that is wrong
/// fails the first read, loudly.
fn ticket_from_pg(
    row: &sea_orm::sqlx::postgres::PgRow,
) -> Result<ticket::Model, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::Row;
    let model = ticket::Model {
        id: row.try_get("id")?,
        company_id: row.try_get("company_id")?,
        community_id: row.try_get("community_id")?,
        kind: row.try_get("kind")?,
        household_id: row.try_get("household_id")?,
        resident_id: row.try_get("resident_id")?,
        registered_by: row.try_get("registered_by")?,
        source: row.try_get("source")?,
        category: row.try_get("category")?,
        urgency: row.try_get("urgency")?,
        severity: row.try_get("severity")?,
        location: row.try_get("location")?,
        description: row.try_get("description")?,
        preferred_from: row.try_get("preferred_from")?,
        preferred_to: row.try_get("preferred_to")?,
        state: row.try_get("state")?,
        department: row.try_get("department")?,
        assignee_id: row.try_get("assignee_id")?,
        butler_id: row.try_get("butler_id")?,
        price_fen: row.try_get("price_fen")?,
        price_status: row.try_get("price_status")?,
        price_note: row.try_get("price_note")?,
        rework_count: row.try_get("rework_count")?,
        rating: row.try_get("rating")?,
        satisfied: row.try_get("satisfied")?,
        rating_comment: row.try_get("rating_comment")?,
        rated_via: row.try_get("rated_via")?,
        rated_at: row.try_get("rated_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        dispatched_at: row.try_get("dispatched_at")?,
        answered_at: row.try_get("answered_at")?,
        arrived_at: row.try_get("arrived_at")?,
        completed_at: row.try_get("completed_at")?,
        closed_at: row.try_get("closed_at")?,
        cancelled_at: row.try_get("cancelled_at")?,
        next_due_at: row.try_get("next_due_at")?,
        breached: row.try_get("breached")?,
    };
    Ok(model)
}

/// The row of an SLA clock of `round` on a ticket.
pub fn clock_row(
    ticket_id: Uuid,
    round: i32,
    c: &courtyard_domain::tickets::Clock,
) -> ticket_clock::Model {
    ticket_clock::Model {
        ticket_id,
        clock: c.kind.as_str().into(),
        round,
        started_at: c.started_at,
        warn_at: c.warn_at,
        due_at: c.due_at,
        met_at: None,
        warned_at: None,
        breached_at: None,
    }
}
