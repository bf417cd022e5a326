//! Outbox relay: moves outbox rows that are due (a scheduled notice becomes due at its send
//! time) into the queue, then marks them relayed. A crash between the two relays a row twice;
//! every handler downstream is idempotent, so that costs a duplicate job, never a duplicate
//! send. Rows missed while the workers were down are relayed on restart.

use anyhow::Context;
use courtyard_domain::entities::outbox_entry;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    pipeline::Pipeline,
    queue::{Job, streams},
};

/// The job's name in logs.
pub const NAME: &str = "outbox_relay";
/// Outbox kind: fan a notice out to its audience.
pub const NOTICE_FANOUT: &str = "notice.fanout";
/// Outbox kind: (re)enqueue deliveries, e.g. a dead letter an admin replays.
pub const DELIVERIES_ENQUEUE: &str = "deliveries.enqueue";

#[derive(Deserialize)]
struct DeliveryIds {
    delivery_ids: Vec<Uuid>,
}

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
    for row in &rows {
        match row.kind.as_str() {
            NOTICE_FANOUT => fanouts.push(Job {
                kind: NOTICE_FANOUT.into(),
                payload: row.payload.clone(),
            }),
            DELIVERIES_ENQUEUE => {
                let ids: DeliveryIds = serde_json::from_value(row.payload.clone())
                    .context("deliveries.enqueue payload")?;
                p.enqueue_deliveries(&ids.delivery_ids).await?;
            }
            other => {
                tracing::error!(kind = other, id = %row.id, "unknown outbox kind; marked relayed")
            }
        }
    }
    p.queue.push(streams::FANOUT, &fanouts).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    outbox_entry::Entity::update_many()
        .col_expr(outbox_entry::Column::RelayedAt, Expr::value(now))
        .filter(outbox_entry::Column::Id.is_in(ids))
        .exec(&p.db)
        .await
        .context("marking outbox rows relayed")?;
    Ok(rows.len())
}
