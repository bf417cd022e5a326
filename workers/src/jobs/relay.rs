//! Outbox relay: moves outbox rows that are due (a scheduled notice becomes due at its send
//! time, a ticket event at once) into the queue, then marks them relayed. A crash between
//! the two relays a row twice; every handler downstream is idempotent, so that costs a
//! duplicate job, never a duplicate send. Rows missed while the workers were down are
//! relayed on restart. The rows of ticket notifications and bill jobs are settled by their
//! jobs instead, and relayed again if the job is lost.

use anyhow::Context;
use courtyard_domain::{
    entities::outbox_entry,
    jobs::{DeliveriesEnqueue, NoticeFanout, OutboxJob, SETTLED_BY_THE_JOB, TicketNotify},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use crate::{
    pipeline::Pipeline,
    queue::{Job, streams},
};

/// The job's name in logs.
pub const NAME: &str = "outbox_relay";
/// Outbox kind: fan a notice out to its audience.
pub const NOTICE_FANOUT: &str = NoticeFanout::KIND;
/// Outbox kind: tell the people a ticket event concerns.
pub const TICKET_NOTIFY: &str = TicketNotify::KIND;
/// Outbox kind: (re)enqueue deliveries, e.g. a dead letter an admin replays.
pub const DELIVERIES_ENQUEUE: &str = DeliveriesEnqueue::KIND;

/// The field a relayed job carries its outbox row's id in, when the job settles the row.
pub const OUTBOX_ID: &str = "outbox_id";

/// Relays one batch; returns how many rows it relayed.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let rows = outbox_entry::Entity::find()
        .filter(outbox_entry::Column::RelayedAt.is_null())
        .filter(outbox_entry::Column::AvailableAt.lte(now))
        .order_by_asc(outbox_entry::Column::AvailableAt)
        .limit(200)
        .all(&p.db)
        .await
        .context("reading the outbox")?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut fanouts = Vec::new();
    let mut held = Vec::new();
    for row in &rows {
        match row.kind.as_str() {
            NOTICE_FANOUT => fanouts.push(Job {
                kind: NOTICE_FANOUT.into(),
                payload: row.payload.clone(),
            }),
            // A ticket event or a bill job leaves no row behind that would show a lost job (a
            // notice has its status), so its outbox row stays until the job settles it, and
            // comes due again if the job never does.
            kind if SETTLED_BY_THE_JOB.contains(&kind) => {
                let mut payload = row.payload.clone();
                if let Some(fields) = payload.as_object_mut() {
                    fields.insert(OUTBOX_ID.into(), json!(row.id));
                }
                fanouts.push(Job {
                    kind: row.kind.clone(),
                    payload,
                });
                held.push(row.id);
            }
            DELIVERIES_ENQUEUE => {
                let ids: DeliveriesEnqueue = serde_json::from_value(row.payload.clone())
                    .context("deliveries.enqueue payload")?;
                p.enqueue_deliveries(&ids.delivery_ids).await?;
            }
            // Every other kind goes to the fan-out stream too: the registry runs it, or
            // dead-letters it when nothing can (never dropped here).
            _ => fanouts.push(Job {
                kind: row.kind.clone(),
                payload: row.payload.clone(),
            }),
        }
    }
    // Both go to the fan-out stream, whose loop runs each job by its kind.
    p.queue.push(streams::FANOUT, &fanouts).await?;
    let relayed: Vec<Uuid> = rows
        .iter()
        .map(|r| r.id)
        .filter(|id| !held.contains(id))
        .collect();
    if !relayed.is_empty() {
        outbox_entry::Entity::update_many()
            .col_expr(outbox_entry::Column::RelayedAt, Expr::value(now))
            .filter(outbox_entry::Column::Id.is_in(relayed))
            .exec(&p.db)
            .await
            .context("marking outbox rows relayed")?;
    }
    if !held.is_empty() {
        let again = now + chrono::Duration::seconds(p.settings.sweep_grace_secs.max(1));
        outbox_entry::Entity::update_many()
            .col_expr(outbox_entry::Column::AvailableAt, Expr::value(again))
            .filter(outbox_entry::Column::Id.is_in(held))
            .exec(&p.db)
            .await
            .context("holding outbox rows until their jobs settle them")?;
    }
    Ok(rows.len())
}

/// Marks an outbox row held by [`run_once`] relayed: its job is done.
pub async fn settle(p: &Pipeline, id: Uuid) -> anyhow::Result<()> {
    outbox_entry::Entity::update_many()
        .col_expr(outbox_entry::Column::RelayedAt, Expr::value(p.clock.now()))
        .filter(outbox_entry::Column::Id.eq(id))
        .filter(outbox_entry::Column::RelayedAt.is_null())
        .exec(&p.db)
        .await
        .context("settling the outbox row")?;
    Ok(())
}
