//! A local WeChat Pay API v3 (JSAPI orders and domestic refunds) that checks what the real
//! one checks: the `Authorization` scheme, merchant id, certificate serial, a timestamp
//! within five minutes and the SHA256withRSA signature over what arrived on the wire,
//! verified with the merchant's public key only (401 `SIGN_ERROR`); then headers and payload
//! shape (400 `PARAM_ERROR`). Every answer, errors included, is signed with its WeChat Pay
//! key. Orders and refunds live in memory; [`MockWechatPay::pay`] and
//! [`MockWechatPay::complete_refund`] play the payer and the bank, and return the signed,
//! encrypted notification WeChat Pay would post.
//!
//! The request check is written from WeChat Pay's documentation with the `rsa` crate
//! directly, not with the client's signer; answers and notifications are signed with
//! `courtyard_providers::wechat_pay::platform`, WeChat Pay's side of the protocol.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use courtyard_domain::Clock;
use courtyard_providers::wechat_pay::{
    EventType, WechatPayConfig,
    platform::{self, PlatformKey, SignedNotification},
};
use poem::{Request, Response, endpoint::make, http::StatusCode};
use rsa::{pkcs1v15::VerifyingKey, pkcs8::DecodePublicKey, sha2::Sha256};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Running, fixture, header_map, serve, sms::lock, system_clock};

mod auth;
mod orders;
mod wire;

use wire::{
    Failure, china, fail, not_found, param_error, refund_json, segment, text, transaction_json,
};

/// The fixture merchant id.
pub const MCHID: &str = "1900000109";
/// The fixture mini-program AppID.
pub const APPID: &str = "wxd678efh567hg6787";
/// The fixture merchant certificate serial.
pub const MERCHANT_SERIAL_NO: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
/// The fixture WeChat Pay public key id.
pub const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
/// The fixture APIv3 key.
pub const API_V3_KEY: &str = "courtyard-test-apiv3-key-32bytes";
/// Where the fixture configuration has notifications sent.
pub const NOTIFY_URL: &str = "https://courtyard.example/api/v1/payments/wechat/notify";

/// A client configuration for the fixture merchant pointed at `base_url`.
pub fn fixture_config(base_url: &str) -> WechatPayConfig {
    let mut config = WechatPayConfig::new(
        MCHID,
        APPID,
        MERCHANT_SERIAL_NO,
        SecretString::from(fixture("wechat_pay/merchant-test-key.pem")),
        SecretString::from(API_V3_KEY),
        PUBLIC_KEY_ID,
        fixture("wechat_pay/platform-test-key.pub.pem"),
        NOTIFY_URL,
    );
    config.base_url = base_url.into();
    config
}

/// The app's `payments.wechat_pay` settings for the fixture merchant pointed at `base_url`.
pub fn fixture_settings(base_url: &str) -> courtyard_domain::settings::WechatPaySettings {
    courtyard_domain::settings::WechatPaySettings {
        base_url: base_url.into(),
        mchid: MCHID.into(),
        appid: APPID.into(),
        merchant_serial_no: MERCHANT_SERIAL_NO.into(),
        merchant_private_key_pem: SecretString::from(fixture("wechat_pay/merchant-test-key.pem")),
        api_v3_key: SecretString::from(API_V3_KEY),
        public_key_id: PUBLIC_KEY_ID.into(),
        public_key_pem: fixture("wechat_pay/platform-test-key.pub.pem"),
        platform_certificates: BTreeMap::new(),
    }
}

/// One request as it arrived, and the answer's status and code.
#[derive(Debug, Clone, PartialEq)]
pub struct WechatPayRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query as sent.
    pub url: String,
    /// Headers, lower-cased names.
    pub headers: BTreeMap<String, String>,
    /// Body as sent.
    pub body: String,
    /// Status answered.
    pub status: u16,
    /// Error code answered, if any.
    pub code: Option<String>,
}

/// An order the mock holds.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOrder {
    /// The prepay request body, to tell a retry from a conflicting reuse of the number.
    pub request: Value,
    /// The `prepay_id` answered.
    pub prepay_id: String,
    /// `NOTPAY`, `SUCCESS`, `REFUND`, `CLOSED`.
    pub trade_state: &'static str,
    /// Once paid.
    pub transaction_id: Option<String>,
    /// Once paid, `+08:00`.
    pub success_time: Option<String>,
}

#[derive(Debug, Clone)]
struct MockRefund {
    request: Value,
    refund_id: String,
    out_trade_no: String,
    status: &'static str,
    refund: i64,
    total: i64,
    create_time: String,
    success_time: Option<String>,
}

#[derive(Default)]
struct Book {
    orders: HashMap<String, MockOrder>,
    refunds: HashMap<String, MockRefund>,
    serial: u64,
}

impl Book {
    fn refund_answer(&self, out_refund_no: &str, refund: &MockRefund) -> Value {
        let transaction_id = self
            .orders
            .get(&refund.out_trade_no)
            .and_then(|o| o.transaction_id.clone());
        refund_json(out_refund_no, refund, transaction_id)
    }
}

/// A local `api.mch.weixin.qq.com`.
pub struct MockWechatPay {
    state: Arc<State>,
    running: Running,
}

struct State {
    mchid: String,
    appid: String,
    merchant_keys: HashMap<String, VerifyingKey<Sha256>>,
    platform: PlatformKey,
    forger: PlatformKey,
    api_v3_key: String,
    clock: Arc<dyn Clock>,
    book: Mutex<Book>,
    requests: Mutex<Vec<WechatPayRequest>>,
    fail_next: Mutex<Option<Failure>>,
    forge_next: Mutex<bool>,
}

impl MockWechatPay {
    /// Starts a mock for the fixture merchant that judges timestamps by the wall clock.
    pub async fn start() -> Self {
        Self::start_with_clock(system_clock()).await
    }

    /// Starts a mock for the fixture merchant that judges timestamps by `clock`.
    pub async fn start_with_clock(clock: Arc<dyn Clock>) -> Self {
        let merchant_public = fixture("wechat_pay/merchant-test-key.pub.pem");
        let merchant_key =
            VerifyingKey::<Sha256>::from_public_key_pem(&merchant_public).expect("merchant key");
        let platform =
            PlatformKey::from_pem(PUBLIC_KEY_ID, &fixture("wechat_pay/platform-test-key.pem"))
                .expect("platform key");
        let forger =
            PlatformKey::from_pem(PUBLIC_KEY_ID, &fixture("wechat_pay/stranger-test-key.pem"))
                .expect("stranger key");
        let state = Arc::new(State {
            mchid: MCHID.into(),
            appid: APPID.into(),
            merchant_keys: HashMap::from([(MERCHANT_SERIAL_NO.to_owned(), merchant_key)]),
            platform,
            forger,
            api_v3_key: API_V3_KEY.into(),
            clock,
            book: Mutex::default(),
            requests: Mutex::default(),
            fail_next: Mutex::default(),
            forge_next: Mutex::default(),
        });
        let handler = state.clone();
        let running = serve(make(move |req| {
            let state = handler.clone();
            async move { state.handle(req).await }
        }))
        .await;
        Self { state, running }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.running.base_url.clone()
    }

    /// The app's `payments.wechat_pay` settings, pointed here.
    pub fn settings(&self) -> courtyard_domain::settings::WechatPaySettings {
        fixture_settings(&self.base_url())
    }

    /// The fixture merchant's client configuration, pointed here.
    pub fn client_config(&self) -> WechatPayConfig {
        fixture_config(&self.base_url())
    }

    /// Answers the next request that passes the signature check with `status` and
    /// `{"code","message"}`.
    pub fn fail_next(&self, status: u16, code: &str, message: &str) {
        let status = StatusCode::from_u16(status).expect("an HTTP status");
        *lock(&self.state.fail_next) = Some((status, code.into(), message.into()));
    }

    /// Signs the next answer with a key that is not WeChat Pay's, under WeChat Pay's serial.
    pub fn forge_next_reply(&self) {
        *lock(&self.state.forge_next) = true;
    }

    /// Every request, oldest first.
    pub fn requests(&self) -> Vec<WechatPayRequest> {
        lock(&self.state.requests).clone()
    }

    /// The order with this number.
    pub fn order(&self, out_trade_no: &str) -> Option<MockOrder> {
        lock(&self.state.book).orders.get(out_trade_no).cloned()
    }

    /// The payer pays an unpaid order: it becomes `SUCCESS` and this is the
    /// `TRANSACTION.SUCCESS` notification to post to the merchant's notify URL.
    pub fn pay(&self, out_trade_no: &str) -> SignedNotification {
        let now = self.state.clock.now();
        let resource = {
            let mut book = lock(&self.state.book);
            book.serial += 1;
            let transaction_id = format!("42000{:023}", book.serial);
            let order = book
                .orders
                .get_mut(out_trade_no)
                .unwrap_or_else(|| panic!("no order {out_trade_no}"));
            assert_eq!(
                order.trade_state, "NOTPAY",
                "only an unpaid order can be paid"
            );
            order.trade_state = "SUCCESS";
            order.transaction_id = Some(transaction_id);
            order.success_time = Some(china(now));
            transaction_json(order)
        };
        self.state
            .notify(EventType::TransactionSuccess, &resource, now)
    }

    /// The bank settles a refund as `event` (`REFUND.SUCCESS`, `.ABNORMAL` or `.CLOSED`);
    /// the notification to post to the merchant's refund notify URL.
    pub fn complete_refund(&self, out_refund_no: &str, event: EventType) -> SignedNotification {
        let now = self.state.clock.now();
        let resource = {
            let mut book = lock(&self.state.book);
            let refund = book
                .refunds
                .get_mut(out_refund_no)
                .unwrap_or_else(|| panic!("no refund {out_refund_no}"));
            refund.status = match event {
                EventType::RefundSuccess => "SUCCESS",
                EventType::RefundAbnormal => "ABNORMAL",
                EventType::RefundClosed => "CLOSED",
                EventType::TransactionSuccess => panic!("not a refund event"),
            };
            if event == EventType::RefundSuccess {
                refund.success_time = Some(china(now));
            }
            let refund = refund.clone();
            let mut resource = book.refund_answer(out_refund_no, &refund);
            resource["mchid"] = json!(self.state.mchid);
            resource["refund_status"] = resource["status"].take();
            if let Some(object) = resource.as_object_mut() {
                object.remove("status");
            }
            resource
        };
        self.state.notify(event, &resource, now)
    }
}

impl State {
    async fn handle(&self, req: Request) -> Response {
        let method = req.method().as_str().to_owned();
        let url = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let headers = req.headers().clone();
        let body = req.into_body().into_bytes().await.unwrap_or_default();
        let body = String::from_utf8_lossy(&body).into_owned();
        let (status, answer, code) = match self.answer(&method, &url, &headers, &body) {
            Ok((status, answer)) => (status, answer, None),
            Err((status, code, message)) => (
                status,
                Some(json!({ "code": code, "message": message })),
                Some(code),
            ),
        };
        lock(&self.requests).push(WechatPayRequest {
            method,
            url,
            headers: header_map(&headers),
            body,
            status: status.as_u16(),
            code,
        });
        let answer = answer.map(|a| a.to_string()).unwrap_or_default();
        let forge = std::mem::take(&mut *lock(&self.forge_next));
        let key = if forge { &self.forger } else { &self.platform };
        let signed = key
            .sign_reply(answer.as_bytes(), self.clock.now())
            .expect("sign the answer");
        let mut response = Response::builder()
            .status(status)
            .header("Request-ID", uuid::Uuid::new_v4().to_string());
        for (name, value) in signed {
            response = response.header(name, value);
        }
        if answer.is_empty() {
            return response.finish();
        }
        response.content_type("application/json").body(answer)
    }

    fn answer(
        &self,
        method: &str,
        url: &str,
        headers: &poem::http::HeaderMap,
        body: &str,
    ) -> Result<(StatusCode, Option<Value>), Failure> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        self.check_signature(method, url, header("authorization"), body)?;
        if header("user-agent").is_none_or(str::is_empty) {
            return Err(param_error("User-Agent is required"));
        }
        if !header("accept").is_some_and(|a| a.contains("application/json") || a == "*/*") {
            return Err(param_error("Accept must be application/json"));
        }
        if let Some(failure) = lock(&self.fail_next).take() {
            return Err(failure);
        }
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let json = || -> Result<Value, Failure> {
            if !header("content-type").is_some_and(|c| c.starts_with("application/json")) {
                return Err(param_error("Content-Type must be application/json"));
            }
            serde_json::from_str::<Value>(body)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| param_error("the body is not a JSON object"))
        };
        const ORDERS: &str = "/v3/pay/transactions/out-trade-no/";
        const REFUNDS: &str = "/v3/refund/domestic/refunds";
        match (method, path) {
            ("POST", "/v3/pay/transactions/jsapi") => self.prepay(json()?),
            ("POST", REFUNDS) => self.refund(json()?),
            ("GET", p) if p.starts_with(ORDERS) => {
                let no = segment(&p[ORDERS.len()..]);
                if query != format!("mchid={}", self.mchid) {
                    return Err(param_error("mchid must be the query, and ours"));
                }
                let book = lock(&self.book);
                let order = book.orders.get(&no).ok_or_else(not_found)?;
                Ok((StatusCode::OK, Some(transaction_json(order))))
            }
            ("POST", p) if p.starts_with(ORDERS) && p.ends_with("/close") => {
                let no = segment(&p[ORDERS.len()..p.len() - "/close".len()]);
                let body = json()?;
                if text(&body, "/mchid", 32)? != self.mchid {
                    return Err(param_error("mchid is not the caller's"));
                }
                let mut book = lock(&self.book);
                let order = book.orders.get_mut(&no).ok_or_else(not_found)?;
                if matches!(order.trade_state, "SUCCESS" | "REFUND") {
                    return Err(fail(StatusCode::BAD_REQUEST, "ORDERPAID", "订单已支付"));
                }
                order.trade_state = "CLOSED";
                Ok((StatusCode::NO_CONTENT, None))
            }
            ("GET", p) if p.starts_with(&format!("{REFUNDS}/")) => {
                let no = segment(&p[REFUNDS.len() + 1..]);
                let book = lock(&self.book);
                let refund = book.refunds.get(&no).ok_or_else(|| {
                    fail(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在")
                })?;
                Ok((StatusCode::OK, Some(book.refund_answer(&no, refund))))
            }
            _ => Err(fail(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such API in this mock",
            )),
        }
    }

    fn notify(&self, event: EventType, resource: &Value, now: DateTime<Utc>) -> SignedNotification {
        platform::notification(
            &self.platform,
            self.api_v3_key.as_bytes(),
            event,
            resource,
            now,
        )
        .expect("build the notification")
    }
}
