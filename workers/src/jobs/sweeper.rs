//! Sweeper: the safety net that makes the database, not the queue, the source of truth.
//! Deliveries that are due but whose job the queue lost (Redis restarted without
//! persistence, the in-process queue died with its process, a delayed job dropped) are
//! enqueued again; a claim whose worker died is released; a notice whose fan-out never
//! finished is fanned out again. Sends stay deduplicated by the claim in the sender, and
//! fan-out is idempotent.

use anyhow::Context;
use chrono::Duration;
use courtyard_domain::entities::{delivery, notice};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    jobs::relay,
    pipeline::{CHUNK, Pipeline},
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

/// Re-enqueues the oldest lost deliveries, at most `sweep_batch` a tick. Each is due again
/// from now as it goes back to the queue, so the next tick takes the next oldest instead of
/// meeting these again while their jobs wait their turn; one that cannot be sent any more
/// is settled on the way (`Pipeline::enqueue_deliveries`). So every lost delivery is
/// reached in a bounded number of ticks, however many there are.
async fn lost_deliveries(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let grace = Duration::seconds(p.settings.sweep_grace_secs);
    // A channel whose circuit is open holds its jobs in the queue on purpose: they are
    // waiting, not lost. Not for longer than a grace past its next probe: a circuit whose
    // probes find nothing to send (the jobs really were lost) is swept again.
    let held: Vec<String> = p
        .circuits
        .open()
        .into_iter()
        .filter(|(_, open)| open.until > now - grace)
        .map(|(channel, _)| channel)
        .collect();
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
        .filter(delivery::Column::Channel.is_not_in(held))
        .order_by_asc(delivery::Column::DueAt)
        .order_by_asc(delivery::Column::Id)
        .limit(p.settings.sweep_batch.max(1))
        .into_tuple()
        .all(&p.db)
        .await
        .context("finding lost deliveries")?;
    if lost.is_empty() {
        return Ok(0);
    }
    for chunk in lost.chunks(CHUNK) {
        // A stale claim becomes claimable again by the sender's own rule; every one is due
        // from now.
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::case(delivery::Column::Status.eq("sending"), "retrying")
                    .finally(Expr::col(delivery::Column::Status))
                    .into(),
            )
            .col_expr(delivery::Column::DueAt, Expr::value(now))
            .filter(p.one_of(delivery::Column::Id, chunk))
            .filter(delivery::Column::Status.is_in(["pending", "retrying", "sending"]))
            .exec(&p.db)
            .await
            .context("taking lost deliveries back")?;
    }
    let moved = p.enqueue_deliveries(&lost).await?;
    tracing::info!(
        found = lost.len(),
        enqueued = moved,
        "re-enqueued deliveries the queue had lost"
    );
    Ok(moved)
}
