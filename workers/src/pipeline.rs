//! What the notification jobs share: the database, the queue, the clock, the providers and
//! the settings; and the one way deliveries become send jobs.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use courtyard_domain::{
    Clock, Settings,
    circuits::Circuits,
    entities::{delivery, device, message, resident, staff, staff_message},
    settings::NotificationSettings,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    sea_query::{Expr, extension::postgres::PgFunc},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use courtyard_providers::wechat_pay::Gateway;

use crate::{
    deliver::{Deliverer, Providers, SendJob},
    queue::{Job, MemoryQueue, Queue, RedisQueue, streams},
};

/// Shared handles of the notification jobs.
#[derive(Clone)]
pub struct Pipeline {
    /// Database.
    pub db: DatabaseConnection,
    /// Queue.
    pub queue: Arc<dyn Queue>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Providers.
    pub deliverer: Arc<dyn Deliverer>,
    /// Settings.
    pub settings: NotificationSettings,
    /// How long records are kept (housekeeping).
    pub retention: courtyard_domain::settings::RetentionSettings,
    /// The payment provider (reconciliation asks it about pending orders).
    pub payments: Arc<Gateway>,
    /// The channels' circuit breakers (shared with the API of this process, which shows
    /// the open ones).
    pub circuits: Arc<Circuits>,
}

/// The job kind of a send.
pub const SEND: &str = "send";
/// Ids per `IN (...)` list, and rows per multi-row statement (the store's).
pub use courtyard_store::deliveries::CHUNK;

impl Pipeline {
    /// The pipeline a workers process runs from `settings`: a pool on the (already migrated)
    /// database, Redis Streams when Redis is configured (else the in-process queue, which
    /// serves this process only) and the configured providers.
    pub async fn from_settings(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = courtyard_store::connect(settings).await?;
        let queue: Arc<dyn Queue> = match &settings.redis.url {
            Some(url) => {
                let client =
                    redis::Client::open(url.expose_secret()).context("parsing the Redis URL")?;
                Arc::new(RedisQueue::connect(client, &settings.redis.key_prefix).await?)
            }
            None => {
                tracing::warn!(
                    "no Redis configured: the in-process queue only serves this process"
                );
                Arc::new(MemoryQueue::new())
            }
        };
        let deliverer = Arc::new(Providers::from_settings(settings, clock.clone())?);
        let payments = Arc::new(
            Gateway::from_settings(&settings.payments, clock.clone())
                .context("configuring the payment provider")?,
        );
        Ok(Self {
            db,
            queue,
            clock,
            deliverer,
            settings: settings.notifications.clone(),
            retention: settings.retention.clone(),
            payments,
            circuits: Arc::new(Circuits::new(settings.notifications.circuit_policy())),
        })
    }

    /// Pushes send jobs for deliveries that are due, parks the others until they are.
    ///
    /// A delivery that can no longer reach its recipient (its device removed or
    /// deactivated since the fan-out, the WeChat binding gone) is settled here instead:
    /// `suppressed` with the reason, and a resident's push falls back to SMS where that is
    /// due. So nothing waits for ever, and the sweeper never meets it again.
    pub async fn enqueue_deliveries(&self, ids: &[Uuid]) -> anyhow::Result<usize> {
        let mut pushed = 0;
        let mut work: Vec<Uuid> = ids.to_vec();
        while !work.is_empty() {
            let mut in_place = Vec::new();
            for chunk in work.chunks(CHUNK) {
                let deliveries = delivery::Entity::find()
                    .filter(self.one_of(delivery::Column::Id, chunk))
                    .filter(delivery::Column::Status.is_in(["pending", "retrying"]))
                    .all(&self.db)
                    .await
                    .context("loading deliveries")?;
                let (jobs, unreachable) = self.send_jobs(&deliveries).await?;
                pushed += self.enqueue_jobs(jobs).await?;
                in_place.extend(self.settle_unreachable(unreachable).await?);
            }
            work = in_place;
        }
        Ok(pushed)
    }

    /// Settles deliveries that cannot be sent (`suppressed`, with why); returns the SMS
    /// written in the place of residents' pushes, to enqueue.
    async fn settle_unreachable(&self, unreachable: Vec<Unreachable>) -> anyhow::Result<Vec<Uuid>> {
        if unreachable.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let mut by_reason: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
        for u in &unreachable {
            by_reason.entry(u.reason).or_default().push(u.delivery_id);
        }
        let mut settled = std::collections::HashSet::new();
        for (reason, ids) in by_reason {
            for chunk in ids.chunks(CHUNK) {
                let rows: Vec<Uuid> = delivery::Entity::update_many()
                    .col_expr(delivery::Column::Status, Expr::value("suppressed"))
                    .col_expr(delivery::Column::LastError, Expr::value(reason))
                    .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
                    .filter(self.one_of(delivery::Column::Id, chunk))
                    .filter(delivery::Column::Status.is_in(["pending", "retrying"]))
                    .exec_with_returning(&self.db)
                    .await
                    .context("settling deliveries that cannot be sent")?
                    .into_iter()
                    .map(|d| d.id)
                    .collect();
                settled.extend(rows);
            }
            tracing::info!(
                count = ids.len(),
                reason,
                "deliveries that cannot be sent settled as suppressed"
            );
        }
        let mut sms = Vec::new();
        for u in unreachable {
            if !settled.contains(&u.delivery_id) {
                continue;
            }
            if let Some(category) = &u.category
                && let Some(id) =
                    crate::fallback::sms_in_place(self, u.delivery_id, &u.channel, category).await?
            {
                sms.push(id);
            }
        }
        Ok(sms)
    }

    /// Pushes send jobs built from rows in hand (the fan-out's own): those due to their
    /// channel's stream, the others to the delayed set until they are.
    pub async fn enqueue_jobs(&self, jobs: Vec<(SendJob, DateTime<Utc>)>) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let pushed = jobs.len();
        let mut due_now: HashMap<String, Vec<String>> = HashMap::new();
        let mut later = Vec::new();
        for (job, due) in jobs {
            let stream = streams::send(&job.channel);
            if due <= now {
                due_now.entry(stream).or_default().push(encode_send(&job)?);
            } else {
                let job = Job {
                    kind: SEND.into(),
                    payload: serde_json::to_value(&job)?,
                };
                later.push((stream, job, due));
            }
        }
        for (stream, jobs) in due_now {
            self.queue.push_json(&stream, &jobs).await?;
        }
        self.queue.push_delayed_many(&later).await?;
        Ok(pushed)
    }

    /// `column` is one of `ids`. On PostgreSQL `column = ANY($1)`: one array parameter, so
    /// the statement stays small and its text (and prepared form) the same whatever the
    /// count; elsewhere `column IN (...)`. Keep `ids` to a [`CHUNK`].
    pub fn one_of<C: ColumnTrait>(&self, column: C, ids: &[Uuid]) -> Expr {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let any = PgFunc::any(Expr::val(ids.to_vec()));
                sea_orm::ExprTrait::eq(Expr::col(column.as_column_ref()), any)
            }
            _ => column.is_in(ids.iter().copied()),
        }
    }

    /// Builds the send jobs of `deliveries` with their due times: residents' from
    /// `messages` and `residents`, staff members' from `staff_messages` and `staff`; and
    /// the deliveries that cannot be sent any more, with why.
    async fn send_jobs(
        &self,
        deliveries: &[delivery::Model],
    ) -> anyhow::Result<(Vec<(SendJob, DateTime<Utc>)>, Vec<Unreachable>)> {
        let (staff_rows, resident_rows): (Vec<&delivery::Model>, Vec<&delivery::Model>) =
            deliveries
                .iter()
                .partition(|d| d.recipient_kind == RECIPIENT_STAFF);
        let device_ids: Vec<Uuid> = deliveries.iter().filter_map(|d| d.device_id).collect();
        let devices: HashMap<Uuid, device::Model> = self
            .load(device::Entity::find(), device::Column::Id, &device_ids)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let mut jobs = Vec::with_capacity(deliveries.len());
        let mut unreachable = Vec::new();
        let gone = |d: &delivery::Model, reason, category: Option<&String>| Unreachable {
            delivery_id: d.id,
            channel: d.channel.clone(),
            reason,
            category: category.cloned(),
        };
        if !resident_rows.is_empty() {
            let message_ids: Vec<Uuid> = resident_rows.iter().map(|d| d.message_id).collect();
            let resident_ids: Vec<Uuid> = resident_rows.iter().map(|d| d.resident_id).collect();
            let messages: HashMap<Uuid, message::Model> = self
                .load(message::Entity::find(), message::Column::Id, &message_ids)
                .await?
                .into_iter()
                .map(|m| (m.id, m))
                .collect();
            let residents: HashMap<Uuid, resident::Model> = self
                .load(
                    resident::Entity::find(),
                    resident::Column::Id,
                    &resident_ids,
                )
                .await?
                .into_iter()
                .map(|r| (r.id, r))
                .collect();
            for d in resident_rows {
                let (Some(message), Some(resident)) =
                    (messages.get(&d.message_id), residents.get(&d.resident_id))
                else {
                    unreachable.push(gone(d, "recipient gone", None));
                    continue;
                };
                let device = d.device_id.and_then(|id| devices.get(&id));
                match send_job(d, message, resident, device) {
                    Some(job) => jobs.push((job, d.due_at)),
                    None => unreachable.push(gone(
                        d,
                        unreachable_reason(d, device),
                        Some(&message.category),
                    )),
                }
            }
        }
        if !staff_rows.is_empty() {
            let message_ids: Vec<Uuid> = staff_rows.iter().map(|d| d.message_id).collect();
            // A staff delivery keeps the staff id in `resident_id`.
            let staff_ids: Vec<Uuid> = staff_rows.iter().map(|d| d.resident_id).collect();
            let messages: HashMap<Uuid, staff_message::Model> = self
                .load(
                    staff_message::Entity::find(),
                    staff_message::Column::Id,
                    &message_ids,
                )
                .await?
                .into_iter()
                .map(|m| (m.id, m))
                .collect();
            let members: HashMap<Uuid, staff::Model> = self
                .load(staff::Entity::find(), staff::Column::Id, &staff_ids)
                .await?
                .into_iter()
                .map(|s| (s.id, s))
                .collect();
            for d in staff_rows {
                let (Some(message), Some(member)) =
                    (messages.get(&d.message_id), members.get(&d.resident_id))
                else {
                    unreachable.push(gone(d, "recipient gone", None));
                    continue;
                };
                let device = d.device_id.and_then(|id| devices.get(&id));
                match staff_send_job(d, message, member, device) {
                    Some(job) => jobs.push((job, d.due_at)),
                    None => unreachable.push(gone(d, unreachable_reason(d, device), None)),
                }
            }
        }
        Ok((jobs, unreachable))
    }

    /// The rows of `select` whose `column` is one of `ids` (none asked, none read).
    async fn load<E: EntityTrait>(
        &self,
        select: sea_orm::Select<E>,
        column: E::Column,
        ids: &[Uuid],
    ) -> anyhow::Result<Vec<E::Model>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(select
            .filter(self.one_of(column, ids))
            .all(&self.db)
            .await?)
    }
}

/// A send job as the queue carries it, `{"kind": "send", "payload": {...}}`, written without
/// building a `serde_json::Value` first (a big notice writes one per device).
pub fn encode_send(job: &SendJob) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct Entry<'a> {
        kind: &'a str,
        payload: &'a SendJob,
    }
    serde_json::to_string(&Entry {
        kind: SEND,
        payload: job,
    })
}

/// The send job in a queue entry written by [`encode_send`] (or as a [`Job`]).
pub fn decode_send(json: &str) -> serde_json::Result<SendJob> {
    #[derive(Deserialize)]
    struct Entry {
        payload: SendJob,
    }
    serde_json::from_str::<Entry>(json).map(|entry| entry.payload)
}

/// A delivery that can no longer be sent.
struct Unreachable {
    delivery_id: Uuid,
    channel: String,
    /// Its `last_error` once settled.
    reason: &'static str,
    /// A resident's message's category (for the SMS in a push's place); none for staff.
    category: Option<String>,
}

/// Why `delivery` has no send job: its device or its WeChat binding is gone.
fn unreachable_reason(delivery: &delivery::Model, device: Option<&device::Model>) -> &'static str {
    match (delivery.channel.as_str(), device) {
        ("sms", _) => "no phone number",
        ("wechat", _) => "no WeChat binding",
        (_, None) => "device removed",
        (_, Some(d)) if !d.active => "device deactivated",
        _ => "channel not open to staff",
    }
}

/// `deliveries.recipient_kind` of a staff member's delivery (its message is in
/// `staff_messages`, its `resident_id` the staff id).
pub const RECIPIENT_STAFF: &str = "staff";

/// The send job of one delivery, or none when its recipient cannot be reached on its
/// channel any more (no WeChat binding, a push device that went inactive).
pub fn send_job(
    delivery: &delivery::Model,
    message: &message::Model,
    resident: &resident::Model,
    device: Option<&device::Model>,
) -> Option<SendJob> {
    let target = match delivery.channel.as_str() {
        "sms" => resident.phone.clone(),
        "wechat" => resident.wechat_openid.clone()?,
        _ => active_token(device)?,
    };
    Some(SendJob {
        delivery_id: delivery.id,
        channel: delivery.channel.clone(),
        target,
        topic: device.and_then(|d| d.topic.clone()),
        sandbox: device.is_some_and(|d| d.sandbox),
        category: message.category.clone(),
        title: message.title.clone(),
        body: message.body.clone(),
        data: message_data(&message.data),
        collapse_id: delivery.dedupe_key.clone(),
        name: resident.name.clone(),
    })
}

/// The send job of a staff member's delivery: push only (staff get no SMS or WeChat), or
/// none when the device went inactive.
pub fn staff_send_job(
    delivery: &delivery::Model,
    message: &staff_message::Model,
    member: &staff::Model,
    device: Option<&device::Model>,
) -> Option<SendJob> {
    if !matches!(delivery.channel.as_str(), "apns" | "fcm") {
        return None;
    }
    Some(SendJob {
        delivery_id: delivery.id,
        channel: delivery.channel.clone(),
        target: active_token(device)?,
        topic: device.and_then(|d| d.topic.clone()),
        sandbox: device.is_some_and(|d| d.sandbox),
        category: message.category.clone(),
        title: message.title.clone(),
        body: message.body.clone(),
        data: message_data(&message.data),
        collapse_id: delivery.dedupe_key.clone(),
        name: member.name.clone(),
    })
}

fn active_token(device: Option<&device::Model>) -> Option<String> {
    device.filter(|d| d.active).map(|d| d.token.clone())
}

/// A message's app data as the string map pushes carry.
pub fn message_data(data: &serde_json::Value) -> BTreeMap<String, String> {
    match data {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}
