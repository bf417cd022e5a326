//! One signed client: every request carries the merchant's `Authorization`, every answer is
//! verified before it is read, and each operation is a thin typed wrapper over [`call`].
//!
//! [`call`]: WechatPayClient::call

use std::{fmt, sync::Arc, time::Duration};

use aes_gcm::{Aes256Gcm, KeyInit};
use chrono::{DateTime, Utc};
use courtyard_domain::Clock;
use reqwest::{
    Method, StatusCode,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT},
};
use rsa::PrivateKey;
use secrecy::ExposeSecret;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::json;

use super::{
    ConfigError, OutRefundNo, OutTradeNo, PrepayRequest, Refund, RefundRequest,
    RequestPaymentParams, Transaction, VerifyError, WechatPayConfig,
    sign::{self, SignedHeaders, Verifier},
    types::china_time,
};

const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const USER_AGENT_VALUE: &str = concat!("courtyard/", env!("CARGO_PKG_VERSION"), " (wechatpay-v3)");

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum WechatPayError {
    /// WeChat Pay refused the request (4xx/5xx with `{"code","message"}`).
    #[error("WeChat Pay answered {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// `PARAM_ERROR`, `SIGN_ERROR`, `ORDER_NOT_EXIST`, `SYSTEM_ERROR`, ...
        code: String,
        /// WeChat Pay's explanation.
        message: String,
    },
    /// Closing was refused because the order is paid (`ORDERPAID`): query it and record
    /// the payment rather than treating the order as closed.
    #[error("the order is already paid")]
    OrderPaid,
    /// The answer's signature, serial or timestamp did not verify; nothing in it is trusted.
    #[error("WeChat Pay's answer failed verification: {0}")]
    Verify(#[from] VerifyError),
    /// A verified answer that is not what the operation returns.
    #[error("WeChat Pay's answer could not be read: {0}")]
    Unreadable(String),
    /// No answer (connection, timeout, TLS).
    #[error("could not reach WeChat Pay: {0}")]
    Transport(#[source] reqwest::Error),
    /// The merchant key could not sign.
    #[error("could not sign the request: {0}")]
    Sign(String),
}

impl WechatPayError {
    /// Worth retrying later with the same numbers: no answer, or WeChat Pay's own trouble.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Api { status, code, .. } => {
                *status >= 500 || matches!(code.as_str(), "SYSTEM_ERROR" | "FREQUENCY_LIMITED")
            }
            _ => false,
        }
    }
}

/// The WeChat Pay API v3 client; clones share the keys and the connection pool.
#[derive(Clone)]
pub struct WechatPayClient {
    pub(super) inner: Arc<Inner>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

pub(super) struct Inner {
    pub(super) base_url: String,
    pub(super) mchid: String,
    pub(super) appid: String,
    pub(super) serial_no: String,
    pub(super) notify_url: String,
    pub(super) refund_notify_url: String,
    pub(super) merchant_key: PrivateKey,
    pub(super) verifier: Verifier,
    pub(super) aead: Aes256Gcm,
}

impl fmt::Debug for WechatPayClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatPayClient")
            .field("base_url", &self.inner.base_url)
            .field("mchid", &self.inner.mchid)
            .field("appid", &self.inner.appid)
            .field("serial_no", &self.inner.serial_no)
            .field("verifier", &self.inner.verifier)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct PrepayAnswer {
    prepay_id: String,
}

impl WechatPayClient {
    /// A client with its own connection pool; fails if a key does not parse.
    pub fn new(config: WechatPayConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        reqwest::Url::parse(&config.base_url)
            .map_err(|_| ConfigError::BaseUrl(config.base_url.clone()))?;
        let merchant_key =
            sign::parse_private_key(config.merchant_private_key_pem.expose_secret())?;
        let api_v3_key = config.api_v3_key.expose_secret().as_bytes();
        let aead = Aes256Gcm::new_from_slice(api_v3_key)
            .map_err(|_| ConfigError::ApiV3KeyLength(api_v3_key.len()))?;
        let public_key = (!config.wechatpay_public_key_id.is_empty()).then_some((
            config.wechatpay_public_key_id.as_str(),
            config.wechatpay_public_key_pem.as_str(),
        ));
        let verifier = Verifier::new(
            public_key.into_iter().chain(
                config
                    .platform_certificates
                    .iter()
                    .map(|(serial, pem)| (serial.as_str(), pem.as_str())),
            ),
        )?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            // Only fails when the TLS backend cannot start; the default client will say so.
            .unwrap_or_default();
        Ok(Self {
            inner: Arc::new(Inner {
                base_url: config.base_url.trim_end_matches('/').to_owned(),
                refund_notify_url: config
                    .refund_notify_url
                    .unwrap_or_else(|| config.notify_url.clone()),
                notify_url: config.notify_url,
                mchid: config.mchid,
                appid: config.appid,
                serial_no: config.merchant_serial_no,
                merchant_key,
                verifier,
                aead,
            }),
            clock,
            http,
        })
    }

    /// Uses a shared HTTP client instead (set its timeouts).
    pub fn with_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The merchant id.
    pub fn mchid(&self) -> &str {
        &self.inner.mchid
    }

    /// The AppID.
    pub fn appid(&self) -> &str {
        &self.inner.appid
    }

    /// Places a JSAPI order (`POST /v3/pay/transactions/jsapi`); the `prepay_id`.
    pub async fn prepay(&self, order: &PrepayRequest) -> Result<String, WechatPayError> {
        let mut body = json!({
            "appid": self.inner.appid,
            "mchid": self.inner.mchid,
            "description": order.description,
            "out_trade_no": order.out_trade_no,
            "time_expire": china_time(order.time_expire),
            "notify_url": self.inner.notify_url,
            "amount": { "total": order.total.fen(), "currency": "CNY" },
            "payer": { "openid": order.payer_openid },
        });
        if let Some(attach) = &order.attach {
            body["attach"] = json!(attach);
        }
        let answer: PrepayAnswer = self
            .call_json(Method::POST, "/v3/pay/transactions/jsapi", Some(body))
            .await?;
        Ok(answer.prepay_id)
    }

    /// What the mini-program passes to `wx.requestPayment` for `prepay_id`, signed now.
    pub fn request_payment_params(
        &self,
        prepay_id: &str,
    ) -> Result<RequestPaymentParams, WechatPayError> {
        self.request_payment_params_at(prepay_id, self.clock.now(), &sign::nonce())
    }

    /// As [`request_payment_params`](Self::request_payment_params) at a given time and nonce.
    pub fn request_payment_params_at(
        &self,
        prepay_id: &str,
        now: DateTime<Utc>,
        nonce: &str,
    ) -> Result<RequestPaymentParams, WechatPayError> {
        let time_stamp = now.timestamp().to_string();
        let package = format!("prepay_id={prepay_id}");
        let message = sign::pay_sign_message(&self.inner.appid, &time_stamp, nonce, &package);
        let pay_sign = sign::sign(&self.inner.merchant_key, message.as_bytes())
            .map_err(|e| WechatPayError::Sign(e.to_string()))?;
        Ok(RequestPaymentParams {
            app_id: self.inner.appid.clone(),
            time_stamp,
            nonce_str: nonce.to_owned(),
            package,
            sign_type: "RSA".into(),
            pay_sign,
        })
    }

    /// Queries an order (`GET /v3/pay/transactions/out-trade-no/{no}?mchid=`).
    pub async fn query_order(
        &self,
        out_trade_no: &OutTradeNo,
    ) -> Result<Transaction, WechatPayError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}",
            self.inner.mchid
        );
        self.call_json(Method::GET, &path, None).await
    }

    /// Closes an unpaid order (`POST .../{no}/close`, answered 204);
    /// [`WechatPayError::OrderPaid`] when it was paid meanwhile.
    pub async fn close_order(&self, out_trade_no: &OutTradeNo) -> Result<(), WechatPayError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        let body = json!({ "mchid": self.inner.mchid });
        match self.call(Method::POST, &path, Some(body)).await {
            Ok(_) => Ok(()),
            Err(WechatPayError::Api { code, .. }) if code == "ORDERPAID" => {
                Err(WechatPayError::OrderPaid)
            }
            Err(e) => Err(e),
        }
    }

    /// Asks for a refund (`POST /v3/refund/domestic/refunds`); retry with the same
    /// `out_refund_no` to get the same refund back.
    pub async fn refund(&self, refund: &RefundRequest) -> Result<Refund, WechatPayError> {
        let mut body = json!({
            "out_trade_no": refund.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "notify_url": self.inner.refund_notify_url,
            "amount": {
                "refund": refund.refund.fen(),
                "total": refund.total.fen(),
                "currency": "CNY",
            },
        });
        if let Some(reason) = &refund.reason {
            body["reason"] = json!(reason);
        }
        self.call_json(Method::POST, "/v3/refund/domestic/refunds", Some(body))
            .await
    }

    /// Queries a refund (`GET /v3/refund/domestic/refunds/{out_refund_no}`).
    pub async fn query_refund(
        &self,
        out_refund_no: &OutRefundNo,
    ) -> Result<Refund, WechatPayError> {
        let path = format!("/v3/refund/domestic/refunds/{out_refund_no}");
        self.call_json(Method::GET, &path, None).await
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, WechatPayError> {
        let answer = self.call(method, path_and_query, body).await?;
        serde_json::from_slice(&answer).map_err(|e| WechatPayError::Unreadable(e.to_string()))
    }

    /// Signs and sends one request; the body of a verified 2xx answer.
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>, WechatPayError> {
        let url = reqwest::Url::parse(&format!("{}{path_and_query}", self.inner.base_url))
            .map_err(|e| WechatPayError::Sign(format!("bad URL: {e}")))?;
        // Signed as the server will see it: the path and query after URL normalisation.
        let canonical_url = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let timestamp = self.clock.now().timestamp();
        let nonce = sign::nonce();
        let message =
            sign::request_message(method.as_str(), &canonical_url, timestamp, &nonce, &body);
        let signature = sign::sign(&self.inner.merchant_key, message.as_bytes())
            .map_err(|e| WechatPayError::Sign(e.to_string()))?;
        let authorization = sign::authorization(
            &self.inner.mchid,
            &nonce,
            timestamp,
            &self.inner.serial_no,
            &signature,
        );
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE);
        if method != Method::GET {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(WechatPayError::Transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let answer = response
            .bytes()
            .await
            .map_err(WechatPayError::Transport)?
            .to_vec();
        let now = self.clock.now();
        // A success must be signed; an error is checked when signed (not every one is) and
        // is never a success either way.
        if status.is_success() || SignedHeaders::present(&headers) {
            let signed = SignedHeaders::from_headers(&headers)?;
            if let Err(e) = self.inner.verifier.verify(&signed, &answer, now) {
                tracing::warn!(%status, path = %canonical_url, error = %e,
                    "WeChat Pay answer refused");
                return Err(e.into());
            }
        }
        if status.is_success() {
            return Ok(answer);
        }
        Err(api_error(status, &answer))
    }
}

fn api_error(status: StatusCode, answer: &[u8]) -> WechatPayError {
    match serde_json::from_slice::<ErrorAnswer>(answer) {
        Ok(ErrorAnswer { code, message }) => WechatPayError::Api {
            status: status.as_u16(),
            code,
            message,
        },
        Err(_) => WechatPayError::Api {
            status: status.as_u16(),
            code: String::new(),
            message: String::from_utf8_lossy(answer).chars().take(200).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use courtyard_domain::SystemClock;
    use secrecy::SecretString;

    use super::*;
    use crate::wechat_pay::test_keys::{self, MERCHANT_KEY};

    fn client() -> WechatPayClient {
        WechatPayClient::new(test_keys::config(), Arc::new(SystemClock)).expect("client")
    }

    #[test]
    fn pay_sign_covers_the_four_lines_with_the_merchant_key() {
        let now = Utc.timestamp_opt(1_414_561_699, 0).single().expect("time");
        let params = client()
            .request_payment_params_at(
                "wx201410272009395522657a690389285100",
                now,
                "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            )
            .expect("params");
        assert_eq!(params.app_id, "wxd678efh567hg6787");
        assert_eq!(params.time_stamp, "1414561699");
        assert_eq!(
            params.package,
            "prepay_id=wx201410272009395522657a690389285100"
        );
        assert_eq!(params.sign_type, "RSA");
        let public = sign::parse_private_key(MERCHANT_KEY)
            .expect("key")
            .to_public_key();
        let message = "wxd678efh567hg6787\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n\
                       prepay_id=wx201410272009395522657a690389285100\n";
        assert!(sign::verify(&public, message.as_bytes(), &params.pay_sign));
        let json = serde_json::to_value(&params).expect("json");
        for field in [
            "appId",
            "timeStamp",
            "nonceStr",
            "package",
            "signType",
            "paySign",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn a_bad_configuration_is_refused() {
        let mut short_key = test_keys::config();
        short_key.api_v3_key = SecretString::from("too short");
        assert!(matches!(
            WechatPayClient::new(short_key, Arc::new(SystemClock)),
            Err(ConfigError::ApiV3KeyLength(9))
        ));
        let mut nothing_to_verify_with = test_keys::config();
        nothing_to_verify_with.wechatpay_public_key_id = String::new();
        assert!(matches!(
            WechatPayClient::new(nothing_to_verify_with, Arc::new(SystemClock)),
            Err(ConfigError::NoVerifyingKey)
        ));
        let shown = format!("{:?}", client());
        assert!(!shown.contains("PRIVATE"), "{shown}");
    }

    #[test]
    fn error_answers_keep_status_code_and_message() {
        let error = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"code":"PARAM_ERROR","message":"out_trade_no too short"}"#,
        );
        assert!(matches!(
            error,
            WechatPayError::Api { status: 400, ref code, ref message }
                if code == "PARAM_ERROR" && message == "out_trade_no too short"
        ));
        assert!(!error.is_retryable());
        assert!(api_error(StatusCode::INTERNAL_SERVER_ERROR, b"oops").is_retryable());
    }
}
