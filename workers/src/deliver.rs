//! Turning a send job into a provider call. [`Deliverer`] is what the sender job calls;
//! [`LogDeliverer`] is the embedded default (it logs instead of sending), and
//! [`Providers`] dispatches to the real channel clients that are configured, logging for
//! the rest.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use async_trait::async_trait;
use courtyard_domain::people::mask_phone;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use courtyard_providers::SendOutcome;

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

/// Several deliverers of one channel (several connections to its provider), taken in turn.
pub struct InTurn {
    each: Vec<Arc<dyn Deliverer>>,
    next: AtomicUsize,
}

impl InTurn {
    /// Takes `each` in turn; it must not be empty.
    pub fn new(each: Vec<Arc<dyn Deliverer>>) -> Self {
        assert!(!each.is_empty(), "InTurn needs at least one deliverer");
        Self {
            each,
            next: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Deliverer for InTurn {
    async fn deliver(&self, job: &SendJob) -> SendOutcome {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.each.len();
        self.each[turn].deliver(job).await
    }
}

/// APNs as a deliverer.
pub struct ApnsDeliverer(pub courtyard_providers::apns::ApnsClient);

#[async_trait]
impl Deliverer for ApnsDeliverer {
    async fn deliver(&self, job: &SendJob) -> SendOutcome {
        let Some(topic) = job.topic.clone() else {
            return SendOutcome::Failed {
                reason: "the device has no APNs topic".into(),
            };
        };
        let device = courtyard_providers::ApnsDevice {
            token: job.target.clone(),
            topic,
            sandbox: job.sandbox,
        };
        self.0.send(&device, &push_message(job)).await
    }
}

/// FCM as a deliverer.
pub struct FcmDeliverer(pub courtyard_providers::fcm::FcmClient);

#[async_trait]
impl Deliverer for FcmDeliverer {
    async fn deliver(&self, job: &SendJob) -> SendOutcome {
        self.0.send(&job.target, &push_message(job)).await
    }
}

/// SMS as a deliverer: the category's approved template, with the recipient's name and
/// the message title as parameters.
pub struct SmsDeliverer {
    /// The provider.
    pub provider: courtyard_providers::sms::SmsProvider,
    /// Approved signature.
    pub sign_name: String,
    /// Template per category.
    pub templates: BTreeMap<String, String>,
}

#[async_trait]
impl Deliverer for SmsDeliverer {
    async fn deliver(&self, job: &SendJob) -> SendOutcome {
        let Some(template) = self.templates.get(&job.category) else {
            return SendOutcome::Failed {
                reason: format!("no SMS template configured for {}", job.category),
            };
        };
        let message = courtyard_providers::SmsMessage {
            phone: job.target.clone(),
            template: template.clone(),
            sign_name: self.sign_name.clone(),
            params: sms_params(job),
        };
        self.provider.send(&message).await
    }
}

/// An SMS template's parameters: the recipient's `name` and the message's `title`; for
/// money matters the `amount` in yuan (`420.70`, from the fen); for an outage its
/// `reason`, when service `restores` and the `apology`.
fn sms_params(job: &SendJob) -> BTreeMap<String, String> {
    let mut params = BTreeMap::from([
        ("name".into(), job.name.clone()),
        ("title".into(), job.title.clone()),
    ]);
    for key in ["reason", "restores", "apology"] {
        if let Some(value) = job.data.get(key) {
            params.insert(key.into(), value.clone());
        }
    }
    if let Some(fen) = job
        .data
        .get("amount_fen")
        .and_then(|f| f.parse::<i64>().ok())
    {
        params.insert("amount".into(), courtyard_domain::money::yuan_figures(fen));
    }
    params
}

/// WeChat subscription messages as a deliverer.
pub struct WechatDeliverer {
    /// The client.
    pub client: courtyard_providers::wechat::WechatClient,
    /// Template per category.
    pub templates: BTreeMap<String, String>,
}

#[async_trait]
impl Deliverer for WechatDeliverer {
    async fn deliver(&self, job: &SendJob) -> SendOutcome {
        let Some(template) = self.templates.get(&job.category) else {
            return SendOutcome::Failed {
                reason: format!("no WeChat template configured for {}", job.category),
            };
        };
        // Subscription `thing` fields hold at most 20 characters.
        let short = |text: &str| text.chars().take(20).collect::<String>();
        let message = courtyard_providers::WechatMessage {
            openid: job.target.clone(),
            template_id: template.clone(),
            page: Some("pages/inbox/index".into()),
            data: BTreeMap::from([
                ("thing1".into(), short(&job.title)),
                ("thing2".into(), short(&job.body)),
            ]),
        };
        self.client.send(&message).await
    }
}

fn push_message(job: &SendJob) -> courtyard_providers::PushMessage {
    let urgent =
        courtyard_domain::notifications::Category::parse(&job.category).is_ok_and(|c| c.urgent());
    courtyard_providers::PushMessage {
        collapse_id: job.collapse_id.clone(),
        title: job.title.clone(),
        body: job.body.clone(),
        data: job.data.clone(),
        priority: if urgent {
            courtyard_providers::Priority::High
        } else {
            courtyard_providers::Priority::Normal
        },
        expires_at: None,
    }
}

impl Providers {
    /// The providers the settings configure; channels left unconfigured log.
    pub fn from_settings(
        settings: &courtyard_domain::Settings,
        clock: Arc<dyn courtyard_domain::Clock>,
    ) -> anyhow::Result<Self> {
        use courtyard_providers::{apns, fcm, sms, wechat};
        use secrecy::ExposeSecret;
        let n = &settings.notifications;
        let mut by_channel: BTreeMap<String, Arc<dyn Deliverer>> = BTreeMap::new();
        if let Some(a) = &n.apns {
            let config = apns::ApnsConfig {
                base_url: a.base_url.clone(),
                sandbox_base_url: a.sandbox_base_url.clone(),
                key_id: a.key_id.clone(),
                team_id: a.team_id.clone(),
                private_key_pem: a.private_key_pem.clone(),
            };
            by_channel.insert(
                "apns".into(),
                Arc::new(ApnsDeliverer(apns::ApnsClient::new(config, clock.clone())?)),
            );
        }
        if let Some(f) = &n.fcm {
            let account = fcm::ServiceAccount::from_json(f.service_account_json.expose_secret())?;
            let config = fcm::FcmConfig {
                base_url: f.base_url.clone(),
                service_account: account,
            };
            let mut clients: Vec<Arc<dyn Deliverer>> = Vec::new();
            for _ in 0..n.fcm_connections.max(1) {
                let client = fcm::FcmClient::new(config.clone(), clock.clone())?;
                clients.push(Arc::new(FcmDeliverer(client)));
            }
            let fcm: Arc<dyn Deliverer> = match clients.len() {
                1 => clients.remove(0),
                _ => Arc::new(InTurn::new(clients)),
            };
            by_channel.insert("fcm".into(), fcm);
        }
        if let Some(s) = &n.sms {
            let provider = sms::SmsProvider::from_settings(s, clock.clone())?;
            by_channel.insert(
                "sms".into(),
                Arc::new(SmsDeliverer {
                    provider,
                    sign_name: s.sign_name.clone(),
                    templates: s.templates.clone(),
                }),
            );
        }
        if let (Some(app_id), Some(secret)) = (&settings.wechat.app_id, &settings.wechat.app_secret)
        {
            let mut config = wechat::WechatConfig::new(app_id.clone(), secret.clone());
            config.base_url = settings.wechat.base_url.clone();
            by_channel.insert(
                "wechat".into(),
                Arc::new(WechatDeliverer {
                    client: wechat::WechatClient::new(config, clock),
                    templates: n.wechat_templates.clone(),
                }),
            );
        }
        for channel in ["apns", "fcm", "sms", "wechat"] {
            if !by_channel.contains_key(channel) {
                tracing::info!(channel, "no provider configured: sends are logged instead");
            }
        }
        Ok(Self { by_channel })
    }
}
