//! Turning a send job into a provider call. [`Deliverer`] is what the sender job calls;
//! [`LogDeliverer`] is the embedded default (it logs instead of sending), and
//! [`Providers`] dispatches to the real channel clients that are configured, logging for
//! the rest.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use courtyard_domain::people::mask_phone;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::channels::SendOutcome;

/// Everything a channel needs to send one delivery, carried in the job so senders do not
/// read the database before sending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendJob {
    /// The delivery row.
    pub delivery_id: Uuid,
    /// apns, fcm, sms or wechat.
    pub channel: String,
    /// Device token, phone number or openid.
    pub target: String,
    /// APNs topic.
    pub topic: Option<String>,
    /// APNs sandbox.
    pub sandbox: bool,
    /// Preference category (for SMS templates and priority).
    pub category: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// App data.
    pub data: BTreeMap<String, String>,
    /// Stable collapse id: the delivery's dedupe key.
    pub collapse_id: String,
    /// The recipient's name (SMS and WeChat templates).
    pub name: String,
}

impl SendJob {
    /// The target as it may appear in logs.
    pub fn target_for_logs(&self) -> String {
        match self.channel.as_str() {
            "sms" => mask_phone(&self.target),
            _ => self.target.chars().take(8).collect::<String>() + "…",
        }
    }
}

/// Sends one job on its channel.
#[async_trait]
pub trait Deliverer: Send + Sync {
    /// Sends and classifies the provider's answer.
    async fn deliver(&self, job: &SendJob) -> SendOutcome;
}

/// Logs every send: the embedded default's provider.
#[derive(Debug, Default, Clone)]
pub struct LogDeliverer;

#[async_trait]
impl Deliverer for LogDeliverer {
    async fn deliver(&self, job: &SendJob) -> SendOutcome {
        tracing::info!(
            channel = %job.channel,
            target = %job.target_for_logs(),
            title = %job.title,
            body = %job.body,
            "notification (log provider: shown here instead of sent)"
        );
        SendOutcome::Sent {
            provider_id: Some(format!("log-{}", job.delivery_id)),
        }
    }
}

/// Dispatches by channel to the configured clients; channels without a client log.
#[derive(Clone, Default)]
pub struct Providers {
    /// Per channel (`apns`, `fcm`, `sms`, `wechat`).
    pub by_channel: BTreeMap<String, Arc<dyn Deliverer>>,
}

#[async_trait]
impl Deliverer for Providers {
    async fn deliver(&self, job: &SendJob) -> SendOutcome {
        match self.by_channel.get(&job.channel) {
            Some(deliverer) => deliverer.deliver(job).await,
            None => LogDeliverer.deliver(job).await,
        }
    }
}
