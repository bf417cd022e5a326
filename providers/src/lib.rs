//! Outbound provider clients, used by the API and the workers alike: one client per
//! provider, each speaking the real wire format to a base URL that is configuration (tests
//! point it at local mock servers). A channel client sends one message to one recipient and
//! classifies the provider's answer into a [`SendOutcome`]; retries, dedupe and recording
//! belong to the sender job, not here. No database in this crate.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};

pub mod apns;
pub mod fcm;
pub mod login_codes;
pub mod sms;
pub mod wechat;
pub mod wechat_login;
pub mod wechat_pay;

/// How urgent a push is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Deliver now, wake the device (outages, emergencies, ticket updates).
    High,
    /// May be batched by the platform (greetings, reminders).
    Normal,
}

/// One push notification to one device.
#[derive(Debug, Clone, PartialEq)]
pub struct PushMessage {
    /// Stable per (message, recipient, channel); sent as the collapse id so a repeat after a
    /// crash replaces the first notification on the phone.
    pub collapse_id: String,
    /// Title line.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Custom key/value data for the app (notice id, ticket id, category...).
    pub data: BTreeMap<String, String>,
    /// Urgency.
    pub priority: Priority,
    /// When the provider may drop an undelivered push.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An APNs device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsDevice {
    /// Device token (hex).
    pub token: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// Sandbox (development) or production environment.
    pub sandbox: bool,
}

/// An SMS to one phone: a template code and its parameters, as mainland carriers require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// 11-digit mainland mobile number.
    pub phone: String,
    /// Provider template code/id approved for this category.
    pub template: String,
    /// Signature (签名) approved for the company.
    pub sign_name: String,
    /// Template parameters, by name (Aliyun) — Tencent takes them in this (sorted) order.
    pub params: BTreeMap<String, String>,
}

/// A WeChat mini-program subscription message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatMessage {
    /// The resident's openid.
    pub openid: String,
    /// Subscription template id.
    pub template_id: String,
    /// Mini-program page to open.
    pub page: Option<String>,
    /// Template fields (`thing1`, `time2`, ...) and their values.
    pub data: BTreeMap<String, String>,
}

/// What the provider said about one send.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Accepted; the provider's id for the message, if it gave one.
    Sent {
        /// Provider message id (`apns-id`, FCM `name`, SMS `BizId`, ...).
        provider_id: Option<String>,
    },
    /// The token/recipient is gone for good: deactivate it, do not retry.
    InvalidRecipient {
        /// Provider's reason (`Unregistered`, `BadDeviceToken`, `UNREGISTERED`, ...).
        reason: String,
    },
    /// Temporary failure: retry later, no sooner than `retry_after` if the provider said.
    Retry {
        /// Provider's reason.
        reason: String,
        /// The provider's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The provider, or our side of the connection to it, failed as a whole (TLS,
    /// credentials refused, a 5xx, a project quota's 429, connection refused): nothing about
    /// this device. The send waits without using up an attempt, counts toward the channel's
    /// circuit breaker and never triggers a fallback.
    Unavailable {
        /// What failed.
        reason: String,
        /// The provider's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Permanent failure for this message (bad payload, rejected template): do not retry.
    Failed {
        /// Provider's reason.
        reason: String,
    },
}

/// What a failed request says, for a delivery's `last_error`: its kind and innermost cause
/// (a TLS alert, `Connection refused`), never its URL (which can hold a device token, a
/// number or a credential).
pub fn transport_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut cause = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    match cause {
        Some(cause) if !cause.contains("://") => format!("{kind}: {cause}"),
        _ => kind.to_owned(),
    }
}

/// Parses an HTTP `Retry-After` header given in seconds.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}
