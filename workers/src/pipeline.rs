//! What the notification jobs share: the database, the queue, the clock, the providers and
//! the settings; and the one way deliveries become send jobs.

use std::{collections::HashMap, sync::Arc};

use anyhow::Context;
use chrono::{DateTime, Utc};
use courtyard_domain::{
    Clock,
    entities::{delivery, device, message, resident},
    settings::NotificationSettings,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    deliver::{Deliverer, SendJob},
    queue::{Job, Queue, streams},
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
}

/// The job kind of a send.
pub const SEND: &str = "send";
/// Rows per `IN (...)` list.
pub const CHUNK: usize = 500;

impl Pipeline {
    /// Pushes send jobs for deliveries that are due, parks the others until they are.
    pub async fn enqueue_deliveries(&self, ids: &[Uuid]) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let mut pushed = 0;
        for chunk in ids.chunks(CHUNK) {
            let deliveries = delivery::Entity::find()
                .filter(delivery::Column::Id.is_in(chunk.iter().copied()))
                .filter(delivery::Column::Status.is_in(["pending", "retrying"]))
                .all(&self.db)
                .await
                .context("loading deliveries")?;
            let jobs = self.send_jobs(&deliveries).await?;
            let mut due_now: HashMap<String, Vec<Job>> = HashMap::new();
            for (job, due) in jobs {
                let stream = streams::send(&job.channel);
                let job = Job {
                    kind: SEND.into(),
                    payload: serde_json::to_value(&job)?,
                };
                if due <= now {
                    due_now.entry(stream).or_default().push(job);
                } else {
                    self.queue.push_delayed(&stream, &job, due).await?;
                }
                pushed += 1;
            }
            for (stream, jobs) in due_now {
                self.queue.push(&stream, &jobs).await?;
            }
        }
        Ok(pushed)
    }

    /// Builds the send jobs of `deliveries` with their due times.
    async fn send_jobs(
        &self,
        deliveries: &[delivery::Model],
    ) -> anyhow::Result<Vec<(SendJob, DateTime<Utc>)>> {
        let message_ids: Vec<Uuid> = deliveries.iter().map(|d| d.message_id).collect();
        let device_ids: Vec<Uuid> = deliveries.iter().filter_map(|d| d.device_id).collect();
        let resident_ids: Vec<Uuid> = deliveries.iter().map(|d| d.resident_id).collect();
        let messages: HashMap<Uuid, message::Model> = message::Entity::find()
            .filter(message::Column::Id.is_in(message_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let devices: HashMap<Uuid, device::Model> = device::Entity::find()
            .filter(device::Column::Id.is_in(device_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let residents: HashMap<Uuid, resident::Model> = resident::Entity::find()
            .filter(resident::Column::Id.is_in(resident_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut jobs = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let (Some(message), Some(resident)) =
                (messages.get(&d.message_id), residents.get(&d.resident_id))
            else {
                continue;
            };
            let device = d.device_id.and_then(|id| devices.get(&id));
            let target = match d.channel.as_str() {
                "sms" => resident.phone.clone(),
                "wechat" => match &resident.wechat_openid {
                    Some(openid) => openid.clone(),
                    None => continue,
                },
                _ => match device {
                    Some(device) if device.active => device.token.clone(),
                    _ => continue,
                },
            };
            let data = match &message.data {
                serde_json::Value::Object(map) => map
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect(),
                _ => Default::default(),
            };
            jobs.push((
                SendJob {
                    delivery_id: d.id,
                    channel: d.channel.clone(),
                    target,
                    topic: device.and_then(|d| d.topic.clone()),
                    sandbox: device.is_some_and(|d| d.sandbox),
                    category: message.category.clone(),
                    title: message.title.clone(),
                    body: message.body.clone(),
                    data,
                    collapse_id: d.dedupe_key.clone(),
                    name: resident.name.clone(),
                },
                d.due_at,
            ));
        }
        Ok(jobs)
    }
}
