//! Firebase Cloud Messaging, HTTP v1 API (the legacy API is shut down), authenticated with a
//! service account: an RS256 JWT assertion is exchanged at Google's token endpoint for an
//! OAuth2 access token, which is cached and shared by every send until 5 minutes before it
//! expires.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::Context;
use chrono::{DateTime, Utc};
use courtyard_domain::Clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::RwLock;

use crate::{Priority, PushMessage, SendOutcome, apns::http2_client, retry_after};

/// The only scope FCM sends need.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// An access token is replaced this long before Google says it expires.
const REFRESH_MARGIN: chrono::Duration = chrono::Duration::minutes(5);
/// Lifetime asked for the JWT assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// The fields of a Google service-account JSON key that FCM needs.
#[derive(Clone, Debug, Deserialize)]
pub struct ServiceAccount {
    /// Firebase project id.
    pub project_id: String,
    /// The service account's e-mail (the JWT `iss`).
    pub client_email: String,
    /// PEM (PKCS#8) RSA private key.
    pub private_key: SecretString,
    /// Id of `private_key`, sent as the JWT `kid` when present.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// OAuth2 token endpoint (the JWT `aud`).
    pub token_uri: String,
}

impl ServiceAccount {
    /// Parses the JSON key file Google hands out.
    pub fn from_json(json: &str) -> anyhow::Result<Self> {
        serde_json::from_str(json).context("invalid service-account JSON")
    }
}

/// Where and as whom to talk to FCM.
#[derive(Clone, Debug)]
pub struct FcmConfig {
    /// FCM host, `https://fcm.googleapis.com` in production.
    pub base_url: String,
    /// Credentials.
    pub service_account: ServiceAccount,
}

impl FcmConfig {
    /// A config for Google's real host.
    pub fn new(service_account: ServiceAccount) -> Self {
        Self {
            base_url: "https://fcm.googleapis.com".into(),
            service_account,
        }
    }
}

#[derive(Serialize)]
struct GrantClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    expires_in: i64,
}

#[derive(Clone)]
struct AccessToken {
    token: SecretString,
    /// When it stops being used (5 minutes before Google's expiry).
    refresh_at: DateTime<Utc>,
}

/// `{"error": {"code", "message", "status", "details": [...]}}`.
#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error: ErrorStatus,
}

#[derive(Deserialize, Default)]
struct ErrorStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<serde_json::Value>,
}

impl ErrorStatus {
    /// The FCM-specific `errorCode`, falling back to the generic status.
    fn code(&self) -> Option<&str> {
        self.details
            .iter()
            .filter(|d| d["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError")
            .find_map(|d| d["errorCode"].as_str())
            .or_else(|| Some(self.status.as_str()).filter(|s| !s.is_empty()))
    }
}

/// Sends pushes through FCM HTTP v1.
pub struct FcmClient {
    http: reqwest::Client,
    /// The token endpoint needs neither HTTP/2 nor prior knowledge.
    oauth: reqwest::Client,
    send_url: Url,
    token_uri: String,
    client_email: String,
    key_id: Option<String>,
    key: EncodingKey,
    clock: Arc<dyn Clock>,
    token: RwLock<Option<AccessToken>>,
}

impl std::fmt::Debug for FcmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmClient")
            .field("send_url", &self.send_url.as_str())
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl FcmClient {
    /// A client for `config`; fails on an unreadable key or URL.
    pub fn new(config: FcmConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let account = config.service_account;
        let mut send_url = Url::parse(&config.base_url)
            .with_context(|| format!("invalid FCM base_url `{}`", config.base_url))?;
        anyhow::ensure!(
            matches!(send_url.scheme(), "http" | "https"),
            "FCM base_url must be http(s)"
        );
        send_url
            .path_segments_mut()
            .map_err(|()| anyhow::anyhow!("FCM base_url cannot be a base"))?
            .pop_if_empty()
            .extend([
                "v1",
                "projects",
                account.project_id.as_str(),
                "messages:send",
            ]);
        Url::parse(&account.token_uri).context("invalid service-account token_uri")?;
        let key = EncodingKey::from_rsa_pem(account.private_key.expose_secret().as_bytes())
            .context("service-account private_key is not a PEM RSA key")?;
        let oauth = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .context("build OAuth client")?;
        Ok(Self {
            http: http2_client(send_url.scheme() == "http")?,
            oauth,
            send_url,
            token_uri: account.token_uri,
            client_email: account.client_email,
            key_id: account.private_key_id,
            key,
            clock,
            token: RwLock::new(None),
        })
    }

    /// Sends `msg` to the registration `token` and classifies FCM's answer.
    pub async fn send(&self, token: &str, msg: &PushMessage) -> SendOutcome {
        let token_prefix: String = token.chars().take(8).collect();
        let access = match self.access_token().await {
            Ok(access) => access,
            // A token endpoint that is down or refuses the grant is not the message's fault;
            // retrying lets it go through once the credentials are fixed.
            Err(e) => {
                tracing::debug!(error = ?e, "cannot get an FCM access token");
                return SendOutcome::Unavailable {
                    reason: format!("oauth: {e:#}"),
                    retry_after: None,
                };
            }
        };
        let response = match self
            .http
            .post(self.send_url.clone())
            .bearer_auth(access.expose_secret())
            .json(&self.body(token, msg))
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => {
                // Logged once by the channel's circuit, not for every device.
                tracing::debug!(token = %token_prefix, error = %e, "FCM unreachable");
                return SendOutcome::Unavailable {
                    reason: format!("transport: {}", crate::transport_reason(&e)),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        if status == StatusCode::OK {
            let provider_id = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["name"].as_str().map(str::to_owned));
            tracing::debug!(token = %token_prefix, ?provider_id, "FCM accepted");
            return SendOutcome::Sent { provider_id };
        }
        let error = serde_json::from_str::<ErrorAnswer>(&text)
            .unwrap_or_default()
            .error;
        if status == StatusCode::UNAUTHORIZED {
            self.drop_token(&access).await;
        }
        let outcome = classify(status, &error, retry_after(&headers));
        tracing::info!(token = %token_prefix, status = status.as_u16(), ?outcome, "FCM refused");
        outcome
    }

    fn body(&self, token: &str, msg: &PushMessage) -> serde_json::Value {
        let mut android = json!({
            "collapse_key": msg.collapse_id,
            "priority": match msg.priority {
                Priority::High => "HIGH",
                Priority::Normal => "NORMAL",
            },
        });
        if let Some(expires_at) = msg.expires_at {
            let ttl = (expires_at - self.clock.now()).num_seconds().max(0);
            android["ttl"] = json!(format!("{ttl}s"));
        }
        let data: &BTreeMap<String, String> = &msg.data;
        json!({
            "message": {
                "token": token,
                "notification": { "title": msg.title, "body": msg.body },
                "data": data,
                "android": android,
            }
        })
    }

    /// The cached access token, or a new one; concurrent callers share one grant.
    async fn access_token(&self) -> anyhow::Result<SecretString> {
        let now = self.clock.now();
        if let Some(cached) = self.token.read().await.as_ref()
            && now < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let mut slot = self.token.write().await;
        // Another send may have refreshed it while this one waited for the lock.
        let now = self.clock.now();
        if let Some(cached) = slot.as_ref()
            && now < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let fresh = self.grant(now).await?;
        let token = fresh.token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    /// Exchanges a signed assertion for an access token.
    async fn grant(&self, now: DateTime<Utc>) -> anyhow::Result<AccessToken> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid.clone_from(&self.key_id);
        let claims = GrantClaims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat: now.timestamp(),
            exp: now.timestamp() + ASSERTION_LIFETIME_SECS,
        };
        let assertion =
            jsonwebtoken::encode(&header, &claims, &self.key).context("sign RS256 assertion")?;
        let response = self
            .oauth
            .post(&self.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .context("token endpoint unreachable")?;
        let status = response.status();
        let text = response.text().await.context("read token answer")?;
        // Google's errors (`invalid_grant`, ...) carry no secret; the answer on success does.
        anyhow::ensure!(
            status.is_success(),
            "token endpoint answered {status}: {text}"
        );
        let answer: TokenAnswer =
            serde_json::from_str(&text).context("token endpoint answer is not a token")?;
        tracing::info!(
            expires_in = answer.expires_in,
            "granted an FCM access token"
        );
        Ok(AccessToken {
            token: answer.access_token,
            refresh_at: now + chrono::Duration::seconds(answer.expires_in) - REFRESH_MARGIN,
        })
    }

    /// Forgets `used` after FCM refused it, unless a concurrent send already replaced it.
    async fn drop_token(&self, used: &SecretString) {
        let mut slot = self.token.write().await;
        if slot
            .as_ref()
            .is_some_and(|t| t.token.expose_secret() == used.expose_secret())
        {
            *slot = None;
        }
    }
}

/// Maps an FCM answer other than 200 to an outcome.
fn classify(status: StatusCode, error: &ErrorStatus, retry_after: Option<Duration>) -> SendOutcome {
    let code = error.code().unwrap_or_default();
    let reason = if code.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        code.to_owned()
    };
    match code {
        "UNREGISTERED" | "SENDER_ID_MISMATCH" => SendOutcome::InvalidRecipient { reason },
        "INVALID_ARGUMENT" if error.message.to_lowercase().contains("registration token") => {
            SendOutcome::InvalidRecipient { reason }
        }
        "INVALID_ARGUMENT" => SendOutcome::Failed {
            reason: format!("{reason}: {}", error.message),
        },
        // The message rate of this device (or topic): it waits, counting its attempts.
        "QUOTA_EXCEEDED" => SendOutcome::Retry {
            reason,
            retry_after,
        },
        // The service, or the project's quota, for every message alike.
        "UNAVAILABLE" | "INTERNAL" | "RESOURCE_EXHAUSTED" => SendOutcome::Unavailable {
            reason,
            retry_after,
        },
        // 401: the access token was refused (expired early, revoked); it has been dropped.
        // 403 (the API disabled, the service account not allowed) and 404 without a code
        // (the project is wrong): our configuration, for every message alike.
        _ if status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
            || status == StatusCode::NOT_FOUND =>
        {
            SendOutcome::Unavailable {
                reason,
                retry_after,
            }
        }
        _ if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
            SendOutcome::Unavailable {
                reason,
                retry_after,
            }
        }
        _ => SendOutcome::Failed {
            reason: if error.message.is_empty() {
                reason
            } else {
                format!("{reason}: {}", error.message)
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(json: serde_json::Value) -> ErrorStatus {
        serde_json::from_value::<ErrorAnswer>(json)
            .expect("error json")
            .error
    }

    #[test]
    fn fcm_error_code_wins_over_status() {
        let e = error(
            json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "gone",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                         "errorCode": "UNREGISTERED"}]}}),
        );
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &e, None),
            SendOutcome::InvalidRecipient {
                reason: "UNREGISTERED".into()
            }
        );
    }

    #[test]
    fn invalid_token_argument_is_an_invalid_recipient_but_bad_payload_fails() {
        let token = error(json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The registration token is not a valid FCM registration token"}}));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &token, None),
            SendOutcome::InvalidRecipient { .. }
        ));
        let payload = error(json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "Invalid data payload key: from"}}));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &payload, None),
            SendOutcome::Failed { .. }
        ));
    }
}
