//! Channel senders: take a batch of send jobs from a channel's stream, claim its deliveries
//! with one statement (a delivery already sent, or being sent by a live worker, is not
//! claimed and so not sent: that is the dedupe that makes retries, reclaims and replays
//! safe), send concurrently, record the outcomes in one transaction per batch (one statement
//! per kind of outcome), then acknowledge. Each channel works on several batches at once so
//! the database work of some overlaps the provider calls of others. Temporary failures retry
//! with exponential backoff and jitter (never sooner than the provider's Retry-After)
//! through the delayed set; the last failed attempt dead-letters the delivery. A push that
//! can never arrive falls back to SMS for the categories that warrant it.
//!
//! Providers' rate limits: before claiming a batch, a lane reserves its sends under its
//! channel's rate (shared through the queue, so across every worker on one Redis) and waits
//! until they are due; each lane takes at most its share of a second's burst, so that wait
//! stays far inside the lease of the jobs it holds. An SMS to a number that had its
//! minute's, hour's or day's share is not sent: its delivery's due time moves to when the
//! window allows and its job waits in the delayed set, without counting as an attempt.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{bill, delivery, device},
    fees::bills::BillState,
    notifications::Category,
};
use futures::StreamExt;
use rand::Rng;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait, Statement, TransactionTrait,
    sea_query::{CaseStatement, Expr, Query},
};
use uuid::Uuid;

use courtyard_providers::SendOutcome;

use courtyard_domain::circuits::Admit;

use crate::{
    circuit,
    deliver::SendJob,
    fallback,
    pipeline::{CHUNK, Pipeline, SEND, decode_send},
    queue::{Job, Rate, Window, streams},
};

/// The job's name in logs.
pub const NAME: &str = "channel_send";
/// How long one [`run_batch`] keeps its lanes taking further batches while jobs keep
/// coming; it bounds how long a shutdown waits for the sender.
const LANE_BUDGET: Duration = Duration::from_secs(1);
/// How long a lane of a channel whose circuit is open waits before asking again.
const CIRCUIT_NAP: Duration = Duration::from_millis(200);
/// Ids per `CASE` expression (the portable way to set a different value per row).
const CASE_CHUNK: usize = 500;
/// Parameter bytes per statement that fit, with the rest of the message, in one TLS record
/// (16 KiB). sqlx 0.9.0 leaves Nagle's algorithm on (launchbadge/sqlx#4335, fixed upstream
/// but not released): a statement split over records waits for the server's delayed ACK,
/// 40 ms, and the senders record often enough for that to halve their rate over TLS.
const STATEMENT_BYTES: usize = 12 * 1024;

/// `rows` cut into runs whose `size` adds up to at most `budget` (at least one row each).
fn chunks_within<T>(rows: &[T], budget: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let row_bytes = size(row);
        if i > start && bytes + row_bytes > budget {
            chunks.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += row_bytes;
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}

/// The rate limit of `channel`'s provider, if it has one.
fn rate_limit(p: &Pipeline, channel: &str) -> Option<Rate> {
    Rate::per_minute(p.settings.rate_limits.get(channel).copied().unwrap_or(0))
}

/// The windows an SMS to one number must fit in.
fn sms_windows(p: &Pipeline) -> Vec<Window> {
    let s = &p.settings;
    [
        (s.sms_per_number_minute, 60),
        (s.sms_per_number_hour, 3_600),
        (s.sms_per_number_day, 86_400),
    ]
    .into_iter()
    .filter_map(|(limit, secs)| Window::new(limit, Duration::from_secs(secs)))
    .collect()
}

/// Takes and sends batches from `channel`'s stream on `send_lanes` concurrent lanes that
/// share `send_batch` between them (so at most `send_batch` sends of a channel are ever
/// unrecorded in this process: what a crash may repeat), each lane going on to a further
/// batch for about a second unless its stream stayed empty for `block`; returns how many
/// jobs it took.
pub async fn run_batch(
    p: &Pipeline,
    channel: &str,
    consumer: &str,
    block: Duration,
) -> anyhow::Result<usize> {
    let started = Instant::now();
    let lanes = p.settings.send_lanes.clamp(1, p.settings.send_batch.max(1));
    let mut batch = (p.settings.send_batch / lanes).max(1);
    let rate = rate_limit(p, channel);
    if let Some(rate) = rate {
        // The lanes of a process reserve a burst at most between them, so a reservation
        // waits about a second per process sharing the limit: far less than the lease of
        // the jobs a lane holds while it waits (a longer wait would let another consumer
        // take them over).
        batch = batch.min((rate.burst() as usize / lanes).max(1));
    }
    let lanes = (0..lanes).map(|lane| async move {
        // Each lane reads as its own consumer, so its blocking read has its own connection.
        let consumer = match lane {
            0 => consumer.to_owned(),
            n => format!("{consumer}.{n}"),
        };
        let mut taken = 0;
        loop {
            let n = one_batch(p, channel, &consumer, batch, block, rate).await?;
            taken += n;
            // A lane that found a partial batch goes on (more is likely coming, and waiting
            // here for the other lanes would leave its share of the work undone).
            if n == 0 || started.elapsed() >= LANE_BUDGET {
                return anyhow::Ok(taken);
            }
        }
    });
    let mut taken = 0;
    for lane in futures::future::join_all(lanes).await {
        taken += lane?;
    }
    Ok(taken)
}

/// One send, its attempt number and the provider's answer.
struct Attempted {
    job: SendJob,
    attempt: i32,
    outcome: SendOutcome,
}

/// Pulls, waits for the channel's rate limit, defers SMS over their number's limits,
/// claims, sends, records and acknowledges one batch; returns how many jobs it took.
async fn one_batch(
    p: &Pipeline,
    channel: &str,
    consumer: &str,
    batch: usize,
    block: Duration,
    rate: Option<Rate>,
) -> anyhow::Result<usize> {
    let stream = streams::send(channel);
    let lease = Duration::from_millis(p.settings.lease_ms);
    // An open circuit takes nothing; after its cool-down one send probes the provider.
    let (batch, probe) = match circuit::admit(p, channel) {
        Admit::All => (batch, false),
        Admit::Probe => (1, true),
        Admit::Wait => {
            tokio::time::sleep(block.min(CIRCUIT_NAP)).await;
            return Ok(0);
        }
    };
    let leased = p
        .queue
        .pull_json(&stream, consumer, batch, lease, block)
        .await;
    let leased = match leased {
        Ok(leased) if !leased.is_empty() => leased,
        other => {
            if probe {
                circuit::release_probe(p, channel);
            }
            return other.map(|_| 0);
        }
    };
    let taken = leased.len();
    let mut ids = Vec::with_capacity(taken);
    let mut jobs: Vec<SendJob> = Vec::with_capacity(taken);
    let mut seen = HashSet::with_capacity(taken);
    for (id, job) in leased {
        ids.push(id);
        match decode_send(&job) {
            // A delivery queued twice (a sweep racing its job) is claimed and sent once.
            Ok(send) if seen.insert(send.delivery_id) => jobs.push(send),
            Ok(_) => {}
            Err(_) => tracing::error!(stream, "unreadable send job dropped"),
        }
    }
    if let Some(rate) = rate
        && !jobs.is_empty()
    {
        // Before the claim: a claim's lease runs while it waits.
        let n = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
        let wait = p
            .queue
            .reserve_rate(&format!("rate:{channel}"), rate, n)
            .await
            .with_context(|| format!("reserving {n} {channel} sends under its rate limit"))?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
    // After the wait, so the windows count a send when it is made.
    if channel == "sms" {
        jobs = defer_over_number_limits(p, &stream, jobs).await?;
    }
    let claimed = claim(p, lease, jobs).await?;
    let claimed = drop_settled_reminders(p, claimed).await?;
    let claimed = take_wechat_consents(p, claimed).await?;
    let deliverer = p.deliverer.clone();
    let attempted: Vec<Attempted> = futures::stream::iter(claimed)
        .map(|(job, attempt)| {
            let deliverer = deliverer.clone();
            async move {
                let outcome = deliverer.deliver(&job).await;
                Attempted {
                    job,
                    attempt,
                    outcome,
                }
            }
        })
        .buffer_unordered(p.settings.send_concurrency.max(1))
        .collect()
        .await;
    // Before the record: an Unavailable answer waits for the circuit's next probe.
    circuit::observe(p, channel, attempted.iter().map(|a| &a.outcome)).await;
    if probe {
        // A probe whose answer said nothing of the provider (a message refused before it
        // left) lets the next one go; one that closed or reopened the circuit is done.
        circuit::release_probe(p, channel);
    }
    record(p, &stream, attempted).await?;
    p.queue.ack(&stream, &ids).await?;
    Ok(taken)
}

/// Returns the SMS of `jobs` whose numbers are within their limits (each now counted
/// against them); the others are deferred until their number's windows allow: their
/// deliveries' due time moves there (they were never claimed, so no attempt is counted),
/// their last error says why, and their jobs wait in the delayed set.
async fn defer_over_number_limits(
    p: &Pipeline,
    stream: &str,
    jobs: Vec<SendJob>,
) -> anyhow::Result<Vec<SendJob>> {
    let windows = sms_windows(p);
    if windows.is_empty() || jobs.is_empty() {
        return Ok(jobs);
    }
    let now = p.clock.now();
    let keys: Vec<String> = jobs
        .iter()
        .map(|job| format!("sms-number:{}", job.target))
        .collect();
    // A send counted here whose claim then fails (another worker sent it) only makes the
    // number's next SMS wait longer than it had to: never a loss or a repeat.
    let verdicts = p
        .queue
        .admit_within(&keys, &windows, now)
        .await
        .context("checking SMS against their numbers' limits")?;
    let mut within = Vec::with_capacity(jobs.len());
    let mut deferred: Vec<(SendJob, DateTime<Utc>)> = Vec::new();
    for (job, verdict) in jobs.into_iter().zip(verdicts) {
        match verdict {
            None => within.push(job),
            Some(due) => deferred.push((job, due)),
        }
    }
    if deferred.is_empty() {
        return Ok(within);
    }
    let reason = "deferred: the number had its share of SMS (per-number limit)";
    for chunk in deferred.chunks(CASE_CHUNK) {
        let due = chunk
            .iter()
            .fold(CaseStatement::new(), |case, (job, due)| {
                case.case(delivery::Column::Id.eq(job.delivery_id), Expr::value(*due))
            })
            .finally(Expr::col(delivery::Column::DueAt));
        // Only deliveries still waiting: one another worker holds or sent stays as it is
        // (its parked job then finds nothing to claim).
        delivery::Entity::update_many()
            .col_expr(delivery::Column::DueAt, due.into())
            .col_expr(delivery::Column::LastError, Expr::value(reason))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
            .filter(delivery::Column::Id.is_in(chunk.iter().map(|(job, _)| job.delivery_id)))
            .filter(delivery::Column::Status.is_in(["pending", "retrying"]))
            .exec(&p.db)
            .await
            .context("deferring SMS over their number's limits")?;
    }
    let mut parked = Vec::with_capacity(deferred.len());
    for (job, due) in deferred {
        tracing::info!(delivery = %job.delivery_id, target = %job.target_for_logs(), %due, "SMS deferred: its number is over the per-number limit");
        let job = Job {
            kind: SEND.into(),
            payload: serde_json::to_value(&job)?,
        };
        parked.push((stream.to_owned(), job, due));
    }
    p.queue.push_delayed_many(&parked).await?;
    Ok(within)
}

/// Drops the claimed fee reminders whose bills were all paid (or waived) since they were
/// queued: their deliveries end `suppressed` with the reason `paid`, and nothing is sent.
async fn drop_settled_reminders(
    p: &Pipeline,
    claimed: Vec<(SendJob, i32)>,
) -> anyhow::Result<Vec<(SendJob, i32)>> {
    let bills_of = |job: &SendJob| -> Option<Vec<Uuid>> {
        if job.category != Category::FeeReminder.as_str() {
            return None;
        }
        let ids = job.data.get("bill_ids")?;
        Some(
            ids.split(',')
                .filter_map(|id| Uuid::parse_str(id).ok())
                .collect(),
        )
    };
    let asked: Vec<Uuid> = claimed
        .iter()
        .filter_map(|(job, _)| bills_of(job))
        .flatten()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if asked.is_empty() {
        return Ok(claimed);
    }
    let mut open: HashSet<Uuid> = HashSet::with_capacity(asked.len());
    for chunk in asked.chunks(CHUNK) {
        open.extend(
            bill::Entity::find()
                .select_only()
                .column(bill::Column::Id)
                .filter(p.one_of(bill::Column::Id, chunk))
                .filter(bill::Column::State.eq(BillState::Open.as_str()))
                .into_tuple::<Uuid>()
                .all(&p.db)
                .await
                .context("checking reminders' bills")?,
        );
    }
    let (keep, settled): (Vec<_>, Vec<_>) = claimed.into_iter().partition(|(job, _)| {
        bills_of(job).is_none_or(|ids| ids.iter().any(|id| open.contains(id)))
    });
    if !settled.is_empty() {
        let ids: Vec<Uuid> = settled.iter().map(|(job, _)| job.delivery_id).collect();
        for chunk in ids.chunks(CHUNK) {
            delivery::Entity::update_many()
                .col_expr(delivery::Column::Status, Expr::value("suppressed"))
                .col_expr(delivery::Column::LastError, Expr::value("paid"))
                .col_expr(delivery::Column::UpdatedAt, Expr::value(p.clock.now()))
                .filter(p.one_of(delivery::Column::Id, chunk))
                .exec(&p.db)
                .await
                .context("dropping reminders of paid bills")?;
        }
        tracing::info!(
            count = ids.len(),
            "reminders dropped: their bills were paid"
        );
    }
    Ok(keep)
}

/// Whether `job` goes by WeChat: every WeChat subscription message (一次性订阅消息) takes
/// one of the resident's one-time consents of its category.
fn takes_consent(job: &SendJob) -> bool {
    job.channel == "wechat"
}

/// A WeChat message takes one of the resident's one-time subscription consents of its
/// category on its first attempt; without one left it is not sent (suppressed, `no unused
/// WeChat consent`).
async fn take_wechat_consents(
    p: &Pipeline,
    claimed: Vec<(SendJob, i32)>,
) -> anyhow::Result<Vec<(SendJob, i32)>> {
    let needs = takes_consent;
    if !claimed.iter().any(|(job, _)| needs(job)) {
        return Ok(claimed);
    }
    // The residents of the first attempts, in one query.
    let first: Vec<Uuid> = claimed
        .iter()
        .filter(|(job, attempt)| needs(job) && *attempt <= 1)
        .map(|(job, _)| job.delivery_id)
        .collect();
    let resident_of: HashMap<Uuid, Uuid> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .column(delivery::Column::ResidentId)
        .filter(p.one_of(delivery::Column::Id, &first))
        .into_tuple::<(Uuid, Uuid)>()
        .all(&p.db)
        .await?
        .into_iter()
        .collect();
    let mut keep = Vec::with_capacity(claimed.len());
    let mut refused = Vec::new();
    for (job, attempt) in claimed {
        if !needs(&job) || attempt > 1 {
            keep.push((job, attempt));
            continue;
        }
        let taken = match resident_of.get(&job.delivery_id) {
            Some(resident) => {
                courtyard_store::consents::take(&p.db, *resident, &job.category, p.clock.now())
                    .await?
            }
            None => false,
        };
        if taken {
            keep.push((job, attempt));
        } else {
            refused.push(job.delivery_id);
        }
    }
    if !refused.is_empty() {
        delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value("suppressed"))
            .col_expr(
                delivery::Column::LastError,
                Expr::value("no unused WeChat consent"),
            )
            .col_expr(delivery::Column::UpdatedAt, Expr::value(p.clock.now()))
            .filter(delivery::Column::Id.is_in(refused))
            .exec(&p.db)
            .await
            .context("suppressing WeChat reminders without consent")?;
    }
    Ok(keep)
}

/// Claims the deliveries of `jobs` with one `UPDATE ... RETURNING` per [`CHUNK`]: those
/// pending or retrying, or claimed by a worker whose lease ran out. Returns the jobs won,
/// with their attempt number.
async fn claim(
    p: &Pipeline,
    lease: Duration,
    jobs: Vec<SendJob>,
) -> anyhow::Result<Vec<(SendJob, i32)>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let now = p.clock.now();
    let stale = now - chrono::Duration::from_std(lease).unwrap_or_default();
    let mut won: HashMap<Uuid, i32> = HashMap::with_capacity(jobs.len());
    let postgres = p.db.get_database_backend() == DbBackend::Postgres;
    for chunk in jobs.chunks(CHUNK) {
        let ids: Vec<Uuid> = chunk.iter().map(|j| j.delivery_id).collect();
        let rows = if postgres {
            // Joined on the ids, so PostgreSQL looks each one up by primary key: with the
            // status condition in the WHERE clause it may combine the status index instead,
            // reading every pending delivery of a large notice for each batch (the
            // statistics of a table that just grew by a notice lag behind).
            const SQL: &str = "UPDATE deliveries AS d SET status = 'sending', claimed_at = $1, \
                attempts = d.attempts + 1, updated_at = $1 \
                FROM UNNEST($2::uuid[]) AS c (id) \
                WHERE d.id = c.id AND (d.status IN ('pending', 'retrying') \
                OR (d.status = 'sending' AND d.claimed_at < $3)) \
                RETURNING d.id, d.attempts";
            let values = vec![now.into(), ids.into(), stale.into()];
            p.db.query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                SQL,
                values,
            ))
            .await
        } else {
            // The same claim for other databases.
            let mut update = delivery::Entity::update_many()
                .col_expr(delivery::Column::Status, Expr::value("sending"))
                .col_expr(delivery::Column::ClaimedAt, Expr::value(now))
                .col_expr(
                    delivery::Column::Attempts,
                    sea_orm::ExprTrait::add(Expr::col(delivery::Column::Attempts), 1),
                )
                .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
                .filter(delivery::Column::Id.is_in(ids))
                .filter(
                    Condition::any()
                        .add(delivery::Column::Status.is_in(["pending", "retrying"]))
                        .add(
                            Condition::all()
                                .add(delivery::Column::Status.eq("sending"))
                                .add(delivery::Column::ClaimedAt.lt(stale)),
                        ),
                )
                .into_query();
            update.returning(
                Query::returning().columns([delivery::Column::Id, delivery::Column::Attempts]),
            );
            p.db.query_all(&update).await
        };
        for row in rows.context("claiming deliveries")? {
            won.insert(row.try_get("", "id")?, row.try_get("", "attempts")?);
        }
    }
    Ok(jobs
        .into_iter()
        .filter_map(|job| won.get(&job.delivery_id).map(|&attempt| (job, attempt)))
        .collect())
}

/// Records a batch's outcomes in one transaction, one statement per kind of outcome (and
/// reason), then parks the retries, dead-letters what ran out of attempts and falls back to
/// SMS where a push can never arrive.
async fn record(p: &Pipeline, stream: &str, attempted: Vec<Attempted>) -> anyhow::Result<()> {
    if attempted.is_empty() {
        return Ok(());
    }
    let now = p.clock.now();
    let mut sent: Vec<(Uuid, Option<String>)> = Vec::with_capacity(attempted.len());
    // Final states, by status and error text.
    let mut settled: BTreeMap<(&'static str, String), Vec<Uuid>> = BTreeMap::new();
    // Retries by error text, each with its own (jittered) due time.
    let mut retrying: BTreeMap<String, Vec<(Uuid, DateTime<Utc>)>> = BTreeMap::new();
    // Sends the provider as a whole failed, by error text: they wait, their attempt given
    // back, at least until their channel's circuit lets a probe through.
    let mut waiting: BTreeMap<String, Vec<(Uuid, DateTime<Utc>)>> = BTreeMap::new();
    // Device tokens to deactivate, by provider and reason.
    let mut invalid_tokens: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut retries = Vec::new();
    let mut dead = Vec::new();
    let mut gave_up = Vec::new();
    for Attempted {
        job,
        attempt,
        outcome,
    } in attempted
    {
        // A provider-wide failure waits with its attempt given back while its channel's
        // circuit is open. Below the threshold (a provider failing now and then) it counts
        // like any retry, so its backoff grows and it cannot loop for ever; so does a WeChat
        // fee reminder's, whose first attempt took a one-time consent.
        let outcome = match outcome {
            SendOutcome::Unavailable {
                reason,
                retry_after,
            } if p.circuits.open_circuit(&job.channel).is_none() || takes_consent(&job) => {
                SendOutcome::Retry {
                    reason,
                    retry_after,
                }
            }
            other => other,
        };
        match outcome {
            SendOutcome::Sent { provider_id } => sent.push((job.delivery_id, provider_id)),
            SendOutcome::InvalidRecipient { reason } => {
                settled
                    .entry(("invalid_token", reason.clone()))
                    .or_default()
                    .push(job.delivery_id);
                if matches!(job.channel.as_str(), "apns" | "fcm") {
                    tracing::info!(channel = %job.channel, token = %job.target_for_logs(), %reason, "device deactivated");
                    invalid_tokens
                        .entry((job.channel.clone(), reason))
                        .or_default()
                        .push(job.target.clone());
                }
                gave_up.push(job);
            }
            SendOutcome::Retry {
                reason,
                retry_after,
            } if attempt < p.settings.max_attempts => {
                let delay = backoff(p, attempt, retry_after);
                let due = now + chrono::Duration::from_std(delay).unwrap_or_default();
                retrying
                    .entry(reason)
                    .or_default()
                    .push((job.delivery_id, due));
                retries.push((job, due));
            }
            SendOutcome::Unavailable {
                reason,
                retry_after,
            } => {
                let reopens = p.circuits.open_circuit(&job.channel).map(|open| open.until);
                let delay = backoff(p, attempt, retry_after);
                let due = (now + chrono::Duration::from_std(delay).unwrap_or_default())
                    .max(reopens.unwrap_or(now));
                waiting
                    .entry(format!(
                        "{reason} (provider unavailable; attempt not counted)"
                    ))
                    .or_default()
                    .push((job.delivery_id, due));
                retries.push((job, due));
            }
            SendOutcome::Retry { reason, .. } => {
                settled
                    .entry(("dead", format!("{reason} (after {attempt} attempts)")))
                    .or_default()
                    .push(job.delivery_id);
                dead.push((job.clone(), reason));
                gave_up.push(job);
            }
            SendOutcome::Failed { reason } => {
                settled
                    .entry(("failed", reason))
                    .or_default()
                    .push(job.delivery_id);
                gave_up.push(job);
            }
        }
    }
    let all_sent = settled.is_empty()
        && retrying.is_empty()
        && waiting.is_empty()
        && invalid_tokens.is_empty();
    if all_sent {
        // Each row's record stands on its own: no transaction needed around them.
        mark_sent(&p.db, now, &sent).await?;
        return Ok(());
    }
    let txn = p.db.begin().await?;
    mark_sent(&txn, now, &sent).await?;
    for ((status, error), ids) in &settled {
        for chunk in ids.chunks(CHUNK) {
            delivery::Entity::update_many()
                .col_expr(delivery::Column::Status, Expr::value(*status))
                .col_expr(delivery::Column::LastError, Expr::value(error.clone()))
                .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
                .filter(p.one_of(delivery::Column::Id, chunk))
                .exec(&txn)
                .await
                .context("recording failed deliveries")?;
        }
    }
    for (reason, rows) in &retrying {
        park(&txn, now, rows, reason, false).await?;
    }
    for (reason, rows) in &waiting {
        park(&txn, now, rows, reason, true).await?;
    }
    for ((provider, reason), tokens) in &invalid_tokens {
        for chunk in tokens.chunks(CHUNK) {
            device::Entity::update_many()
                .col_expr(device::Column::Active, Expr::value(false))
                .col_expr(device::Column::InvalidatedAt, Expr::value(now))
                .col_expr(device::Column::InvalidReason, Expr::value(reason.clone()))
                .filter(device::Column::Provider.eq(provider.as_str()))
                .filter(device::Column::Token.is_in(chunk.iter().cloned()))
                .exec(&txn)
                .await
                .context("deactivating devices")?;
        }
    }
    txn.commit().await?;
    let mut parked = Vec::with_capacity(retries.len());
    for (job, due) in retries {
        let job = Job {
            kind: SEND.into(),
            payload: serde_json::to_value(&job)?,
        };
        parked.push((stream.to_owned(), job, due));
    }
    p.queue.push_delayed_many(&parked).await?;
    // The delivery row, now `dead`, is the dead letter (listed and replayed through the
    // API, whatever its kind); the queue's dead stream keeps only jobs with no row of
    // their own, so a replay leaves nothing behind in it.
    for (job, reason) in dead {
        tracing::warn!(delivery = %job.delivery_id, channel = %job.channel, %reason, "delivery dead-lettered");
    }
    for job in gave_up {
        let sms = fallback::sms_in_place(p, job.delivery_id, &job.channel, &job.category).await?;
        p.enqueue_deliveries(&sms.into_iter().collect::<Vec<_>>())
            .await?;
    }
    Ok(())
}

/// Sets `rows` retrying, each due at its own time, with `reason`; `give_back` returns the
/// attempt their claim counted (a send that waited for its provider, not a device's failure).
async fn park(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    rows: &[(Uuid, DateTime<Utc>)],
    reason: &str,
    give_back: bool,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(CASE_CHUNK) {
        let due = chunk
            .iter()
            .fold(CaseStatement::new(), |case, (id, due)| {
                case.case(delivery::Column::Id.eq(*id), Expr::value(*due))
            })
            .finally(Expr::col(delivery::Column::DueAt));
        let mut update = delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value("retrying"))
            .col_expr(delivery::Column::DueAt, due.into())
            .col_expr(delivery::Column::LastError, Expr::value(reason))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now));
        if give_back {
            update = update.col_expr(
                delivery::Column::Attempts,
                sea_orm::ExprTrait::sub(Expr::col(delivery::Column::Attempts), 1),
            );
        }
        update
            .filter(delivery::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .exec(txn)
            .await
            .context("recording retries")?;
    }
    Ok(())
}

/// Marks deliveries sent with their provider ids: on PostgreSQL one `UPDATE ... FROM
/// UNNEST(ids, provider ids)` per [`STATEMENT_BYTES`] of parameters; elsewhere one `UPDATE`
/// with a `CASE` over the ids per [`CASE_CHUNK`].
async fn mark_sent(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    sent: &[(Uuid, Option<String>)],
) -> anyhow::Result<()> {
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        // The ids and provider ids as two arrays joined on the id; an empty provider id
        // stands for none (sea-query binds arrays without NULL elements).
        const SQL: &str = "UPDATE deliveries AS d SET status = 'sent', sent_at = $1, \
            updated_at = $1, last_error = NULL, provider_id = NULLIF(v.provider_id, '') \
            FROM UNNEST($2::uuid[], $3::text[]) AS v (id, provider_id) WHERE d.id = v.id";
        // A bound id is 20 bytes on the wire, a provider id its length plus 4.
        let size = |(_, provider_id): &(Uuid, Option<String>)| {
            24 + provider_id.as_ref().map_or(0, String::len)
        };
        for chunk in chunks_within(sent, STATEMENT_BYTES, size) {
            let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
            let provider_ids: Vec<String> = chunk
                .iter()
                .map(|(_, provider_id)| provider_id.clone().unwrap_or_default())
                .collect();
            let values = vec![now.into(), ids.into(), provider_ids.into()];
            txn.execute_raw(Statement::from_sql_and_values(backend, SQL, values))
                .await
                .context("recording sent deliveries")?;
        }
        return Ok(());
    }
    for chunk in sent.chunks(CASE_CHUNK) {
        let provider_id = chunk
            .iter()
            .fold(CaseStatement::new(), |case, (id, provider_id)| {
                case.case(
                    delivery::Column::Id.eq(*id),
                    Expr::value(provider_id.clone()),
                )
            })
            .finally(Expr::col(delivery::Column::ProviderId));
        delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value("sent"))
            .col_expr(delivery::Column::SentAt, Expr::value(now))
            .col_expr(delivery::Column::ProviderId, provider_id.into())
            .col_expr(
                delivery::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
            .filter(delivery::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .exec(txn)
            .await
            .context("recording sent deliveries")?;
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
