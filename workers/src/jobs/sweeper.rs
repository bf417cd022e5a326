//! Sweeper: the safety net that makes the database, not the queue, the source of truth.
//! Deliveries that are due but whose job the queue lost (Redis restarted without
//! persistence, the in-process queue died with its process, a delayed job dropped) are
//! enqueued again; a claim whose worker died is released; a notice whose fan-out never
//! finished is fanned out again. Sends stay deduplicated by the claim in the sender, and
//! fan-out is idempotent.

use anyhow::Context;
use chrono::Duration;
use courtyard_domain::entities::{delivery, notice};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::{
    jobs::relay,
    pipeline::Pipeline,
    queue::{Job, streams},
};

/// The job's name in logs.
pub const NAME: &str = "delivery_sweeper";

/// Re-enqueues fan-outs and deliveries that look lost; returns how many.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    let fanouts = stalled_fanouts(p).await?;
    Ok(fanouts + lost_deliveries(p).await?)
}

async fn stalled_fanouts(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let grace = Duration::seconds(p.settings.sweep_grace_secs);
    let stalled: Vec<Uuid> = notice::Entity::find()
        .select_only()
        .column(notice::Column::Id)
        .filter(notice::Column::Status.is_in(["scheduled", "sending"]))
        .filter(notice::Column::SendAt.lt(now - grace))
        .limit(100)
        .into_tuple()
        .all(&p.db)
        .await
        .context("finding stalled fan-outs")?;
    if stalled.is_empty() {
        return Ok(0);
    }
    let jobs: Vec<Job> = stalled
        .iter()
        .map(|id| Job {
            kind: relay::NOTICE_FANOUT.into(),
            payload: serde_json::json!({ "notice_id": id }),
        })
        .collect();
    p.queue.push(streams::FANOUT, &jobs).await?;
    tracing::info!(
        count = jobs.len(),
        "fanning out notices again whose fan-out stalled"
    );
    Ok(jobs.len())
}

async fn lost_deliveries(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let grace = Duration::seconds(p.settings.sweep_grace_secs);
    let lost: Vec<Uuid> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(delivery::Column::Status.is_in(["pending", "retrying"]))
                        .add(delivery::Column::DueAt.lt(now - grace)),
                )
                .add(
                    Condition::all()
                        .add(delivery::Column::Status.eq("sending"))
                        .add(delivery::Column::ClaimedAt.lt(now - grace - grace)),
                ),
        )
        .limit(5_000)
        .into_tuple()
        .all(&p.db)
        .await
        .context("finding lost deliveries")?;
    if lost.is_empty() {
        return Ok(0);
    }
    // A stale claim becomes claimable again by the sender's own rule; pending ones simply
    // get a fresh job.
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            sea_orm::sea_query::Expr::value("retrying"),
        )
        .col_expr(
            delivery::Column::DueAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(delivery::Column::Id.is_in(lost.iter().copied()))
        .filter(delivery::Column::Status.eq("sending"))
        .exec(&p.db)
        .await?;
    let moved = p.enqueue_deliveries(&lost).await?;
    tracing::info!(count = moved, "re-enqueued deliveries the queue had lost");
    Ok(moved)
}
