//! Applying a checked ticket transition: one transaction that writes the ticket over the
//! state that was checked (a concurrent change makes it write nothing), the history
//! entries with their outbox rows, the clocks it meets and starts, and the row's earliest
//! open deadline. Who may do it, and what it leads to, `domain` decided before.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{ticket, ticket_clock},
    tickets::{Clock, ClockKind, EventAction, TicketKind, TicketState},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, TransactionTrait, sea_query::Expr,
};

use super::{Actor, NewEvent, clock_row, record_event};

/// The earliest unmet deadline of a ticket's current round, from its clocks.
pub const NEXT_DUE_SQL: &str = r#"(SELECT MIN("c"."due_at") FROM "ticket_clocks" AS "c" WHERE "c"."ticket_id" = "tickets"."id" AND "c"."round" = "tickets"."rework_count" AND "c"."met_at" IS NULL)"#;

/// The columns a transition may change.
const CHANGEABLE: [ticket::Column; 19] = [
    ticket::Column::State,
    ticket::Column::UpdatedAt,
    ticket::Column::ReworkCount,
    ticket::Column::ArrivedAt,
    ticket::Column::CompletedAt,
    ticket::Column::AnsweredAt,
    ticket::Column::AssigneeId,
    ticket::Column::Department,
    ticket::Column::DispatchedAt,
    ticket::Column::PriceFen,
    ticket::Column::PriceStatus,
    ticket::Column::PriceNote,
    ticket::Column::Rating,
    ticket::Column::Satisfied,
    ticket::Column::RatingComment,
    ticket::Column::RatedVia,
    ticket::Column::RatedAt,
    ticket::Column::ClosedAt,
    ticket::Column::CancelledAt,
];

/// A transition `domain` allowed, with everything it writes.
pub struct Transition {
    /// The ticket as it was read and checked.
    pub row: ticket::Model,
    /// The ticket as it is to become.
    pub active: ticket::ActiveModel,
    /// Who acts.
    pub actor: Actor,
    /// The history entry of the action.
    pub event: EventAction,
    /// The state that entry names as the result (a rating keeps the state in its own entry).
    pub event_to: TicketState,
    /// A second entry for what the action led to (closed or reopened after a rating).
    pub follow: Option<EventAction>,
    /// The state checked.
    pub from: TicketState,
    /// The state after.
    pub to: TicketState,
    /// The action's note.
    pub note: Option<String>,
    /// The action's details.
    pub data: Option<serde_json::Value>,
    /// The clock the action meets, if any.
    pub meets: Option<ClockKind>,
    /// Clocks that start, in the given round (rework, or the callback after completion);
    /// they replace that round's unmet clocks of the same kinds.
    pub starts: Option<(i32, Vec<Clock>)>,
    /// The audit entry of the step (a person's step; `None` for the system's own).
    pub audit: Option<crate::audit::Entry>,
}

/// Applies `t` in one transaction; `None` when the ticket changed since it was checked.
pub async fn apply(
    db: &DatabaseConnection,
    t: Transition,
    now: DateTime<Utc>,
) -> Result<Option<ticket::Model>, DbErr> {
    let txn = db.begin().await?;
    let saved = apply_in(&txn, t, now).await?;
    if saved.is_some() {
        txn.commit().await?;
    }
    Ok(saved)
}

/// [`apply`] in the caller's transaction, for steps that write more beside the ticket (a
/// booking's slot and bill); `None` when the ticket changed since it was checked, and then
/// nothing was written.
pub async fn apply_in(
    txn: &impl ConnectionTrait,
    t: Transition,
    now: DateTime<Utc>,
) -> Result<Option<ticket::Model>, DbErr> {
    let id = t.row.id;
    // Write first (SQLite), and only over the state checked: a concurrent change makes this
    // update nothing, and the caller answers 409 instead of losing an update.
    let mut update = ticket::Entity::update_many()
        .filter(ticket::Column::Id.eq(id))
        .filter(ticket::Column::State.eq(t.from.as_str()))
        .filter(ticket::Column::UpdatedAt.eq(t.row.updated_at));
    for column in CHANGEABLE {
        let value = t.active.get(column);
        if value.is_set()
            && let Some(value) = value.into_value()
        {
            update = update.col_expr(column, Expr::value(value));
        }
    }
    if update.exec(txn).await?.rows_affected == 0 {
        return Ok(None);
    }
    if let Some(entry) = &t.audit {
        crate::audit::record(txn, entry).await?;
    }
    record_event(
        txn,
        NewEvent {
            ticket_id: id,
            actor: t.actor,
            action: t.event,
            from: Some(t.from),
            to: Some(t.event_to),
            note: t.note,
            data: t.data,
        },
        now,
    )
    .await?;
    if t.event == EventAction::PriceAccepted
        && t.row.kind == TicketKind::Repair.as_str()
        && let (Some(household_id), Some(price_fen)) = (t.row.household_id, t.row.price_fen)
    {
        // An accepted repair price goes on the household's next bill, once per ticket.
        crate::fees::charges::for_repair(txn, &t.row, household_id, price_fen, now).await?;
    }
    if let Some(clock) = t.meets {
        ticket_clock::Entity::update_many()
            .col_expr(ticket_clock::Column::MetAt, Expr::value(now))
            .filter(ticket_clock::Column::TicketId.eq(id))
            .filter(ticket_clock::Column::Clock.eq(clock.as_str()))
            .filter(ticket_clock::Column::MetAt.is_null())
            .exec(txn)
            .await?;
    }
    if let Some(follow) = t.follow {
        record_event(
            txn,
            NewEvent {
                ticket_id: id,
                actor: t.actor,
                action: follow,
                from: Some(t.from),
                to: Some(t.to),
                note: None,
                data: None,
            },
            now,
        )
        .await?;
    }
    if let Some((round, clocks)) = &t.starts {
        // A completion after a rework round replaces that round's unmet callback clock.
        ticket_clock::Entity::delete_many()
            .filter(ticket_clock::Column::TicketId.eq(id))
            .filter(ticket_clock::Column::Round.eq(*round))
            .filter(ticket_clock::Column::Clock.is_in(clocks.iter().map(|c| c.kind.as_str())))
            .exec(txn)
            .await?;
        if !clocks.is_empty() {
            ticket_clock::Entity::insert_many(
                clocks
                    .iter()
                    .map(|c| clock_row(id, *round, c).into_active_model()),
            )
            .exec_without_returning(txn)
            .await?;
        }
    }
    // The row keeps its earliest open deadline for the lists.
    ticket::Entity::update_many()
        .col_expr(ticket::Column::NextDueAt, Expr::cust(NEXT_DUE_SQL))
        .filter(ticket::Column::Id.eq(id))
        .exec(txn)
        .await?;
    let saved = ticket::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("ticket {id}")))?;
    Ok(Some(saved))
}
