//! WeChat mini-program subscription messages (`subscribe/send`), authorised by an access
//! token from `stable_token`. One token serves every send until five minutes before it
//! expires; concurrent sends wait for the one fetch rather than each asking for a grant
//! (WeChat counts grants per day).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use courtyard_domain::Clock;
use reqwest::{StatusCode, header::CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{SendOutcome, WechatMessage};

/// WeChat's API endpoint.
pub const WECHAT_BASE_URL: &str = "https://api.weixin.qq.com";

const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Refresh this long before the token's stated expiry.
const REFRESH_MARGIN_SECS: i64 = 5 * 60;

/// The mini-program's credentials and the endpoint.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// Endpoint, [`WECHAT_BASE_URL`] in production.
    pub base_url: String,
    /// Mini-program AppID.
    pub app_id: String,
    /// Mini-program AppSecret.
    pub app_secret: SecretString,
}

impl WechatConfig {
    /// Production endpoint with these credentials.
    pub fn new(app_id: impl Into<String>, app_secret: SecretString) -> Self {
        Self {
            base_url: WECHAT_BASE_URL.into(),
            app_id: app_id.into(),
            app_secret,
        }
    }
}

/// Subscription-message client; clones share the token cache.
#[derive(Debug, Clone)]
pub struct WechatClient {
    config: WechatConfig,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    token: Arc<Mutex<Option<CachedToken>>>,
}

#[derive(Debug)]
struct CachedToken {
    value: SecretString,
    refresh_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct StableTokenRequest<'a> {
    grant_type: &'static str,
    appid: &'a str,
    secret: &'a str,
    force_refresh: bool,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<i64>,
    #[serde(default)]
    errcode: i64,
}

#[derive(Serialize)]
struct SendRequest<'a> {
    touser: &'a str,
    template_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<&'a str>,
    data: BTreeMap<&'a str, Field<'a>>,
    miniprogram_state: &'static str,
    lang: &'static str,
}

#[derive(Serialize)]
struct Field<'a> {
    value: &'a str,
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    errcode: i64,
    msgid: Option<Value>,
}

impl WechatClient {
    /// A client with its own connection pool and an empty token cache.
    pub fn new(config: WechatConfig, clock: Arc<dyn Clock>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            // Only fails when the TLS backend cannot start; keep the constructor infallible.
            .unwrap_or_default();
        Self {
            config,
            clock,
            http,
            token: Arc::default(),
        }
    }

    /// Uses a shared HTTP client instead (set its timeouts).
    pub fn with_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Sends one subscription message and classifies the answer.
    pub async fn send(&self, msg: &WechatMessage) -> SendOutcome {
        let token = match self.access_token().await {
            Ok(token) => token,
            Err(outcome) => return outcome,
        };
        let body = SendRequest {
            touser: &msg.openid,
            template_id: &msg.template_id,
            page: msg.page.as_deref(),
            data: msg
                .data
                .iter()
                .map(|(k, v)| (k.as_str(), Field { value: v }))
                .collect(),
            miniprogram_state: "formal",
            lang: "zh_CN",
        };
        let url = format!("{}/cgi-bin/message/subscribe/send", self.base());
        let response = match self
            .http
            .post(url)
            .query(&[("access_token", token.expose_secret())])
            .json(&body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return transport_failure(e),
        };
        let status = response.status();
        let retry_after = crate::retry_after(response.headers());
        let Ok(answer) = response.json::<SendAnswer>().await else {
            return unreadable(status, retry_after);
        };
        let reason = format!("wechat errcode {}", answer.errcode);
        let outcome = match answer.errcode {
            0 => SendOutcome::Sent {
                provider_id: answer.msgid.map(|id| match id {
                    Value::String(s) => s,
                    other => other.to_string(),
                }),
            },
            // 43101: the resident has not (or no longer) subscribed to this template.
            // 40003: the openid is not a user of this mini-program.
            43101 | 40003 => SendOutcome::InvalidRecipient { reason },
            // 40014 is "invalid access_token" as well, in some answers.
            40001 | 40014 | 42001 => {
                self.forget_token(token.expose_secret()).await;
                SendOutcome::Unavailable {
                    reason,
                    retry_after: None,
                }
            }
            // System busy; the mini-program's daily quota of this API reached.
            45009 | -1 => SendOutcome::Unavailable {
                reason,
                retry_after,
            },
            _ if status.is_server_error() => SendOutcome::Unavailable {
                reason,
                retry_after,
            },
            // 47003 (template data), 40037 (template id) and the rest: fix and resend.
            _ => SendOutcome::Failed { reason },
        };
        match &outcome {
            SendOutcome::Sent { provider_id } => {
                tracing::info!(provider_id = ?provider_id, "WeChat subscription message sent");
            }
            // Logged once by the channel's circuit.
            SendOutcome::Unavailable { .. } => {
                tracing::debug!(outcome = ?outcome, "WeChat unavailable");
            }
            other => tracing::warn!(outcome = ?other, "WeChat subscription message not sent"),
        }
        outcome
    }

    fn base(&self) -> &str {
        self.config.base_url.trim_end_matches('/')
    }

    /// The cached token, or a new one; the lock is held across the fetch so concurrent
    /// sends share one grant.
    async fn access_token(&self) -> Result<SecretString, SendOutcome> {
        let mut cached = self.token.lock().await;
        let now = self.clock.now();
        if let Some(token) = cached.as_ref().filter(|t| now < t.refresh_at) {
            return Ok(token.value.clone());
        }
        *cached = None;
        let token = self.fetch_token(now).await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    async fn fetch_token(&self, now: DateTime<Utc>) -> Result<CachedToken, SendOutcome> {
        let response = self
            .http
            .post(format!("{}/cgi-bin/stable_token", self.base()))
            .header(CONTENT_TYPE, "application/json")
            .json(&StableTokenRequest {
                grant_type: "client_credential",
                appid: &self.config.app_id,
                secret: self.config.app_secret.expose_secret(),
                force_refresh: false,
            })
            .send()
            .await
            .map_err(transport_failure)?;
        let status = response.status();
        let retry_after = crate::retry_after(response.headers());
        let answer = response
            .json::<TokenAnswer>()
            .await
            .map_err(|_| unreadable(status, retry_after))?;
        match answer {
            TokenAnswer {
                access_token: Some(token),
                expires_in,
                errcode: 0,
            } if !token.is_empty() => {
                let lifetime = expires_in.unwrap_or(7200).max(0);
                // A short-lived token is still used for half its life rather than refetched
                // on every send.
                let usable = (lifetime - REFRESH_MARGIN_SECS).max(lifetime / 2);
                tracing::info!(expires_in = lifetime, "WeChat access token granted");
                Ok(CachedToken {
                    value: SecretString::from(token),
                    refresh_at: now + chrono::Duration::seconds(usable),
                })
            }
            TokenAnswer { errcode, .. } => {
                tracing::debug!(errcode, "WeChat refused an access token");
                // Busy, over quota, or our AppID/AppSecret or server IP refused: no message
                // can go until it answers (or a person fixes the credentials).
                Err(SendOutcome::Unavailable {
                    reason: format!("wechat access token errcode {errcode}"),
                    retry_after,
                })
            }
        }
    }

    /// Drops the cached token if it is still the one WeChat rejected (another send may have
    /// replaced it already).
    async fn forget_token(&self, rejected: &str) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == rejected)
        {
            *cached = None;
            tracing::info!("WeChat rejected the cached access token; dropped it");
        }
    }
}

fn transport_failure(e: reqwest::Error) -> SendOutcome {
    // The URL holds the access token.
    let e = e.without_url();
    tracing::debug!(error = ?e, "WeChat unreachable");
    SendOutcome::Unavailable {
        reason: format!("wechat: {}", crate::transport_reason(&e)),
        retry_after: None,
    }
}

fn unreadable(status: StatusCode, retry_after: Option<Duration>) -> SendOutcome {
    tracing::debug!(%status, "WeChat answered something unreadable");
    let reason = format!("wechat: HTTP {}", status.as_u16());
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        SendOutcome::Unavailable {
            reason,
            retry_after,
        }
    } else {
        SendOutcome::Failed { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_has_the_documented_shape() {
        let data = BTreeMap::from([
            ("thing1".to_owned(), "电梯检修".to_owned()),
            ("time2".to_owned(), "2026-11-26 10:00".to_owned()),
        ]);
        let body = SendRequest {
            touser: "o-openid",
            template_id: "tmpl",
            page: None,
            data: data
                .iter()
                .map(|(k, v)| (k.as_str(), Field { value: v }))
                .collect(),
            miniprogram_state: "formal",
            lang: "zh_CN",
        };
        assert_eq!(
            serde_json::to_value(&body).expect("json"),
            serde_json::json!({
                "touser": "o-openid",
                "template_id": "tmpl",
                "data": {
                    "thing1": { "value": "电梯检修" },
                    "time2": { "value": "2026-11-26 10:00" },
                },
                "miniprogram_state": "formal",
                "lang": "zh_CN",
            })
        );
    }
}
