//! SLA watch, run by the scheduler every tick: a work clock (arrive, answer, resolve) about to
//! run out warns the assignee and butler, one that ran out is recorded as breached and
//! escalates to the community's supervisors; a completed ticket whose rating window passed
//! goes on the front desk's callback list (`awaiting_callback`). Each clock is handled in
//! its own transaction that first claims it with a conditional update, so two watches (a
//! lease handed over mid-run) never warn or escalate twice; the event and its outbox row are
//! written in the same transaction, so a warning is recorded exactly when it is sent.

use anyhow::Context;
use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{ticket, ticket_clock},
    tickets::{Action, ClockKind, EventAction, Party, TicketState, transition},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, Func},
};
use serde_json::json;

use courtyard_store::tickets::{Actor, NewEvent, facts_of, record_event};

use crate::pipeline::Pipeline;

/// The job's name in logs.
pub const NAME: &str = "sla_watch";
/// Clocks per kind of check and run: a backlog drains over a few ticks.
const BATCH: u64 = 500;

/// States in which a ticket's work clocks run: once the work is done they no longer page
/// anyone (the KPIs read a late `met_at` off the clock itself).
const WORKING: [TicketState; 5] = TicketState::IN_WORK;

/// Warns, escalates and opens callbacks that are due; returns how many clocks it acted on.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let mut acted = 0;
    for clock in work_clocks(p, Check::Warn, now).await? {
        acted += usize::from(warn(p, &clock, now).await?);
    }
    for clock in work_clocks(p, Check::Breach, now).await? {
        acted += usize::from(breach(p, &clock, now).await?);
    }
    for clock in callbacks_due(p, now).await? {
        acted += usize::from(open_callback(p, &clock, now).await?);
    }
    if acted > 0 {
        tracing::info!(clocks = acted, "SLA watch acted");
    }
    Ok(acted)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Warn,
    Breach,
}

/// The current round's work clocks of working tickets that need `check`.
async fn work_clocks(
    p: &Pipeline,
    check: Check,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<ticket_clock::Model>> {
    let states = WORKING
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    // A rework runs new clocks (round = the rework count): an earlier round's unmet clock
    // is history, not a deadline.
    let live = Expr::cust(format!(
        "EXISTS (SELECT 1 FROM tickets WHERE tickets.id = ticket_clocks.ticket_id \
         AND tickets.rework_count = ticket_clocks.round AND tickets.state IN ({states}))"
    ));
    let mut select = ticket_clock::Entity::find()
        .filter(ticket_clock::Column::MetAt.is_null())
        .filter(ticket_clock::Column::BreachedAt.is_null())
        .filter(ticket_clock::Column::Clock.ne(ClockKind::Callback.as_str()))
        .filter(live);
    select = match check {
        // One already past due is escalated instead: a watch that was down does not send a
        // warning and a breach at once.
        Check::Warn => select
            .filter(ticket_clock::Column::WarnedAt.is_null())
            .filter(ticket_clock::Column::WarnAt.lte(now))
            .filter(ticket_clock::Column::DueAt.gt(now))
            .order_by_asc(ticket_clock::Column::WarnAt),
        Check::Breach => select
            .filter(ticket_clock::Column::DueAt.lte(now))
            .order_by_asc(ticket_clock::Column::DueAt),
    };
    select
        .limit(BATCH)
        .all(&p.db)
        .await
        .context("finding SLA clocks to check")
}

/// Callback clocks that ran out on completed tickets.
async fn callbacks_due(
    p: &Pipeline,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<ticket_clock::Model>> {
    let completed = Expr::cust(format!(
        "EXISTS (SELECT 1 FROM tickets WHERE tickets.id = ticket_clocks.ticket_id \
         AND tickets.state = '{}')",
        TicketState::Completed.as_str()
    ));
    ticket_clock::Entity::find()
        .filter(ticket_clock::Column::Clock.eq(ClockKind::Callback.as_str()))
        .filter(ticket_clock::Column::MetAt.is_null())
        .filter(ticket_clock::Column::BreachedAt.is_null())
        .filter(ticket_clock::Column::DueAt.lte(now))
        .filter(completed)
        .order_by_asc(ticket_clock::Column::DueAt)
        .limit(BATCH)
        .all(&p.db)
        .await
        .context("finding callback windows that passed")
}

/// `update` narrowed to this one clock.
fn this_clock(
    update: sea_orm::UpdateMany<ticket_clock::Entity>,
    clock: &ticket_clock::Model,
) -> sea_orm::UpdateMany<ticket_clock::Entity> {
    update
        .filter(ticket_clock::Column::TicketId.eq(clock.ticket_id))
        .filter(ticket_clock::Column::Clock.eq(clock.clock.as_str()))
        .filter(ticket_clock::Column::Round.eq(clock.round))
        .filter(ticket_clock::Column::MetAt.is_null())
        .filter(ticket_clock::Column::BreachedAt.is_null())
}

/// Warns of one clock; false when it was met, warned or escalated meanwhile.
async fn warn(
    p: &Pipeline,
    clock: &ticket_clock::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    // The write comes first: SQLite lets a transaction that read first fail to write.
    let txn = p.db.begin().await?;
    let claimed = this_clock(ticket_clock::Entity::update_many(), clock)
        .col_expr(ticket_clock::Column::WarnedAt, Expr::value(now))
        .filter(ticket_clock::Column::WarnedAt.is_null())
        .exec(&txn)
        .await
        .context("marking an SLA clock warned")?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    let Some(state) = working_state(&txn, clock).await? else {
        txn.rollback().await?;
        return Ok(false);
    };
    record(&txn, clock, EventAction::SlaWarned, state, state, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Escalates one clock that ran out; false when it was met or escalated meanwhile.
async fn breach(
    p: &Pipeline,
    clock: &ticket_clock::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let txn = p.db.begin().await?;
    let claimed = this_clock(ticket_clock::Entity::update_many(), clock)
        .col_expr(ticket_clock::Column::BreachedAt, Expr::value(now))
        .col_expr(
            ticket_clock::Column::WarnedAt,
            Func::coalesce([Expr::col(ticket_clock::Column::WarnedAt), Expr::value(now)]).into(),
        )
        .exec(&txn)
        .await
        .context("marking an SLA clock breached")?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    let Some(state) = working_state(&txn, clock).await? else {
        txn.rollback().await?;
        return Ok(false);
    };
    // Lists read the flag from the ticket row.
    ticket::Entity::update_many()
        .col_expr(ticket::Column::Breached, Expr::value(true))
        .filter(ticket::Column::Id.eq(clock.ticket_id))
        .exec(&txn)
        .await
        .context("flagging the ticket breached")?;
    record(&txn, clock, EventAction::SlaBreached, state, state, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Puts a completed ticket whose rating window passed on the front desk's callback list;
/// false when it was rated (or moved on) meanwhile.
async fn open_callback(
    p: &Pipeline,
    clock: &ticket_clock::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let txn = p.db.begin().await?;
    let claimed = this_clock(ticket_clock::Entity::update_many(), clock)
        .col_expr(ticket_clock::Column::BreachedAt, Expr::value(now))
        .exec(&txn)
        .await
        .context("marking a callback window passed")?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    let ticket = ticket::Entity::find_by_id(clock.ticket_id)
        .one(&txn)
        .await?
        .context("the clock's ticket")?;
    let from = TicketState::parse(&ticket.state).map_err(|e| anyhow::anyhow!(e))?;
    let facts = facts_of(&ticket).map_err(|e| anyhow::anyhow!(e))?;
    let Ok(to) = transition(from, Action::CallbackDue, &[Party::System], facts) else {
        // Rated between the query and now: nothing to call back.
        txn.rollback().await?;
        return Ok(false);
    };
    let moved = ticket::Entity::update_many()
        .col_expr(ticket::Column::State, Expr::value(to.as_str()))
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now))
        .filter(ticket::Column::Id.eq(ticket.id))
        .filter(ticket::Column::State.eq(from.as_str()))
        .exec(&txn)
        .await
        .context("moving the ticket to the callback list")?;
    if moved.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    // The front desk's list shows it; nobody is pushed.
    record(&txn, clock, EventAction::CallbackDue, from, to, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// The ticket's state if its work clocks still run.
async fn working_state(
    txn: &DatabaseTransaction,
    clock: &ticket_clock::Model,
) -> anyhow::Result<Option<TicketState>> {
    let state: Option<String> = ticket::Entity::find_by_id(clock.ticket_id)
        .select_only()
        .column(ticket::Column::State)
        .into_tuple()
        .one(txn)
        .await
        .context("reading the clock's ticket")?;
    Ok(state
        .and_then(|s| TicketState::parse(&s).ok())
        .filter(|s| WORKING.contains(s)))
}

/// Writes the system's event about `clock` (and, when people are to hear of it, its outbox
/// row: [`EventAction::tells_someone`]).
async fn record(
    txn: &impl ConnectionTrait,
    clock: &ticket_clock::Model,
    action: EventAction,
    from: TicketState,
    to: TicketState,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    record_event(
        txn,
        NewEvent {
            ticket_id: clock.ticket_id,
            actor: Actor::SYSTEM,
            action,
            from: Some(from),
            to: Some(to),
            note: None,
            data: Some(json!({
                "clock": clock.clock,
                "round": clock.round,
                "due_at": clock.due_at,
            })),
        },
        now,
    )
    .await
    .context("recording the ticket event")?;
    Ok(())
}
