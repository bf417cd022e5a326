//! Channel senders: take a batch of send jobs from a channel's stream, claim each delivery
//! (a delivery already sent, or being sent by a live worker, is skipped: that is the dedupe
//! that makes retries and reclaims safe), send concurrently, record the outcomes in one
//! transaction per batch, then acknowledge. Temporary failures retry with exponential
//! backoff and jitter (never sooner than the provider's Retry-After) through the delayed
//! set; the last failed attempt dead-letters the delivery. A push that can never arrive
//! falls back to SMS for the categories that warrant it.

use std::time::Duration;

use anyhow::Context;
use courtyard_domain::{
    entities::{delivery, device},
    new_id,
    notifications::Category,
};
use futures::StreamExt;
use rand::Rng;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    channels::SendOutcome,
    deliver::SendJob,
    jobs::fanout::insert_ignoring_duplicates,
    pipeline::{Pipeline, SEND},
    queue::{Job, Leased, streams},
};

/// The job's name in logs.
pub const NAME: &str = "channel_send";

/// Takes and sends one batch from `channel`'s stream; returns how many jobs it took.
pub async fn run_batch(
    p: &Pipeline,
    channel: &str,
    consumer: &str,
    block: Duration,
) -> anyhow::Result<usize> {
    let stream = streams::send(channel);
    let lease = Duration::from_millis(p.settings.lease_ms);
    let leased = p
        .queue
        .pull(&stream, consumer, p.settings.send_batch, lease, block)
        .await?;
    if leased.is_empty() {
        return Ok(0);
    }
    let taken = leased.len();
    let now = p.clock.now();
    let mut claimed = Vec::with_capacity(taken);
    for Leased { job, .. } in &leased {
        let Ok(send) = serde_json::from_value::<SendJob>(job.payload.clone()) else {
            tracing::error!(stream, "unreadable send job dropped");
            continue;
        };
        let stale = now - chrono::Duration::from_std(lease).unwrap_or_default();
        let won = delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value("sending"))
            .col_expr(delivery::Column::ClaimedAt, Expr::value(now))
            .col_expr(
                delivery::Column::Attempts,
                sea_orm::ExprTrait::add(Expr::col(delivery::Column::Attempts), 1),
            )
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
            .filter(delivery::Column::Id.eq(send.delivery_id))
            .filter(
                Condition::any()
                    .add(delivery::Column::Status.is_in(["pending", "retrying"]))
                    .add(
                        Condition::all()
                            .add(delivery::Column::Status.eq("sending"))
                            .add(delivery::Column::ClaimedAt.lt(stale)),
                    ),
            )
            .exec(&p.db)
            .await
            .context("claiming a delivery")?
            .rows_affected;
        if won == 1 {
            claimed.push(send);
        }
    }
    let attempts: std::collections::HashMap<Uuid, i32> = delivery::Entity::find()
        .filter(delivery::Column::Id.is_in(claimed.iter().map(|s| s.delivery_id)))
        .all(&p.db)
        .await?
        .into_iter()
        .map(|d| (d.id, d.attempts))
        .collect();
    let deliverer = p.deliverer.clone();
    let outcomes: Vec<(SendJob, SendOutcome)> = futures::stream::iter(claimed)
        .map(|job| {
            let deliverer = deliverer.clone();
            async move {
                let outcome = deliverer.deliver(&job).await;
                (job, outcome)
            }
        })
        .buffer_unordered(p.settings.send_concurrency.max(1))
        .collect()
        .await;
    record(p, &stream, &outcomes, &attempts).await?;
    let ids: Vec<String> = leased.into_iter().map(|l| l.id).collect();
    p.queue.ack(&stream, &ids).await?;
    Ok(taken)
}

async fn record(
    p: &Pipeline,
    stream: &str,
    outcomes: &[(SendJob, SendOutcome)],
    attempts: &std::collections::HashMap<Uuid, i32>,
) -> anyhow::Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let now = p.clock.now();
    let mut retries = Vec::new();
    let mut dead = Vec::new();
    let mut gave_up = Vec::new();
    let txn = p.db.begin().await?;
    for (job, outcome) in outcomes {
        let update = delivery::Entity::update_many()
            .filter(delivery::Column::Id.eq(job.delivery_id))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now));
        let attempt = attempts.get(&job.delivery_id).copied().unwrap_or(1);
        match outcome {
            SendOutcome::Sent { provider_id } => {
                update
                    .col_expr(delivery::Column::Status, Expr::value("sent"))
                    .col_expr(delivery::Column::SentAt, Expr::value(now))
                    .col_expr(
                        delivery::Column::ProviderId,
                        Expr::value(provider_id.clone()),
                    )
                    .col_expr(
                        delivery::Column::LastError,
                        Expr::value(Option::<String>::None),
                    )
                    .exec(&txn)
                    .await?;
            }
            SendOutcome::InvalidRecipient { reason } => {
                update
                    .col_expr(delivery::Column::Status, Expr::value("invalid_token"))
                    .col_expr(delivery::Column::LastError, Expr::value(reason.clone()))
                    .exec(&txn)
                    .await?;
                if matches!(job.channel.as_str(), "apns" | "fcm") {
                    device::Entity::update_many()
                        .col_expr(device::Column::Active, Expr::value(false))
                        .col_expr(device::Column::InvalidatedAt, Expr::value(now))
                        .col_expr(device::Column::InvalidReason, Expr::value(reason.clone()))
                        .filter(device::Column::Provider.eq(job.channel.as_str()))
                        .filter(device::Column::Token.eq(job.target.as_str()))
                        .exec(&txn)
                        .await?;
                    tracing::info!(channel = %job.channel, token = %job.target_for_logs(), %reason, "device deactivated");
                }
                gave_up.push(job.clone());
            }
            SendOutcome::Retry {
                reason,
                retry_after,
            } if attempt < p.settings.max_attempts => {
                let delay = backoff(p, attempt, *retry_after);
                let due = now + chrono::Duration::from_std(delay).unwrap_or_default();
                update
                    .col_expr(delivery::Column::Status, Expr::value("retrying"))
                    .col_expr(delivery::Column::DueAt, Expr::value(due))
                    .col_expr(delivery::Column::LastError, Expr::value(reason.clone()))
                    .exec(&txn)
                    .await?;
                retries.push((job.clone(), due));
            }
            SendOutcome::Retry { reason, .. } => {
                update
                    .col_expr(delivery::Column::Status, Expr::value("dead"))
                    .col_expr(
                        delivery::Column::LastError,
                        Expr::value(format!("{reason} (after {attempt} attempts)")),
                    )
                    .exec(&txn)
                    .await?;
                dead.push((job.clone(), reason.clone()));
                gave_up.push(job.clone());
            }
            SendOutcome::Failed { reason } => {
                update
                    .col_expr(delivery::Column::Status, Expr::value("failed"))
                    .col_expr(delivery::Column::LastError, Expr::value(reason.clone()))
                    .exec(&txn)
                    .await?;
                gave_up.push(job.clone());
            }
        }
    }
    txn.commit().await?;
    for (job, due) in retries {
        let parked = Job {
            kind: SEND.into(),
            payload: serde_json::to_value(&job)?,
        };
        p.queue.push_delayed(stream, &parked, due).await?;
    }
    for (job, reason) in dead {
        let parked = Job {
            kind: SEND.into(),
            payload: serde_json::to_value(&job)?,
        };
        p.queue.dead_letter(stream, &parked, &reason).await?;
        tracing::warn!(delivery = %job.delivery_id, channel = %job.channel, %reason, "delivery dead-lettered");
    }
    for job in gave_up {
        sms_fallback(p, &job).await?;
    }
    Ok(())
}

/// Exponential backoff with full jitter, never below the provider's `Retry-After`.
fn backoff(p: &Pipeline, attempt: i32, retry_after: Option<Duration>) -> Duration {
    let base = p.settings.retry_base_ms.max(1);
    let exp = base.saturating_mul(1u64 << attempt.clamp(0, 20));
    let cap = p.settings.retry_max_secs.saturating_mul(1000).max(base);
    let ceiling = exp.min(cap);
    let jittered = rand::rng().random_range(ceiling / 2..=ceiling);
    Duration::from_millis(jittered).max(retry_after.unwrap_or_default())
}

/// When a push can never arrive and no other push of the message is alive, sends the
/// message by SMS instead, for categories that warrant it.
async fn sms_fallback(p: &Pipeline, job: &SendJob) -> anyhow::Result<()> {
    if !matches!(job.channel.as_str(), "apns" | "fcm") {
        return Ok(());
    }
    if !Category::parse(&job.category).is_ok_and(Category::warrants_sms) {
        return Ok(());
    }
    let Some(failed) = delivery::Entity::find_by_id(job.delivery_id)
        .one(&p.db)
        .await?
    else {
        return Ok(());
    };
    let alive = delivery::Entity::find()
        .filter(delivery::Column::MessageId.eq(failed.message_id))
        .filter(delivery::Column::Channel.is_in(["apns", "fcm"]))
        .filter(delivery::Column::Status.is_in(["pending", "sending", "retrying", "sent"]))
        .one(&p.db)
        .await?
        .is_some();
    if alive {
        return Ok(());
    }
    let now = p.clock.now();
    let key = format!("{}:sms:{}", failed.message_id, failed.resident_id);
    insert_ignoring_duplicates::<delivery::Entity>(
        p,
        vec![delivery::ActiveModel {
            id: Set(new_id()),
            message_id: Set(failed.message_id),
            resident_id: Set(failed.resident_id),
            notice_id: Set(failed.notice_id),
            channel: Set("sms".into()),
            device_id: Set(None),
            dedupe_key: Set(key.clone()),
            status: Set("pending".into()),
            attempts: Set(0),
            last_error: Set(None),
            provider_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            due_at: Set(p.clock.now()),
            claimed_at: Set(None),
            sent_at: Set(None),
        }],
        delivery::Column::DedupeKey,
    )
    .await?;
    if let Some(sms) = delivery::Entity::find()
        .filter(delivery::Column::DedupeKey.eq(key))
        .one(&p.db)
        .await?
        && sms.status == "pending"
    {
        tracing::info!(message = %failed.message_id, "push cannot arrive: falling back to SMS");
        p.enqueue_deliveries(&[sms.id]).await?;
    }
    Ok(())
}
