//! SMS through Aliyun (Dysmsapi `SendSms`, RPC signature v1) or Tencent Cloud (`SendSms`
//! 2021-01-11, TC3-HMAC-SHA256). Mainland carriers only deliver pre-approved templates under
//! an approved signature (签名), so a message is a template code plus its parameters.
//!
//! Reasons in a [`SendOutcome`] carry the provider's error code only: providers echo the
//! request (phone number, string to sign) in their messages, and reasons are stored.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, FixedOffset, NaiveTime, Offset, Utc};
use courtyard_domain::{Clock, people::mask_phone};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{StatusCode, header::CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::{SendOutcome, SmsMessage};

/// Aliyun's SMS endpoint.
pub const ALIYUN_BASE_URL: &str = "https://dysmsapi.aliyuncs.com";
/// Tencent Cloud's SMS endpoint.
pub const TENCENT_BASE_URL: &str = "https://sms.tencentcloudapi.com";
/// Tencent Cloud's default SMS region.
pub const TENCENT_REGION: &str = "ap-guangzhou";

const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TENCENT_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The SMS provider a company uses.
#[derive(Debug, Clone)]
pub enum SmsProvider {
    /// Aliyun Dysmsapi.
    Aliyun(AliyunSms),
    /// Tencent Cloud SMS.
    Tencent(TencentSms),
}

impl SmsProvider {
    /// Sends one SMS and classifies the answer.
    pub async fn send(&self, msg: &SmsMessage) -> SendOutcome {
        match self {
            Self::Aliyun(client) => client.send(msg).await,
            Self::Tencent(client) => client.send(msg).await,
        }
    }

    /// The provider's name, for logs and delivery records.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Aliyun(_) => "aliyun",
            Self::Tencent(_) => "tencent",
        }
    }

    /// The client `settings` configure (`provider` = `aliyun` or `tencent`).
    pub fn from_settings(
        settings: &courtyard_domain::settings::SmsSettings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Ok(match settings.provider.as_str() {
            "aliyun" => {
                let mut config = AliyunConfig::new(
                    settings.access_key_id.clone(),
                    settings.access_key_secret.clone(),
                );
                if let Some(url) = &settings.base_url {
                    config.base_url = url.clone();
                }
                Self::Aliyun(AliyunSms::new(config, clock))
            }
            "tencent" => {
                let app = settings.sdk_app_id.clone().ok_or_else(|| {
                    anyhow::anyhow!("notifications.sms.sdk_app_id is required for tencent")
                })?;
                let mut config = TencentConfig::new(
                    settings.access_key_id.clone(),
                    settings.access_key_secret.clone(),
                    app,
                );
                if let Some(url) = &settings.base_url {
                    config.base_url = url.clone();
                }
                if let Some(region) = &settings.region {
                    config.region = region.clone();
                }
                Self::Tencent(TencentSms::new(config, clock))
            }
            other => {
                anyhow::bail!("notifications.sms.provider `{other}` is not aliyun or tencent")
            }
        })
    }
}

/// Aliyun credentials and endpoint.
#[derive(Debug, Clone)]
pub struct AliyunConfig {
    /// Endpoint, [`ALIYUN_BASE_URL`] in production.
    pub base_url: String,
    /// AccessKey id.
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: SecretString,
}

impl AliyunConfig {
    /// Production endpoint with these credentials.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: SecretString) -> Self {
        Self {
            base_url: ALIYUN_BASE_URL.into(),
            access_key_id: access_key_id.into(),
            access_key_secret,
        }
    }
}

/// Aliyun Dysmsapi `SendSms` client.
#[derive(Debug, Clone)]
pub struct AliyunSms {
    config: AliyunConfig,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliyunAnswer {
    code: Option<String>,
    #[serde(default)]
    message: String,
    biz_id: Option<String>,
}

impl AliyunSms {
    /// A client with its own connection pool.
    pub fn new(config: AliyunConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            clock,
            http: http_client(),
        }
    }

    /// Uses a shared HTTP client instead (set its timeouts).
    pub fn with_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Sends one SMS (`POST` form, signed per Aliyun's RPC signature v1).
    pub async fn send(&self, msg: &SmsMessage) -> SendOutcome {
        let now = self.clock.now();
        let mut params = BTreeMap::from([
            ("AccessKeyId".to_owned(), self.config.access_key_id.clone()),
            ("Action".to_owned(), "SendSms".to_owned()),
            ("Format".to_owned(), "JSON".to_owned()),
            ("RegionId".to_owned(), "cn-hangzhou".to_owned()),
            ("SignatureMethod".to_owned(), "HMAC-SHA1".to_owned()),
            (
                "SignatureNonce".to_owned(),
                uuid::Uuid::new_v4().to_string(),
            ),
            ("SignatureVersion".to_owned(), "1.0".to_owned()),
            (
                "Timestamp".to_owned(),
                now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ),
            ("Version".to_owned(), "2017-05-25".to_owned()),
            ("PhoneNumbers".to_owned(), mainland_number(&msg.phone)),
            ("SignName".to_owned(), msg.sign_name.clone()),
            ("TemplateCode".to_owned(), msg.template.clone()),
        ]);
        if !msg.params.is_empty() {
            // A map of strings always serialises.
            let json = serde_json::to_string(&msg.params).unwrap_or_default();
            params.insert("TemplateParam".to_owned(), json);
        }
        let signature = aliyun_signature(
            "POST",
            &params,
            self.config.access_key_secret.expose_secret(),
        );
        // Sent in the body rather than the URL so the number stays out of access logs.
        let body = format!(
            "{}&Signature={}",
            aliyun_canonical_query(&params),
            aliyun_percent_encode(&signature)
        );
        let url = format!("{}/", self.config.base_url.trim_end_matches('/'));
        let phone = mask_phone(&msg.phone);
        let response = match self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return transport_failure("aliyun", &phone, e),
        };
        let status = response.status();
        let retry_after = crate::retry_after(response.headers());
        let Ok(AliyunAnswer {
            code: Some(code),
            message,
            biz_id,
        }) = response.json::<AliyunAnswer>().await
        else {
            return unreadable("aliyun", &phone, status, retry_after);
        };
        let outcome = server_errors_retry(
            status,
            aliyun_outcome(&code, &message, biz_id, now, retry_after),
        );
        log_outcome("aliyun", &phone, &outcome);
        outcome
    }
}

/// Classifies an Aliyun `Code`.
fn aliyun_outcome(
    code: &str,
    message: &str,
    biz_id: Option<String>,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
) -> SendOutcome {
    let reason = code.to_owned();
    match code {
        "OK" => SendOutcome::Sent {
            provider_id: biz_id,
        },
        "isv.MOBILE_NUMBER_ILLEGAL" => SendOutcome::InvalidRecipient { reason },
        // Per-number flow control (default 1/minute, 5/hour, 10/day); the message says which.
        "isv.BUSINESS_LIMIT_CONTROL" => {
            let hint = if message.contains("分钟") {
                Some(Duration::from_secs(60))
            } else if message.contains("小时") {
                Some(Duration::from_secs(3600))
            } else if message.contains("天") {
                Some(until_next_china_day(now))
            } else {
                None
            };
            SendOutcome::Retry {
                reason,
                retry_after: retry_after.or(hint),
            }
        }
        "isv.DAY_LIMIT_CONTROL" => SendOutcome::Retry {
            reason,
            retry_after: retry_after.or(Some(until_next_china_day(now))),
        },
        // A repeated nonce can only be a replay of this very request; a new one will do.
        "SignatureNonceUsed" => SendOutcome::Retry {
            reason,
            retry_after,
        },
        // The service, or our account with it, for every number alike: the channel's
        // circuit holds the sends until it answers again.
        "Throttling.User"
        | "Throttling"
        | "isp.SYSTEM_ERROR"
        | "ServiceUnavailable"
        | "InternalError"
        | "InvalidAccessKeyId.NotFound"
        | "InvalidAccessKeyId.Inactive"
        | "SignatureDoesNotMatch"
        | "isv.OUT_OF_SERVICE"
        | "isv.AMOUNT_NOT_ENOUGH" => SendOutcome::Unavailable {
            reason,
            retry_after,
        },
        // Template, signature and credential errors need a person; retrying cannot help.
        _ => SendOutcome::Failed { reason },
    }
}

/// Tencent Cloud credentials, endpoint and SMS application.
#[derive(Debug, Clone)]
pub struct TencentConfig {
    /// Endpoint, [`TENCENT_BASE_URL`] in production.
    pub base_url: String,
    /// API SecretId.
    pub secret_id: String,
    /// API SecretKey.
    pub secret_key: SecretString,
    /// The SMS application (`SmsSdkAppId`).
    pub sdk_app_id: String,
    /// Region, [`TENCENT_REGION`] by default.
    pub region: String,
}

impl TencentConfig {
    /// Production endpoint and default region with these credentials.
    pub fn new(
        secret_id: impl Into<String>,
        secret_key: SecretString,
        sdk_app_id: impl Into<String>,
    ) -> Self {
        Self {
            base_url: TENCENT_BASE_URL.into(),
            secret_id: secret_id.into(),
            secret_key,
            sdk_app_id: sdk_app_id.into(),
            region: TENCENT_REGION.into(),
        }
    }
}

/// Tencent Cloud `SendSms` (2021-01-11) client.
#[derive(Debug, Clone)]
pub struct TencentSms {
    config: TencentConfig,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TencentAnswer {
    response: TencentResponse,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TencentResponse {
    error: Option<TencentError>,
    #[serde(default)]
    send_status_set: Vec<TencentStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TencentError {
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TencentStatus {
    code: String,
    serial_no: Option<String>,
}

impl TencentSms {
    /// A client with its own connection pool.
    pub fn new(config: TencentConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            clock,
            http: http_client(),
        }
    }

    /// Uses a shared HTTP client instead (set its timeouts).
    pub fn with_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Sends one SMS (`POST` JSON, signed with TC3-HMAC-SHA256).
    pub async fn send(&self, msg: &SmsMessage) -> SendOutcome {
        let phone = mask_phone(&msg.phone);
        let Ok(url) = reqwest::Url::parse(&self.config.base_url) else {
            return SendOutcome::Failed {
                reason: "tencent base URL is not a URL".into(),
            };
        };
        // The signed host is what reqwest sends in `Host`: the URL's host, plus its port
        // when that is not the scheme's default (the mock listens on 127.0.0.1:PORT).
        let Some(host) = host_header(&url) else {
            return SendOutcome::Failed {
                reason: "tencent base URL has no host".into(),
            };
        };
        let body = serde_json::json!({
            "PhoneNumberSet": [e164(&msg.phone)],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": msg.sign_name,
            "TemplateId": msg.template,
            "TemplateParamSet": msg.params.values().collect::<Vec<_>>(),
        })
        .to_string();
        let now = self.clock.now();
        let timestamp = now.timestamp();
        let authorization = tc3_authorization(
            &self.config.secret_id,
            self.config.secret_key.expose_secret(),
            "sms",
            "POST",
            url.path(),
            &host,
            TENCENT_CONTENT_TYPE,
            timestamp,
            body.as_bytes(),
        );
        let response = match self
            .http
            .post(url)
            .header("Authorization", authorization)
            .header(CONTENT_TYPE, TENCENT_CONTENT_TYPE)
            .header("X-TC-Action", "SendSms")
            .header("X-TC-Version", "2021-01-11")
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.config.region)
            .body(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return transport_failure("tencent", &phone, e),
        };
        let status = response.status();
        let retry_after = crate::retry_after(response.headers());
        let Ok(TencentAnswer { response: answer }) = response.json::<TencentAnswer>().await else {
            return unreadable("tencent", &phone, status, retry_after);
        };
        let outcome = match (answer.error, answer.send_status_set.into_iter().next()) {
            (Some(error), _) => tencent_outcome(&error.code, None, now, retry_after),
            (None, Some(status)) => {
                tencent_outcome(&status.code, status.serial_no, now, retry_after)
            }
            (None, None) => SendOutcome::Failed {
                reason: "tencent answered without a send status".into(),
            },
        };
        let outcome = server_errors_retry(status, outcome);
        log_outcome("tencent", &phone, &outcome);
        outcome
    }
}

/// Classifies a Tencent `Code`, whether request-level (`Response.Error`) or per number.
fn tencent_outcome(
    code: &str,
    serial_no: Option<String>,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
) -> SendOutcome {
    let reason = code.to_owned();
    let retry = |hint: Option<Duration>| SendOutcome::Retry {
        reason: code.to_owned(),
        retry_after: retry_after.or(hint),
    };
    match code {
        "Ok" => SendOutcome::Sent {
            provider_id: serial_no,
        },
        "FailedOperation.PhoneNumberInBlacklist"
        | "InvalidParameterValue.IncorrectPhoneNumber"
        | "FailedOperation.PhoneNumberParseFail"
        | "UnsupportedOperation.UnsupportedRegion" => SendOutcome::InvalidRecipient { reason },
        "LimitExceeded.PhoneNumberThirtySecondLimit" => retry(Some(Duration::from_secs(30))),
        "LimitExceeded.PhoneNumberOneHourLimit" => retry(Some(Duration::from_secs(3600))),
        "LimitExceeded.PhoneNumberDailyLimit"
        | "LimitExceeded.PhoneNumberSameContentDailyLimit"
        | "LimitExceeded.AppDailyLimit"
        | "LimitExceeded.DailyLimit" => retry(Some(until_next_china_day(now))),
        "LimitExceeded.DeliveryFrequencyLimit" => retry(None),
        // The service, or our account with it, for every number alike.
        "RequestLimitExceeded" | "FailedOperation.InsufficientBalanceInSmsPackage" => {
            SendOutcome::Unavailable {
                reason,
                retry_after,
            }
        }
        _ if code.starts_with("InternalError") || code.starts_with("AuthFailure") => {
            SendOutcome::Unavailable {
                reason,
                retry_after,
            }
        }
        // Template and signature errors: a person has to fix the message.
        _ => SendOutcome::Failed { reason },
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        // Building only fails when the TLS backend cannot start, which `Client::new` would
        // report the same way; keep the constructor infallible.
        .unwrap_or_default()
}

fn transport_failure(provider: &str, phone: &str, e: reqwest::Error) -> SendOutcome {
    // The URL can hold credentials or the number (Aliyun GET, WeChat access_token).
    let e = e.without_url();
    // Logged once by the channel's circuit, not for every number.
    tracing::debug!(provider, phone, error = ?e, "SMS provider unreachable");
    SendOutcome::Unavailable {
        reason: format!("{provider}: {}", crate::transport_reason(&e)),
        retry_after: None,
    }
}

fn unreadable(
    provider: &str,
    phone: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
) -> SendOutcome {
    tracing::debug!(provider, phone, %status, "SMS provider answered something unreadable");
    let reason = format!("{provider}: HTTP {}", status.as_u16());
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        SendOutcome::Unavailable {
            reason,
            retry_after,
        }
    } else {
        SendOutcome::Failed { reason }
    }
}

/// A 5xx is the provider's trouble whatever code came with it.
fn server_errors_retry(status: StatusCode, outcome: SendOutcome) -> SendOutcome {
    match outcome {
        SendOutcome::Failed { reason } if status.is_server_error() => SendOutcome::Unavailable {
            reason,
            retry_after: None,
        },
        other => other,
    }
}

fn log_outcome(provider: &str, phone: &str, outcome: &SendOutcome) {
    match outcome {
        SendOutcome::Sent { provider_id } => {
            tracing::info!(provider, phone, provider_id = ?provider_id, "SMS accepted");
        }
        // Logged once by the channel's circuit.
        SendOutcome::Unavailable { .. } => {
            tracing::debug!(provider, phone, outcome = ?outcome, "SMS provider unavailable");
        }
        other => tracing::warn!(provider, phone, outcome = ?other, "SMS not accepted"),
    }
}

/// How long until midnight in China, when the providers' daily counters reset.
fn until_next_china_day(now: DateTime<Utc>) -> Duration {
    let china = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    let local = now.with_timezone(&china);
    let next = local
        .date_naive()
        .succ_opt()
        .map(|day| day.and_time(NaiveTime::MIN) - local.naive_local());
    next.and_then(|d| d.to_std().ok())
        .unwrap_or(Duration::from_secs(24 * 3600))
}

/// The 11-digit mainland number Aliyun expects (drops a `+86`/`86` prefix if present).
fn mainland_number(phone: &str) -> String {
    let digits = phone.trim().trim_start_matches('+');
    match digits.strip_prefix("86") {
        Some(rest) if rest.len() == 11 => rest.to_owned(),
        _ => digits.to_owned(),
    }
}

/// The E.164 form Tencent expects: mainland numbers get `+86`.
fn e164(phone: &str) -> String {
    let phone = phone.trim();
    if phone.starts_with('+') {
        phone.to_owned()
    } else {
        format!("+86{}", mainland_number(phone))
    }
}

/// What a client sends as `Host` for this URL: host, and port unless it is the default.
pub fn host_header(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// RFC 3986 unreserved characters stay as they are; everything else is `%XX` (upper case).
const ALIYUN_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Aliyun's percent-encoding: UTF-8, space → `%20`, `*` → `%2A`, `~` kept.
pub fn aliyun_percent_encode(value: &str) -> String {
    utf8_percent_encode(value, ALIYUN_ENCODE).to_string()
}

/// The canonicalized query: parameters sorted by name, `encode(k)=encode(v)` joined by `&`.
pub fn aliyun_canonical_query(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", aliyun_percent_encode(k), aliyun_percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `METHOD&%2F&encode(canonicalized query)`; `params` must not contain `Signature`.
pub fn aliyun_string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    format!(
        "{method}&{}&{}",
        aliyun_percent_encode("/"),
        aliyun_percent_encode(&aliyun_canonical_query(params))
    )
}

/// The `Signature` parameter: base64(HMAC-SHA1(secret + "&", string to sign)).
pub fn aliyun_signature(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(aliyun_string_to_sign(method, params).as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// TC3 canonical request signing `content-type` and `host`, with an empty query string.
pub fn tc3_canonical_request(
    method: &str,
    path: &str,
    content_type: &str,
    host: &str,
    payload: &[u8],
) -> String {
    format!(
        "{method}\n{path}\n\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{}",
        content_type.trim().to_lowercase(),
        host.trim().to_lowercase(),
        sha256_hex(payload)
    )
}

/// The UTC date of a Unix timestamp, as TC3 credential scopes use it.
pub fn tc3_date(timestamp: i64) -> String {
    DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// `TC3-HMAC-SHA256\n<ts>\n<date>/<service>/tc3_request\n<hex sha256(canonical request)>`.
pub fn tc3_string_to_sign(timestamp: i64, service: &str, canonical_request: &str) -> String {
    format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{}/{service}/tc3_request\n{}",
        tc3_date(timestamp),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Hex HMAC-SHA256 of the string to sign under the key derived from
/// `"TC3" + secret_key` → date → service → `tc3_request`.
pub fn tc3_signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let key = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date);
    let key = hmac_sha256(&key, service);
    let key = hmac_sha256(&key, "tc3_request");
    hex::encode(hmac_sha256(&key, string_to_sign))
}

/// The whole `Authorization` header for a request signing `content-type;host`.
pub fn tc3_authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    method: &str,
    path: &str,
    host: &str,
    content_type: &str,
    timestamp: i64,
    payload: &[u8],
) -> String {
    let canonical = tc3_canonical_request(method, path, content_type, host, payload);
    let string_to_sign = tc3_string_to_sign(timestamp, service, &canonical);
    let date = tc3_date(timestamp);
    let signature = tc3_signature(secret_key, &date, service, &string_to_sign);
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, \
         SignedHeaders=content-type;host, Signature={signature}"
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    // Worked example from Aliyun's SMS documentation ("签名机制" / HTTP protocol page):
    // AccessKeyId testId, secret testSecret, a GET SendSms. The expected string to sign and
    // signature are the documented ones; a Python hmac/hashlib run gave the same values.
    fn aliyun_doc_params() -> BTreeMap<String, String> {
        [
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", r#"{"customer":"test"}"#),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn aliyun_string_to_sign_matches_the_documented_example() {
        assert_eq!(
            aliyun_string_to_sign("GET", &aliyun_doc_params()),
            "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123\
             %26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598\
             %25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B\
             %25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1\
             %26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0\
             %26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A\
             %2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z\
             %26Version%3D2017-05-25"
        );
    }

    #[test]
    fn aliyun_signature_matches_the_documented_example() {
        assert_eq!(
            aliyun_signature("GET", &aliyun_doc_params(), "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
        assert_eq!(
            aliyun_percent_encode("zJDF+Lrzhj/ThnlvIToysFRq6t4="),
            "zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D"
        );
    }

    #[test]
    fn aliyun_percent_encoding_follows_rfc_3986() {
        assert_eq!(aliyun_percent_encode("a b*c~d+e"), "a%20b%2Ac~d%2Be");
        assert_eq!(aliyun_percent_encode("-_.~AZaz09"), "-_.~AZaz09");
        assert_eq!(aliyun_percent_encode("业主"), "%E4%B8%9A%E4%B8%BB");
    }

    // Worked example from Tencent Cloud's API 3.0 signature v3 documentation (CVM
    // DescribeInstances, SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE, timestamp 1551113065);
    // hashed payload, hashed canonical request and signature are the documented values, and
    // a Python hmac/hashlib run gave the same.
    const TC3_DOC_PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    #[test]
    fn tc3_canonical_request_matches_the_documented_example() {
        let canonical = tc3_canonical_request(
            "POST",
            "/",
            "application/json; charset=utf-8",
            "cvm.tencentcloudapi.com",
            TC3_DOC_PAYLOAD.as_bytes(),
        );
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\n\
             host:cvm.tencentcloudapi.com\n\ncontent-type;host\n\
             35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            tc3_string_to_sign(1551113065, "cvm", &canonical),
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
    }

    #[test]
    fn tc3_authorization_matches_the_documented_example() {
        assert_eq!(
            tc3_authorization(
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                "cvm",
                "POST",
                "/",
                "cvm.tencentcloudapi.com",
                "application/json; charset=utf-8",
                1551113065,
                TC3_DOC_PAYLOAD.as_bytes(),
            ),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/\
             tc3_request, SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn tc3_date_is_the_utc_date_not_china_time() {
        // 2019-02-26 00:44:25 in Beijing is still the 25th in UTC (the docs' own warning).
        assert_eq!(tc3_date(1551113065), "2019-02-25");
    }

    #[test]
    fn host_header_keeps_a_non_default_port_only() {
        let url = |s: &str| reqwest::Url::parse(s).expect("url");
        assert_eq!(
            host_header(&url("https://sms.tencentcloudapi.com")).as_deref(),
            Some("sms.tencentcloudapi.com")
        );
        assert_eq!(
            host_header(&url("https://sms.tencentcloudapi.com:443/")).as_deref(),
            Some("sms.tencentcloudapi.com")
        );
        assert_eq!(
            host_header(&url("http://127.0.0.1:8123")).as_deref(),
            Some("127.0.0.1:8123")
        );
    }

    #[test]
    fn numbers_take_the_form_each_provider_wants() {
        assert_eq!(mainland_number("13812341234"), "13812341234");
        assert_eq!(mainland_number("+8613812341234"), "13812341234");
        assert_eq!(e164("13812341234"), "+8613812341234");
        assert_eq!(e164("+8613812341234"), "+8613812341234");
    }

    #[test]
    fn daily_limits_wait_for_midnight_in_china() {
        // 2026-11-25 02:00 UTC is 10:00 in Beijing: 14 hours to midnight.
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 2, 0, 0)
            .single()
            .expect("time");
        assert_eq!(until_next_china_day(now), Duration::from_secs(14 * 3600));
        assert_eq!(
            tencent_outcome("LimitExceeded.PhoneNumberDailyLimit", None, now, None),
            SendOutcome::Retry {
                reason: "LimitExceeded.PhoneNumberDailyLimit".into(),
                retry_after: Some(Duration::from_secs(14 * 3600)),
            }
        );
    }

    #[test]
    fn aliyun_codes_are_classified() {
        let now = Utc::now();
        let outcome = |code: &str, message: &str| aliyun_outcome(code, message, None, now, None);
        assert!(matches!(
            outcome("isv.MOBILE_NUMBER_ILLEGAL", ""),
            SendOutcome::InvalidRecipient { .. }
        ));
        assert_eq!(
            outcome("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"),
            SendOutcome::Retry {
                reason: "isv.BUSINESS_LIMIT_CONTROL".into(),
                retry_after: Some(Duration::from_secs(60)),
            }
        );
        // The service or our account, for every number alike.
        for code in [
            "Throttling.User",
            "isp.SYSTEM_ERROR",
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId.NotFound",
            "isv.OUT_OF_SERVICE",
        ] {
            assert!(
                matches!(outcome(code, ""), SendOutcome::Unavailable { .. }),
                "{code}"
            );
        }
        assert!(matches!(
            outcome("SignatureNonceUsed", ""),
            SendOutcome::Retry { .. }
        ));
        for code in ["isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL"] {
            assert!(
                matches!(outcome(code, ""), SendOutcome::Failed { .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn tencent_codes_are_classified() {
        let now = Utc::now();
        let outcome = |code: &str| tencent_outcome(code, None, now, None);
        for code in [
            "FailedOperation.PhoneNumberInBlacklist",
            "InvalidParameterValue.IncorrectPhoneNumber",
        ] {
            assert!(
                matches!(outcome(code), SendOutcome::InvalidRecipient { .. }),
                "{code}"
            );
        }
        for code in [
            "LimitExceeded.PhoneNumberThirtySecondLimit",
            "LimitExceeded.PhoneNumberOneHourLimit",
        ] {
            assert!(matches!(outcome(code), SendOutcome::Retry { .. }), "{code}");
        }
        for code in [
            "InternalError.Timeout",
            "RequestLimitExceeded",
            "AuthFailure.SignatureFailure",
            "AuthFailure.SecretIdNotFound",
        ] {
            assert!(
                matches!(outcome(code), SendOutcome::Unavailable { .. }),
                "{code}"
            );
        }
        for code in [
            "FailedOperation.TemplateIncorrectOrUnapproved",
            "FailedOperation.SignatureIncorrectOrUnapproved",
        ] {
            assert!(
                matches!(outcome(code), SendOutcome::Failed { .. }),
                "{code}"
            );
        }
    }
}
