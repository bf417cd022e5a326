//! Writing a new ticket: the sea-orm path and, beside it, the one-statement PostgreSQL
//! path that the ticket load benchmark depends on.

use courtyard_domain::{
    entities::{ticket, ticket_clock},
    jobs::{OutboxJob, TicketNotify},
    new_id,
    tickets::{Clock, EventAction, TicketState},
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    IntoActiveModel, TransactionTrait,
};
use uuid::Uuid;

use super::{Actor, NewEvent, clock_row, record_event};
use crate::idempotency::{self, Claim, Saved};

/// A new ticket's history entry: (action, from, to).
pub type CreationEvent = (EventAction, Option<TicketState>, TicketState);
/// A new ticket's history entries.
pub type NewEvents = [CreationEvent];

/// A new ticket as it is written: the row, its history entries (each telling someone, so
/// each with an outbox row), the details every entry carries, its SLA clocks, and the
/// `Idempotency-Key` claim to complete with the response.
pub struct NewTicket<'a> {
    /// The row.
    pub row: &'a ticket::Model,
    /// Who reported it.
    pub actor: Actor,
    /// `reported` (and `dispatched` for a complaint routed to the butler).
    pub events: &'a NewEvents,
    /// Details on every entry (`registered_by`).
    pub data: Option<serde_json::Value>,
    /// The clocks that start now.
    pub clocks: &'a [Clock],
    /// The claim and the response to save under it.
    pub key: Option<(&'a Claim, &'a Saved)>,
    /// The audit entry when staff register the report (the front desk for a resident).
    pub audit: Option<&'a crate::audit::Entry>,
}

/// Writes a new ticket in one transaction: on PostgreSQL as one statement, elsewhere (and
/// for a report staff register, which has its audit entry to write) through sea-orm; the
/// two write the same rows (a test holds them to it).
pub async fn create(db: &DatabaseConnection, new: NewTicket<'_>) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres && new.audit.is_none() {
        create_pg(db, new).await
    } else {
        create_orm(db, new).await
    }
}

/// [`create`] through sea-orm, statement by statement in one transaction.
pub async fn create_orm(db: &DatabaseConnection, new: NewTicket<'_>) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    create_in(&txn, new).await?;
    txn.commit().await
}

/// [`create_orm`] in the caller's transaction, for a ticket written with more beside it
/// (a booking's slot place, its row and bill).
pub async fn create_in(txn: &impl ConnectionTrait, new: NewTicket<'_>) -> Result<(), DbErr> {
    let NewTicket {
        row,
        actor,
        events,
        data,
        clocks,
        key,
        audit,
    } = new;
    let now = row.created_at;
    if let Some((claim, saved)) = key {
        idempotency::complete(txn, claim, saved, now).await?;
    }
    if let Some(entry) = audit {
        crate::audit::record(txn, entry).await?;
    }
    row.clone().into_active_model().insert(txn).await?;
    for &(action, from, to) in events {
        record_event(
            txn,
            NewEvent {
                ticket_id: row.id,
                actor,
                action,
                from,
                to: Some(to),
                note: None,
                data: data.clone(),
            },
            now,
        )
        .await?;
    }
    if !clocks.is_empty() {
        ticket_clock::Entity::insert_many(
            clocks
                .iter()
                .map(|c| clock_row(row.id, 0, c).into_active_model()),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// [`create`] on PostgreSQL in one statement: data-modifying CTEs commit together or not
/// at all, and one round trip instead of seven is most of what a report costs the
/// database.
pub async fn create_pg(db: &DatabaseConnection, new: NewTicket<'_>) -> Result<(), DbErr> {
    use sea_orm::{Statement, Value};
    let NewTicket {
        row,
        actor,
        events,
        data,
        clocks,
        key,
        audit: _,
    } = new;
    const SQL: &str = "WITH t AS (INSERT INTO tickets (id, company_id, community_id, kind, \
        household_id, resident_id, registered_by, source, category, urgency, severity, location, \
        description, preferred_from, preferred_to, state, assignee_id, butler_id, rework_count, \
        created_at, updated_at, dispatched_at, next_due_at, department) VALUES ($1, $2, $3, $4, \
        $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 0, $19, $19, $20, $34, \
        $35)), \
        e AS (INSERT INTO ticket_events (id, ticket_id, actor_kind, actor_id, action, from_state, \
        to_state, data, created_at, assignee_id, butler_id) SELECT e.id, $1, $21, $22, e.action, \
        NULLIF(e.from_state, ''), e.to_state, $23::json, $19, \
        CASE WHEN e.to_state = 'submitted' THEN NULL ELSE $17::uuid END, $18 FROM UNNEST($24::uuid[], $25::text[], $26::text[], $27::text[]) \
        AS e (id, action, from_state, to_state)), \
        o AS (INSERT INTO outbox (id, kind, payload, available_at, created_at) \
        SELECT o.id, $28, json_build_object('event_id', o.event_id), $19, $19 \
        FROM UNNEST($29::uuid[], $24::uuid[]) AS o (id, event_id)) \
        INSERT INTO ticket_clocks (ticket_id, clock, round, started_at, warn_at, due_at) \
        SELECT $1, c.clock, 0, c.started_at, c.warn_at, c.due_at \
        FROM UNNEST($30::text[], $31::timestamptz[], $32::timestamptz[], $33::timestamptz[]) \
        AS c (clock, started_at, warn_at, due_at)";
    const WITH_KEY: &str = "WITH k AS (UPDATE idempotency_records SET status = $39, \
        body = $40, completed_at = $19 WHERE principal_id = $36 AND route = $37 AND key = $38), ";
    let event_ids: Vec<Uuid> = events.iter().map(|_| new_id()).collect();
    let texts = |f: &dyn Fn(&CreationEvent) -> String| {
        Value::from(events.iter().map(f).collect::<Vec<String>>())
    };
    let mut values: Vec<Value> = vec![
        row.id.into(),
        row.company_id.into(),
        row.community_id.into(),
        row.kind.clone().into(),
        row.household_id.into(),
        row.resident_id.into(),
        row.registered_by.into(),
        row.source.clone().into(),
        row.category.clone().into(),
        row.urgency.clone().into(),
        row.severity.clone().into(),
        row.location.clone().into(),
        row.description.clone().into(),
        row.preferred_from.into(),
        row.preferred_to.into(),
        row.state.clone().into(),
        row.assignee_id.into(),
        row.butler_id.into(),
        row.created_at.into(),
        row.dispatched_at.into(),
        actor.kind.as_str().to_owned().into(),
        actor.id.into(),
        data.map(|d| d.to_string()).into(),
        Value::from(event_ids.clone()),
        texts(&|e| e.0.as_str().to_owned()),
        texts(&|e| e.1.map(|s| s.as_str().to_owned()).unwrap_or_default()),
        texts(&|e| e.2.as_str().to_owned()),
        TicketNotify::KIND.to_owned().into(),
        Value::from(events.iter().map(|_| new_id()).collect::<Vec<Uuid>>()),
        Value::from(
            clocks
                .iter()
                .map(|c| c.kind.as_str().to_owned())
                .collect::<Vec<String>>(),
        ),
        Value::from(clocks.iter().map(|c| c.started_at).collect::<Vec<_>>()),
        Value::from(clocks.iter().map(|c| c.warn_at).collect::<Vec<_>>()),
        Value::from(clocks.iter().map(|c| c.due_at).collect::<Vec<_>>()),
    ];
    // $34 is the next deadline, $35 the department; $36–$40 complete the Idempotency-Key
    // claim, if any.
    values.push(row.next_due_at.into());
    values.push(row.department.clone().into());
    let sql = match key {
        Some((claim, saved)) => {
            values.extend([
                claim.principal_id.into(),
                claim.route.to_owned().into(),
                claim.key.clone().into(),
                i32::from(saved.status).into(),
                saved.body.clone().into(),
            ]);
            format!("{WITH_KEY}{}", &SQL["WITH ".len()..])
        }
        None => SQL.to_owned(),
    };
    db.execute_raw(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        sql,
        values,
    ))
    .await
    .map(|_| ())
}
