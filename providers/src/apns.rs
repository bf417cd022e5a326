//! Apple Push Notification service over HTTP/2 with token (`.p8` key) authentication.
//!
//! One [`ApnsClient`] holds one HTTP/2 connection pool per host, and each send is one stream
//! on it, as Apple asks ("keep your connections open, send many notifications on them").
//! The provider token (an ES256 JWT) is cached: Apple rejects a token older than an hour
//! with `ExpiredProviderToken` and answers `TooManyProviderTokenUpdates` when a new one
//! arrives less than 20 minutes after the last, so a token is reused for 50 minutes and
//! never replaced sooner than 20.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use a2::{
    ErrorReason,
    request::{
        notification::{DefaultNotificationBuilder, NotificationBuilder, NotificationOptions},
        payload::PayloadLike,
    },
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use courtyard_domain::Clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ApnsDevice, Priority, PushMessage, SendOutcome, retry_after, transport_reason};

/// How long a provider token is reused (Apple refuses tokens older than an hour).
const TOKEN_REUSE: chrono::Duration = chrono::Duration::minutes(50);
/// Apple answers `TooManyProviderTokenUpdates` to tokens replaced more often than this.
const TOKEN_MIN_AGE: chrono::Duration = chrono::Duration::minutes(20);
/// APNs refuses longer `apns-collapse-id` values with `BadCollapseId`.
const MAX_COLLAPSE_ID_BYTES: usize = 64;

/// Where and as whom to talk to APNs.
#[derive(Clone, Debug)]
pub struct ApnsConfig {
    /// Production host.
    pub base_url: String,
    /// Development (sandbox) host, used for devices registered from debug builds.
    pub sandbox_base_url: String,
    /// The `.p8` key's id (the JWT `kid`).
    pub key_id: String,
    /// The Apple developer team id (the JWT `iss`).
    pub team_id: String,
    /// The `.p8` file's contents: a PKCS#8 PEM EC P-256 private key.
    pub private_key_pem: SecretString,
}

impl ApnsConfig {
    /// A config for Apple's real hosts.
    pub fn new(key_id: String, team_id: String, private_key_pem: SecretString) -> Self {
        Self {
            base_url: "https://api.push.apple.com".into(),
            sandbox_base_url: "https://api.sandbox.push.apple.com".into(),
            key_id,
            team_id,
            private_key_pem,
        }
    }
}

/// A cached provider token.
struct ProviderToken {
    jwt: String,
    issued_at: DateTime<Utc>,
    /// APNs answered `InvalidProviderToken`/`ExpiredProviderToken` to it.
    rejected: bool,
}

/// What to authenticate a send with.
enum TokenChoice {
    Use(String),
    /// The current token was rejected and is too young to replace: wait this long.
    Wait(Duration),
}

#[derive(Serialize)]
struct ProviderClaims<'a> {
    iss: &'a str,
    iat: i64,
}

/// An APNs error body: `{"reason": "...", "timestamp": ...}`.
#[derive(Deserialize)]
struct ErrorBody {
    reason: String,
}

/// Sends pushes to APNs.
pub struct ApnsClient {
    http: reqwest::Client,
    base_url: Url,
    sandbox_base_url: Url,
    key_id: String,
    team_id: String,
    key: EncodingKey,
    clock: Arc<dyn Clock>,
    token: Mutex<Option<ProviderToken>>,
}

impl std::fmt::Debug for ApnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsClient")
            .field("base_url", &self.base_url.as_str())
            .field("sandbox_base_url", &self.sandbox_base_url.as_str())
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

impl ApnsClient {
    /// A client for `config`; fails on an unreadable key or URL.
    pub fn new(config: ApnsConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let base_url = parse_base(&config.base_url).context("APNs base_url")?;
        let sandbox_base_url =
            parse_base(&config.sandbox_base_url).context("APNs sandbox_base_url")?;
        let key = EncodingKey::from_ec_pem(config.private_key_pem.expose_secret().as_bytes())
            .context("APNs private key is not a PKCS#8 PEM EC key")?;
        let prior_knowledge = base_url.scheme() == "http" || sandbox_base_url.scheme() == "http";
        Ok(Self {
            http: http2_client(prior_knowledge)?,
            base_url,
            sandbox_base_url,
            key_id: config.key_id,
            team_id: config.team_id,
            key,
            clock,
            token: Mutex::new(None),
        })
    }

    /// Sends `msg` to `device` and classifies APNs' answer.
    pub async fn send(&self, device: &ApnsDevice, msg: &PushMessage) -> SendOutcome {
        let token_prefix = prefix(&device.token);
        let jwt = match self.provider_token() {
            Ok(TokenChoice::Use(jwt)) => jwt,
            Ok(TokenChoice::Wait(wait)) => {
                return SendOutcome::Unavailable {
                    reason: "provider token rejected; too soon to replace it".into(),
                    retry_after: Some(wait),
                };
            }
            Err(e) => {
                tracing::debug!(error = ?e, "cannot sign an APNs provider token");
                return SendOutcome::Unavailable {
                    reason: format!("provider token: {e:#}"),
                    retry_after: None,
                };
            }
        };
        let body = match payload(msg) {
            Ok(body) => body,
            Err(e) => {
                return SendOutcome::Failed {
                    reason: format!("payload: {e:#}"),
                };
            }
        };
        let mut url = if device.sandbox {
            self.sandbox_base_url.clone()
        } else {
            self.base_url.clone()
        };
        // Pushing the token as a segment escapes it, so a malformed token cannot change the path.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["3", "device", device.token.as_str()]);
        }
        let expiration = msg.expires_at.map_or(0, |at| at.timestamp().max(0));
        let mut request = self
            .http
            .post(url)
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", &device.topic)
            .header("apns-push-type", "alert")
            .header(
                "apns-priority",
                match msg.priority {
                    Priority::High => "10",
                    Priority::Normal => "5",
                },
            )
            .header("apns-expiration", expiration.to_string())
            .header("content-type", "application/json")
            .body(body);
        if !msg.collapse_id.is_empty() {
            request = request.header("apns-collapse-id", collapse_id(&msg.collapse_id));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                // Logged once by the channel's circuit, not for every device.
                tracing::debug!(token = %token_prefix, error = %transport_reason(&e), "APNs unreachable");
                return SendOutcome::Unavailable {
                    reason: format!("transport: {}", transport_reason(&e)),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        if status == StatusCode::OK {
            let provider_id = headers
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            tracing::debug!(token = %token_prefix, ?provider_id, "APNs accepted");
            return SendOutcome::Sent { provider_id };
        }
        let text = response.text().await.unwrap_or_default();
        let reason = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.reason)
            .unwrap_or_else(|_| format!("HTTP {}", status.as_u16()));
        let known = known_reason(&reason);
        if status == StatusCode::FORBIDDEN
            && matches!(
                known,
                Some(ErrorReason::ExpiredProviderToken | ErrorReason::InvalidProviderToken)
            )
        {
            self.reject_token(&jwt);
        }
        let outcome = classify(status, reason, known, retry_after(&headers));
        tracing::info!(token = %token_prefix, status = status.as_u16(), ?outcome, "APNs refused");
        outcome
    }

    /// The cached provider token, or a new one when it is 50 minutes old (or rejected and at
    /// least 20 minutes old).
    fn provider_token(&self) -> anyhow::Result<TokenChoice> {
        let now = self.clock.now();
        let mut cached = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = cached.as_ref() {
            let age = now - token.issued_at;
            // A token "from the future" means the clock went back: replace it.
            let fresh = age >= chrono::Duration::zero() && age < TOKEN_REUSE;
            if fresh && !token.rejected {
                return Ok(TokenChoice::Use(token.jwt.clone()));
            }
            if fresh && age < TOKEN_MIN_AGE {
                // Re-minting now would earn `TooManyProviderTokenUpdates` for every send, and
                // a token rejected this young points at the key or ids, which a new token
                // signed the same way cannot fix. Hold sends until the floor has passed.
                let wait = (TOKEN_MIN_AGE - age).to_std().unwrap_or_default();
                return Ok(TokenChoice::Wait(wait));
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        // Apple documents the header as exactly `{alg, kid}`.
        header.typ = None;
        let claims = ProviderClaims {
            iss: &self.team_id,
            iat: now.timestamp(),
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).context("sign ES256 JWT")?;
        tracing::info!(key_id = %self.key_id, "minted a new APNs provider token");
        *cached = Some(ProviderToken {
            jwt: jwt.clone(),
            issued_at: now,
            rejected: false,
        });
        Ok(TokenChoice::Use(jwt))
    }

    /// Marks `jwt` as refused by APNs, unless it was already replaced by a concurrent send.
    fn reject_token(&self, jwt: &str) {
        let mut cached = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = cached.as_mut().filter(|t| t.jwt == jwt) {
            token.rejected = true;
        }
    }
}

/// Maps an APNs answer other than 200 to an outcome.
fn classify(
    status: StatusCode,
    reason: String,
    known: Option<ErrorReason>,
    retry_after: Option<Duration>,
) -> SendOutcome {
    match (status.as_u16(), known) {
        (410, _)
        | (
            400,
            Some(
                ErrorReason::BadDeviceToken
                | ErrorReason::DeviceTokenNotForTopic
                | ErrorReason::Unregistered,
            ),
        ) => SendOutcome::InvalidRecipient { reason },
        // Our credentials, refused: every send fails alike.
        (403, Some(ErrorReason::ExpiredProviderToken | ErrorReason::InvalidProviderToken)) => {
            SendOutcome::Unavailable {
                reason,
                retry_after: None,
            }
        }
        // Our certificate or provider token refused, whatever the device: every push alike.
        // (A topic is the device's: its refusal stays the message's.)
        (403, _) => SendOutcome::Unavailable {
            reason,
            retry_after: None,
        },
        // `TooManyRequests`: too many pushes to this one device token.
        (429, _) => SendOutcome::Retry {
            reason,
            retry_after,
        },
        (500..=599, _) => SendOutcome::Unavailable {
            reason,
            retry_after,
        },
        _ => SendOutcome::Failed { reason },
    }
}

/// The reason as one of a2's known APNs reasons, if it is one.
fn known_reason(reason: &str) -> Option<ErrorReason> {
    serde_json::from_value(serde_json::Value::String(reason.to_owned())).ok()
}

/// `{"aps":{"alert":{"title","body"},"sound":"default"}, ...data}` built with a2's payload
/// types, so the `aps` dictionary follows Apple's key names.
fn payload(msg: &PushMessage) -> anyhow::Result<String> {
    let mut payload = DefaultNotificationBuilder::new()
        .set_title(&msg.title)
        .set_body(&msg.body)
        .set_sound("default")
        .build("", NotificationOptions::default());
    for (key, value) in &msg.data {
        // A custom `aps` key would produce a second `aps` member and a payload APNs rejects.
        anyhow::ensure!(key != "aps", "custom data may not use the key `aps`");
        payload
            .add_custom_data(key, value)
            .context("serialize custom data")?;
    }
    payload.to_json_string().context("serialize payload")
}

/// The `apns-collapse-id` for `id`: itself when it fits APNs' 64 bytes, else its SHA-256 in
/// hex (64 characters), which stays stable across repeats of the same message.
pub fn collapse_id(id: &str) -> String {
    if id.len() <= MAX_COLLAPSE_ID_BYTES {
        id.to_owned()
    } else {
        let hex = hex::encode(Sha256::digest(id.as_bytes()));
        hex[..MAX_COLLAPSE_ID_BYTES].to_owned()
    }
}

/// At most the first 8 characters of a device token, for logs.
fn prefix(token: &str) -> String {
    token.chars().take(8).collect()
}

fn parse_base(url: &str) -> anyhow::Result<Url> {
    let parsed = Url::parse(url).with_context(|| format!("invalid URL `{url}`"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https") && !parsed.cannot_be_a_base(),
        "`{url}` is not an http(s) URL"
    );
    Ok(parsed)
}

/// An HTTP/2 client: ALPN-negotiated over TLS, prior knowledge (h2c) for plain `http://`
/// URLs, which only local test servers use.
pub(super) fn http2_client(prior_knowledge: bool) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .http2_keep_alive_interval(Duration::from_secs(60))
        .http2_keep_alive_while_idle(true)
        .pool_idle_timeout(Duration::from_secs(600));
    if prior_knowledge {
        builder = builder.http2_prior_knowledge();
    }
    builder.build().context("build HTTP/2 client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_collapse_ids_are_hashed_to_64_bytes() {
        assert_eq!(collapse_id("notice-1"), "notice-1");
        let long = "x".repeat(65);
        let hashed = collapse_id(&long);
        assert_eq!(hashed.len(), 64);
        assert_eq!(hashed, collapse_id(&long));
        assert_ne!(hashed, collapse_id(&"y".repeat(65)));
    }

    #[test]
    fn payload_has_aps_alert_sound_and_custom_data() {
        let msg = PushMessage {
            collapse_id: "c".into(),
            title: "停水通知".into(),
            body: "Water off 9-12".into(),
            data: [("notice_id".to_owned(), "42".to_owned())].into(),
            priority: Priority::High,
            expires_at: None,
        };
        let json: serde_json::Value =
            serde_json::from_str(&payload(&msg).expect("payload")).expect("json");
        assert_eq!(json["aps"]["alert"]["title"], "停水通知");
        assert_eq!(json["aps"]["alert"]["body"], "Water off 9-12");
        assert_eq!(json["aps"]["sound"], "default");
        assert_eq!(json["notice_id"], "42");
    }
}
